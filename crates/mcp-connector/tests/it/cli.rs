//! The binary: CLI verbs, configuration sources and signal handling.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::binary as cmd;

#[test]
fn check_config_accepts_a_valid_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[server]\nlisten = \"127.0.0.1:9100\"\nsessions = true\n[database]\nurl = \"sqlite://x.db\"\n").expect("write");
    let out = cmd()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("http://127.0.0.1:9100/mcp") && stdout.contains("stateful"),
        "{stdout}"
    );
}

#[test]
fn check_config_names_the_bad_key() {
    let dir = tempfile::tempdir().expect("tmp");
    for (text, key) in [
        ("[server]\nlistne = \"x\"\n", "listne"),
        ("[server]\nlisten = \"not an address\"\n", "server.listen"),
        ("[database]\nurl = \"mysql://x\"\n", "database.url"),
        ("[nope]\n", "nope"),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).expect("write");
        let out = cmd()
            .args(["check-config", "-c"])
            .arg(&path)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{text}: {stderr}");
    }
}

#[test]
fn environment_and_flags_override_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[server]\nlisten = \"127.0.0.1:9100\"\n").expect("write");
    let out = cmd()
        .args(["check-config", "-c"])
        .arg(&path)
        .env("MCP_CONNECTOR_LISTEN", "127.0.0.1:9200")
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("9200"));
    let out = cmd()
        .args(["check-config", "-c"])
        .arg(&path)
        .args([
            "--listen",
            "127.0.0.1:9300",
            "--public-url",
            "https://tools.example.com",
        ])
        .env("MCP_CONNECTOR_LISTEN", "127.0.0.1:9200")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("https://tools.example.com/mcp"), "{stdout}");
}

#[test]
fn tools_list_prints_the_definitions() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let out = cmd()
        .args(["tools", "list", "--database-url", &db])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tools: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(tools.as_array().map(Vec::len), Some(5));
}

#[test]
fn config_schema_prints_the_committed_schema() {
    let out = cmd().arg("config-schema").output().expect("runs");
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let committed: serde_json::Value =
        serde_json::from_str(include_str!("../../../../config.schema.json")).expect("JSON file");
    assert_eq!(printed, committed);
    assert_eq!(printed["additionalProperties"], false);
}

#[test]
fn migrate_creates_the_database() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("m.db");
    let out = cmd()
        .args(["migrate", "--database-url"])
        .arg(format!("sqlite://{}", file.display()))
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(file.exists());
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut child = cmd()
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url"])
        .arg(format!("sqlite://{}", dir.path().join("s.db").display()))
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let started = Instant::now();
    let addr = loop {
        let line = lines.next().expect("log line").expect("utf8");
        if let Some(rest) = line.split("bound=").nth(1) {
            break rest.split_whitespace().next().expect("addr").to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
    };
    let health = std::net::TcpStream::connect(&addr);
    assert!(health.is_ok(), "listening on {addr}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}

#[test]
fn ip_ranges_prints_presets_and_warns_when_stale() {
    let out = cmd().args(["ip-ranges"]).output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("anthropic") && stdout.contains("160.79.104.0/21"),
        "{stdout}"
    );
    // A preset replaced in the config file with an old check date: warned.
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[network.presets.anthropic]\ncidrs = [\"160.79.104.0/21\", \"198.51.100.0/24\"]\nchecked = \"2020-01-01\"\n").expect("write");
    let out = cmd()
        .args(["ip-ranges", "-c"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("198.51.100.0/24"),
        "the override is used"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("anthropic"),
        "{stderr}"
    );
}

#[test]
fn no_auth_beyond_loopback_needs_an_allowlist() {
    let out = cmd()
        .args(["check-config", "--listen", "0.0.0.0:8000"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("auth.mode") && stderr.contains("network.allow"),
        "{stderr}"
    );
    let out = cmd()
        .args([
            "check-config",
            "--listen",
            "0.0.0.0:8000",
            "--allow",
            "anthropic",
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cmd()
        .args(["check-config", "--allow", "not-a-range"])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&out.stderr).contains("network.allow"));
}
