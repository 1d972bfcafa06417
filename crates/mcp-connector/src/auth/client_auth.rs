//! Client lookup and client authentication at `/token` and `/revoke`
//! (RFC 6749 §2.3).
//!
//! A confidential client may use `client_secret_basic` or
//! `client_secret_post` whichever it registered: clients disagree with
//! their own registrations often enough (Claude among them) that being
//! strict only breaks sign-ins without adding security.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mcp_connector_security::ct_eq;

use super::{Auth, OAuthError, issue};
use crate::store::oauth::Client;

/// The live client `client_id` (CIMD URLs resolved), or `None`.
pub async fn lookup(auth: &Auth, client_id: &str) -> Result<Option<Client>, OAuthError> {
    if auth.config.client_metadata_documents && client_id.starts_with("https://") {
        return match auth.cimd.resolve(&auth.db, client_id).await {
            Ok(c) => Ok(c),
            Err(super::cimd::CimdError::Store(e)) => Err(OAuthError::Internal(e)),
            Err(e) => {
                tracing::info!(reason = %e, "metadata document client refused");
                Ok(None)
            }
        };
    }
    Ok(auth
        .db
        .client(client_id)
        .await?
        .filter(|c| c.revoked_at.is_none()))
}

/// The parameters of a `/token` or `/revoke` body.
pub use super::params::Params as Form;

/// A client that proved who it is.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub client: Client,
    /// It presented a secret (a confidential client).
    pub confidential: bool,
}

/// Authenticate the client of a `/token` or `/revoke` request. Every
/// failure is the same `invalid_client` (401), so a caller cannot tell an
/// unknown client from a wrong secret.
pub async fn authenticate(
    auth: &Auth,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Authenticated, OAuthError> {
    let basic = basic_credentials(headers)?;
    let (client_id, secret) = match basic {
        Some((id, secret)) => {
            // Two methods at once is refused (RFC 6749 §2.3).
            if form.get("client_secret").is_some() {
                return Err(OAuthError::InvalidClient);
            }
            if form.get("client_id").is_some_and(|f| f != id) {
                return Err(OAuthError::InvalidClient);
            }
            (id, Some(secret))
        }
        None => {
            let id = form.get("client_id").ok_or(OAuthError::InvalidClient)?;
            (id.to_owned(), form.get("client_secret").map(str::to_owned))
        }
    };
    let Some(client) = lookup(auth, &client_id).await? else {
        return Err(OAuthError::InvalidClient);
    };
    match (secret, &client.secret_hash) {
        (Some(secret), Some(stored)) => {
            if ct_eq(issue::hash(&secret).as_bytes(), stored.as_bytes()) {
                Ok(Authenticated {
                    client,
                    confidential: true,
                })
            } else {
                Err(OAuthError::InvalidClient)
            }
        }
        (None, None) if client.auth_method == "none" => Ok(Authenticated {
            client,
            confidential: false,
        }),
        // A confidential client without its secret, or a secret for a
        // public client (which has none to check it against).
        _ => Err(OAuthError::InvalidClient),
    }
}

/// `Authorization: Basic` credentials, each form-urlencoded before base64
/// (RFC 6749 §2.3.1). `None` without such a header; a malformed one is an
/// authentication failure.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| OAuthError::InvalidClient)?;
    let Some((scheme, rest)) = value.trim().split_once(' ') else {
        return Err(OAuthError::InvalidClient);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::InvalidClient);
    }
    let decoded = STANDARD
        .decode(rest.trim())
        .map_err(|_| OAuthError::InvalidClient)?;
    let decoded = String::from_utf8(decoded).map_err(|_| OAuthError::InvalidClient)?;
    let (id, secret) = decoded.split_once(':').ok_or(OAuthError::InvalidClient)?;
    let id = form_decode(id);
    let secret = form_decode(secret);
    if id.is_empty() || secret.is_empty() {
        return Err(OAuthError::InvalidClient);
    }
    Ok(Some((id, secret)))
}

/// Undo `application/x-www-form-urlencoded` (`+` is a space).
fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_is_form_decoded() {
        let mut h = HeaderMap::new();
        let raw = STANDARD.encode("my%3Aclient:p%40ss+word%2B");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {raw}").parse().unwrap(),
        );
        let (id, secret) = basic_credentials(&h).unwrap().unwrap();
        assert_eq!(id, "my:client");
        assert_eq!(secret, "p@ss word+");
    }

    #[test]
    fn malformed_basic_is_invalid_client() {
        for v in ["Basic !!!", "Bearer abc", "Basic", "Basic Zm9v"] {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            assert!(
                matches!(basic_credentials(&h), Err(OAuthError::InvalidClient)),
                "{v}"
            );
        }
    }
}
