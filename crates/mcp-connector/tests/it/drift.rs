//! Behavioural drift through the binary: `tools lock`, `tools diff`, and the
//! start-up check of `serve`.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::binary as cmd;

/// A temporary directory with a database URL and a fresh lock.
struct Fixture {
    dir: tempfile::TempDir,
    db: String,
    lock: PathBuf,
}

impl Fixture {
    fn locked() -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let db = format!("sqlite://{}", dir.path().join("d.db").display());
        let lock = dir.path().join("tools.lock");
        let out = cmd()
            .args(["tools", "lock", "--database-url", &db, "--out"])
            .arg(&lock)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("5 tools"));
        Self { dir, db, lock }
    }

    fn diff(&self) -> Output {
        cmd()
            .args(["tools", "diff", "--database-url", &self.db, "--lock"])
            .arg(&self.lock)
            .output()
            .expect("runs")
    }

    /// Change `find_employees`' description in the lock, as an attacker (or
    /// a new release) changing the tool would look from the other side.
    fn tamper(&self) {
        let text = std::fs::read_to_string(&self.lock).expect("lock");
        let mut lock: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        lock["tools"]["find_employees"]["description"] = "Find employees.".into();
        std::fs::write(&self.lock, lock.to_string()).expect("write");
    }

    fn config(&self, drift: &str) -> PathBuf {
        let path = self.dir.path().join("c.toml");
        std::fs::write(
            &path,
            format!(
                "[safety]\ntools_lock = {:?}\ndrift = \"{drift}\"\n",
                self.lock.display().to_string()
            ),
        )
        .expect("write");
        path
    }
}

fn serve(config: &Path, db: &str) -> std::process::Child {
    cmd()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            db,
            "-c",
        ])
        .arg(config)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

#[test]
fn lock_is_stable_json_and_diff_finds_no_drift() {
    let f = Fixture::locked();
    let text = std::fs::read_to_string(&f.lock).expect("lock");
    let lock: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let tools = lock["tools"].as_object().expect("tools");
    assert_eq!(tools.len(), 5);
    let find = &tools["find_employees"];
    for field in [
        "name",
        "title",
        "description",
        "input_schema",
        "output_schema",
        "annotations",
    ] {
        assert!(find.get(field).is_some(), "{field} in {find}");
    }
    assert!(
        find["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    assert!(
        lock["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );

    let out = f.diff();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no drift"));

    // Locking again gives the same bytes.
    let again = f.dir.path().join("again.lock");
    let out = cmd()
        .args(["tools", "lock", "--database-url", &f.db, "--out"])
        .arg(&again)
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&again).expect("again"), text);
}

#[test]
fn diff_names_the_changed_tool_and_field() {
    let f = Fixture::locked();
    f.tamper();
    let out = f.diff();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("~ find_employees: changed description"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("find_employees (description)"), "{stderr}");
}

#[test]
fn diff_without_a_lock_fails_naming_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = cmd()
        .current_dir(dir.path())
        .args(["tools", "diff", "--database-url", "sqlite://d.db"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mcp-connector.tools.lock"), "{stderr}");
}

#[test]
fn serve_refuses_to_start_on_drift_when_told_to() {
    let f = Fixture::locked();
    f.tamper();
    let config = f.config("refuse");
    let mut child = serve(&config, &f.db);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve kept running despite drift = refuse");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("read");
    assert!(
        stderr.contains("safety.drift") && stderr.contains("find_employees (description)"),
        "{stderr}"
    );
    assert!(!stderr.contains("listening"), "{stderr}");
    // The refused start is in the audit trail, and the chain still verifies.
    let out = cmd()
        .args(["audit", "export", "--database-url", &f.db])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export = String::from_utf8_lossy(&out.stdout);
    let drift: Vec<serde_json::Value> = export
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|r: &serde_json::Value| r["kind"] == "tool_drift")
        .collect();
    assert_eq!(drift.len(), 1, "{export}");
    assert!(
        drift[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("find_employees"),
        "{export}"
    );
    let out = cmd()
        .args(["audit", "verify", "--database-url", &f.db])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn serve_warns_about_drift_and_starts() {
    let f = Fixture::locked();
    f.tamper();
    let config = f.config("warn");
    let mut child = serve(&config, &f.db);
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let started = Instant::now();
    let warned = loop {
        let Some(Ok(line)) = lines.next() else {
            break false;
        };
        if line.contains("bound=") {
            break seen.iter().any(|l: &String| {
                l.contains("WARN") && l.contains("~ find_employees: changed description")
            });
        }
        seen.push(line);
        if started.elapsed() > Duration::from_secs(30) {
            break false;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(warned, "{seen:#?}");
}

#[test]
fn serve_without_drift_starts_quietly() {
    let f = Fixture::locked();
    let config = f.config("refuse");
    let mut child = serve(&config, &f.db);
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let listening = loop {
        let Some(Ok(line)) = lines.next() else {
            break false;
        };
        if line.contains("bound=") {
            break true;
        }
        seen.push(line);
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening, "{seen:#?}");
    assert!(
        seen.iter().any(|l| l.contains("match the lock")),
        "{seen:#?}"
    );
    assert!(!seen.iter().any(|l| l.contains("tool drift")), "{seen:#?}");
}
