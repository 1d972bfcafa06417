//! JWT access tokens from an external identity provider (`auth.mode =
//! "external"`), checked against the provider's JWKS.
//!
//! * Keys come from `[auth.external] jwks_url` (10 s timeout, 64 KiB cap,
//!   no redirects), are cached by `kid`, refetched every hour, and refetched
//!   early when a token names an unknown `kid` (key rotation) — at most once
//!   per 30 s, so that tokens with made-up `kid`s cannot make us hammer the
//!   provider.
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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::principal::Principal;
use super::scope::{ScopePolicy, ScopeSet};
use crate::config::ExternalIdp;

/// Refetch the key set this often even when every `kid` is known.
const MAX_KEY_AGE: Duration = Duration::from_secs(3600);
/// At most one refetch per this interval because of an unknown `kid`.
const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(30);
/// After a failed fetch, the next attempt waits this long (requests in the
/// meantime use the keys we have, or get 503 when there are none).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Keys kept from one key set; real providers publish a handful.
const MAX_KEYS: usize = 32;

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

struct Key {
    alg: Algorithm,
    key: DecodingKey,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<Key>>,
    /// Keys published without a `kid` (tried for tokens without one).
    anonymous: Vec<Arc<Key>>,
    /// Whether a fetch ever succeeded.
    loaded: bool,
    /// When the key set is due to be fetched again (`None`: never fetched).
    next_refresh: Option<Instant>,
    /// When the last fetch finished, successfully or not.
    last_attempt: Option<Instant>,
    last_unknown_refetch: Option<Instant>,
}

/// The identity provider's keys and the validation rules for its tokens.
pub struct Jwks {
    idp: ExternalIdp,
    audience: String,
    http: reqwest::Client,
    keys: Mutex<KeySet>,
    /// Serialises fetches: concurrent misses wait for one fetch.
    fetching: tokio::sync::Mutex<()>,
}

impl Jwks {
    /// `audience_default` (the MCP endpoint URL) applies unless the
    /// configuration names an audience.
    pub fn new(idp: ExternalIdp, audience_default: String) -> Self {
        let audience = idp.audience.clone().unwrap_or(audience_default);
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            idp,
            audience,
            http,
            keys: Mutex::new(KeySet::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.idp.issuer
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, KeySet> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Validate `token`; the principal it stands for.
    pub async fn validate(&self, token: &str, scopes: &ScopePolicy) -> Result<Principal, JwtError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| JwtError::Invalid("the token is not a JWT this server accepts"))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
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
        let candidates = self.candidates(header.kid.as_deref()).await?;
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

    /// The keys a token with `kid` may be signed with, fetching the key set
    /// when it is due; `None` when no such key exists.
    async fn candidates(&self, kid: Option<&str>) -> Result<Option<Vec<Arc<Key>>>, JwtError> {
        let lookup = |set: &KeySet| -> Option<Vec<Arc<Key>>> {
            match kid {
                Some(kid) => set.by_kid.get(kid).map(|k| vec![k.clone()]),
                None if set.anonymous.is_empty() => None,
                None => Some(set.anonymous.clone()),
            }
        };
        let unavailable = || JwtError::Unavailable("no key set fetched yet".into());
        let now = Instant::now();
        {
            let set = self.keys();
            let due = set.next_refresh.is_none_or(|t| now >= t);
            let found = lookup(&set);
            if !due {
                if found.is_some() {
                    return Ok(found);
                }
                if !set.loaded {
                    // The last attempt failed moments ago: do not retry per request.
                    return Err(unavailable());
                }
                let may_refetch = set
                    .last_unknown_refetch
                    .is_none_or(|at| now.duration_since(at) >= UNKNOWN_KID_REFETCH);
                if !may_refetch {
                    return Ok(None);
                }
            }
        }
        let _one = self.fetching.lock().await;
        {
            let mut set = self.keys();
            if set.last_attempt.is_some_and(|at| at >= now) {
                // Another request fetched (or failed to) while this one waited.
                let found = lookup(&set);
                return if found.is_none() && !set.loaded {
                    Err(unavailable())
                } else {
                    Ok(found)
                };
            }
            if set.next_refresh.is_some_and(|t| now < t) {
                set.last_unknown_refetch = Some(now);
            }
        }
        let fetched = self.fetch().await;
        let mut set = self.keys();
        let done = Instant::now();
        set.last_attempt = Some(done);
        match fetched {
            Ok(fetched) => {
                set.by_kid = fetched.by_kid;
                set.anonymous = fetched.anonymous;
                set.loaded = true;
                set.next_refresh = Some(done + MAX_KEY_AGE);
                Ok(lookup(&set))
            }
            Err(e) => {
                tracing::warn!(jwks_url = %self.idp.jwks_url, error = %e, "JWKS fetch failed");
                set.next_refresh = Some(done + RETRY_AFTER_FAILURE);
                // Keep serving with the keys we have.
                if set.loaded {
                    Ok(lookup(&set))
                } else {
                    Err(JwtError::Unavailable(e))
                }
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let mut res = self
            .http
            .get(self.idp.jwks_url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !res.status().is_success() {
            return Err(format!("HTTP {}", res.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| format!("read failed: {e}"))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let doc: JwkSet =
            serde_json::from_slice(&body).map_err(|e| format!("not a JWK set: {e}"))?;
        let mut set = KeySet::default();
        for jwk in doc.keys.iter().take(MAX_KEYS) {
            let Some(key) = jwk.decoding_key() else {
                continue;
            };
            let key = Arc::new(key);
            match &jwk.kid {
                Some(kid) => {
                    set.by_kid.insert(kid.clone(), key);
                }
                None => set.anonymous.push(key),
            }
        }
        if set.by_kid.is_empty() && set.anonymous.is_empty() {
            return Err("no usable RS256 or ES256 signing key".into());
        }
        Ok(set)
    }
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

/// One JWK; only the members we use, all optional so that one odd key does
/// not make the whole set unreadable.
#[derive(Deserialize)]
struct Jwk {
    kty: Option<String>,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

impl Jwk {
    fn decoding_key(&self) -> Option<Key> {
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        let (alg, key) = match self.kty.as_deref()? {
            "RSA" if self.alg.as_deref().is_none_or(|a| a == "RS256") => (
                Algorithm::RS256,
                DecodingKey::from_rsa_components(self.n.as_deref()?, self.e.as_deref()?).ok()?,
            ),
            "EC" if self.crv.as_deref() == Some("P-256")
                && self.alg.as_deref().is_none_or(|a| a == "ES256") =>
            {
                let (x, y) = (self.x.as_deref()?, self.y.as_deref()?);
                // Each coordinate of a P-256 point is 32 bytes (43 base64url).
                if x.len() != 43 || y.len() != 43 {
                    return None;
                }
                (
                    Algorithm::ES256,
                    DecodingKey::from_ec_components(x, y).ok()?,
                )
            }
            _ => return None,
        };
        Some(Key { alg, key })
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
fn describe(e: &jsonwebtoken::errors::Error) -> &'static str {
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
    fn jwk_filtering() {
        let parse = |v: Value| serde_json::from_value::<Jwk>(v).expect("jwk");
        let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
        let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
        assert!(
            parse(serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}))
                .decoding_key()
                .is_some()
        );
        // Encryption keys, other curves, HMAC keys and mismatched algs are skipped.
        for v in [
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "use": "enc"}),
            serde_json::json!({"kty": "EC", "crv": "P-384", "x": x, "y": y}),
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "alg": "ES384"}),
            serde_json::json!({"kty": "oct", "k": "c2VjcmV0"}),
            serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "alg": "RS512"}),
        ] {
            assert!(parse(v).decoding_key().is_none());
        }
    }

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
