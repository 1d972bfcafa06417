//! The browser side of the upstream sign-in: [`begin`] sends the browser to
//! the provider; [`callback`] (`GET /oauth/upstream/callback`) takes it back,
//! checks everything, finds or creates the account and signs it in.
//!
//! The pending sign-in is a database row keyed by the SHA-256 of `state`
//! (any replica takes the callback), used once (a replayed callback is
//! refused), and bound to the browser's CSRF cookie, so a callback URL
//! lifted from one browser signs nobody in from another. The PKCE verifier
//! and the nonce are derived from `state` with a server secret, so nothing
//! secret is stored for them.

use std::net::IpAddr;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use mcp_connector_security::pkce::s256_challenge;
use mcp_connector_security::{ct_eq, random_token, sha256_hex};
use serde::{Deserialize, Serialize};

use super::{IdClaims, Upstream, UpstreamError};
use crate::auth::events::{self, What};
use crate::auth::flow::{Pending, csrf_from_cookie, error_page, internal, redirect_error};
use crate::auth::params::Params;
use crate::auth::{Auth, consent, issue, session};
use crate::network::ClientIp;
use crate::store::oauth::{StateClaim, UpstreamLogin, User};

/// How long the provider may take to send the browser back.
const STATE_TTL_SECS: i64 = 600;

/// Where the browser goes once signed in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Target {
    /// On with an authorization request (to the consent page).
    Authorize(Pending),
    /// Back to a page of this server (the standalone sign-in).
    Page { return_to: String },
}

/// What is stored under the state.
#[derive(Debug, Serialize, Deserialize)]
struct Started {
    target: Target,
    /// SHA-256 of the CSRF cookie value of the browser that started.
    csrf: String,
}

fn verifier(auth: &Auth, state: &str) -> String {
    auth.sealer
        .derive("upstream-pkce-verifier", state.as_bytes())
}

fn nonce(auth: &Auth, state: &str) -> String {
    auth.sealer.derive("upstream-nonce", state.as_bytes())
}

/// A page for a provider that cannot be used right now (logged).
pub fn unavailable(up: &Upstream, e: &UpstreamError) -> Response {
    tracing::error!(issuer = %up.config.issuer, error = %e, "company sign-in failed");
    let (status, message) = match e {
        UpstreamError::Misconfigured(_) => (
            StatusCode::BAD_GATEWAY,
            "The company sign-in is not set up correctly. Ask your administrator (the server log has the details).",
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The company sign-in service could not be reached. Try again in a few minutes.",
        ),
    };
    let mut res = error_page(status, "Company sign-in unavailable", message);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    }
    res
}

/// Send the browser to the provider. `csrf` is this browser's CSRF cookie
/// value; `set_cookie` sets it when it is new.
pub(crate) async fn begin(
    auth: &Auth,
    up: &Upstream,
    target: Target,
    csrf: &str,
    set_cookie: Option<String>,
) -> Response {
    let doc = match up.discovery().await {
        Ok(d) => d,
        Err(e) => return unavailable(up, &e),
    };
    let state = random_token(32);
    let started = Started {
        target,
        csrf: sha256_hex(csrf.as_bytes()),
    };
    let payload = match serde_json::to_string(&started) {
        Ok(p) => p,
        Err(e) => return internal(&e),
    };
    let stored = auth
        .db
        .insert_upstream_state(
            &sha256_hex(state.as_bytes()),
            &payload,
            auth.clock.unix_now() + STATE_TTL_SECS,
        )
        .await;
    if let Err(e) = stored {
        return internal(&e);
    }
    let challenge = s256_challenge(&verifier(auth, &state));
    let url = up.authorization_url(&doc, &state, &nonce(auth, &state), &challenge);
    let mut res = StatusCode::SEE_OTHER.into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    match set_cookie {
        Some(c) => session::with_cookie(res, &c),
        None => res,
    }
}

fn bad_response() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "Invalid sign-in response",
        "The answer from the identity provider is incomplete or was altered. Start the sign-in again.",
    )
}

/// `GET /oauth/upstream/callback`.
pub async fn callback(
    State(auth): State<Auth>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = ip.map(|Extension(ClientIp(ip))| ip);
    let Some(up) = auth.upstream.clone() else {
        return bad_response();
    };
    let params = Params::parse(uri.query().unwrap_or("").as_bytes());
    if params.first_repeated().is_some() {
        return bad_response();
    }
    let Some(state) = params.get("state") else {
        return bad_response();
    };
    let now = auth.clock.unix_now();
    let started = match auth
        .db
        .claim_upstream_state(&sha256_hex(state.as_bytes()), now)
        .await
    {
        Ok(StateClaim::Fresh {
            payload,
            expires_at,
        }) if expires_at >= now => payload,
        Ok(StateClaim::Fresh { .. }) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Sign-in expired",
                "The sign-in at the identity provider took too long. Start again.",
            );
        }
        Ok(StateClaim::Used) => {
            tracing::warn!("upstream sign-in callback replayed");
            return error_page(
                StatusCode::BAD_REQUEST,
                "Sign-in already used",
                "This sign-in response was already used. Start again from the application.",
            );
        }
        Ok(StateClaim::Unknown) => return bad_response(),
        Err(e) => return internal(&e),
    };
    let Ok(started) = serde_json::from_str::<Started>(&started) else {
        return bad_response();
    };
    // The browser that comes back must be the one that left.
    let csrf = csrf_from_cookie(&auth, &headers);
    let bound = csrf
        .as_deref()
        .is_some_and(|c| ct_eq(sha256_hex(c.as_bytes()).as_bytes(), started.csrf.as_bytes()));
    let Some(csrf) = csrf.filter(|_| bound) else {
        return error_page(
            StatusCode::FORBIDDEN,
            "Session expired",
            "The sign-in could not be matched to this browser (cookies disabled, or the link came from elsewhere). Start again.",
        );
    };
    // RFC 9207: a response naming another issuer is a mix-up attack.
    if params.get("iss").is_some_and(|iss| iss != up.config.issuer) {
        return bad_response();
    }
    if let Some(error) = params.get("error") {
        tracing::info!(error = %error.chars().take(64).collect::<String>(), "identity provider refused the sign-in");
        return refuse(
            &auth,
            ip,
            &started.target,
            "the sign-in at the identity provider did not complete",
        )
        .await;
    }
    let Some(code) = params.get("code") else {
        return bad_response();
    };
    let claims = match sign_in(&auth, &up, code, state).await {
        Ok(c) => c,
        Err(UpstreamError::InvalidToken(why)) => {
            tracing::warn!(reason = why, "upstream ID token rejected");
            return error_page(
                StatusCode::BAD_REQUEST,
                "Sign-in could not be verified",
                "The identity provider's answer could not be verified. Start the sign-in again; if it keeps failing, ask your administrator.",
            );
        }
        Err(UpstreamError::Refused(e)) => {
            tracing::warn!(error = %e, "identity provider refused the code exchange");
            return error_page(
                StatusCode::BAD_REQUEST,
                "Sign-in not accepted",
                "The identity provider did not accept the sign-in. Start again.",
            );
        }
        Err(e) => return unavailable(&up, &e),
    };
    finish(&auth, &up, claims.0, claims.1, started.target, &csrf, ip).await
}

/// Redeem the code and validate the ID token; the claims and the
/// provider's refresh token, if any.
async fn sign_in(
    auth: &Auth,
    up: &Upstream,
    code: &str,
    state: &str,
) -> Result<(Claims, Option<String>), UpstreamError> {
    let tokens = up.exchange_code(code, &verifier(auth, state)).await?;
    let id_token = tokens
        .id_token
        .as_deref()
        .ok_or(UpstreamError::InvalidToken(
            "the provider returned no ID token",
        ))?;
    let id = up
        .validate_id_token(id_token, Some(&nonce(auth, state)))
        .await?;
    let groups = groups(up, &id, tokens.access_token.as_deref()).await?;
    Ok((Claims { id, groups }, tokens.refresh_token))
}

/// A validated ID token and the user's groups.
pub struct Claims {
    pub id: IdClaims,
    pub groups: Option<Vec<String>>,
}

/// The groups claim of the ID token, else of the userinfo response (Okta
/// and others put groups only there), for the same `sub`.
pub async fn groups(
    up: &Upstream,
    id: &IdClaims,
    access_token: Option<&str>,
) -> Result<Option<Vec<String>>, UpstreamError> {
    let name = &up.config.groups_claim;
    if let Some(g) = id.groups(name) {
        return Ok(Some(g));
    }
    let Some(at) = access_token else {
        return Ok(None);
    };
    let Some(info) = up.userinfo(at).await? else {
        return Ok(None);
    };
    if info.get("sub").and_then(|v| v.as_str()) != Some(id.sub.as_str()) {
        return Err(UpstreamError::InvalidToken(
            "the userinfo response is for another subject",
        ));
    }
    Ok(info.get(name).and_then(super::id_token::groups_of))
}

/// The user names an account may take, in order of preference:
/// `preferred_username`, the email, the `sub`.
pub fn names(preferred: Option<&str>, email: Option<&str>, sub: &str) -> Vec<String> {
    [preferred, email, Some(sub)]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|n| {
            !n.is_empty()
                && n.chars().count() <= 64
                && !n.chars().any(|c| c.is_whitespace() || c.is_control())
        })
        .map(str::to_owned)
        .collect()
}

/// The sign-in refused (no mapped group, cancelled at the provider):
/// recorded, then back to the client with `access_denied`, or a page.
async fn refuse(
    auth: &Auth,
    ip: Option<IpAddr>,
    target: &Target,
    reason: &'static str,
) -> Response {
    let client_id = match target {
        Target::Authorize(p) => p.client_id.as_str(),
        Target::Page { .. } => "",
    };
    let what = What::UpstreamLoginRefused { client_id, reason };
    events::record_or_log(auth, what.from_ip(ip)).await;
    match target {
        Target::Authorize(p) => redirect_error(
            auth,
            &p.redirect_uri,
            p.state.as_deref(),
            "access_denied",
            reason,
        ),
        Target::Page { .. } => error_page(
            StatusCode::FORBIDDEN,
            "Access refused",
            "Your company account may not use this server. Ask your administrator.",
        ),
    }
}

/// Create or update the account, keep the refresh token, sign in, go on.
async fn finish(
    auth: &Auth,
    up: &Upstream,
    claims: Claims,
    refresh: Option<String>,
    target: Target,
    csrf: &str,
    ip: Option<IpAddr>,
) -> Response {
    let Some(role) = up.role_for(claims.groups.as_deref(), &auth.scopes) else {
        return refuse(
            auth,
            ip,
            &target,
            "your account is in no group allowed to use this server",
        )
        .await;
    };
    let now = auth.clock.unix_now();
    let login = UpstreamLogin {
        issuer: up.config.issuer.clone(),
        subject: claims.id.sub.clone(),
        names: names(
            claims.id.preferred_username.as_deref(),
            claims.id.email.as_deref(),
            &claims.id.sub,
        ),
        email: claims.id.email.clone(),
        display_name: claims.id.name.clone(),
        role,
        now,
    };
    let user = match auth.db.upsert_upstream_user(&login, &issue::id()).await {
        Ok(u) => u,
        Err(e) => return internal(&e),
    };
    if user.disabled {
        return disabled(auth, ip, &user, &target).await;
    }
    let (sealed, recheck_at) = match (up.config.recheck, &refresh) {
        (Some(every), Some(rt)) => (
            up.seal_refresh(&user.id, rt),
            Some(now + i64::try_from(every.as_secs()).unwrap_or(3600)),
        ),
        _ => (None, None),
    };
    if let Err(e) = auth
        .db
        .set_upstream_refresh(&user.id, sealed.as_deref(), recheck_at)
        .await
    {
        return internal(&e);
    }
    let client_id = match &target {
        Target::Authorize(p) => p.client_id.as_str(),
        Target::Page { .. } => "",
    };
    tracing::info!(user_id = %user.id, "upstream sign-in succeeded");
    // Fail closed: no unaudited sign-in goes on.
    let what = What::LoginSucceeded {
        user_id: &user.id,
        username: &user.username,
        client_id,
    };
    if let Err(e) = events::record(auth, what.from_ip(ip)).await {
        return internal(&e);
    }
    let cookie = match session::start(auth, &user).await {
        Ok(c) => c,
        Err(e) => return internal(&e),
    };
    let res = match target {
        Target::Authorize(pending) => consent::after_sign_in(auth, pending, &user, csrf, ip).await,
        Target::Page { return_to } => session::see_other(&return_to),
    };
    session::with_cookie(res, &cookie)
}

/// The account exists here but is disabled: said plainly (the provider
/// has just proved who this is).
async fn disabled(auth: &Auth, ip: Option<IpAddr>, user: &User, target: &Target) -> Response {
    let client_id = match target {
        Target::Authorize(p) => p.client_id.as_str(),
        Target::Page { .. } => "",
    };
    let what = What::LoginDisabled {
        username: &user.username,
        client_id,
    };
    events::record_or_log(auth, what.from_ip(ip)).await;
    error_page(
        StatusCode::FORBIDDEN,
        "Account disabled",
        "Your account on this server is disabled. Ask your administrator.",
    )
}
