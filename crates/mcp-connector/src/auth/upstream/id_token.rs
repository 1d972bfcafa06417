//! ID token validation (OpenID Connect Core §3.1.3.7): signature with a key
//! from the provider's JWKS (rotation handled by the key cache), `iss`
//! exactly the configured issuer, `aud` containing our client id, `azp` our
//! client id when present (and required with several audiences), `exp` and
//! `iat` within the leeway, and the `nonce` the sign-in was started with.

use jsonwebtoken::Validation;
use mcp_connector_security::ct_eq;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Upstream, UpstreamError};
use crate::auth::external::describe;
use crate::auth::jwks::is_accepted_alg;
use crate::clock::unix_now;
use crate::config::LEEWAY;

/// The claims of a validated ID token that the connector uses.
#[derive(Debug, Clone, Deserialize)]
pub struct IdClaims {
    pub sub: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    aud: Option<Value>,
    #[serde(default)]
    iat: Option<i64>,
    /// Everything else, where the configured groups claim is looked up.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl IdClaims {
    /// The user's groups from claim `name` (a string array, or one string);
    /// `None` when the claim is absent.
    pub fn groups(&self, name: &str) -> Option<Vec<String>> {
        groups_of(self.rest.get(name)?)
    }
}

/// Groups from a claim value: a string array, or one string.
pub fn groups_of(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        Value::String(s) => Some(vec![s.clone()]),
        _ => None,
    }
}

impl Upstream {
    /// Validate `id_token`. `nonce` is the one the sign-in sent (`None` for
    /// the ID token of a refresh, which carries none).
    pub async fn validate_id_token(
        &self,
        id_token: &str,
        nonce: Option<&str>,
    ) -> Result<IdClaims, UpstreamError> {
        let invalid = UpstreamError::InvalidToken;
        let header = jsonwebtoken::decode_header(id_token)
            .map_err(|_| invalid("the ID token is not a JWT"))?;
        if !is_accepted_alg(header.alg) {
            return Err(invalid("the ID token's signing algorithm is not accepted"));
        }
        let doc = self.discovery().await?;
        let keys = self
            .keys
            .candidates(&doc.jwks_uri, header.kid.as_deref())
            .await
            .map_err(UpstreamError::Unavailable)?
            .ok_or(invalid("the ID token was signed with an unknown key"))?;
        let mut last = invalid("the ID token was signed with an unknown key");
        let mut claims = None;
        for key in keys.iter().filter(|k| k.alg == header.alg) {
            let mut v = Validation::new(key.alg);
            v.set_issuer(&[&self.config.issuer]);
            v.set_audience(&[&self.config.client_id]);
            v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            v.leeway = LEEWAY.as_secs();
            v.validate_nbf = true;
            match jsonwebtoken::decode::<IdClaims>(id_token, &key.key, &v) {
                Ok(data) => {
                    claims = Some(data.claims);
                    break;
                }
                Err(e) => last = invalid(describe(&e)),
            }
        }
        let claims = claims.ok_or(last)?;
        self.check_claims(&claims, nonce)?;
        Ok(claims)
    }

    /// The checks `jsonwebtoken` does not make.
    fn check_claims(&self, c: &IdClaims, nonce: Option<&str>) -> Result<(), UpstreamError> {
        let invalid = UpstreamError::InvalidToken;
        let client_id = &self.config.client_id;
        let audiences = match &c.aud {
            Some(Value::Array(a)) => a.len(),
            _ => 1,
        };
        match &c.azp {
            Some(azp) if azp != client_id => {
                return Err(invalid("the ID token was issued to another client (azp)"));
            }
            None if audiences > 1 => {
                return Err(invalid(
                    "the ID token has several audiences and no authorized party (azp)",
                ));
            }
            _ => {}
        }
        let Some(iat) = c.iat else {
            return Err(invalid("the ID token has no issue time (iat)"));
        };
        let leeway = i64::try_from(LEEWAY.as_secs()).unwrap_or(30);
        if iat > unix_now() + leeway {
            return Err(invalid("the ID token was issued in the future (iat)"));
        }
        if let Some(expected) = nonce {
            let ok = c
                .nonce
                .as_deref()
                .is_some_and(|got| ct_eq(got.as_bytes(), expected.as_bytes()));
            if !ok {
                return Err(invalid("the ID token's nonce does not match the sign-in"));
            }
        }
        if c.sub.is_empty() || c.sub.len() > 255 {
            return Err(invalid("the ID token's subject (sub) is empty or too long"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_from_arrays_and_strings() {
        assert_eq!(
            groups_of(&serde_json::json!(["a", "b", 3])),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(
            groups_of(&serde_json::json!("a")),
            Some(vec!["a".to_owned()])
        );
        assert_eq!(groups_of(&serde_json::json!(7)), None);
    }
}
