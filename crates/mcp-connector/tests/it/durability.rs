//! Durability under faults: `serve` killed with SIGKILL in the middle of
//! concurrent tool calls. Every call whose result reached the client has
//! its audit record (records are committed before results are sent), and
//! the chain verifies after a restart.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{LEGACY, binary, read_message};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn wait_healthy(base: &str) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {base} did not become healthy");
}

fn serve(database_url: &str, port: u16) -> std::process::Child {
    binary()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            database_url,
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts")
}

/// Department names of the calls recorded in the audit trail.
fn audited_departments(database_url: &str) -> BTreeSet<String> {
    let out = binary()
        .args(["audit", "export", "--database-url", database_url])
        .output()
        .expect("export runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|r| {
            let args: Value = serde_json::from_str(r["arguments"].as_str()?).ok()?;
            args["department"].as_str().map(str::to_owned)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_concurrent_calls_loses_no_answered_call() {
    let dir = tempfile::tempdir().expect("tmp");
    let database_url = format!("sqlite://{}", dir.path().join("kill.db").display());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = serve(&database_url, port);
    wait_healthy(&base).await;

    let client = reqwest::Client::new();
    let url = format!("{base}/mcp");
    let call = move |i: usize| {
        let client = client.clone();
        let url = url.clone();
        async move {
            // A distinct argument per call, to find its record.
            let body = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                "params": {"name": "get_employee_count", "arguments": {"department": format!("dept-{i}")}}});
            let res = client
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", LEGACY)
                .body(body.to_string())
                .send()
                .await
                .ok()?;
            if res.status() != 200 {
                return None;
            }
            let reply = tokio::time::timeout(Duration::from_secs(5), read_message(res))
                .await
                .ok()?;
            reply.get("result").is_some().then(|| format!("dept-{i}"))
        }
    };
    // Calls keep coming in waves; the server dies during one of them.
    let wave_call = call.clone();
    let load = tokio::spawn(async move {
        let call = wave_call;
        let mut answered = BTreeSet::new();
        for wave in 0..40usize {
            let results = futures::future::join_all((0..16).map(|j| call(wave * 16 + j))).await;
            answered.extend(results.into_iter().flatten());
        }
        answered
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let answered = load.await.expect("load task");
    assert!(
        !answered.is_empty(),
        "some calls were answered before the kill"
    );

    let audited = audited_departments(&database_url);
    let missing: Vec<_> = answered.difference(&audited).collect();
    assert!(missing.is_empty(), "answered but not audited: {missing:?}");

    // The chain verifies, and the server starts again on the same file.
    let out = binary()
        .args(["audit", "verify", "--database-url", &database_url])
        .output()
        .expect("verify runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut again = serve(&database_url, port);
    wait_healthy(&base).await;
    assert!(call(100_000).await.is_some(), "serves after the restart");
    let _ = again.kill();
    let _ = again.wait();
    let out = binary()
        .args(["audit", "verify", "--database-url", &database_url])
        .output()
        .expect("verify runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
