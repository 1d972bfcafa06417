//! The standalone sign-in and sign-out of the connector's browser session
//! ([`super::session`]), for pages of this server that need a signed-in
//! person (an approval page, the admin console):
//!
//! * `GET /signin?return_to=/path` — signed in already: back to the path;
//!   else the sign-in page (company sign-in and/or password), or straight
//!   to the identity provider when it is the only way in. Without
//!   `return_to` a signed-in browser sees who it is signed in as.
//! * `POST /signin` — the forms of that page (`step=login` or `upstream`).
//! * `POST /signout` — ends the session (CSRF-checked), then back to
//!   `return_to` or the sign-in page.
//!
//! `return_to` must be a path on this server ([`session::safe_return_to`]);
//! anything else is refused with a 400 page, never followed.

use std::net::IpAddr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use mcp_connector_security::{SecretString, ct_eq, random_token};

use super::events::{self, What};
use super::flow::{csrf_from_cookie, csrf_set_cookie, error_page, internal};
use super::login::Verified;
use super::pages::{self, SignInChoice};
use super::params::Params;
use super::session::{self, safe_return_to, see_other};
use super::upstream::login::{self as upstream_login, Target};
use super::{Auth, consent, login};
use crate::network::ClientIp;

fn bad_return_to() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "Invalid return address",
        "The page to return to after signing in must be a page of this server.",
    )
}

/// The `return_to` of `params` (default `/`), if safe.
fn return_to(params: &Params) -> Option<String> {
    match params.get("return_to") {
        None => Some("/".to_owned()),
        Some(r) => safe_return_to(r).map(str::to_owned),
    }
}

fn form_page(
    auth: &Auth,
    status: StatusCode,
    return_to: &str,
    csrf: &str,
    error: Option<&str>,
    username: &str,
) -> Response {
    let label = auth.upstream.as_ref().map(|u| u.label());
    let choice = SignInChoice {
        upstream: label.as_deref(),
        local: auth.config.local_logins(),
    };
    let body = pages::sign_in(
        &auth.display_name,
        return_to,
        csrf,
        error,
        username,
        &choice,
    );
    let cookie = csrf_set_cookie(auth, csrf);
    // The company button's post ends with a redirect to the provider.
    let form_action = auth.upstream.as_ref().map(|u| u.form_action_origin());
    pages::html(status, body, form_action.as_deref(), Some(&cookie))
}

/// `GET /signin`.
pub async fn page(State(auth): State<Auth>, headers: HeaderMap, uri: Uri) -> Response {
    let (auth, headers, uri) = (&auth, &headers, &uri);
    let params = Params::parse(uri.query().unwrap_or("").as_bytes());
    let explicit = params.get("return_to").is_some();
    let Some(back) = return_to(&params) else {
        return bad_return_to();
    };
    let csrf = csrf_from_cookie(auth, headers).unwrap_or_else(|| random_token(32));
    match session::signed_in(auth, headers).await {
        Ok(Some(_)) if explicit => return see_other(&back),
        Ok(Some(s)) => {
            let body = pages::signed_in(&auth.display_name, &s.user.username, &csrf);
            let cookie = csrf_set_cookie(auth, &csrf);
            return pages::html(StatusCode::OK, body, None, Some(&cookie));
        }
        Ok(None) => {}
        Err(e) => return internal(&e),
    }
    if let Some(up) = auth
        .upstream
        .clone()
        .filter(|_| !auth.config.local_logins())
    {
        let cookie = csrf_set_cookie(auth, &csrf);
        let target = Target::Page { return_to: back };
        return upstream_login::begin(auth, &up, target, &csrf, Some(cookie)).await;
    }
    form_page(auth, StatusCode::OK, &back, &csrf, None, "")
}

/// The double-submitted CSRF value of a form post, if cookie and field agree.
fn checked_csrf<'f>(auth: &Auth, headers: &HeaderMap, form: &'f Params) -> Option<&'f str> {
    let cookie = csrf_from_cookie(auth, headers)?;
    let field = form.get("csrf")?;
    ct_eq(cookie.as_bytes(), field.as_bytes()).then_some(field)
}

fn forbidden() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Session expired",
        "The sign-in form could not be verified (cookies disabled, or the form came from another site). Open the page again.",
    )
}

/// `POST /signin`.
pub async fn submit(
    State(auth): State<Auth>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ip = ip.map(|Extension(ClientIp(ip))| ip);
    let form = Params::parse(&body);
    let Some(csrf) = checked_csrf(&auth, &headers, &form) else {
        return forbidden();
    };
    let Some(back) = return_to(&form) else {
        return bad_return_to();
    };
    match form.get("step") {
        Some("upstream") => match auth.upstream.clone() {
            Some(up) => {
                let target = Target::Page { return_to: back };
                upstream_login::begin(&auth, &up, target, csrf, None).await
            }
            None => bad_return_to(),
        },
        Some("login") if auth.config.local_logins() => {
            password(&auth, &form, csrf, &back, ip).await
        }
        _ => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid form",
            "The sign-in form was altered or is incomplete. Open the page again.",
        ),
    }
}

async fn password(
    auth: &Auth,
    form: &Params,
    csrf: &str,
    back: &str,
    ip: Option<IpAddr>,
) -> Response {
    let username = form.get("username").unwrap_or("").trim().to_owned();
    let again = |status, message| form_page(auth, status, back, csrf, Some(message), &username);
    let attempt = match auth.logins.reserve(&username, ip) {
        Ok(a) => a,
        Err(retry_after) => {
            let what = What::LoginThrottled {
                username: &username,
                client_id: "",
            };
            events::record_or_log(auth, what.from_ip(ip)).await;
            let mut res = again(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed sign-in attempts. Wait a minute and try again.",
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return res;
        }
    };
    let backoff = auth.logins.backoff(&username);
    if !backoff.is_zero() {
        tokio::time::sleep(backoff).await;
    }
    let secret = SecretString::new(form.get("password").unwrap_or(""));
    let user = match login::verify(auth, &username, secret).await {
        Ok(Verified::Ok(u)) => u,
        Ok(Verified::Disabled(u)) => {
            attempt.succeeded();
            let what = What::LoginDisabled {
                username: &u.username,
                client_id: "",
            };
            events::record_or_log(auth, what.from_ip(ip)).await;
            return again(
                StatusCode::FORBIDDEN,
                "Your account is disabled. Ask your administrator to enable it.",
            );
        }
        Ok(Verified::Refused) => {
            // The reserved attempt stays counted as a failure.
            drop(attempt);
            let what = What::LoginFailed {
                username: &username,
                client_id: "",
            };
            events::record_or_log(auth, what.from_ip(ip)).await;
            return again(StatusCode::UNAUTHORIZED, "Invalid user name or password.");
        }
        Err(login::VerifyError::Busy(_)) => {
            attempt.succeeded();
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
    let what = What::LoginSucceeded {
        user_id: &user.id,
        username: &user.username,
        client_id: "",
    };
    if let Err(e) = events::record(auth, what.from_ip(ip)).await {
        return internal(&e);
    }
    match consent::signed_in_now(auth, &user).await {
        Ok(cookie) => session::with_cookie(see_other(back), &cookie),
        Err(res) => *res,
    }
}

/// `POST /signout`.
pub async fn sign_out(State(auth): State<Auth>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Params::parse(&body);
    if checked_csrf(&auth, &headers, &form).is_none() {
        return forbidden();
    }
    let back = match form.get("return_to") {
        Some(r) => match safe_return_to(r) {
            Some(r) => r.to_owned(),
            None => return bad_return_to(),
        },
        None => "/signin".to_owned(),
    };
    match session::end(&auth, &headers).await {
        Ok(clear) => session::with_cookie(see_other(&back), &clear),
        Err(e) => internal(&e),
    }
}
