//! Host names in the URLs a configuration names (issuers, JWKS, redirects).

/// `localhost`, `127.x.y.z` or `[::1]`.
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
