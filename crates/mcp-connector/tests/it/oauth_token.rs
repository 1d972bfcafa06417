//! `POST /token`: the authorization code grant, client authentication and
//! code replay. Codes are minted directly through `auth::issue` (the
//! browser flow is tested in `oauth_flow`). The back-channel helpers here
//! (forms, error and token assertions, refresh, revoke) are shared by the
//! other back-channel test modules; set-up helpers live in `oauth_flow`.

// Tests may unwrap: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::Engine as _;
use mcp_connector::clock::unix_now;
use serde_json::Value;

use crate::common::{Opts, TestServer};
use crate::db_test;
use crate::oauth_flow::{Pkce, READ, REDIRECT, add_token_user, code, exchange, test_client, valid};

/// A code issued to a new client for a new `editor`, with its verifier.
pub struct Issued {
    pub user: String,
    pub client: String,
    /// The client secret of a confidential client.
    pub secret: Option<String>,
    pub code: String,
    pub verifier: String,
}

/// A code for [`REDIRECT`]; the client is confidential when `confidential`.
pub async fn issued_code(srv: &TestServer, confidential: bool) -> Issued {
    let user = add_token_user(srv, "editor").await;
    let (client, secret) = test_client(srv, confidential).await;
    let pkce = Pkce::new();
    let code = code(srv, &client, &user, REDIRECT, &pkce.challenge).await;
    Issued {
        user,
        client,
        secret,
        code,
        verifier: pkce.verifier,
    }
}

impl Issued {
    /// The code exchange parameters, without client authentication.
    pub fn form<'a>(&'a self, redirect_uri: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("grant_type", "authorization_code"),
            ("code", &self.code),
            ("code_verifier", &self.verifier),
            ("redirect_uri", redirect_uri),
        ]
    }

    /// Exchange the code as the public client it was issued to.
    pub async fn exchange(&self, srv: &TestServer) -> reqwest::Response {
        exchange(
            srv,
            &self.client,
            None,
            &self.code,
            &self.verifier,
            REDIRECT,
        )
        .await
    }

    /// Exchange the code with `redirect_uri` and `extra` parameters.
    pub async fn exchange_with(
        &self,
        srv: &TestServer,
        redirect_uri: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = self.form(redirect_uri);
        form.push(("client_id", &self.client));
        form.extend_from_slice(extra);
        post_form(srv, "/token", &form, None).await
    }
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

/// A public client with a fresh token pair: (client id, tokens).
pub async fn signed_in(srv: &TestServer) -> (String, Value) {
    let c = issued_code(srv, false).await;
    let tokens = expect_tokens(c.exchange(srv).await).await;
    (c.client, tokens)
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

/// `POST /revoke` as the public client `client`.
pub async fn revoke(
    srv: &TestServer,
    client: &str,
    token: &str,
    hint: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("client_id", client), ("token", token)];
    if let Some(h) = hint {
        form.push(("token_type_hint", h));
    }
    post_form(srv, "/revoke", &form, None).await
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
    let c = issued_code(&srv, false).await;
    let other = Pkce::new().verifier;
    let res = exchange(&srv, &c.client, None, &c.code, &other, REDIRECT).await;
    expect_error(res, 400, "invalid_grant").await;
});

db_test!(replayed_code_revokes_first_tokens, Opts::oauth(), |srv| {
    let c = issued_code(&srv, false).await;
    let first = expect_tokens(c.exchange(&srv).await).await;
    assert!(valid(&srv, s(&first, "access_token")).await);
    expect_error(c.exchange(&srv).await, 400, "invalid_grant").await;
    assert!(!valid(&srv, s(&first, "access_token")).await);
    let r = refresh(&srv, &c.client, s(&first, "refresh_token")).await;
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
        let c = issued_code(&srv, false).await;
        expect_error(c.exchange(&srv).await, 400, "invalid_grant").await;
    }
);

db_test!(wrong_redirect_uri_is_invalid_grant, Opts::oauth(), |srv| {
    let c = issued_code(&srv, false).await;
    let res = c
        .exchange_with(&srv, "https://client.example/other", &[])
        .await;
    expect_error(res, 400, "invalid_grant").await;
});

db_test!(
    code_of_another_client_is_invalid_grant,
    Opts::oauth(),
    |srv| {
        let victim = issued_code(&srv, false).await;
        let (thief, _) = test_client(&srv, false).await;
        let res = exchange(&srv, &thief, None, &victim.code, &victim.verifier, REDIRECT).await;
        expect_error(res, 400, "invalid_grant").await;
    }
);

db_test!(other_resource_is_invalid_target, Opts::oauth(), |srv| {
    let c = issued_code(&srv, false).await;
    let other = [("resource", "https://other.example/mcp")];
    let res = c.exchange_with(&srv, REDIRECT, &other).await;
    expect_error(res, 400, "invalid_target").await;
});

/// A confidential client's code exchange; the secret sent by `how`.
async fn confidential_exchange(
    srv: &TestServer,
    how: &str,
    secret_override: Option<&str>,
) -> reqwest::Response {
    let c = issued_code(srv, true).await;
    let secret = secret_override.map_or(c.secret.clone().unwrap(), str::to_owned);
    let mut params = c.form(REDIRECT);
    match how {
        "basic" => post_form(srv, "/token", &params, Some((&c.client, &secret))).await,
        "post" => {
            params.push(("client_id", &c.client));
            params.push(("client_secret", &secret));
            post_form(srv, "/token", &params, None).await
        }
        _ => {
            params.push(("client_id", &c.client));
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
    let c = issued_code(&srv, false).await;
    let revoked = srv.state.db.revoke_client(&c.client, unix_now()).await;
    assert!(revoked.unwrap());
    expect_error(c.exchange(&srv).await, 401, "invalid_client").await;
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
        let (client, _) = test_client(&srv, false).await;
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
