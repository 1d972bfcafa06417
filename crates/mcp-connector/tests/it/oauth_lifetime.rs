//! Tokens for clients that never refresh: long lifetimes bounded by the
//! idle timeout and by the user's state (disabled, role changed, refused by
//! the identity provider at a re-check), each reaching live tokens within
//! about five seconds.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use mcp_connector::clock::unix_now;
use mcp_connector::config::Config;
use mcp_connector::store::Db;
use serde_json::json;

use crate::common::{Backend, Opts, TestServer};
use crate::db_test;
use crate::idp::{Behaviour, FakeIdp, Setup, come_back, spawn_with, start_upstream};
use crate::oauth_authorize::{exchange_ok, setup};
use crate::oauth_flow::{Page, READ, authorize_code, consent, mint, test_client};
use crate::oauth_resource::call;

async fn status(srv: &TestServer, token: &str) -> u16 {
    call(
        srv,
        token,
        "get_employee_count",
        json!({"department": "engineering"}),
    )
    .await
    .0
}

/// Poll `token` until it is refused; how long that took (panics past `max`).
async fn refused_within(srv: &TestServer, token: &str, max: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let s = status(srv, token).await;
        if s == 401 {
            return start.elapsed();
        }
        assert_eq!(s, 200);
        assert!(start.elapsed() < max, "still accepted after {max:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn thirty_days(c: &mut Config) {
    c.auth.access_token_ttl = Duration::from_secs(30 * 24 * 3600);
}

db_test!(
    a_thirty_day_token_dies_within_five_seconds_of_user_disable,
    Opts {
        tweak: Some(thirty_days),
        ..Opts::oauth()
    },
    |srv| {
        let (p, pkce) = setup(&srv, "editor").await;
        let url = authorize_code(&srv, &p).await.unwrap();
        let tokens = exchange_ok(&srv, &p, &pkce, &url).await;
        assert_eq!(tokens["expires_in"], 30 * 24 * 3600);
        let token = tokens["access_token"].as_str().unwrap();
        assert_eq!(status(&srv, token).await, 200);
        srv.state
            .db
            .set_user_disabled("alice", true, unix_now())
            .await
            .unwrap();
        let took = refused_within(&srv, token, Duration::from_secs(7)).await;
        assert!(took <= Duration::from_secs(5), "{took:?}");
    }
);

/// Twice the revalidation interval (4 s) so that a token in use is always
/// revalidated in time, even on a busy machine (times are whole seconds).
fn eight_seconds_idle(c: &mut Config) {
    c.auth.access_token_idle = Duration::from_secs(8);
}

db_test!(
    an_unused_token_expires_and_a_used_one_lives_on,
    Opts {
        tweak: Some(eight_seconds_idle),
        ..Opts::oauth()
    },
    |srv| {
        let (client, _) = test_client(&srv, false).await;
        let user = crate::oauth_flow::add_token_user(&srv, "viewer").await;
        let (busy, _) = mint(&srv, &client, Some(&user), READ).await;
        let (idle, _) = mint(&srv, &client, Some(&user), READ).await;
        assert_eq!(status(&srv, &busy).await, 200);
        assert_eq!(status(&srv, &idle).await, 200);
        // Ten seconds: longer than the idle timeout, with `busy` in use.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            assert_eq!(status(&srv, &busy).await, 200, "a token in use stays alive");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert_eq!(
            status(&srv, &idle).await,
            401,
            "unused for longer than the idle timeout"
        );
        assert_eq!(status(&srv, &busy).await, 200);
    }
);

/// An upstream user signed in with re-checks every second: the fake
/// provider's refresh token is kept, sealed.
async fn upstream_user_token(srv: &TestServer, idp: &FakeIdp) -> String {
    let s = start_upstream(srv, idp).await;
    // Re-checks are on and the provider offers offline_access: it is asked for.
    let scope = crate::oauth_flow::param(&s.provider_url, "scope").unwrap();
    assert!(scope.split(' ').any(|x| x == "offline_access"), "{scope}");
    let res = come_back(srv, idp, &s).await;
    assert_eq!(res.status().as_u16(), 200);
    let page = Page {
        status: 200,
        html: res.text().await.unwrap(),
        cookie: s.jar.get("mcpc_csrf").map(|v| format!("mcpc_csrf={v}")),
    };
    let url = consent(srv, &page, &[READ.into()]).await.unwrap();
    let t = exchange_ok(srv, &s.params, &s.pkce, &url).await;
    t["access_token"].as_str().unwrap().to_owned()
}

async fn recheck_server(backend: Backend, idp: &FakeIdp) -> Option<TestServer> {
    let setup = Setup {
        issuer: idp.issuer.clone(),
        local_logins: false,
        default_role: None,
        recheck: Some(Duration::from_secs(1)),
    };
    spawn_with(backend, setup).await
}

async fn refusal_at_recheck_revokes(backend: Backend) {
    let idp = FakeIdp::start().await;
    let Some(srv) = recheck_server(backend, &idp).await else {
        return;
    };
    let token = upstream_user_token(&srv, &idp).await;
    // offline_access was asked for (re-checks on, the provider offers it).
    let sent = idp.token_requests();
    assert_eq!(sent.len(), 1);
    // The refresh token is stored encrypted, never as issued.
    let user = srv.state.db.user_by_name("alice").await.unwrap().unwrap();
    assert!(user.recheck_at.is_some());
    let sql = "SELECT upstream_refresh FROM oauth_users WHERE username = 'alice'";
    let sealed: Option<String> = match &srv.state.db {
        Db::Sqlite { read, .. } => sqlx::query_scalar(sql).fetch_one(read).await.unwrap(),
        Db::Postgres { read, .. } => sqlx::query_scalar(sql).fetch_one(read).await.unwrap(),
    };
    let sealed = sealed.expect("a refresh token is kept");
    assert!(!sealed.contains("fake-refresh"), "{sealed}");
    assert_eq!(status(&srv, &token).await, 200);
    // A re-check with the provider still saying yes keeps the token alive
    // and rotates the stored refresh token.
    let start = Instant::now();
    while idp.token_requests().len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no re-check happened"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let refresh = &idp.token_requests()[1];
    assert_eq!(refresh["grant_type"], "refresh_token");
    assert_eq!(refresh["refresh_token"], "fake-refresh-1");
    assert_eq!(status(&srv, &token).await, 200);
    // Now the provider refuses (the account was deprovisioned).
    idp.behave(Behaviour {
        error: Some((400, "invalid_grant")),
        ..Behaviour::default()
    });
    let took = refused_within(&srv, &token, Duration::from_secs(12)).await;
    assert!(took <= Duration::from_secs(8), "{took:?}");
    let grants = srv
        .state
        .db
        .list_grants(Some(&user.id), None, unix_now())
        .await
        .unwrap();
    assert!(grants.is_empty(), "every grant revoked: {grants:?}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusal_at_recheck_revokes_sqlite() {
    refusal_at_recheck_revokes(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusal_at_recheck_revokes_postgres() {
    refusal_at_recheck_revokes(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recheck_maps_the_groups_again() {
    let idp = FakeIdp::start().await;
    let srv = recheck_server(Backend::Sqlite, &idp).await.unwrap();
    let token = upstream_user_token(&srv, &idp).await;
    idp.behave(Behaviour {
        id_token: json!({"groups": ["mcp-viewers"], "nonce": null}),
        ..Behaviour::default()
    });
    let start = Instant::now();
    loop {
        let u = srv.state.db.user_by_name("alice").await.unwrap().unwrap();
        if u.role == "viewer" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "role not recomputed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Read scope is within the viewer role: the token keeps working.
    assert_eq!(status(&srv, &token).await, 200);
    // No group maps any more: the grants end.
    idp.behave(Behaviour {
        id_token: json!({"groups": ["sales"], "nonce": null}),
        ..Behaviour::default()
    });
    refused_within(&srv, &token, Duration::from_secs(12)).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_provider_postpones_the_recheck() {
    let idp = FakeIdp::start().await;
    let srv = recheck_server(Backend::Sqlite, &idp).await.unwrap();
    let token = upstream_user_token(&srv, &idp).await;
    idp.behave(Behaviour {
        error: Some((503, "temporarily_unavailable")),
        ..Behaviour::default()
    });
    let start = Instant::now();
    while idp.token_requests().len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(status(&srv, &token).await, 200, "not revoked on an outage");
    srv.stop().await;
}
