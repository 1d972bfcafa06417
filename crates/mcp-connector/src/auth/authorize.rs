//! `GET /authorize`: validate an authorization request and show the login
//! page, and `POST /authorize` ([`submit`]), which hands each step to
//! [`super::consent`] or the company sign-in; what the
//! steps share (the pending request, CSRF, redirects) is in [`super::flow`].
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
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap, StatusCode, Uri};
use axum::response::Response;
use mcp_connector_security::pkce::is_valid_s256_challenge;
use mcp_connector_security::{ct_eq, random_token, sha256_hex};

use super::flow::{
    Pending, REQUEST_TTL_SECS, csrf_from_cookie, csrf_set_cookie, error_page, internal, login_page,
    redirect_error, redirect_matches,
};
use super::params::Params;
use super::upstream::login::{self as upstream_login, Target};
use super::{Auth, OAuthError, client_auth, consent, session};
use crate::network::ClientIp;
use crate::store::oauth::{Client, ClientOrigin};

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
        exp: auth.clock.unix_now() + REQUEST_TTL_SECS,
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

/// `POST /authorize`.
pub async fn submit(
    State(auth): State<Auth>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let form = Params::parse(&body);
    // Double submit: the cookie and the field must both be there and agree.
    let Some(cookie) = csrf_from_cookie(&auth, &headers) else {
        return consent::forbidden();
    };
    let Some(csrf) = form.get("csrf") else {
        return consent::forbidden();
    };
    if !ct_eq(cookie.as_bytes(), csrf.as_bytes()) {
        return consent::forbidden();
    }
    let ip = extensions.get::<ClientIp>().map(|c| c.0);
    match form.get("step") {
        Some("login") => consent::login_step(&auth, &form, csrf, ip).await,
        Some("upstream") => upstream_step(&auth, &form, csrf).await,
        Some("consent") => consent::consent_step(&auth, &form, csrf, ip).await,
        Some("switch") => consent::switch_step(&auth, &form, &headers, csrf).await,
        _ => consent::bad_form(),
    }
}

/// "Sign in with your company account": off to the identity provider.
async fn upstream_step(auth: &Auth, form: &Params, csrf: &str) -> Response {
    let pending = match consent::pending_of(auth, form, csrf) {
        Ok(p) => p,
        Err(res) => return *res,
    };
    let Some(up) = auth.upstream.clone() else {
        return consent::bad_form();
    };
    upstream_login::begin(auth, &up, Target::Authorize(pending), csrf, None).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::flow::{form_action_source, redirect_host};

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
