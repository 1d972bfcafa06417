//! Discovery documents: RFC 9728 protected resource metadata (PRM) and
//! RFC 8414 authorization server metadata, also served as
//! `openid-configuration` because clients probe both.
//!
//! Everything here is public and unauthenticated, so it is answered with
//! `Access-Control-Allow-Origin: *` for browser-based clients (MCP
//! Inspector); the same CORS headers go on `/token`, `/register` and
//! `/revoke` through [`with_cors`], and [`preflight`] answers `OPTIONS`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Auth, OAuthError};

/// Name shown by clients that display the protected resource.
const RESOURCE_NAME: &str = "mcp-connector";

/// Discovery documents change only with the configuration; a short cache
/// spares repeated probes without pinning a stale document for long.
const METADATA_CACHE: &str = "public, max-age=300";

/// `GET /.well-known/oauth-protected-resource{,/mcp}` (RFC 9728 §3).
pub async fn protected_resource(State(auth): State<Auth>) -> Response {
    document(protected_resource_json(&auth))
}

/// `GET /.well-known/oauth-authorization-server` and
/// `/.well-known/openid-configuration` (RFC 8414 §3).
pub async fn authorization_server(State(auth): State<Auth>) -> Response {
    document(authorization_server_json(&auth))
}

/// `OPTIONS` on a public endpoint: the CORS preflight of a browser client.
pub async fn preflight() -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, mcp-protocol-version"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    with_cors(res)
}

/// Add `Access-Control-Allow-Origin: *`. None of these endpoints reads
/// cookies, so a wildcard origin grants nothing a script could not already
/// do from a server.
pub fn with_cors(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

/// The answer of `/token`, `/register` and `/revoke`, with CORS: the
/// success response, or the error. A refusal (not a server failure, which
/// the error logs itself) is logged as `refused` with its fixed
/// description, never with what the client sent.
pub fn endpoint_answer(result: Result<Response, OAuthError>, refused: &str) -> Response {
    let res = result.unwrap_or_else(|e| {
        if !e.status().is_server_error() {
            tracing::info!(error = e.code(), reason = %e.description(), "{refused}");
        }
        e.into_response()
    });
    with_cors(res)
}

/// `body` as JSON with `status`, never stored by a cache: it carries
/// credentials (tokens, a client secret).
pub fn no_store_json(status: StatusCode, body: impl serde::Serialize) -> Response {
    let mut res = (status, Json(body)).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

fn document(body: Value) -> Response {
    let mut res = Json(body).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(METADATA_CACHE),
    );
    with_cors(res)
}

/// The PRM document. `authorization_servers` names the issuer byte for byte
/// as the authorization server metadata does (RFC 8414 §3.3); offering
/// `offline_access` here would make clients ask for it, so only the tool
/// scopes are listed.
pub fn protected_resource_json(auth: &Auth) -> Value {
    let scopes: Vec<&str> = auth.scopes.supported.iter().collect();
    json!({
        "resource": &*auth.resource,
        "authorization_servers": [&*auth.issuer],
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": RESOURCE_NAME,
    })
}

/// The authorization server metadata. Only what this server really does:
/// no ID tokens, so no OpenID-only fields. The endpoints sit at the root of
/// the path-less issuer (Claude calls them there whatever the document says).
pub fn authorization_server_json(auth: &Auth) -> Value {
    let issuer = &*auth.issuer;
    let mut scopes: Vec<&str> = auth.scopes.supported.iter().collect();
    // Refresh tokens are issued whether or not it is asked for; listing it
    // lets clients that insist on asking do so without an error.
    scopes.push("offline_access");
    let client_auth = ["none", "client_secret_post", "client_secret_basic"];
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": client_auth,
        "revocation_endpoint_auth_methods_supported": client_auth,
        "scopes_supported": scopes,
        "client_id_metadata_document_supported": auth.config.client_metadata_documents,
        "authorization_response_iss_parameter_supported": true,
    });
    if auth.config.registration
        && let Some(o) = doc.as_object_mut()
    {
        o.insert(
            "registration_endpoint".into(),
            Value::String(format!("{issuer}/register")),
        );
    }
    // Enterprise-Managed Authorization: the JWT bearer grant with ID-JAG
    // assertions, listed only when an issuer is configured.
    if auth.id_jag.is_some()
        && let Some(o) = doc.as_object_mut()
    {
        if let Some(Value::Array(g)) = o.get_mut("grant_types_supported") {
            g.push(Value::String(super::id_jag::GRANT_TYPE.into()));
        }
        o.insert(
            "authorization_grant_profiles_supported".into(),
            json!([super::id_jag::PROFILE]),
        );
    }
    doc
}
