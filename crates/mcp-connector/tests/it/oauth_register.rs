//! `POST /register` (RFC 7591): Claude's registration, redirect URI rules,
//! defaults, and switching registration off.

// Tests may unwrap: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use mcp_connector::auth::issue;
use serde_json::{Value, json};

use crate::common::{Opts, TestServer};
use crate::db_test;
use crate::oauth_token::expect_error;

async fn register(srv: &TestServer, body: &Value) -> reqwest::Response {
    srv.client
        .post(format!("{}/register", srv.base))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn created(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

const CLAUDE_CB: &str = "https://claude.ai/api/mcp/auth_callback";

db_test!(claude_registration_gets_a_secret, Opts::oauth(), |srv| {
    let body = json!({
        "client_name": "Claude",
        "redirect_uris": [CLAUDE_CB],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_post",
        "scope": "claudeai",
    });
    let r = created(register(&srv, &body).await).await;
    let id = r["client_id"].as_str().unwrap();
    let secret = r["client_secret"].as_str().unwrap();
    assert!(secret.starts_with("mcpcs_"));
    assert_eq!(r["client_secret_expires_at"], 0);
    assert!(r["client_id_issued_at"].as_i64().unwrap() > 0);
    assert_eq!(r["redirect_uris"], json!([CLAUDE_CB]));
    assert_eq!(r["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(r["client_name"], "Claude");
    assert!(r.get("scope").is_none(), "unknown scope is dropped: {r}");
    let stored = srv.state.db.client(id).await.unwrap().unwrap();
    assert_eq!(
        stored.secret_hash.as_deref(),
        Some(issue::hash(secret).as_str())
    );
    assert_eq!(stored.auth_method, "client_secret_post");
});

db_test!(public_registration_has_no_secret, Opts::oauth(), |srv| {
    let body = json!({
        "redirect_uris": ["http://127.0.0.1:3917/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
        "logo_uri": "https://x.example/logo.png",
    });
    let r = created(register(&srv, &body).await).await;
    assert!(r.get("client_secret").is_none(), "{r}");
    assert_eq!(r["client_name"], "Unnamed client");
    assert_eq!(
        r["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
});

db_test!(
    default_auth_method_is_client_secret_basic,
    Opts::oauth(),
    |srv| {
        let r = created(register(&srv, &json!({"redirect_uris": [CLAUDE_CB]})).await).await;
        assert_eq!(r["token_endpoint_auth_method"], "client_secret_basic");
        assert!(r["client_secret"].is_string());
    }
);

db_test!(http_redirect_uri_is_refused, Opts::oauth(), |srv| {
    let res = register(&srv, &json!({"redirect_uris": ["http://evil.example/cb"]})).await;
    expect_error(res, 400, "invalid_redirect_uri").await;
});

db_test!(missing_redirect_uris_is_refused, Opts::oauth(), |srv| {
    let res = register(&srv, &json!({"client_name": "x"})).await;
    expect_error(res, 400, "invalid_redirect_uri").await;
});

db_test!(fragment_redirect_uri_is_refused, Opts::oauth(), |srv| {
    let res = register(&srv, &json!({"redirect_uris": ["https://a.example/cb#x"]})).await;
    expect_error(res, 400, "invalid_redirect_uri").await;
});

db_test!(
    custom_scheme_redirect_uri_is_refused,
    Opts::oauth(),
    |srv| {
        let res = register(
            &srv,
            &json!({"redirect_uris": ["javascript://a.example/cb"]}),
        )
        .await;
        expect_error(res, 400, "invalid_redirect_uri").await;
    }
);

db_test!(unknown_auth_method_is_refused, Opts::oauth(), |srv| {
    let body =
        json!({"redirect_uris": [CLAUDE_CB], "token_endpoint_auth_method": "private_key_jwt"});
    expect_error(register(&srv, &body).await, 400, "invalid_client_metadata").await;
});

db_test!(
    client_credentials_registration_is_refused,
    Opts::oauth(),
    |srv| {
        let body = json!({"redirect_uris": [CLAUDE_CB], "grant_types": ["client_credentials"]});
        expect_error(register(&srv, &body).await, 400, "invalid_client_metadata").await;
    }
);

db_test!(non_json_body_is_refused, Opts::oauth(), |srv| {
    let res = srv
        .client
        .post(format!("{}/register", srv.base))
        .header("content-type", "application/json")
        .body("redirect_uris=x")
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "invalid_client_metadata").await;
});

db_test!(registration_burst_is_not_throttled, Opts::oauth(), |srv| {
    for _ in 0..25 {
        let res = register(&srv, &json!({"redirect_uris": [CLAUDE_CB]})).await;
        assert_eq!(res.status(), 201);
    }
});

fn no_registration(c: &mut mcp_connector::config::Config) {
    c.auth.registration = false;
}

db_test!(
    registration_can_be_switched_off,
    Opts {
        tweak: Some(no_registration),
        ..Opts::oauth()
    },
    |srv| {
        let res = register(&srv, &json!({"redirect_uris": [CLAUDE_CB]})).await;
        expect_error(res, 403, "access_denied").await;
    }
);

fn few_registrations(c: &mut mcp_connector::config::Config) {
    c.auth.registrations_per_hour = 5;
}

fn few_unused(c: &mut mcp_connector::config::Config) {
    c.auth.max_unused_registrations = 3;
}

fn claude_body() -> Value {
    json!({
        "client_name": "Claude",
        "redirect_uris": [CLAUDE_CB],
        "token_endpoint_auth_method": "client_secret_post",
    })
}

db_test!(
    registrations_per_address_are_limited,
    Opts {
        tweak: Some(few_registrations),
        ..Opts::oauth()
    },
    |srv| {
        for _ in 0..5 {
            created(register(&srv, &claude_body()).await).await;
        }
        let res = register(&srv, &claude_body()).await;
        assert_eq!(res.status(), 429);
        assert!(res.headers().contains_key("retry-after"));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "too_many_requests");
        assert_eq!(srv.state.db.list_clients().await.unwrap().len(), 5);
    }
);

db_test!(
    unused_registrations_are_capped,
    Opts {
        tweak: Some(few_unused),
        ..Opts::oauth()
    },
    |srv| {
        for _ in 0..3 {
            created(register(&srv, &claude_body()).await).await;
        }
        let res = register(&srv, &claude_body()).await;
        assert_eq!(res.status(), 429, "the cap of unused registrations holds");
        // Once one is used, there is room again.
        let first = srv.state.db.list_clients().await.unwrap()[0].id.clone();
        srv.state
            .db
            .touch_client(&first, mcp_connector::clock::unix_now())
            .await
            .unwrap();
        created(register(&srv, &claude_body()).await).await;
    }
);
