//! `POST /authorize`: the login form (`step=login`), the company sign-in
//! button (`step=upstream`), the consent form (`step=consent`) and its
//! "not you?" (`step=switch`).
//!
//! Both forms carry the CSRF value twice, as a cookie and as a hidden
//! field (double submit), and their sealed state carries its hash, so a
//! form lifted from another browser is useless without that browser's
//! cookie. A cross-site post cannot set or read the cookie.
//!
//! What is granted is decided here, never by the form: the ticked scopes
//! intersected with the scopes offered, which are themselves within the
//! user's role. A crafted post cannot escalate.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use mcp_connector_security::{SecretString, ct_eq, random_token, sha256_hex};
use serde::{Deserialize, Serialize};

use super::events::{self, What};
use super::flow::{
    Pending, REQUEST_CONTEXT, REQUEST_TTL_SECS, error_page, form_action_source, internal,
    login_page, provenance, redirect, redirect_error,
};
use super::issue::{self, CodeRequest};
use super::login::Verified;
use super::pages::{self, Person, RequestInfo, ScopeChoice};
use super::params::Params;
use super::{Auth, ScopeSet, client_auth, login, session};
use crate::store::oauth::User;

/// Seal context of the consent form's `ticket`.
const TICKET_CONTEXT: &str = "oauth-consent-ticket";
/// How long a consent form stays usable after the login.
const TICKET_TTL_SECS: i64 = 300;
/// The one message for an unknown user and a wrong password: which of them
/// it was is nobody's business at the login form.
const BAD_LOGIN: &str = "Invalid user name or password.";
/// For the right password of a disabled account.
const DISABLED: &str = "Your account is disabled. Ask your administrator to enable it.";

/// A logged-in user's pending consent, sealed into the consent form.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ticket {
    req: Pending,
    user_id: String,
    /// The scopes the consent page offered (space-separated).
    offered: String,
    exp: i64,
    /// Makes the ticket single-use (see [`crate::store::Db::claim_nonce`]).
    nonce: String,
}

pub(super) fn forbidden() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Session expired",
        "The sign-in form could not be verified (cookies disabled, or the form came from another site). Start again from the application.",
    )
}

pub(super) fn bad_form() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "Invalid form",
        "The sign-in form was altered or is incomplete. Start again from the application.",
    )
}

fn expired() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "The sign-in took too long. Start again from the application.",
    )
}

/// The login form's sealed request, if it is this browser's and current.
pub(super) fn pending_of(auth: &Auth, form: &Params, csrf: &str) -> Result<Pending, Box<Response>> {
    let Some(pending) = open::<Pending>(auth, REQUEST_CONTEXT, form.get("request")) else {
        return Err(Box::new(bad_form()));
    };
    if !bound_to(&pending, csrf) {
        return Err(Box::new(forbidden()));
    }
    if pending.exp < auth.clock.unix_now() {
        return Err(Box::new(expired()));
    }
    Ok(pending)
}

/// "Not you?": end the session and show the sign-in for the same request.
pub(super) async fn switch_step(
    auth: &Auth,
    form: &Params,
    headers: &HeaderMap,
    csrf: &str,
) -> Response {
    let Some(ticket) = open::<Ticket>(auth, TICKET_CONTEXT, form.get("ticket")) else {
        return bad_form();
    };
    if !bound_to(&ticket.req, csrf) {
        return forbidden();
    }
    let clear = match session::end(auth, headers).await {
        Ok(c) => c,
        Err(e) => return internal(&e),
    };
    let mut pending = ticket.req;
    pending.exp = auth.clock.unix_now() + REQUEST_TTL_SECS;
    let page = login_page(auth, StatusCode::OK, &pending, csrf, None, "", false);
    session::with_cookie(page, &clear)
}

/// Open a sealed JSON value; `None` if absent, forged or malformed.
fn open<T: for<'de> Deserialize<'de>>(
    auth: &Auth,
    context: &str,
    sealed: Option<&str>,
) -> Option<T> {
    let bytes = auth.sealer.open(context, sealed?).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Whether `pending` was issued with this CSRF value.
fn bound_to(pending: &Pending, csrf: &str) -> bool {
    ct_eq(
        sha256_hex(csrf.as_bytes()).as_bytes(),
        pending.csrf.as_bytes(),
    )
}

pub(super) async fn login_step(
    auth: &Auth,
    form: &Params,
    csrf: &str,
    ip: Option<std::net::IpAddr>,
) -> Response {
    let pending = match pending_of(auth, form, csrf) {
        Ok(p) => p,
        Err(res) => return *res,
    };
    if !auth.config.local_logins() {
        return bad_form();
    }
    let username = form.get("username").unwrap_or("").trim().to_owned();
    let again = |status: StatusCode, message: &str| {
        login_page(
            auth,
            status,
            &pending,
            csrf,
            Some(message),
            &username,
            false,
        )
    };
    let attempt = match auth.logins.reserve(&username, ip) {
        Ok(attempt) => attempt,
        Err(retry_after) => {
            return throttled(auth, &pending, &username, ip, retry_after, again).await;
        }
    };
    let backoff = auth.logins.backoff(&username);
    if !backoff.is_zero() {
        tokio::time::sleep(backoff).await;
    }
    let password = SecretString::new(form.get("password").unwrap_or(""));
    let user = match login::verify(auth, &username, password).await {
        Ok(Verified::Ok(u)) => u,
        Ok(Verified::Disabled(u)) => {
            // The right password: not a guess, the attempt does not count.
            attempt.succeeded();
            tracing::info!(user_id = %u.id, "login refused: account disabled");
            let what = What::LoginDisabled {
                username: &u.username,
                client_id: &pending.client_id,
            };
            events::record_or_log(auth, what.from_ip(ip)).await;
            return again(StatusCode::FORBIDDEN, DISABLED);
        }
        Ok(Verified::Refused) => {
            // The reserved attempt stays counted as a failure.
            drop(attempt);
            tracing::info!("login refused");
            // Refused whether or not this is recorded (never the password).
            let what = What::LoginFailed {
                username: &username,
                client_id: &pending.client_id,
            };
            events::record_or_log(auth, what.from_ip(ip)).await;
            return again(StatusCode::UNAUTHORIZED, BAD_LOGIN);
        }
        Err(login::VerifyError::Busy(e)) => {
            // Not the user's fault: the attempt does not count.
            attempt.succeeded();
            tracing::warn!(error = %e, "login not checked: password checks are saturated");
            let mut res = again(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is busy checking other sign-ins. Try again in a few seconds.",
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return res;
        }
        Err(login::VerifyError::Store(e)) => {
            attempt.succeeded();
            return internal(&e);
        }
    };
    attempt.succeeded();
    tracing::info!(user_id = %user.id, client_id = %pending.client_id, "login succeeded");
    // Fail closed: no unaudited login goes on to the consent page.
    let what = What::LoginSucceeded {
        user_id: &user.id,
        username: &user.username,
        client_id: &pending.client_id,
    };
    if let Err(e) = events::record(auth, what.from_ip(ip)).await {
        return internal(&e);
    }
    let cookie = match signed_in_now(auth, &user).await {
        Ok(c) => c,
        Err(res) => return *res,
    };
    let res = after_sign_in(auth, pending, &user, csrf, ip).await;
    session::with_cookie(res, &cookie)
}

/// Note a local sign-in and start its session; the session cookie.
pub(super) async fn signed_in_now(auth: &Auth, user: &User) -> Result<String, Box<Response>> {
    if let Err(e) = auth
        .db
        .touch_user_login(&user.id, auth.clock.unix_now())
        .await
    {
        return Err(Box::new(internal(&e)));
    }
    session::start(auth, user)
        .await
        .map_err(|e| Box::new(internal(&e)))
}

/// A signed-in user on with an authorization request: the consent page,
/// or straight to the code for a client in `auth.skip_consent_for`.
pub(crate) async fn after_sign_in(
    auth: &Auth,
    pending: Pending,
    user: &User,
    csrf: &str,
    ip: Option<std::net::IpAddr>,
) -> Response {
    let skip = pending.origin == "cli"
        && auth
            .config
            .skip_consent_for
            .iter()
            .any(|c| c == &pending.client_id);
    if !skip {
        return consent_page(auth, pending, user, csrf);
    }
    let requested = ScopeSet::parse(&pending.scope);
    let granted: ScopeSet = offer(auth, &requested, &user.role)
        .choices
        .into_iter()
        .filter(|c| c.checked)
        .map(|c| c.scope)
        .collect();
    if granted.is_empty() {
        return redirect_error(
            auth,
            &pending.redirect_uri,
            pending.state.as_deref(),
            "access_denied",
            "your account may not grant any of the requested permissions",
        );
    }
    grant_code(auth, &pending, &user.id, granted, ip, true).await
}

/// 429: the name at this address, or this address, used up its failures.
async fn throttled(
    auth: &Auth,
    pending: &Pending,
    username: &str,
    ip: Option<std::net::IpAddr>,
    retry_after: u64,
    again: impl Fn(StatusCode, &str) -> Response,
) -> Response {
    let what = What::LoginThrottled {
        username,
        client_id: &pending.client_id,
    };
    events::record_or_log(auth, what.from_ip(ip)).await;
    let mut res = again(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many failed sign-in attempts. Wait a minute and try again.",
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

/// What the consent page offers and pre-ticks.
struct Offer {
    choices: Vec<ScopeChoice>,
    /// Requested scopes beyond the user's role.
    not_granted: Vec<String>,
}

fn offer(auth: &Auth, requested: &ScopeSet, role: &str) -> Offer {
    let ceiling = auth.scopes.ceiling(role);
    let served = auth.tools.served_tools();
    let choice = |s: &str, checked: bool| ScopeChoice {
        scope: s.to_owned(),
        checked,
        write: auth.scopes.is_write(s),
        tools: served
            .iter()
            .filter(|t| auth.scopes.for_tool(t) == s)
            .map(|t| t.name.to_string())
            .collect(),
    };
    if requested.is_empty() {
        // Claude asks for no scope: offer what the role allows, reads
        // ticked, writes only if the operator pre-selects them.
        let choices = ceiling
            .iter()
            .map(|s| {
                choice(
                    s,
                    !auth.scopes.is_write(s) || auth.config.preselect_write_scopes,
                )
            })
            .collect();
        return Offer {
            choices,
            not_granted: Vec::new(),
        };
    }
    Offer {
        choices: requested
            .intersect(&ceiling)
            .iter()
            .map(|s| choice(s, true))
            .collect(),
        not_granted: requested
            .iter()
            .filter(|s| !ceiling.contains(s))
            .map(str::to_owned)
            .collect(),
    }
}

fn consent_page(auth: &Auth, pending: Pending, user: &User, csrf: &str) -> Response {
    let requested = ScopeSet::parse(&pending.scope);
    let offer = offer(auth, &requested, &user.role);
    let offered: ScopeSet = offer.choices.iter().map(|c| c.scope.clone()).collect();
    let (name, host) = pending.info();
    let form_action = form_action_source(&pending.redirect_uri);
    let origin = pending.origin.clone();
    let client_id = pending.client_id.clone();
    let ticket = Ticket {
        req: pending,
        user_id: user.id.clone(),
        offered: offered.to_string(),
        exp: auth.clock.unix_now() + TICKET_TTL_SECS,
        nonce: random_token(16),
    };
    let json = match serde_json::to_vec(&ticket) {
        Ok(j) => j,
        Err(e) => return internal(&e),
    };
    let sealed = auth.sealer.seal(TICKET_CONTEXT, &json);
    let info = RequestInfo {
        client_name: &name,
        redirect_host: &host,
        server_name: &auth.display_name,
        provenance: provenance(&origin, &client_id, &host),
    };
    let person = Person {
        username: &user.username,
        email: user.email.as_deref(),
    };
    let body = pages::consent(
        &info,
        &person,
        &offer.choices,
        &offer.not_granted,
        &sealed,
        csrf,
    );
    pages::html(StatusCode::OK, body, form_action.as_deref(), None)
}

pub(super) async fn consent_step(
    auth: &Auth,
    form: &Params,
    csrf: &str,
    ip: Option<std::net::IpAddr>,
) -> Response {
    let Some(ticket) = open::<Ticket>(auth, TICKET_CONTEXT, form.get("ticket")) else {
        return bad_form();
    };
    let req = &ticket.req;
    if !bound_to(req, csrf) {
        return forbidden();
    }
    if ticket.exp < auth.clock.unix_now() {
        return expired();
    }
    // One decision per consent page: a resubmitted form (back button, a
    // second tab, a replay from the same browser) mints nothing.
    match auth.db.claim_nonce(&ticket.nonce, ticket.exp).await {
        Ok(true) => {}
        Ok(false) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Already answered",
                "This consent page was already submitted. Start again from the application.",
            );
        }
        Err(e) => return internal(&e),
    }
    // A denial stands whether or not it is recorded.
    let denied = async |description: &'static str| {
        let what = What::ConsentDenied {
            user_id: &ticket.user_id,
            client_id: &req.client_id,
            reason: description,
        };
        events::record_or_log(auth, what.from_ip(ip)).await;
        redirect_error(
            auth,
            &req.redirect_uri,
            req.state.as_deref(),
            "access_denied",
            description,
        )
    };
    match form.get("decision") {
        Some("allow") => {}
        Some("deny") => return denied("the user denied the request").await,
        _ => return bad_form(),
    }
    // The client may have been revoked and the user disabled or demoted
    // since the login: check both again before minting anything.
    match client_auth::lookup(auth, &req.client_id).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid authorization request",
                "The application is no longer registered with this server.",
            );
        }
        Err(e) => return internal(&e),
    }
    let user = match auth.db.user(&ticket.user_id).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => return expired(),
        Err(e) => return internal(&e),
    };
    let ticked: ScopeSet = form.all("scope").map(str::to_owned).collect();
    let granted = ticked
        .intersect(&ScopeSet::parse(&ticket.offered))
        .intersect(&auth.scopes.ceiling(&user.role));
    if granted.is_empty() {
        return denied("no permission was granted").await;
    }
    grant_code(auth, req, &user.id, granted, ip, false).await
}

/// Issue the code of a consent (given, or skipped by configuration) and
/// send it to the client, once the consent is recorded.
async fn grant_code(
    auth: &Auth,
    req: &Pending,
    user_id: &str,
    granted: ScopeSet,
    ip: Option<std::net::IpAddr>,
    skipped: bool,
) -> Response {
    let scopes = granted.to_string();
    let code = match issue::code(
        auth,
        &CodeRequest {
            client_id: req.client_id.clone(),
            user_id: user_id.to_owned(),
            redirect_uri: req.redirect_uri.clone(),
            code_challenge: req.code_challenge.clone(),
            scopes: granted,
            resource: req.resource.clone(),
        },
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return internal(&e),
    };
    tracing::info!(user_id = %user_id, client_id = %req.client_id, "authorization code issued");
    // Fail closed: the code is not handed out unless the consent is
    // recorded (the stored code then expires unused).
    let what = if skipped {
        What::ConsentSkipped {
            user_id,
            client_id: &req.client_id,
            scopes: &scopes,
        }
    } else {
        What::ConsentGranted {
            user_id,
            client_id: &req.client_id,
            scopes: &scopes,
        }
    };
    if let Err(e) = events::record(auth, what.from_ip(ip)).await {
        return internal(&e);
    }
    redirect(
        auth,
        &req.redirect_uri,
        req.state.as_deref(),
        &[("code", &code)],
    )
}
