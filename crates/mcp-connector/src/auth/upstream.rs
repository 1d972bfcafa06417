//! The company's OpenID Connect provider (`[auth.upstream]`): discovery,
//! the authorization code exchange with PKCE, ID token validation, refresh
//! and userinfo. The browser side of the sign-in is [`login`]; the periodic
//! re-check of signed-in users is [`recheck`].
//!
//! Every request to the provider has a 10 s timeout, follows no redirect
//! and reads at most 64 KiB. Discovery is fetched on first use (the server
//! starts while the provider is down) and cached for an hour; its `issuer`
//! must equal the configured one exactly (OpenID Connect Discovery §4.3),
//! and every endpoint must be https (http only on loopback, for tests).

pub mod id_token;
pub mod login;
pub mod recheck;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mcp_connector_security::Vault;
use serde::Deserialize;
use url::Url;

use super::jwks::{KeyCache, get_json_bytes, read_capped};
use super::scope::ScopePolicy;
use crate::config::{ClientAuth, UpstreamIdp, check_idp_url};

pub use id_token::IdClaims;

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BODY: usize = 64 * 1024;
/// A discovery document is used this long before it is fetched again.
const DISCOVERY_MAX_AGE: Duration = Duration::from_secs(3600);
/// After a failed discovery, requests wait this long before the next try.
const DISCOVERY_RETRY: Duration = Duration::from_secs(5);
/// Seal context prefix of a stored refresh token (the user id follows).
const REFRESH_CONTEXT: &str = "upstream-refresh-token:";

/// Why a step with the provider failed. The messages are for the log; the
/// pages say only which kind of failure it was.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Unreachable, timed out, a 5xx, or an unreadable answer.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// The provider answers, but not as configured (issuer mismatch, an
    /// http endpoint, our client refused).
    #[error("identity provider misconfigured: {0}")]
    Misconfigured(String),
    /// The provider refused the grant (`invalid_grant`: code or refresh
    /// token no longer valid, user deprovisioned).
    #[error("identity provider refused the grant: {0}")]
    Refused(String),
    /// The ID token failed validation.
    #[error("ID token rejected: {0}")]
    InvalidToken(&'static str),
}

/// The parts of the provider's discovery document the sign-in uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks_uri: Url,
    #[serde(default)]
    pub userinfo_endpoint: Option<Url>,
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
}

/// What the token endpoint returned.
#[derive(Deserialize)]
pub struct TokenSet {
    pub access_token: Option<String>,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSet(<redacted>)")
    }
}

#[derive(Default)]
struct Cached {
    doc: Option<(Arc<Discovery>, Instant)>,
    failed_at: Option<Instant>,
}

/// The provider, as the connector's client of it. Cheap to share (`Arc`).
pub struct Upstream {
    pub config: UpstreamIdp,
    /// `{public origin}/oauth/upstream/callback`.
    pub redirect_uri: String,
    http: reqwest::Client,
    discovery: Mutex<Cached>,
    fetching: tokio::sync::Mutex<()>,
    pub(super) keys: KeyCache,
    /// Encrypts the provider's refresh tokens at rest.
    vault: Vault,
}

impl Upstream {
    /// `db_secret` and the configured client secret together make the key
    /// that seals refresh tokens: neither a database dump nor the config
    /// alone opens them.
    pub fn new(config: UpstreamIdp, origin: &str, db_secret: &[u8]) -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let vault = Vault::derived(
            "upstream-refresh-token-v1",
            &[db_secret, config.client_secret.expose().as_bytes()],
        );
        Self {
            redirect_uri: format!("{origin}/oauth/upstream/callback"),
            config,
            http,
            discovery: Mutex::new(Cached::default()),
            fetching: tokio::sync::Mutex::new(()),
            keys: KeyCache::new(),
            vault,
        }
    }

    /// A short name of the provider for the sign-in button (its host).
    pub fn label(&self) -> String {
        Url::parse(&self.config.issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| self.config.issuer.clone())
    }

    /// The origin the sign-in button's form ends up at (its redirect to the
    /// provider): for the pages' CSP `form-action`, which browsers apply to
    /// the redirect after a form post.
    pub fn form_action_origin(&self) -> String {
        let endpoint = self
            .cached()
            .doc
            .as_ref()
            .map(|(d, _)| d.authorization_endpoint.clone());
        endpoint
            .or_else(|| Url::parse(&self.config.issuer).ok())
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.discovery.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The discovery document, fetched when due.
    pub async fn discovery(&self) -> Result<Arc<Discovery>, UpstreamError> {
        let fresh = |c: &Cached| {
            c.doc
                .as_ref()
                .filter(|(_, at)| at.elapsed() < DISCOVERY_MAX_AGE)
                .map(|(d, _)| d.clone())
        };
        if let Some(d) = fresh(&self.cached()) {
            return Ok(d);
        }
        let _one = self.fetching.lock().await;
        {
            let c = self.cached();
            if let Some(d) = fresh(&c) {
                return Ok(d);
            }
            if c.failed_at.is_some_and(|t| t.elapsed() < DISCOVERY_RETRY) {
                return match &c.doc {
                    // A stale document beats none while the provider is down.
                    Some((d, _)) => Ok(d.clone()),
                    None => Err(UpstreamError::Unavailable(
                        "discovery failed moments ago".into(),
                    )),
                };
            }
        }
        match self.fetch_discovery().await {
            Ok(doc) => {
                let doc = Arc::new(doc);
                let mut c = self.cached();
                c.doc = Some((doc.clone(), Instant::now()));
                c.failed_at = None;
                Ok(doc)
            }
            Err(e) => {
                tracing::warn!(issuer = %self.config.issuer, error = %e, "identity provider discovery failed");
                let mut c = self.cached();
                c.failed_at = Some(Instant::now());
                match (&c.doc, &e) {
                    (Some((d, _)), UpstreamError::Unavailable(_)) => Ok(d.clone()),
                    _ => Err(e),
                }
            }
        }
    }

    async fn fetch_discovery(&self) -> Result<Discovery, UpstreamError> {
        let url = discovery_url(&self.config.issuer)?;
        let body = get_json_bytes(&self.http, &url, MAX_BODY)
            .await
            .map_err(UpstreamError::Unavailable)?;
        let doc: Discovery = serde_json::from_slice(&body)
            .map_err(|e| UpstreamError::Misconfigured(format!("not a discovery document: {e}")))?;
        if doc.issuer != self.config.issuer {
            return Err(UpstreamError::Misconfigured(format!(
                "the discovery document names issuer `{}`, not the configured `{}`",
                doc.issuer, self.config.issuer
            )));
        }
        for (key, url) in [
            ("authorization_endpoint", Some(&doc.authorization_endpoint)),
            ("token_endpoint", Some(&doc.token_endpoint)),
            ("jwks_uri", Some(&doc.jwks_uri)),
            ("userinfo_endpoint", doc.userinfo_endpoint.as_ref()),
        ] {
            let Some(url) = url else { continue };
            // Query strings are legitimate on endpoints (Entra ID's
            // `?appid=`), so only the scheme and host rule is applied.
            let mut bare = url.clone();
            bare.set_query(None);
            if check_idp_url("auth.upstream.issuer", bare.as_str()).is_err() {
                return Err(UpstreamError::Misconfigured(format!(
                    "{key} `{url}` is not https"
                )));
            }
        }
        Ok(doc)
    }

    /// The scopes to request: the configured ones, plus `offline_access`
    /// when users are re-checked and the provider offers it (so that it
    /// returns a refresh token).
    pub fn scopes(&self, doc: &Discovery) -> String {
        let mut scopes = self.config.scopes.clone();
        let offered = doc
            .scopes_supported
            .as_ref()
            .is_some_and(|s| s.iter().any(|x| x == "offline_access"));
        if self.config.recheck.is_some() && offered && !scopes.iter().any(|s| s == "offline_access")
        {
            scopes.push("offline_access".into());
        }
        scopes.join(" ")
    }

    /// Where to send the browser: the provider's authorization endpoint
    /// with PKCE S256, `state` and `nonce`.
    pub fn authorization_url(
        &self,
        doc: &Discovery,
        state: &str,
        nonce: &str,
        challenge: &str,
    ) -> Url {
        let mut url = doc.authorization_endpoint.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", &self.scopes(doc))
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        url
    }

    /// Redeem an authorization code.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
    ) -> Result<TokenSet, UpstreamError> {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", &self.redirect_uri),
        ])
        .await
    }

    /// Use a refresh token (the re-check).
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, UpstreamError> {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    async fn token_request(&self, params: &[(&str, &str)]) -> Result<TokenSet, UpstreamError> {
        let doc = self.discovery().await?;
        let c = &self.config;
        // Built before any await: the serializer is not `Send`.
        let (body, basic) = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.extend_pairs(params);
            let basic = match c.client_auth {
                ClientAuth::Basic => {
                    // RFC 6749 §2.3.1: each part form-encoded before base64.
                    let enc = |s: &str| {
                        url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                    };
                    let pair = format!("{}:{}", enc(&c.client_id), enc(c.client_secret.expose()));
                    Some(format!("Basic {}", STANDARD.encode(pair)))
                }
                ClientAuth::Post => {
                    form.append_pair("client_id", &c.client_id);
                    form.append_pair("client_secret", c.client_secret.expose());
                    None
                }
            };
            (form.finish(), basic)
        };
        let mut req = self
            .http
            .post(doc.token_endpoint.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        if let Some(b) = basic {
            req = req.header(reqwest::header::AUTHORIZATION, b);
        }
        let res = req.body(body).send().await.map_err(|e| {
            UpstreamError::Unavailable(format!("token request failed: {}", chain(&e)))
        })?;
        let status = res.status();
        let body = read_capped(res, MAX_BODY)
            .await
            .map_err(UpstreamError::Unavailable)?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                UpstreamError::Unavailable(format!("unreadable token response: {e}"))
            });
        }
        let error = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_default();
        Err(match (status.as_u16(), error.as_str()) {
            (_, "invalid_grant") => UpstreamError::Refused(error),
            (401, _) | (_, "invalid_client" | "unauthorized_client") => {
                UpstreamError::Misconfigured(format!(
                    "the provider refused the connector's client ({error})"
                ))
            }
            (s, _) if s >= 500 => UpstreamError::Unavailable(format!("HTTP {s}")),
            (s, e) => UpstreamError::Refused(format!("HTTP {s} {e}")),
        })
    }

    /// The userinfo claims for `access_token`, if the provider has the
    /// endpoint: where groups live when the ID token has none.
    pub async fn userinfo(
        &self,
        access_token: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, UpstreamError> {
        let doc = self.discovery().await?;
        let Some(url) = &doc.userinfo_endpoint else {
            return Ok(None);
        };
        let res = self
            .http
            .get(url.clone())
            .bearer_auth(access_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("userinfo request failed: {e}")))?;
        if !res.status().is_success() {
            return Err(UpstreamError::Unavailable(format!(
                "userinfo answered HTTP {}",
                res.status().as_u16()
            )));
        }
        let body = read_capped(res, MAX_BODY)
            .await
            .map_err(UpstreamError::Unavailable)?;
        // A signed (JWT) userinfo response is not used: groups are then
        // expected in the ID token.
        Ok(serde_json::from_slice(&body).ok())
    }

    /// The role of a user in `groups` (`None`: the claim was absent): the
    /// mapped role with the most scopes (ties: the first by name), else
    /// `default_role`; `None` when the user may not sign in.
    pub fn role_for(&self, groups: Option<&[String]>, policy: &ScopePolicy) -> Option<String> {
        let mapped = groups
            .unwrap_or_default()
            .iter()
            .filter_map(|g| self.config.roles.get(g))
            .max_by(|a, b| {
                let (ca, cb) = (policy.ceiling(a), policy.ceiling(b));
                ca.iter()
                    .count()
                    .cmp(&cb.iter().count())
                    .then_with(|| b.cmp(a))
            });
        mapped.cloned().or_else(|| self.config.default_role.clone())
    }

    /// Encrypt the provider's refresh token for user `user_id`.
    pub fn seal_refresh(&self, user_id: &str, token: &str) -> Option<String> {
        self.vault
            .seal(&format!("{REFRESH_CONTEXT}{user_id}"), token.as_bytes())
            .ok()
    }

    /// Decrypt the refresh token stored for `user_id`; `None` when it cannot
    /// be opened (the client secret changed, or it was tampered with).
    pub fn open_refresh(&self, user_id: &str, sealed: &str) -> Option<String> {
        let bytes = self
            .vault
            .open(&format!("{REFRESH_CONTEXT}{user_id}"), sealed)
            .ok()?;
        String::from_utf8(bytes).ok()
    }
}

/// `e` with its sources, for the log (reqwest's own message names only
/// the outermost failure).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text
}

/// `{issuer}/.well-known/openid-configuration` (a trailing slash of the
/// issuer is not doubled).
fn discovery_url(issuer: &str) -> Result<Url, UpstreamError> {
    let base = issuer.trim_end_matches('/');
    Url::parse(&format!("{base}/.well-known/openid-configuration"))
        .map_err(|e| UpstreamError::Misconfigured(format!("issuer is not a URL: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_url_appends_the_well_known_path() {
        assert_eq!(
            discovery_url("https://login.example.com").unwrap().as_str(),
            "https://login.example.com/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://login.example.com/realms/acme/")
                .unwrap()
                .as_str(),
            "https://login.example.com/realms/acme/.well-known/openid-configuration"
        );
    }
}
