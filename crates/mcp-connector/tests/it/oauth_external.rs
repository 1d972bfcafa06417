//! `/mcp` with JWT access tokens from an external identity provider
//! (`auth.mode = "external"`): a tiny JWKS server on 127.0.0.1 publishes
//! EC P-256 keys; tokens are signed here with `jsonwebtoken`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_connector::clock::unix_now;
use mcp_connector::config::{AuthMode, Config, ExternalIdp};
use serde_json::{Value, json};

use crate::common::{Backend, Opts, TestServer};
use crate::oauth_resource::{assert_invalid_token, count_call, post, www_authenticate};

const ISSUER: &str = "https://idp.example.com/";

thread_local! {
    /// The JWKS URL for the next server this thread starts (`Opts.tweak`
    /// is a plain `fn`; the test's main future runs on this thread).
    static JWKS_URL: RefCell<Option<url::Url>> = const { RefCell::new(None) };
}

fn external(config: &mut Config) {
    let jwks_url = JWKS_URL.with(|u| u.borrow().clone()).expect("JWKS URL set");
    config.auth.external = Some(ExternalIdp {
        issuer: ISSUER.into(),
        jwks_url,
        audience: None,
        leeway: Duration::from_secs(5),
    });
}

struct SigningKey {
    kid: String,
    key: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    fn new(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate().expect("P-256 key");
        let point = pair.public_key_raw();
        assert_eq!(point.len(), 65);
        Self {
            kid: kid.into(),
            key: EncodingKey::from_ec_der(&pair.serialize_der()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..]),
            }),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, claims, &self.key).expect("sign")
    }
}

/// The identity provider's JWKS endpoint.
#[derive(Clone, Default)]
struct Idp {
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl Idp {
    async fn start(keys: &[&SigningKey]) -> (Self, url::Url) {
        let idp = Self::default();
        idp.publish(keys);
        let app = Router::new()
            .route(
                "/jwks",
                get(|State(idp): State<Idp>| async move {
                    idp.fetches.fetch_add(1, Ordering::SeqCst);
                    let keys = idp.keys.lock().expect("keys").clone();
                    axum::Json(json!({ "keys": keys }))
                }),
            )
            .with_state(idp.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let url = url::Url::parse(&format!("http://{addr}/jwks")).expect("url");
        (idp, url)
    }

    fn publish(&self, keys: &[&SigningKey]) {
        *self.keys.lock().expect("keys") = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn server(idp_url: url::Url) -> TestServer {
    JWKS_URL.with(|u| *u.borrow_mut() = Some(idp_url));
    TestServer::try_spawn(
        Backend::Sqlite,
        Opts {
            auth: AuthMode::External,
            tweak: Some(external),
            ..Opts::default()
        },
    )
    .await
    .expect("server")
}

fn claims(srv: &TestServer, scope: &str) -> Value {
    json!({
        "iss": ISSUER,
        "sub": "alice@idp",
        "aud": srv.url,
        "exp": unix_now() + 600,
        "iat": unix_now(),
        "scope": scope,
        "azp": "idp-client",
    })
}

async fn status(srv: &TestServer, token: &str) -> u16 {
    post(srv, Some(&format!("Bearer {token}")), &count_call())
        .await
        .status()
        .as_u16()
}

async fn refused(srv: &TestServer, token: &str) {
    let res = post(srv, Some(&format!("Bearer {token}")), &count_call()).await;
    assert_invalid_token(res, srv).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_jwt_calls_tools() {
    let key = SigningKey::new("k1");
    let (_idp, url) = Idp::start(&[&key]).await;
    let srv = server(url).await;
    let token = key.sign(&claims(&srv, "employees:read"));
    let res = post(&srv, Some(&format!("Bearer {token}")), &count_call()).await;
    assert_eq!(res.status(), 200);
    let reply = crate::common::read_message(res).await;
    assert_eq!(reply["result"]["structuredContent"]["count"], 42, "{reply}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scp_array_is_read_and_missing_write_scope_is_403() {
    let key = SigningKey::new("k1");
    let (_idp, url) = Idp::start(&[&key]).await;
    let srv = server(url).await;
    let mut c = claims(&srv, "");
    c.as_object_mut().expect("object").remove("scope");
    c["scp"] = json!(["employees:read"]);
    let token = key.sign(&c);
    assert_eq!(status(&srv, &token).await, 200);
    let res = post(
        &srv,
        Some(&format!("Bearer {token}")),
        &crate::oauth_resource::rpc(
            "tools/call",
            json!({"name": "add_employee", "arguments": {"name": "M", "department": "engineering", "title": "x"}}),
        ),
    )
    .await;
    assert_eq!(res.status(), 403);
    assert!(www_authenticate(&res).contains("scope=\"employees:write\""));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_issuer_is_refused() {
    let key = SigningKey::new("k1");
    let (_idp, url) = Idp::start(&[&key]).await;
    let srv = server(url).await;
    let mut c = claims(&srv, "employees:read");
    // Not even a trailing-slash difference is tolerated.
    c["iss"] = json!("https://idp.example.com");
    refused(&srv, &key.sign(&c)).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_audience_is_refused() {
    let key = SigningKey::new("k1");
    let (_idp, url) = Idp::start(&[&key]).await;
    let srv = server(url).await;
    let mut c = claims(&srv, "employees:read");
    c["aud"] = json!(["https://other.example/mcp"]);
    refused(&srv, &key.sign(&c)).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_audience_is_refused() {
    let key = SigningKey::new("k1");
    let (_idp, url) = Idp::start(&[&key]).await;
    let srv = server(url).await;
    let mut c = claims(&srv, "employees:read");
    c.as_object_mut().expect("object").remove("aud");
    refused(&srv, &key.sign(&c)).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_jwt_is_refused() {
    let key = SigningKey::new("k1");
    let (_idp, url) = Idp::start(&[&key]).await;
    let srv = server(url).await;
    let mut c = claims(&srv, "employees:read");
    // Beyond the 5 s leeway.
    c["exp"] = json!(unix_now() - 60);
    refused(&srv, &key.sign(&c)).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_yet_valid_jwt_is_refused() {
    let key = SigningKey::new("k1");
    let (_idp, url) = Idp::start(&[&key]).await;
    let srv = server(url).await;
    let mut c = claims(&srv, "employees:read");
    c["nbf"] = json!(unix_now() + 300);
    refused(&srv, &key.sign(&c)).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_not_in_the_jwks_is_refused() {
    let published = SigningKey::new("k1");
    let (_idp, url) = Idp::start(&[&published]).await;
    let srv = server(url).await;
    // Same kid, different key: the signature does not verify.
    let impostor = SigningKey::new("k1");
    refused(&srv, &impostor.sign(&claims(&srv, "employees:read"))).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_key_is_fetched_once_and_unknown_kids_are_rate_limited() {
    let k1 = SigningKey::new("k1");
    let (idp, url) = Idp::start(&[&k1]).await;
    let srv = server(url).await;
    assert_eq!(
        status(&srv, &k1.sign(&claims(&srv, "employees:read"))).await,
        200
    );
    assert_eq!(idp.fetches(), 1);
    // The provider rotates to k2: a token naming it makes us refetch.
    let k2 = SigningKey::new("k2");
    idp.publish(&[&k1, &k2]);
    assert_eq!(
        status(&srv, &k2.sign(&claims(&srv, "employees:read"))).await,
        200
    );
    assert_eq!(idp.fetches(), 2);
    // A made-up kid right after does not trigger another fetch.
    let k3 = SigningKey::new("k3");
    refused(&srv, &k3.sign(&claims(&srv, "employees:read"))).await;
    assert_eq!(idp.fetches(), 2);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hs256_token_is_refused() {
    let key = SigningKey::new("k1");
    let (_idp, url) = Idp::start(&[&key]).await;
    let srv = server(url).await;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    // Signed with the public key's coordinates as an HMAC secret: the
    // classic algorithm-confusion attack.
    let secret = key.jwk["x"].as_str().expect("x").as_bytes().to_vec();
    let token = jsonwebtoken::encode(
        &header,
        &claims(&srv, "employees:read"),
        &EncodingKey::from_secret(&secret),
    )
    .expect("sign");
    refused(&srv, &token).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alg_none_token_is_refused() {
    let key = SigningKey::new("k1");
    let (_idp, url) = Idp::start(&[&key]).await;
    let srv = server(url).await;
    let header = B64.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
    let payload = B64.encode(claims(&srv, "employees:read").to_string());
    refused(&srv, &format!("{header}.{payload}.")).await;
    // Nor with some bytes in the signature part.
    refused(&srv, &format!("{header}.{payload}.AAAA")).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_unreachable_is_503_not_401() {
    // Nothing listens on port 9 of localhost.
    let srv = server(url::Url::parse("http://127.0.0.1:9/jwks").expect("url")).await;
    let key = SigningKey::new("k1");
    let res = post(
        &srv,
        Some(&format!(
            "Bearer {}",
            key.sign(&claims(&srv, "employees:read"))
        )),
        &count_call(),
    )
    .await;
    assert_eq!(res.status(), 503);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_resource_metadata_names_the_idp() {
    let key = SigningKey::new("k1");
    let (_idp, url) = Idp::start(&[&key]).await;
    let srv = server(url).await;
    let res = srv
        .client
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            srv.base
        ))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let prm: Value = res.json().await.expect("JSON");
    assert_eq!(prm["resource"], srv.url.as_str());
    assert_eq!(prm["authorization_servers"], json!([ISSUER]));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_jwt_types_are_refused() {
    let key = SigningKey::new("k1");
    let (_idp, url) = Idp::start(&[&key]).await;
    let srv = server(url).await;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("k1".into());
    // A logout token (or any non-access JWT) signed by the same provider.
    header.typ = Some("logout+jwt".into());
    let token =
        jsonwebtoken::encode(&header, &claims(&srv, "employees:read"), &key.key).expect("sign");
    refused(&srv, &token).await;
    // The same claims as an access token pass.
    assert_eq!(
        status(&srv, &key.sign(&claims(&srv, "employees:read"))).await,
        200
    );
    srv.stop().await;
}
