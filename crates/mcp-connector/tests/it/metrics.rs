//! Prometheus metrics: `GET /metrics` on its own listener, checked by the
//! Debian `prometheus` package's `promtool` and by a real Prometheus
//! server scraping it (interop/setup.sh installs the package).

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mcp_connector::config::Config;
use serde_json::{Value, json};

use crate::common::{Backend, Opts, TestServer};
use crate::db_test;
use crate::deploy::{free_port, installed};

fn with_metrics(c: &mut Config) {
    c.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
}

fn metrics_on() -> Opts {
    Opts {
        tweak: Some(with_metrics),
        ..Opts::default()
    }
}

fn tool_limited(c: &mut Config) {
    with_metrics(c);
    c.limits.tool_calls = Some(mcp_connector::config::Rate {
        limit: 1,
        period: Duration::from_secs(60),
        burst: 1,
    });
}

async fn scrape(srv: &TestServer, accept: Option<&str>) -> (String, String) {
    let url = srv.metrics_url.as_deref().expect("metrics are on");
    let mut req = srv.client.get(url);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let res = req.send().await.expect("scrape");
    assert_eq!(res.status(), 200);
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (kind, res.text().await.expect("body"))
}

/// The value of the sample line `series` (exact name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// `promtool check metrics` on `text`; its complaints, if any.
fn promtool(text: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool exits");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(said)
    }
}

db_test!(
    a_write_waiting_for_approval_counts_as_approval_pending,
    Opts {
        tweak: Some(with_metrics),
        ..Opts::oauth()
    },
    |srv| {
        let alice =
            crate::oauth_flow::add_user(&srv, "alice", crate::oauth_flow::PASSWORD, "editor").await;
        let (token, _) = crate::approvals::token_for(&srv, &alice, "Claude").await;
        // claude.ai's shape: no elicitation, so the call answers with a link.
        for _ in 0..2 {
            crate::approvals::link(&srv, &crate::approvals::remove(&srv, &token, 1).await);
        }
        let (_, text) = scrape(&srv, None).await;
        let series = |outcome: &str| {
            sample(
                &text,
                &format!(
                    "mcp_connector_tool_calls_total{{tool=\"remove_employee\",outcome=\"{outcome}\"}}"
                ),
            )
        };
        assert_eq!(series("approval_pending"), Some(2.0), "{text}");
        assert_eq!(series("refused"), Some(0.0), "{text}");
        assert_eq!(series("ok"), Some(0.0), "{text}");
        // The tool did not run: no duration sample.
        assert_eq!(
            sample(
                &text,
                "mcp_connector_tool_call_duration_seconds_count{tool=\"remove_employee\"}"
            ),
            Some(0.0),
            "{text}"
        );
    }
);

const OK: &str = "mcp_connector_tool_calls_total{tool=\"get_employee_count\",outcome=\"ok\"}";

db_test!(
    scrape_after_traffic_counts_and_passes_promtool,
    metrics_on(),
    |srv| {
        for _ in 0..3 {
            assert_eq!(srv.count("engineering").await, 42);
        }
        let unknown = srv
            .rpc(
                "tools/call",
                json!({"name": "no_such_tool\"}\nfake_metric 1", "arguments": {}}),
            )
            .await;
        assert!(unknown.get("error").is_some(), "{unknown}");
        let (kind, text) = scrape(&srv, None).await;
        assert_eq!(kind, "text/plain; version=0.0.4; charset=utf-8");
        assert_eq!(sample(&text, OK), Some(3.0), "{text}");
        assert_eq!(
            sample(
                &text,
                "mcp_connector_tool_calls_total{tool=\"_unknown\",outcome=\"refused\"}"
            ),
            Some(1.0),
            "{text}"
        );
        // The client's name never becomes a label or a line.
        assert!(!text.contains("no_such_tool"), "{text}");
        assert!(!text.contains("fake_metric"), "{text}");
        // Issue 13's outcome exists, at zero, for every catalog tool.
        assert_eq!(
            sample(
                &text,
                "mcp_connector_tool_calls_total{tool=\"get_employee_count\",outcome=\"approval_pending\"}"
            ),
            Some(0.0)
        );
        assert_eq!(
            sample(
                &text,
                "mcp_connector_tool_call_duration_seconds_count{tool=\"get_employee_count\"}"
            ),
            Some(3.0),
            "{text}"
        );
        let http = sample(
            &text,
            "mcp_connector_http_requests_total{route=\"/mcp\",status=\"200\"}",
        );
        assert!(http.is_some_and(|n| n >= 4.0), "{text}");
        // Audit records were committed: their batches were timed.
        let commits = sample(&text, "mcp_connector_audit_commit_duration_seconds_count");
        assert!(commits.is_some_and(|n| n >= 1.0), "{text}");
        for name in [
            "mcp_connector_build_info{version=\"",
            "process_resident_memory_bytes ",
            "process_cpu_seconds_total ",
            "process_start_time_seconds ",
            "mcp_connector_sessions_active 0",
            "mcp_connector_audit_queue_depth ",
            "mcp_connector_db_pool_connections{state=\"idle\"} ",
            "mcp_connector_network_refusals_total{reason=\"host\"} 0",
            "mcp_connector_auth_refusals_total{reason=\"bad_token\"} 0",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
        if installed("promtool") {
            promtool(&text).unwrap_or_else(|e| panic!("promtool: {e}\n{text}"));
        }
        // OpenMetrics only when asked for.
        let (kind, om) = scrape(&srv, Some("application/openmetrics-text; version=1.0.0")).await;
        assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
        assert!(om.ends_with("# EOF\n"));
        assert!(om.contains(OK));
    }
);

db_test!(
    metrics_are_not_served_on_the_mcp_listener,
    metrics_on(),
    |srv| {
        let res = srv
            .client
            .get(format!("{}/metrics", srv.base))
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), 404);
        let body = res.text().await.expect("body");
        assert!(!body.contains("mcp_connector_"), "{body}");
        // And the metrics listener serves nothing but /metrics.
        let other = srv
            .metrics_url
            .as_deref()
            .expect("on")
            .replace("/metrics", "/mcp");
        let res = srv.client.get(other).send().await.expect("get");
        assert_eq!(res.status(), 404);
    }
);

db_test!(metrics_are_off_by_default, |srv| {
    assert!(srv.metrics_url.is_none());
    assert!(!srv.state.metrics.is_enabled());
    let res = srv
        .client
        .get(format!("{}/metrics", srv.base))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 404);
});

db_test!(
    refusals_are_counted_by_reason,
    Opts {
        tweak: Some(tool_limited),
        ..Opts::default()
    },
    |srv| {
        assert_eq!(srv.count("engineering").await, 42);
        let limited = srv
            .rpc(
                "tools/call",
                json!({"name": "get_employee_count", "arguments": {"department": "sales"}}),
            )
            .await;
        assert!(limited.get("error").is_some(), "{limited}");
        // A foreign Host: refused at the edge, counted under `host`.
        assert_eq!(srv.list_status(&[("host", "evil.example")]).await, 403);
        let snap = srv.state.metrics.snapshot().expect("enabled");
        use mcp_connector::telemetry::metrics::Outcome;
        assert_eq!(snap.tool_calls("get_employee_count", Outcome::Ok), 1);
        assert_eq!(
            snap.tool_calls("get_employee_count", Outcome::RateLimited),
            1
        );
        assert!(snap.rate_limited.contains(&("tool_calls", 1)), "{snap:?}");
        assert!(snap.network_refusals.contains(&("host", 1)), "{snap:?}");
        let (_, text) = scrape(&srv, None).await;
        assert_eq!(
            sample(
                &text,
                "mcp_connector_rate_limited_total{limit=\"tool_calls\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                "mcp_connector_network_refusals_total{reason=\"host\"}"
            ),
            Some(1.0)
        );
    }
);

struct KillOnDrop(std::process::Child);

impl KillOnDrop {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Query Prometheus's HTTP API until `query` has the value `want`.
async fn wait_for_value(client: &reqwest::Client, api: &str, query: &str, want: f64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let res = client
            .get(format!("{api}/api/v1/query"))
            .query(&[("query", query)])
            .send()
            .await;
        if let Ok(res) = res
            && let Ok(body) = res.json::<Value>().await
        {
            let value = body["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok());
            if value == Some(want) {
                return body;
            }
            assert!(Instant::now() < deadline, "Prometheus answered {body}");
        } else {
            assert!(Instant::now() < deadline, "Prometheus did not answer");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_server_scrapes_the_tool_calls() {
    if !installed("prometheus") {
        return;
    }
    let srv = TestServer::try_spawn(Backend::Sqlite, metrics_on())
        .await
        .expect("sqlite");
    for _ in 0..5 {
        assert_eq!(srv.count("engineering").await, 42);
    }
    let target = srv
        .metrics_url
        .as_deref()
        .expect("on")
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: mcp-connector\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("write config");
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prometheus starts");
    // Killed however the test ends (a panic included).
    let mut child = KillOnDrop(child);
    let api = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let query = format!("sum({OK})");
    let found = tokio::time::timeout(
        Duration::from_secs(60),
        wait_for_value(&client, &api, &query, 5.0),
    )
    .await;
    // The scrape itself was healthy (up == 1).
    let up = wait_for_value(&client, &api, "up{job=\"mcp-connector\"}", 1.0).await;
    child.stop();
    let logged = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    let found = found.unwrap_or_else(|_| panic!("no answer within 60 s; log:\n{logged}"));
    assert_eq!(found["status"], "success", "{found}");
    assert_eq!(up["status"], "success", "{up}");
    srv.stop().await;
}

/// `serve` as operators run it (stderr not a terminal): the banner is one
/// structured line, each tool call one INFO line with its correlation id,
/// and the metrics listener answers on its own port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_the_banner_and_one_line_per_tool_call() {
    use std::io::{BufRead as _, BufReader};
    let dir = tempfile::tempdir().expect("tmp");
    let metrics_port = free_port();
    let child = crate::common::binary()
        .args(["serve", "--listen", "127.0.0.1:0", "--metrics-listen"])
        .arg(format!("127.0.0.1:{metrics_port}"))
        .arg("--database-url")
        .arg(format!("sqlite://{}", dir.path().join("s.db").display()))
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut child = KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.0.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next = |pred: &dyn Fn(&str) -> bool| -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).expect("the expected log line");
            if pred(&line) {
                return line;
            }
        }
    };
    let banner = next(&|l| l.contains("bound="));
    for field in [
        "url=http://127.0.0.1:",
        "auth=\"none\"",
        "get_employee_count (employees:read)",
        "add_employee (employees:write)",
        &format!("metrics=127.0.0.1:{metrics_port}"),
        "network.allow: everyone may connect",
    ] {
        assert!(banner.contains(field), "no {field} in {banner}");
    }
    let addr = banner
        .split("bound=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("address")
        .to_owned();
    let client = reqwest::Client::new();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "get_employee_count", "arguments": {"department": "engineering"}}});
    let res = client
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", crate::common::LEGACY)
        .body(body.to_string())
        .send()
        .await
        .expect("call");
    assert_eq!(res.status(), 200);
    let id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("request id")
        .to_owned();
    let line = next(&|l| l.contains("tool call principal="));
    for field in [
        "principal=anonymous",
        "tool=\"get_employee_count\"",
        "outcome=\"ok\"",
        "duration_ms=",
        &format!("correlation_id={id}"),
    ] {
        assert!(line.contains(field), "no {field} in {line}");
    }
    let text = client
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    assert_eq!(sample(&text, OK), Some(1.0), "{text}");
    child.stop();
}

/// `/readyz` failing (here: a declared database that does not answer) is logged
/// at WARN, naming the source, and never at ERROR: a load balancer probes it
/// every few seconds.
#[tokio::test]
async fn a_failing_readiness_probe_is_a_warning_not_an_error() {
    use std::io::{BufRead as _, BufReader};
    let dir = tempfile::tempdir().expect("tmp");
    // A port nothing listens on: bind, note it, close.
    let closed = free_port();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[sources.hr]\nurl = \"postgres://u@127.0.0.1:{closed}/x\"\n\n[[tools]]\nname = \"count_people\"\nsource = \"hr\"\ndescription = \"Counts people.\"\nstatement = \"SELECT 1 AS n\"\ncolumns = {{ n = \"integer\" }}\n"
        ),
    )
    .expect("config");
    let child = crate::common::binary()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--database-url")
        .arg(format!("sqlite://{}", dir.path().join("s.db").display()))
        .env("RUST_LOG", "info")
        .env("MCP_CONNECTOR_LOG_FORMAT", "text")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut child = KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.0.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("the banner");
        if let Some(rest) = line.split("bound=").nth(1) {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    let res = reqwest::get(format!("http://{addr}/readyz"))
        .await
        .expect("probe");
    assert_eq!(res.status(), 503);
    assert!(res.text().await.expect("body").contains("`hr`"));
    // Everything the probe logged (it answered, so its lines are written).
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
        lines.push(line);
    }
    let about: Vec<&String> = lines.iter().filter(|l| l.contains("/readyz")).collect();
    assert!(
        about
            .iter()
            .any(|l| l.contains(" WARN ") && l.contains("source down")),
        "{lines:#?}"
    );
    assert!(
        about
            .iter()
            .any(|l| l.contains(" WARN ") && l.contains("503")),
        "{lines:#?}"
    );
    assert!(!about.iter().any(|l| l.contains(" ERROR ")), "{lines:#?}");
    child.stop();
}
