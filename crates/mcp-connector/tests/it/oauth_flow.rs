//! Shared helpers for tests that need the browser side of the OAuth flow:
//! users and clients for set-up, PKCE pairs, and a driver that walks
//! `GET /authorize` → login page → consent page over real HTTP, carrying
//! the CSRF cookie like a browser does.
//!
//! The lower-level steps ([`start`], [`login`], [`consent`]) are public too,
//! so that negative tests can stop or tamper at any step.

// Tests may unwrap: a panic is the failure report here.
#![allow(clippy::unwrap_used, dead_code)]

use mcp_connector::auth::issue;
use mcp_connector::clock::unix_now;
use mcp_connector::store::oauth::{ClientOrigin, NewClient, NewUser};
use mcp_connector_security::password::hash_password;
use mcp_connector_security::pkce::s256_challenge;
use mcp_connector_security::{SecretString, random_token};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use url::Url;

use crate::common::TestServer;

/// Store a user with an argon2id hash of `password` (at least 12
/// characters) and `role`; returns its id.
pub async fn add_user(srv: &TestServer, username: &str, password: &str, role: &str) -> String {
    let id = issue::id();
    let hash = hash_password(&SecretString::new(password)).expect("password hashes");
    srv.state
        .db
        .insert_user(&NewUser {
            id: id.clone(),
            username: username.into(),
            email: None,
            password_hash: hash,
            role: role.into(),
            now: unix_now(),
        })
        .await
        .expect("insert user");
    id
}

/// Store a client allowed `authorization_code` and `refresh_token`;
/// confidential (`client_secret_post`) when `secret`. Returns (id, secret).
pub async fn add_client(
    srv: &TestServer,
    name: &str,
    redirect_uris: &[&str],
    secret: bool,
) -> (String, Option<String>) {
    let id = issue::id();
    let secret = secret.then(|| issue::credential(issue::SECRET_PREFIX));
    srv.state
        .db
        .insert_client(&NewClient {
            id: id.clone(),
            secret_hash: secret.as_deref().map(issue::hash),
            name: name.into(),
            redirect_uris: redirect_uris.iter().map(|s| (*s).to_owned()).collect(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: String::new(),
            auth_method: if secret.is_some() {
                "client_secret_post".into()
            } else {
                "none".into()
            },
            origin: ClientOrigin::Cli,
            now: unix_now(),
        })
        .await
        .expect("insert client");
    (id, secret)
}

/// A PKCE verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        // 32 random bytes → 43 base64url characters, the RFC 7636 minimum.
        let verifier = random_token(32);
        let challenge = s256_challenge(&verifier);
        Self {
            verifier,
            challenge,
        }
    }
}

/// What [`authorize_code`] sends and does.
#[derive(Debug, Clone)]
pub struct AuthorizeParams {
    pub client_id: String,
    pub redirect_uri: String,
    pub username: String,
    pub password: String,
    pub code_challenge: String,
    /// Sent as `state` when `Some`.
    pub state: Option<String>,
    /// Sent as `scope` when `Some`.
    pub scope: Option<String>,
    /// Sent as `resource` when `Some`; [`AuthorizeParams::new`] sets the
    /// server's canonical `{base}/mcp`.
    pub resource: Option<String>,
    /// Scopes to tick on the consent page; `None` keeps what the page
    /// pre-selected.
    pub tick: Option<Vec<String>>,
    /// More query parameters for `GET /authorize`.
    pub extra: Vec<(String, String)>,
}

impl AuthorizeParams {
    pub fn new(
        srv: &TestServer,
        client_id: &str,
        redirect_uri: &str,
        username: &str,
        password: &str,
        pkce: &Pkce,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            username: username.into(),
            password: password.into(),
            code_challenge: pkce.challenge.clone(),
            state: Some(format!("st-{}", random_token(8))),
            scope: None,
            resource: Some(format!("{}/mcp", srv.base)),
            tick: None,
            extra: Vec::new(),
        }
    }

    /// The `GET /authorize` URL.
    pub fn url(&self, srv: &TestServer) -> Url {
        let mut url = Url::parse(&format!("{}/authorize", srv.base)).unwrap();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code");
            q.append_pair("client_id", &self.client_id);
            q.append_pair("redirect_uri", &self.redirect_uri);
            q.append_pair("code_challenge", &self.code_challenge);
            q.append_pair("code_challenge_method", "S256");
            if let Some(s) = &self.state {
                q.append_pair("state", s);
            }
            if let Some(s) = &self.scope {
                q.append_pair("scope", s);
            }
            if let Some(r) = &self.resource {
                q.append_pair("resource", r);
            }
            for (k, v) in &self.extra {
                q.append_pair(k, v);
            }
        }
        url
    }
}

/// A page of the flow: its HTML, and the CSRF cookie a browser would hold.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub html: String,
    /// `name=value` of the CSRF cookie, for a `Cookie` header.
    pub cookie: Option<String>,
}

impl Page {
    /// The value of the form field `name` (hidden input), unescaped.
    pub fn field(&self, name: &str) -> Option<String> {
        field(&self.html, name)
    }

    /// The scope checkboxes: (value, checked).
    pub fn scopes(&self) -> Vec<(String, bool)> {
        scope_boxes(&self.html)
    }
}

/// `value` of the first `<input ... name="{name}" value="...">`.
pub fn field(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')? + start;
    Some(unescape(&html[start..end]))
}

/// Every `<input type="checkbox" name="scope" value="X" [checked]>`.
pub fn scope_boxes(html: &str) -> Vec<(String, bool)> {
    let needle = "name=\"scope\" value=\"";
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(needle) {
        rest = &rest[i + needle.len()..];
        let Some(end) = rest.find('"') else { break };
        let value = unescape(&rest[..end]);
        let tag_end = rest.find('>').unwrap_or(rest.len());
        out.push((value, rest[..tag_end].contains("checked")));
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `name=value` pair of the CSRF cookie in a response, if set.
pub fn csrf_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let pair = v.split(';').next()?.trim();
        (pair.starts_with("mcpc_csrf=") || pair.starts_with("__Host-mcpc_csrf="))
            .then(|| pair.to_owned())
    })
}

async fn page(res: reqwest::Response, cookie: Option<String>) -> Page {
    let status = res.status().as_u16();
    let cookie = csrf_cookie(&res).or(cookie);
    Page {
        status,
        html: res.text().await.unwrap(),
        cookie,
    }
}

/// POST a form to `/authorize`, with `cookie` if any.
pub async fn post_form(
    srv: &TestServer,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut req = srv
        .client
        .post(format!("{}/authorize", srv.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    req.send().await.unwrap()
}

/// `GET /authorize`: the raw response (a login page, an error page or an
/// error redirect).
pub async fn start_raw(srv: &TestServer, p: &AuthorizeParams) -> reqwest::Response {
    srv.client.get(p.url(srv)).send().await.unwrap()
}

/// `GET /authorize`; `Err` with the response unless it is the 200 login page.
pub async fn start(srv: &TestServer, p: &AuthorizeParams) -> Result<Page, reqwest::Response> {
    let res = start_raw(srv, p).await;
    if res.status() != 200 {
        return Err(res);
    }
    Ok(page(res, None).await)
}

/// Submit the login form of `login_page`; the raw response.
pub async fn login_raw(
    srv: &TestServer,
    login_page: &Page,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let request = login_page.field("request").unwrap_or_default();
    let csrf = login_page.field("csrf").unwrap_or_default();
    post_form(
        srv,
        login_page.cookie.as_deref(),
        &[
            ("step", "login"),
            ("request", &request),
            ("csrf", &csrf),
            ("username", username),
            ("password", password),
        ],
    )
    .await
}

/// Log in; `Err` with the response unless it is the 200 consent page.
pub async fn login(
    srv: &TestServer,
    login_page: &Page,
    username: &str,
    password: &str,
) -> Result<Page, reqwest::Response> {
    let res = login_raw(srv, login_page, username, password).await;
    if res.status() != 200 {
        return Err(res);
    }
    Ok(page(res, login_page.cookie.clone()).await)
}

/// Submit the consent form with `decision` (`allow`/`deny`) and `scopes`
/// ticked; the raw response.
pub async fn consent_raw(
    srv: &TestServer,
    consent_page: &Page,
    decision: &str,
    scopes: &[String],
) -> reqwest::Response {
    let ticket = consent_page.field("ticket").unwrap_or_default();
    let csrf = consent_page.field("csrf").unwrap_or_default();
    let mut form: Vec<(&str, &str)> = vec![
        ("step", "consent"),
        ("ticket", &ticket),
        ("csrf", &csrf),
        ("decision", decision),
    ];
    for s in scopes {
        form.push(("scope", s));
    }
    post_form(srv, consent_page.cookie.as_deref(), &form).await
}

/// The `Location` of a redirect response, parsed.
pub fn location(res: &reqwest::Response) -> Option<Url> {
    let loc = res.headers().get(LOCATION)?.to_str().ok()?;
    Url::parse(loc).ok()
}

/// Allow on the consent page; `Err` with the response unless it is a 303.
pub async fn consent(
    srv: &TestServer,
    consent_page: &Page,
    scopes: &[String],
) -> Result<Url, reqwest::Response> {
    let res = consent_raw(srv, consent_page, "allow", scopes).await;
    if res.status() != 303 {
        return Err(res);
    }
    location(&res).ok_or(res)
}

/// Walk the whole flow: `GET /authorize`, log in, allow. `Ok` with the
/// redirect (which carries `code`, `state` and `iss`); `Err` with the first
/// response that was not the expected page or redirect.
pub async fn authorize_code(
    srv: &TestServer,
    p: &AuthorizeParams,
) -> Result<Url, reqwest::Response> {
    let login_page = start(srv, p).await?;
    let consent_page = login(srv, &login_page, &p.username, &p.password).await?;
    let ticked: Vec<String> = match &p.tick {
        Some(t) => t.clone(),
        None => consent_page
            .scopes()
            .into_iter()
            .filter(|(_, checked)| *checked)
            .map(|(s, _)| s)
            .collect(),
    };
    consent(srv, &consent_page, &ticked).await
}

/// The value of query parameter `name` of `url` (the first one).
pub fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `POST /token` with `grant_type=authorization_code`; the client
/// authenticates with `client_secret_post` when `secret` is given.
pub async fn exchange(
    srv: &TestServer,
    client_id: &str,
    secret: Option<&str>,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", verifier),
        ("redirect_uri", redirect_uri),
        ("client_id", client_id),
    ];
    if let Some(s) = secret {
        form.push(("client_secret", s));
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    srv.client
        .post(format!("{}/token", srv.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}
