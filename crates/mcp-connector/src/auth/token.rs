//! `POST /token` (RFC 6749 §3.2): the authorization code, refresh token and
//! client credentials grants, and the JWT bearer grant of Enterprise-Managed
//! Authorization ([`super::id_jag`]).
//!
//! Codes are spent atomically before anything else is checked, so of two
//! concurrent redemptions one wins and the other is a replay, which revokes
//! the grant and every token issued from it (RFC 6749 §4.1.2). A spent code
//! that fails a later check can never be used again either.

use std::net::IpAddr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcp_connector_security::pkce::verify_s256;

use super::client_auth::{self, Authenticated, Form};
use super::events::{self, What};
use super::id_jag;
use super::issue::{self, TokenRequest, TokenResponse};
use super::metadata::{endpoint_answer, no_store_json};
use super::scope::ScopeSet;
use super::{Auth, OAuthError};
use crate::network::ClientIp;
use crate::store::oauth::CodeRedemption;

/// `POST /token`.
pub async fn token(
    State(auth): State<Auth>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ip = ip.map(|Extension(ClientIp(ip))| ip);
    let res = exchange(&auth, &headers, &body, ip).await;
    endpoint_answer(
        res.map(|tokens| no_store_json(StatusCode::OK, tokens)),
        "token request refused",
    )
}

async fn exchange(
    auth: &Auth,
    headers: &HeaderMap,
    body: &[u8],
    ip: Option<IpAddr>,
) -> Result<TokenResponse, OAuthError> {
    let form = Form::from_form_body(headers, body)?;
    let grant_type = form.require("grant_type")?;
    let jwt_bearer = grant_type == id_jag::GRANT_TYPE && auth.id_jag.is_some();
    if !jwt_bearer
        && !matches!(
            grant_type,
            "authorization_code" | "refresh_token" | "client_credentials"
        )
    {
        return Err(OAuthError::UnsupportedGrantType);
    }
    let client = client_auth::authenticate(auth, headers, &form).await?;
    if let Some(resource) = form.get("resource")
        && !auth.is_this_resource(resource)
    {
        return Err(OAuthError::InvalidTarget);
    }
    match grant_type {
        id_jag::GRANT_TYPE => jwt_bearer_grant(auth, &client, &form, ip).await,
        "authorization_code" => authorization_code(auth, &client, &form, ip).await,
        "refresh_token" => refresh_token(auth, &client, &form, ip).await,
        _ => client_credentials(auth, &client, &form, ip).await,
    }
}

/// Hand out `tokens` once their issuance is recorded. Fail closed: a
/// token whose issuance cannot be recorded is not returned (its rows stay
/// unused until they expire), the same rule as for tool results.
async fn issued(
    auth: &Auth,
    ip: Option<IpAddr>,
    grant_type: &str,
    client_id: &str,
    user_id: Option<&str>,
    tokens: TokenResponse,
) -> Result<TokenResponse, OAuthError> {
    let what = What::TokenIssued {
        grant_type,
        client_id,
        user_id,
        scopes: &tokens.scope,
        refresh: tokens.refresh_token.is_some(),
    };
    events::record(auth, what.from_ip(ip)).await?;
    auth.metrics
        .token_issued(crate::telemetry::metrics::Grant::of(grant_type));
    Ok(tokens)
}

async fn authorization_code(
    auth: &Auth,
    client: &Authenticated,
    form: &Form,
    ip: Option<IpAddr>,
) -> Result<TokenResponse, OAuthError> {
    let c = &client.client;
    if !c.allows_grant("authorization_code") {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the authorization_code grant",
        ));
    }
    let code = form.require("code")?;
    let verifier = form.require("code_verifier")?;
    let redirect_uri = form.require("redirect_uri")?;
    let now = auth.clock.unix_now();
    let stored = match auth.db.redeem_code(&issue::hash(code), now).await? {
        CodeRedemption::Fresh(stored) => stored,
        CodeRedemption::Replayed { grant_id } => {
            tracing::warn!(client_id = %c.id, "authorization code replayed; revoking its grant");
            auth.db.revoke_grant(&grant_id, now).await?;
            // The grant is revoked and the request refused either way.
            let what = What::CodeReplay { client_id: &c.id };
            events::record_or_log(auth, what.from_ip(ip)).await;
            return Err(OAuthError::InvalidGrant(
                "the authorization code was already used",
            ));
        }
        CodeRedemption::Unknown => {
            return Err(OAuthError::InvalidGrant(
                "the authorization code is invalid",
            ));
        }
    };
    // The code is spent: any failure below also ends its grant.
    let problem = if stored.client_id != c.id {
        Some("the authorization code was issued to another client")
    } else if stored.expires_at <= now {
        Some("the authorization code has expired")
    } else if stored.redirect_uri != redirect_uri {
        Some("redirect_uri differs from the authorization request")
    } else if !verify_s256(verifier, &stored.code_challenge) {
        Some("code_verifier does not match the code_challenge")
    } else {
        None
    };
    if let Some(reason) = problem {
        auth.db.revoke_grant(&stored.grant_id, now).await?;
        return Err(OAuthError::InvalidGrant(reason));
    }
    // Refresh tokens whether or not `offline_access` was asked for: Claude
    // often leaves it out and then loses the connection hourly.
    let tokens = issue::tokens_for(
        auth,
        &TokenRequest {
            grant_id: stored.grant_id,
            client_id: c.id.clone(),
            user_id: Some(stored.user_id.clone()),
            scopes: ScopeSet::parse(&stored.scopes),
            resource: auth.resource.to_string(),
            refresh: c.allows_grant("refresh_token"),
        },
        issue::access_ttl(auth, c),
    )
    .await?;
    let user = Some(stored.user_id.as_str());
    issued(auth, ip, "authorization_code", &c.id, user, tokens).await
}

async fn refresh_token(
    auth: &Auth,
    client: &Authenticated,
    form: &Form,
    ip: Option<IpAddr>,
) -> Result<TokenResponse, OAuthError> {
    let c = &client.client;
    let presented = form.require("refresh_token")?;
    let hash = issue::hash(presented);
    let now = auth.clock.unix_now();
    let Some(rt) = auth.db.refresh_token(&hash).await? else {
        return Err(OAuthError::InvalidGrant("the refresh token is invalid"));
    };
    if rt.client_id != c.id {
        return Err(OAuthError::InvalidGrant("the refresh token is invalid"));
    }
    if !c.allows_grant("refresh_token") {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the refresh_token grant",
        ));
    }
    if rt.revoked {
        return Err(OAuthError::InvalidGrant("the refresh token was revoked"));
    }
    if rt.expires_at <= now {
        return Err(OAuthError::InvalidGrant("the refresh token has expired"));
    }
    let scopes = narrow(auth, &ScopeSet::parse(&rt.scopes), form.get("scope"))?;
    let grace = i64::try_from(auth.config.refresh_grace.as_secs()).unwrap_or(i64::MAX);
    let fresh = match rt.used_at {
        None => auth.db.mark_refresh_used(&hash, now).await?,
        Some(_) => false,
    };
    if !fresh {
        // Used before. Within the grace window this is a client refreshing
        // from two places at once; later it is a stolen token being replayed
        // (or the victim's copy after the thief's), so the family ends.
        let used_at = match rt.used_at {
            Some(t) => t,
            None => now,
        };
        if now - used_at >= grace {
            tracing::warn!(client_id = %c.id, "rotated refresh token reused; revoking its grant");
            auth.db.revoke_grant(&rt.grant_id, now).await?;
            // The family is revoked and the request refused either way.
            let what = What::RefreshReuse {
                client_id: &c.id,
                user_id: rt.user_id.as_deref(),
            };
            events::record_or_log(auth, what.from_ip(ip)).await;
            return Err(OAuthError::InvalidGrant(
                "the refresh token was already used",
            ));
        }
    }
    let tokens = issue::tokens_for(
        auth,
        &TokenRequest {
            grant_id: rt.grant_id,
            client_id: c.id.clone(),
            user_id: rt.user_id.clone(),
            scopes,
            resource: auth.resource.to_string(),
            refresh: true,
        },
        issue::access_ttl(auth, c),
    )
    .await?;
    let user = rt.user_id.as_deref();
    issued(auth, ip, "refresh_token", &c.id, user, tokens).await
}

async fn client_credentials(
    auth: &Auth,
    client: &Authenticated,
    form: &Form,
    ip: Option<IpAddr>,
) -> Result<TokenResponse, OAuthError> {
    let c = &client.client;
    if !client.confidential || !c.allows_grant("client_credentials") {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the client_credentials grant",
        ));
    }
    let scopes = narrow(auth, &ScopeSet::parse(&c.scopes), form.get("scope"))?;
    let tokens = issue::grant_and_tokens(auth, &c.id, None, &scopes, false).await?;
    issued(auth, ip, "client_credentials", &c.id, None, tokens).await
}

/// The JWT bearer grant with an ID-JAG: every refusal is logged and
/// recorded (the description is the short reason), issuance is audited.
async fn jwt_bearer_grant(
    auth: &Auth,
    client: &Authenticated,
    form: &Form,
    ip: Option<IpAddr>,
) -> Result<TokenResponse, OAuthError> {
    let c = &client.client;
    match id_jag::grant(auth, client, form).await {
        Ok((tokens, user_id)) => {
            issued(auth, ip, "jwt-bearer", &c.id, Some(&user_id), tokens).await
        }
        Err((e, reason)) => {
            if let Some(reason) = reason {
                tracing::warn!(client_id = %c.id, reason, "ID-JAG assertion refused");
                let what = What::AssertionRefused {
                    client_id: &c.id,
                    reason,
                };
                events::record_or_log(auth, what.from_ip(ip)).await;
            }
            Err(e)
        }
    }
}

/// The scopes of a token request: `granted`, or the subset the `scope`
/// parameter names. Scopes this server does not know (`offline_access`)
/// are ignored; asking for more than was granted is `invalid_scope`.
fn narrow(
    auth: &Auth,
    granted: &ScopeSet,
    requested: Option<&str>,
) -> Result<ScopeSet, OAuthError> {
    let Some(raw) = requested else {
        return Ok(granted.clone());
    };
    let wanted = auth.scopes.known(raw);
    if wanted.is_empty() {
        return Ok(granted.clone());
    }
    if !wanted.is_subset(granted) {
        return Err(OAuthError::InvalidScope(
            "the requested scope exceeds what was granted".into(),
        ));
    }
    Ok(wanted)
}
