//! The connector's browser session: who is signed in to the connector in
//! this browser, after a local password or an upstream sign-in.
//!
//! The cookie (`__Host-mcpc_session` on https, `mcpc_session` on loopback
//! http) holds 256 random bits; the database holds only their SHA-256, with
//! the user and an expiry (`auth.session_ttl_secs`), so any replica can
//! check a session and a dump holds nothing to replay. It is `HttpOnly`,
//! `SameSite=Lax` (it rides along on the top-level navigation back from
//! the identity provider, not on cross-site posts) and `Secure` on https.
//! A disabled or deleted account has no session, whatever the cookie says.
//!
//! # For pages that need a signed-in person
//! Take [`SignedIn`] as an extractor (the handler's state must give an
//! [`Auth`] through `FromRef`): it is the signed-in user of the request, or
//! the rejection is a `303` to `/signin?return_to=<this path and query>`,
//! which signs the person in (locally or at the identity provider) and
//! comes back. [`signed_in`] is the same check without the redirect, and
//! [`sign_in_url`] builds the redirect for a path of your choice. Sign-out
//! is a `POST /signout` form with the CSRF field (see [`super::signin`]).
//! Forms of such pages use the same double-submit CSRF as the sign-in:
//! [`csrf`] gives the value for the hidden `csrf` field (and the cookie to
//! set), [`csrf_matches`] checks a post.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_connector_security::{random_token, sha256_hex};

use super::Auth;
use crate::store::StoreError;
use crate::store::oauth::User;

/// Longest `return_to` accepted.
const MAX_RETURN_TO: usize = 2048;

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    /// When the session ends (Unix seconds).
    pub expires_at: i64,
}

/// Name of the session cookie (`__Host-` needs `Secure`, so https only).
pub fn cookie_name(auth: &Auth) -> &'static str {
    if auth.secure_cookies {
        "__Host-mcpc_session"
    } else {
        "mcpc_session"
    }
}

/// The value of cookie `name` in `headers`, if present.
pub(super) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The session value of the request's cookie, if well-formed.
fn session_value<'h>(auth: &Auth, headers: &'h HeaderMap) -> Option<&'h str> {
    cookie(headers, cookie_name(auth)).filter(|v| {
        v.len() == 43
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The signed-in user of a request with `headers`, if any.
pub async fn signed_in(auth: &Auth, headers: &HeaderMap) -> Result<Option<SignedIn>, StoreError> {
    let Some(value) = session_value(auth, headers) else {
        return Ok(None);
    };
    let found = auth
        .db
        .session_user(&sha256_hex(value.as_bytes()), auth.clock.unix_now())
        .await?;
    Ok(found.map(|(user, expires_at)| SignedIn { user, expires_at }))
}

/// Start a session for `user`; the `Set-Cookie` value that carries it.
pub async fn start(auth: &Auth, user: &User) -> Result<String, StoreError> {
    let value = random_token(32);
    let now = auth.clock.unix_now();
    let ttl = i64::try_from(auth.config.session_ttl.as_secs()).unwrap_or(12 * 3600);
    auth.db
        .insert_session(&sha256_hex(value.as_bytes()), &user.id, now, now + ttl)
        .await?;
    Ok(set_cookie(auth, &value, ttl))
}

/// End the request's session (if any); the `Set-Cookie` value that clears
/// the cookie.
pub async fn end(auth: &Auth, headers: &HeaderMap) -> Result<String, StoreError> {
    if let Some(value) = session_value(auth, headers) {
        auth.db
            .delete_session(&sha256_hex(value.as_bytes()))
            .await?;
    }
    Ok(set_cookie(auth, "", 0))
}

fn set_cookie(auth: &Auth, value: &str, max_age: i64) -> String {
    let secure = if auth.secure_cookies { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        cookie_name(auth)
    )
}

/// Add a `Set-Cookie` to `res` (beside any it has).
pub fn with_cookie(mut res: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// The CSRF value of this browser (its cookie's, or a new one) and the
/// `Set-Cookie` that (re)sets it: put the value in a hidden `csrf` field.
pub fn csrf(auth: &Auth, headers: &HeaderMap) -> (String, String) {
    let value = super::flow::csrf_from_cookie(auth, headers).unwrap_or_else(|| random_token(32));
    let cookie = super::flow::csrf_set_cookie(auth, &value);
    (value, cookie)
}

/// Whether a posted `field` matches this browser's CSRF cookie (in
/// constant time). A cross-site post cannot read or set the cookie.
pub fn csrf_matches(auth: &Auth, headers: &HeaderMap, field: Option<&str>) -> bool {
    match (super::flow::csrf_from_cookie(auth, headers), field) {
        (Some(cookie), Some(field)) => {
            mcp_connector_security::ct_eq(cookie.as_bytes(), field.as_bytes())
        }
        _ => false,
    }
}

/// `return_to` if it is a path on this server: starts with one `/`, no
/// scheme, host, backslash or control character, bounded length. Anything
/// else is refused (no open redirect).
pub fn safe_return_to(return_to: &str) -> Option<&str> {
    let ok = !return_to.is_empty()
        && return_to.len() <= MAX_RETURN_TO
        && return_to.starts_with('/')
        && !return_to.starts_with("//")
        && !return_to.contains('\\')
        && !return_to
            .chars()
            .any(|c| c.is_control() || c.is_whitespace());
    ok.then_some(return_to)
}

/// `/signin?return_to=<path>`.
pub fn sign_in_url(return_to: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", return_to)
        .finish();
    format!("/signin?{q}")
}

/// `303` to `location` (a path on this server), never cached.
pub fn see_other(location: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

impl<S> FromRequestParts<S> for SignedIn
where
    S: Send + Sync,
    Auth: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_ref(state);
        match signed_in(&auth, &parts.headers).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) => {
                let here = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                let back = safe_return_to(&here).unwrap_or("/");
                Err(see_other(&sign_in_url(back)))
            }
            Err(e) => Err(super::flow::internal(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_must_be_a_local_path() {
        for ok in ["/", "/approve/abc?x=1", "/admin#top"] {
            assert_eq!(safe_return_to(ok), Some(ok));
        }
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "\\\\evil",
            "javascript:alert(1)",
            "evil.example",
            "/a\nb",
            "/a b",
            "/\t/evil.example",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad:?}");
        }
        assert_eq!(
            safe_return_to(&format!("/{}", "a".repeat(MAX_RETURN_TO))),
            None
        );
    }

    #[test]
    fn sign_in_url_encodes_the_path() {
        assert_eq!(
            sign_in_url("/approve?id=1&x=2"),
            "/signin?return_to=%2Fapprove%3Fid%3D1%26x%3D2"
        );
    }
}
