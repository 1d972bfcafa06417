//! The bearer-token check of `/mcp` in a loop, for instruction counts
//! (`valgrind --tool=callgrind`) and a rough rate: each check misses the
//! validation cache on purpose, so every one is the full path a token takes
//! every 4 seconds (the database join over token, grant, client and user,
//! the audience, idle-timeout and role checks).
//!
//! ```sh
//! cargo run --release -p mcp-connector --example token_check -- 2000
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!   $CARGO_TARGET_DIR/release/examples/token_check 200
//! ```

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use mcp_connector::AppState;
use mcp_connector::auth::{ScopeSet, issue};
use mcp_connector::clock::unix_now;
use mcp_connector::config::{AuthMode, Config};
use mcp_connector::store::oauth::{ClientOrigin, NewClient, NewUser};
use tower::ServiceExt as _;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir()?;
    let mut config = Config {
        database_url: format!("sqlite://{}", dir.path().join("bench.db").display()),
        public_origin: Some(url::Url::parse("http://127.0.0.1:1")?),
        ..Config::default()
    };
    config.auth.mode = AuthMode::OAuth;
    let state = AppState::build(config).await?;
    let auth = state.auth.clone().ok_or("oauth mode")?;
    let now = unix_now();
    auth.db
        .insert_user(&NewUser {
            id: "u1".into(),
            username: "alice".into(),
            email: None,
            password_hash: "$argon2id$unused".into(),
            role: "viewer".into(),
            now,
        })
        .await?;
    auth.db
        .insert_client(&NewClient {
            id: "c1".into(),
            secret_hash: None,
            name: "bench".into(),
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            grant_types: vec!["authorization_code".into()],
            scopes: String::new(),
            auth_method: "none".into(),
            origin: ClientOrigin::Cli,
            now,
        })
        .await?;
    let scopes = ScopeSet::parse("employees:read");
    let token = issue::grant_and_tokens(&auth, "c1", Some("u1"), &scopes, false)
        .await?
        .access_token;
    let key = mcp_connector_security::sha256(token.as_bytes());
    let app = Router::new().route("/mcp", post(|| async { "ok" })).layer(
        axum::middleware::from_fn_with_state(
            auth.clone(),
            mcp_connector::auth::resource::require_token,
        ),
    );
    let bearer = format!("Bearer {token}");
    let start = Instant::now();
    for _ in 0..n {
        auth.cache.remove(&key);
        let req = Request::post("/mcp")
            .header("authorization", &bearer)
            .body(Body::empty())?;
        let res = app.clone().oneshot(req).await?;
        if res.status() != StatusCode::OK {
            return Err(format!("token refused: {}", res.status()).into());
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} full token checks in {secs:.3} s: {:.0} checks/s",
        n as f64 / secs
    );
    state.db.close().await;
    Ok(())
}
