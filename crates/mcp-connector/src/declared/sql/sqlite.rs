//! SQLite. Reads go through a pool opened read-only (`SQLITE_OPEN_READONLY`)
//! whose connections also run `PRAGMA query_only = ON`: the library itself
//! refuses any write, whatever the statement is (`INSERT`, `WITH … DELETE`,
//! a `PRAGMA` that writes). Writes use a separate read-write pool.
//!
//! SQLite has no statement timeout: each statement runs under a progress
//! handler that interrupts it past its deadline (`SQLITE_INTERRUPT`), so a
//! runaway query stops inside the engine and frees its connection; the
//! `tokio` backstop only covers the time around it.
//!
//! SQLite is dynamically typed, so values are decoded by their runtime
//! storage class (INTEGER, REAL, TEXT, BLOB, NULL), not the declared type.

use std::str::FromStr;
use std::time::Instant;

use serde_json::Value;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteTypeInfo,
};
use sqlx::{Executor, Row, Sqlite, TypeInfo, ValueRef};

use super::{ACQUIRE_TIMEOUT, Codec, Ctx, DbKind, bind_all, collect, columns, decode};
use crate::declared::source::{Access, Column, QueryOutput, SourceError, Window};
use crate::declared::spec::{Bound, JsonType, SqlSourceSpec};

/// Virtual-machine steps between deadline checks: about a millisecond.
const PROGRESS_STEPS: i32 = 10_000;

const SQLITE_READONLY: i64 = 8;
const SQLITE_INTERRUPT: i64 = 9;

pub(super) struct Pools {
    read: SqlitePool,
    write: SqlitePool,
}

impl Pools {
    pub(super) fn open(spec: &SqlSourceSpec) -> Result<Self, sqlx::Error> {
        // Never create the file: a typo in the path should fail, not serve
        // an empty database.
        let base = SqliteConnectOptions::from_str(spec.url.expose())?.create_if_missing(false);
        let read = base.clone().read_only(true).pragma("query_only", "ON");
        let pool = || {
            SqlitePoolOptions::new()
                .max_connections(spec.max_connections)
                .acquire_timeout(ACQUIRE_TIMEOUT)
        };
        Ok(Self {
            read: pool().connect_lazy_with(read),
            write: pool().connect_lazy_with(base),
        })
    }

    pub(super) async fn run(
        &self,
        ctx: &Ctx,
        sql: &str,
        binds: &[Bound],
        access: Access,
        window: Window,
    ) -> Result<QueryOutput, SourceError> {
        let pool = match access {
            Access::ReadOnly => &self.read,
            Access::Write => &self.write,
        };
        let mut conn = acquire(ctx, pool).await?;
        deadline(ctx, &mut conn, ctx.timeout).await?;
        let query = bind_all!(sql, binds, None::<i64>);
        match access {
            Access::ReadOnly => {
                ctx.backstop(collect(ctx, &mut *conn, query, access, window, &CODEC))
                    .await
            }
            Access::Write => {
                // The commit is a step of its own, as on the other engines:
                // a write whose result cannot be returned (a RETURNING value
                // that does not decode, the backstop firing) is rolled back
                // rather than done without the caller knowing.
                let mut tx = sqlx::Connection::begin(&mut *conn)
                    .await
                    .map_err(|e| ctx.statement_error(e, classify))?;
                let out = ctx
                    .backstop(collect(ctx, &mut *tx, query, access, window, &CODEC))
                    .await?;
                tx.commit()
                    .await
                    .map_err(|e| ctx.statement_error(e, classify))?;
                Ok(out)
            }
        }
    }

    pub(super) async fn probe(&self, ctx: &Ctx, sql: &str) -> Result<Vec<Column>, SourceError> {
        let mut conn = acquire(ctx, &self.read).await?;
        deadline(ctx, &mut conn, ctx.timeout).await?;
        let d = (&mut *conn)
            .describe(sql)
            .await
            .map_err(|e| ctx.statement_error(e, classify))?;
        Ok(columns(&d.columns, json_type))
    }

    pub(super) async fn ping(&self, ctx: &Ctx) -> Result<(), SourceError> {
        let mut conn = acquire(ctx, &self.read).await?;
        deadline(ctx, &mut conn, super::PING_TIMEOUT).await?;
        (&mut *conn)
            .execute("SELECT 1")
            .await
            .map_err(|e| ctx.statement_error(e, classify))?;
        Ok(())
    }

    pub(super) async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

async fn acquire(ctx: &Ctx, pool: &SqlitePool) -> Result<PoolConnection<Sqlite>, SourceError> {
    pool.acquire().await.map_err(|e| ctx.connect_error(e))
}

/// Interrupt whatever this connection runs next once `limit` has passed.
/// Set before every use, so a handler left by an earlier call never
/// interrupts a later one.
async fn deadline(
    ctx: &Ctx,
    conn: &mut PoolConnection<Sqlite>,
    limit: std::time::Duration,
) -> Result<(), SourceError> {
    let until = Instant::now() + limit;
    let mut handle = conn.lock_handle().await.map_err(|e| ctx.connect_error(e))?;
    handle.set_progress_handler(PROGRESS_STEPS, move || Instant::now() < until);
    Ok(())
}

fn classify(db: &dyn sqlx::error::DatabaseError) -> DbKind {
    // Extended result codes keep the primary code in the low byte.
    let code = db.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0) & 0xff;
    match code {
        SQLITE_READONLY => DbKind::ReadOnly,
        SQLITE_INTERRUPT => DbKind::Timeout,
        _ => DbKind::Other,
    }
}

const CODEC: Codec<Sqlite> = Codec {
    decode: value,
    json_type,
    rows_affected: |r| r.rows_affected(),
    classify,
};

/// The declared (or inferred) type of a column. SQLite may still store
/// another type in it, so only the unambiguous affinities are typed.
fn json_type(ty: &SqliteTypeInfo) -> JsonType {
    match ty.name() {
        "INTEGER" | "BOOLEAN" => JsonType::Integer,
        "REAL" => JsonType::Number,
        "TEXT" | "DATE" | "TIME" | "DATETIME" => JsonType::String,
        _ => JsonType::Any,
    }
}

/// A value by its storage class.
fn value(row: &SqliteRow, i: usize) -> Result<Value, SourceError> {
    let raw = row
        .try_get_raw(i)
        .map_err(|e| SourceError::Statement(e.to_string()))?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let class = raw.type_info().name().to_owned();
    let get_err = |e: sqlx::Error| SourceError::Statement(e.to_string());
    Ok(match class.as_str() {
        "INTEGER" | "BOOLEAN" => Value::from(row.try_get_unchecked::<i64, _>(i).map_err(get_err)?),
        "REAL" | "NUMERIC" => decode::float(row.try_get_unchecked::<f64, _>(i).map_err(get_err)?),
        "TEXT" | "DATE" | "TIME" | "DATETIME" => {
            Value::String(row.try_get_unchecked::<String, _>(i).map_err(get_err)?)
        }
        "BLOB" => decode::bytes(&row.try_get_unchecked::<Vec<u8>, _>(i).map_err(get_err)?),
        _ => {
            return Err(SourceError::Decode {
                column: super::column_name(row, i),
                ty: class,
            });
        }
    })
}
