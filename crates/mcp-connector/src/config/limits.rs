//! `[limits]` and `[server.tls]`: validated into [`Limits`] and
//! [`TlsFiles`].

use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;
use super::file::{LimitsSection, TlsSection};

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
    /// Per client address, before authentication; `None` is off.
    pub address_requests: Option<Rate>,
    /// Failed bearer-token checks per address per minute.
    pub auth_failures_per_minute: u32,
    /// Open connections per client address (trusted proxies exempt).
    pub max_connections_per_address: usize,
    /// Time to send a request's headers (also the longest a half-sent
    /// request head may hold a connection).
    pub request_head_timeout: Duration,
    /// Time to send a request's body.
    pub request_body_timeout: Duration,
    /// Idle time between requests on a kept-alive connection.
    pub keep_alive_idle: Duration,
}

// Defaults, sized for Claude. Every Claude user reaches the connector from
// a handful of Anthropic egress addresses, so a limit per address is a
// limit on a whole organisation. The primary limits therefore follow the
// token's subject (a user or a service client); per-address limits guard
// only what comes before authentication (`/token`, `/register`, the login
// page, `/mcp` without a valid token) and are sized for that shared egress:
// an organisation connecting a few hundred users at once (each connection
// is an `initialize`, `notifications/initialized`, a `GET` stream, a
// `tools/list` and calls; with `--sessions`, 200 sessions and 50 calls in
// flight on one of them) must not meet them. They stop a runaway or hostile
// client, not a team. Without authentication (`auth.mode = "none"`) the
// address is the only subject there is, so the per-subject limit applies
// to it, with the same generous default.

/// Per subject: 100 requests a second sustained, 1000 at once.
const DEFAULT_REQUESTS_PER_MINUTE: u32 = 6000;
const DEFAULT_BURST: u32 = 1000;
/// Per address before authentication: the same budget.
const DEFAULT_ADDRESS_REQUESTS_PER_MINUTE: u32 = 6000;
const DEFAULT_ADDRESS_BURST: u32 = 1000;
/// Failed token checks per address per minute: a user's expired token
/// costs one 401 an hour, a connection's discovery request one more; 600 a
/// minute from one address is an attack (a flood measured ~1000 a second).
const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 600;
/// Open connections per address: a Claude session holds a `GET` stream and
/// opens a connection per call in flight; 200 sessions with 50 calls in
/// flight need a few hundred. Trusted proxies are exempt (every connection
/// comes from them).
const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 1000;

impl Default for Limits {
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        Self {
            requests: Some(Rate {
                limit: DEFAULT_REQUESTS_PER_MINUTE,
                period: minute,
                burst: DEFAULT_BURST,
            }),
            tool_calls: None,
            max_sessions: 1000,
            // rmcp's own default idle timeout.
            session_idle: Duration::from_secs(300),
            session_max_lifetime: Duration::from_secs(24 * 3600),
            address_requests: Some(Rate {
                limit: DEFAULT_ADDRESS_REQUESTS_PER_MINUTE,
                period: minute,
                burst: DEFAULT_ADDRESS_BURST,
            }),
            auth_failures_per_minute: DEFAULT_AUTH_FAILURES_PER_MINUTE,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            // A request head is a few hundred bytes: 10 s is ample on any
            // link, and bounds what a client that dribbles bytes can hold.
            request_head_timeout: Duration::from_secs(10),
            // Bodies are at most `max_body_bytes` (1 MiB by default).
            request_body_timeout: Duration::from_secs(30),
            // Long enough for a client's next call to reuse the connection
            // (and its TLS session), short enough not to hoard sockets.
            keep_alive_idle: Duration::from_secs(60),
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
    let address_requests = match s.address_requests_per_minute {
        Some(0) => None,
        Some(limit) => Some(Rate {
            limit,
            period: minute,
            burst: DEFAULT_ADDRESS_BURST.min(limit),
        }),
        None => d.address_requests,
    };
    let address_requests = match (address_requests, s.address_burst) {
        (_, Some(0)) => {
            return Err(ConfigError::invalid(
                "limits.address_burst",
                "must be at least 1",
            ));
        }
        (Some(rate), Some(burst)) => Some(Rate { burst, ..rate }),
        (rate, _) => rate,
    };
    let auth_failures_per_minute = match s.auth_failures_per_minute {
        Some(0) => {
            return Err(ConfigError::invalid(
                "limits.auth_failures_per_minute",
                "must be at least 1",
            ));
        }
        Some(n) => n,
        None => d.auth_failures_per_minute,
    };
    let max_connections_per_address = match s.max_connections_per_address {
        Some(0) => {
            return Err(ConfigError::invalid(
                "limits.max_connections_per_address",
                "must be at least 1",
            ));
        }
        Some(n) => n,
        None => d.max_connections_per_address,
    };
    let short = |key, value: Option<u64>, default| match value {
        Some(v) if v > 3600 => Err(ConfigError::invalid(key, "must be at most 3600 seconds")),
        v => secs(key, v, default),
    };
    Ok(Limits {
        requests,
        tool_calls,
        max_sessions,
        session_idle,
        session_max_lifetime,
        address_requests,
        auth_failures_per_minute,
        max_connections_per_address,
        request_head_timeout: short(
            "limits.request_head_timeout_secs",
            s.request_head_timeout_secs,
            d.request_head_timeout,
        )?,
        request_body_timeout: short(
            "limits.request_body_timeout_secs",
            s.request_body_timeout_secs,
            d.request_body_timeout,
        )?,
        keep_alive_idle: short(
            "limits.keep_alive_idle_secs",
            s.keep_alive_idle_secs,
            d.keep_alive_idle,
        )?,
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

/// `[server.tls]`: PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
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
