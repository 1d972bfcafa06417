//! The operator loop of declared tools: `tools list` / `tools call`,
//! `check-config [--connect]`, reload (in process and by SIGHUP) with
//! `notifications/tools/list_changed`, and `/readyz` over the sources.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_connector::config::{Config, Overrides};
use serde_json::{Value, json};

use crate::common::{
    LEGACY, MODERN, Opts, TestServer, binary, find_message, read_message, read_until,
};

mod cli;

/// A down PostgreSQL source whose URL holds a password that must never show.
const DOWN_URL: &str = "postgres://u:secretpw@127.0.0.1:1/x";

/// A SQLite file with `people(name, team)`: ada and bob in `a`, cy in `b`.
async fn seed(dir: &Path) -> PathBuf {
    use sqlx::Connection as _;
    let path = dir.join("hr.db");
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .expect("create sqlite file");
    for stmt in [
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, team TEXT NOT NULL)",
        "INSERT INTO people (name, team) VALUES ('ada', 'a'), ('bob', 'a'), ('cy', 'b')",
    ] {
        sqlx::query(stmt).execute(&mut conn).await.expect("seed");
    }
    conn.close().await.expect("close");
    path
}

fn seed_blocking(dir: &Path) -> PathBuf {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(seed(dir))
}

/// Tool declarations by name.
fn tool(name: &str) -> &'static str {
    match name {
        "count_people" => {
            r#"
[[tools]]
name = "count_people"
source = "hr"
description = "Number of people."
statement = "SELECT count(*) AS n FROM people"
"#
        }
        "people_in_team" => {
            r#"
[[tools]]
name = "people_in_team"
source = "hr"
description = "Names of the people in a team."
statement = "SELECT name FROM people WHERE team = :team ORDER BY name"
[tools.parameters.team]
type = "string"
description = "Team code"
"#
        }
        "whoami" => {
            r#"
[[tools]]
name = "whoami"
source = "hr"
description = "The caller as the connector sees it."
statement = "SELECT :_user AS user_name, :_client AS client_id"
"#
        }
        "broken" => {
            r#"
[[tools]]
name = "broken"
source = "hr"
description = "Reads a table that does not exist."
statement = "SELECT nope FROM no_such_table"
"#
        }
        "down_count" => {
            r#"
[[tools]]
name = "down_count"
source = "down"
description = "Counts rows on a database that is down."
statement = "SELECT 1 AS n"
columns = { n = "integer" }
"#
        }
        other => panic!("no tool {other}"),
    }
}

/// A config file's text: the `hr` source on `db` (plus the down source
/// when a tool uses it) and `tools`.
fn config_text(db: &Path, tools: &[&str]) -> String {
    let mut text = format!("[sources.hr]\nurl = \"sqlite://{}\"\n", db.display());
    if tools.contains(&"down_count") {
        text.push_str(&format!("[sources.down]\nurl = \"{DOWN_URL}\"\n"));
    }
    for t in tools {
        text.push_str(tool(t));
    }
    text
}

fn config_of(text: &str) -> Config {
    let file = Config::parse_file(text).expect("config parses");
    Config::from_parts(file, &Overrides::default()).expect("config is valid")
}

fn names(tools: &Value) -> Vec<String> {
    tools
        .as_array()
        .unwrap_or_else(|| panic!("not a tool array: {tools}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Open a stateful session (legacy revision); its id and `initialize` result.
async fn open_session(srv: &TestServer) -> (String, Value) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "it", "version": "1"}}})
    .to_string();
    let res = srv.post_raw(body, &[]).await;
    assert_eq!(res.status(), 200);
    let id = res.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let init = read_message(res).await;
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let res = srv
        .post_raw(
            note,
            &[("mcp-session-id", &id), ("mcp-protocol-version", LEGACY)],
        )
        .await;
    assert_eq!(res.status(), 202);
    (id, init)
}

async fn session_tools(srv: &TestServer, id: &str) -> Vec<String> {
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}).to_string();
    let res = srv
        .post_raw(
            body,
            &[("mcp-session-id", id), ("mcp-protocol-version", LEGACY)],
        )
        .await;
    names(&read_message(res).await["result"]["tools"])
}

fn is_list_changed(m: &Value) -> bool {
    m["method"] == "notifications/tools/list_changed"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_notifies_sessions_and_serves_the_new_tools() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = seed(dir.path()).await;
    let opts = Opts {
        sessions: true,
        ..Opts::declared(config_text(&db, &["count_people"]))
    };
    let srv = TestServer::try_spawn(crate::common::Backend::Sqlite, opts)
        .await
        .expect("sqlite");
    let (id, init) = open_session(&srv).await;
    assert_eq!(
        init["result"]["capabilities"]["tools"]["listChanged"], true,
        "{init}"
    );
    let mut stream = srv
        .client
        .get(&srv.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", LEGACY)
        .send()
        .await
        .expect("GET stream");
    assert_eq!(stream.status(), 200);
    assert_eq!(session_tools(&srv, &id).await, ["count_people"]);

    srv.state
        .reload_tools(&config_of(&config_text(
            &db,
            &["count_people", "people_in_team"],
        )))
        .await
        .expect("reload");
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    read_until(&mut stream, &mut buf, deadline, |b| {
        find_message(b, is_list_changed).is_some()
    })
    .await;
    assert_eq!(
        session_tools(&srv, &id).await,
        ["count_people", "people_in_team"]
    );
    // The new tool runs on the reloaded source.
    let body = json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call",
        "params": {"name": "people_in_team", "arguments": {"team": "a"}}})
    .to_string();
    let res = srv
        .post_raw(
            body,
            &[("mcp-session-id", &id), ("mcp-protocol-version", LEGACY)],
        )
        .await;
    let r = read_message(res).await["result"].clone();
    assert_eq!(
        r["structuredContent"]["rows"],
        json!([{"name": "ada"}, {"name": "bob"}]),
        "{r}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_notifies_stateless_listeners() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = seed(dir.path()).await;
    let srv = TestServer::try_spawn(
        crate::common::Backend::Sqlite,
        Opts::declared(config_text(&db, &["count_people"])),
    )
    .await
    .expect("sqlite");
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "subscriptions/listen", "params": {
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "it", "version": "1"},
        },
        "notifications": {"toolsListChanged": true},
    }})
    .to_string();
    let mut stream = srv
        .post_raw(
            body,
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "subscriptions/listen"),
            ],
        )
        .await;
    assert_eq!(stream.status(), 200);
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    read_until(&mut stream, &mut buf, deadline, |b| {
        find_message(b, |m| {
            m["method"] == "notifications/subscriptions/acknowledged"
        })
        .is_some()
    })
    .await;
    let ack = find_message(&buf, |m| {
        m["method"] == "notifications/subscriptions/acknowledged"
    })
    .expect("acknowledged");
    assert_eq!(
        ack["params"]["notifications"]["toolsListChanged"], true,
        "{ack}"
    );
    srv.state
        .reload_tools(&config_of(&config_text(&db, &["count_people", "whoami"])))
        .await
        .expect("reload");
    read_until(&mut stream, &mut buf, deadline, |b| {
        find_message(b, is_list_changed).is_some()
    })
    .await;
    let note = find_message(&buf, is_list_changed).expect("list_changed");
    assert_eq!(
        note["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 9,
        "{note}"
    );
    let (_, list) = srv.modern("tools/list", json!({}), None).await;
    assert_eq!(names(&list["result"]["tools"]), ["count_people", "whoami"]);
    drop(stream);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_declared_sources() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = seed(dir.path()).await;
    let srv = TestServer::try_spawn(
        crate::common::Backend::Sqlite,
        Opts::declared(config_text(&db, &["count_people"])),
    )
    .await
    .expect("sqlite");
    let readyz = format!("{}/readyz", srv.base);
    let res = srv.client.get(&readyz).send().await.expect("readyz");
    assert_eq!(res.status(), 200);

    // A reload adds a source that is down: not ready, and the body names it.
    srv.state
        .reload_tools(&config_of(&config_text(
            &db,
            &["count_people", "down_count"],
        )))
        .await
        .expect("reload");
    let started = Instant::now();
    let res = srv.client.get(&readyz).send().await.expect("readyz");
    assert!(started.elapsed() < Duration::from_secs(5), "bounded");
    assert_eq!(res.status(), 503);
    let body = res.text().await.expect("body");
    assert!(body.contains("down"), "{body}");
    assert!(
        !body.contains("secretpw") && !body.contains("127.0.0.1"),
        "{body}"
    );

    // Its tool answers isError with a message that leaks nothing.
    let r = srv.call("down_count", json!({})).await;
    assert_eq!(r["isError"], true, "{r}");
    assert!(!r.to_string().contains("secretpw"), "{r}");

    // Back to the good source only: ready again.
    srv.state
        .reload_tools(&config_of(&config_text(&db, &["count_people"])))
        .await
        .expect("reload");
    let res = srv.client.get(&readyz).send().await.expect("readyz");
    assert_eq!(res.status(), 200);
    srv.stop().await;
}
