//! What the browser steps of an authorization share: the pending request
//! sealed into the forms, the CSRF cookie, redirects back to the client,
//! error pages and the login page. `/authorize`, the consent form, the
//! company sign-in and the browser session all build on this; it builds on
//! none of them.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use url::Url;

use super::pages::{self, Provenance, RequestInfo, SignInChoice};
use super::{Auth, ScopeSet};

/// Seal context of the login form's `request`.
pub(super) const REQUEST_CONTEXT: &str = "oauth-authorize-request";
/// How long a login form stays usable.
pub(super) const REQUEST_TTL_SECS: i64 = 600;
/// Characters of a CSRF value (32 random bytes, base64url).
const CSRF_LEN: usize = 43;

/// A validated authorization request, sealed into the login form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pending {
    pub client_id: String,
    pub client_name: String,
    /// How the client is known (`cli`, `dcr`, `cimd`), for the consent page.
    #[serde(default)]
    pub origin: String,
    /// The redirect URI the code is bound to (as the client sent it, or
    /// the client's only registered one when it sent none).
    pub redirect_uri: String,
    /// Returned verbatim; `None` when the client sent none.
    pub state: Option<String>,
    pub code_challenge: String,
    /// The known scopes the client asked for (may be empty).
    pub scope: String,
    pub resource: String,
    /// SHA-256 of the CSRF value the form was issued with.
    pub csrf: String,
    /// Unix time after which the form is refused.
    pub exp: i64,
}

impl Pending {
    pub(super) fn info(&self) -> (String, String) {
        let host = redirect_host(&self.redirect_uri);
        let name = if self.client_name.trim().is_empty() {
            self.client_id.clone()
        } else {
            self.client_name.clone()
        };
        (name, host)
    }

    pub(super) fn requested(&self) -> Vec<String> {
        ScopeSet::parse(&self.scope)
            .iter()
            .map(str::to_owned)
            .collect()
    }
}

/// Where the browser goes after the consent: shown on the pages.
pub(super) fn redirect_host(redirect_uri: &str) -> String {
    match Url::parse(redirect_uri) {
        Ok(u) => match u.host_str() {
            Some(h) => match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            },
            None => format!("{}:", u.scheme()),
        },
        Err(_) => redirect_uri.to_owned(),
    }
}

/// The CSP `form-action` source that lets the consent form's redirect to
/// `redirect_uri` through (Chrome applies `form-action` to redirects).
pub(super) fn form_action_source(redirect_uri: &str) -> Option<String> {
    let u = Url::parse(redirect_uri).ok()?;
    match u.scheme() {
        "http" | "https" => Some(u.origin().ascii_serialization()),
        // Native apps' private-use schemes (`cursor:`): a scheme source.
        s if s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            Some(format!("{s}:"))
        }
        _ => None,
    }
}

/// Whether the redirect URI `sent` matches `registered`: exact string
/// equality, or for a loopback `http` redirect any port (RFC 8252 §7.3:
/// native apps listen on an ephemeral port).
pub(super) fn redirect_matches(registered: &str, sent: &str) -> bool {
    if registered == sent {
        return true;
    }
    // Compared as raw strings with only the port removed: no URL
    // normalisation (`/./`, `%63`, case, userinfo) can widen the match.
    match (
        loopback_without_port(registered),
        loopback_without_port(sent),
    ) {
        (Some(r), Some(s)) => r == s && Url::parse(sent).is_ok(),
        _ => false,
    }
}

/// `s` without its port when it is an `http` URL on a loopback host
/// (written exactly `127.0.0.1`, `localhost` or `[::1]`), else `None`.
fn loopback_without_port(s: &str) -> Option<String> {
    let rest = s.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = match authority.rsplit_once(':') {
        Some((h, port))
            if !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            h
        }
        _ => authority,
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]").then(|| format!("http://{host}{tail}"))
}

/// A `400` error page: the request cannot be trusted enough to redirect.
pub(super) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    pages::html(status, pages::error(title, message), None, None)
}

/// An internal failure: logged, answered with a bare error page.
pub(super) fn internal(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "authorization endpoint failed");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The server could not process the request.",
    )
}

/// `303` to `redirect_uri` with `params` appended to its query, plus
/// `state` (verbatim, when the client sent one) and `iss` (RFC 9207).
pub(super) fn redirect(
    auth: &Auth,
    redirect_uri: &str,
    state: Option<&str>,
    params: &[(&str, &str)],
) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        // Registered URIs are validated at registration; still, no panic.
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect URI",
            "The application's redirect URI is not a valid URL.",
        );
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", &auth.issuer);
    }
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
    res
}

/// An error sent back to the client (RFC 6749 §4.1.2.1).
pub(super) fn redirect_error(
    auth: &Auth,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    redirect(
        auth,
        redirect_uri,
        state,
        &[("error", error), ("error_description", description)],
    )
}

/// Name of the CSRF cookie (`__Host-` needs `Secure`, so https only).
pub(super) fn csrf_cookie_name(auth: &Auth) -> &'static str {
    if auth.secure_cookies {
        "__Host-mcpc_csrf"
    } else {
        "mcpc_csrf"
    }
}

/// The CSRF cookie's value in `headers`, if well-formed.
pub(super) fn csrf_from_cookie(auth: &Auth, headers: &HeaderMap) -> Option<String> {
    let name = csrf_cookie_name(auth);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| {
            v.len() == CSRF_LEN
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

pub(super) fn csrf_set_cookie(auth: &Auth, value: &str) -> String {
    let secure = if auth.secure_cookies { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/; Max-Age=1800; HttpOnly; SameSite=Lax{secure}",
        csrf_cookie_name(auth)
    )
}

/// The login page for `pending` (fresh, or again after a failed attempt).
pub(super) fn login_page(
    auth: &Auth,
    status: StatusCode,
    pending: &Pending,
    csrf: &str,
    error: Option<&str>,
    username: &str,
    set_cookie: bool,
) -> Response {
    let json = match serde_json::to_vec(pending) {
        Ok(j) => j,
        Err(e) => return internal(&e),
    };
    let sealed = auth.sealer.seal(REQUEST_CONTEXT, &json);
    let (name, host) = pending.info();
    let info = RequestInfo {
        client_name: &name,
        redirect_host: &host,
        server_name: &auth.display_name,
        provenance: provenance(&pending.origin, &pending.client_id, &host),
    };
    let label = auth.upstream.as_ref().map(|u| u.label());
    let choice = SignInChoice {
        upstream: label.as_deref(),
        local: auth.config.local_logins(),
    };
    let body = pages::login(
        &info,
        &pending.requested(),
        &sealed,
        csrf,
        error,
        username,
        &choice,
    );
    let cookie = set_cookie.then(|| csrf_set_cookie(auth, csrf));
    let mut sources: Vec<String> = form_action_source(&pending.redirect_uri)
        .into_iter()
        .collect();
    if let Some(up) = &auth.upstream {
        sources.push(up.form_action_origin());
    }
    let form_action = (!sources.is_empty()).then(|| sources.join(" "));
    pages::html(status, body, form_action.as_deref(), cookie.as_deref())
}

/// How the consent page describes a client of `origin`.
pub(super) fn provenance<'a>(origin: &str, client_id: &'a str, host: &'a str) -> Provenance<'a> {
    match origin {
        "cimd" => Provenance::MetadataDocument(client_id),
        "dcr" => Provenance::Registered(host),
        _ => Provenance::Admin,
    }
}
