//! Enterprise-Managed Authorization: ID-JAG assertions at `/token`
//! (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`), signed by a
//! key of the fake provider (generated in the test, JWKS on loopback).
//! Accepted once; every way an assertion can be wrong is `invalid_grant`.

// Tests may unwrap: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use mcp_connector::auth::id_jag::GRANT_TYPE;
use mcp_connector::clock::unix_now;
use mcp_connector_security::random_token;
use serde_json::{Value, json};

use crate::common::TestServer;
use crate::idp::{FakeIdp, come_back};
use crate::idp_test;
use crate::oauth_flow::{ClientSpec, READ, WRITE, insert_client};
use crate::oauth_resource::{call, tool_names};
use crate::oauth_token::{expect_error, expect_tokens, post_form};

/// A confidential client allowed the jwt-bearer grant: (id, secret).
async fn jag_client(srv: &TestServer, scopes: &str) -> (String, String) {
    let spec = ClientSpec {
        name: "Claude (EMA)",
        redirect_uris: &[],
        secret: true,
        grants: &[GRANT_TYPE],
        scopes,
        ..ClientSpec::default()
    };
    let (id, secret) = insert_client(srv, &spec).await;
    (id, secret.unwrap())
}

/// Claims of a valid assertion for `client_id` on `srv`.
fn claims(srv: &TestServer, idp: &FakeIdp, client_id: &str) -> Value {
    let now = unix_now();
    json!({
        "iss": idp.issuer,
        "sub": "sub-alice",
        "aud": srv.base,
        "client_id": client_id,
        "jti": random_token(12),
        "iat": now,
        "exp": now + 300,
        "resource": srv.url,
        "scope": format!("{READ} {WRITE}"),
        "email": "alice@example.com",
        "preferred_username": "alice",
        "groups": ["mcp-editors"],
    })
}

fn with(mut base: Value, over: Value) -> Value {
    for (k, v) in over.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

async fn exchange(
    srv: &TestServer,
    client: &(String, String),
    assertion: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", GRANT_TYPE), ("assertion", assertion)];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    post_form(srv, "/token", &form, Some((&client.0, &client.1))).await
}

/// The assertion is refused with `invalid_grant` whose description says `why`.
async fn refused(srv: &TestServer, client: &(String, String), assertion: &str, why: &str) {
    let res = exchange(srv, client, assertion, None).await;
    let body = expect_error(res, 400, "invalid_grant").await;
    let d = body["error_description"].as_str().unwrap();
    assert!(d.contains(why), "{d} (expected: {why})");
}

idp_test!(accepted_once_without_consent, true, |idp, srv| {
    let client = jag_client(&srv, "").await;
    let assertion = idp.sign(Some("oauth-id-jag+jwt"), &claims(&srv, &idp, &client.0));
    let res = exchange(&srv, &client, &assertion, None).await;
    let tokens = expect_tokens(res).await;
    assert_eq!(tokens["scope"], format!("{READ} {WRITE}"));
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let token = tokens["access_token"].as_str().unwrap();
    let (status, reply) = call(
        &srv,
        token,
        "get_employee_count",
        json!({"department": "engineering"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(reply["result"]["structuredContent"]["count"], 42);
    // The subject was created just in time with the mapped role.
    let user = srv
        .state
        .db
        .user_by_subject(&idp.issuer, "sub-alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (user.username.as_str(), user.role.as_str()),
        ("alice", "editor")
    );
    // The same assertion again: its jti was seen.
    refused(&srv, &client, &assertion, "already used").await;
    // The grant is audited.
    let rows = mcp_connector::audit::store::since(&srv.state.db, 0, 1000)
        .await
        .unwrap();
    let issued = rows
        .iter()
        .filter_map(|r| r.arguments.as_deref())
        .filter(|a| a.contains("token_issued") && a.contains("jwt-bearer"))
        .count();
    assert_eq!(issued, 1);
    assert!(
        rows.iter()
            .filter_map(|r| r.arguments.as_deref())
            .any(|a| a.contains("assertion_refused")),
        "the replay is audited"
    );
});

idp_test!(every_wrong_assertion_is_invalid_grant, true, |idp, srv| {
    let client = jag_client(&srv, "").await;
    let ok = claims(&srv, &idp, &client.0);
    let typ = Some("oauth-id-jag+jwt");
    let now = unix_now();
    for (over, why) in [
        (
            json!({"aud": "https://other-as.example"}),
            "another authorization server",
        ),
        (
            json!({"aud": [srv.base, "https://x.example"]}),
            "another authorization server",
        ),
        (json!({"client_id": "mcpc_someone_else"}), "another client"),
        (
            json!({"resource": "https://other.example/mcp"}),
            "another resource",
        ),
        (json!({"iat": now - 900, "exp": now - 600}), "expired"),
        (
            json!({"iat": now, "exp": now + 900}),
            "longer than five minutes",
        ),
        (json!({"iss": "https://unknown-idp.example"}), "not trusted"),
        (json!({"jti": null}), "jti"),
        (json!({"iat": null}), "iat"),
    ] {
        let a = idp.sign(typ, &with(ok.clone(), over.clone()));
        refused(&srv, &client, &a, why).await;
    }
    // Not an ID-JAG: an ID token or access token (typ JWT), or no typ.
    refused(&srv, &client, &idp.sign(Some("JWT"), &ok), "typ").await;
    refused(&srv, &client, &idp.sign(None, &ok), "typ").await;
    // alg none: header and payload, no signature.
    let none = format!(
        "{}.{}.",
        B64.encode(json!({"alg": "none", "typ": "oauth-id-jag+jwt"}).to_string()),
        B64.encode(ok.to_string())
    );
    refused(&srv, &client, &none, "").await;
    // HS256 with the public key material as the secret (key confusion).
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.typ = Some("oauth-id-jag+jwt".into());
    h.kid = Some("k1".into());
    let hs = jsonwebtoken::encode(&h, &ok, &jsonwebtoken::EncodingKey::from_secret(b"k1")).unwrap();
    refused(&srv, &client, &hs, "algorithm").await;
    // Garbage.
    refused(&srv, &client, "not.a.jwt", "").await;
    // None of these created a user or a token.
    assert!(srv.state.db.list_users().await.unwrap().is_empty());
    assert!(
        srv.state
            .db
            .list_grants(None, None, unix_now())
            .await
            .unwrap()
            .is_empty()
    );
});

idp_test!(
    client_must_authenticate_and_be_allowed_the_grant,
    true,
    |idp, srv| {
        let client = jag_client(&srv, "").await;
        let a = idp.sign(Some("oauth-id-jag+jwt"), &claims(&srv, &idp, &client.0));
        let wrong = (client.0.clone(), "mcpcs_wrong".to_owned());
        expect_error(
            exchange(&srv, &wrong, &a, None).await,
            401,
            "invalid_client",
        )
        .await;
        // A client registered for the authorization code grant only.
        let spec = ClientSpec {
            secret: true,
            ..ClientSpec::default()
        };
        let (other, secret) = insert_client(&srv, &spec).await;
        let a = idp.sign(Some("oauth-id-jag+jwt"), &claims(&srv, &idp, &other));
        let res = exchange(&srv, &(other, secret.unwrap()), &a, None).await;
        expect_error(res, 400, "unauthorized_client").await;
    }
);

idp_test!(scopes_are_bounded_by_role_and_client, true, |idp, srv| {
    // A viewer (by its groups) asking for write gets nothing it may not have.
    let client = jag_client(&srv, "").await;
    let viewer = with(
        claims(&srv, &idp, &client.0),
        json!({"groups": ["mcp-viewers"], "sub": "sub-bob", "preferred_username": "bob"}),
    );
    let a = idp.sign(Some("oauth-id-jag+jwt"), &viewer);
    let tokens = expect_tokens(exchange(&srv, &client, &a, None).await).await;
    assert_eq!(tokens["scope"], READ);
    let names = tool_names(&srv, tokens["access_token"].as_str().unwrap()).await;
    assert!(names.contains(&"get_employee_count".to_owned()));
    assert!(!names.iter().any(|n| n.starts_with("add_")), "{names:?}");
    let a = idp.sign(
        Some("oauth-id-jag+jwt"),
        &with(viewer.clone(), json!({"jti": random_token(8)})),
    );
    let res = exchange(&srv, &client, &a, Some(WRITE)).await;
    expect_error(res, 400, "invalid_scope").await;
    // A client limited to read gives an editor read only.
    let limited = jag_client(&srv, READ).await;
    let a = idp.sign(Some("oauth-id-jag+jwt"), &claims(&srv, &idp, &limited.0));
    let tokens = expect_tokens(exchange(&srv, &limited, &a, None).await).await;
    assert_eq!(tokens["scope"], READ);
    // No mapped group: refused, nobody created.
    let a = idp.sign(
        Some("oauth-id-jag+jwt"),
        &with(
            claims(&srv, &idp, &client.0),
            json!({"groups": ["sales"], "sub": "sub-carol"}),
        ),
    );
    refused(&srv, &client, &a, "no group").await;
    assert!(
        srv.state
            .db
            .user_by_subject(&idp.issuer, "sub-carol")
            .await
            .unwrap()
            .is_none()
    );
});

idp_test!(same_person_as_the_upstream_sign_in, true, |idp, srv| {
    // alice signs in through the browser first...
    let s = start_upstream_via_button(&srv, &idp).await;
    assert_eq!(come_back(&srv, &idp, &s).await.status().as_u16(), 200);
    // ...then an assertion for the same (issuer, sub) is the same account.
    let client = jag_client(&srv, "").await;
    let a = idp.sign(Some("oauth-id-jag+jwt"), &claims(&srv, &idp, &client.0));
    expect_tokens(exchange(&srv, &client, &a, None).await).await;
    let users = srv.state.db.list_users().await.unwrap();
    assert_eq!(users.len(), 1, "{users:?}");
    let grants = srv
        .state
        .db
        .list_grants(Some(&users[0].id), None, unix_now())
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].client_id, client.0);
});

idp_test!(metadata_lists_the_grant, true, |_idp, srv| {
    let doc: Value = srv
        .client
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            srv.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let grants = doc["grant_types_supported"].as_array().unwrap();
    assert!(grants.iter().any(|g| g == GRANT_TYPE), "{doc}");
    assert_eq!(
        doc["authorization_grant_profiles_supported"],
        json!(["urn:ietf:params:oauth:grant-profile:id-jag"])
    );
});

/// With local logins on, the company sign-in starts from the chooser's
/// button; the provider is told the nonce.
async fn start_upstream_via_button(srv: &TestServer, idp: &FakeIdp) -> crate::idp::Started {
    use crate::oauth_flow::{AuthorizeParams, Pkce, REDIRECT, add_client, location, param};
    let (client, _) = add_client(srv, "Claude", &[REDIRECT], false).await;
    let pkce = Pkce::new();
    let params = AuthorizeParams::new(srv, &client, REDIRECT, "", "", &pkce);
    let page = crate::oauth_flow::start(srv, &params).await.unwrap();
    let res = crate::oauth_flow::post_form(
        srv,
        page.cookie.as_deref(),
        &[
            ("step", "upstream"),
            ("request", &page.field("request").unwrap()),
            ("csrf", &page.field("csrf").unwrap()),
        ],
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
    let provider_url = location(&res).unwrap();
    idp.set_nonce(&param(&provider_url, "nonce").unwrap());
    let mut jar = crate::idp::Jar::default();
    let (k, v) = page.cookie.as_deref().unwrap().split_once('=').unwrap();
    jar.0.insert(k.into(), v.into());
    crate::idp::Started {
        params,
        pkce,
        jar,
        provider_url,
    }
}
