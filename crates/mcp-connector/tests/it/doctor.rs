//! `mcp-connector doctor` against in-process servers on loopback: what it
//! passes, and each refusal it explains (allowlist with Claude's ranges, a
//! `public_url` that is not the URL, a refused token), with `--call`.
//! Proxies and certificates: tests/it/deploy.rs.

use mcp_connector::config::AuthMode;
use serde_json::Value;

use crate::common::{Backend, Opts, TestServer, binary};
use crate::deploy::with_status;

fn doctor(url: &str, extra: &[&str]) -> (i32, Value) {
    let out = binary()
        .args(["doctor", url, "--json", "--sse-wait", "3"])
        .args(extra)
        .output()
        .expect("doctor runs");
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no JSON: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), report)
}

fn names(report: &Value, status: &str) -> Vec<String> {
    with_status(report, status)
        .into_iter()
        .map(|c| c.split(':').next().unwrap_or_default().to_owned())
        .collect()
}

fn fix_of(report: &Value, name: &str) -> String {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .map(|c| c["fix"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

async fn spawn(opts: Opts) -> TestServer {
    TestServer::try_spawn(Backend::Sqlite, opts)
        .await
        .expect("sqlite")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_server_passes_and_calls_a_read_only_tool() {
    let srv = spawn(Opts::default()).await;
    let (code, report) = tokio::task::block_in_place(|| {
        doctor(
            &srv.url,
            &["--call", "get_employee_count", r#"{"department":"sales"}"#],
        )
    });
    assert_eq!(code, 0, "{report:#}");
    let passed = names(&report, "pass");
    for check in [
        "initialize",
        "stateless",
        "session",
        "buffering",
        "tools",
        "call",
    ] {
        assert!(
            passed.iter().any(|p| p == check),
            "{check} not passed: {report:#}"
        );
    }
    // Plain http on loopback works here but not for Claude: warned, not failed.
    assert!(
        names(&report, "warn").contains(&"url".to_owned()),
        "{report:#}"
    );
    assert_eq!(report["connects"], true);

    // A write tool is never called.
    let (_, report) = tokio::task::block_in_place(|| {
        doctor(
            &srv.url,
            &[
                "--call",
                "add_employee",
                r#"{"name":"x","department":"sales","title":"t"}"#,
            ],
        )
    });
    assert!(
        names(&report, "skip").contains(&"call".to_owned()),
        "{report:#}"
    );
    assert_eq!(srv.count("sales").await, 18, "nothing was added");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowlist_refusal_names_claudes_ranges() {
    let srv = spawn(Opts {
        tweak: Some(|c| c.allow = vec!["10.0.0.0/8".parse().expect("net")]),
        ..Opts::default()
    })
    .await;
    let (code, report) = tokio::task::block_in_place(|| doctor(&srv.url, &[]));
    assert_eq!(code, 1, "{report:#}");
    assert!(
        names(&report, "fail").contains(&"allowlist".to_owned()),
        "{report:#}"
    );
    let fix = fix_of(&report, "allowlist");
    assert!(
        fix.contains("160.79.104.0/21") && fix.contains("network.allow"),
        "{fix}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_discovery_passes_and_a_wrong_public_url_is_named() {
    let srv = spawn(Opts::oauth()).await;
    let (code, report) = tokio::task::block_in_place(|| doctor(&srv.url, &[]));
    assert_eq!(code, 0, "{report:#}");
    let passed = names(&report, "pass");
    for check in [
        "challenge",
        "well-known",
        "resource",
        "as-metadata",
        "issuer",
        "endpoints",
        "registration",
        "callback",
    ] {
        assert!(
            passed.iter().any(|p| p == check),
            "{check} not passed: {report:#}"
        );
    }
    assert!(
        names(&report, "skip").contains(&"stream".to_owned()),
        "needs a token"
    );
    // A token the server does not know.
    let (code, report) =
        tokio::task::block_in_place(|| doctor(&srv.url, &["--token", "mcpat_not-a-token"]));
    assert_eq!(code, 1);
    assert!(
        names(&report, "fail").contains(&"token".to_owned()),
        "{report:#}"
    );
    srv.stop().await;

    // The server believes it is reached elsewhere (another port).
    let srv = spawn(Opts {
        public_url: Some("http://127.0.0.1:9"),
        auth: AuthMode::OAuth,
        ..Opts::default()
    })
    .await;
    let (code, report) = tokio::task::block_in_place(|| doctor(&srv.url, &[]));
    assert_eq!(code, 1, "{report:#}");
    assert!(
        names(&report, "fail").contains(&"public_url".to_owned()),
        "{report:#}"
    );
    assert!(fix_of(&report, "public_url").contains("server.public_url"));
    srv.stop().await;
}
