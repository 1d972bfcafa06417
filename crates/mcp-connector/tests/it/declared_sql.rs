//! Config-declared SQL tools against real databases: every scenario runs on
//! SQLite (always), PostgreSQL (`TEST_DATABASE_URL`) and MariaDB/MySQL
//! (`TEST_MYSQL_URL`), each on a fresh database of its own.
//!
//! Read-only enforcement is proved by effect: after each refused write the
//! table is queried directly and must be unchanged.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;

use crate::common::{Backend, Opts, TestServer, first_text};

const PEOPLE: i64 = 7;
const PASSWORD: &str = "s3cretPW";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eng {
    Sqlite,
    Postgres,
    MySql,
}

/// A fresh source database, seeded with `people`.
struct Db {
    eng: Eng,
    url: String,
    /// (admin URL, database name) to drop afterwards.
    admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

fn random_name(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        mcp_connector_security::random_token(9)
            .to_lowercase()
            .replace(['-', '_'], "x")
    )
}

impl Db {
    /// `None` when the engine's server is not configured.
    async fn create(eng: Eng) -> Option<Self> {
        let db = match eng {
            Eng::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let path = dir.path().join("source.db");
                std::fs::File::create(&path).expect("create db file");
                Self {
                    eng,
                    url: format!("sqlite://{}", path.display()),
                    admin: None,
                    _dir: Some(dir),
                }
            }
            Eng::Postgres | Eng::MySql => {
                let var = if eng == Eng::Postgres {
                    "TEST_DATABASE_URL"
                } else {
                    "TEST_MYSQL_URL"
                };
                let Ok(admin) = std::env::var(var) else {
                    eprintln!("{var} is not set: {eng:?} variant not run");
                    return None;
                };
                let name = random_name("t_");
                let mut url = url::Url::parse(&admin).expect("admin URL");
                url.set_path(&format!("/{name}"));
                let db = Self {
                    eng,
                    url: url.to_string(),
                    admin: Some((admin.clone(), name.clone())),
                    _dir: None,
                };
                db.run_on(&admin, &[&format!("CREATE DATABASE {name}")])
                    .await;
                db
            }
        };
        db.exec(&[
            match eng {
                Eng::MySql => {
                    "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, age INT NOT NULL, owner VARCHAR(100))"
                }
                _ => {
                    "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER NOT NULL, owner TEXT)"
                }
            },
            "INSERT INTO people (id, name, age, owner) VALUES (1, 'Ada', 36, 'alice'), (2, 'Bob', 41, NULL), \
             (3, 'Cy', 29, NULL), (4, 'Di', 52, NULL), (5, 'Ed', 47, NULL), (6, 'Flo', 33, NULL), (7, 'Gus', 60, NULL)",
        ])
        .await;
        match eng {
            Eng::Postgres => {
                db.exec(&[
                    "CREATE SEQUENCE seq",
                    "CREATE FUNCTION add_person() RETURNS integer LANGUAGE plpgsql AS $$ \
                     BEGIN INSERT INTO people (id, name, age) VALUES (99, 'Fn', 1); RETURN 1; END $$",
                ])
                .await
            }
            Eng::MySql => {
                db.exec(&[
                    "CREATE SEQUENCE seq",
                    "CREATE FUNCTION add_person() RETURNS INT MODIFIES SQL DATA \
                     BEGIN INSERT INTO people (id, name, age) VALUES (99, 'Fn', 1); RETURN 1; END",
                ])
                .await
            }
            Eng::Sqlite => {}
        }
        Some(db)
    }

    async fn exec(&self, statements: &[&str]) {
        self.run_on(&self.url, statements).await;
    }

    async fn run_on(&self, url: &str, statements: &[&str]) {
        macro_rules! run {
            ($conn:ty) => {{
                let mut c = <$conn>::connect(url).await.expect("connect to source");
                for s in statements {
                    sqlx::raw_sql(s)
                        .execute(&mut c)
                        .await
                        .unwrap_or_else(|e| panic!("{s}: {e}"));
                }
            }};
        }
        match self.eng {
            Eng::Sqlite => run!(sqlx::SqliteConnection),
            Eng::Postgres => run!(sqlx::PgConnection),
            Eng::MySql => run!(sqlx::MySqlConnection),
        }
    }

    /// `SELECT count(*) FROM people [WHERE …]`, directly.
    async fn count(&self, filter: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM people {filter}");
        macro_rules! count {
            ($conn:ty) => {{
                let mut c = <$conn>::connect(&self.url).await.expect("connect");
                sqlx::query_scalar::<_, i64>(&sql)
                    .fetch_one(&mut c)
                    .await
                    .expect("count")
            }};
        }
        match self.eng {
            Eng::Sqlite => count!(sqlx::SqliteConnection),
            Eng::Postgres => count!(sqlx::PgConnection),
            Eng::MySql => count!(sqlx::MySqlConnection),
        }
    }

    async fn drop_db(self) {
        if let Some((admin, name)) = &self.admin {
            let sql = match self.eng {
                Eng::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                _ => format!("DROP DATABASE IF EXISTS {name}"),
            };
            self.run_on(admin, &[&sql]).await;
        }
    }

    /// A URL with a password on a port nothing listens on.
    fn down_url(&self) -> String {
        match self.eng {
            Eng::Sqlite => format!("sqlite:///nonexistent-dir-{PASSWORD}/x.db"),
            Eng::Postgres => format!("postgres://reader:{PASSWORD}@127.0.0.1:1/x"),
            Eng::MySql => format!("mysql://reader:{PASSWORD}@127.0.0.1:1/x"),
        }
    }
}

/// `[sources.db]` at `url` and the given `[[tools]]`.
fn config(url: &str, extra_source: &str, tools: &str) -> String {
    format!("[sources.db]\nurl = \"{url}\"\n{extra_source}\n{tools}")
}

async fn serve(text: String) -> TestServer {
    TestServer::try_spawn(Backend::Sqlite, Opts::declared(text))
        .await
        .expect("sqlite is always available")
}

fn is_error(r: &Value) -> bool {
    r["isError"] == json!(true)
}

/// Run `$scenario(Eng)` on each engine.
macro_rules! on_engines {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Eng::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Eng::Postgres).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() {
                super::$name(super::Eng::MySql).await;
            }
        }
    )*};
}

on_engines!(
    read_tool_returns_rows_and_probed_schema,
    read_only_tools_cannot_write,
    write_tool_inserts,
    pages_with_a_cursor_bound_to_the_arguments,
    bad_arguments_and_sql_errors,
    statement_timeout,
    source_down_leaks_no_credentials,
    caller_context_is_not_an_argument,
    values_decode_to_json_by_type,
);

const LIST: &str = r#"
[[tools]]
name = "list_people"
source = "db"
description = "People at least min_age years old."
statement = "SELECT id, name, age FROM people WHERE age >= :min_age ORDER BY id"
max_rows = 3
[tools.parameters.min_age]
type = "integer"
minimum = 0
maximum = 150
default = 0
"#;

async fn read_tool_returns_rows_and_probed_schema(eng: Eng) {
    let Some(db) = Db::create(eng).await else {
        return;
    };
    let srv = serve(config(&db.url, "", LIST)).await;
    let r = srv.call("list_people", json!({"min_age": 45})).await;
    assert!(!is_error(&r), "{r}");
    let s = &r["structuredContent"];
    assert_eq!(s["columns"], json!(["id", "name", "age"]), "{r}");
    assert_eq!(
        s["rows"][0],
        json!({"id": 4, "name": "Di", "age": 52}),
        "{r}"
    );
    assert_eq!(s["row_count"], 3, "{r}");
    assert!(first_text(&r).contains("Di\t52"), "{r}");

    let list = srv.rpc("tools/list", json!({})).await;
    let tool = list["result"]["tools"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "list_people"))
        .unwrap_or_else(|| panic!("no tool: {list}"))
        .clone();
    let props = &tool["outputSchema"]["properties"]["rows"]["items"]["properties"];
    assert_eq!(props["id"]["type"], json!(["integer", "null"]), "{tool}");
    assert_eq!(props["name"]["type"], json!(["string", "null"]), "{tool}");
    assert_eq!(tool["inputSchema"]["properties"]["min_age"]["maximum"], 150);
    srv.stop().await;
    db.drop_db().await;
}

async fn read_only_tools_cannot_write(eng: Eng) {
    let Some(db) = Db::create(eng).await else {
        return;
    };
    let mut writes = vec![
        (
            "ro_insert",
            "INSERT INTO people (id, name, age) VALUES (100, 'Eve', 20)",
        ),
        (
            "ro_returning",
            "INSERT INTO people (id, name, age) VALUES (101, 'Ret', 20) RETURNING id",
        ),
        ("ro_update", "UPDATE people SET age = age + 1 WHERE id = 1"),
        // DDL: MySQL commits the read-only transaction implicitly before
        // it, so only a read-only session stops it there.
        ("ro_drop", "DROP TABLE people"),
    ];
    if eng != Eng::Sqlite {
        writes.push(("ro_truncate", "TRUNCATE TABLE people"));
    }
    match eng {
        Eng::Postgres => {
            writes.push((
                "ro_cte",
                "WITH d AS (DELETE FROM people RETURNING *) SELECT count(*) AS n FROM d",
            ));
            writes.push(("ro_function", "SELECT add_person() AS n"));
            writes.push(("ro_nextval", "SELECT nextval('seq') AS n"));
        }
        Eng::Sqlite => {
            // SQLite has no functions that write; a CTE in front of a DELETE
            // is its data-modifying form.
            writes.push(("ro_cte", "WITH x AS (SELECT 1) DELETE FROM people"));
        }
        Eng::MySql => {
            // MariaDB has no `WITH … DELETE`; the CTE goes inside the DELETE.
            writes.push((
                "ro_cte",
                "DELETE FROM people WHERE id IN (WITH x AS (SELECT 1 AS id) SELECT id FROM x)",
            ));
            writes.push(("ro_function", "SELECT add_person() AS n"));
        }
    }
    let tools: String = writes
        .iter()
        .map(|(name, sql)| {
            format!(
                "[[tools]]\nname = \"{name}\"\nsource = \"db\"\ndescription = \"A read tool that writes.\"\nstatement = \"{sql}\"\nread_only = true\n"
            )
        })
        .collect();
    let srv = serve(config(&db.url, "", &tools)).await;
    for (name, _) in &writes {
        let r = srv.call(name, json!({})).await;
        assert!(is_error(&r), "{name} was not refused: {r}");
        assert!(first_text(&r).contains("read-only"), "{name}: {r}");
        assert_eq!(db.count("").await, PEOPLE, "{name} changed the table");
        assert_eq!(db.count("WHERE age = 37").await, 0, "{name} updated a row");
    }
    srv.stop().await;
    db.drop_db().await;
}

async fn write_tool_inserts(eng: Eng) {
    let Some(db) = Db::create(eng).await else {
        return;
    };
    let tools = r#"
[[tools]]
name = "add_person"
source = "db"
description = "Add a person."
statement = "INSERT INTO people (id, name, age) VALUES (:id, :name, :age)"
read_only = false
destructive = false
[tools.parameters.id]
type = "integer"
[tools.parameters.name]
type = "string"
[tools.parameters.age]
type = "integer"
"#;
    let srv = serve(config(&db.url, "", tools)).await;
    let r = srv
        .call("add_person", json!({"id": 50, "name": "Zed", "age": 30}))
        .await;
    assert!(!is_error(&r), "{r}");
    assert_eq!(r["structuredContent"]["rows_affected"], 1, "{r}");
    assert!(first_text(&r).contains("1 row(s) affected"), "{r}");
    assert_eq!(db.count("WHERE id = 50 AND name = 'Zed'").await, 1);
    // A duplicate key is the database's error, and nothing more is written.
    let r = srv
        .call("add_person", json!({"id": 50, "name": "Zed", "age": 30}))
        .await;
    assert!(is_error(&r), "{r}");
    assert_eq!(db.count("").await, PEOPLE + 1);
    srv.stop().await;
    db.drop_db().await;
}

async fn pages_with_a_cursor_bound_to_the_arguments(eng: Eng) {
    let Some(db) = Db::create(eng).await else {
        return;
    };
    let srv = serve(config(&db.url, "", LIST)).await;
    let ids = |r: &Value| -> Vec<i64> {
        r["structuredContent"]["rows"]
            .as_array()
            .unwrap_or_else(|| panic!("no rows: {r}"))
            .iter()
            .map(|row| row["id"].as_i64().expect("id"))
            .collect()
    };
    let first = srv.call("list_people", json!({})).await;
    assert_eq!(ids(&first), [1, 2, 3], "{first}");
    let cursor = first["structuredContent"]["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("no cursor: {first}"))
        .to_owned();
    let second = srv.call("list_people", json!({"cursor": cursor})).await;
    assert_eq!(ids(&second), [4, 5, 6], "{second}");
    let c2 = second["structuredContent"]["next_cursor"]
        .as_str()
        .expect("second cursor")
        .to_owned();
    let third = srv.call("list_people", json!({"cursor": c2})).await;
    assert_eq!(ids(&third), [7], "{third}");
    assert!(
        third["structuredContent"].get("next_cursor").is_none(),
        "{third}"
    );

    let mut tampered = cursor.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    let r = srv.call("list_people", json!({"cursor": tampered})).await;
    assert!(is_error(&r) && first_text(&r).contains("cursor"), "{r}");
    let r = srv
        .call("list_people", json!({"cursor": cursor, "min_age": 1}))
        .await;
    assert!(
        is_error(&r) && first_text(&r).contains("invalid cursor"),
        "{r}"
    );
    srv.stop().await;
    db.drop_db().await;
}

async fn bad_arguments_and_sql_errors(eng: Eng) {
    let Some(db) = Db::create(eng).await else {
        return;
    };
    let tools = r#"
[[tools]]
name = "by_age"
source = "db"
description = "People of an age, in a group."
statement = "SELECT name FROM people WHERE age = :age AND :grp IN ('a', 'b') ORDER BY id"
[tools.parameters.age]
type = "integer"
minimum = 18
maximum = 65
[tools.parameters.grp]
type = "enum"
enum = ["a", "b"]
default = "a"

[[tools]]
name = "broken"
source = "db"
description = "Names a column that does not exist."
statement = "SELECT no_such_column FROM people"
"#;
    let srv = serve(config(&db.url, "", tools)).await;
    for (args, needle) in [
        (json!({"age": "41"}), "`age`"),
        (json!({"age": 41.5}), "`age`"),
        (json!({"age": 17}), "at least 18"),
        (json!({"age": 66}), "at most 65"),
        (json!({"age": 41, "grp": "c"}), "`grp`"),
        (json!({}), "`age`"),
    ] {
        let r = srv.call("by_age", args.clone()).await;
        assert!(is_error(&r), "{args}: {r}");
        assert!(first_text(&r).contains(needle), "{args}: {r}");
    }
    // The bounds are inclusive.
    for age in [18, 65] {
        let r = srv.call("by_age", json!({"age": age})).await;
        assert!(!is_error(&r), "{age}: {r}");
    }
    let r = srv.call("by_age", json!({"age": 41, "grp": "b"})).await;
    assert_eq!(
        r["structuredContent"]["rows"],
        json!([{"name": "Bob"}]),
        "{r}"
    );

    let r = srv.call("broken", json!({})).await;
    assert!(is_error(&r), "{r}");
    let text = first_text(&r);
    assert!(
        text.contains("rejected") && text.contains("no_such_column"),
        "{r}"
    );
    srv.stop().await;
    db.drop_db().await;
}

async fn statement_timeout(eng: Eng) {
    let Some(db) = Db::create(eng).await else {
        return;
    };
    let slow = match eng {
        Eng::Postgres => "SELECT pg_sleep(5) IS NULL AS done",
        Eng::MySql => "SELECT SLEEP(5) AS done",
        // Endless: only an interrupt inside SQLite stops it.
        Eng::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS done FROM c"
        }
    };
    let tools = format!(
        "[[tools]]\nname = \"slow\"\nsource = \"db\"\ndescription = \"Takes too long.\"\nstatement = \"{slow}\"\n\n{LIST}"
    );
    let extra = "statement_timeout_secs = 1\nmax_connections = 1";
    let srv = serve(config(&db.url, extra, &tools)).await;
    let started = Instant::now();
    let r = srv.call("slow", json!({})).await;
    assert!(is_error(&r), "{r}");
    assert!(first_text(&r).contains("within 1 s"), "{r}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // The one connection is free again: the statement was stopped.
    let r = srv.call("list_people", json!({})).await;
    assert!(!is_error(&r), "{r}");
    srv.stop().await;
    db.drop_db().await;
}

async fn source_down_leaks_no_credentials(eng: Eng) {
    let Some(db) = Db::create(eng).await else {
        return;
    };
    let srv = serve(config(&db.down_url(), "", LIST)).await;
    let r = srv.call("list_people", json!({})).await;
    assert!(is_error(&r), "{r}");
    let text = first_text(&r);
    assert!(text.contains("unavailable"), "{r}");
    assert!(!text.contains(PASSWORD), "{r}");
    assert!(
        !text.contains("127.0.0.1") && !text.contains("nonexistent"),
        "{r}"
    );
    srv.stop().await;
    if eng != Eng::Sqlite {
        // A server that is up but refuses the login: its message names the
        // user and the client's address, the tool's message does not.
        let (scheme, rest) = db.url.split_once("://").expect("url");
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        let refused = format!("{scheme}://nosuchuser_mcpc:{PASSWORD}@{host}");
        let srv = serve(config(&refused, "", LIST)).await;
        let r = srv.call("list_people", json!({})).await;
        assert!(is_error(&r), "{r}");
        let text = first_text(&r);
        assert!(text.contains("refused the connection"), "{r}");
        assert!(
            !text.contains("nosuchuser") && !text.contains(PASSWORD),
            "{r}"
        );
        srv.stop().await;
    }
    db.drop_db().await;
}

async fn caller_context_is_not_an_argument(eng: Eng) {
    let Some(db) = Db::create(eng).await else {
        return;
    };
    let tools = r#"
[[tools]]
name = "mine"
source = "db"
description = "People the caller owns."
statement = "SELECT id FROM people WHERE owner = :_user OR (:_user IS NULL AND 1 = 0)"
"#;
    let srv = serve(config(&db.url, "", tools)).await;
    // Without authentication there is no user: NULL matches no row.
    let r = srv.call("mine", json!({})).await;
    assert!(!is_error(&r), "{r}");
    assert_eq!(r["structuredContent"]["rows"], json!([]), "{r}");
    let r = srv.call("mine", json!({"_user": "alice"})).await;
    assert!(is_error(&r), "{r}");
    assert!(first_text(&r).contains("unknown argument `_user`"), "{r}");
    srv.stop().await;
    db.drop_db().await;
}

async fn values_decode_to_json_by_type(eng: Eng) {
    let Some(db) = Db::create(eng).await else {
        return;
    };
    // (select list, expected row); one statement per engine.
    let (select, expected) = match eng {
        Eng::Postgres => (
            "SELECT 1::int2 AS i2, 2::int8 AS i8, 1.5::float8 AS f, 12.30::numeric(10,2) AS d,              12345678901234567890.01::numeric AS big, true AS b, DATE '2024-01-31' AS day,              TIMESTAMP '2024-01-31 13:45:00' AS ts, TIMESTAMPTZ '2024-01-31 13:45:00+00' AS tz,              TIME '13:45:00.5' AS t, INTERVAL '1 day 2 hours' AS iv, '{\\\"k\\\": [1]}'::jsonb AS j,              '\\\\x6869'::bytea AS bin, NULL::text AS missing, 'abc'::varchar AS s,              '6f1f2b0e-8d2a-4c1e-9a53-3c2b1d0e4f5a'::uuid AS u, ARRAY['x', 'y'] AS arr",
            json!({"i2": 1, "i8": 2, "f": 1.5, "d": 12.3, "big": "12345678901234567890.01", "b": true,
                   "day": "2024-01-31", "ts": "2024-01-31T13:45:00", "tz": "2024-01-31T13:45:00Z",
                   "t": "13:45:00.500", "iv": "P1DT2H", "j": {"k": [1]}, "bin": "aGk=", "missing": null,
                   "s": "abc", "u": "6f1f2b0e-8d2a-4c1e-9a53-3c2b1d0e4f5a", "arr": ["x", "y"]}),
        ),
        Eng::MySql => (
            "SELECT CAST(1 AS SIGNED) AS i8, CAST(1.5 AS DOUBLE) AS f, CAST(12.30 AS DECIMAL(10,2)) AS d,              DATE '2024-01-31' AS day, TIMESTAMP '2024-01-31 13:45:00' AS ts,              JSON_OBJECT('k', 1) AS j, X'6869' AS bin, NULL AS missing, 'abc' AS s,              (SELECT age FROM people WHERE id = 1) AS age",
            json!({"i8": 1, "f": 1.5, "d": 12.3, "day": "2024-01-31", "ts": "2024-01-31T13:45:00",
                   "j": "{\"k\": 1}", "bin": "aGk=", "missing": null, "s": "abc", "age": 36}),
        ),
        Eng::Sqlite => (
            "SELECT 1 AS i8, 1.5 AS f, 'abc' AS s, X'6869' AS bin, NULL AS missing,              (SELECT age FROM people WHERE id = 1) AS age",
            json!({"i8": 1, "f": 1.5, "s": "abc", "bin": "aGk=", "missing": null, "age": 36}),
        ),
    };
    let tools = format!(
        "[[tools]]\nname = \"values\"\nsource = \"db\"\ndescription = \"Values of each type.\"\nstatement = \"{select}\"\n"
    );
    let srv = serve(config(&db.url, "", &tools)).await;
    let r = srv.call("values", json!({})).await;
    assert!(!is_error(&r), "{r}");
    assert_eq!(r["structuredContent"]["rows"][0], expected, "{r}");
    srv.stop().await;
    db.drop_db().await;
}
