//! SQLite. Reads go through a pool opened read-only (`SQLITE_OPEN_READONLY`)
//! whose connections also run `PRAGMA query_only = ON`: the library itself
//! refuses any write, whatever the statement is (`INSERT`, `WITH … DELETE`,
//! a `PRAGMA` that writes). Writes use a separate read-write pool.
//!
//! SQLite has no statement timeout: each connection runs a progress handler
//! that interrupts the statement past its call's deadline
//! (`SQLITE_INTERRUPT`, see [`lanes`]), so a runaway query stops inside the
//! engine and frees its connection; the `tokio` backstop only covers the
//! time around it.
//!
//! SQLite is dynamically typed, so values are decoded by their runtime
//! storage class (INTEGER, REAL, TEXT, BLOB, NULL), not the declared type.

mod lanes;

use std::str::FromStr;

use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow, SqliteTypeInfo};
use sqlx::{Executor, Row, Sqlite, TypeInfo, ValueRef};

use super::{ACQUIRE_TIMEOUT, Codec, Ctx, DbKind, bind_all, collect, columns, decode};
use crate::declared::query::{Access, Column, QueryOutput, SourceError, Window};
use crate::declared::spec::{Bound, JsonType, SqlSourceSpec};
use lanes::{Lanes, Leased};

const SQLITE_READONLY: i64 = 8;
const SQLITE_INTERRUPT: i64 = 9;

pub(super) struct Pools {
    read: Lanes,
    write: Lanes,
}

impl Pools {
    pub(super) fn open(spec: &SqlSourceSpec) -> Result<Self, sqlx::Error> {
        // Never create the file: a typo in the path should fail, not serve
        // an empty database.
        let base = SqliteConnectOptions::from_str(spec.url.expose())?.create_if_missing(false);
        let read = base.clone().read_only(true).pragma("query_only", "ON");
        Ok(Self {
            read: Lanes::new(read, spec.max_connections, ACQUIRE_TIMEOUT),
            write: Lanes::new(base, spec.max_connections, ACQUIRE_TIMEOUT),
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
        let lanes = match access {
            Access::ReadOnly => &self.read,
            Access::Write => &self.write,
        };
        let mut leased = acquire(ctx, lanes).await?;
        let query = bind_all!(sql, binds, None::<i64>);
        let conn = leased.with_deadline(ctx.timeout);
        let out = match access {
            Access::ReadOnly => {
                ctx.backstop(collect(ctx, &mut *conn, query, access, window, &CODEC))
                    .await
            }
            Access::Write => write(ctx, conn, query, window).await,
        };
        if matches!(out, Err(SourceError::Unavailable { .. })) {
            leased.discard();
        }
        out
    }

    pub(super) async fn probe(&self, ctx: &Ctx, sql: &str) -> Result<Vec<Column>, SourceError> {
        let mut leased = acquire(ctx, &self.read).await?;
        let d = leased
            .with_deadline(ctx.timeout)
            .describe(sql)
            .await
            .map_err(|e| ctx.statement_error(e, classify))?;
        Ok(columns(&d.columns, json_type))
    }

    pub(super) async fn ping(&self, ctx: &Ctx) -> Result<(), SourceError> {
        let mut leased = acquire(ctx, &self.read).await?;
        leased
            .with_deadline(super::PING_TIMEOUT)
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

async fn acquire<'a>(ctx: &Ctx, lanes: &'a Lanes) -> Result<Leased<'a>, SourceError> {
    lanes.acquire().await.map_err(|e| ctx.connect_error(e))
}

/// The commit is a step of its own, as on the other engines: a write whose
/// result cannot be returned (a RETURNING value that does not decode, the
/// backstop firing) is rolled back rather than done without the caller
/// knowing.
async fn write<'q>(
    ctx: &Ctx,
    conn: &mut sqlx::SqliteConnection,
    query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    window: Window,
) -> Result<QueryOutput, SourceError> {
    let mut tx = sqlx::Connection::begin(conn)
        .await
        .map_err(|e| ctx.statement_error(e, classify))?;
    let out = ctx
        .backstop(collect(ctx, &mut *tx, query, Access::Write, window, &CODEC))
        .await?;
    tx.commit()
        .await
        .map_err(|e| ctx.statement_error(e, classify))?;
    Ok(out)
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
