//! Shared helpers of the OAuth tests, the one place for them: users and
//! clients for set-up, codes and tokens minted by the server's own issuing
//! code, PKCE pairs, and a driver that walks `GET /authorize` → login page →
//! consent page over real HTTP, carrying the CSRF cookie like a browser does.
//!
//! The lower-level steps ([`start`], [`login`], [`consent`]) are public too,
//! so that negative tests can stop or tamper at any step.

// Tests may unwrap: a panic is the failure report here.
#![allow(clippy::unwrap_used, dead_code)]

use mcp_connector::auth::issue::{self, TokenResponse};
use mcp_connector::auth::{Auth, ScopeSet};
use mcp_connector::clock::unix_now;
use mcp_connector::store::oauth::{ClientOrigin, NewClient, NewUser};
use mcp_connector_security::password::hash_password;
use mcp_connector_security::pkce::s256_challenge;
use mcp_connector_security::{SecretString, random_token};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use url::Url;

use crate::common::TestServer;

pub const REDIRECT: &str = "https://client.example/callback";
pub const PASSWORD: &str = "correct horse battery";
pub const READ: &str = "employees:read";
pub const WRITE: &str = "employees:write";

pub fn auth(srv: &TestServer) -> &Auth {
    srv.state.auth.as_ref().expect("oauth mode")
}

/// Store a user with an argon2id hash of `password` (at least 12
/// characters) and `role`; returns its id.
pub async fn add_user(srv: &TestServer, username: &str, password: &str, role: &str) -> String {
    let hash = hash_password(&SecretString::new(password)).expect("password hashes");
    insert_user(srv, username, hash, role).await
}

/// A user of `role` with a random name who never logs in (no password
/// matches), for tests that mint codes or tokens directly; returns its id.
pub async fn add_token_user(srv: &TestServer, role: &str) -> String {
    let username = format!("u{}", random_token(6));
    insert_user(srv, &username, "$argon2id$unused".into(), role).await
}

async fn insert_user(
    srv: &TestServer,
    username: &str,
    password_hash: String,
    role: &str,
) -> String {
    let id = issue::id();
    srv.state
        .db
        .insert_user(&NewUser {
            id: id.clone(),
            username: username.into(),
            email: None,
            password_hash,
            role: role.into(),
            now: unix_now(),
        })
        .await
        .expect("insert user");
    id
}

/// A client to store with [`insert_client`]. The default is a public
/// client for [`REDIRECT`] with the `authorization_code` and
/// `refresh_token` grants, made by the CLI just now.
#[derive(Debug, Clone)]
pub struct ClientSpec<'a> {
    pub name: &'a str,
    pub redirect_uris: &'a [&'a str],
    /// Confidential (`client_secret_basic`) when set.
    pub secret: bool,
    pub grants: &'a [&'a str],
    pub scopes: &'a str,
    pub origin: ClientOrigin,
    pub created_at: i64,
}

impl Default for ClientSpec<'_> {
    fn default() -> Self {
        Self {
            name: "Test client",
            redirect_uris: &[REDIRECT],
            secret: false,
            grants: &["authorization_code", "refresh_token"],
            scopes: "",
            origin: ClientOrigin::Cli,
            created_at: unix_now(),
        }
    }
}

/// Store the client `spec`; returns (id, secret).
pub async fn insert_client(srv: &TestServer, spec: &ClientSpec<'_>) -> (String, Option<String>) {
    let id = issue::id();
    let secret = spec.secret.then(|| issue::credential(issue::SECRET_PREFIX));
    srv.state
        .db
        .insert_client(&NewClient {
            id: id.clone(),
            secret_hash: secret.as_deref().map(issue::hash),
            name: spec.name.into(),
            redirect_uris: spec.redirect_uris.iter().map(|s| (*s).to_owned()).collect(),
            grant_types: spec.grants.iter().map(|g| (*g).to_owned()).collect(),
            scopes: spec.scopes.into(),
            auth_method: if spec.secret {
                "client_secret_basic".into()
            } else {
                "none".into()
            },
            origin: spec.origin,
            now: spec.created_at,
        })
        .await
        .expect("insert client");
    (id, secret)
}

/// Store a client allowed `authorization_code` and `refresh_token`;
/// confidential when `secret`. Returns (id, secret).
pub async fn add_client(
    srv: &TestServer,
    name: &str,
    redirect_uris: &[&str],
    secret: bool,
) -> (String, Option<String>) {
    let spec = ClientSpec {
        name,
        redirect_uris,
        secret,
        ..ClientSpec::default()
    };
    insert_client(srv, &spec).await
}

/// The default [`ClientSpec`], confidential when `secret`.
pub async fn test_client(srv: &TestServer, secret: bool) -> (String, Option<String>) {
    let spec = ClientSpec {
        secret,
        ..ClientSpec::default()
    };
    insert_client(srv, &spec).await
}

/// An authorization code for `client_id`, `user_id` and `redirect_uri`
/// with `challenge` and scope [`READ`], issued by the server's own code.
pub async fn code(
    srv: &TestServer,
    client_id: &str,
    user_id: &str,
    redirect_uri: &str,
    challenge: &str,
) -> String {
    let a = auth(srv);
    issue::code(
        a,
        &issue::CodeRequest {
            client_id: client_id.into(),
            user_id: user_id.into(),
            redirect_uri: redirect_uri.into(),
            code_challenge: challenge.into(),
            scopes: ScopeSet::parse(READ),
            resource: a.resource.to_string(),
        },
    )
    .await
    .expect("issue code")
}

/// A new grant for `client` (and `user`) with `scopes`, and its tokens
/// (a refresh token when `refresh`), issued by the server's own code.
pub async fn tokens(
    srv: &TestServer,
    client: &str,
    user: Option<&str>,
    scopes: &str,
    refresh: bool,
) -> TokenResponse {
    let scopes = ScopeSet::parse(scopes);
    issue::grant_and_tokens(auth(srv), client, user, &scopes, refresh)
        .await
        .expect("tokens")
}

/// The grant of `token` if it is a live access token.
pub async fn live_grant(srv: &TestServer, token: &str) -> Option<String> {
    let hash = issue::hash(token);
    let found = srv.state.db.access_token(&hash, unix_now()).await;
    found.expect("db").map(|t| t.grant_id)
}

/// Whether `token` is a live access token.
pub async fn valid(srv: &TestServer, token: &str) -> bool {
    live_grant(srv, token).await.is_some()
}

/// An access token of a new grant: (token, grant id).
pub async fn mint(
    srv: &TestServer,
    client: &str,
    user: Option<&str>,
    scopes: &str,
) -> (String, String) {
    let t = tokens(srv, client, user, scopes, false).await;
    let grant = live_grant(srv, &t.access_token).await.expect("live token");
    (t.access_token, grant)
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
