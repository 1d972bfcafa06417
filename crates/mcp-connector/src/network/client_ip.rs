//! The client's address, honouring `X-Forwarded-For` / `Forwarded` only when
//! the connection comes from a trusted reverse proxy.
//!
//! Anyone can send a forwarding header, so it counts only when the TCP peer is
//! a configured proxy. Then the header is read right to left, skipping further
//! trusted proxies; the first address that is not a trusted proxy is the
//! client (the rightmost untrusted one: everything left of it could have been
//! written by the client itself).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The address a request is attributed to (allowlist, rate limits, audit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// `network.trusted_proxies`.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    /// A proxy misconfiguration has been logged (once per process).
    pub(super) warned: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self {
            nets,
            warned: std::sync::Arc::default(),
        }
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client address of a request that arrived from `peer`.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.ip().to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_chain(headers);
        // Right to left: the nearest hop first.
        for hop in hops.iter().rev() {
            if !self.trusts(*hop) {
                return *hop;
            }
        }
        // Every hop is a trusted proxy: the leftmost is the best we know.
        hops.first().copied().unwrap_or(peer)
    }
}

impl TrustedProxies {
    /// The scheme a trusted proxy says the client used (`Forwarded: proto=`,
    /// else `X-Forwarded-Proto`, lower case). `None` when `peer` is not a
    /// trusted proxy; `Some(None)` when the proxy did not say.
    pub fn forwarded_proto(&self, peer: SocketAddr, headers: &HeaderMap) -> Option<Option<String>> {
        if !self.trusts(peer.ip().to_canonical()) {
            return None;
        }
        let from_forwarded = headers
            .get_all("forwarded")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split([',', ';']))
            .find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("proto")
                    .then(|| v.trim().trim_matches('"').to_ascii_lowercase())
            });
        let from_x = || {
            headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                // The nearest proxy appends last.
                .and_then(|v| v.rsplit(',').next())
                .map(|v| v.trim().to_ascii_lowercase())
        };
        Some(from_forwarded.or_else(from_x))
    }
}

/// Addresses from `Forwarded: for=…` (RFC 7239) if present, else from
/// `X-Forwarded-For`, in header order. Unparsable entries end the chain at
/// that point, so a garbage value cannot hide the hops to its right.
fn forwarded_chain(headers: &HeaderMap) -> Vec<IpAddr> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let entries: Vec<String> = if forwarded.is_empty() {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_owned())
            .collect()
    } else {
        forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| v.trim().trim_matches('"').to_owned())
                })
            })
            .collect()
    };
    let mut out = Vec::new();
    for entry in entries.iter().rev() {
        match parse_hop(entry) {
            Some(ip) => out.push(ip),
            None => break,
        }
    }
    out.reverse();
    out
}

/// `1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]`, `[2001:db8::1]:80`, `2001:db8::1`.
fn parse_hop(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    let inner = s.strip_prefix('[')?.split(']').next()?;
    inner.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// Who a request is attributed to. Today every request is unauthenticated
/// and counted per client address; an authentication layer will insert a
/// `Subject::User` extension so that limits follow the user, not the
/// egress address Claude's traffic shares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// An unauthenticated client, by address.
    Client(IpAddr),
    /// An authenticated subject (`sub` of a token), once authentication exists.
    User(Arc<str>),
}

impl Subject {
    /// The subject of a request: an inserted [`Subject`] if a layer set one,
    /// else the client address from the allowlist middleware.
    pub fn of(extensions: &axum::http::Extensions) -> Option<Self> {
        if let Some(subject) = extensions.get::<Self>() {
            return Some(subject.clone());
        }
        extensions.get::<ClientIp>().map(|ip| Self::Client(ip.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("header value"));
        }
        h
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(vec![
            "127.0.0.1/32".parse().expect("net"),
            "10.0.0.0/8".parse().expect("net"),
        ])
    }

    fn peer(s: &str) -> SocketAddr {
        format!("{s}:5555").parse().expect("addr")
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let h = headers(&[("x-forwarded-for", "160.79.104.1")]);
        assert_eq!(
            proxies().client_ip(peer("203.0.113.9"), &h),
            "203.0.113.9".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn rightmost_untrusted_hop_wins() {
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 160.79.104.1, 10.1.2.3")]);
        assert_eq!(
            proxies().client_ip(peer("127.0.0.1"), &h),
            "160.79.104.1".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn forwarded_header_and_ipv6() {
        let h = headers(&[(
            "forwarded",
            "for=\"[2607:6bc0::10]:4711\";proto=https, for=10.0.0.2",
        )]);
        assert_eq!(
            proxies().client_ip(peer("127.0.0.1"), &h),
            "2607:6bc0::10".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn garbage_stops_the_chain() {
        let h = headers(&[("x-forwarded-for", "160.79.104.1, garbage, 10.0.0.9")]);
        // Only hops right of the garbage count; all trusted, so the leftmost of those.
        assert_eq!(
            proxies().client_ip(peer("127.0.0.1"), &h),
            "10.0.0.9".parse::<IpAddr>().expect("ip")
        );
        let none = HeaderMap::new();
        assert_eq!(
            proxies().client_ip(peer("127.0.0.1"), &none),
            "127.0.0.1".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn ipv4_mapped_ipv6_peer_is_canonical() {
        let p: SocketAddr = "[::ffff:127.0.0.1]:80".parse().expect("addr");
        let h = headers(&[("x-forwarded-for", "160.79.104.2")]);
        assert_eq!(
            proxies().client_ip(p, &h),
            "160.79.104.2".parse::<IpAddr>().expect("ip")
        );
    }
}
