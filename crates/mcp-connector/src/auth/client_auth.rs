//! Client lookup and client authentication at `/token` and `/revoke`
//! (RFC 6749 §2.3), plus the form parsing both endpoints share.
//!
//! A confidential client may use `client_secret_basic` or
//! `client_secret_post` whichever it registered: clients disagree with
//! their own registrations often enough (Claude among them) that being
//! strict only breaks sign-ins without adding security.

use std::collections::HashMap;

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

/// The parameters of a form-encoded request. A repeated parameter is an
/// `invalid_request` (RFC 6749 §3.1), as is a body that is not a form (some
/// clients send JSON to the token endpoint; they get a clear error).
#[derive(Debug, Default)]
pub struct Form(HashMap<String, String>);

impl Form {
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let form_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err(OAuthError::InvalidRequest(
                "the body must be application/x-www-form-urlencoded".into(),
            ));
        }
        let mut map = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            if map.insert(k.clone().into_owned(), v.into_owned()).is_some() {
                return Err(OAuthError::InvalidRequest(format!(
                    "parameter `{}` is repeated",
                    printable(&k)
                )));
            }
        }
        Ok(Self(map))
    }

    /// A parameter; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::InvalidRequest(format!("`{name}` is required")))
    }
}

/// At most 40 characters of a parameter name for an error message.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(40).collect()
}

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

    #[test]
    fn form_rules() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        let f = Form::parse(&h, b"a=1&b=&c=x+y").unwrap();
        assert_eq!(f.get("a"), Some("1"));
        assert_eq!(f.get("b"), None);
        assert_eq!(f.get("c"), Some("x y"));
        assert!(Form::parse(&h, b"a=1&a=2").is_err());
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(Form::parse(&h, b"{}").is_err());
    }
}
