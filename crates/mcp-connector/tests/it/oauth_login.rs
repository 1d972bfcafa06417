//! `POST /authorize`: the login and consent pages, their headers, CSRF,
//! sealed-state tampering, throttling and scope selection (no escalation
//! beyond the user's role).

// Tests may unwrap: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use mcp_connector::clock::unix_now;

use crate::common::{Opts, TestServer};
use crate::db_test;
use crate::oauth_authorize::{exchange_ok, expect_error_redirect, setup};
use crate::oauth_flow::{
    AuthorizeParams, PASSWORD, Page, Pkce, READ, REDIRECT, WRITE, add_client, consent_raw,
    location, login, login_raw, param, post_form, start, start_raw,
};

db_test!(pages_refuse_framing_and_caching, Opts::oauth(), |srv| {
    let (p, _) = setup(&srv, "viewer").await;
    let res = start_raw(&srv, &p).await;
    assert_eq!(res.status().as_u16(), 200);
    let h = res.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        csp.contains("form-action 'self' https://client.example"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["referrer-policy"], "same-origin");
    let cookie = h["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("mcpc_csrf="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    // The consent page too.
    let login_page = start(&srv, &p).await.unwrap();
    let res = login_raw(&srv, &login_page, "alice", PASSWORD).await;
    assert_eq!(res.status().as_u16(), 200);
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert_eq!(res.headers()["cache-control"], "no-store");
});

db_test!(client_name_is_escaped, Opts::oauth(), |srv| {
    let (client, _) = add_client(&srv, "<script>alert(1)</script>", &[REDIRECT], false).await;
    let pkce = Pkce::new();
    let p = AuthorizeParams::new(&srv, &client, REDIRECT, "x", "y", &pkce);
    let page = start(&srv, &p).await.expect("login page");
    assert!(!page.html.contains("<script>"));
    assert!(page.html.contains("&lt;script&gt;"));
    assert!(page.html.contains("client.example"));
});

/// Log in with `password` and return the response.
async fn try_login(
    srv: &TestServer,
    p: &AuthorizeParams,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let page = start(srv, p).await.expect("login page");
    login_raw(srv, &page, username, password).await
}

db_test!(wrong_password_is_401_without_code, Opts::oauth(), |srv| {
    let (p, _) = setup(&srv, "viewer").await;
    let res = try_login(&srv, &p, "alice", "wrong password!!").await;
    assert_eq!(res.status().as_u16(), 401);
    assert!(res.headers().get("location").is_none());
    let html = res.text().await.unwrap();
    assert!(html.contains("Invalid user name or password."));
    assert!(html.contains("id=\"login\""), "the login form again");
    assert!(!html.contains("mcpac_"));
    assert!(!html.contains("wrong password!!"));
});

db_test!(
    unknown_user_looks_like_wrong_password,
    Opts::oauth(),
    |srv| {
        let (p, _) = setup(&srv, "viewer").await;
        let wrong = try_login(&srv, &p, "alice", "wrong password!!").await;
        let unknown = try_login(&srv, &p, "mallory", "wrong password!!").await;
        assert_eq!(wrong.status(), unknown.status());
        let strip = |s: String, name: &str| s.replace(name, "USER");
        let (w, u) = (wrong.text().await.unwrap(), unknown.text().await.unwrap());
        let message = |html: &str| {
            let start = html.find("class=\"error\"").unwrap();
            html[start..start + 80].to_owned()
        };
        assert_eq!(message(&strip(w, "alice")), message(&strip(u, "mallory")));
    }
);

db_test!(disabled_user_cannot_log_in, Opts::oauth(), |srv| {
    let (p, _) = setup(&srv, "viewer").await;
    srv.state
        .db
        .set_user_disabled("alice", true, unix_now())
        .await
        .unwrap();
    // Issue 12: the right password of a disabled account is told that the
    // account is disabled (the person proved who they are)...
    let res = try_login(&srv, &p, "alice", PASSWORD).await;
    assert_eq!(res.status().as_u16(), 403);
    let html = res.text().await.unwrap();
    assert!(html.contains("Your account is disabled"), "{html}");
    assert!(!html.contains("name=\"ticket\""));
    // ...a wrong password learns nothing more than for any account.
    let res = try_login(&srv, &p, "alice", "wrong password!!").await;
    assert_eq!(res.status().as_u16(), 401);
    let html = res.text().await.unwrap();
    assert!(html.contains("Invalid user name or password."));
    assert!(!html.contains("disabled"));
});

db_test!(
    user_disabled_after_login_gets_no_code,
    Opts::oauth(),
    |srv| {
        let (p, _) = setup(&srv, "viewer").await;
        let page = start(&srv, &p).await.unwrap();
        let consent_page = login(&srv, &page, "alice", PASSWORD)
            .await
            .expect("consent");
        srv.state
            .db
            .set_user_disabled("alice", true, unix_now())
            .await
            .unwrap();
        let res = consent_raw(&srv, &consent_page, "allow", &[READ.into()]).await;
        assert_ne!(res.status().as_u16(), 303);
        assert!(res.headers().get("location").is_none());
    }
);

db_test!(login_without_csrf_cookie_is_403, Opts::oauth(), |srv| {
    let (p, _) = setup(&srv, "viewer").await;
    let mut page = start(&srv, &p).await.unwrap();
    page.cookie = None;
    let res = login_raw(&srv, &page, "alice", PASSWORD).await;
    assert_eq!(res.status().as_u16(), 403);
    assert!(!res.text().await.unwrap().contains("ticket"));
});

db_test!(login_with_mismatched_csrf_is_403, Opts::oauth(), |srv| {
    let (p, _) = setup(&srv, "viewer").await;
    let page = start(&srv, &p).await.unwrap();
    let other = start(&srv, &p).await.unwrap();
    // The victim's cookie with the attacker's form (and vice versa).
    let forged = Page {
        cookie: other.cookie.clone(),
        ..page.clone()
    };
    let res = login_raw(&srv, &forged, "alice", PASSWORD).await;
    assert_eq!(res.status().as_u16(), 403);
});

db_test!(consent_with_mismatched_csrf_is_403, Opts::oauth(), |srv| {
    let (p, _) = setup(&srv, "viewer").await;
    let page = start(&srv, &p).await.unwrap();
    let mut consent_page = login(&srv, &page, "alice", PASSWORD).await.unwrap();
    let other = start(&srv, &p).await.unwrap();
    consent_page.cookie = other.cookie;
    let res = consent_raw(&srv, &consent_page, "allow", &[READ.into()]).await;
    assert_eq!(res.status().as_u16(), 403);
    assert!(res.headers().get("location").is_none());
});

db_test!(tampered_request_is_400, Opts::oauth(), |srv| {
    let (p, _) = setup(&srv, "viewer").await;
    let page = start(&srv, &p).await.unwrap();
    let request = page.field("request").unwrap();
    let mut bytes = request.into_bytes();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let csrf = page.field("csrf").unwrap();
    let res = post_form(
        &srv,
        page.cookie.as_deref(),
        &[
            ("step", "login"),
            ("request", &tampered),
            ("csrf", &csrf),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(res.status().as_u16(), 400);
});

db_test!(tampered_ticket_is_400, Opts::oauth(), |srv| {
    let (p, _) = setup(&srv, "viewer").await;
    let page = start(&srv, &p).await.unwrap();
    let consent_page = login(&srv, &page, "alice", PASSWORD).await.unwrap();
    let ticket = consent_page.field("ticket").unwrap();
    let csrf = consent_page.field("csrf").unwrap();
    let mut bytes = ticket.into_bytes();
    let i = bytes.len() / 3;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let res = post_form(
        &srv,
        consent_page.cookie.as_deref(),
        &[
            ("step", "consent"),
            ("ticket", &tampered),
            ("csrf", &csrf),
            ("decision", "allow"),
            ("scope", READ),
        ],
    )
    .await;
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.headers().get("location").is_none());
});

db_test!(request_sealed_as_ticket_is_refused, Opts::oauth(), |srv| {
    // A login form's `request` posted as a consent `ticket` (seal contexts
    // differ) must not skip the login.
    let (p, _) = setup(&srv, "viewer").await;
    let page = start(&srv, &p).await.unwrap();
    let request = page.field("request").unwrap();
    let csrf = page.field("csrf").unwrap();
    let res = post_form(
        &srv,
        page.cookie.as_deref(),
        &[
            ("step", "consent"),
            ("ticket", &request),
            ("csrf", &csrf),
            ("decision", "allow"),
            ("scope", READ),
        ],
    )
    .await;
    assert_eq!(res.status().as_u16(), 400);
});

db_test!(viewer_cannot_escalate_to_write, Opts::oauth(), |srv| {
    let (mut p, pkce) = setup(&srv, "viewer").await;
    p.scope = Some(format!("{READ} {WRITE}"));
    let page = start(&srv, &p).await.unwrap();
    let consent_page = login(&srv, &page, "alice", PASSWORD).await.unwrap();
    // Write is not offered, and the page says it was not granted.
    let offered: Vec<String> = consent_page.scopes().into_iter().map(|(s, _)| s).collect();
    assert_eq!(offered, vec![READ.to_owned()]);
    assert!(consent_page.html.contains("Not granted"));
    // A crafted post ticking write anyway gets read only.
    let res = consent_raw(&srv, &consent_page, "allow", &[READ.into(), WRITE.into()]).await;
    assert_eq!(res.status().as_u16(), 303);
    let url = location(&res).unwrap();
    let tokens = exchange_ok(&srv, &p, &pkce, &url).await;
    assert_eq!(tokens["scope"], READ);
});

db_test!(
    editor_without_requested_scope_gets_read_preselected,
    Opts::oauth(),
    |srv| {
        let (p, pkce) = setup(&srv, "editor").await;
        let page = start(&srv, &p).await.unwrap();
        let consent_page = login(&srv, &page, "alice", PASSWORD).await.unwrap();
        assert_eq!(
            consent_page.scopes(),
            vec![(READ.to_owned(), true), (WRITE.to_owned(), false)]
        );
        // The user may tick write too.
        let res = consent_raw(&srv, &consent_page, "allow", &[READ.into(), WRITE.into()]).await;
        let url = location(&res).unwrap();
        let tokens = exchange_ok(&srv, &p, &pkce, &url).await;
        assert_eq!(tokens["scope"], format!("{READ} {WRITE}"));
    }
);

db_test!(
    unticking_everything_is_access_denied,
    Opts::oauth(),
    |srv| {
        let (p, _) = setup(&srv, "viewer").await;
        let page = start(&srv, &p).await.unwrap();
        let consent_page = login(&srv, &page, "alice", PASSWORD).await.unwrap();
        let res = consent_raw(&srv, &consent_page, "allow", &[]).await;
        expect_error_redirect(&srv, &res, &p, "access_denied");
    }
);

db_test!(consent_page_is_single_use, Opts::oauth(), |srv| {
    let (p, _) = setup(&srv, "viewer").await;
    let page = start(&srv, &p).await.unwrap();
    let consent_page = login(&srv, &page, "alice", PASSWORD).await.unwrap();
    let first = consent_raw(&srv, &consent_page, "allow", &[READ.into()]).await;
    assert_eq!(first.status().as_u16(), 303);
    assert!(param(&location(&first).unwrap(), "code").is_some());
    // The same form again (same ticket, same CSRF cookie): no second code.
    let again = consent_raw(&srv, &consent_page, "allow", &[READ.into()]).await;
    assert_eq!(again.status().as_u16(), 400);
    assert!(again.headers().get("location").is_none());
    let body = again.text().await.unwrap();
    assert!(body.contains("already submitted"), "{body}");
    assert!(!body.contains("mcpac_"));
});

db_test!(deny_is_access_denied, Opts::oauth(), |srv| {
    let (p, _) = setup(&srv, "viewer").await;
    let page = start(&srv, &p).await.unwrap();
    let consent_page = login(&srv, &page, "alice", PASSWORD).await.unwrap();
    let res = consent_raw(&srv, &consent_page, "deny", &[READ.into()]).await;
    expect_error_redirect(&srv, &res, &p, "access_denied");
});

fn three_logins(c: &mut mcp_connector::config::Config) {
    c.auth.login_attempts_per_minute = 3;
}

db_test!(
    failed_logins_are_throttled,
    Opts {
        tweak: Some(three_logins),
        ..Opts::oauth()
    },
    |srv| {
        let (p, _) = setup(&srv, "viewer").await;
        let page = start(&srv, &p).await.unwrap();
        for _ in 0..3 {
            let res = login_raw(&srv, &page, "alice", "wrong password!!").await;
            assert_eq!(res.status().as_u16(), 401);
        }
        // Now even the right password waits.
        let res = login_raw(&srv, &page, "alice", PASSWORD).await;
        assert_eq!(res.status().as_u16(), 429);
        assert!(res.headers().get("retry-after").is_some());
        assert!(!res.text().await.unwrap().contains("name=\"ticket\""));
    }
);

/// The login form of `page` posted as if from `ip` (through a trusted
/// proxy's `X-Forwarded-For`).
async fn login_from(
    srv: &TestServer,
    page: &Page,
    ip: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let form = [
        ("step", "login"),
        ("request", &page.field("request").unwrap_or_default()),
        ("csrf", &page.field("csrf").unwrap_or_default()),
        ("username", username),
        ("password", password),
    ];
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut req = srv
        .client
        .post(format!("{}/authorize", srv.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-for", ip)
        .body(body);
    if let Some(c) = &page.cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

fn behind_a_proxy(c: &mut mcp_connector::config::Config) {
    c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap()];
}

db_test!(
    parallel_wrong_logins_check_no_more_passwords_than_the_limit,
    Opts::oauth(),
    |srv| {
        // The limit (10 a minute) is reserved before the password check, so
        // 60 guesses sent at once cannot all pass it before one is counted.
        let (p, _) = setup(&srv, "viewer").await;
        let page = start(&srv, &p).await.unwrap();
        let all = futures::future::join_all(
            (0..60).map(|_| login_raw(&srv, &page, "alice", "wrong password!!")),
        )
        .await;
        let checked = all.iter().filter(|r| r.status() == 401).count();
        let throttled = all.iter().filter(|r| r.status() == 429).count();
        assert_eq!(checked, 10, "password checks run: {checked}");
        assert_eq!(throttled, 50);
    }
);

db_test!(
    wrong_passwords_from_one_address_do_not_lock_the_user_out_elsewhere,
    Opts {
        tweak: Some(behind_a_proxy),
        ..Opts::oauth()
    },
    |srv| {
        let (p, _) = setup(&srv, "viewer").await;
        let page = start(&srv, &p).await.unwrap();
        for _ in 0..10 {
            let res = login_from(&srv, &page, "192.0.2.66", "alice", "wrong password!!").await;
            assert_eq!(res.status().as_u16(), 401);
        }
        // The attacker's address is throttled for alice...
        let res = login_from(&srv, &page, "192.0.2.66", "alice", PASSWORD).await;
        assert_eq!(res.status().as_u16(), 429);
        // ...alice at her own address is not.
        let res = login_from(&srv, &page, "198.51.100.7", "alice", PASSWORD).await;
        assert_eq!(res.status().as_u16(), 200);
        assert!(
            res.text().await.unwrap().contains("name=\"ticket\""),
            "consent page"
        );
    }
);

db_test!(
    concurrent_password_checks_are_capped_and_the_excess_gets_503,
    Opts {
        tweak: Some(behind_a_proxy),
        ..Opts::oauth()
    },
    |srv| {
        // 300 logins at once with distinct names from distinct addresses (no
        // throttle applies): at most one check per worker runs at a time,
        // a bounded queue waits, the rest get 503 at once.
        let (p, _) = setup(&srv, "viewer").await;
        let page = start(&srv, &p).await.unwrap();
        let all = futures::future::join_all((0..300u32).map(|i| {
            let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
            let name = format!("user{i}");
            let page = &page;
            let srv = &srv;
            async move { login_from(srv, page, &ip, &name, "wrong password!!").await }
        }))
        .await;
        let busy: Vec<_> = all.iter().filter(|r| r.status() == 503).collect();
        let checked = all.iter().filter(|r| r.status() == 401).count();
        assert!(!busy.is_empty(), "the queue is bounded");
        assert!(busy.iter().all(|r| r.headers().contains_key("retry-after")));
        assert!(checked >= 16, "queued checks are answered: {checked}");
        assert_eq!(checked + busy.len(), 300);
        let hasher = &srv.state.auth.as_ref().unwrap().hasher;
        assert!(hasher.peak_concurrency() <= hasher.workers());
        // The burst is over: a login goes through again.
        let res = login_from(&srv, &page, "203.0.113.1", "alice", PASSWORD).await;
        assert_eq!(res.status().as_u16(), 200);
    }
);
