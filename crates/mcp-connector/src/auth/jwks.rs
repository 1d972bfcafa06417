//! A cache of an identity provider's signing keys (JWKS), shared by the
//! three places that check its JWTs: access tokens in `external` mode
//! ([`super::external`]), ID tokens of the upstream sign-in
//! ([`super::upstream`]) and ID-JAG assertions ([`super::id_jag`]).
//!
//! * Keys are fetched from the key set URL (10 s timeout, 64 KiB cap, no
//!   redirects), cached by `kid`, refetched every hour, and refetched early
//!   when a JWT names an unknown `kid` (key rotation) — at most once per
//!   30 s, so that JWTs with made-up `kid`s cannot make us hammer the
//!   provider.
//! * Only RS256 and ES256 keys are kept. The algorithm is taken from the
//!   key, never from the JWT: `none`, HS* (a public key used as an HMAC
//!   secret) and any mismatch are refused by the callers.
//! * When the provider is unreachable, the keys already fetched keep
//!   working; with none yet, callers answer "unavailable", never "invalid".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use url::Url;

/// Refetch the key set this often even when every `kid` is known.
const MAX_KEY_AGE: Duration = Duration::from_secs(3600);
/// At most one refetch per this interval because of an unknown `kid`.
const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(30);
/// After a failed fetch, the next attempt waits this long.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Keys kept from one key set; real providers publish a handful.
const MAX_KEYS: usize = 32;

/// One verification key and the only algorithm it may verify.
pub struct VerifyKey {
    pub alg: Algorithm,
    pub key: DecodingKey,
}

#[derive(Default)]
struct KeySet {
    /// The URL the keys came from (a discovery document may change it).
    url: Option<Url>,
    by_kid: HashMap<String, Arc<VerifyKey>>,
    /// Keys published without a `kid` (tried for JWTs without one).
    anonymous: Vec<Arc<VerifyKey>>,
    /// Whether a fetch ever succeeded.
    loaded: bool,
    /// When the key set is due to be fetched again (`None`: never fetched).
    next_refresh: Option<Instant>,
    /// When the last fetch finished, successfully or not.
    last_attempt: Option<Instant>,
    last_unknown_refetch: Option<Instant>,
}

/// The keys of one provider.
pub struct KeyCache {
    http: reqwest::Client,
    keys: Mutex<KeySet>,
    /// Serialises fetches: concurrent misses wait for one fetch.
    fetching: tokio::sync::Mutex<()>,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyCache {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            http,
            keys: Mutex::new(KeySet::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, KeySet> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The keys published at `url` that a JWT with `kid` may be signed with,
    /// fetching the key set when it is due. `Ok(None)`: no such key (after a
    /// refetch, if one was allowed). `Err`: no key set could be fetched yet.
    pub async fn candidates(
        &self,
        url: &Url,
        kid: Option<&str>,
    ) -> Result<Option<Vec<Arc<VerifyKey>>>, String> {
        let lookup = |set: &KeySet| -> Option<Vec<Arc<VerifyKey>>> {
            match kid {
                Some(kid) => set.by_kid.get(kid).map(|k| vec![k.clone()]),
                None if set.anonymous.is_empty() => None,
                None => Some(set.anonymous.clone()),
            }
        };
        let now = Instant::now();
        {
            let set = self.keys();
            let same_url = set.url.as_ref() == Some(url);
            let due = !same_url || set.next_refresh.is_none_or(|t| now >= t);
            let found = lookup(&set);
            if !due {
                if found.is_some() {
                    return Ok(found);
                }
                if !set.loaded {
                    // The last attempt failed moments ago: do not retry per request.
                    return Err("no key set fetched yet".into());
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
            if set.url.as_ref() == Some(url) && set.last_attempt.is_some_and(|at| at >= now) {
                // Another request fetched (or failed to) while this one waited.
                let found = lookup(&set);
                return if found.is_none() && !set.loaded {
                    Err("no key set fetched yet".into())
                } else {
                    Ok(found)
                };
            }
            if set.next_refresh.is_some_and(|t| now < t) {
                set.last_unknown_refetch = Some(now);
            }
        }
        let fetched = self.fetch(url).await;
        let mut set = self.keys();
        let done = Instant::now();
        set.last_attempt = Some(done);
        match fetched {
            Ok(fetched) => {
                set.url = Some(url.clone());
                set.by_kid = fetched.by_kid;
                set.anonymous = fetched.anonymous;
                set.loaded = true;
                set.next_refresh = Some(done + MAX_KEY_AGE);
                Ok(lookup(&set))
            }
            Err(e) => {
                tracing::warn!(jwks_url = %url, error = %e, "JWKS fetch failed");
                set.next_refresh = Some(done + RETRY_AFTER_FAILURE);
                // Keep serving with the keys we have (from this URL).
                if set.loaded && set.url.as_ref() == Some(url) {
                    Ok(lookup(&set))
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn fetch(&self, url: &Url) -> Result<KeySet, String> {
        let body = get_json_bytes(&self.http, url, MAX_JWKS_BYTES).await?;
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

/// `GET url` as JSON, at most `max` bytes: the body, or why not (for the log).
pub async fn get_json_bytes(
    http: &reqwest::Client,
    url: &Url,
    max: usize,
) -> Result<Vec<u8>, String> {
    let res = http
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    if !res.status().is_success() {
        return Err(format!("HTTP {}", res.status().as_u16()));
    }
    read_capped(res, max).await
}

/// The body of `res`, refused past `max` bytes.
pub async fn read_capped(mut res: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| format!("read failed: {e}"))? {
        if body.len() + chunk.len() > max {
            return Err(format!("larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

/// One JWK; only the members we use, all optional so that one odd key does
/// not make the whole set unreadable.
#[derive(Deserialize)]
pub(super) struct Jwk {
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
    pub(super) fn decoding_key(&self) -> Option<VerifyKey> {
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
        Some(VerifyKey { alg, key })
    }
}

/// The algorithms a provider's JWTs may use: the asymmetric ones we keep
/// keys for. `none` and HS* never pass.
pub fn is_accepted_alg(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::RS256 | Algorithm::ES256)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

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
        assert!(!is_accepted_alg(Algorithm::HS256));
        assert!(is_accepted_alg(Algorithm::ES256));
    }
}
