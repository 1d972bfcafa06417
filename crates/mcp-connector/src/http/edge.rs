//! Host and Origin validation (DNS rebinding protection) and the body limit.
//!
//! A DNS-rebinding page runs in the victim's browser with the attacker's
//! origin and sends the attacker's host name, so both headers are checked:
//! `Host` must be a loopback name or a configured public host, and a present
//! `Origin` must be a loopback origin or a configured one. Requests without
//! `Origin` (every non-browser client) pass the Origin check.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::rejection::EdgeError;
use crate::telemetry::metrics::NetworkRefusal;

/// What the edge accepts. Built once from the config.
#[derive(Debug, Clone)]
pub struct EdgePolicy {
    /// Lower-case host names or `host:port` values.
    pub allowed_hosts: Arc<[String]>,
    /// ASCII-serialised origins (`scheme://host[:port]`).
    pub allowed_origins: Arc<[String]>,
    pub max_body_bytes: usize,
    /// Refused Host and Origin values are counted here.
    pub metrics: crate::telemetry::Metrics,
}

/// Loopback names that are always acceptable: a rebinding attack cannot make
/// a browser send them for an attacker's page.
fn is_loopback_host(host: &str) -> bool {
    matches!(host, "localhost" | "::1" | "[::1]")
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Split `authority` into host (lower case, IPv6 in brackets kept) and port.
fn split_authority(authority: &str) -> (String, Option<&str>) {
    let authority = authority.trim();
    if let Some(rest) = authority.strip_prefix('[')
        && let Some(end) = rest.find(']')
    {
        let host = format!("[{}]", rest[..end].to_ascii_lowercase());
        let port = rest[end + 1..].strip_prefix(':');
        return (host, port);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_ascii_lowercase(), Some(p)),
        _ => (authority.to_ascii_lowercase(), None),
    }
}

impl EdgePolicy {
    /// Whether a `Host` value is acceptable.
    pub fn host_allowed(&self, authority: &str) -> bool {
        let (host, _) = split_authority(authority);
        let full = authority.trim().to_ascii_lowercase();
        is_loopback_host(&host)
            || self
                .allowed_hosts
                .iter()
                .any(|allowed| *allowed == host || *allowed == full)
    }

    /// Whether an `Origin` value is acceptable.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let Ok(url) = url::Url::parse(origin) else {
            return false;
        };
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        let serialised = url.origin().ascii_serialization();
        let loopback = url.host_str().is_some_and(is_loopback_host);
        loopback || self.allowed_origins.contains(&serialised)
    }

    fn check(&self, headers: &HeaderMap, uri_authority: Option<&str>) -> Result<(), EdgeError> {
        // HTTP/2 carries the authority in the URI instead of a Host header.
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or(uri_authority)
            .ok_or(EdgeError::MissingHost)?;
        if !self.host_allowed(host) {
            return Err(EdgeError::HostNotAllowed);
        }
        let mut origins = headers.get_all(header::ORIGIN).iter();
        if let Some(origin) = origins.next() {
            // Two Origin headers are never legitimate; do not pick one.
            if origins.next().is_some() {
                return Err(EdgeError::OriginNotAllowed);
            }
            let ok = origin.to_str().is_ok_and(|o| self.origin_allowed(o));
            if !ok {
                return Err(EdgeError::OriginNotAllowed);
            }
        }
        if let Some(len) = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            && len > self.max_body_bytes as u64
        {
            return Err(EdgeError::BodyTooLarge);
        }
        Ok(())
    }
}

/// Middleware applying [`EdgePolicy`]. Bodies without a `Content-Length`
/// are bounded while streaming by the MCP transport.
pub async fn enforce(State(policy): State<EdgePolicy>, req: Request, next: Next) -> Response {
    let authority = req.uri().authority().map(|a| a.as_str().to_owned());
    match policy.check(req.headers(), authority.as_deref()) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            let refused = match e {
                EdgeError::HostNotAllowed => Some((
                    NetworkRefusal::Host,
                    req.headers()
                        .get(header::HOST)
                        .map(|v| v.as_bytes())
                        .or(authority.as_deref().map(str::as_bytes)),
                )),
                EdgeError::OriginNotAllowed => Some((
                    NetworkRefusal::Origin,
                    req.headers().get(header::ORIGIN).map(|v| v.as_bytes()),
                )),
                _ => None,
            };
            match refused {
                Some((reason, value)) => {
                    policy.metrics.network_refused(reason);
                    let value = shown(value.unwrap_or_default());
                    tracing::info!(reason = %e, header = reason.as_str(), %value, "request refused at the edge");
                }
                None => tracing::info!(reason = %e, "request refused at the edge"),
            }
            e.into_response()
        }
    }
}

/// Longest header value put in a log line, in characters.
const MAX_LOGGED_CHARS: usize = 100;

/// A client's header value as a log can show it: at most
/// [`MAX_LOGGED_CHARS`] characters, control and non-ASCII characters
/// escaped (a value cannot forge a log line), `…` when cut.
fn shown(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let mut out: String = text
        .chars()
        .take(MAX_LOGGED_CHARS)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().nth(MAX_LOGGED_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> EdgePolicy {
        EdgePolicy {
            allowed_hosts: vec!["tools.example.com".to_owned()].into(),
            allowed_origins: vec!["https://tools.example.com".to_owned()].into(),
            max_body_bytes: 10,
            metrics: crate::telemetry::Metrics::disabled(),
        }
    }

    #[test]
    fn logged_values_are_escaped_and_truncated() {
        assert_eq!(shown(b"evil.example"), "evil.example");
        assert_eq!(
            shown(b"a\nINFO forged line\x1b[31m\"q\""),
            "a\\nINFO forged line\\u{1b}[31m\\\"q\\\""
        );
        let long = "x".repeat(500);
        let s = shown(long.as_bytes());
        assert_eq!(s.chars().count(), MAX_LOGGED_CHARS + 1);
        assert!(s.ends_with('…'));
        assert_eq!(shown(&[0xff, b'a']), "\\u{fffd}a");
    }

    #[test]
    fn hosts() {
        let p = policy();
        for ok in [
            "localhost",
            "localhost:8000",
            "127.0.0.1:1",
            "[::1]:8000",
            "tools.example.com",
            "TOOLS.example.com:443",
        ] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8000",
            "tools.example.com.evil.example",
            "10.0.0.1",
            "[::2]:80",
            "",
        ] {
            assert!(!p.host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn origins() {
        let p = policy();
        for ok in [
            "http://localhost:6274",
            "https://tools.example.com",
            "http://127.0.0.1:3000",
            "http://[::1]:1",
        ] {
            assert!(p.origin_allowed(ok), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "null",
            "file://",
            "https://tools.example.com:8443",
            "http://tools.example.com",
            "garbage",
        ] {
            assert!(!p.origin_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn duplicate_origin_and_big_body_are_refused() {
        let p = policy();
        let mut h = HeaderMap::new();
        h.insert(
            header::HOST,
            "localhost".parse().unwrap_or_else(|_| unreachable!()),
        );
        h.append(
            header::ORIGIN,
            "http://localhost"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(p.check(&h, None), Ok(()));
        h.append(
            header::ORIGIN,
            "http://localhost"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(p.check(&h, None), Err(EdgeError::OriginNotAllowed));
        let mut h = HeaderMap::new();
        h.insert(
            header::HOST,
            "localhost".parse().unwrap_or_else(|_| unreachable!()),
        );
        h.insert(
            header::CONTENT_LENGTH,
            "11".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(p.check(&h, None), Err(EdgeError::BodyTooLarge));
        assert_eq!(
            p.check(&HeaderMap::new(), None),
            Err(EdgeError::MissingHost)
        );
    }
}
