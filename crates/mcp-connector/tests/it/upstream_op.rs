//! The company sign-in with a real, certified OpenID provider (npm
//! `oidc-provider`, see `op`): the whole flow in headless Chromium from a
//! dynamically registered MCP client to `tools/call`, a viewer who does not
//! see write tools, a key rotation at the provider, and an account deleted
//! at the provider losing its tokens at the next re-check.

#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Backend, TestServer};
use crate::idp::{Jar, Setup, spawn_with};
use crate::oauth_flow::{Page, Pkce, READ, consent, exchange, location, param, scope_boxes};
use crate::oauth_resource::{call, tool_names};
use crate::oauth_token::expect_tokens;
use crate::op::{RealOp, interop, node, sign_in_over_http};

async fn server(
    backend: Backend,
    op: &RealOp,
    local: bool,
    recheck: Option<Duration>,
) -> Option<TestServer> {
    let setup = Setup {
        issuer: op.issuer.clone(),
        local_logins: local,
        default_role: None,
        recheck,
    };
    spawn_with(backend, setup).await
}

/// A client registered the way Claude does (RFC 7591, public, loopback
/// redirect on any port); its id.
async fn register(srv: &TestServer) -> String {
    let res = srv
        .client
        .post(format!("{}/register", srv.base))
        .json(&json!({
            "client_name": "Claude",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    res.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `/authorize` URL of `client` with `redirect` and `pkce`.
fn authorize_url(srv: &TestServer, client: &str, redirect: &str, pkce: &Pkce) -> url::Url {
    let mut url = url::Url::parse(&format!("{}/authorize", srv.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", redirect)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "browser-state")
        .append_pair("resource", &srv.url);
    url
}

/// Sign `login` in through Chromium; the access token.
async fn browser_token(srv: &TestServer, login: &str, shots: &std::path::Path) -> (String, String) {
    let client = register(srv).await;
    let pkce = Pkce::new();
    let redirect = format!("http://127.0.0.1:{}/callback", free_port());
    let url = authorize_url(srv, &client, &redirect, &pkce);
    let out = tokio::process::Command::new(node())
        .arg(interop().join("upstream_browser.mjs"))
        .arg(url.as_str())
        .arg(login)
        .arg(shots.join(login))
        .stdin(Stdio::null())
        .output()
        .await
        .expect("node runs");
    assert!(
        out.status.success(),
        "the browser flow failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    let back = url::Url::parse(result["callback"].as_str().unwrap()).unwrap();
    assert_eq!(param(&back, "state").as_deref(), Some("browser-state"));
    assert_eq!(param(&back, "iss").as_deref(), Some(srv.base.as_str()));
    let code = param(&back, "code").expect("a code");
    let res = exchange(srv, &client, None, &code, &pkce.verifier, &redirect).await;
    let tokens = expect_tokens(res).await;
    (
        tokens["access_token"].as_str().unwrap().to_owned(),
        result["consent_text"].as_str().unwrap_or("").to_owned(),
    )
}

async fn browser_end_to_end(backend: Backend) {
    let op = RealOp::start().await;
    let Some(srv) = server(backend, &op, true, None).await else {
        return;
    };
    // Screenshots go to $UPSTREAM_SHOTS when set (to look at), else away.
    let shots = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("UPSTREAM_SHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| shots.path().to_owned());
    let (token, consent_text) = browser_token(&srv, "alice", &dir).await;
    assert!(consent_text.contains("alice"), "{consent_text}");
    let (status, reply) = call(
        &srv,
        &token,
        "get_employee_count",
        json!({"department": "engineering"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(reply["result"]["structuredContent"]["count"], 42);
    let u = srv.state.db.user_by_name("alice").await.unwrap().unwrap();
    assert_eq!(u.role, "editor");
    assert_eq!(u.subject.as_deref(), Some("alice"));
    // A viewer signs in the same way and does not see the write tools.
    let (token, _) = browser_token(&srv, "victor", &dir).await;
    let names = tool_names(&srv, &token).await;
    assert!(
        names.contains(&"get_employee_count".to_owned()),
        "{names:?}"
    );
    for write in ["add_employee", "remove_employee"] {
        assert!(!names.contains(&write.to_owned()), "{write} in {names:?}");
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sign_in_end_to_end_sqlite() {
    browser_end_to_end(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sign_in_end_to_end_postgres() {
    browser_end_to_end(Backend::Postgres).await;
}

/// Sign `login` in over HTTP (local logins off); the consent page.
async fn http_consent(
    srv: &TestServer,
    login: &str,
) -> (Page, crate::oauth_flow::AuthorizeParams, Pkce) {
    let (client, _) =
        crate::oauth_flow::add_client(srv, "Claude", &[crate::oauth_flow::REDIRECT], false).await;
    let pkce = Pkce::new();
    let params = crate::oauth_flow::AuthorizeParams::new(
        srv,
        &client,
        crate::oauth_flow::REDIRECT,
        "",
        "",
        &pkce,
    );
    let mut jar = Jar::default();
    let res = sign_in_over_http(srv, &mut jar, params.url(srv), login).await;
    assert_eq!(res.status().as_u16(), 200, "consent page expected");
    let page = Page {
        status: 200,
        html: res.text().await.unwrap(),
        cookie: jar.get("mcpc_csrf").map(|v| format!("mcpc_csrf={v}")),
    };
    (page, params, pkce)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_at_the_provider_is_picked_up() {
    let op = RealOp::start().await;
    let srv = server(Backend::Sqlite, &op, false, None).await.unwrap();
    let (page, _, _) = http_consent(&srv, "alice").await;
    assert!(page.html.contains("id=\"signed-in\">alice<"));
    op.control("/__test/rotate").await;
    // The next ID token is signed with a key this server has not seen.
    let (page, _, _) = http_consent(&srv, "alice").await;
    assert!(page.html.contains("id=\"signed-in\">alice<"));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_mapped_group_at_the_provider_is_access_denied() {
    let op = RealOp::start().await;
    let srv = server(Backend::Sqlite, &op, false, None).await.unwrap();
    let (client, _) =
        crate::oauth_flow::add_client(&srv, "Claude", &[crate::oauth_flow::REDIRECT], false).await;
    let params = crate::oauth_flow::AuthorizeParams::new(
        &srv,
        &client,
        crate::oauth_flow::REDIRECT,
        "",
        "",
        &Pkce::new(),
    );
    let mut jar = Jar::default();
    let res = sign_in_over_http(&srv, &mut jar, params.url(&srv), "sam").await;
    assert_eq!(res.status().as_u16(), 303);
    let url = location(&res).unwrap();
    assert_eq!(param(&url, "error").as_deref(), Some("access_denied"));
    srv.stop().await;
}

async fn deleted_account_is_refused(backend: Backend) {
    let op = RealOp::start().await;
    let Some(srv) = server(backend, &op, false, Some(Duration::from_secs(1))).await else {
        return;
    };
    let (page, params, pkce) = http_consent(&srv, "alice").await;
    assert_eq!(scope_boxes(&page.html)[0].0, READ);
    let url = consent(&srv, &page, &[READ.into()]).await.unwrap();
    let tokens = crate::oauth_authorize::exchange_ok(&srv, &params, &pkce, &url).await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let count = json!({"department": "engineering"});
    // Re-checks with the provider saying yes: the token works across them.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        call(&srv, &token, "get_employee_count", count.clone())
            .await
            .0,
        200
    );
    op.control("/__test/delete?sub=alice").await;
    let start = Instant::now();
    loop {
        let status = call(&srv, &token, "get_employee_count", count.clone())
            .await
            .0;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(start.elapsed() < Duration::from_secs(10), "still accepted");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_deleted_at_the_provider_loses_its_tokens_sqlite() {
    deleted_account_is_refused(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_deleted_at_the_provider_loses_its_tokens_postgres() {
    deleted_account_is_refused(Backend::Postgres).await;
}

/// Ten company sign-ins in a row over HTTP (authorize → provider login →
/// callback with code exchange and ID token check → consent → code →
/// token), each timed end to end; prints the median and the slowest. A
/// figure for the closing note, not a gate: run it on a quiet machine with
/// `cargo test --release -p mcp-connector --test it upstream_op::sign_in_latency -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_latency() {
    let op = RealOp::start().await;
    let srv = server(Backend::Sqlite, &op, false, None).await.unwrap();
    let mut times = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        let (page, params, pkce) = http_consent(&srv, "alice").await;
        let url = consent(&srv, &page, &[READ.into()]).await.unwrap();
        let tokens = crate::oauth_authorize::exchange_ok(&srv, &params, &pkce, &url).await;
        assert!(
            tokens["access_token"]
                .as_str()
                .unwrap()
                .starts_with("mcpat_")
        );
        times.push(start.elapsed());
    }
    times.sort();
    eprintln!(
        "upstream sign-in end to end (HTTP, oidc-provider on loopback, SQLite): median {:?}, slowest {:?}",
        times[times.len() / 2],
        times[times.len() - 1]
    );
    srv.stop().await;
}
