//! Declared tools under the core's controls: read-only mode, the
//! confirmation guard of destructive tools, scopes, and the caller context
//! from OAuth tokens (which arguments cannot override).

use mcp_connector::config::AuthMode;
use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::common::{Backend, Opts, TestServer, first_text};
use crate::oauth_flow::{ClientSpec, add_token_user, insert_client, mint, test_client};

/// A seeded SQLite notes database in `dir`; its `sqlite://` URL.
async fn notes_db(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("notes.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.expect("open");
    sqlx::raw_sql(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, owner TEXT, client TEXT, body TEXT);
         INSERT INTO notes (owner, client, body) VALUES ('alice', NULL, 'a1'), ('alice', NULL, 'a2'), ('bob', NULL, 'b1');",
    )
    .execute(&mut c)
    .await
    .expect("seed");
    c.close().await.expect("close");
    format!("sqlite://{}", path.display())
}

fn config(url: &str, extra: &str) -> String {
    format!(
        r#"{extra}
[sources.notes]
url = "{url}"

[[tools]]
name = "my_notes"
source = "notes"
description = "The caller's own notes."
statement = "SELECT body FROM notes WHERE owner = :_user ORDER BY id"

[[tools]]
name = "add_note"
source = "notes"
description = "Add a note for the caller; records the client it came through."
statement = "INSERT INTO notes (owner, client, body) VALUES (:_user, :_client, :body)"
read_only = false
destructive = false
[tools.parameters.body]
type = "string"
max_length = 200

[[tools]]
name = "purge_notes"
source = "notes"
description = "Delete every note of an owner."
statement = "DELETE FROM notes WHERE owner = :owner"
read_only = false
destructive = true
{purge}
[tools.parameters.owner]
type = "string"
"#,
        purge = if extra.contains("#allow-purge") {
            "unconfirmed = \"allow\""
        } else {
            ""
        },
    )
}

async fn spawn(url: &str, extra: &str, auth: AuthMode) -> TestServer {
    let opts = Opts {
        toml: Some(config(url, extra)),
        auth,
        ..Opts::default()
    };
    TestServer::try_spawn(Backend::Sqlite, opts)
        .await
        .expect("sqlite server")
}

fn names(list: &Value) -> Vec<String> {
    list["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

async fn note_count(url: &str) -> i64 {
    let mut c = sqlx::SqliteConnection::connect(url).await.expect("open");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
        .fetch_one(&mut c)
        .await
        .expect("count");
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_mode_hides_declared_write_tools() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = notes_db(&dir).await;
    let srv = spawn(&url, "[server]\nread_only = true", AuthMode::None).await;
    let list = srv.rpc("tools/list", json!({})).await;
    assert_eq!(names(&list), ["my_notes"]);
    let tool = &list["result"]["tools"][0];
    assert_eq!(tool["annotations"]["readOnlyHint"], true);
    assert!(
        tool["outputSchema"]["properties"]["rows"].is_object(),
        "{tool}"
    );
    let r = srv
        .rpc(
            "tools/call",
            json!({"name": "add_note", "arguments": {"body": "x"}}),
        )
        .await;
    assert_eq!(r["error"]["message"], "Unknown tool: add_note", "{r}");
    assert_eq!(note_count(&url).await, 3);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destructive_declared_tools_need_confirmation_or_an_operator_decision() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = notes_db(&dir).await;
    let srv = spawn(&url, "", AuthMode::None).await;
    let list = srv.rpc("tools/list", json!({})).await;
    let purge = list["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "purge_notes")
        .cloned()
        .expect("purge_notes listed");
    assert_eq!(purge["annotations"]["destructiveHint"], true);
    assert_eq!(purge["annotations"]["readOnlyHint"], false);
    let r = srv.call("purge_notes", json!({"owner": "alice"})).await;
    assert_eq!(r["isError"], true);
    assert!(first_text(&r).contains("unconfirmed = \"allow\""), "{r}");
    assert_eq!(note_count(&url).await, 3, "nothing deleted");
    srv.stop().await;

    let srv = spawn(&url, "#allow-purge", AuthMode::None).await;
    let r = srv.call("purge_notes", json!({"owner": "alice"})).await;
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["structuredContent"]["rows_affected"], 2, "{r}");
    assert_eq!(note_count(&url).await, 1);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_context_comes_from_the_token_and_arguments_cannot_override_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = notes_db(&dir).await;
    let srv = spawn(&url, "", AuthMode::OAuth).await;
    let user = add_token_user(&srv, "editor").await;
    let username: String = srv
        .state
        .db
        .user(&user)
        .await
        .expect("db")
        .expect("user")
        .username;
    let (client, _) = test_client(&srv, false).await;
    let (token, _) = mint(&srv, &client, Some(&user), "tools:read tools:write").await;

    // A new user has no notes, whatever the arguments say.
    let (status, r) = crate::oauth_resource::call(&srv, &token, "my_notes", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(r["result"]["structuredContent"]["row_count"], 0, "{r}");
    let (_, r) =
        crate::oauth_resource::call(&srv, &token, "my_notes", json!({"_user": "alice"})).await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(
        first_text(&r["result"]).contains("unknown argument `_user`"),
        "{r}"
    );

    // Writes carry the caller's name and client id, read back as the caller.
    let (_, r) =
        crate::oauth_resource::call(&srv, &token, "add_note", json!({"body": "mine"})).await;
    assert_eq!(r["result"]["structuredContent"]["rows_affected"], 1, "{r}");
    let (_, r) = crate::oauth_resource::call(&srv, &token, "my_notes", json!({})).await;
    assert_eq!(
        r["result"]["structuredContent"]["rows"],
        json!([{"body": "mine"}]),
        "{r}"
    );
    let mut c = sqlx::SqliteConnection::connect(&url).await.expect("open");
    let row: (String, String) =
        sqlx::query_as("SELECT owner, client FROM notes WHERE body = 'mine'")
            .fetch_one(&mut c)
            .await
            .expect("row");
    assert_eq!(row, (username, client.clone()));

    // A read-only token sees the read tool only, and writes are forbidden.
    let (ro, _) = mint(&srv, &client, Some(&user), "tools:read").await;
    let (status, _) =
        crate::oauth_resource::call(&srv, &ro, "add_note", json!({"body": "x"})).await;
    assert_eq!(status, 403, "the write scope is missing");

    // A service client has no user: `:_user` is NULL and matches nothing.
    let spec = ClientSpec {
        secret: true,
        grants: &["client_credentials"],
        scopes: "tools:read",
        ..ClientSpec::default()
    };
    let (service, _) = insert_client(&srv, &spec).await;
    let (st, _) = mint(&srv, &service, None, "tools:read").await;
    let (_, r) = crate::oauth_resource::call(&srv, &st, "my_notes", json!({})).await;
    assert_eq!(r["result"]["structuredContent"]["row_count"], 0, "{r}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_calls_are_in_the_audit_trail() {
    use mcp_connector::audit::store as audit_store;
    use mcp_connector::store::{Db, DbOptions};

    let dir = tempfile::tempdir().expect("tmp");
    let url = notes_db(&dir).await;
    let srv = spawn(&url, "", AuthMode::None).await;
    let r = srv.call("add_note", json!({"body": "audited"})).await;
    assert_eq!(r["isError"], false, "{r}");
    let r = srv.call("add_note", json!({"body": 7})).await;
    assert_eq!(r["isError"], true, "{r}");
    let db = Db::connect(&srv.database_url, &DbOptions::default())
        .await
        .expect("connect");
    let records = audit_store::since(&db, 0, 100).await.expect("audit");
    db.close().await;
    let calls: Vec<_> = records
        .iter()
        .filter(|r| r.tool.as_deref() == Some("add_note"))
        .collect();
    assert_eq!(calls.len(), 2, "{records:?}");
    let args: Value = serde_json::from_str(calls[0].arguments.as_deref().expect("arguments"))
        .expect("arguments are JSON");
    assert_eq!(args, json!({"body": "audited"}));
    assert!(!calls[0].is_error);
    assert_eq!(calls[0].result_sha256.as_ref().map(String::len), Some(64));
    assert!(calls[1].is_error, "{:?}", calls[1]);
    srv.stop().await;
}
