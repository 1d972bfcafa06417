//! The configs under `examples/`: each one passes `check-config`, and the HR
//! and support examples, seeded from their own schema and seed files, answer
//! what their seed data implies, on SQLite always, on PostgreSQL when
//! `TEST_DATABASE_URL` is set and on MariaDB/MySQL when `TEST_MYSQL_URL` is.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::common::{Backend, Opts, TestServer, binary};

/// Numbers the seed files promise (see the comments at their top).
const SOFTWARE_ENGINEERS: i64 = 9;
const ENGINEERING_HEADCOUNT: usize = 17;
const HR_PAGE: usize = 10;
const URGENT_NOT_CLOSED: usize = 3;
const COMMENTS_ON_5001: usize = 2;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Every `examples/NAME/` holding a `connector.toml`.
fn examples() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("examples/ exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("connector.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// The `${VAR}` names a config text uses.
fn env_vars(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').expect("closed ${");
        let var = after[..end].to_owned();
        if !out.contains(&var) {
            out.push(var);
        }
        rest = &after[end + 1..];
    }
    out
}

#[test]
fn every_example_is_complete_and_passes_check_config() {
    let dirs = examples();
    assert!(dirs.len() >= 2, "at least two examples: {dirs:?}");
    let tmp = tempfile::tempdir().expect("tmp");
    for dir in &dirs {
        let name = dir.file_name().expect("name").to_string_lossy().to_string();
        for file in ["README.md", "schema.sql", "seed.sql"] {
            assert!(
                dir.join(file).is_file(),
                "examples/{name}/{file} is missing"
            );
        }
        let config = dir.join("connector.toml");
        let text = std::fs::read_to_string(&config).expect("read config");
        // The file's own shape: read tools, and at least one write tool that
        // says whether it is destructive.
        let file: toml::Value = toml::from_str(&text).expect("TOML");
        let tools = file["tools"].as_array().expect("[[tools]]");
        assert!(tools.len() >= 3, "{name}: a realistic set of tools");
        let writes: Vec<&toml::Value> = tools
            .iter()
            .filter(|t| t.get("read_only").and_then(toml::Value::as_bool) == Some(false))
            .collect();
        assert!(!writes.is_empty(), "{name}: no write tool");
        assert!(
            writes.iter().all(|t| t.get("destructive").is_some()),
            "{name}"
        );
        let vars = env_vars(&text);
        assert!(
            !vars.is_empty(),
            "{name}: source URLs come from the environment"
        );

        let mut cmd = binary();
        cmd.args(["check-config", "--config"]).arg(&config);
        for var in &vars {
            let db = tmp.path().join(format!("{name}.db"));
            cmd.env(var, format!("sqlite://{}", db.display()));
        }
        let out = cmd.output().expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("configuration ok"), "{name}: {stdout}");

        // Without the variable the config is refused, naming it.
        let mut cmd = binary();
        cmd.args(["check-config", "--config"]).arg(&config);
        for var in &vars {
            cmd.env_remove(var);
        }
        let out = cmd.output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(&vars[0]), "{name}: {stderr}");
    }
}

/// The engines an example can be seeded on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Sqlite,
    Postgres,
    MySql,
}

/// An example database, dropped (server-side engines) at the end.
struct Seeded {
    url: String,
    drop: Option<(Engine, String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Seeded {
    async fn cleanup(mut self) {
        let Some((engine, admin, name)) = self.drop.take() else {
            return;
        };
        match engine {
            Engine::Postgres => {
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut c)
                        .await;
                }
            }
            Engine::MySql => {
                if let Ok(mut c) = sqlx::MySqlConnection::connect(&admin).await {
                    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name}"))
                        .execute(&mut c)
                        .await;
                }
            }
            Engine::Sqlite => {}
        }
    }
}

/// The example's schema for `engine` (its own file where the dialect
/// differs) followed by its seed data.
fn example_sql(example: &str, engine: Engine) -> String {
    let dir = examples_dir().join(example);
    let pick = |kind: &str| {
        let suffix = match engine {
            Engine::Sqlite => None,
            Engine::Postgres => Some("postgres"),
            Engine::MySql => Some("mysql"),
        };
        suffix
            .map(|s| dir.join(format!("{kind}.{s}.sql")))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| dir.join(format!("{kind}.sql")))
    };
    let mut sql = std::fs::read_to_string(pick("schema")).expect("schema");
    sql.push('\n');
    sql.push_str(&std::fs::read_to_string(pick("seed")).expect("seed"));
    sql
}

/// A fresh database on `engine` holding `example`; `None` when the engine is
/// not configured for this run.
async fn seed(example: &str, engine: Engine) -> Option<Seeded> {
    let sql = example_sql(example, engine);
    let name = format!(
        "mcpc_ex_{}",
        mcp_connector_security::random_token(9)
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    match engine {
        Engine::Sqlite => {
            let dir = tempfile::tempdir().expect("tmp");
            let url = format!(
                "sqlite://{}",
                dir.path().join(format!("{example}.db")).display()
            );
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(dir.path().join(format!("{example}.db")))
                .create_if_missing(true);
            let mut c = sqlx::SqliteConnection::connect_with(&opts)
                .await
                .expect("create SQLite file");
            sqlx::raw_sql(&sql)
                .execute(&mut c)
                .await
                .expect("seed SQLite");
            c.close().await.expect("close");
            Some(Seeded {
                url,
                drop: None,
                _dir: Some(dir),
            })
        }
        Engine::Postgres => {
            let admin = std::env::var("TEST_DATABASE_URL").ok()?;
            let mut c = sqlx::PgConnection::connect(&admin)
                .await
                .expect("TEST_DATABASE_URL is reachable");
            sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                .execute(&mut c)
                .await
                .expect("create database");
            let mut url = url::Url::parse(&admin).expect("URL");
            url.set_path(&format!("/{name}"));
            let mut db = sqlx::PgConnection::connect(url.as_str())
                .await
                .expect("connect");
            sqlx::raw_sql(&sql)
                .execute(&mut db)
                .await
                .expect("seed PostgreSQL");
            db.close().await.expect("close");
            Some(Seeded {
                url: url.to_string(),
                drop: Some((engine, admin, name)),
                _dir: None,
            })
        }
        Engine::MySql => {
            let admin = std::env::var("TEST_MYSQL_URL").ok()?;
            let mut c = sqlx::MySqlConnection::connect(&admin)
                .await
                .expect("TEST_MYSQL_URL is reachable");
            sqlx::raw_sql(&format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"))
                .execute(&mut c)
                .await
                .expect("create database");
            let mut url = url::Url::parse(&admin).expect("URL");
            url.set_path(&format!("/{name}"));
            let mut db = sqlx::MySqlConnection::connect(url.as_str())
                .await
                .expect("connect");
            // One statement at a time: the files end each one with `;` at a
            // line end, and no string in them does.
            for stmt in sql
                .split(";\n")
                .map(str::trim)
                .filter(|s| !only_comments(s))
            {
                sqlx::raw_sql(stmt)
                    .execute(&mut db)
                    .await
                    .unwrap_or_else(|e| panic!("seed MySQL: {e}: {stmt}"));
            }
            db.close().await.expect("close");
            Some(Seeded {
                url: url.to_string(),
                drop: Some((engine, admin, name)),
                _dir: None,
            })
        }
    }
}

fn only_comments(stmt: &str) -> bool {
    stmt.lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with("--"))
}

/// Serve `examples/NAME/connector.toml` with its URL variable set to `url`.
async fn serve_example(example: &str, var: &str, url: &str) -> TestServer {
    let text = std::fs::read_to_string(examples_dir().join(example).join("connector.toml"))
        .expect("config");
    let text = text.replace(&format!("${{{var}}}"), url);
    TestServer::try_spawn(Backend::Sqlite, Opts::declared(text))
        .await
        .expect("sqlite is always available")
}

fn structured(result: &Value) -> &Value {
    assert_ne!(result["isError"], true, "tool error: {result}");
    &result["structuredContent"]
}

fn rows(result: &Value) -> &Vec<Value> {
    structured(result)["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows: {result}"))
}

fn error_text(result: &Value) -> String {
    assert_eq!(result["isError"], true, "expected a tool error: {result}");
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn hr_example(engine: Engine) {
    let Some(db) = seed("hr", engine).await else {
        eprintln!("{engine:?} is not configured: HR example not run there");
        return;
    };
    let srv = serve_example("hr", "HR_DATABASE_URL", &db.url).await;

    // The example tool, as clients see it.
    let list = srv.rpc("tools/list", json!({})).await;
    let tools = list["result"]["tools"].as_array().expect("tools");
    let tool = |n: &str| {
        tools
            .iter()
            .find(|t| t["name"] == n)
            .unwrap_or_else(|| panic!("{n} not listed: {list}"))
            .clone()
    };
    let count = tool("count_by_title");
    assert_eq!(count["inputSchema"]["required"], json!(["title"]));
    assert_eq!(
        count["inputSchema"]["properties"]["title"]["type"],
        "string"
    );
    assert_eq!(count["annotations"]["readOnlyHint"], true);
    assert!(count["outputSchema"].is_object(), "{count}");
    assert_eq!(tool("change_title")["annotations"]["destructiveHint"], true);

    let r = srv
        .call("count_by_title", json!({"title": "Software Engineer"}))
        .await;
    assert_eq!(rows(&r), &vec![json!({"n": SOFTWARE_ENGINEERS})], "{r}");
    let r = srv
        .call("count_by_title", json!({"title": "Astronaut"}))
        .await;
    assert_eq!(rows(&r)[0]["n"], 0);
    // Arguments are checked against the declared parameters.
    let r = srv.call("count_by_title", json!({"title": 7})).await;
    assert!(error_text(&r).contains("title"), "{r}");

    // Pages of 10 through an opaque cursor, every row once.
    let mut seen = Vec::new();
    let mut args = json!({"department": "eng"});
    for _ in 0..5 {
        let r = srv.call("list_by_department", args.clone()).await;
        let page = rows(&r);
        assert!(page.len() <= HR_PAGE, "{r}");
        seen.extend(page.iter().map(|row| row["id"].clone()));
        match structured(&r)["next_cursor"].as_str() {
            Some(c) => args["cursor"] = json!(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), ENGINEERING_HEADCOUNT, "{seen:?}");
    let mut unique = seen.clone();
    unique.sort_by_key(Value::to_string);
    unique.dedup();
    assert_eq!(unique.len(), ENGINEERING_HEADCOUNT, "{seen:?}");

    let r = srv.call("find_employee", json!({"name": "OKAFOR"})).await;
    let found = rows(&r);
    assert_eq!(found.len(), 1, "{r}");
    assert_eq!(found[0]["email"], "amara.okafor@example.com");
    assert_eq!(found[0]["hired_on"], "2015-02-02");

    // No signed-in user: :_user_email is NULL and matches nothing, and an
    // argument cannot stand in for it.
    let r = srv.call("my_profile", json!({})).await;
    assert_eq!(rows(&r).len(), 0, "{r}");
    let r = srv
        .call(
            "my_profile",
            json!({"_user_email": "amara.okafor@example.com"}),
        )
        .await;
    error_text(&r);

    // A destructive write needs the user's confirmation, which a stateless
    // legacy client cannot give: refused, nothing changed.
    let r = srv
        .call(
            "change_title",
            json!({"employee_id": 1017, "title": "Senior Software Engineer"}),
        )
        .await;
    error_text(&r);
    let r = srv
        .call("count_by_title", json!({"title": "Software Engineer"}))
        .await;
    assert_eq!(rows(&r)[0]["n"], SOFTWARE_ENGINEERS);

    srv.stop().await;
    db.cleanup().await;
}

async fn support_example(engine: Engine) {
    let Some(db) = seed("support", engine).await else {
        eprintln!("{engine:?} is not configured: support example not run there");
        return;
    };
    let srv = serve_example("support", "SUPPORT_DATABASE_URL", &db.url).await;

    // The enum parameter's default is "urgent".
    let r = srv.call("open_tickets_by_priority", json!({})).await;
    assert_eq!(rows(&r).len(), URGENT_NOT_CLOSED, "{r}");
    assert!(rows(&r).iter().all(|t| t["status"] != "closed"), "{r}");
    let r = srv
        .call("open_tickets_by_priority", json!({"priority": "critical"}))
        .await;
    assert!(error_text(&r).contains("priority"), "{r}");

    let r = srv.call("ticket_details", json!({"ticket_id": 5001})).await;
    let t = &rows(&r)[0];
    assert_eq!(t["customer"], "Northwind Traders", "{r}");
    assert_eq!(t["comments"], COMMENTS_ON_5001 as i64, "{r}");
    assert_eq!(t["created_at"], "2026-11-20 08:12:00", "{r}");
    let r = srv.call("ticket_details", json!({"ticket_id": 0})).await;
    assert!(error_text(&r).contains("ticket_id"), "{r}");

    // Without a signed-in agent, :_user is NULL: an empty queue.
    let r = srv.call("my_tickets", json!({})).await;
    assert_eq!(rows(&r).len(), 0, "{r}");

    // A non-destructive write runs at once; the new comment is readable.
    let r = srv
        .call(
            "add_comment",
            json!({"ticket_id": 5001, "body": "Fix deployed; please try again."}),
        )
        .await;
    assert_eq!(structured(&r)["rows_affected"], 1, "{r}");
    let r = srv
        .call("add_comment", json!({"ticket_id": 999_999, "body": "lost"}))
        .await;
    assert_eq!(structured(&r)["rows_affected"], 0, "{r}");
    let r = srv
        .call("ticket_comments", json!({"ticket_id": 5001}))
        .await;
    let comments = rows(&r);
    assert_eq!(comments.len(), COMMENTS_ON_5001 + 1, "{r}");
    let last = comments.last().expect("a comment");
    assert_eq!(last["body"], "Fix deployed; please try again.");
    assert_eq!(last["author"], "mcp-connector");

    // The destructive one is refused without confirmation and changes nothing.
    let r = srv.call("close_ticket", json!({"ticket_id": 5001})).await;
    error_text(&r);
    let r = srv.call("ticket_details", json!({"ticket_id": 5001})).await;
    assert_eq!(rows(&r)[0]["status"], "open", "{r}");

    srv.stop().await;
    db.cleanup().await;
}

macro_rules! per_engine {
    ($name:ident, $run:ident) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $run(Engine::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $run(Engine::Postgres).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() {
                $run(Engine::MySql).await;
            }
        }
    };
}

per_engine!(hr, hr_example);
per_engine!(support, support_example);
