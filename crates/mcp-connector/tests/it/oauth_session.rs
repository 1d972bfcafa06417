//! The connector's browser session: set after a sign-in, reused by
//! `/authorize` (straight to consent), ended by "not you?" and `/signout`,
//! the standalone `/signin?return_to=` (no open redirect), the `SignedIn`
//! extractor later pages use, and the consent page's details (server name,
//! how the client is known, scopes with their tools, skipped consent).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::routing::get as route_get;
use mcp_connector::auth::session::SignedIn;
use mcp_connector::clock::unix_now;
use mcp_connector::config::Config;
use mcp_connector::store::oauth::ClientOrigin;

use crate::common::{Opts, TestServer};
use crate::db_test;
use crate::idp::Jar;
use crate::oauth_authorize::setup;
use crate::oauth_flow::{
    AuthorizeParams, ClientSpec, PASSWORD, Pkce, REDIRECT, add_user, auth, field, insert_client,
    location, login_raw, param, start,
};

/// `GET path` with `jar`'s cookies.
async fn get(srv: &TestServer, jar: &Jar, path: &str) -> reqwest::Response {
    srv.client
        .get(format!("{}{path}", srv.base))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap()
}

/// `POST path` with a form and `jar`'s cookies.
async fn post(srv: &TestServer, jar: &Jar, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    srv.client
        .post(format!("{}{path}", srv.base))
        .header("cookie", jar.header())
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Sign in at `/signin` with a password; the browser's cookies after.
async fn sign_in(srv: &TestServer, return_to: &str) -> (Jar, reqwest::Response) {
    let mut jar = Jar::default();
    let path = format!("/signin?return_to={}", urlencode(return_to));
    let page = get(srv, &jar, &path).await;
    assert_eq!(page.status().as_u16(), 200);
    jar.take(&page);
    let html = page.text().await.unwrap();
    let csrf = field(&html, "csrf").unwrap();
    let res = post(
        srv,
        &jar,
        "/signin",
        &[
            ("step", "login"),
            ("return_to", return_to),
            ("csrf", &csrf),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
    )
    .await;
    jar.take(&res);
    (jar, res)
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

db_test!(
    signin_returns_to_the_page_with_a_session,
    Opts::oauth(),
    |srv| {
        add_user(&srv, "alice", PASSWORD, "viewer").await;
        let (jar, res) = sign_in(&srv, "/approve/42?x=1").await;
        assert_eq!(res.status().as_u16(), 303);
        assert_eq!(res.headers()["location"], "/approve/42?x=1");
        let cookie = jar.get("mcpc_session").expect("session cookie");
        assert_eq!(cookie.len(), 43, "256 random bits");
        // Only the hash is stored.
        let hash = mcp_connector_security::sha256_hex(cookie.as_bytes());
        let (user, expires) = srv
            .state
            .db
            .session_user(&hash, unix_now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.username, "alice");
        assert!(expires > unix_now() + 11 * 3600);
        assert!(
            srv.state
                .db
                .session_user(cookie, unix_now())
                .await
                .unwrap()
                .is_none()
        );
        // Signed in: /signin goes straight back, or says who.
        let again = get(&srv, &jar, "/signin?return_to=%2Fapprove%2F42").await;
        assert_eq!(again.status().as_u16(), 303);
        assert_eq!(again.headers()["location"], "/approve/42");
        let who = get(&srv, &jar, "/signin").await.text().await.unwrap();
        assert!(who.contains("id=\"signed-in\">alice<"), "{who}");
    }
);

db_test!(
    signin_refuses_other_sites_as_return_to,
    Opts::oauth(),
    |srv| {
        add_user(&srv, "alice", PASSWORD, "viewer").await;
        for evil in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "evil.example",
            "javascript:alert(1)",
        ] {
            let res = get(
                &srv,
                &Jar::default(),
                &format!("/signin?return_to={}", urlencode(evil)),
            )
            .await;
            assert_eq!(res.status().as_u16(), 400, "{evil}");
            assert!(res.headers().get("location").is_none());
            let (_, res) = sign_in_refused(&srv, evil).await;
            assert_eq!(res.status().as_u16(), 400, "{evil}");
            assert!(res.headers().get("location").is_none());
        }
    }
);

/// A password sign-in posted with a bad `return_to` (the page itself was
/// fetched with a good one).
async fn sign_in_refused(srv: &TestServer, return_to: &str) -> (Jar, reqwest::Response) {
    let mut jar = Jar::default();
    let page = get(srv, &jar, "/signin?return_to=%2F").await;
    jar.take(&page);
    let csrf = field(&page.text().await.unwrap(), "csrf").unwrap();
    let form = [
        ("step", "login"),
        ("return_to", return_to),
        ("csrf", csrf.as_str()),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    let res = post(srv, &jar, "/signin", &form).await;
    (jar, res)
}

db_test!(
    signout_needs_the_csrf_field_and_ends_the_session,
    Opts::oauth(),
    |srv| {
        add_user(&srv, "alice", PASSWORD, "viewer").await;
        let (mut jar, _) = sign_in(&srv, "/").await;
        let session = jar.get("mcpc_session").unwrap().to_owned();
        let res = post(&srv, &jar, "/signout", &[]).await;
        assert_eq!(
            res.status().as_u16(),
            403,
            "no CSRF field: a cross-site post"
        );
        let csrf = jar.get("mcpc_csrf").unwrap().to_owned();
        let res = post(&srv, &jar, "/signout", &[("csrf", &csrf)]).await;
        assert_eq!(res.status().as_u16(), 303);
        assert_eq!(res.headers()["location"], "/signin");
        jar.take(&res);
        assert!(jar.get("mcpc_session").is_none(), "cookie cleared");
        let hash = mcp_connector_security::sha256_hex(session.as_bytes());
        assert!(
            srv.state
                .db
                .session_user(&hash, unix_now())
                .await
                .unwrap()
                .is_none()
        );
    }
);

db_test!(a_disabled_user_has_no_session, Opts::oauth(), |srv| {
    add_user(&srv, "alice", PASSWORD, "viewer").await;
    let (jar, _) = sign_in(&srv, "/").await;
    srv.state
        .db
        .set_user_disabled("alice", true, unix_now())
        .await
        .unwrap();
    let res = get(&srv, &jar, "/signin").await;
    let html = res.text().await.unwrap();
    assert!(!html.contains("signed-in"), "{html}");
    assert!(html.contains("id=\"login\""));
});

fn short_sessions(c: &mut Config) {
    c.auth.session_ttl = Duration::from_secs(1);
}

db_test!(
    sessions_expire,
    Opts {
        tweak: Some(short_sessions),
        ..Opts::oauth()
    },
    |srv| {
        add_user(&srv, "alice", PASSWORD, "viewer").await;
        let (jar, _) = sign_in(&srv, "/").await;
        // Past the 1 s lifetime by the server's clock, without waiting.
        srv.state
            .auth
            .as_ref()
            .unwrap()
            .clock
            .advance(Duration::from_secs(2));
        let html = get(&srv, &jar, "/signin").await.text().await.unwrap();
        assert!(!html.contains("signed-in"), "{html}");
    }
);

db_test!(
    authorize_with_a_session_goes_straight_to_consent,
    Opts::oauth(),
    |srv| {
        let (p, _) = setup(&srv, "viewer").await;
        let login_page = start(&srv, &p).await.unwrap();
        let res = login_raw(&srv, &login_page, "alice", PASSWORD).await;
        assert_eq!(res.status().as_u16(), 200);
        let mut jar = Jar::default();
        jar.take(&res);
        let (k, v) = login_page
            .cookie
            .as_deref()
            .unwrap()
            .split_once('=')
            .unwrap();
        jar.0.insert(k.into(), v.into());
        assert!(
            jar.get("mcpc_session").is_some(),
            "the login started a session"
        );
        // A second authorization request from this browser: no login page.
        let res = srv
            .client
            .get(p.url(&srv))
            .header("cookie", jar.header())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let html = res.text().await.unwrap();
        assert!(
            html.contains("id=\"allow\"") && !html.contains("id=\"login\""),
            "{html}"
        );
        assert!(html.contains("id=\"signed-in\">alice<"));
        // "Not you?": the session ends and the sign-in is shown for the request.
        let ticket = field(&html, "ticket").unwrap();
        let csrf = field(&html, "csrf").unwrap();
        let res = post(
            &srv,
            &jar,
            "/authorize",
            &[("step", "switch"), ("ticket", &ticket), ("csrf", &csrf)],
        )
        .await;
        assert_eq!(res.status().as_u16(), 200);
        let session = jar.get("mcpc_session").unwrap().to_owned();
        jar.take(&res);
        assert!(jar.get("mcpc_session").is_none());
        let html = res.text().await.unwrap();
        assert!(html.contains("id=\"login\"") && field(&html, "request").is_some());
        let hash = mcp_connector_security::sha256_hex(session.as_bytes());
        assert!(
            srv.state
                .db
                .session_user(&hash, unix_now())
                .await
                .unwrap()
                .is_none()
        );
    }
);

db_test!(
    the_signed_in_extractor_redirects_or_names_the_user,
    Opts::oauth(),
    |srv| {
        add_user(&srv, "alice", PASSWORD, "viewer").await;
        // A page of a later issue, mounted the way it would be.
        let app = Router::new()
            .route(
                "/whoami",
                route_get(|who: SignedIn| async move { who.user.username }),
            )
            .with_state(auth(&srv).clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = &srv.client;
        let res = client
            .get(format!("{base}/whoami?a=1"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 303);
        assert_eq!(
            res.headers()["location"],
            "/signin?return_to=%2Fwhoami%3Fa%3D1"
        );
        let (jar, _) = sign_in(&srv, "/whoami").await;
        let res = client
            .get(format!("{base}/whoami"))
            .header("cookie", jar.header())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.text().await.unwrap(), "alice");
    }
);

fn named_and_skipping(c: &mut Config) {
    c.display_name = "Acme HR Tools".into();
    c.auth.skip_consent_for = vec!["mcpc_trusted".into(), "mcpc_selfmade".into()];
}

db_test!(
    consent_says_who_asks_and_what_each_scope_unlocks,
    Opts {
        tweak: Some(named_and_skipping),
        ..Opts::oauth()
    },
    |srv| {
        add_user(&srv, "alice", PASSWORD, "editor").await;
        let dcr = ClientSpec {
            name: "Some App",
            origin: ClientOrigin::Dcr,
            ..ClientSpec::default()
        };
        let (client, _) = insert_client(&srv, &dcr).await;
        let p = AuthorizeParams::new(&srv, &client, REDIRECT, "alice", PASSWORD, &Pkce::new());
        let page = start(&srv, &p).await.unwrap();
        assert!(page.html.contains("Acme HR Tools"), "{}", page.html);
        let res = login_raw(&srv, &page, "alice", PASSWORD).await;
        let html = res.text().await.unwrap();
        assert!(html.contains("<strong>Acme HR Tools</strong>"), "{html}");
        assert!(
            html.contains("Unverified")
                && html.contains("Registered itself at <strong>client.example")
        );
        assert!(html.contains("Read data") && html.contains("Change data"));
        for tool in [
            "get_employee_count",
            "find_employees",
            "add_employee",
            "remove_employee",
        ] {
            assert!(
                html.contains(&format!("<code>{tool}</code>")),
                "{tool} in {html}"
            );
        }
        assert!(html.contains("id=\"switch\""), "a \"not you?\"");
        // An administrator's client is said to be one, without the mark.
        let (admin, _) = insert_client(&srv, &ClientSpec::default()).await;
        let p = AuthorizeParams::new(&srv, &admin, REDIRECT, "alice", PASSWORD, &Pkce::new());
        let page = start(&srv, &p).await.unwrap();
        let html = login_raw(&srv, &page, "alice", PASSWORD)
            .await
            .text()
            .await
            .unwrap();
        assert!(
            html.contains("Pre-registered by an administrator") && !html.contains("Unverified")
        );
    }
);

db_test!(
    skip_consent_for_listed_admin_clients_only,
    Opts {
        tweak: Some(named_and_skipping),
        ..Opts::oauth()
    },
    |srv| {
        add_user(&srv, "alice", PASSWORD, "editor").await;
        insert_fixed(&srv, "mcpc_trusted", ClientOrigin::Cli).await;
        insert_fixed(&srv, "mcpc_selfmade", ClientOrigin::Dcr).await;
        let p = AuthorizeParams::new(
            &srv,
            "mcpc_trusted",
            REDIRECT,
            "alice",
            PASSWORD,
            &Pkce::new(),
        );
        let page = start(&srv, &p).await.unwrap();
        let res = login_raw(&srv, &page, "alice", PASSWORD).await;
        assert_eq!(res.status().as_u16(), 303, "no consent page");
        let url = location(&res).unwrap();
        assert!(param(&url, "code").is_some());
        // The pre-selection: read, not write.
        let stored = srv
            .state
            .db
            .list_grants(None, Some("mcpc_trusted"), unix_now())
            .await
            .unwrap();
        assert_eq!(stored[0].scopes, crate::oauth_flow::READ);
        // A self-registered client with a listed-looking id still asks.
        let p = AuthorizeParams::new(
            &srv,
            "mcpc_selfmade",
            REDIRECT,
            "alice",
            PASSWORD,
            &Pkce::new(),
        );
        let page = start(&srv, &p).await.unwrap();
        let res = login_raw(&srv, &page, "alice", PASSWORD).await;
        assert_eq!(res.status().as_u16(), 200);
        assert!(res.text().await.unwrap().contains("id=\"allow\""));
    }
);

async fn insert_fixed(srv: &TestServer, id: &str, origin: ClientOrigin) {
    srv.state
        .db
        .insert_client(&mcp_connector::store::oauth::NewClient {
            id: id.into(),
            secret_hash: None,
            name: id.into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: String::new(),
            auth_method: "none".into(),
            origin,
            now: unix_now(),
        })
        .await
        .unwrap();
}
