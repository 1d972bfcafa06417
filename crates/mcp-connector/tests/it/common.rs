//! Test harness: a real server on 127.0.0.1:0 with its own database.
//!
//! Every test that touches data runs twice through [`db_test!`]: on a fresh
//! SQLite file, and on a fresh PostgreSQL database when `TEST_DATABASE_URL`
//! is set (CI sets it to the local server).

use std::time::Duration;

use mcp_connector::config::{AuthMode, Config, Demo};
use mcp_connector::{AppState, serve};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const LEGACY: &str = "2025-11-25";
pub const MODERN: &str = "2026-07-28";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct Opts {
    pub demo: Demo,
    pub sessions: bool,
    pub public_url: Option<&'static str>,
    pub max_body_bytes: Option<usize>,
    pub tool_timeout: Option<Duration>,
    /// Listen on [::1] instead of 127.0.0.1.
    pub ipv6: bool,
    /// Any other change to the configuration.
    pub tweak: Option<fn(&mut Config)>,
    /// `auth.mode`; with `oauth` or `external` and no `public_url`, the
    /// public URL is the server's own `http://127.0.0.1:PORT`.
    pub auth: AuthMode,
    /// A config file's text: its `[sources]`, `[[tools]]` / `[tools.NAME]`
    /// and `server.read_only` are used (the rest comes from the test).
    pub toml: Option<String>,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            demo: Demo::Company,
            sessions: false,
            public_url: None,
            max_body_bytes: None,
            tool_timeout: None,
            ipv6: false,
            tweak: None,
            auth: AuthMode::None,
            toml: None,
        }
    }
}

impl Opts {
    pub fn sessions() -> Self {
        Self {
            sessions: true,
            ..Self::default()
        }
    }
    pub fn oauth() -> Self {
        Self {
            auth: AuthMode::OAuth,
            ..Self::default()
        }
    }
    /// Serve the tools a config file declares.
    pub fn declared(toml: impl Into<String>) -> Self {
        Self {
            toml: Some(toml.into()),
            ..Self::default()
        }
    }
    pub fn conformance() -> Self {
        Self {
            demo: Demo::Conformance,
            ..Self::default()
        }
    }
}

/// A running server.
pub struct TestServer {
    pub base: String,
    pub url: String,
    pub client: reqwest::Client,
    pub database_url: String,
    pub backend: Backend,
    /// The server's state (database, authentication), for set-up and checks.
    pub state: AppState,
    /// `http://ADDR/metrics` when the config sets `metrics_listen`
    /// (bound like the server: `127.0.0.1:0` gets a free port).
    pub metrics_url: Option<String>,
    pub shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

fn init_logs() {
    mcp_connector::telemetry::init(mcp_connector::config::LogFormat::Text);
}

/// A fresh PostgreSQL database under `TEST_DATABASE_URL`, as (url, admin url, name).
pub async fn fresh_postgres() -> Option<(String, String, String)> {
    let admin = std::env::var("TEST_DATABASE_URL").ok()?;
    let name = format!(
        "mcpc_test_{}",
        mcp_connector_security::random_token(9)
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("TEST_DATABASE_URL is reachable");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    Some((url.to_string(), admin, name))
}

impl TestServer {
    /// Start a server on `backend`; `None` when that backend is not available
    /// (PostgreSQL without `TEST_DATABASE_URL`).
    pub async fn try_spawn(backend: Backend, opts: Opts) -> Option<Self> {
        init_logs();
        let (dir, database_url, pg_admin) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                (Some(dir), url, None)
            }
            Backend::Postgres => {
                let (url, admin, name) = fresh_postgres().await?;
                (None, url, Some((admin, name)))
            }
        };
        Some(Self::start(backend, opts, database_url, dir, pg_admin).await)
    }

    /// Start another server on an existing database (a second replica, or a restart).
    pub async fn replica(&self, opts: Opts) -> Self {
        Self::start(self.backend, opts, self.database_url.clone(), None, None).await
    }

    async fn start(
        backend: Backend,
        opts: Opts,
        database_url: String,
        dir: Option<tempfile::TempDir>,
        pg_admin: Option<(String, String)>,
    ) -> Self {
        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            database_url: database_url.clone(),
            demo: opts.demo,
            sessions: opts.sessions,
            shutdown_grace: Duration::from_secs(5),
            ..Config::default()
        };
        if let Some(text) = &opts.toml {
            let file = Config::parse_file(text).expect("test config parses");
            let parsed = Config::from_parts(file, &mcp_connector::config::Overrides::default())
                .expect("test config is valid");
            config.declared = parsed.declared;
            config.tools = parsed.tools;
            config.read_only = parsed.read_only;
        }
        if let Some(tweak) = opts.tweak {
            tweak(&mut config);
        }
        if let Some(t) = opts.tool_timeout {
            config.tool_timeout = t;
        }
        if let Some(max) = opts.max_body_bytes {
            config.max_body_bytes = max;
        }
        if let Some(public) = opts.public_url {
            let url = url::Url::parse(public).expect("public url");
            config
                .allowed_hosts
                .push(url.host_str().expect("host").to_owned());
            config
                .allowed_origins
                .push(url.origin().ascii_serialization());
            config.public_origin = Some(url);
        }
        let bind = if opts.ipv6 { "[::1]:0" } else { "127.0.0.1:0" };
        let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        config.auth.mode = opts.auth;
        if opts.auth != AuthMode::None && config.public_origin.is_none() {
            config.public_origin = Some(url::Url::parse(&format!("http://{addr}")).expect("url"));
        }
        let metrics_listen = config.metrics_listen;
        let state = AppState::build(config).await.expect("server state");
        let shutdown = CancellationToken::new();
        let mut metrics_url = None;
        if let Some(addr) = metrics_listen {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .expect("bind metrics");
            metrics_url = Some(format!("http://{}/metrics", l.local_addr().expect("addr")));
            tokio::spawn(mcp_connector::http::metrics::serve(
                l,
                state.metrics.clone(),
                shutdown.clone(),
            ));
        }
        let task = tokio::spawn(serve(listener, state.clone(), shutdown.clone()));
        let base = format!("http://{addr}");
        Self {
            url: format!("{base}/mcp"),
            base,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            database_url,
            backend,
            state,
            metrics_url,
            shutdown,
            task: Some(task),
            _dir: dir,
            pg_admin,
        }
    }

    /// Stop the server, check it exited cleanly, drop its PostgreSQL database.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let r = tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .expect("server stops within 15 s")
                .expect("server task did not panic");
            r.expect("serve returned Ok");
        }
        if let Some((admin, name)) = self.pg_admin.take()
            && let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    }

    /// The server task, for shutdown tests.
    pub fn take_task(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        self.task.take().expect("task present")
    }

    /// POST a raw body to /mcp with the standard headers plus `extra`.
    pub async fn post_raw(
        &self,
        body: impl Into<reqwest::Body>,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert(
            "accept",
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        for (k, v) in extra {
            headers.insert(
                HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                HeaderValue::from_str(v).expect("header value"),
            );
        }
        self.client
            .post(&self.url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// HTTP status of a legacy `tools/list` sent with `extra` headers: the
    /// probe of every edge test.
    pub async fn list_status(&self, extra: &[(&str, &str)]) -> u16 {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
        let mut headers = vec![("mcp-protocol-version", LEGACY)];
        headers.extend_from_slice(extra);
        self.post_raw(body, &headers).await.status().as_u16()
    }

    /// A legacy-era (stateless, `initialize`-less) request; the JSON-RPC reply.
    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let res = self
            .post_raw(body.to_string(), &[("mcp-protocol-version", LEGACY)])
            .await;
        read_message(res).await
    }

    /// `tools/call` in the legacy era; the `result`.
    pub async fn call(&self, tool: &str, args: Value) -> Value {
        let reply = self
            .rpc("tools/call", json!({"name": tool, "arguments": args}))
            .await;
        reply
            .get("result")
            .cloned()
            .unwrap_or_else(|| panic!("no result: {reply}"))
    }

    /// A 2026-07-28 request with correct `_meta` and headers; (status, reply).
    pub async fn modern(
        &self,
        method: &str,
        mut params: Value,
        name: Option<&str>,
    ) -> (u16, Value) {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "it", "version": "1"},
        });
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
        let mut headers = vec![("mcp-protocol-version", MODERN), ("mcp-method", method)];
        if let Some(n) = name {
            headers.push(("mcp-name", n));
        }
        let res = self.post_raw(body.to_string(), &headers).await;
        let status = res.status().as_u16();
        (status, read_message(res).await)
    }

    /// Headcount through the tool, for checks after writes.
    pub async fn count(&self, department: &str) -> i64 {
        let r = self
            .call("get_employee_count", json!({"department": department}))
            .await;
        r["structuredContent"]["count"]
            .as_i64()
            .unwrap_or_else(|| panic!("no count: {r}"))
    }
}

/// The `mcp-connector` binary, with the developer's `MCP_CONNECTOR_*`
/// environment removed so that it cannot leak into a test.
pub fn binary() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-connector"));
    for (k, _) in std::env::vars() {
        if k.starts_with("MCP_CONNECTOR_") {
            c.env_remove(k);
        }
    }
    c
}

/// Read one JSON-RPC reply from a JSON or SSE response (the last `data:`
/// message that carries an `id`).
pub async fn read_message(res: reqwest::Response) -> Value {
    let sse = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let text = res.text().await.expect("body");
    if sse {
        sse_messages(&text)
            .into_iter()
            .rev()
            .find(|m| m.get("id").is_some())
            .unwrap_or_else(|| panic!("no reply in SSE body: {text}"))
    } else if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    }
}

/// Read an open SSE response into `buf` until `done(buf)` holds; panics if
/// the stream ends or `deadline` passes first.
pub async fn read_until(
    res: &mut reqwest::Response,
    buf: &mut String,
    deadline: tokio::time::Instant,
    done: impl Fn(&str) -> bool,
) {
    while !done(buf) {
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .unwrap_or_else(|_| panic!("stream did not deliver in time: {buf}"))
            .expect("chunk")
            .unwrap_or_else(|| panic!("stream ended early: {buf}"));
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// The first message in an SSE body matching `pred`.
pub fn find_message(buf: &str, pred: impl Fn(&Value) -> bool) -> Option<Value> {
    sse_messages(buf).into_iter().find(|m| pred(m))
}

/// Every JSON message in an SSE body.
pub fn sse_messages(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            if data.is_empty() {
                return None;
            }
            serde_json::from_str(&data.join("\n")).ok()
        })
        .collect()
}

/// Text of the first content block of a tool result.
pub fn first_text(result: &Value) -> &str {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text content: {result}"))
}

/// Define a test that runs on SQLite and, when `TEST_DATABASE_URL` is set, on
/// PostgreSQL: `db_test!(name, opts, |srv| { ... })`.
#[macro_export]
macro_rules! db_test {
    ($name:ident, |$srv:ident| $body:block) => {
        $crate::db_test!($name, $crate::common::Opts::default(), |$srv| $body);
    };
    ($name:ident, $opts:expr, |$srv:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $srv = $crate::common::TestServer::try_spawn($crate::common::Backend::Sqlite, $opts)
                    .await
                    .expect("sqlite is always available");
                $body
                $srv.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($srv) = $crate::common::TestServer::try_spawn($crate::common::Backend::Postgres, $opts).await
                else {
                    eprintln!("TEST_DATABASE_URL is not set: PostgreSQL variant not run");
                    return;
                };
                $body
                $srv.stop().await;
            }
        }
    };
}
