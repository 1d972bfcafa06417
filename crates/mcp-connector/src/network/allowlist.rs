//! `network.allow`: the first check every request meets.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use ipnet::IpNet;

use super::client_ip::{ClientIp, TrustedProxies};
use crate::telemetry::metrics::NetworkRefusal;
use crate::wire::EdgeError;

/// The addresses allowed to connect. Empty means everyone.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    nets: Arc<[IpNet]>,
}

impl Allowlist {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self { nets: nets.into() }
    }

    /// Whether any restriction is configured.
    pub fn is_active(&self) -> bool {
        !self.nets.is_empty()
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        !self.is_active() || self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// State of the [`enforce`] middleware.
#[derive(Debug, Clone, Default)]
pub struct NetworkPolicy {
    pub allow: Allowlist,
    pub proxies: TrustedProxies,
    /// `server.public_url` is https: a trusted proxy should say so.
    pub https_public: bool,
    /// Refused addresses are counted here.
    pub metrics: crate::telemetry::Metrics,
}

/// Response header naming a proxy misconfiguration that does not stop the
/// request (read by `mcp-connector doctor`, logged once).
pub const PROXY_WARNING_HEADER: &str = "mcp-connector-warning";

/// Why a trusted proxy's request looks misconfigured, if it does: the
/// public URL is https, but the proxy did not say that the client used https.
fn proxy_warning(policy: &NetworkPolicy, peer: SocketAddr, req: &Request) -> Option<&'static str> {
    if !policy.https_public {
        return None;
    }
    match policy.proxies.forwarded_proto(peer, req.headers())? {
        Some(p) if p == "https" => None,
        Some(_) => Some(
            "X-Forwarded-Proto: the trusted proxy says the client used plain http, but server.public_url is https",
        ),
        None => Some(
            "X-Forwarded-Proto: the trusted proxy does not send X-Forwarded-Proto (or Forwarded: proto=); server.public_url is https",
        ),
    }
}

/// Attribute the request to its client address ([`ClientIp`] extension) and
/// refuse it with 403 when that address is not allowed. Runs before Host,
/// Origin, size and authentication checks, so a refused address learns
/// nothing else about the server.
pub async fn enforce(
    State(policy): State<NetworkPolicy>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let Some(peer) = peer else {
        // Without a peer address there is nothing to check against.
        if policy.allow.is_active() {
            policy.metrics.network_refused(NetworkRefusal::Allowlist);
            return EdgeError::AddressNotAllowed.into_response();
        }
        return next.run(req).await;
    };
    let ip = policy.proxies.client_ip(peer, req.headers());
    if !policy.allow.allows(ip) {
        policy.metrics.network_refused(NetworkRefusal::Allowlist);
        tracing::info!(client_ip = %ip, "request refused: address not allowed");
        return EdgeError::AddressNotAllowed.into_response();
    }
    req.extensions_mut().insert(ClientIp(ip));
    let warning = proxy_warning(&policy, peer, &req);
    let mut res = next.run(req).await;
    if let Some(w) = warning {
        if !policy
            .proxies
            .warned
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!("proxy configuration: {w}");
        }
        res.headers_mut().insert(
            PROXY_WARNING_HEADER,
            axum::http::HeaderValue::from_static(w),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_allows_all_and_nets_restrict() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert!(Allowlist::default().allows(ip("8.8.8.8")));
        let a = Allowlist::new(vec![
            "160.79.104.0/21".parse().expect("net"),
            "2607:6bc0::/48".parse().expect("net"),
        ]);
        assert!(a.allows(ip("160.79.111.255")));
        assert!(!a.allows(ip("160.79.112.0")));
        assert!(a.allows(ip("2607:6bc0::1")));
        assert!(!a.allows(ip("2607:6bc1::1")));
        assert!(
            a.allows(ip("::ffff:160.79.104.1")),
            "IPv4-mapped IPv6 counts as IPv4"
        );
    }
}
