//! `GET /authorize`: validate an authorization request and show the login
//! page. The form posts ([`submit`]) are in [`super::consent`].
//!
//! Validation order matters (RFC 6749 §4.1.2.1): the client and its
//! redirect URI are checked first, and while either is in doubt the answer
//! is an error page, never a redirect (an open redirector otherwise). Only
//! after both are established are further errors sent back to the client
//! at its redirect URI, with `state` and `iss` (RFC 9207).
//!
//! The validated request travels in the login form, sealed (HMAC) by the
//! server, so no server-side session is needed and any replica can take
//! the post. It is bound to the CSRF cookie through a hash of its value.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use mcp_connector_security::pkce::is_valid_s256_challenge;
use mcp_connector_security::{random_token, sha256_hex};
use serde::{Deserialize, Serialize};
use url::Url;

use super::pages::{self, RequestInfo, SignInChoice};
use super::params::Params;
use super::upstream::login::{self as upstream_login, Target};
use super::{Auth, OAuthError, ScopeSet, client_auth, consent, session};
use crate::clock::unix_now;
use crate::network::ClientIp;
use crate::store::oauth::{Client, ClientOrigin};

pub use super::consent::submit;

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
        provenance: super::consent::provenance(&pending.origin, &pending.client_id, &host),
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

/// `GET /authorize`. A browser already signed in to the connector goes
/// straight to the consent page; with only the company sign-in (no local
/// logins) it goes straight to the identity provider; otherwise it gets
/// the sign-in page.
pub async fn start(
    State(auth): State<Auth>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ip = ip.map(|Extension(ClientIp(ip))| ip);
    let params = Params::parse(uri.query().unwrap_or("").as_bytes());
    let (client, redirect_uri) = match client_and_redirect(&auth, &params).await {
        Ok(v) => v,
        Err(res) => return *res,
    };
    // From here on the redirect URI is registered for the client. Errors go
    // back to it, except for a client that registered itself: anyone can
    // register any https URI, so until a user has interacted (signed in),
    // redirecting would make this server an open redirector (RFC 9700
    // §4.11.2); such a client gets the error page instead.
    let state = params.get("state").map(str::to_owned);
    let vetted = client.origin != ClientOrigin::Dcr;
    let fail = |error: &str, description: &str| {
        if vetted {
            redirect_error(&auth, &redirect_uri, state.as_deref(), error, description)
        } else {
            error_page(
                StatusCode::BAD_REQUEST,
                "Invalid authorization request",
                &format!("The application sent an invalid request ({error}): {description}."),
            )
        }
    };
    if let Some(name) = params.first_repeated() {
        return fail(
            "invalid_request",
            &format!("parameter `{name}` is repeated"),
        );
    }
    match params.get("response_type") {
        Some("code") => {}
        None => return fail("invalid_request", "`response_type` is required"),
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "only `response_type=code` is supported",
            );
        }
    }
    if !client.allows_grant("authorization_code") {
        return fail(
            "unauthorized_client",
            "the client is not registered for the authorization_code grant",
        );
    }
    // PKCE for every client, S256 only (OAuth 2.1 §4.1.1): an absent method
    // means `plain` (RFC 7636 §4.3), which is refused like an explicit one.
    let Some(challenge) = params.get("code_challenge") else {
        return fail("invalid_request", "`code_challenge` is required (PKCE)");
    };
    if params.get("code_challenge_method") != Some("S256") {
        return fail("invalid_request", "`code_challenge_method` must be S256");
    }
    if !is_valid_s256_challenge(challenge) {
        return fail(
            "invalid_request",
            "`code_challenge` is not a valid S256 challenge",
        );
    }
    // MCP (2025-06-18 on) requires clients to send `resource` (RFC 8707),
    // and the code is bound to it. A client that omits it is refused unless
    // the operator allows older clients (`auth.require_resource = false`);
    // then it can only mean this server, the one resource this
    // authorization server issues tokens for. Anything else is refused.
    let resource = match params.get("resource") {
        Some(r) if auth.is_this_resource(r) => auth.resource.to_string(),
        Some(_) => {
            return fail(
                "invalid_target",
                "`resource` is not this server's MCP endpoint",
            );
        }
        None if auth.config.require_resource => {
            return fail(
                "invalid_request",
                "`resource` is required: the URL of this server's MCP endpoint (RFC 8707)",
            );
        }
        None => auth.resource.to_string(),
    };
    // Unknown scopes (`offline_access`, `claudeai`) are dropped, not refused.
    let scope = auth.scopes.known(params.get("scope").unwrap_or(""));
    let csrf = csrf_from_cookie(&auth, &headers).unwrap_or_else(|| random_token(32));
    let pending = Pending {
        client_id: client.id.clone(),
        client_name: client.name.clone(),
        origin: client.origin.as_str().to_owned(),
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        code_challenge: challenge.to_owned(),
        scope: scope.to_string(),
        resource,
        csrf: sha256_hex(csrf.as_bytes()),
        exp: unix_now() + REQUEST_TTL_SECS,
    };
    // The CSRF cookie is (re)set on every start, so it outlives the flow.
    let set_cookie = csrf_set_cookie(&auth, &csrf);
    let with_csrf = |res: Response| session::with_cookie(res, &set_cookie);
    match session::signed_in(&auth, &headers).await {
        Ok(Some(s)) => {
            let res = consent::after_sign_in(&auth, pending, &s.user, &csrf, ip).await;
            return with_csrf(res);
        }
        Ok(None) => {}
        Err(e) => return internal(&e),
    }
    if let Some(up) = auth
        .upstream
        .clone()
        .filter(|_| !auth.config.local_logins())
    {
        let target = Target::Authorize(pending);
        return upstream_login::begin(&auth, &up, target, &csrf, Some(set_cookie)).await;
    }
    login_page(&auth, StatusCode::OK, &pending, &csrf, None, "", true)
}

/// The live client and the redirect URI to use, or the error page.
async fn client_and_redirect(
    auth: &Auth,
    params: &Params,
) -> Result<(Client, String), Box<Response>> {
    let bad = |message: &str| {
        Err(Box::new(error_page(
            StatusCode::BAD_REQUEST,
            "Invalid authorization request",
            message,
        )))
    };
    if params.is_repeated("client_id") || params.is_repeated("redirect_uri") {
        return bad("The request repeats client_id or redirect_uri.");
    }
    let Some(client_id) = params.get("client_id") else {
        return bad("The request has no client_id.");
    };
    let client = match client_auth::lookup(auth, client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return bad("The application is not registered with this server."),
        Err(OAuthError::Internal(e)) => return Err(Box::new(internal(&e))),
        Err(_) => return bad("The application is not registered with this server."),
    };
    let redirect_uri = match params.get("redirect_uri") {
        Some(sent) => {
            if !client
                .redirect_uris
                .iter()
                .any(|r| redirect_matches(r, sent))
            {
                return bad("The redirect URI is not registered for this application.");
            }
            sent.to_owned()
        }
        None => match client.redirect_uris.as_slice() {
            [only] => only.clone(),
            _ => return bad("The request has no redirect_uri."),
        },
    };
    Ok((client, redirect_uri))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_redirect_match() {
        let r = "https://claude.ai/api/mcp/auth_callback";
        assert!(redirect_matches(r, r));
        for bad in [
            "https://claude.ai/api/mcp/auth_callback/",
            "https://claude.ai/api/mcp/auth_callback?x=1",
            "https://claude.ai.evil.example/api/mcp/auth_callback",
            "https://claude.ai@evil.example/api/mcp/auth_callback",
            "https://evil.example/api/mcp/auth_callback",
            "https://CLAUDE.ai/api/mcp/auth_callback",
            "https://claude.ai:443/api/mcp/auth_callback",
            "http://claude.ai/api/mcp/auth_callback",
            "https://claude.ai/api/mcp/auth_callback#x",
        ] {
            assert!(!redirect_matches(r, bad), "{bad}");
        }
    }

    #[test]
    fn loopback_any_port() {
        assert!(redirect_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:53127/callback"
        ));
        assert!(redirect_matches(
            "http://localhost/callback",
            "http://localhost:8080/callback"
        ));
        assert!(redirect_matches(
            "http://[::1]:1/cb",
            "http://[::1]:9999/cb"
        ));
        assert!(redirect_matches(
            "http://127.0.0.1:3000/callback",
            "http://127.0.0.1:4000/callback"
        ));
        for bad in [
            "http://127.0.0.1:53127/other",
            "http://127.0.0.1:53127/callback?x=1",
            "http://localhost:53127/callback",
            "http://evil@127.0.0.1:53127/callback",
            "https://127.0.0.1:53127/callback",
            "http://127.0.0.1:53127/./callback",
            "http://127.0.0.1:53127/%63allback",
        ] {
            assert!(!redirect_matches("http://127.0.0.1/callback", bad), "{bad}");
        }
        // Not loopback: exact match only.
        assert!(!redirect_matches(
            "http://app.example/cb",
            "http://app.example:81/cb"
        ));
    }

    #[test]
    fn hosts_and_sources() {
        assert_eq!(redirect_host("https://claude.ai/x"), "claude.ai");
        assert_eq!(redirect_host("http://127.0.0.1:5/x"), "127.0.0.1:5");
        assert_eq!(
            form_action_source("http://127.0.0.1:5/x").as_deref(),
            Some("http://127.0.0.1:5")
        );
        assert_eq!(
            form_action_source("cursor://anysphere/cb").as_deref(),
            Some("cursor:")
        );
    }
}
