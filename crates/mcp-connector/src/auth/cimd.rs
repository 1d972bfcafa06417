//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document):
//! a `client_id` that is an https URL names a JSON document describing the
//! client, fetched on demand.
//!
//! Fetching a URL chosen by an anonymous caller is a server-side request
//! forgery waiting to happen, so the fetch is fenced: https only, no
//! redirects, 5 s, 5 KB, and every address a host name resolves to is
//! checked *after* DNS resolution by `ssrf::GuardedResolver` (a name that
//! resolves to 169.254.169.254 is refused even though the URL looked
//! harmless). IP-literal hosts never reach a resolver, so they are checked
//! before the fetch.
//!
//! Claude's document is pinned: fetches from data centres have been
//! answered with bot challenges, and Claude must keep working then.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use url::Url;

use crate::clock::unix_now;
use crate::config::{AuthConfig, is_loopback_host};
use crate::store::oauth::{Client, ClientOrigin, NewClient};
use crate::store::{Db, StoreError};

mod ssrf;

pub use ssrf::is_forbidden;
pub(crate) use ssrf::is_never_reachable;
use ssrf::{BlockedAddress, GuardedResolver};

/// Claude's metadata document URL.
pub const CLAUDE_CLIENT_ID: &str = "https://claude.ai/oauth/mcp-oauth-client-metadata";
const CLAUDE_NAME: &str = "Claude";
const CLAUDE_REDIRECT: &str = "https://claude.ai/api/mcp/auth_callback";

const MAX_BODY: usize = 5 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_TTL: Duration = Duration::from_secs(3600);
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// A document marked uncacheable is still kept this long: one sign-in
/// looks the client up several times (authorize, login, consent, token).
const MIN_TTL: Duration = Duration::from_secs(60);
/// Failures are remembered briefly so that a flood of authorize requests
/// naming one bad URL does not turn into a flood of outbound fetches.
const FAILURE_TTL: Duration = Duration::from_secs(30);
/// The pinned copy is used until the next attempt to fetch the real one.
const PINNED_TTL: Duration = Duration::from_secs(600);
const CACHE_CAPACITY: usize = 1024;
const MAX_NAME_CHARS: usize = 200;
const MAX_REDIRECT_URIS: usize = 10;

/// Why a metadata document client id was not accepted. Messages name the
/// reason, never the document's content.
#[derive(Debug, thiserror::Error)]
pub enum CimdError {
    #[error("metadata documents are disabled")]
    Disabled,
    #[error("not a valid metadata document URL: {0}")]
    BadUrl(&'static str),
    #[error("the host resolves to a private, loopback or reserved address")]
    ForbiddenAddress,
    #[error("the document URL redirects; redirects are not followed")]
    Redirect,
    #[error("the document server answered HTTP {0}")]
    Status(u16),
    #[error("the document is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("fetching the document failed: {0}")]
    Fetch(String),
    #[error("invalid metadata document: {0}")]
    Invalid(&'static str),
    #[error("the document failed moments ago; not fetched again yet")]
    RecentlyFailed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CimdError {
    /// Failures of the network or the remote server, after which a copy
    /// stored earlier may stand in (as opposed to a refused document).
    fn is_transient(&self) -> bool {
        matches!(self, Self::Fetch(_) | Self::Status(500..=599))
    }
}

/// A validated document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
}

enum Entry {
    Ok(Document),
    Failed,
}

/// Fetches, validates and caches metadata documents.
pub struct CimdFetcher {
    enabled: bool,
    allow_private: bool,
    /// `None` if the HTTP client could not be built (then every fetch fails).
    http: Option<reqwest::Client>,
    cache: Mutex<HashMap<String, (Entry, Instant)>>,
}

impl CimdFetcher {
    pub fn new(config: &AuthConfig) -> Self {
        Self::build(config, None)
    }

    /// Like [`Self::new`], also trusting `root_pem` (a PEM certificate):
    /// for tests against a local HTTPS server, and for operators whose
    /// clients publish documents behind a private CA.
    pub fn with_root_certificate(config: &AuthConfig, root_pem: &[u8]) -> Self {
        let root = reqwest::Certificate::from_pem(root_pem)
            .map_err(|e| tracing::error!(error = %e, "CIMD root certificate unusable"))
            .ok();
        Self::build(config, root)
    }

    fn build(config: &AuthConfig, root: Option<reqwest::Certificate>) -> Self {
        let allow_private = config.cimd_allow_private_networks;
        let mut http = reqwest::Client::builder();
        if let Some(root) = root {
            http = http.add_root_certificate(root);
        }
        let http = http
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            // A proxy would resolve names itself, past the resolver's check.
            .no_proxy()
            .https_only(true)
            .user_agent(concat!("mcp-connector/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .build()
            .map_err(|e| tracing::error!(error = %e, "CIMD HTTP client unavailable"))
            .ok();
        Self {
            enabled: config.client_metadata_documents,
            allow_private,
            http,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The client that the document at `client_id` describes, stored (or
    /// refreshed) in the database so that grants and tokens can refer to
    /// it. `Ok(None)` if the stored copy was revoked by the operator.
    pub async fn resolve(&self, db: &Db, client_id: &str) -> Result<Option<Client>, CimdError> {
        if !self.enabled {
            return Err(CimdError::Disabled);
        }
        let url = check_url(client_id)?;
        if let Some(doc) = self.cached(client_id)? {
            return stored(db, &doc).await;
        }
        let fetched = self.fetch(&url).await;
        let doc = match fetched {
            Ok((doc, ttl)) => {
                self.remember(client_id, Entry::Ok(doc.clone()), ttl);
                doc
            }
            Err(e) if client_id == CLAUDE_CLIENT_ID => {
                tracing::warn!(reason = %e, "Claude's metadata document could not be fetched; using the pinned copy");
                let doc = claude_document();
                self.remember(client_id, Entry::Ok(doc.clone()), PINNED_TTL);
                doc
            }
            Err(e) if e.is_transient() => {
                // Stale-if-error: a copy validated earlier beats locking the
                // client out while its host is down.
                self.remember(client_id, Entry::Failed, FAILURE_TTL);
                match db.client(client_id).await? {
                    Some(c) if c.origin == ClientOrigin::Cimd => {
                        tracing::warn!(reason = %e, "metadata document unavailable; using the stored copy");
                        return Ok(c.revoked_at.is_none().then_some(c));
                    }
                    _ => return Err(e),
                }
            }
            Err(e) => {
                self.remember(client_id, Entry::Failed, FAILURE_TTL);
                return Err(e);
            }
        };
        upsert(db, &doc).await?;
        stored(db, &doc).await
    }

    fn cached(&self, client_id: &str) -> Result<Option<Document>, CimdError> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        match cache.get(client_id) {
            Some((entry, until)) if *until > Instant::now() => match entry {
                Entry::Ok(doc) => Ok(Some(doc.clone())),
                Entry::Failed => Err(CimdError::RecentlyFailed),
            },
            _ => Ok(None),
        }
    }

    fn remember(&self, client_id: &str, entry: Entry, ttl: Duration) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if cache.len() >= CACHE_CAPACITY && !cache.contains_key(client_id) {
            cache.retain(|_, (_, until)| *until > now);
            if cache.len() >= CACHE_CAPACITY {
                let oldest = cache
                    .iter()
                    .min_by_key(|(_, (_, until))| *until)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    cache.remove(&k);
                }
            }
        }
        cache.insert(client_id.to_owned(), (entry, now + ttl));
    }

    /// GET the document: no redirects, `Accept: application/json`, the body
    /// read in chunks and abandoned past [`MAX_BODY`].
    async fn fetch(&self, url: &Url) -> Result<(Document, Duration), CimdError> {
        if let Some(host) = url.host() {
            let ip = match host {
                url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
                url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
                url::Host::Domain(_) => None,
            };
            if ip.is_some_and(is_forbidden) && !self.allow_private {
                return Err(CimdError::ForbiddenAddress);
            }
        }
        let Some(http) = &self.http else {
            return Err(CimdError::Fetch("no HTTP client".into()));
        };
        let mut res = http
            .get(url.as_str())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(fetch_error)?;
        let status = res.status();
        if status.is_redirection() {
            return Err(CimdError::Redirect);
        }
        if status != reqwest::StatusCode::OK {
            return Err(CimdError::Status(status.as_u16()));
        }
        if res.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(CimdError::TooLarge);
        }
        let ttl = cache_ttl(res.headers());
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(fetch_error)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(CimdError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let value: Value =
            serde_json::from_slice(&body).map_err(|_| CimdError::Invalid("not JSON"))?;
        Ok((validate(url.as_str(), &value)?, ttl))
    }
}

/// The stored client for `doc`, re-creating it if cleanup removed it.
async fn stored(db: &Db, doc: &Document) -> Result<Option<Client>, CimdError> {
    let client = match db.client(&doc.client_id).await? {
        Some(c) => c,
        None => {
            upsert(db, doc).await?;
            db.client(&doc.client_id)
                .await?
                .ok_or(CimdError::Store(StoreError::Corrupt(
                    "CIMD client vanished",
                )))?
        }
    };
    if client.origin != ClientOrigin::Cimd {
        // An operator-created client cannot be replaced by a document.
        return Err(CimdError::Invalid(
            "client id is taken by a registered client",
        ));
    }
    Ok(client.revoked_at.is_none().then_some(client))
}

async fn upsert(db: &Db, doc: &Document) -> Result<(), StoreError> {
    db.upsert_cimd_client(&NewClient {
        id: doc.client_id.clone(),
        secret_hash: None,
        name: doc.client_name.clone(),
        redirect_uris: doc.redirect_uris.clone(),
        grant_types: doc.grant_types.clone(),
        scopes: String::new(),
        auth_method: "none".into(),
        origin: ClientOrigin::Cimd,
        now: unix_now(),
    })
    .await
}

/// Check the client id URL as written, without normalising it: https, a
/// host, a path other than `/`, no fragment, no user information and no
/// dot segments. The parsed form must serialise back to the same string,
/// so that two spellings of one URL cannot be two clients.
pub fn check_url(raw: &str) -> Result<Url, CimdError> {
    let url = Url::parse(raw).map_err(|_| CimdError::BadUrl("not an absolute URL"))?;
    if url.scheme() != "https" {
        return Err(CimdError::BadUrl("must be https"));
    }
    if raw.contains('#') {
        return Err(CimdError::BadUrl("must not have a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(CimdError::BadUrl("must not contain user information"));
    }
    if url.host().is_none() {
        return Err(CimdError::BadUrl("must have a host"));
    }
    let path_end = raw
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| raw[start..].find('/').map(|p| start + p));
    let Some(path_start) = path_end else {
        return Err(CimdError::BadUrl("must have a path"));
    };
    let path = raw[path_start..]
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    if path == "/" || path.is_empty() {
        return Err(CimdError::BadUrl("must have a path"));
    }
    let dot = |s: &str| {
        let s = s.to_ascii_lowercase().replace("%2e", ".");
        s == "." || s == ".."
    };
    if path.split('/').any(dot) {
        return Err(CimdError::BadUrl("must not contain . or .. segments"));
    }
    if url.as_str() != raw {
        return Err(CimdError::BadUrl("must be in canonical form"));
    }
    Ok(url)
}

/// Validate a fetched document for `url`.
pub fn validate(url: &str, doc: &Value) -> Result<Document, CimdError> {
    let obj = doc
        .as_object()
        .ok_or(CimdError::Invalid("not a JSON object"))?;
    if obj.get("client_id").and_then(Value::as_str) != Some(url) {
        return Err(CimdError::Invalid(
            "client_id differs from the document URL",
        ));
    }
    let name = obj
        .get("client_name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty() && !n.chars().any(char::is_control))
        .ok_or(CimdError::Invalid("client_name missing"))?;
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(CimdError::Invalid("client_name too long"));
    }
    let uris = obj
        .get("redirect_uris")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty() && a.len() <= MAX_REDIRECT_URIS)
        .ok_or(CimdError::Invalid("redirect_uris missing or too many"))?;
    let mut redirect_uris = Vec::with_capacity(uris.len());
    for u in uris {
        let u = u
            .as_str()
            .filter(|u| redirect_uri_allowed(u))
            .ok_or(CimdError::Invalid(
                "a redirect URI is not https or loopback http",
            ))?;
        redirect_uris.push(u.to_owned());
    }
    match obj.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => {}
        Some(Value::String(m)) if m == "none" => {}
        Some(_) => {
            return Err(CimdError::Invalid(
                "token_endpoint_auth_method must be none (no shared secrets)",
            ));
        }
    }
    if obj.contains_key("client_secret") {
        return Err(CimdError::Invalid(
            "a document must not carry a client_secret",
        ));
    }
    let grant_types = match obj.get("grant_types").and_then(Value::as_array) {
        Some(g) => g
            .iter()
            .filter_map(Value::as_str)
            .filter(|g| matches!(*g, "authorization_code" | "refresh_token"))
            .map(str::to_owned)
            .collect(),
        None => vec!["authorization_code".to_owned(), "refresh_token".to_owned()],
    };
    Ok(Document {
        client_id: url.to_owned(),
        client_name: name.to_owned(),
        redirect_uris,
        grant_types,
    })
}

/// A redirect URI a client may use: absolute, no fragment, https, or http
/// on a loopback host (native apps, RFC 8252 §7.3).
pub fn redirect_uri_allowed(raw: &str) -> bool {
    let Ok(url) = Url::parse(raw) else {
        return false;
    };
    if url.fragment().is_some() || raw.contains('#') {
        return false;
    }
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => url.host_str().is_some_and(is_loopback_host),
        _ => false,
    }
}

/// The pinned copy of Claude's document (fields this server uses).
pub fn claude_document() -> Document {
    Document {
        client_id: CLAUDE_CLIENT_ID.to_owned(),
        client_name: CLAUDE_NAME.to_owned(),
        redirect_uris: vec![CLAUDE_REDIRECT.to_owned()],
        grant_types: vec!["authorization_code".to_owned(), "refresh_token".to_owned()],
    }
}

/// How long to cache a document: `Cache-Control: max-age`, at least
/// [`MIN_TTL`], at most a day; an hour without one.
fn cache_ttl(headers: &reqwest::header::HeaderMap) -> Duration {
    let Some(cc) = headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    else {
        return DEFAULT_TTL;
    };
    let mut ttl = DEFAULT_TTL;
    for d in cc.split(',').map(str::trim) {
        let lower = d.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return MIN_TTL;
        }
        if let Some(v) = lower.strip_prefix("max-age=")
            && let Ok(secs) = v.trim_matches('"').parse::<u64>()
        {
            ttl = Duration::from_secs(secs);
        }
    }
    ttl.clamp(MIN_TTL, MAX_TTL)
}

fn fetch_error(e: reqwest::Error) -> CimdError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.downcast_ref::<BlockedAddress>().is_some() {
            return CimdError::ForbiddenAddress;
        }
        source = s.source();
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "reading the body failed"
    } else {
        "request failed"
    };
    CimdError::Fetch(kind.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_urls() {
        assert!(check_url(CLAUDE_CLIENT_ID).is_ok());
        assert!(check_url("https://example.com/c?x=1").is_ok());
        for bad in [
            "http://example.com/c",
            "https://example.com",
            "https://example.com/",
            "https://example.com/c#frag",
            "https://user:pw@example.com/c",
            "https://user@example.com/c",
            "https://example.com/a/../c",
            "https://example.com/a/./c",
            "https://example.com/a/%2e%2e/c",
            "https://EXAMPLE.com/c",
            "https://example.com:443/c",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn documents() {
        let url = "https://app.example/client.json";
        let good = serde_json::json!({
            "client_id": url, "client_name": "App",
            "redirect_uris": ["https://app.example/cb", "http://127.0.0.1/cb"],
            "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
            "token_endpoint_auth_method": "none",
        });
        let d = validate(url, &good).unwrap();
        assert_eq!(d.client_name, "App");
        assert_eq!(d.grant_types, ["authorization_code", "refresh_token"]);
        let mut other_id = good.clone();
        other_id["client_id"] = "https://app.example/other".into();
        let mut secret = good.clone();
        secret["token_endpoint_auth_method"] = "client_secret_basic".into();
        let mut http_uri = good.clone();
        http_uri["redirect_uris"] = serde_json::json!(["http://app.example/cb"]);
        let mut no_name = good.clone();
        no_name.as_object_mut().unwrap().remove("client_name");
        let mut no_uris = good.clone();
        no_uris["redirect_uris"] = serde_json::json!([]);
        for bad in [
            other_id,
            secret,
            http_uri,
            no_name,
            no_uris,
            serde_json::json!([1]),
        ] {
            assert!(validate(url, &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ttl_from_headers() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(cache_ttl(&h), DEFAULT_TTL);
        h.insert("cache-control", "public, max-age=300".parse().unwrap());
        assert_eq!(cache_ttl(&h), Duration::from_secs(300));
        h.insert("cache-control", "max-age=999999".parse().unwrap());
        assert_eq!(cache_ttl(&h), MAX_TTL);
        h.insert("cache-control", "no-store".parse().unwrap());
        assert_eq!(cache_ttl(&h), MIN_TTL);
    }
}
