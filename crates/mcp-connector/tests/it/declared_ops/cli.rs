//! The operator loop from the command line: `tools list` / `tools call`,
//! `check-config --connect`, and SIGHUP on a running `serve`.

use super::*;

/// A temp dir with the seeded database, a config file declaring `tools`
/// and the connector's own database URL.
struct Setup {
    _dir: tempfile::TempDir,
    db: PathBuf,
    config: PathBuf,
    state_url: String,
}

fn setup(tools: &[&str]) -> Setup {
    let dir = tempfile::tempdir().expect("tmp");
    let db = seed_blocking(dir.path());
    let config = dir.path().join("connector.toml");
    std::fs::write(&config, config_text(&db, tools)).expect("write config");
    let state_url = format!("sqlite://{}", dir.path().join("state.db").display());
    Setup {
        _dir: dir,
        db,
        config,
        state_url,
    }
}

impl Setup {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = binary();
        c.args(args)
            .arg("--config")
            .arg(&self.config)
            .args(["--database-url", &self.state_url]);
        c
    }
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn tools_list_and_call_run_declared_tools() {
    let s = setup(&["count_people", "people_in_team", "whoami", "broken"]);
    let out = s.cmd(&["tools", "list"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let tools: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        names(&tools),
        ["count_people", "people_in_team", "whoami", "broken"]
    );

    let out = s
        .cmd(&[
            "tools",
            "call",
            "people_in_team",
            "--args",
            r#"{"team":"a"}"#,
        ])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["rows"], json!([{"name": "ada"}, {"name": "bob"}]), "{v}");

    let out = s
        .cmd(&["tools", "call", "count_people", "--format", "text"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains('3'), "{}", stdout(&out));

    // The caller context comes from --user and --client, not from --args.
    let out = s
        .cmd(&[
            "tools", "call", "whoami", "--user", "alice", "--client", "c-1",
        ])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        v["rows"],
        json!([{"user_name": "alice", "client_id": "c-1"}]),
        "{v}"
    );

    // An error result: exit 1 with the tool's message.
    let out = s.cmd(&["tools", "call", "broken"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("returned an error"),
        "{}",
        stderr(&out)
    );
    // A wrong argument type is refused before anything runs.
    let out = s
        .cmd(&["tools", "call", "people_in_team", "--args", r#"{"team":5}"#])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("team"), "{}", stderr(&out));
    // Unknown tool; arguments that are not an object.
    let out = s.cmd(&["tools", "call", "nope"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown tool `nope`"),
        "{}",
        stderr(&out)
    );
    let out = s
        .cmd(&["tools", "call", "count_people", "--args", "[1]"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("JSON object"), "{}", stderr(&out));

    // Every call that ran is in the audit trail, by the CLI caller.
    let out = binary()
        .args(["audit", "export", "--database-url", &s.state_url])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let records: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let calls: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "tool_call")
        .collect();
    // Not the unknown tool nor the non-object arguments: they never ran.
    assert_eq!(calls.len(), 5, "{records:#?}");
    let whoami = calls
        .iter()
        .find(|r| r["tool"] == "whoami")
        .expect("whoami audited");
    assert_eq!(whoami["subject"], "cli:alice");
    assert_eq!(whoami["client"], "c-1");
    let broken = calls
        .iter()
        .find(|r| r["tool"] == "broken")
        .expect("broken audited");
    assert_eq!(broken["is_error"], true);
    assert_eq!(
        calls
            .iter()
            .find(|r| r["tool"] == "count_people")
            .map(|r| r["subject"].clone()),
        Some(json!("cli:operator"))
    );
}

#[test]
fn tools_call_needs_declared_tools() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = binary()
        .args(["tools", "call", "get_employee_count", "--database-url"])
        .arg(format!("sqlite://{}", dir.path().join("s.db").display()))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("[[tools]]"), "{}", stderr(&out));
}

#[test]
fn check_config_lists_and_connects_to_sources() {
    let s = setup(&["count_people", "people_in_team"]);
    let out = s.cmd(&["check-config"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("2 declared tools")
            && text.contains("hr: sqlite sqlite://")
            && text.contains("count_people: sql on hr, read-only, 0 parameters")
            && text.contains("people_in_team: sql on hr, read-only, 1 parameter"),
        "{text}"
    );
    let out = s
        .cmd(&["check-config", "--connect"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("source hr: ok"), "{}", stdout(&out));

    // A source that is down: listed without its password; --connect fails.
    std::fs::write(
        &s.config,
        config_text(&s.db, &["count_people", "down_count"]),
    )
    .expect("write");
    let out = s.cmd(&["check-config"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("down: postgres postgres://127.0.0.1:1/x"),
        "{}",
        stdout(&out)
    );
    let out = s
        .cmd(&["check-config", "--connect"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("source hr: ok"), "{all}");
    assert!(all.contains("source down: error"), "{all}");
    assert!(!all.contains("secretpw"), "{all}");
}

/// A running `serve` child whose log lines are collected.
struct Served {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

fn spawn_serve(s: &Setup) -> Served {
    let mut child = s
        .cmd(&["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let started = Instant::now();
    let addr = loop {
        let line = lines.next().expect("log line").expect("utf8");
        if let Some(rest) = line.split("bound=").nth(1) {
            break rest.split_whitespace().next().expect("addr").to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "did not start");
    };
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if let Ok(mut l) = sink.lock() {
                l.push(line);
            }
        }
    });
    Served { child, addr, log }
}

impl Drop for Served {
    /// A failed assertion must not leave the server running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    async fn tools(&self, client: &reqwest::Client) -> Vec<String> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
        let res = client
            .post(format!("http://{}/mcp", self.addr))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", LEGACY)
            .body(body)
            .send()
            .await
            .expect("sent");
        names(&read_message(res).await["result"]["tools"])
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    async fn wait_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let seen = self
                .log
                .lock()
                .map(|l| l.iter().any(|x| x.contains(needle)))
                .unwrap_or(false);
            if seen {
                return;
            }
            assert!(Instant::now() < deadline, "no log line with {needle:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_count(&self, needle: &str) -> usize {
        self.log
            .lock()
            .map(|l| l.iter().filter(|x| x.contains(needle)).count())
            .unwrap_or(0)
    }
}

#[test]
fn sighup_reloads_the_config_file() {
    let s = setup(&["count_people"]);
    let mut srv = spawn_serve(&s);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = reqwest::Client::new();
        assert_eq!(srv.tools(&client).await, ["count_people"]);

        std::fs::write(
            &s.config,
            config_text(&s.db, &["count_people", "people_in_team"]),
        )
        .expect("rewrite");
        srv.signal("-HUP");
        srv.wait_log("tools reloaded").await;
        assert_eq!(srv.tools(&client).await, ["count_people", "people_in_team"]);
        let reloaded = srv
            .log
            .lock()
            .map(|l| {
                l.iter()
                    .rev()
                    .find(|x| x.contains("tools reloaded"))
                    .cloned()
            })
            .ok()
            .flatten()
            .unwrap_or_default();
        assert!(reloaded.contains("people_in_team"), "{reloaded}");

        // A broken file: logged, and the tools served so far stay.
        std::fs::write(&s.config, "[[tools]]\nname = 1\n").expect("rewrite");
        srv.signal("-HUP");
        srv.wait_log("config reload failed").await;
        assert_eq!(srv.tools(&client).await, ["count_people", "people_in_team"]);
        assert_eq!(srv.log_count("tools reloaded"), 1);

        srv.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(15);
        let exit = loop {
            if let Some(status) = srv.child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "did not stop");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(exit.success(), "{exit:?}");
    });
}

#[test]
fn reload_does_not_slip_past_the_tools_lock() {
    let s = setup(&["count_people"]);
    let lock = s.config.with_file_name("tools.lock");
    let safety = format!(
        "[safety]\ntools_lock = {:?}\ndrift = \"refuse\"\n",
        lock.display().to_string()
    );
    let with_lock = |tools: &[&str]| format!("{safety}{}", config_text(&s.db, tools));
    std::fs::write(&s.config, with_lock(&["count_people"])).expect("write");
    let out = s.cmd(&["tools", "lock"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let srv = spawn_serve(&s);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = reqwest::Client::new();
        std::fs::write(&s.config, with_lock(&["count_people", "whoami"])).expect("rewrite");
        srv.signal("-HUP");
        srv.wait_log("config reload failed").await;
        assert_eq!(srv.tools(&client).await, ["count_people"]);
        assert_eq!(srv.log_count("tools reloaded"), 0);
    });
    drop(srv);
    // The refused change is in the audit trail.
    let out = binary()
        .args(["audit", "export", "--database-url", &s.state_url])
        .output()
        .expect("runs");
    let drift: Vec<Value> = stdout(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"] == "tool_drift")
        .collect();
    assert_eq!(drift.len(), 1, "{}", stdout(&out));
    assert_eq!(drift[0]["is_error"], true);
    assert!(
        drift[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("config reload") && e.contains("whoami")),
        "{}",
        drift[0]
    );
}
