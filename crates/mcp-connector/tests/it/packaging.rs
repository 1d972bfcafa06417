//! What ships besides the code: the systemd unit (checked by the real
//! `systemd-analyze`), the Containerfile (read: no container engine runs
//! here), the licence files and release profile, and backup / restore of a
//! SQLite database that is serving.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::common::{Backend, Opts, TestServer, binary};
use crate::deploy::{edit, installed, repo_file};

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_file(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let unit = read("deploy/mcp-connector.service");
    for directive in [
        "DynamicUser=yes",
        "StateDirectory=mcp-connector",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.contains(directive), "missing {directive}");
    }
    if !installed("systemd-analyze") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("mcp-connector.service");
    // `verify` checks that ExecStart exists: point it at the built binary.
    let unit = edit(
        &unit,
        "/usr/local/bin/mcp-connector",
        env!("CARGO_BIN_EXE_mcp-connector"),
    );
    std::fs::write(&path, &unit).expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stderr);
    // A directive systemd does not understand is only a warning: none allowed.
    assert!(out.status.success() && text.trim().is_empty(), "{text}");
    // The control: a misspelt value is reported.
    std::fs::write(
        &path,
        unit.replace("ProtectSystem=strict", "ProtectSystem=strikt"),
    )
    .expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("runs");
    let control = String::from_utf8_lossy(&out.stderr);
    assert!(
        control.contains("strikt"),
        "the misspelling went unnoticed: {control}"
    );

    std::fs::write(&path, &unit).expect("write");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("mcp-connector.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level: {text}"));
    assert!(
        level <= 2.0,
        "exposure {level} (2.0 or less is `OK`): {text}"
    );
}

#[test]
fn containerfile_is_non_root_minimal_and_pinned() {
    let text = read("Containerfile");
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage");
    for from in &froms {
        let image = from.split_whitespace().nth(1).expect("image");
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            image.contains("@sha256:")
                || tag.split('-').next().is_some_and(
                    |v| v.contains('.') && v.chars().next().is_some_and(|c| c.is_ascii_digit())
                ),
            "base not pinned to a release: {from}"
        );
        assert!(!tag.contains("latest"), "{from}");
    }
    let runtime = text.split(froms[1]).nth(1).expect("runtime stage");
    let copies: Vec<&str> = runtime.lines().filter(|l| l.starts_with("COPY ")).collect();
    assert_eq!(
        copies.len(),
        2,
        "only the binary and CA certificates: {copies:?}"
    );
    assert!(
        copies
            .iter()
            .any(|c| c.ends_with("/usr/local/bin/mcp-connector"))
    );
    assert!(copies.iter().any(|c| c.contains("ca-certificates.crt")));
    assert!(copies.iter().all(|c| c.starts_with("COPY --from=build ")));
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    let uid = user.split(':').next().unwrap_or("");
    assert!(
        uid != "0" && uid != "root" && !uid.is_empty(),
        "runs as root: {user}"
    );
    assert!(runtime.contains("ENTRYPOINT [\"/usr/local/bin/mcp-connector\"]"));
    assert!(text.contains("--locked"), "built from Cargo.lock");
    assert!(read(".containerignore").lines().any(|l| l == "target"));
}

#[test]
fn licences_changelog_and_release_profile() {
    let manifest = read("Cargo.toml");
    assert!(manifest.contains("license = \"MIT OR Apache-2.0\""));
    assert!(read("LICENSE-MIT").contains("Permission is hereby granted"));
    assert!(read("LICENSE-APACHE").contains("Apache License"));
    assert!(read("CHANGELOG.md").contains("## [Unreleased]"));
    let release = manifest
        .split("[profile.release]")
        .nth(1)
        .and_then(|r| r.split("\n[").next())
        .expect("[profile.release]");
    assert!(release.contains("strip = \"symbols\""), "{release}");
    assert!(release.contains("debug = false"), "{release}");
    assert!(manifest.contains("[profile.profiling]"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_serving_then_restore_verifies() {
    // No rate limit: the load is one client calling as fast as it can.
    let opts = Opts {
        tweak: Some(|c| c.limits.requests = None),
        ..Opts::default()
    };
    let srv = TestServer::try_spawn(Backend::Sqlite, opts)
        .await
        .expect("sqlite");
    let db_url = srv.database_url.clone();
    let dir = tempfile::tempdir().expect("tmp");
    let backup = dir.path().join("backup.db");
    // Load: tool calls (each committing an audit record) while the backup runs.
    let stop = tokio_util::sync::CancellationToken::new();
    let load = {
        let stop = stop.clone();
        let client = srv.client.clone();
        let url = srv.url.clone();
        tokio::spawn(async move {
            let mut calls = 0u32;
            while !stop.is_cancelled() {
                let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": {"name": "get_employee_count", "arguments": {"department": "sales"}}});
                let res = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .header("mcp-protocol-version", crate::common::LEGACY)
                    .body(body.to_string())
                    .send()
                    .await
                    .expect("call");
                assert_eq!(res.status(), 200);
                calls += 1;
            }
            calls
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = tokio::task::block_in_place(|| {
        binary()
            .args(["backup", "--database-url", &db_url, "--out"])
            .arg(&backup)
            .output()
            .expect("backup runs")
    });
    stop.cancel();
    let calls = load.await.expect("load");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(calls > 5, "the backup ran under load ({calls} calls)");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("chain intact"), "{printed}");

    // Restore into a new place; the copy verifies and serves.
    let restored = format!("sqlite://{}", dir.path().join("restored.db").display());
    let run =
        |args: &[&str]| tokio::task::block_in_place(|| binary().args(args).output().expect("runs"));
    let backup_arg = backup.display().to_string();
    let out = run(&[
        "restore",
        "--database-url",
        &restored,
        "--from",
        &backup_arg,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["audit", "verify", "--database-url", &restored]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verified = String::from_utf8_lossy(&out.stdout);
    let count: u32 = verified
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("count");
    assert!(count > 0, "{verified}");
    // An existing database is replaced only with --force.
    let out = run(&[
        "restore",
        "--database-url",
        &restored,
        "--from",
        &backup_arg,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    let out = run(&[
        "restore",
        "--force",
        "--database-url",
        &restored,
        "--from",
        &backup_arg,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // PostgreSQL is pointed at its own tools.
    let out = run(&[
        "backup",
        "--database-url",
        "postgres://u@127.0.0.1:1/x",
        "--out",
        "x",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
    srv.stop().await;
}
