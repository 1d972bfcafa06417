//! `[auth.upstream]` and `[auth.id_jag]`: the company's identity provider,
//! validated into [`UpstreamIdp`] and [`IdJag`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mcp_connector_security::SecretString;
use url::Url;

use super::ConfigError;
use super::file::{IdJagSection, UpstreamSection};
use super::host::is_loopback_host;
use super::scope::is_scope_token;

/// The environment variable that carries the upstream client secret.
pub const CLIENT_SECRET_ENV: &str = "MCP_CONNECTOR_UPSTREAM_CLIENT_SECRET";

/// How the connector authenticates to the provider's token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Basic,
    Post,
}

/// Validated `[auth.upstream]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamIdp {
    /// Exactly as in the discovery document and every ID token's `iss`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Arc<SecretString>,
    pub client_auth: ClientAuth,
    /// Always contains `openid`.
    pub scopes: Vec<String>,
    pub groups_claim: String,
    /// `None`: a user in no mapped group is refused.
    pub default_role: Option<String>,
    pub local_logins: bool,
    /// `None`: users are not re-checked at the provider.
    pub recheck: Option<Duration>,
    /// Group → role.
    pub roles: BTreeMap<String, String>,
}

/// Validated `[auth.id_jag]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdJag {
    /// The assertions' `iss`, exactly.
    pub issuer: String,
    /// `None`: the `jwks_uri` of the issuer's discovery document.
    pub jwks_url: Option<Url>,
}

/// Clock skew allowed on the `exp`/`iat` of ID tokens and assertions.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// An issuer or endpoint URL of the provider: absolute, https (http only on
/// a loopback address, for tests), no query or fragment.
pub fn check_idp_url(key: &'static str, text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
        .ok_or_else(|| ConfigError::invalid(key, format!("`{text}` is not an http(s) URL")))?;
    if url.scheme() == "http" && !url.host_str().is_some_and(is_loopback_host) {
        return Err(ConfigError::invalid(
            key,
            "must be https (http only on a loopback address, for testing)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(ConfigError::invalid(
            key,
            "must not carry credentials, a query or a fragment",
        ));
    }
    Ok(url)
}

/// Validate `[auth.upstream]`. `known_roles` are the roles users may hold;
/// `env` looks up environment variables.
pub(super) fn upstream(
    s: UpstreamSection,
    known_roles: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<UpstreamIdp, ConfigError> {
    let issuer = s.issuer.trim().to_owned();
    check_idp_url("auth.upstream.issuer", &issuer)?;
    let client_id = s.client_id.trim().to_owned();
    if client_id.is_empty() || client_id.chars().any(char::is_control) {
        return Err(ConfigError::invalid(
            "auth.upstream.client_id",
            "must be the connector's client id at the provider",
        ));
    }
    let secret = env(CLIENT_SECRET_ENV)
        .filter(|v| !v.is_empty())
        .or(s.client_secret)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ConfigError::invalid(
                "auth.upstream.client_secret",
                format!("is required (or set {CLIENT_SECRET_ENV})"),
            )
        })?;
    let client_auth = match s.client_auth.as_deref() {
        None | Some("client_secret_basic") => ClientAuth::Basic,
        Some("client_secret_post") => ClientAuth::Post,
        Some(other) => {
            return Err(ConfigError::invalid(
                "auth.upstream.client_auth",
                format!("`{other}` is not one of: client_secret_basic, client_secret_post"),
            ));
        }
    };
    let scopes = s
        .scopes
        .unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()]);
    if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
        return Err(ConfigError::invalid(
            "auth.upstream.scopes",
            format!("`{bad}` is not a scope"),
        ));
    }
    if !scopes.iter().any(|s| s == "openid") {
        return Err(ConfigError::invalid(
            "auth.upstream.scopes",
            "must include `openid` (the sign-in is OpenID Connect)",
        ));
    }
    let groups_claim = s.groups_claim.unwrap_or_else(|| "groups".into());
    if groups_claim.trim().is_empty() {
        return Err(ConfigError::invalid(
            "auth.upstream.groups_claim",
            "must name a claim",
        ));
    }
    let role = |key: &'static str, role: &str| -> Result<(), ConfigError> {
        if known_roles.iter().any(|r| r == role) {
            return Ok(());
        }
        Err(ConfigError::invalid(
            key,
            format!(
                "`{role}` is not a role (roles: {}; more in [auth.roles])",
                known_roles.join(", ")
            ),
        ))
    };
    let default_role = match s.default_role.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) => {
            role("auth.upstream.default_role", r)?;
            Some(r.to_owned())
        }
    };
    let mut roles = BTreeMap::new();
    for (group, r) in s.roles.unwrap_or_default() {
        role("auth.upstream.roles", &r)?;
        roles.insert(group, r);
    }
    let recheck = match s.recheck_secs {
        None => Some(Duration::from_secs(3600)),
        Some(0) => None,
        Some(v) if v < 10 => {
            return Err(ConfigError::invalid(
                "auth.upstream.recheck_secs",
                "must be 0 (off) or at least 10 seconds",
            ));
        }
        Some(v) if v > 30 * 24 * 3600 => {
            return Err(ConfigError::invalid(
                "auth.upstream.recheck_secs",
                "must be at most 2592000 seconds (30 days)",
            ));
        }
        Some(v) => Some(Duration::from_secs(v)),
    };
    Ok(UpstreamIdp {
        issuer,
        client_id,
        client_secret: Arc::new(SecretString::new(secret)),
        client_auth,
        scopes,
        groups_claim,
        default_role,
        local_logins: s.local_logins.unwrap_or(true),
        recheck,
        roles,
    })
}

/// Validate `[auth.id_jag]`; its issuer defaults to the upstream one.
pub(super) fn id_jag(
    s: IdJagSection,
    upstream: Option<&UpstreamIdp>,
) -> Result<IdJag, ConfigError> {
    let Some(up) = upstream else {
        return Err(ConfigError::invalid(
            "auth.id_jag",
            "needs [auth.upstream]: its roles mapping decides what assertion users may do",
        ));
    };
    let issuer = s
        .issuer
        .map(|i| i.trim().to_owned())
        .unwrap_or_else(|| up.issuer.clone());
    check_idp_url("auth.id_jag.issuer", &issuer)?;
    let jwks_url = s
        .jwks_url
        .map(|u| check_idp_url("auth.id_jag.jwks_url", u.trim()))
        .transpose()?;
    Ok(IdJag { issuer, jwks_url })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(toml: &str) -> UpstreamSection {
        toml::from_str(toml).expect("section parses")
    }

    fn roles() -> Vec<String> {
        vec!["editor".into(), "viewer".into()]
    }

    const BASE: &str =
        "issuer = \"https://login.example.com\"\nclient_id = \"mcp\"\nclient_secret = \"s\"\n";

    #[test]
    fn defaults_and_mapping() {
        let text = format!("{BASE}[roles]\n\"mcp-editors\" = \"editor\"\n");
        let u = upstream(section(&text), &roles(), &|_| None).expect("valid");
        assert_eq!(u.client_auth, ClientAuth::Basic);
        assert_eq!(u.scopes, ["openid", "email", "profile"]);
        assert_eq!(u.groups_claim, "groups");
        assert_eq!(u.default_role, None);
        assert!(u.local_logins);
        assert_eq!(u.recheck, Some(Duration::from_secs(3600)));
        assert_eq!(u.roles["mcp-editors"], "editor");
        assert_eq!(u.client_secret.expose(), "s");
        assert!(!format!("{u:?}").contains("\"s\""));
    }

    #[test]
    fn environment_secret_wins() {
        let u = upstream(section(BASE), &roles(), &|k| {
            (k == CLIENT_SECRET_ENV).then(|| "from-env".to_owned())
        })
        .expect("valid");
        assert_eq!(u.client_secret.expose(), "from-env");
        let no_secret = "issuer = \"https://login.example.com\"\nclient_id = \"mcp\"\n";
        let err = upstream(section(no_secret), &roles(), &|_| None).unwrap_err();
        assert!(err.to_string().contains(CLIENT_SECRET_ENV), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (extra, key) in [
            (
                "client_auth = \"private_key_jwt\"",
                "auth.upstream.client_auth",
            ),
            ("scopes = [\"email\"]", "auth.upstream.scopes"),
            ("default_role = \"admin\"", "auth.upstream.default_role"),
            ("recheck_secs = 5", "auth.upstream.recheck_secs"),
            ("[roles]\ng = \"root\"", "auth.upstream.roles"),
        ] {
            let text = format!("{BASE}{extra}\n");
            let err = upstream(section(&text), &roles(), &|_| None).unwrap_err();
            assert!(err.to_string().starts_with(key), "{extra}: {err}");
        }
        for issuer in [
            "http://login.example.com",
            "login.example.com",
            "https://login.example.com?x=1",
        ] {
            let text = format!("issuer = \"{issuer}\"\nclient_id = \"c\"\nclient_secret = \"s\"\n");
            let err = upstream(section(&text), &roles(), &|_| None).unwrap_err();
            assert!(err.to_string().starts_with("auth.upstream.issuer"), "{err}");
        }
        // Loopback http is for tests.
        let text = "issuer = \"http://127.0.0.1:9\"\nclient_id = \"c\"\nclient_secret = \"s\"\n";
        assert!(upstream(section(text), &roles(), &|_| None).is_ok());
    }

    #[test]
    fn id_jag_defaults_to_the_upstream_issuer() {
        let up = upstream(section(BASE), &roles(), &|_| None).expect("valid");
        let j = id_jag(IdJagSection::default(), Some(&up)).expect("valid");
        assert_eq!(j.issuer, "https://login.example.com");
        assert_eq!(j.jwks_url, None);
        assert!(id_jag(IdJagSection::default(), None).is_err());
        let bad = IdJagSection {
            issuer: None,
            jwks_url: Some("http://keys.example.com/jwks".into()),
        };
        let err = id_jag(bad, Some(&up)).unwrap_err();
        assert!(err.to_string().starts_with("auth.id_jag.jwks_url"), "{err}");
    }
}
