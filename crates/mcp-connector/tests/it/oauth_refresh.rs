//! `POST /token` refresh and client_credentials grants, `POST /revoke` and
//! the cleanup of expired rows and unused registrations. Helpers live in
//! [`crate::oauth_flow`] (set-up) and [`crate::oauth_token`] (requests).

// Tests may unwrap: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mcp_connector::auth::cleanup;
use mcp_connector::clock::unix_now;
use mcp_connector::store::oauth::ClientOrigin;

use crate::common::Opts;
use crate::db_test;
use crate::oauth_flow::{
    ClientSpec, READ, add_token_user, auth, insert_client, test_client, tokens, valid,
};
use crate::oauth_token::{
    expect_error, expect_tokens, issued_code, post_form, refresh, revoke, s, signed_in,
};

db_test!(refresh_rotates, Opts::oauth(), |srv| {
    let (client, t) = signed_in(&srv).await;
    let r1 = s(&t, "refresh_token");
    let t2 = expect_tokens(refresh(&srv, &client, r1).await).await;
    let r2 = s(&t2, "refresh_token");
    assert_ne!(r1, r2);
    assert_ne!(s(&t, "access_token"), s(&t2, "access_token"));
    assert_eq!(t2["scope"], READ);
    assert!(valid(&srv, s(&t2, "access_token")).await);
    // The new refresh token works in turn.
    expect_tokens(refresh(&srv, &client, r2).await).await;
});

db_test!(
    refresh_reuse_within_grace_gets_new_tokens,
    Opts::oauth(),
    |srv| {
        let (client, t) = signed_in(&srv).await;
        let r1 = s(&t, "refresh_token");
        let a = expect_tokens(refresh(&srv, &client, r1).await).await;
        let b = expect_tokens(refresh(&srv, &client, r1).await).await;
        assert_ne!(s(&a, "refresh_token"), s(&b, "refresh_token"));
        assert!(valid(&srv, s(&a, "access_token")).await);
        assert!(valid(&srv, s(&b, "access_token")).await);
    }
);

fn no_grace(c: &mut mcp_connector::config::Config) {
    c.auth.refresh_grace = Duration::ZERO;
}

db_test!(
    refresh_reuse_after_grace_revokes_family,
    Opts {
        tweak: Some(no_grace),
        ..Opts::oauth()
    },
    |srv| {
        let (client, t) = signed_in(&srv).await;
        let r1 = s(&t, "refresh_token");
        let t2 = expect_tokens(refresh(&srv, &client, r1).await).await;
        expect_error(refresh(&srv, &client, r1).await, 400, "invalid_grant").await;
        assert!(!valid(&srv, s(&t, "access_token")).await);
        assert!(!valid(&srv, s(&t2, "access_token")).await);
        let r2 = refresh(&srv, &client, s(&t2, "refresh_token")).await;
        expect_error(r2, 400, "invalid_grant").await;
    }
);

db_test!(
    refresh_by_another_client_is_invalid_grant,
    Opts::oauth(),
    |srv| {
        let (_, t) = signed_in(&srv).await;
        let (other, _) = test_client(&srv, false).await;
        let res = refresh(&srv, &other, s(&t, "refresh_token")).await;
        expect_error(res, 400, "invalid_grant").await;
    }
);

db_test!(
    refresh_for_disabled_user_is_invalid_grant,
    Opts::oauth(),
    |srv| {
        let c = issued_code(&srv, false).await;
        let t = expect_tokens(c.exchange(&srv).await).await;
        let name = srv.state.db.user(&c.user).await.unwrap().unwrap().username;
        let db = &srv.state.db;
        db.set_user_disabled(&name, true, unix_now()).await.unwrap();
        let res = refresh(&srv, &c.client, s(&t, "refresh_token")).await;
        expect_error(res, 400, "invalid_grant").await;
    }
);

db_test!(refresh_cannot_widen_scope, Opts::oauth(), |srv| {
    let (client, t) = signed_in(&srv).await;
    let res = post_form(
        &srv,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client),
            ("refresh_token", s(&t, "refresh_token")),
            ("scope", "employees:read employees:write"),
        ],
        None,
    )
    .await;
    expect_error(res, 400, "invalid_scope").await;
});

db_test!(
    client_credentials_issues_access_only,
    Opts::oauth(),
    |srv| {
        let spec = ClientSpec {
            secret: true,
            grants: &["client_credentials"],
            scopes: "employees:read employees:write",
            ..ClientSpec::default()
        };
        let (client, secret) = insert_client(&srv, &spec).await;
        let secret = secret.unwrap();
        let res = post_form(
            &srv,
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "employees:read"),
            ],
            Some((&client, &secret)),
        )
        .await;
        let t = expect_tokens(res).await;
        assert_eq!(t["scope"], READ);
        assert!(t.get("refresh_token").is_none(), "{t}");
        assert!(valid(&srv, s(&t, "access_token")).await);
    }
);

db_test!(
    client_credentials_for_public_client_is_refused,
    Opts::oauth(),
    |srv| {
        let (client, _) = test_client(&srv, false).await;
        let res = post_form(
            &srv,
            "/token",
            &[("grant_type", "client_credentials"), ("client_id", &client)],
            None,
        )
        .await;
        expect_error(res, 400, "unauthorized_client").await;
    }
);

db_test!(
    revoking_refresh_token_kills_access_token,
    Opts::oauth(),
    |srv| {
        let (client, t) = signed_in(&srv).await;
        let hint = Some("refresh_token");
        let res = revoke(&srv, &client, s(&t, "refresh_token"), hint).await;
        assert_eq!(res.status(), 200);
        assert!(!valid(&srv, s(&t, "access_token")).await);
        expect_error(
            refresh(&srv, &client, s(&t, "refresh_token")).await,
            400,
            "invalid_grant",
        )
        .await;
    }
);

db_test!(revoking_unknown_token_is_ok, Opts::oauth(), |srv| {
    let (client, _) = test_client(&srv, false).await;
    let res = revoke(&srv, &client, "mcpat_nope", None).await;
    assert_eq!(res.status(), 200);
});

db_test!(
    revoking_another_clients_token_does_nothing,
    Opts::oauth(),
    |srv| {
        let (_, t) = signed_in(&srv).await;
        let (other, _) = test_client(&srv, false).await;
        let res = revoke(&srv, &other, s(&t, "access_token"), None).await;
        assert_eq!(res.status(), 200);
        assert!(valid(&srv, s(&t, "access_token")).await);
    }
);

db_test!(
    revoke_with_bad_client_is_invalid_client,
    Opts::oauth(),
    |srv| {
        let (_, t) = signed_in(&srv).await;
        let res = revoke(&srv, "nobody", s(&t, "access_token"), None).await;
        expect_error(res, 401, "invalid_client").await;
        assert!(valid(&srv, s(&t, "access_token")).await);
    }
);

db_test!(
    cleanup_removes_unused_registrations_only,
    Opts::oauth(),
    |srv| {
        let old = unix_now() - 3 * 24 * 3600;
        let registered = ClientSpec {
            origin: ClientOrigin::Dcr,
            created_at: old,
            ..ClientSpec::default()
        };
        let (unused, _) = insert_client(&srv, &registered).await;
        let (used, _) = insert_client(&srv, &registered).await;
        let by_cli = ClientSpec {
            origin: ClientOrigin::Cli,
            ..registered
        };
        let (cli, _) = insert_client(&srv, &by_cli).await;
        let user = add_token_user(&srv, "viewer").await;
        tokens(&srv, &used, Some(&user), READ, true).await;
        let removed = cleanup::run_once(auth(&srv)).await.unwrap();
        assert!(removed >= 1);
        let db = &srv.state.db;
        assert!(db.client(&unused).await.unwrap().is_none());
        assert!(db.client(&used).await.unwrap().is_some());
        assert!(db.client(&cli).await.unwrap().is_some());
    }
);
