//! Two `serve` processes on one PostgreSQL behind the Debian `haproxy`
//! (deploy/haproxy.cfg: round robin, no stickiness), with TLS from a test
//! CA: stateless calls and `--sessions` sessions work across replicas, a
//! token revoked on one is refused by the other within 5 s, the audit chain
//! stays one chain under mixed load, and the rate limit's bound with N
//! replicas is N times the per-replica budget (limits are per process).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{LEGACY, MODERN, binary, fresh_postgres, read_message};
use crate::deploy::{
    HOST, Pki, Proxy, doctor, edit, free_port, installed, repo_file, wait_listening, with_status,
};

/// `limits` of the replicas: small, so that the bound can be measured.
const BURST: usize = 10;

struct Replica {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    fn tool_calls(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches("tool call")
            .count()
    }
}

fn replica(config: &Path, dir: &Path, name: &str) -> Replica {
    let port = free_port();
    let log = dir.join(format!("{name}.log"));
    let mut child = binary()
        .args([
            "serve",
            "--sessions",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "-c",
        ])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("serve starts");
    wait_listening(port, &mut child, &log);
    Replica { child, log, port }
}

fn haproxy(pki: &Pki, port: u16, replicas: &[&Replica], dir: &Path) -> Proxy {
    let recipe =
        std::fs::read_to_string(repo_file("deploy/haproxy.cfg")).expect("deploy/haproxy.cfg");
    let pem = pki.path("haproxy.pem");
    let chain = std::fs::read_to_string(pki.path("good.pem")).expect("chain");
    let key = std::fs::read_to_string(pki.path("good.key")).expect("key");
    std::fs::write(&pem, format!("{chain}{key}")).expect("write");
    let cfg = edit(
        &recipe,
        "bind :443 ssl crt /etc/haproxy/certs/tools.example.com.pem",
        &format!("bind 127.0.0.1:{port} ssl crt {}", pem.display()),
    );
    let cfg = edit(
        &cfg,
        "10.0.0.11:8000",
        &format!("127.0.0.1:{}", replicas[0].port),
    );
    let cfg = edit(
        &cfg,
        "10.0.0.12:8000",
        &format!("127.0.0.1:{}", replicas[1].port),
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).expect("write");
    let log = dir.join("haproxy.log");
    let mut child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("haproxy starts");
    wait_listening(port, &mut child, &log);
    Proxy::new(child)
}

/// A client that trusts the test CA and reaches HOST on loopback.
fn client(pki: &Pki) -> reqwest::Client {
    let ca = std::fs::read(&pki.ca).expect("ca");
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("pem"))
        .resolve(HOST, "127.0.0.1:0".parse().expect("addr"))
        .build()
        .expect("client")
}

/// `client add --grant client_credentials`: (id, secret).
fn service_client(config: &Path, name: &str) -> (String, String) {
    let out = binary()
        .args([
            "client",
            "add",
            "--format",
            "json",
            "--grant",
            "client_credentials",
        ])
        .args(["--scope", "employees:read", "--name", name, "-c"])
        .arg(config)
        .output()
        .expect("client add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    (
        v["client_id"].as_str().expect("id").to_owned(),
        v["client_secret"].as_str().expect("secret").to_owned(),
    )
}

async fn token(http: &reqwest::Client, base: &str, (id, secret): &(String, String)) -> String {
    let res = http
        .post(format!("{base}/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.expect("JSON");
    v["access_token"].as_str().expect("token").to_owned()
}

/// A 2026-07-28 (stateless) `tools/call`; the HTTP status.
async fn modern_call(http: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
    "name": "get_employee_count", "arguments": {"department": "engineering"},
    "_meta": {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }}});
    let res = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", MODERN)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "get_employee_count")
        .body(body.to_string())
        .send()
        .await
        .expect("call");
    let status = res.status().as_u16();
    (status, read_message(res).await)
}

/// A legacy request in session `session` (or `initialize` without one).
async fn legacy(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    session: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut req = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", LEGACY)
        .body(body.to_string());
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    req.send().await.expect("request")
}

fn count_of(reply: &Value) -> i64 {
    reply["result"]["structuredContent"]["count"]
        .as_i64()
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_behind_haproxy_share_sessions_tokens_and_one_audit_chain() {
    if !installed("haproxy") {
        return;
    }
    let Some((db_url, admin, db_name)) = fresh_postgres().await else {
        eprintln!("SKIPPED: TEST_DATABASE_URL is not set: replicas need PostgreSQL");
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let pki = Pki::new();
    let port = free_port();
    let base = format!("https://{HOST}:{port}");
    let url = format!("{base}/mcp");
    let config = dir.path().join("replica.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\npublic_url = \"{base}\"\n[network]\ntrusted_proxies = [\"127.0.0.1/32\"]\n\
             [auth]\nmode = \"oauth\"\n[database]\nurl = \"{db_url}\"\n\
             [limits]\nrequests_per_minute = 60\nburst = {BURST}\n"
        ),
    )
    .expect("write");
    let clients: Vec<_> = (0..7)
        .map(|i| service_client(&config, &format!("svc{i}")))
        .collect();
    let a = replica(&config, dir.path(), "a");
    let b = replica(&config, dir.path(), "b");
    let _proxy = haproxy(&pki, port, &[&a, &b], dir.path());
    let http = client(&pki);
    let mut tokens = Vec::new();
    for c in &clients {
        tokens.push(token(&http, &base, c).await);
    }

    // Stateless (2026-07-28) calls, alternating between the replicas.
    for _ in 0..6 {
        let (status, reply) = modern_call(&http, &url, &tokens[0]).await;
        assert_eq!((status, count_of(&reply)), (200, 42), "{reply}");
    }
    // A session made on one replica, used on both.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "it", "version": "1"}}});
    let res = legacy(&http, &url, &tokens[1], None, init).await;
    assert_eq!(res.status(), 200);
    let session = res.headers()["mcp-session-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(
        legacy(&http, &url, &tokens[1], Some(&session), note)
            .await
            .status(),
        202
    );
    for i in 0..6 {
        let call = json!({"jsonrpc": "2.0", "id": 10 + i, "method": "tools/call",
            "params": {"name": "get_employee_count", "arguments": {"department": "engineering"}}});
        let res = legacy(&http, &url, &tokens[1], Some(&session), call).await;
        assert_eq!(res.status(), 200, "session call {i}");
        assert_eq!(count_of(&read_message(res).await), 42);
    }
    assert!(
        a.tool_calls() >= 3 && b.tool_calls() >= 3,
        "round robin: a {} b {}",
        a.tool_calls(),
        b.tool_calls()
    );

    // Mixed load from four subjects at once: one audit chain.
    let load = (2..6).map(|i| {
        let (http, url, token) = (http.clone(), url.clone(), tokens[i].clone());
        tokio::spawn(async move {
            for _ in 0..8 {
                let (status, _) = modern_call(&http, &url, &token).await;
                assert_eq!(status, 200);
            }
        })
    });
    for task in futures::future::join_all(load).await {
        task.expect("load task");
    }
    let out = tokio::task::block_in_place(|| {
        binary()
            .args(["audit", "verify", "-c"])
            .arg(&config)
            .output()
            .expect("verify")
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verified = String::from_utf8_lossy(&out.stdout);
    let records: usize = verified
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("count");
    assert!(records >= 6 + 6 + 32, "{verified}");

    // Revoked through replica a, refused by replica b within 5 s.
    let direct_b = format!("http://127.0.0.1:{}/mcp", b.port);
    assert_eq!(
        modern_call(&http, &direct_b, &tokens[0]).await.0,
        200,
        "cached on b first"
    );
    let res = http
        .post(format!("http://127.0.0.1:{}/revoke", a.port))
        .basic_auth(&clients[0].0, Some(&clients[0].1))
        .form(&[("token", tokens[0].as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(res.status(), 200);
    let revoked = Instant::now();
    while modern_call(&http, &direct_b, &tokens[0]).await.0 != 401 {
        assert!(
            revoked.elapsed() < Duration::from_secs(5),
            "b still accepts the token"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "revocation reached the other replica in {} ms",
        revoked.elapsed().as_millis()
    );

    // Limits are per replica: one subject gets at most N × (burst + refill).
    let started = Instant::now();
    let mut accepted = 0;
    for _ in 0..(4 * BURST) {
        match modern_call(&http, &url, &tokens[6]).await.0 {
            200 => accepted += 1,
            429 => {}
            other => panic!("status {other}"),
        }
    }
    let refill = 2 * (started.elapsed().as_secs() as usize + 1);
    assert!(
        accepted > BURST,
        "two replicas give more than one budget: {accepted}"
    );
    assert!(
        accepted <= 2 * BURST + refill,
        "more than 2 × the budget: {accepted}"
    );

    // And doctor, through the balancer, with a token: sessions and all.
    let fresh = token(&http, &base, &clients[1]).await;
    let report = tokio::task::block_in_place(|| doctor(&pki, &url, Some(&fresh)));
    assert_eq!(report.0, 0, "{:#}", report.1);
    assert!(
        with_status(&report.1, "pass")
            .iter()
            .any(|c| c.starts_with("session: Mcp-Session-Id round trip")),
        "{:#}",
        report.1
    );

    drop((a, b));
    if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}
