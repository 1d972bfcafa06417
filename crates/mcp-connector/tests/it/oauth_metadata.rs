//! Discovery documents: RFC 9728 protected resource metadata and RFC 8414
//! authorization server metadata (issuer byte-identical everywhere), plus
//! CORS for browser-based clients.

// Tests may unwrap: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use serde_json::Value;

use crate::common::{Opts, TestServer};
use crate::db_test;

/// GET `path`: asserts 200, JSON, CORS `*` and a cache lifetime.
async fn get_json(srv: &TestServer, path: &str) -> Value {
    let res = srv
        .client
        .get(format!("{}{path}", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{path}");
    let h = res.headers();
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(h["cache-control"].to_str().unwrap().contains("max-age="));
    res.json().await.unwrap()
}

db_test!(protected_resource_metadata, Opts::oauth(), |srv| {
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let m = get_json(&srv, path).await;
        assert_eq!(m["resource"], format!("{}/mcp", srv.base), "{m}");
        assert_eq!(
            m["authorization_servers"],
            serde_json::json!([srv.base]),
            "{m}"
        );
        assert_eq!(
            m["scopes_supported"],
            serde_json::json!(["employees:read", "employees:write"]),
            "no offline_access: {m}"
        );
        assert_eq!(m["bearer_methods_supported"], serde_json::json!(["header"]));
        assert!(m["resource_name"].is_string());
    }
});

db_test!(authorization_server_metadata, Opts::oauth(), |srv| {
    let b = &srv.base;
    let first = get_json(&srv, "/.well-known/oauth-authorization-server").await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/mcp",
        "/.well-known/openid-configuration/mcp",
        "/mcp/.well-known/openid-configuration",
    ] {
        assert_eq!(get_json(&srv, path).await, first, "{path}");
    }
    let m = first;
    assert_eq!(m["issuer"], *b, "issuer exactly the origin, no slash");
    assert_eq!(m["authorization_endpoint"], format!("{b}/authorize"));
    assert_eq!(m["token_endpoint"], format!("{b}/token"));
    assert_eq!(m["registration_endpoint"], format!("{b}/register"));
    assert_eq!(m["revocation_endpoint"], format!("{b}/revoke"));
    assert_eq!(m["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        m["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    let methods = m["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    for method in ["none", "client_secret_post", "client_secret_basic"] {
        assert!(methods.iter().any(|x| x == method), "{method}");
    }
    let grants = m["grant_types_supported"].as_array().unwrap();
    for g in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(grants.iter().any(|x| x == g), "{g}");
    }
    assert_eq!(m["client_id_metadata_document_supported"], true);
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert!(
        m["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "employees:read")
    );
});

fn no_registration(c: &mut mcp_connector::config::Config) {
    c.auth.registration = false;
    c.auth.client_metadata_documents = false;
}

db_test!(
    disabled_features_are_not_advertised,
    Opts {
        tweak: Some(no_registration),
        ..Opts::oauth()
    },
    |srv| {
        let m = get_json(&srv, "/.well-known/oauth-authorization-server").await;
        assert!(m.get("registration_endpoint").is_none(), "{m}");
        assert_eq!(m["client_id_metadata_document_supported"], false);
    }
);

db_test!(cors_preflight_is_answered, Opts::oauth(), |srv| {
    for path in [
        "/token",
        "/register",
        "/revoke",
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let res = srv
            .client
            .request(reqwest::Method::OPTIONS, format!("{}{path}", srv.base))
            .header("origin", "http://localhost:6274")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204, "{path}");
        assert_eq!(res.headers()["access-control-allow-origin"], "*", "{path}");
        let allowed = res.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"));
    }
});

db_test!(token_errors_carry_cors, Opts::oauth(), |srv| {
    let res = srv
        .client
        .post(format!("{}/token", srv.base))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
});
