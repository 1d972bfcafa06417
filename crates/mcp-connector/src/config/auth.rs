//! `[auth]`: validated into [`AuthConfig`].

use std::collections::BTreeMap;
use std::time::Duration;

use url::Url;

use super::ConfigError;
use super::file::{AuthSection, ExternalSection};
use super::host::is_loopback_host;
use super::scope::is_scope_token;
use super::upstream::{self, IdJag, UpstreamIdp};

/// How requests to `/mcp` are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// No authentication: network controls only (loopback or `network.allow`).
    None,
    /// The built-in OAuth 2.1 authorization server issues the tokens.
    #[value(name = "oauth")]
    OAuth,
    /// JWT access tokens from an existing identity provider, checked by JWKS.
    External,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::OAuth => "oauth",
            Self::External => "external",
        }
    }
}

/// `[auth.external]`: the identity provider whose tokens are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdp {
    /// The `iss` claim, exactly; named in the protected resource metadata.
    pub issuer: String,
    /// Where its signing keys are published.
    pub jwks_url: Url,
    /// The `aud` claim tokens must carry; defaults to the MCP endpoint URL.
    pub audience: Option<String>,
    /// Allowed clock skew for `exp`/`nbf`.
    pub leeway: Duration,
}

/// Validated `[auth]`. Secure defaults in `impl Default`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// Lifetime of an access token (default 1 hour, at most 30 days for
    /// clients that never refresh); `client add --access-token-ttl`
    /// overrides it per client.
    pub access_token_ttl: Duration,
    /// An access token unused for this long is dead (default 7 days).
    pub access_token_idle: Duration,
    /// Lifetime of a refresh token (default 30 days); each use rotates it.
    pub refresh_token_ttl: Duration,
    /// Lifetime of an authorization code (default 60 s).
    pub code_ttl: Duration,
    /// A rotated refresh token presented again within this window gets new
    /// tokens instead of revoking the family (concurrent refreshes).
    pub refresh_grace: Duration,
    /// Refuse an authorization request without `resource` (RFC 8707), as
    /// MCP requires clients to send it. `false` binds such a request to
    /// this server's MCP URL instead, for clients older than MCP 2025-06-18.
    pub require_resource: bool,
    /// Dynamic Client Registration (RFC 7591) at `/register`.
    pub registration: bool,
    /// Client ID Metadata Documents: https `client_id`s fetched on demand.
    pub client_metadata_documents: bool,
    /// Let a CIMD URL resolve to private, loopback or link-local addresses.
    /// Off by default: such a fetch is a server-side request forgery.
    pub cimd_allow_private_networks: bool,
    /// Pre-tick write scopes on the consent page when the client asked for
    /// no scope (Claude does); off: the user opts in to writes.
    pub preselect_write_scopes: bool,
    /// Dynamic registrations never used for this long are deleted.
    pub unused_client_ttl: Duration,
    /// Role → scopes that users of that role may grant. Empty: the demo's
    /// `viewer` (read scope) and `editor` (read and write scopes).
    pub roles: BTreeMap<String, Vec<String>>,
    /// Failed logins allowed per user name and per address per minute.
    pub login_attempts_per_minute: u32,
    /// Registrations per client address per hour.
    pub registrations_per_hour: u32,
    /// Live registrations never used, above which `/register` refuses.
    pub max_unused_registrations: u64,
    /// `Some` in `external` mode.
    pub external: Option<ExternalIdp>,
    /// Pre-registered clients whose users are not asked to consent.
    pub skip_consent_for: Vec<String>,
    /// Lifetime of the browser session a sign-in starts.
    pub session_ttl: Duration,
    /// `[auth.upstream]`: sign-in delegated to the company's OpenID provider.
    pub upstream: Option<UpstreamIdp>,
    /// `[auth.id_jag]`: Enterprise-Managed Authorization at `/token`.
    pub id_jag: Option<IdJag>,
}

impl AuthConfig {
    /// Whether the connector's own password logins are offered.
    pub fn local_logins(&self) -> bool {
        self.upstream.as_ref().is_none_or(|u| u.local_logins)
    }

    /// The role names users may hold (`[auth.roles]`, or the defaults).
    pub fn role_names(&self) -> Vec<String> {
        role_names(&self.roles)
    }
}

/// The permissions a role entry may name besides tool scopes: `admin`
/// opens the admin console (`/admin`), `approve` the approval of held tool
/// calls. They are never scopes a token carries.
pub const PERMISSIONS: [&str; 2] = ["admin", "approve"];

/// The default roles when `[auth.roles]` names none (see `ScopePolicy`).
fn role_names(roles: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    if roles.is_empty() {
        vec!["editor".into(), "viewer".into()]
    } else {
        roles.keys().cloned().collect()
    }
}

/// The longest access token lifetime: clients that never refresh (Claude's
/// custom connectors) would otherwise sign their users out hourly.
pub const MAX_ACCESS_TOKEN_TTL_SECS: u64 = 30 * 24 * 3600;

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::None,
            access_token_ttl: Duration::from_secs(3600),
            access_token_idle: Duration::from_secs(7 * 24 * 3600),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            code_ttl: Duration::from_secs(60),
            refresh_grace: Duration::from_secs(30),
            require_resource: true,
            registration: true,
            client_metadata_documents: true,
            cimd_allow_private_networks: false,
            preselect_write_scopes: false,
            unused_client_ttl: Duration::from_secs(24 * 3600),
            roles: BTreeMap::new(),
            login_attempts_per_minute: 10,
            // Claude registers a client per connection, and all of an
            // organisation's users come from a few egress addresses: 600 an
            // hour from one address is a busy morning, not a flood (a flood
            // measured ~120 a second).
            registrations_per_hour: 600,
            // Unused ones are deleted after `unused_client_ttl`; this caps
            // what a flood can pile up until then.
            max_unused_registrations: 10_000,
            external: None,
            skip_consent_for: Vec::new(),
            session_ttl: Duration::from_secs(12 * 3600),
            upstream: None,
            id_jag: None,
        }
    }
}

fn ttl(key: &'static str, v: Option<u64>, d: Duration, max: u64) -> Result<Duration, ConfigError> {
    match v {
        None => Ok(d),
        Some(0) => Err(ConfigError::invalid(key, "must be at least 1 second")),
        Some(v) if v > max => Err(ConfigError::invalid(
            key,
            format!("must be at most {max} seconds"),
        )),
        Some(v) => Ok(Duration::from_secs(v)),
    }
}

/// Check that every entry of `[auth.roles]` is a scope of the served tools
/// (`read`, `write`) or one of [`PERMISSIONS`]: a typo (`employee:read`,
/// `admins`) would otherwise grant nothing, silently.
pub(super) fn check_role_entries(
    roles: &BTreeMap<String, Vec<String>>,
    read: &str,
    write: &str,
) -> Result<(), ConfigError> {
    for (role, entries) in roles {
        if let Some(bad) = entries
            .iter()
            .find(|e| *e != read && *e != write && !PERMISSIONS.contains(&e.as_str()))
        {
            return Err(ConfigError::invalid(
                "auth.roles",
                format!(
                    "role `{role}`: `{bad}` is neither a scope of the served tools ({read}, {write}) \
                     nor a permission ({})",
                    PERMISSIONS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Validate `[auth]`. `mode` is the flag's value if one was given; `env`
/// looks up environment variables (the upstream client secret).
pub(super) fn auth(
    s: AuthSection,
    mode: Option<AuthMode>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AuthConfig, ConfigError> {
    let d = AuthConfig::default();
    let mode = match (mode, s.mode.as_deref()) {
        (Some(m), _) => m,
        (None, None) => d.mode,
        (None, Some("none")) => AuthMode::None,
        (None, Some("oauth")) => AuthMode::OAuth,
        (None, Some("external")) => AuthMode::External,
        (None, Some(other)) => {
            return Err(ConfigError::invalid(
                "auth.mode",
                format!("`{other}` is not one of: none, oauth, external"),
            ));
        }
    };
    let mut roles = BTreeMap::new();
    for (role, scopes) in s.roles.unwrap_or_default() {
        if role.is_empty()
            || !role
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ConfigError::invalid(
                "auth.roles",
                format!("`{role}` is not a role name (letters, digits, _ and -)"),
            ));
        }
        for scope in &scopes {
            if !is_scope_token(scope) {
                return Err(ConfigError::invalid(
                    "auth.roles",
                    format!("role `{role}`: `{scope}` is not a scope"),
                ));
            }
        }
        roles.insert(role, scopes);
    }
    let external = match (mode, s.external) {
        (AuthMode::External, None) => {
            return Err(ConfigError::invalid(
                "auth.external",
                "mode `external` needs [auth.external] with issuer and jwks_url",
            ));
        }
        (AuthMode::External, Some(e)) => Some(external(e)?),
        (_, _) => None,
    };
    let upstream = match s.upstream {
        Some(_) if mode != AuthMode::OAuth => {
            return Err(ConfigError::invalid(
                "auth.upstream",
                "signing in with an identity provider needs auth.mode = \"oauth\"",
            ));
        }
        Some(u) => Some(upstream::upstream(u, &role_names(&roles), env)?),
        None => None,
    };
    let id_jag = match s.id_jag {
        Some(_) if mode != AuthMode::OAuth => {
            return Err(ConfigError::invalid(
                "auth.id_jag",
                "Enterprise-Managed Authorization needs auth.mode = \"oauth\"",
            ));
        }
        Some(j) => Some(upstream::id_jag(j, upstream.as_ref())?),
        None => None,
    };
    let skip_consent_for = s.skip_consent_for.unwrap_or_default();
    if let Some(bad) = skip_consent_for
        .iter()
        .find(|c| !c.starts_with("mcpc_") || c.len() > 64)
    {
        return Err(ConfigError::invalid(
            "auth.skip_consent_for",
            format!("`{bad}` is not a client id from `client add` (mcpc_…)"),
        ));
    }
    Ok(AuthConfig {
        mode,
        access_token_ttl: ttl(
            "auth.access_token_ttl_secs",
            s.access_token_ttl_secs,
            d.access_token_ttl,
            MAX_ACCESS_TOKEN_TTL_SECS,
        )?,
        access_token_idle: ttl(
            "auth.access_token_idle_secs",
            s.access_token_idle_secs,
            d.access_token_idle,
            365 * 24 * 3600,
        )?,
        refresh_token_ttl: ttl(
            "auth.refresh_token_ttl_secs",
            s.refresh_token_ttl_secs,
            d.refresh_token_ttl,
            365 * 24 * 3600,
        )?,
        code_ttl: ttl("auth.code_ttl_secs", s.code_ttl_secs, d.code_ttl, 600)?,
        refresh_grace: match s.refresh_grace_secs {
            None => d.refresh_grace,
            Some(v) if v > 300 => {
                return Err(ConfigError::invalid(
                    "auth.refresh_grace_secs",
                    "must be at most 300 seconds",
                ));
            }
            Some(v) => Duration::from_secs(v),
        },
        require_resource: s.require_resource.unwrap_or(d.require_resource),
        registration: s.registration.unwrap_or(d.registration),
        client_metadata_documents: s
            .client_metadata_documents
            .unwrap_or(d.client_metadata_documents),
        cimd_allow_private_networks: s
            .cimd_allow_private_networks
            .unwrap_or(d.cimd_allow_private_networks),
        preselect_write_scopes: s.preselect_write_scopes.unwrap_or(d.preselect_write_scopes),
        unused_client_ttl: ttl(
            "auth.unused_client_ttl_secs",
            s.unused_client_ttl_secs,
            d.unused_client_ttl,
            365 * 24 * 3600,
        )?,
        roles,
        login_attempts_per_minute: match s.login_attempts_per_minute {
            Some(0) => {
                return Err(ConfigError::invalid(
                    "auth.login_attempts_per_minute",
                    "must be at least 1",
                ));
            }
            Some(v) => v,
            None => d.login_attempts_per_minute,
        },
        registrations_per_hour: match s.registrations_per_hour {
            Some(0) => {
                return Err(ConfigError::invalid(
                    "auth.registrations_per_hour",
                    "must be at least 1 (use auth.registration = false to turn registration off)",
                ));
            }
            Some(v) => v,
            None => d.registrations_per_hour,
        },
        max_unused_registrations: match s.max_unused_registrations {
            Some(0) => {
                return Err(ConfigError::invalid(
                    "auth.max_unused_registrations",
                    "must be at least 1",
                ));
            }
            Some(v) => v,
            None => d.max_unused_registrations,
        },
        external,
        skip_consent_for,
        session_ttl: ttl(
            "auth.session_ttl_secs",
            s.session_ttl_secs,
            d.session_ttl,
            MAX_ACCESS_TOKEN_TTL_SECS,
        )?,
        upstream,
        id_jag,
    })
}

fn external(e: ExternalSection) -> Result<ExternalIdp, ConfigError> {
    let issuer = e.issuer.trim().to_owned();
    if Url::parse(&issuer).is_err() {
        return Err(ConfigError::invalid(
            "auth.external.issuer",
            format!("`{issuer}` is not an absolute URL"),
        ));
    }
    let jwks_url = Url::parse(&e.jwks_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .ok_or_else(|| {
            ConfigError::invalid(
                "auth.external.jwks_url",
                format!("`{}` is not an http(s) URL", e.jwks_url),
            )
        })?;
    if jwks_url.scheme() == "http" && !jwks_url.host_str().is_some_and(is_loopback_host) {
        return Err(ConfigError::invalid(
            "auth.external.jwks_url",
            "must be https (http only on loopback, for testing)",
        ));
    }
    Ok(ExternalIdp {
        issuer,
        jwks_url,
        audience: e.audience,
        leeway: Duration::from_secs(e.leeway_secs.unwrap_or(30).min(300)),
    })
}
