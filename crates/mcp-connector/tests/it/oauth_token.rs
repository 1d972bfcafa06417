//! `POST /token` and `POST /revoke`: the three grants, client
//! authentication, code replay, refresh rotation and reuse, revocation and
//! cleanup. Codes are minted directly through `auth::issue` (the browser
//! flow is tested in `oauth_flow`). The helpers at the top are shared by
//! the other back-channel test modules.

// Tests may unwrap: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::Engine as _;
use mcp_connector::auth::{Auth, ScopeSet, issue};
use mcp_connector::clock::unix_now;
use mcp_connector::store::oauth::{ClientOrigin, NewClient, NewUser};
use mcp_connector_security::pkce::s256_challenge;
use mcp_connector_security::random_token;
use serde_json::Value;

use crate::common::{Opts, TestServer};
use crate::db_test;

pub const REDIRECT: &str = "https://client.example/callback";
pub const READ: &str = "employees:read";

pub fn auth(srv: &TestServer) -> &Auth {
    srv.state.auth.as_ref().expect("oauth mode")
}

/// A user of `role`; returns its id.
pub async fn add_user(srv: &TestServer, role: &str) -> String {
    let id = issue::id();
    srv.state
        .db
        .insert_user(&NewUser {
            id: id.clone(),
            username: format!("u{}", random_token(6)),
            email: None,
            password_hash: "not used by these tests".into(),
            role: role.into(),
            now: unix_now(),
        })
        .await
        .expect("insert user");
    id
}

/// A client with `grants`; confidential (`client_secret_basic`) when
/// `secret`. Returns (id, secret).
pub async fn add_client_with(
    srv: &TestServer,
    secret: bool,
    grants: &[&str],
    scopes: &str,
    origin: ClientOrigin,
    created_at: i64,
) -> (String, Option<String>) {
    let id = issue::id();
    let secret = secret.then(|| issue::credential(issue::SECRET_PREFIX));
    srv.state
        .db
        .insert_client(&NewClient {
            id: id.clone(),
            secret_hash: secret.as_deref().map(issue::hash),
            name: "Test client".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
            scopes: scopes.into(),
            auth_method: if secret.is_some() {
                "client_secret_basic".into()
            } else {
                "none".into()
            },
            origin,
            now: created_at,
        })
        .await
        .expect("insert client");
    (id, secret)
}

pub async fn add_client(srv: &TestServer, secret: bool) -> (String, Option<String>) {
    add_client_with(
        srv,
        secret,
        &["authorization_code", "refresh_token"],
        "",
        ClientOrigin::Cli,
        unix_now(),
    )
    .await
}

/// A fresh PKCE pair: (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let verifier = random_token(32);
    let challenge = s256_challenge(&verifier);
    (verifier, challenge)
}

/// An authorization code for `client_id` and `user_id` with `challenge`.
pub async fn code(srv: &TestServer, client_id: &str, user_id: &str, challenge: &str) -> String {
    let a = auth(srv);
    issue::code(
        a,
        &issue::CodeRequest {
            client_id: client_id.into(),
            user_id: user_id.into(),
            redirect_uri: REDIRECT.into(),
            code_challenge: challenge.into(),
            scopes: ScopeSet::parse(READ),
            resource: a.resource.to_string(),
        },
    )
    .await
    .expect("issue code")
}

/// POST a form to `path`, with HTTP Basic credentials if given (each part
/// form-urlencoded first, RFC 6749 §2.3.1).
pub async fn post_form(
    srv: &TestServer,
    path: &str,
    params: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut req = srv.client.post(format!("{}{path}", srv.base)).form(params);
    if let Some((id, secret)) = basic {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let raw = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            enc(id),
            enc(secret)
        ));
        req = req.header("authorization", format!("Basic {raw}"));
    }
    req.send().await.expect("request sent")
}

/// Assert an RFC 6749 error response: `status`, `error` = `code`, a
/// description, `no-store`, and nothing secret in the body.
pub async fn expect_error(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let text = res.text().await.unwrap();
    for secret in ["mcpat_", "mcprt_", "mcpac_", "mcpcs_"] {
        assert!(!text.contains(secret), "secret in error body: {text}");
    }
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"], code, "{v}");
    assert!(v["error_description"].is_string(), "{v}");
    assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
    v
}

/// Assert a successful token response and return it.
pub async fn expect_tokens(res: reqwest::Response) -> Value {
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["pragma"], "no-cache");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer", "{v}");
    assert!(v["access_token"].as_str().unwrap().starts_with("mcpat_"));
    assert!(v["expires_in"].as_u64().unwrap() > 0);
    v
}

/// Whether `token` is a live access token.
pub async fn valid(srv: &TestServer, token: &str) -> bool {
    srv.state
        .db
        .access_token(&issue::hash(token), unix_now())
        .await
        .unwrap()
        .is_some()
}

/// Exchange `code` as the public client `client_id`.
pub async fn exchange(
    srv: &TestServer,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    post_form(
        srv,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", REDIRECT),
        ],
        None,
    )
    .await
}

/// A public client with a fresh token pair: (client id, tokens).
pub async fn signed_in(srv: &TestServer) -> (String, Value) {
    let user = add_user(srv, "editor").await;
    let (client, _) = add_client(srv, false).await;
    let (verifier, challenge) = pkce();
    let code = code(srv, &client, &user, &challenge).await;
    let tokens = expect_tokens(exchange(srv, &client, &code, &verifier).await).await;
    (client, tokens)
}

pub async fn refresh(srv: &TestServer, client: &str, token: &str) -> reqwest::Response {
    post_form(
        srv,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client),
            ("refresh_token", token),
        ],
        None,
    )
    .await
}

pub fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("no {k}: {v}"))
}

db_test!(
    code_exchange_issues_access_and_refresh,
    Opts::oauth(),
    |srv| {
        let (_, t) = signed_in(&srv).await;
        assert_eq!(t["scope"], READ);
        assert!(s(&t, "refresh_token").starts_with("mcprt_"));
        assert!(valid(&srv, s(&t, "access_token")).await);
    }
);

db_test!(wrong_verifier_is_invalid_grant, Opts::oauth(), |srv| {
    let user = add_user(&srv, "editor").await;
    let (client, _) = add_client(&srv, false).await;
    let (_, challenge) = pkce();
    let code = code(&srv, &client, &user, &challenge).await;
    let (other_verifier, _) = pkce();
    expect_error(
        exchange(&srv, &client, &code, &other_verifier).await,
        400,
        "invalid_grant",
    )
    .await;
});

db_test!(replayed_code_revokes_first_tokens, Opts::oauth(), |srv| {
    let user = add_user(&srv, "editor").await;
    let (client, _) = add_client(&srv, false).await;
    let (verifier, challenge) = pkce();
    let code = code(&srv, &client, &user, &challenge).await;
    let first = expect_tokens(exchange(&srv, &client, &code, &verifier).await).await;
    assert!(valid(&srv, s(&first, "access_token")).await);
    expect_error(
        exchange(&srv, &client, &code, &verifier).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(!valid(&srv, s(&first, "access_token")).await);
    let r = refresh(&srv, &client, s(&first, "refresh_token")).await;
    expect_error(r, 400, "invalid_grant").await;
});

fn instant_code_expiry(c: &mut mcp_connector::config::Config) {
    c.auth.code_ttl = Duration::ZERO;
}

db_test!(
    expired_code_is_invalid_grant,
    Opts {
        tweak: Some(instant_code_expiry),
        ..Opts::oauth()
    },
    |srv| {
        let user = add_user(&srv, "editor").await;
        let (client, _) = add_client(&srv, false).await;
        let (verifier, challenge) = pkce();
        let code = code(&srv, &client, &user, &challenge).await;
        expect_error(
            exchange(&srv, &client, &code, &verifier).await,
            400,
            "invalid_grant",
        )
        .await;
    }
);

db_test!(wrong_redirect_uri_is_invalid_grant, Opts::oauth(), |srv| {
    let user = add_user(&srv, "editor").await;
    let (client, _) = add_client(&srv, false).await;
    let (verifier, challenge) = pkce();
    let code = code(&srv, &client, &user, &challenge).await;
    let res = post_form(
        &srv,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", "https://client.example/other"),
        ],
        None,
    )
    .await;
    expect_error(res, 400, "invalid_grant").await;
});

db_test!(
    code_of_another_client_is_invalid_grant,
    Opts::oauth(),
    |srv| {
        let user = add_user(&srv, "editor").await;
        let (victim, _) = add_client(&srv, false).await;
        let (thief, _) = add_client(&srv, false).await;
        let (verifier, challenge) = pkce();
        let code = code(&srv, &victim, &user, &challenge).await;
        expect_error(
            exchange(&srv, &thief, &code, &verifier).await,
            400,
            "invalid_grant",
        )
        .await;
    }
);

db_test!(other_resource_is_invalid_target, Opts::oauth(), |srv| {
    let user = add_user(&srv, "editor").await;
    let (client, _) = add_client(&srv, false).await;
    let (verifier, challenge) = pkce();
    let code = code(&srv, &client, &user, &challenge).await;
    let res = post_form(
        &srv,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", REDIRECT),
            ("resource", "https://other.example/mcp"),
        ],
        None,
    )
    .await;
    expect_error(res, 400, "invalid_target").await;
});

/// A confidential client's code exchange; the secret sent by `how`.
async fn confidential_exchange(
    srv: &TestServer,
    how: &str,
    secret_override: Option<&str>,
) -> reqwest::Response {
    let user = add_user(srv, "editor").await;
    let (client, secret) = add_client(srv, true).await;
    let secret = secret_override.map_or(secret.unwrap(), str::to_owned);
    let (verifier, challenge) = pkce();
    let code = code(srv, &client, &user, &challenge).await;
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", verifier.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    match how {
        "basic" => post_form(srv, "/token", &params, Some((&client, &secret))).await,
        "post" => {
            params.push(("client_id", &client));
            params.push(("client_secret", &secret));
            post_form(srv, "/token", &params, None).await
        }
        _ => {
            params.push(("client_id", &client));
            post_form(srv, "/token", &params, None).await
        }
    }
}

db_test!(client_secret_basic_works, Opts::oauth(), |srv| {
    expect_tokens(confidential_exchange(&srv, "basic", None).await).await;
});

db_test!(client_secret_post_works, Opts::oauth(), |srv| {
    expect_tokens(confidential_exchange(&srv, "post", None).await).await;
});

db_test!(wrong_secret_is_invalid_client, Opts::oauth(), |srv| {
    let res = confidential_exchange(&srv, "basic", Some("mcpcs_wrong")).await;
    assert!(res.headers().contains_key("www-authenticate"));
    expect_error(res, 401, "invalid_client").await;
});

db_test!(
    confidential_client_without_secret_is_invalid_client,
    Opts::oauth(),
    |srv| {
        let res = confidential_exchange(&srv, "none", None).await;
        expect_error(res, 401, "invalid_client").await;
    }
);

db_test!(unknown_client_is_invalid_client, Opts::oauth(), |srv| {
    let res = post_form(
        &srv,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "no-such-client"),
            ("code", "mcpac_x"),
            ("code_verifier", "v"),
            ("redirect_uri", REDIRECT),
        ],
        Some(("no-such-client", "mcpcs_x")),
    )
    .await;
    expect_error(res, 401, "invalid_client").await;
});

db_test!(revoked_client_is_invalid_client, Opts::oauth(), |srv| {
    let user = add_user(&srv, "editor").await;
    let (client, _) = add_client(&srv, false).await;
    let (verifier, challenge) = pkce();
    let code = code(&srv, &client, &user, &challenge).await;
    assert!(
        srv.state
            .db
            .revoke_client(&client, unix_now())
            .await
            .unwrap()
    );
    expect_error(
        exchange(&srv, &client, &code, &verifier).await,
        401,
        "invalid_client",
    )
    .await;
});

db_test!(json_body_is_invalid_request, Opts::oauth(), |srv| {
    let res = srv
        .client
        .post(format!("{}/token", srv.base))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "invalid_request").await;
});

db_test!(
    unknown_grant_is_unsupported_grant_type,
    Opts::oauth(),
    |srv| {
        let (client, _) = add_client(&srv, false).await;
        let res = post_form(
            &srv,
            "/token",
            &[
                ("grant_type", "password"),
                ("client_id", &client),
                ("username", "a"),
                ("password", "b"),
            ],
            None,
        )
        .await;
        expect_error(res, 400, "unsupported_grant_type").await;
    }
);
