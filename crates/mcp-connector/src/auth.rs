//! Authentication of `/mcp`: OAuth 2.1 protected resource, built-in
//! authorization server, and tokens from an external identity provider.
//!
//! # Layout
//! * [`scope`]: which tool needs which scope, role ceilings, scope parsing.
//! * [`principal`]: the caller a token stands for.
//! * [`error`]: [`OAuthError`], the RFC 6749 error shape, mapped in one place.
//! * [`metadata`]: RFC 9728 protected resource and RFC 8414 / OpenID metadata.
//! * [`authorize`], [`consent`], [`pages`], [`login`]: `/authorize`, the
//!   login and consent pages and login throttling.
//! * [`token`], [`register`], [`revoke`], [`client_auth`]: `/token`,
//!   `/register` (RFC 7591), `/revoke` (RFC 7009), client authentication.
//! * [`params`]: query and form parameters of every endpoint, parsed one way.
//! * [`cimd`]: Client ID Metadata Documents, fetched with SSRF protection.
//! * [`resource`], [`cache`]: the bearer-token layer in front of `/mcp` and its
//!   bounded validation cache.
//! * [`external`]: JWT validation against an identity provider's JWKS.
//! * [`jwks`]: the signing-key cache shared by every JWT check.
//! * [`cleanup`]: removal of expired rows and unused registrations.
//! * [`issue`]: minting codes and tokens.
//! * [`events`]: authentication events in the audit trail.
//! * [`upstream`]: sign-in with the company's OpenID Connect provider, and
//!   the periodic re-check of its users.
//! * [`session`], [`signin`]: the connector's browser session, the
//!   standalone `/signin` and `/signout`.
//! * [`approve`]: `/approve/{id}`, where a person approves or rejects a
//!   destructive tool call (out-of-band approval).
//! * [`id_jag`]: Enterprise-Managed Authorization (ID-JAG assertions at
//!   `/token`, RFC 7523).

pub mod approve;
pub mod authorize;
pub mod cache;
pub mod cimd;
pub mod cleanup;
pub mod client_auth;
pub mod consent;
pub mod error;
pub mod events;
pub mod external;
pub mod flow;
pub mod hashing;
pub mod id_jag;
pub mod issue;
pub mod jwks;
pub mod login;
pub mod metadata;
pub mod pages;
pub mod params;
pub mod principal;
pub mod register;
pub mod resource;
pub mod revoke;
pub mod scope;
pub mod session;
pub mod signin;
pub mod throttle;
pub mod token;
pub mod upstream;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use mcp_connector_security::Sealer;
use url::Url;

use crate::audit::AuditSink;
use crate::clock::Clock;
use crate::config::{AuthConfig, AuthMode, Config};
use crate::store::{Db, StoreError};

pub use self::error::OAuthError;
pub use self::principal::Principal;
pub use self::scope::{ScopePolicy, ScopeSet, ToolScopes};

/// Name of the server secret that seals the login and consent forms.
const FORM_SECRET: &str = "oauth-form-seal-v1";
/// Name of the server secret that, with the upstream client secret, keys
/// the encryption of the identity provider's refresh tokens.
const UPSTREAM_SECRET: &str = "upstream-refresh-seal-v1";

/// The tools the consent page lists under each scope: what is served right
/// now (the MCP layer provides it; authentication sits below it).
pub trait ToolDirectory: Send + Sync {
    /// The served tools (after read-only mode and `enabled = false`).
    fn served_tools(&self) -> Vec<rmcp::model::Tool>;
}

/// No tools known (until the server wires the live catalog in).
struct NoTools;

impl ToolDirectory for NoTools {
    fn served_tools(&self) -> Vec<rmcp::model::Tool> {
        Vec::new()
    }
}

/// Everything authentication shares between requests. Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    pub config: Arc<AuthConfig>,
    /// The authorization server's issuer: the public origin exactly, no
    /// path, no trailing slash (`https://tools.example.com`). In `external`
    /// mode, the identity provider's issuer.
    pub issuer: Arc<str>,
    /// The canonical MCP endpoint URL (`https://tools.example.com/mcp`):
    /// the protected resource and the audience of every token.
    pub resource: Arc<str>,
    /// The public origin of this server (`https://tools.example.com`).
    pub origin: Arc<str>,
    /// Whether the origin is https (cookies get `Secure` and `__Host-`).
    pub secure_cookies: bool,
    pub db: Db,
    /// Seals login and consent form state.
    pub sealer: Sealer,
    pub scopes: Arc<ScopePolicy>,
    pub cache: Arc<cache::TokenCache>,
    pub cimd: Arc<cimd::CimdFetcher>,
    pub logins: Arc<login::LoginLimiter>,
    /// Password checks: a fixed pool of workers with a bounded queue.
    pub hasher: Arc<hashing::Hasher>,
    /// Registrations per client address (`auth.registrations_per_hour`).
    pub registrations: Arc<throttle::Budget<std::net::IpAddr>>,
    /// Failed bearer-token checks per client address
    /// (`limits.auth_failures_per_minute`): refused early when used up.
    pub failures: Arc<throttle::Budget<std::net::IpAddr>>,
    /// `Some` in `external` mode.
    pub jwks: Option<Arc<external::Jwks>>,
    /// The audit trail, for authentication events ([`events`]).
    pub audit: AuditSink,
    /// What every expiry here is measured by: codes, tokens, form state,
    /// browser sessions (tests move it forward instead of sleeping).
    pub clock: Clock,
    /// `[auth.upstream]`: the company's identity provider.
    pub upstream: Option<Arc<upstream::Upstream>>,
    /// `[auth.id_jag]`: the issuer of ID-JAG assertions.
    pub id_jag: Option<Arc<id_jag::Verifier>>,
    /// `server.display_name`, for the pages.
    pub display_name: Arc<str>,
    /// The served tools, for the consent page.
    pub tools: Arc<dyn ToolDirectory>,
    /// Token issuance and refusals are counted here (disabled until the
    /// app sets the server's registry).
    pub metrics: crate::telemetry::Metrics,
}

impl Auth {
    /// Build the authentication state for `config`, or `None` when
    /// `auth.mode = "none"`. `scopes` are the catalog's scope names;
    /// authentication events go to `audit`.
    pub async fn build(
        config: &Config,
        db: &Db,
        scopes: &ToolScopes,
        audit: &AuditSink,
    ) -> Result<Option<Self>, StoreError> {
        let auth = &config.auth;
        if auth.mode == AuthMode::None {
            return Ok(None);
        }
        // Config validation guarantees a public URL in the other modes.
        let Some(public) = &config.public_origin else {
            return Ok(None);
        };
        let origin = public.origin().ascii_serialization();
        let resource = format!("{origin}/mcp");
        let issuer = match (&auth.mode, &auth.external) {
            (AuthMode::External, Some(idp)) => idp.issuer.clone(),
            _ => origin.clone(),
        };
        let jwks = match &auth.external {
            Some(idp) if auth.mode == AuthMode::External => {
                Some(Arc::new(external::Jwks::new(idp.clone(), resource.clone())))
            }
            _ => None,
        };
        let upstream = match &auth.upstream {
            Some(u) if auth.mode == AuthMode::OAuth => {
                let secret = db.server_secret(UPSTREAM_SECRET).await?;
                Some(Arc::new(upstream::Upstream::new(
                    u.clone(),
                    &origin,
                    &secret,
                )))
            }
            _ => None,
        };
        let id_jag = auth
            .id_jag
            .as_ref()
            .filter(|_| auth.mode == AuthMode::OAuth)
            .map(|j| Arc::new(id_jag::Verifier::new(j.clone(), upstream.clone())));
        let clock = Clock::system();
        Ok(Some(Self {
            upstream,
            id_jag,
            display_name: config.display_name.as_str().into(),
            tools: Arc::new(NoTools),
            metrics: crate::telemetry::Metrics::disabled(),
            secure_cookies: public.scheme() == "https",
            issuer: issuer.into(),
            resource: resource.into(),
            origin: origin.into(),
            db: db.clone(),
            sealer: Sealer::new(&db.server_secret(FORM_SECRET).await?),
            scopes: Arc::new(ScopePolicy::new(scopes, &auth.roles)),
            cache: Arc::new(cache::TokenCache::with_clock(
                cache::DEFAULT_CAPACITY,
                clock.clone(),
            )),
            cimd: Arc::new(cimd::CimdFetcher::new(auth)),
            logins: Arc::new(login::LoginLimiter::new(auth.login_attempts_per_minute)),
            hasher: Arc::new(hashing::Hasher::new()),
            registrations: Arc::new(throttle::Budget::new(
                auth.registrations_per_hour,
                std::time::Duration::from_secs(3600),
            )),
            failures: Arc::new(throttle::Budget::new(
                config.limits.auth_failures_per_minute,
                std::time::Duration::from_secs(60),
            )),
            jwks,
            audit: audit.clone(),
            clock,
            config: Arc::new(auth.clone()),
        }))
    }

    /// Whether this server runs the authorization server (mode `oauth`).
    pub fn is_authorization_server(&self) -> bool {
        self.config.mode == AuthMode::OAuth
    }

    /// URL of the protected resource metadata for `/mcp` (path-inserted).
    pub fn resource_metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-protected-resource/mcp", self.origin)
    }

    /// Whether `candidate` names this server's MCP endpoint: the canonical
    /// URL, with scheme and host compared case-insensitively and a trailing
    /// slash tolerated (MCP §Canonical Server URI).
    pub fn is_this_resource(&self, candidate: &str) -> bool {
        let Ok(url) = Url::parse(candidate) else {
            return false;
        };
        let Ok(ours) = Url::parse(&self.resource) else {
            return false;
        };
        url.origin() == ours.origin()
            && url.path().trim_end_matches('/') == ours.path()
            && url.query().is_none()
            && url.fragment().is_none()
    }
}

/// Routes of the authorization server and the resource metadata, at the
/// root of the origin (Claude calls `/authorize`, `/token` and `/register`
/// there whatever the metadata says).
pub fn routes(auth: Auth) -> Router {
    use metadata::preflight;
    let prm = || get(metadata::protected_resource).options(preflight);
    let mut r = Router::new()
        .route("/.well-known/oauth-protected-resource", prm())
        .route("/.well-known/oauth-protected-resource/mcp", prm());
    if auth.is_authorization_server() {
        let asm = || get(metadata::authorization_server).options(preflight);
        r = r
            .route("/.well-known/oauth-authorization-server", asm())
            .route("/.well-known/openid-configuration", asm())
            // Path-inserted variants (RFC 8414 §3.1) for clients that probe
            // with the resource's path instead of the path-less issuer's.
            .route("/.well-known/oauth-authorization-server/mcp", asm())
            .route("/.well-known/openid-configuration/mcp", asm())
            .route("/mcp/.well-known/openid-configuration", asm())
            .route("/authorize", get(authorize::start).post(authorize::submit))
            .route("/signin", get(signin::page).post(signin::submit))
            .route("/signout", post(signin::sign_out))
            .route("/approve/{id}", get(approve::show).post(approve::decide))
            .route("/oauth/upstream/callback", get(upstream::login::callback))
            .route("/token", post(token::token).options(preflight))
            .route("/register", post(register::register).options(preflight))
            .route("/revoke", post(revoke::revoke).options(preflight));
    }
    r.with_state(auth)
}
