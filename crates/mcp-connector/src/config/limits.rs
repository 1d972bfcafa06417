//! `[limits]` and `[server.tls]`: validated into [`Limits`] and
//! [`TlsFiles`](crate::http::tls::TlsFiles).

use std::time::Duration;

use super::ConfigError;
use super::file::{LimitsSection, TlsSection};
use crate::http::tls::TlsFiles;

/// A sustained rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests admitted per `period` at the sustained rate.
    pub limit: u32,
    pub period: Duration,
    /// Requests admitted at once after a quiet spell (at least 1).
    pub burst: u32,
}

/// Validated `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Per subject (client address until authentication exists); `None` is off.
    pub requests: Option<Rate>,
    /// Per subject and tool; `None` is off.
    pub tool_calls: Option<Rate>,
    /// Concurrent stateful sessions (`--sessions`).
    pub max_sessions: usize,
    /// A session without traffic for this long is closed.
    pub session_idle: Duration,
    /// A session older than this is closed; the client initializes anew.
    pub session_max_lifetime: Duration,
}

/// Default per-client rate. All of an organisation's Claude traffic reaches
/// the connector from a few shared egress addresses, so the per-address
/// budget is generous: it stops a runaway or hostile client, not a team.
const DEFAULT_REQUESTS_PER_MINUTE: u32 = 6000;
const DEFAULT_BURST: u32 = 200;

impl Default for Limits {
    fn default() -> Self {
        Self {
            requests: Some(Rate {
                limit: DEFAULT_REQUESTS_PER_MINUTE,
                period: Duration::from_secs(60),
                burst: DEFAULT_BURST,
            }),
            tool_calls: None,
            max_sessions: 1000,
            // rmcp's own default idle timeout.
            session_idle: Duration::from_secs(300),
            session_max_lifetime: Duration::from_secs(24 * 3600),
        }
    }
}

/// Validate `[limits]`.
pub(super) fn limits(s: LimitsSection) -> Result<Limits, ConfigError> {
    let d = Limits::default();
    let minute = Duration::from_secs(60);
    let requests = match s.requests_per_minute {
        Some(0) => None,
        Some(limit) => Some(Rate {
            limit,
            period: minute,
            burst: DEFAULT_BURST.min(limit),
        }),
        None => d.requests,
    };
    let requests = match (requests, s.burst) {
        (_, Some(0)) => return Err(ConfigError::invalid("limits.burst", "must be at least 1")),
        (Some(rate), Some(burst)) => Some(Rate { burst, ..rate }),
        (rate, _) => rate,
    };
    let tool_calls = match s.tool_calls_per_minute {
        None | Some(0) => None,
        // "N per minute" for one tool reads as N in any minute, so the whole
        // minute's budget may be used at once.
        Some(limit) => Some(Rate {
            limit,
            period: minute,
            burst: limit,
        }),
    };
    let max_sessions = match s.max_sessions {
        Some(0) => {
            return Err(ConfigError::invalid(
                "limits.max_sessions",
                "must be at least 1",
            ));
        }
        Some(n) => n,
        None => d.max_sessions,
    };
    let session_idle = secs(
        "limits.session_idle_secs",
        s.session_idle_secs,
        d.session_idle,
    )?;
    let session_max_lifetime = secs(
        "limits.session_max_lifetime_secs",
        s.session_max_lifetime_secs,
        d.session_max_lifetime,
    )?;
    Ok(Limits {
        requests,
        tool_calls,
        max_sessions,
        session_idle,
        session_max_lifetime,
    })
}

fn secs(key: &'static str, value: Option<u64>, default: Duration) -> Result<Duration, ConfigError> {
    match value {
        Some(0) => Err(ConfigError::invalid(key, "must be at least 1 second")),
        Some(v) if v > 30 * 24 * 3600 => Err(ConfigError::invalid(
            key,
            "must be at most 2592000 seconds (30 days)",
        )),
        Some(v) => Ok(Duration::from_secs(v)),
        None => Ok(default),
    }
}

/// Validate `[server.tls]`: both files or neither. The files are read when
/// the server starts (and by `check-config`), never per request.
pub(super) fn tls(s: Option<TlsSection>) -> Result<Option<TlsFiles>, ConfigError> {
    let Some(s) = s else { return Ok(None) };
    match (s.cert_file, s.key_file) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert_file: cert.into(),
            key_file: key.into(),
        })),
        (None, _) => Err(ConfigError::invalid(
            "server.tls.cert_file",
            "missing: [server.tls] needs both cert_file and key_file (PEM)",
        )),
        (_, None) => Err(ConfigError::invalid(
            "server.tls.key_file",
            "missing: [server.tls] needs both cert_file and key_file (PEM)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_switches() {
        let l = limits(LimitsSection::default()).unwrap();
        assert_eq!(l, Limits::default());
        let l = limits(LimitsSection {
            requests_per_minute: Some(0),
            tool_calls_per_minute: Some(10),
            ..LimitsSection::default()
        })
        .unwrap();
        assert_eq!(l.requests, None);
        assert_eq!(l.tool_calls.map(|r| (r.limit, r.burst)), Some((10, 10)));
        let e = limits(LimitsSection {
            burst: Some(0),
            ..LimitsSection::default()
        })
        .unwrap_err();
        assert!(e.to_string().starts_with("limits.burst"), "{e}");
        let e = limits(LimitsSection {
            max_sessions: Some(0),
            ..LimitsSection::default()
        })
        .unwrap_err();
        assert!(e.to_string().starts_with("limits.max_sessions"), "{e}");
    }

    #[test]
    fn tls_needs_both_files() {
        assert_eq!(tls(None).unwrap(), None);
        let e = tls(Some(TlsSection {
            cert_file: Some("c.pem".into()),
            key_file: None,
        }))
        .unwrap_err();
        assert!(e.to_string().starts_with("server.tls.key_file"), "{e}");
        let e = tls(Some(TlsSection {
            cert_file: None,
            key_file: Some("k.pem".into()),
        }))
        .unwrap_err();
        assert!(e.to_string().starts_with("server.tls.cert_file"), "{e}");
    }
}
