//! The store on its own: read-only pools really are read-only.

use mcp_connector::store::{Db, DbOptions};

async fn check_read_pool_refuses_writes(db: &Db) {
    db.migrate().await.expect("migrate");
    let write_via_read = match db {
        Db::Sqlite { read, .. } => sqlx::query("DELETE FROM employees")
            .execute(read)
            .await
            .map(|_| ()),
        Db::Postgres { read, .. } => sqlx::query("DELETE FROM employees")
            .execute(read)
            .await
            .map(|_| ()),
    };
    assert!(write_via_read.is_err(), "the read pool must refuse writes");
    assert_eq!(db.employee_count("engineering").await.expect("count"), 42);
    db.close().await;
}

#[tokio::test]
async fn sqlite_read_pool_is_read_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let db = Db::connect(&url, &DbOptions::default())
        .await
        .expect("connect");
    check_read_pool_refuses_writes(&db).await;
}

#[tokio::test]
async fn postgres_read_pool_is_read_only() {
    let Ok(admin) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("TEST_DATABASE_URL is not set: not run");
        return;
    };
    let name = format!("mcpc_store_{}", std::process::id());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("admin");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut conn)
        .await
        .expect("drop");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create");
    let mut url = url::Url::parse(&admin).expect("url");
    url.set_path(&format!("/{name}"));
    let db = Db::connect(url.as_str(), &DbOptions::default())
        .await
        .expect("connect");
    check_read_pool_refuses_writes(&db).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .expect("drop");
}

#[tokio::test]
async fn migrations_are_idempotent_and_seed_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    for _ in 0..2 {
        let db = Db::connect(&url, &DbOptions::default())
            .await
            .expect("connect");
        db.migrate().await.expect("migrate");
        assert_eq!(
            db.employee_count("engineering").await.expect("count"),
            42,
            "seeded exactly once"
        );
        db.close().await;
    }
}
