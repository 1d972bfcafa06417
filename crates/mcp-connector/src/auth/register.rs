//! `POST /register`: Dynamic Client Registration (RFC 7591).
//!
//! Claude registers a new client for every fresh connection, from a few
//! shared egress addresses, so the brakes are sized for an organisation:
//! `auth.registrations_per_hour` per client address, and at most
//! `auth.max_unused_registrations` registrations that were never used
//! (each costs a row and an audit record; unused ones are removed by
//! [`super::cleanup`] after `auth.unused_client_ttl_secs`). Both answer 429
//! with `Retry-After`. Unknown metadata and unknown scopes are ignored
//! (RFC 7591 §2), not refused.

use std::net::IpAddr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::cimd::redirect_uri_allowed;
use super::events::{self, What};
use super::metadata::{endpoint_answer, no_store_json};
use super::{Auth, OAuthError, issue};
use crate::network::ClientIp;
use crate::store::oauth::{ClientOrigin, NewClient};

const DEFAULT_NAME: &str = "Unnamed client";
const MAX_NAME_CHARS: usize = 200;
const MAX_REDIRECT_URIS: usize = 10;
const MAX_REDIRECT_URI_LEN: usize = 2000;
const AUTH_METHODS: [&str; 3] = ["none", "client_secret_post", "client_secret_basic"];

/// `POST /register`.
pub async fn register(
    State(auth): State<Auth>,
    ip: Option<Extension<ClientIp>>,
    body: Bytes,
) -> Response {
    let ip = ip.map(|Extension(ClientIp(ip))| ip);
    if let Some(ip) = ip
        && let Err(wait) = auth.registrations.take(&ip, std::time::Instant::now())
    {
        tracing::warn!(%ip, "registration refused: too many from this address");
        return too_many(
            wait,
            "too many registrations from this address; try again later",
        );
    }
    match auth.db.count_unused_registrations().await {
        Ok(n) if n >= auth.config.max_unused_registrations => {
            tracing::warn!(
                unused = n,
                "registration refused: too many unused registrations"
            );
            return too_many(
                600,
                "too many registrations are waiting to be used; try again later",
            );
        }
        Ok(_) => {}
        Err(e) => {
            return endpoint_answer(Err(OAuthError::from(e)), "registration refused");
        }
    }
    // The response carries the client secret.
    let res = create(&auth, &body, ip).await;
    endpoint_answer(
        res.map(|doc| no_store_json(StatusCode::CREATED, doc)),
        "registration refused",
    )
}

/// 429 in the RFC 6749 error shape, with `Retry-After`.
fn too_many(retry_after_secs: u64, description: &str) -> Response {
    let body = json!({"error": "too_many_requests", "error_description": description});
    let mut res = no_store_json(StatusCode::TOO_MANY_REQUESTS, body);
    res.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(retry_after_secs.max(1)),
    );
    res
}

async fn create(auth: &Auth, body: &[u8], ip: Option<IpAddr>) -> Result<Value, OAuthError> {
    if !auth.config.registration {
        return Err(OAuthError::AccessDenied(
            "dynamic client registration is disabled on this server",
        ));
    }
    let meta: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(OAuthError::InvalidClientMetadata(
                "the body must be a JSON object".into(),
            ));
        }
    };
    let redirect_uris = redirect_uris(meta.get("redirect_uris"))?;
    let auth_method = match meta.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => Some("client_secret_basic"),
        Some(Value::String(m)) => AUTH_METHODS.iter().find(|a| **a == m.as_str()).copied(),
        Some(_) => None,
    }
    .ok_or_else(|| {
        OAuthError::InvalidClientMetadata(
            "token_endpoint_auth_method must be none, client_secret_post or client_secret_basic"
                .into(),
        )
    })?;
    let grant_types = grant_types(meta.get("grant_types"))?;
    let name = match meta.get("client_name").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() => n
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_NAME_CHARS)
            .collect(),
        _ => DEFAULT_NAME.to_owned(),
    };
    let secret = (auth_method != "none").then(|| issue::credential(issue::SECRET_PREFIX));
    let now = auth.clock.unix_now();
    let client_id = issue::id();
    auth.db
        .insert_client(&NewClient {
            id: client_id.clone(),
            secret_hash: secret.as_deref().map(issue::hash),
            name: name.clone(),
            redirect_uris: redirect_uris.clone(),
            grant_types: grant_types.clone(),
            scopes: String::new(),
            auth_method: auth_method.to_owned(),
            origin: ClientOrigin::Dcr,
            now,
        })
        .await?;
    tracing::info!(client_id = %client_id, auth_method, "client registered");
    // Fail closed: no client id or secret is handed out unrecorded (the
    // stored registration, never used, is removed by the cleanup).
    let what = What::ClientRegistered {
        client_id: &client_id,
        name: &name,
        auth_method,
    };
    events::record(auth, what.from_ip(ip)).await?;
    let mut doc = json!({
        "client_id": client_id,
        "client_id_issued_at": now,
        "client_name": name,
        "redirect_uris": redirect_uris,
        "grant_types": grant_types,
        "response_types": ["code"],
        "token_endpoint_auth_method": auth_method,
    });
    if let Some(o) = doc.as_object_mut() {
        let scopes = meta
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| auth.scopes.known(s))
            .filter(|s| !s.is_empty());
        if let Some(s) = scopes {
            o.insert("scope".into(), Value::String(s.to_string()));
        }
        if let Some(secret) = secret {
            o.insert("client_secret".into(), Value::String(secret));
            // 0: the secret does not expire (RFC 7591 §3.2.1).
            o.insert("client_secret_expires_at".into(), Value::from(0));
        }
    }
    Ok(doc)
}

fn redirect_uris(v: Option<&Value>) -> Result<Vec<String>, OAuthError> {
    let bad = |m: &str| OAuthError::InvalidRedirectUri(m.to_owned());
    let list = v
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad("redirect_uris must be a non-empty array"))?;
    if list.len() > MAX_REDIRECT_URIS {
        return Err(bad("at most 10 redirect URIs"));
    }
    list.iter()
        .map(|u| {
            let u = u
                .as_str()
                .ok_or_else(|| bad("every redirect URI must be a string"))?;
            if u.len() > MAX_REDIRECT_URI_LEN {
                return Err(bad("a redirect URI is longer than 2000 characters"));
            }
            if !redirect_uri_allowed(u) {
                return Err(bad(
                    "redirect URIs must be https, or http on a loopback address, without a fragment",
                ));
            }
            Ok(u.to_owned())
        })
        .collect()
}

/// The grant types to store: authorization code and refresh token only.
/// Grants this server does not know (Claude lists a JWT bearer grant) are
/// dropped; ones it knows but does not offer to registered clients are
/// refused, so that the client is not misled.
fn grant_types(v: Option<&Value>) -> Result<Vec<String>, OAuthError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(vec!["authorization_code".into(), "refresh_token".into()]);
    };
    let list = v
        .as_array()
        .ok_or_else(|| OAuthError::InvalidClientMetadata("grant_types must be an array".into()))?;
    let mut out = Vec::new();
    for g in list.iter().filter_map(Value::as_str) {
        match g {
            "authorization_code" | "refresh_token" if !out.iter().any(|o| o == g) => {
                out.push(g.to_owned());
            }
            "client_credentials" | "password" | "implicit" => {
                return Err(OAuthError::InvalidClientMetadata(format!(
                    "grant type {g} cannot be registered; use authorization_code"
                )));
            }
            _ => {}
        }
    }
    if !out.iter().any(|g| g == "authorization_code") {
        return Err(OAuthError::InvalidClientMetadata(
            "grant_types must include authorization_code".into(),
        ));
    }
    Ok(out)
}
