//! First-run frictions, each found by following the README as a new user:
//! the unauthenticated public default, `--help` per verb, error texts,
//! config error lines, `tools diff`, `check-config --connect`, empty
//! results, `client add`, `tools call` audit and the demo seed.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::binary as cmd;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sqlite_url(dir: &Path, file: &str) -> String {
    format!("sqlite://{}", dir.join(file).display())
}

/// A SQLite file with `people(name, team)` holding one row.
fn people_db(dir: &Path) -> PathBuf {
    let path = dir.join("hr.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            use sqlx::Connection as _;
            let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
            for stmt in [
                "CREATE TABLE people (name TEXT NOT NULL, team TEXT NOT NULL)",
                "INSERT INTO people VALUES ('ada', 'a')",
            ] {
                sqlx::query(stmt).execute(&mut conn).await.expect("seed");
            }
            conn.close().await.expect("close");
        });
    path
}

/// A config declaring one read tool `statement` on `people_db`.
fn declared_config(dir: &Path, statement: &str, extra: &str) -> PathBuf {
    let db = people_db(dir);
    let path = dir.join("connector.toml");
    std::fs::write(
        &path,
        format!(
            "{extra}[sources.hr]\nurl = \"sqlite://{}\"\n\n[[tools]]\nname = \"team_members\"\nsource = \"hr\"\n\
             description = \"People in a team.\"\nstatement = \"{statement}\"\n\n\
             [tools.parameters.team]\ntype = \"string\"\n",
            db.display()
        ),
    )
    .expect("write config");
    path
}

#[test]
fn unauthenticated_public_url_is_refused_unless_accepted() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = sqlite_url(dir.path(), "x.db");
    let out = cmd()
        .args(["serve", "--database-url", &db])
        .args(["--public-url", "https://tools.example.com"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for key in [
        "auth.mode",
        "network.allow",
        "server.allow_unauthenticated_public",
    ] {
        assert!(err.contains(key), "{key} missing: {err}");
    }
    assert!(
        !dir.path().join("x.db").exists(),
        "refused before touching the database"
    );

    // Each way out: accept the risk, an allowlist, or authentication.
    let accept = dir.path().join("accept.toml");
    std::fs::write(
        &accept,
        "[server]\npublic_url = \"https://tools.example.com\"\nallow_unauthenticated_public = true\n",
    )
    .expect("write");
    for args in [
        vec!["-c", accept.to_str().expect("utf-8")],
        vec![
            "--public-url",
            "https://tools.example.com",
            "--allow",
            "anthropic",
        ],
        vec![
            "--public-url",
            "https://tools.example.com",
            "--auth",
            "oauth",
        ],
    ] {
        let out = cmd()
            .arg("check-config")
            .args(&args)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    // check-config says what serve would refuse.
    let out = cmd()
        .args(["check-config", "--public-url", "https://tools.example.com"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("allow_unauthenticated_public"));
}

#[test]
fn each_verb_help_shows_its_own_options() {
    let help = |args: &[&str]| {
        let out = cmd().args(args).arg("--help").output().expect("runs");
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let serve = help(&["serve"]);
    for flag in ["--listen", "--sessions", "--allow", "--database-url"] {
        assert!(serve.contains(flag), "serve --help lacks {flag}");
    }
    for verb in [
        &["user", "add"][..],
        &["client", "add"],
        &["token", "revoke"],
    ] {
        let text = help(verb);
        assert!(text.contains("--database-url"), "{verb:?}: {text}");
        for foreign in ["--listen", "--sessions", "--allowed-host", "--log-format"] {
            assert!(!text.contains(foreign), "{verb:?} --help shows {foreign}");
        }
    }
    for verb in [&["audit", "verify"][..], &["migrate"], &["audit", "tail"]] {
        let text = help(verb);
        assert!(text.contains("--database-url"), "{verb:?}: {text}");
        for foreign in ["--listen", "--auth", "--public-url", "--demo"] {
            assert!(!text.contains(foreign), "{verb:?} --help shows {foreign}");
        }
    }
    let tools = help(&["tools", "list"]);
    assert!(tools.contains("--read-only") && !tools.contains("--listen"));
}

#[test]
fn sqlite_errors_name_the_file_once() {
    let out = cmd()
        .args([
            "serve",
            "--database-url",
            "sqlite:///nonexistent-dir/sub/state.db",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("/nonexistent-dir/sub/state.db"), "{err}");
    // No part of the message is said twice (anyhow's chain repeated the
    // cause that the outer message already embeds).
    let line = err.lines().next().unwrap_or_default();
    let parts: Vec<&str> = line.split(": ").collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(
            !parts[i + 1..].iter().any(|q| q == p) && p.len() > 2,
            "doubled text in: {line}"
        );
    }
}

#[test]
fn a_declared_sqlite_source_that_cannot_open_names_its_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[sources.hr]\nurl = \"sqlite:///nonexistent-dir/hr.db\"\n\n[[tools]]\nname = \"t\"\n\
         source = \"hr\"\ndescription = \"d\"\nstatement = \"SELECT 1 AS one\"\n",
    )
    .expect("write");
    let out = cmd()
        .args(["check-config", "--connect", "-c"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    // The operator's output names the file (the message MCP clients get
    // does not: tests/it/declared_sql.rs), and the source once.
    assert!(
        !stdout(&out).contains("source `hr`"),
        "said twice: {}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("source hr: error")
            && stdout(&out).contains("(file: /nonexistent-dir/hr.db)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn config_errors_point_at_the_offending_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = people_db(dir.path());
    let path = dir.path().join("c.toml");
    // Line 9: `read_only` (asks for `destructive`), then the parameter's
    // `type`.
    let text = format!(
        "[sources.hr]\nurl = \"sqlite://{}\"\n\n[[tools]]\nname = \"t\"\nsource = \"hr\"\n\
         description = \"d\"\nstatement = \"DELETE FROM people WHERE team = :team\"\nread_only = false\n\n\
         [tools.parameters.team]\ndescription = \"x\"\ntype = \"strin\"\n",
        db.display()
    );
    let check = |text: &str| {
        std::fs::write(&path, text).expect("write");
        let out = cmd()
            .args(["check-config", "-c"])
            .arg(&path)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1));
        stderr(&out)
    };
    let err = check(&text);
    assert!(
        err.contains("destructive (line 9)"),
        "not the read_only line: {err}"
    );
    let err = check(&text.replace("read_only = false", "read_only = false\ndestructive = true"));
    assert!(
        err.contains("parameters.team.type (line 14)"),
        "not the type line: {err}"
    );
}

#[test]
fn tools_diff_shows_old_and_new_text() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = sqlite_url(dir.path(), "d.db");
    let lock = dir.path().join("tools.lock");
    let out = cmd()
        .args(["tools", "lock", "--database-url", &db, "--out"])
        .arg(&lock)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&lock).expect("lock")).expect("JSON");
    let live = value["tools"]["find_employees"]["description"]
        .as_str()
        .expect("description")
        .to_owned();
    value["tools"]["find_employees"]["description"] = "Find employees.".into();
    std::fs::write(&lock, value.to_string()).expect("write");
    let out = cmd()
        .args(["tools", "diff", "--database-url", &db, "--lock"])
        .arg(&lock)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("    - Find employees."), "{text}");
    assert!(text.contains(&format!("    + {live}")), "{text}");
}

#[test]
fn check_config_connect_prepares_every_statement() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = declared_config(dir.path(), "SELECT nme FROM people WHERE team = :team", "");
    let out = cmd()
        .args(["check-config", "--connect", "-c"])
        .arg(&config)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("source hr: ok"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("tool team_members: error") && stdout(&out).contains("nme"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("team_members"), "{}", stderr(&out));

    let good = tempfile::tempdir().expect("tmp");
    let config = declared_config(
        good.path(),
        "SELECT name FROM people WHERE team = :team",
        "",
    );
    let out = cmd()
        .args(["check-config", "--connect", "-c"])
        .arg(&config)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("tool team_members: statement prepared"));
}

#[test]
fn empty_result_keeps_columns_and_tools_call_audits_where_the_config_says() {
    let dir = tempfile::tempdir().expect("tmp");
    let state = sqlite_url(dir.path(), "state.db");
    let config = declared_config(
        dir.path(),
        "SELECT name, team FROM people WHERE team = :team",
        &format!("[database]\nurl = \"{state}\"\n\n"),
    );
    let out = cmd()
        .current_dir(dir.path())
        .args([
            "tools",
            "call",
            "team_members",
            "--args",
            r#"{"team":"none"}"#,
            "-c",
        ])
        .arg(&config)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(result["row_count"], 0, "{result}");
    assert_eq!(result["columns"], serde_json::json!(["name", "team"]));

    // The audit record is in the config's database, not a default file.
    assert!(!dir.path().join("mcp-connector.db").exists());
    let out = cmd()
        .args(["audit", "export", "--database-url", &state])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("team_members"),
        "no record: {}",
        stdout(&out)
    );
}

#[test]
fn client_add_names_claudes_menu_and_warns_about_unreachable_urls() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = sqlite_url(dir.path(), "c.db");
    let add = |public: &str| {
        let out = cmd()
            .args(["client", "add", "--name", "Claude", "--auth", "oauth"])
            .args(["--database-url", &db, "--public-url", public])
            .output()
            .expect("runs");
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    let out = add("http://127.0.0.1:8000");
    assert!(
        stdout(&out).contains("Customize → Connectors"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("loopback"), "{}", stderr(&out));
    let out = add("https://tools.example.com");
    assert!(stdout(&out).contains("https://tools.example.com/mcp"));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn declared_tools_do_not_seed_the_demo_tables() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = declared_config(dir.path(), "SELECT name FROM people WHERE team = :team", "");
    let state = sqlite_url(dir.path(), "state.db");
    let employees = || {
        let url = state.clone();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async move {
                use sqlx::Connection as _;
                let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM employees")
                    .fetch_one(&mut conn)
                    .await
                    .expect("count");
                n
            })
    };
    let migrate = |config: Option<&Path>| {
        let mut c = cmd();
        c.args(["migrate", "--database-url", &state]);
        if let Some(path) = config {
            c.arg("-c").arg(path);
        }
        let out = c.output().expect("runs");
        assert!(out.status.success(), "{}", stderr(&out));
    };
    migrate(Some(&config));
    assert_eq!(employees(), 0, "declared tools got the demo rows");
    // The same database later serving the demo gets them then.
    migrate(None);
    assert_eq!(employees(), 42 + 18 + 11);
}
