//! JWT access tokens from an external identity provider (`auth.mode =
//! "external"`), checked against the provider's JWKS.
//!
//! * Keys come from `[auth.external] jwks_url` through the shared key cache
//!   ([`super::jwks`]: `kid` lookup, hourly refresh, early refetch on key
//!   rotation, rate-limited).
//! * Only RS256 and ES256 are accepted. The algorithm is taken from the key,
//!   never from the token: `none`, HS* (a public key used as an HMAC secret)
//!   and any mismatch are refused.
//! * `iss` must equal the configured issuer exactly; `aud` must contain the
//!   configured audience (default: this server's MCP URL, RFC 8707); `exp`,
//!   `iss`, `aud` and `sub` are required; `exp` and `nbf` allow the
//!   configured leeway. `typ`, when present, must be `JWT` or `at+jwt`
//!   (RFC 9068), which keeps other JWT kinds out.
//! * Scopes: `scope` (space-separated) or `scp` (array or string), narrowed
//!   to the scopes this server knows. The ceiling is every scope the server
//!   supports: external users have no local role, and the provider decides
//!   what they may hold. A token lacking a scope therefore gets 403
//!   `insufficient_scope` (the client can ask the provider for more) rather
//!   than a hidden tool.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::jwks::{KeyCache, is_accepted_alg};
use super::principal::Principal;
use super::scope::{ScopePolicy, ScopeSet};
use crate::config::ExternalIdp;

/// Why a JWT was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// The token is not acceptable: 401 `invalid_token`.
    #[error("{0}")]
    Invalid(&'static str),
    /// The keys could not be fetched: 503, the client retries.
    #[error("identity provider keys unavailable: {0}")]
    Unavailable(String),
}

/// The identity provider's keys and the validation rules for its tokens.
pub struct Jwks {
    idp: ExternalIdp,
    audience: String,
    keys: Arc<KeyCache>,
}

impl Jwks {
    /// `audience_default` (the MCP endpoint URL) applies unless the
    /// configuration names an audience.
    pub fn new(idp: ExternalIdp, audience_default: String) -> Self {
        let audience = idp.audience.clone().unwrap_or(audience_default);
        Self {
            idp,
            audience,
            keys: Arc::new(KeyCache::new()),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.idp.issuer
    }

    /// Validate `token`; the principal it stands for.
    pub async fn validate(&self, token: &str, scopes: &ScopePolicy) -> Result<Principal, JwtError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| JwtError::Invalid("the token is not a JWT this server accepts"))?;
        if !is_accepted_alg(header.alg) {
            return Err(JwtError::Invalid(
                "the token's signing algorithm is not accepted",
            ));
        }
        if let Some(typ) = header.typ.as_deref() {
            let typ = typ.to_ascii_lowercase();
            if !matches!(typ.as_str(), "jwt" | "at+jwt" | "application/at+jwt") {
                return Err(JwtError::Invalid("the token is not an access token"));
            }
        }
        let candidates = self
            .keys
            .candidates(&self.idp.jwks_url, header.kid.as_deref())
            .await
            .map_err(JwtError::Unavailable)?;
        let Some(candidates) = candidates else {
            return Err(JwtError::Invalid(
                "the token was signed with an unknown key",
            ));
        };
        let mut last = JwtError::Invalid("the token was signed with an unknown key");
        for key in candidates.iter().filter(|k| k.alg == header.alg) {
            match jsonwebtoken::decode::<Claims>(token, &key.key, &self.validation(key.alg)) {
                Ok(data) => return Ok(principal(data.claims, scopes)),
                Err(e) => last = JwtError::Invalid(describe(&e)),
            }
        }
        Err(last)
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.idp.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = self.idp.leeway.as_secs();
        v.validate_nbf = true;
        v
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scp: Option<Value>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

fn principal(c: Claims, policy: &ScopePolicy) -> Principal {
    let mut raw = c.scope.unwrap_or_default();
    match c.scp {
        Some(Value::String(s)) => {
            raw.push(' ');
            raw.push_str(&s);
        }
        Some(Value::Array(items)) => {
            for s in items.iter().filter_map(Value::as_str) {
                raw.push(' ');
                raw.push_str(s);
            }
        }
        _ => {}
    }
    let scopes: ScopeSet = policy.known(&raw);
    Principal {
        subject: c.sub.into(),
        user_id: None,
        username: c.preferred_username,
        email: c.email,
        client_id: c.client_id.or(c.azp).unwrap_or_default().into(),
        scopes,
        ceiling: policy.supported.clone(),
        expires_at: c.exp,
    }
}

/// A fixed description per failure: never the token, never the library's
/// message (which may quote claims).
pub(super) fn describe(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "the token has expired",
        K::ImmatureSignature => "the token is not valid yet",
        K::InvalidIssuer => "the token was issued by another issuer",
        K::InvalidAudience => "the token was issued for another resource",
        K::InvalidSignature => "the token's signature is invalid",
        K::MissingRequiredClaim(_) => "the token lacks a required claim",
        K::InvalidAlgorithm => "the token's signing algorithm is not accepted",
        _ => "the token is malformed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_from_scope_and_scp() {
        let policy = ScopePolicy::new(
            &super::super::ToolScopes {
                read: "r",
                write: "w",
            },
            &std::collections::BTreeMap::new(),
        );
        let claims = |scope: Option<&str>, scp: Option<Value>| Claims {
            sub: "alice".into(),
            exp: 1,
            scope: scope.map(str::to_owned),
            scp,
            client_id: None,
            azp: Some("app".into()),
            preferred_username: None,
            email: None,
        };
        let p = principal(claims(Some("r openid"), None), &policy);
        assert_eq!(p.scopes.to_string(), "r");
        assert_eq!(p.ceiling.to_string(), "r w");
        assert_eq!(&*p.client_id, "app");
        let p = principal(claims(None, Some(serde_json::json!(["w", "x"]))), &policy);
        assert_eq!(p.scopes.to_string(), "w");
        let p = principal(claims(None, Some(serde_json::json!("r w"))), &policy);
        assert_eq!(p.scopes.to_string(), "r w");
    }
}
