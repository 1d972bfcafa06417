//! Enterprise-Managed Authorization: `POST /token` with
//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and an Identity
//! Assertion JWT Authorization Grant (ID-JAG,
//! draft-ietf-oauth-identity-assertion-authz-grant; RFC 7523 §2.1) that the
//! company's identity provider issued to the client (Claude) for this
//! server. No consent screen: the identity provider's policy decided.
//!
//! The assertion is accepted only if all of these hold, each refusal an
//! `invalid_grant` with a short reason:
//! * header `typ` is `oauth-id-jag+jwt`, `alg` RS256 or ES256 (never `none`
//!   or HS*), signed by a key of the configured issuer's JWKS;
//! * `iss` is that issuer exactly; `aud` is this authorization server's
//!   issuer; `client_id` is the authenticated client;
//! * `resource`, when present, is this server's MCP URL;
//! * `exp` is in the future and `exp - iat` at most five minutes;
//! * `jti` was never seen before (kept in the database until `exp`, so
//!   every replica refuses a replay).
//!
//! The user is the account of (issuer, `sub`), the same as an upstream
//! sign-in of that person with the same issuer; an unknown subject is
//! created with the role its `groups` claim maps to (the upstream mapping),
//! refused when none maps. Scopes: the request's `scope`, else the
//! assertion's, within the user's role and the client's scopes.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation};
use mcp_connector_security::{ct_eq, sha256_hex};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::client_auth::Authenticated;
use super::issue::{self, TokenResponse};
use super::jwks::{KeyCache, is_accepted_alg};
use super::scope::ScopeSet;
use super::upstream::Upstream;
use super::upstream::id_token::groups_of;
use super::{Auth, OAuthError};
use crate::config::{IdJag, LEEWAY};
use crate::store::oauth::UpstreamLogin;

/// The grant type (RFC 7523 §2.1).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The grant profile listed in the metadata.
pub const PROFILE: &str = "urn:ietf:params:oauth:grant-profile:id-jag";
/// Longest accepted assertion lifetime (`exp - iat`).
const MAX_LIFETIME_SECS: i64 = 300;
const MAX_ASSERTION_BYTES: usize = 16 * 1024;

/// The issuer whose assertions are accepted, and its keys.
pub struct Verifier {
    pub config: IdJag,
    /// The upstream provider, when it is the same issuer (its discovery
    /// document gives the JWKS URL).
    upstream: Option<Arc<Upstream>>,
    keys: KeyCache,
    http: reqwest::Client,
    /// The JWKS URL found by discovery, when not configured.
    discovered: tokio::sync::Mutex<Option<Url>>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Value,
    client_id: Option<String>,
    jti: Option<String>,
    exp: i64,
    iat: Option<i64>,
    #[serde(default)]
    resource: Option<Value>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    groups: Option<Value>,
}

/// A refusal: `invalid_grant` with its reason.
type Refusal = &'static str;

impl Verifier {
    pub fn new(config: IdJag, upstream: Option<Arc<Upstream>>) -> Self {
        let upstream = upstream.filter(|u| u.config.issuer == config.issuer);
        Self {
            config,
            upstream,
            keys: KeyCache::new(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            discovered: tokio::sync::Mutex::new(None),
        }
    }

    /// The issuer's JWKS URL: configured, or from its discovery document.
    async fn jwks_url(&self) -> Result<Url, OAuthError> {
        if let Some(u) = &self.config.jwks_url {
            return Ok(u.clone());
        }
        if let Some(up) = &self.upstream {
            return up
                .discovery()
                .await
                .map(|d| d.jwks_uri.clone())
                .map_err(|e| {
                    tracing::warn!(error = %e, "ID-JAG issuer keys unavailable");
                    OAuthError::Unavailable
                });
        }
        let mut found = self.discovered.lock().await;
        if let Some(u) = &*found {
            return Ok(u.clone());
        }
        let url = Url::parse(&format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        ))
        .map_err(|_| OAuthError::Unavailable)?;
        let body = super::jwks::get_json_bytes(&self.http, &url, 64 * 1024)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "ID-JAG issuer discovery failed");
                OAuthError::Unavailable
            })?;
        let doc: Value = serde_json::from_slice(&body).map_err(|_| OAuthError::Unavailable)?;
        if doc["issuer"].as_str() != Some(self.config.issuer.as_str()) {
            tracing::error!(issuer = %self.config.issuer, "ID-JAG issuer's discovery document names another issuer");
            return Err(OAuthError::Unavailable);
        }
        let jwks = doc["jwks_uri"]
            .as_str()
            .and_then(|u| crate::config::check_idp_url("auth.id_jag.jwks_url", u).ok())
            .ok_or(OAuthError::Unavailable)?;
        *found = Some(jwks.clone());
        Ok(jwks)
    }

    /// Check `assertion` for `client_id` and this server; its claims.
    async fn verify(
        &self,
        auth: &Auth,
        assertion: &str,
        client_id: &str,
    ) -> Result<Result<Claims, Refusal>, OAuthError> {
        if assertion.len() > MAX_ASSERTION_BYTES {
            return Ok(Err("the assertion is too large"));
        }
        let Ok(header) = jsonwebtoken::decode_header(assertion) else {
            return Ok(Err("the assertion is not a JWT"));
        };
        let typ = header.typ.as_deref().unwrap_or("").to_ascii_lowercase();
        if !matches!(
            typ.as_str(),
            "oauth-id-jag+jwt" | "application/oauth-id-jag+jwt"
        ) {
            return Ok(Err("the assertion is not an ID-JAG (typ)"));
        }
        if !is_accepted_alg(header.alg) {
            return Ok(Err("the assertion's signing algorithm is not accepted"));
        }
        // Route by `iss` before any key is fetched: an unknown issuer costs
        // nothing and causes no outbound request.
        if unverified_issuer(assertion).as_deref() != Some(self.config.issuer.as_str()) {
            return Ok(Err("the assertion's issuer is not trusted"));
        }
        let url = self.jwks_url().await?;
        let keys = match self.keys.candidates(&url, header.kid.as_deref()).await {
            Ok(Some(k)) => k,
            Ok(None) => return Ok(Err("the assertion was signed with an unknown key")),
            Err(e) => {
                tracing::warn!(error = %e, "ID-JAG issuer keys unavailable");
                return Err(OAuthError::Unavailable);
            }
        };
        let mut last = "the assertion was signed with an unknown key";
        let mut claims = None;
        for key in keys.iter().filter(|k| k.alg == header.alg) {
            match jsonwebtoken::decode::<Claims>(
                assertion,
                &key.key,
                &validation(key.alg, self, auth),
            ) {
                Ok(d) => {
                    claims = Some(d.claims);
                    break;
                }
                Err(e) => last = describe(&e),
            }
        }
        let Some(c) = claims else {
            return Ok(Err(last));
        };
        Ok(check(auth, &c, client_id).map(|()| c))
    }
}

/// A fixed reason per failure: never the library's message (it may quote
/// claims).
fn describe(e: &jsonwebtoken::errors::Error) -> Refusal {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "the assertion has expired",
        K::ImmatureSignature => "the assertion is not valid yet",
        K::InvalidIssuer => "the assertion's issuer is not trusted",
        K::InvalidAudience => "the assertion was issued for another authorization server",
        K::InvalidSignature => "the assertion's signature is invalid",
        K::MissingRequiredClaim(_) => "the assertion lacks a required claim",
        K::InvalidAlgorithm => "the assertion's signing algorithm is not accepted",
        _ => "the assertion is malformed",
    }
}

fn validation(alg: Algorithm, v: &Verifier, auth: &Auth) -> Validation {
    let mut val = Validation::new(alg);
    val.set_issuer(&[&v.config.issuer]);
    val.set_audience(&[&*auth.issuer]);
    val.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    val.leeway = LEEWAY.as_secs();
    val.validate_nbf = true;
    val
}

/// The `iss` of a JWT, unverified (only to pick the keys).
fn unverified_issuer(jwt: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v["iss"].as_str().map(str::to_owned)
}

/// The claim checks after the signature, `iss`, `aud` and `exp`.
fn check(auth: &Auth, c: &Claims, client_id: &str) -> Result<(), Refusal> {
    let aud_ok = match &c.aud {
        Value::String(a) => a == &*auth.issuer,
        Value::Array(a) => a.len() == 1 && a[0].as_str() == Some(&*auth.issuer),
        _ => false,
    };
    if !aud_ok {
        return Err("the assertion was issued for another authorization server");
    }
    let bound = c
        .client_id
        .as_deref()
        .is_some_and(|id| ct_eq(id.as_bytes(), client_id.as_bytes()));
    if !bound {
        return Err("the assertion was issued to another client");
    }
    match &c.resource {
        None => {}
        Some(Value::String(r)) if auth.is_this_resource(r) => {}
        Some(Value::Array(rs))
            if rs.len() == 1 && rs[0].as_str().is_some_and(|r| auth.is_this_resource(r)) => {}
        Some(_) => return Err("the assertion is for another resource"),
    }
    let Some(iat) = c.iat else {
        return Err("the assertion has no issue time (iat)");
    };
    let leeway = i64::try_from(LEEWAY.as_secs()).unwrap_or(30);
    if iat > auth.clock.unix_now() + leeway {
        return Err("the assertion was issued in the future");
    }
    if c.exp - iat > MAX_LIFETIME_SECS {
        return Err("the assertion lives longer than five minutes");
    }
    if c.jti
        .as_deref()
        .is_none_or(|j| j.is_empty() || j.len() > 256)
    {
        return Err("the assertion has no usable jti");
    }
    if c.sub.is_empty() || c.sub.len() > 255 {
        return Err("the assertion's subject (sub) is empty or too long");
    }
    Ok(())
}

/// The `jwt-bearer` grant for `client`.
pub async fn grant(
    auth: &Auth,
    client: &Authenticated,
    form: &super::client_auth::Form,
) -> Result<(TokenResponse, String), (OAuthError, Option<Refusal>)> {
    let c = &client.client;
    let plain = |e: OAuthError| (e, None);
    let refuse = |why: Refusal| (OAuthError::InvalidGrant(why), Some(why));
    if !c.allows_grant(GRANT_TYPE) || !client.confidential {
        return Err(plain(OAuthError::UnauthorizedClient(
            "this client may not use the jwt-bearer grant",
        )));
    }
    let Some(verifier) = &auth.id_jag else {
        return Err(plain(OAuthError::UnsupportedGrantType));
    };
    let assertion = form.require("assertion").map_err(plain)?;
    let claims = match verifier
        .verify(auth, assertion, &c.id)
        .await
        .map_err(plain)?
    {
        Ok(c) => c,
        Err(why) => return Err(refuse(why)),
    };
    // Replay: the jti is claimed once, until the assertion expires.
    let key = format!(
        "idjag:{}",
        sha256_hex(format!("{}\n{}", claims.iss, claims.jti.as_deref().unwrap_or("")).as_bytes())
    );
    let leeway = i64::try_from(LEEWAY.as_secs()).unwrap_or(30);
    if !auth
        .db
        .claim_nonce(&key, claims.exp + leeway)
        .await
        .map_err(|e| plain(e.into()))?
    {
        return Err(refuse("the assertion was already used (jti)"));
    }
    let user = subject_user(auth, &claims).await?;
    let requested = form
        .get("scope")
        .or(claims.scope.as_deref())
        .map(|s| auth.scopes.known(s));
    let ceiling = auth.scopes.ceiling(&user.role);
    let client_scopes = if c.scopes.trim().is_empty() {
        auth.scopes.supported.clone()
    } else {
        ScopeSet::parse(&c.scopes)
    };
    let allowed = ceiling.intersect(&client_scopes);
    let scopes = match requested {
        Some(r) if !r.is_empty() => r.intersect(&allowed),
        _ => allowed,
    };
    if scopes.is_empty() {
        return Err(plain(OAuthError::InvalidScope(
            "none of the requested scopes is allowed for this user and client".into(),
        )));
    }
    let grant = issue::Grant {
        client_id: c.id.clone(),
        user_id: Some(user.id.clone()),
        scopes: scopes.clone(),
    };
    let tokens = issue::new_grant_tokens(auth, &grant, issue::access_ttl(auth, c), false)
        .await
        .map_err(|e| plain(e.into()))?;
    Ok((tokens, user.id))
}

/// The account of the assertion's subject, created just in time; its role
/// follows the `groups` claim when the assertion has one.
async fn subject_user(
    auth: &Auth,
    c: &Claims,
) -> Result<crate::store::oauth::User, (OAuthError, Option<Refusal>)> {
    let plain = |e: crate::store::StoreError| (OAuthError::Internal(e), None);
    let refuse = |why: Refusal| (OAuthError::InvalidGrant(why), Some(why));
    let existing = auth
        .db
        .user_by_subject(&c.iss, &c.sub)
        .await
        .map_err(plain)?;
    let groups = c.groups.as_ref().and_then(groups_of);
    let Some(up) = &auth.upstream else {
        return Err(refuse("no roles mapping is configured"));
    };
    let role = match (&existing, &groups) {
        // Known user, no groups in the assertion: the role stays.
        (Some(u), None) => u.role.clone(),
        _ => match up.role_for(groups.as_deref(), &auth.scopes) {
            Some(r) => r,
            None => return Err(refuse("the user is in no group allowed to use this server")),
        },
    };
    let login = UpstreamLogin {
        issuer: c.iss.clone(),
        subject: c.sub.clone(),
        names: super::upstream::login::names(
            c.preferred_username.as_deref(),
            c.email.as_deref(),
            &c.sub,
        ),
        email: c.email.clone(),
        display_name: c.name.clone(),
        role,
        now: auth.clock.unix_now(),
    };
    let user = auth
        .db
        .upsert_upstream_user(&login, &issue::id())
        .await
        .map_err(plain)?;
    if user.disabled {
        return Err(refuse("the user is disabled"));
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unverified_issuer_reads_the_payload() {
        use base64::Engine as _;
        let b64 = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        let jwt = format!(
            "{}.{}.sig",
            b64(&serde_json::json!({"alg": "ES256"})),
            b64(&serde_json::json!({"iss": "https://idp.example"}))
        );
        assert_eq!(
            unverified_issuer(&jwt).as_deref(),
            Some("https://idp.example")
        );
        assert_eq!(unverified_issuer("not.a-jwt"), None);
    }
}
