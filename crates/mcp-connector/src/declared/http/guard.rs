//! Where a declared HTTP source may connect: only hosts listed in
//! `allow_hosts`, and never to an address that no operator means
//! (link-local and cloud metadata, unspecified, multicast, broadcast),
//! checked *after* DNS resolution so that a listed name that resolves to
//! 169.254.169.254 is still refused.
//!
//! Loopback and private addresses are allowed: every host that can be
//! reached is one the operator listed by name or address, and internal
//! APIs on private networks are what these sources are for. The address
//! classification is the one the metadata-document fetcher uses
//! ([`crate::auth::cimd::is_never_reachable`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::auth::cimd::is_never_reachable;

/// A call refused by the guard; the message is safe to show.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Refused(pub(super) String);

/// The hosts a source may reach: lower-case names and parsed addresses.
#[derive(Debug)]
pub(super) struct AllowList {
    names: Vec<String>,
    addrs: Vec<IpAddr>,
}

impl AllowList {
    pub(super) fn new(hosts: &[String]) -> Self {
        let mut names = Vec::new();
        let mut addrs = Vec::new();
        for h in hosts {
            match h.parse::<IpAddr>() {
                Ok(ip) => addrs.push(ip),
                Err(_) => names.push(normalize(h)),
            }
        }
        Self { names, addrs }
    }

    fn has_name(&self, name: &str) -> bool {
        let name = normalize(name);
        self.names.contains(&name)
    }

    /// Whether `url` may be requested: http(s), a listed host, and (for an
    /// address, which never reaches the resolver) an address that is not
    /// off limits.
    pub(super) fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused(format!("scheme `{}` is not http(s)", url.scheme())));
        }
        let ip = match url.host() {
            Some(Host::Domain(d)) if self.has_name(d) => return Ok(()),
            Some(Host::Domain(d)) => {
                return Err(Refused(format!("host `{d}` is not in allow_hosts")));
            }
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
            None => return Err(Refused("the URL has no host".to_owned())),
        };
        check_ip(ip)?;
        if self.addrs.contains(&ip) {
            Ok(())
        } else {
            Err(Refused(format!("address {ip} is not in allow_hosts")))
        }
    }
}

/// Host names compare without case and without a final dot.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn check_ip(ip: IpAddr) -> Result<(), Refused> {
    if is_never_reachable(ip) {
        Err(Refused(format!(
            "address {ip} is link-local (cloud metadata), unspecified, multicast or broadcast"
        )))
    } else {
        Ok(())
    }
}

/// Every address `host` resolves to must be reachable: a name with one
/// good and one metadata address could otherwise be steered to the latter.
pub(super) fn check_addrs(host: &str, addrs: &[SocketAddr]) -> Result<(), Refused> {
    if addrs.is_empty() {
        return Err(Refused(format!("host `{host}` has no addresses")));
    }
    for a in addrs {
        check_ip(a.ip()).map_err(|e| Refused(format!("host `{host}` resolves to an {}", e.0)))?;
    }
    Ok(())
}

/// The system resolver, for listed names only, returning only addresses
/// that passed [`check_addrs`]. reqwest calls it for every connection by
/// name, redirects included.
pub(super) struct ListedResolver(pub(super) Arc<AllowList>);

impl Resolve for ListedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let listed = self.0.has_name(&host);
        Box::pin(async move {
            if !listed {
                let e = Refused(format!("host `{host}` is not in allow_hosts"));
                return Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            check_addrs(&host, &addrs)?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(hosts: &[&str]) -> AllowList {
        AllowList::new(&hosts.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())
    }

    fn url(text: &str) -> Url {
        Url::parse(text).expect("url")
    }

    #[test]
    fn only_listed_hosts_and_never_metadata() {
        let a = allow(&[
            "api.internal",
            "127.0.0.1",
            "::1",
            "169.254.169.254",
            "fe80::1",
        ]);
        assert!(a.check_url(&url("http://API.internal./x")).is_ok());
        assert!(a.check_url(&url("http://127.0.0.1:8080/x")).is_ok());
        assert!(a.check_url(&url("http://[::1]/x")).is_ok());
        // 0x7f.1 is 127.0.0.1 spelled otherwise.
        assert!(a.check_url(&url("http://0x7f.1/x")).is_ok());
        for bad in [
            "http://other.internal/",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/",
            "ftp://api.internal/",
        ] {
            assert!(a.check_url(&url(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolved_addresses_are_checked() {
        let ok: Vec<SocketAddr> = vec!["127.0.0.1:0".parse().expect("addr")];
        assert!(check_addrs("h", &ok).is_ok());
        assert!(check_addrs("h", &[]).is_err());
        for bad in [
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "fe80::1",
            "fd00:ec2::254",
            "::",
            "ff02::1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::169.254.169.254",
        ] {
            let ip: IpAddr = bad.parse().expect("ip");
            let addrs = [ok[0], SocketAddr::new(ip, 0)];
            assert!(check_addrs("h", &addrs).is_err(), "{bad}");
        }
        for fine in [
            "10.0.0.1",
            "192.168.1.2",
            "::1",
            "fd00::1",
            "8.8.8.8",
            "100.64.0.1",
        ] {
            let ip: IpAddr = fine.parse().expect("ip");
            assert!(
                check_addrs("h", &[SocketAddr::new(ip, 0)]).is_ok(),
                "{fine}"
            );
        }
    }
}
