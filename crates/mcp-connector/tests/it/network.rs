//! Network controls against the real server: the IP allowlist (IPv4, IPv6,
//! presets), trusted proxies and spoofed forwarding headers.

use mcp_connector::config::Config;
use serde_json::json;

use crate::common::{LEGACY, Opts};
use crate::db_test;

fn ranges(c: &mut Config, allow: &[&str], proxies: &[&str]) {
    c.allow = allow.iter().map(|s| s.parse().expect("net")).collect();
    c.trusted_proxies = proxies.iter().map(|s| s.parse().expect("net")).collect();
}

fn list() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string()
}

db_test!(
    allowed_ipv4_address_passes,
    Opts {
        tweak: Some(|c| ranges(c, &["127.0.0.0/8"], &[])),
        ..Opts::default()
    },
    |srv| {
        assert_eq!(srv.list_status(&[]).await, 200);
        assert_eq!(srv.count("engineering").await, 42);
    }
);

db_test!(
    address_outside_the_allowlist_is_403_before_anything_else,
    Opts {
        tweak: Some(|c| ranges(c, &["160.79.104.0/21"], &[])),
        ..Opts::default()
    },
    |srv| {
        // 127.0.0.1 is not in Anthropic's range: refused, even with a bad Host,
        // a foreign Origin and an oversized body, which would each be refused later.
        let res = srv
            .post_raw(
                list(),
                &[
                    ("mcp-protocol-version", LEGACY),
                    ("host", "evil.example"),
                    ("origin", "https://evil.example"),
                ],
            )
            .await;
        assert_eq!(res.status(), 403);
        let body = res.text().await.expect("body");
        assert!(body.contains("address not allowed"), "{body}");
        let res = srv
            .client
            .get(format!("{}/healthz", srv.base))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 403, "every route is behind the allowlist");
    }
);

db_test!(
    ipv6_allowlist,
    Opts {
        ipv6: true,
        tweak: Some(|c| ranges(c, &["::1/128"], &[])),
        ..Opts::default()
    },
    |srv| {
        assert!(srv.url.starts_with("http://[::1]:"), "{}", srv.url);
        assert_eq!(srv.list_status(&[]).await, 200);
    }
);

db_test!(
    ipv6_address_outside_the_allowlist_is_refused,
    Opts {
        ipv6: true,
        tweak: Some(|c| ranges(c, &["2607:6bc0::/48", "127.0.0.0/8"], &[])),
        ..Opts::default()
    },
    |srv| {
        assert_eq!(srv.list_status(&[]).await, 403);
    }
);

db_test!(
    client_behind_a_trusted_proxy_is_judged_by_its_own_address,
    Opts {
        tweak: Some(|c| ranges(c, &["160.79.104.0/21"], &["127.0.0.1/32"])),
        ..Opts::default()
    },
    |srv| {
        // The proxy (127.0.0.1) forwards a client inside Anthropic's range: allowed.
        assert_eq!(
            srv.list_status(&[("x-forwarded-for", "203.0.113.5, 160.79.106.20")])
                .await,
            200
        );
        assert_eq!(
            srv.list_status(&[("forwarded", "for=160.79.104.9;proto=https")])
                .await,
            200
        );
        // The rightmost untrusted hop decides: a client can prepend anything, but
        // the address the proxy saw is outside the range.
        assert_eq!(
            srv.list_status(&[("x-forwarded-for", "160.79.106.20, 203.0.113.5")])
                .await,
            403
        );
        // No header at all: the proxy's own address, which is not allowed.
        assert_eq!(srv.list_status(&[]).await, 403);
    }
);

db_test!(
    spoofed_forwarding_header_from_an_untrusted_peer_is_ignored,
    Opts {
        tweak: Some(|c| ranges(c, &["160.79.104.0/21"], &["10.0.0.0/8"])),
        ..Opts::default()
    },
    |srv| {
        // 127.0.0.1 is not a trusted proxy, so its X-Forwarded-For is ignored.
        assert_eq!(
            srv.list_status(&[("x-forwarded-for", "160.79.106.20")])
                .await,
            403
        );
        assert_eq!(
            srv.list_status(&[("forwarded", "for=160.79.106.20")]).await,
            403
        );
    }
);
