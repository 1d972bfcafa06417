//! A small fake OpenID provider for the cases a correct provider cannot
//! produce (wrong nonce, issuer or audience, bad signature, expired ID
//! token) and for ID-JAG assertions: ES256 keys generated here, discovery,
//! JWKS, a token endpoint and userinfo on 127.0.0.1. The real provider
//! (npm `oidc-provider`) is in `upstream_op`.
//!
//! [`idp_test!`] runs a test on SQLite and PostgreSQL with a fresh fake
//! provider and a server whose `[auth.upstream]` and `[auth.id_jag]` point
//! at it.

// Tests may unwrap: a panic is the failure report here.
#![allow(clippy::unwrap_used, dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_connector::clock::unix_now;
use mcp_connector::config::{ClientAuth, Config, IdJag, UpstreamIdp};
use mcp_connector_security::SecretString;
use serde_json::{Value, json};

use crate::common::TestServer;
use crate::oauth_flow::{AuthorizeParams, Pkce, REDIRECT, add_client, location, param};

/// The connector's client id at the fake provider.
pub const CLIENT_ID: &str = "mcp-connector";
pub const CLIENT_SECRET: &str = "fake-idp-client-secret";

/// An ES256 key with its public JWK.
pub struct SigningKey {
    pub kid: String,
    key: EncodingKey,
    pub jwk: Value,
}

impl SigningKey {
    pub fn new(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate().expect("P-256 key");
        let point = pair.public_key_raw();
        Self {
            kid: kid.into(),
            key: EncodingKey::from_ec_der(&pair.serialize_der()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..]),
            }),
        }
    }

    /// `claims` signed with `typ` (none when `None`).
    pub fn sign(&self, typ: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.key).expect("sign")
    }
}

/// What the fake provider's token endpoint answers next.
#[derive(Default)]
pub struct Behaviour {
    /// Merged over the default ID token claims.
    pub id_token: Value,
    /// Sign with this key instead of the published one (bad signature).
    pub foreign_key: bool,
    /// Answer with this status and `error` instead of tokens.
    pub error: Option<(u16, &'static str)>,
    /// Claims userinfo returns (besides `sub`).
    pub userinfo: Value,
}

struct Inner {
    issuer: String,
    key: SigningKey,
    other: SigningKey,
    nonce: Option<String>,
    sub: String,
    behaviour: Behaviour,
    /// Token endpoint forms received (for assertions on client auth).
    pub token_requests: Vec<BTreeMap<String, String>>,
}

/// The fake provider.
#[derive(Clone)]
pub struct FakeIdp {
    pub issuer: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeIdp {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let idp = Self {
            issuer: issuer.clone(),
            inner: Arc::new(Mutex::new(Inner {
                issuer,
                key: SigningKey::new("k1"),
                other: SigningKey::new("k1"),
                nonce: None,
                sub: "sub-alice".into(),
                behaviour: Behaviour::default(),
                token_requests: Vec::new(),
            })),
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(idp.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        idp
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    pub fn set_nonce(&self, nonce: &str) {
        self.lock().nonce = Some(nonce.into());
    }

    pub fn set_sub(&self, sub: &str) {
        self.lock().sub = sub.into();
    }

    pub fn behave(&self, b: Behaviour) {
        self.lock().behaviour = b;
    }

    pub fn token_requests(&self) -> Vec<BTreeMap<String, String>> {
        self.lock().token_requests.clone()
    }

    /// Claims signed with the published key and `typ`.
    pub fn sign(&self, typ: Option<&str>, claims: &Value) -> String {
        self.lock().key.sign(typ, claims)
    }

    /// The default ID token claims for the current nonce and subject.
    fn id_claims(i: &Inner) -> Value {
        json!({
            "iss": i.issuer,
            "aud": CLIENT_ID,
            "sub": i.sub,
            "iat": unix_now(),
            "exp": unix_now() + 300,
            "nonce": i.nonce,
            "email": "alice@example.com",
            "preferred_username": "alice",
            "name": "Alice Example",
            "groups": ["mcp-editors"],
        })
    }
}

async fn discovery(State(idp): State<FakeIdp>) -> Json<Value> {
    let i = &idp.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "scopes_supported": ["openid", "email", "profile", "groups", "offline_access"],
    }))
}

async fn jwks(State(idp): State<FakeIdp>) -> Json<Value> {
    Json(json!({"keys": [idp.lock().key.jwk.clone()]}))
}

async fn token(
    State(idp): State<FakeIdp>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    use axum::response::IntoResponse as _;
    let mut i = idp.lock();
    let mut seen = form.clone();
    if let Some(a) = headers.get("authorization") {
        seen.insert("authorization".into(), a.to_str().unwrap_or("").into());
    }
    i.token_requests.push(seen);
    if let Some((status, error)) = i.behaviour.error {
        let code = axum::http::StatusCode::from_u16(status).unwrap();
        return (code, Json(json!({"error": error}))).into_response();
    }
    let mut claims = FakeIdp::id_claims(&i);
    if let (Some(base), Some(over)) = (claims.as_object_mut(), i.behaviour.id_token.as_object()) {
        for (k, v) in over {
            base.insert(k.clone(), v.clone());
        }
    }
    let key = if i.behaviour.foreign_key {
        &i.other
    } else {
        &i.key
    };
    let id_token = key.sign(Some("JWT"), &claims);
    Json(json!({
        "access_token": "fake-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
        "refresh_token": format!("fake-refresh-{}", i.token_requests.len()),
    }))
    .into_response()
}

async fn userinfo(State(idp): State<FakeIdp>) -> Json<Value> {
    let i = idp.lock();
    let mut v = json!({"sub": i.sub});
    if let (Some(base), Some(over)) = (v.as_object_mut(), i.behaviour.userinfo.as_object()) {
        for (k, val) in over {
            base.insert(k.clone(), val.clone());
        }
    }
    Json(v)
}

/// How the server under test uses the provider.
#[derive(Debug, Clone)]
pub struct Setup {
    pub issuer: String,
    pub local_logins: bool,
    pub default_role: Option<String>,
    pub recheck: Option<Duration>,
}

thread_local! {
    /// The setup of the next server this thread starts (`Opts.tweak` is a
    /// plain `fn`; the test's main future runs on this thread).
    pub static SETUP: RefCell<Option<Setup>> = const { RefCell::new(None) };
}

/// The upstream configuration for `issuer`, as a test server uses it.
pub fn upstream_config(s: &Setup) -> UpstreamIdp {
    UpstreamIdp {
        issuer: s.issuer.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: Arc::new(SecretString::new(CLIENT_SECRET)),
        client_auth: ClientAuth::Basic,
        scopes: vec![
            "openid".into(),
            "email".into(),
            "profile".into(),
            "groups".into(),
        ],
        groups_claim: "groups".into(),
        default_role: s.default_role.clone(),
        local_logins: s.local_logins,
        recheck: s.recheck,
        roles: BTreeMap::from([
            ("mcp-editors".to_owned(), "editor".to_owned()),
            ("mcp-viewers".to_owned(), "viewer".to_owned()),
        ]),
    }
}

/// `Opts.tweak` for a server using the thread's [`SETUP`].
pub fn with_upstream(c: &mut Config) {
    let s = SETUP.with(|s| s.borrow().clone()).expect("SETUP set");
    c.auth.upstream = Some(upstream_config(&s));
    c.auth.id_jag = Some(IdJag {
        issuer: s.issuer.clone(),
        jwks_url: None,
    });
}

/// Define a test run on SQLite and PostgreSQL with a fresh [`FakeIdp`]:
/// `idp_test!(name, local_logins, |idp, srv| { ... })`.
#[macro_export]
macro_rules! idp_test {
    ($name:ident, $local:expr, |$idp:ident, $srv:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run(backend: $crate::common::Backend) {
                let $idp = $crate::idp::FakeIdp::start().await;
                $crate::idp::SETUP.with(|s| {
                    *s.borrow_mut() = Some($crate::idp::Setup {
                        issuer: $idp.issuer.clone(),
                        local_logins: $local,
                        default_role: None,
                        recheck: None,
                    })
                });
                let opts = $crate::common::Opts {
                    tweak: Some($crate::idp::with_upstream),
                    ..$crate::common::Opts::oauth()
                };
                let Some($srv) = $crate::common::TestServer::try_spawn(backend, opts).await else {
                    eprintln!("TEST_DATABASE_URL is not set: PostgreSQL variant not run");
                    return;
                };
                $body
                $srv.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::common::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::common::Backend::Postgres).await;
            }
        }
    };
}

/// A browser's cookies, by name (the test servers share 127.0.0.1).
#[derive(Debug, Clone, Default)]
pub struct Jar(pub BTreeMap<String, String>);

impl Jar {
    /// Keep the cookies `res` sets (an empty value removes one).
    pub fn take(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all("set-cookie") {
            let Some(pair) = v.to_str().ok().and_then(|v| v.split(';').next()) else {
                continue;
            };
            if let Some((k, val)) = pair.trim().split_once('=') {
                if val.is_empty() || v.to_str().unwrap_or("").contains("Max-Age=0") {
                    self.0.remove(k);
                } else {
                    self.0.insert(k.to_owned(), val.to_owned());
                }
            }
        }
    }

    /// The `Cookie` header value.
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// The start of an upstream sign-in through `GET /authorize` (local logins
/// off): the parameters, the browser's cookies and the provider URL.
pub struct Started {
    pub params: AuthorizeParams,
    pub pkce: Pkce,
    pub jar: Jar,
    pub provider_url: url::Url,
}

impl Started {
    pub fn state(&self) -> String {
        param(&self.provider_url, "state").expect("state")
    }
}

/// `GET /authorize` for a new client, which sends the browser to the fake
/// provider; the provider is told the nonce it was sent.
pub async fn start_upstream(srv: &TestServer, idp: &FakeIdp) -> Started {
    let (client, _) = add_client(srv, "Claude", &[REDIRECT], false).await;
    let pkce = Pkce::new();
    let params = AuthorizeParams::new(srv, &client, REDIRECT, "", "", &pkce);
    let res = srv.client.get(params.url(srv)).send().await.unwrap();
    assert_eq!(
        res.status().as_u16(),
        303,
        "GET /authorize goes to the provider"
    );
    let mut jar = Jar::default();
    jar.take(&res);
    let provider_url = location(&res).expect("Location");
    assert!(
        provider_url
            .as_str()
            .starts_with(&format!("{}/authorize", idp.issuer)),
        "{provider_url}"
    );
    idp.set_nonce(&param(&provider_url, "nonce").expect("nonce"));
    Started {
        params,
        pkce,
        jar,
        provider_url,
    }
}

/// The provider sends the browser back: `GET /oauth/upstream/callback`
/// with `query`, carrying `jar`.
pub async fn callback(srv: &TestServer, jar: &Jar, query: &[(&str, &str)]) -> reqwest::Response {
    let mut url = url::Url::parse(&format!("{}/oauth/upstream/callback", srv.base)).unwrap();
    url.query_pairs_mut().extend_pairs(query);
    srv.client
        .get(url)
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap()
}

/// Come back from the provider with a code for `s`.
pub async fn come_back(srv: &TestServer, idp: &FakeIdp, s: &Started) -> reqwest::Response {
    let state = s.state();
    callback(
        srv,
        &s.jar,
        &[
            ("code", "fake-code"),
            ("state", &state),
            ("iss", &idp.issuer),
        ],
    )
    .await
}

/// A server on `backend` using the provider described by `setup` (`None`
/// without PostgreSQL).
pub async fn spawn_with(backend: crate::common::Backend, setup: Setup) -> Option<TestServer> {
    SETUP.with(|s| *s.borrow_mut() = Some(setup));
    let opts = crate::common::Opts {
        tweak: Some(with_upstream),
        ..crate::common::Opts::oauth()
    };
    TestServer::try_spawn(backend, opts).await
}
