//! MySQL and MariaDB. Reads run on connections whose session is read-only,
//! each in `START TRANSACTION READ ONLY` … `ROLLBACK`: the server refuses
//! writes (error 1792, SQLSTATE 25006), whatever the statement, DDL
//! included. Writes run in `START TRANSACTION` … `COMMIT` on other
//! connections.
//!
//! The statement timeout is set per connection when it opens: MariaDB's
//! `max_statement_time` (seconds, every statement) when the server knows
//! it, else MySQL's `max_execution_time` (milliseconds, `SELECT` only);
//! the `tokio` backstop covers the rest.

use std::str::FromStr;

use serde_json::Value;
use sqlx::mysql::{
    MySql, MySqlConnectOptions, MySqlDatabaseError, MySqlPoolOptions, MySqlRow, MySqlTypeInfo,
};
use sqlx::{Executor, Row, TypeInfo, ValueRef};

use super::{ACQUIRE_TIMEOUT, Codec, Ctx, DbKind, Pooled, bind_all, decode};
use crate::declared::query::{Access, QueryOutput, SourceError, Window};
use crate::declared::spec::{Bound, JsonType, SqlSourceSpec};

/// ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
const ER_READ_ONLY_TRANSACTION: u16 = 1792;
/// MariaDB ER_STATEMENT_TIMEOUT
const ER_STATEMENT_TIMEOUT: u16 = 1969;
/// MySQL ER_QUERY_TIMEOUT
const ER_QUERY_TIMEOUT: u16 = 3024;

/// Read connections are read-only for the whole session (`SET SESSION
/// TRANSACTION READ ONLY`), not only in their transactions: a DDL statement
/// (`TRUNCATE`, `DROP`) commits the open transaction implicitly before it
/// runs, and then only the session's default stops it.
impl Pooled<MySql> {
    pub(super) fn open_mysql(spec: &SqlSourceSpec) -> Result<Self, sqlx::Error> {
        let options = MySqlConnectOptions::from_str(spec.url.expose())?;
        let secs = spec.statement_timeout.as_secs();
        let pool = |read_only: bool| {
            MySqlPoolOptions::new()
                .max_connections(spec.max_connections)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        if read_only {
                            conn.execute("SET SESSION TRANSACTION READ ONLY").await?;
                        }
                        statement_timeout(conn, secs).await;
                        Ok(())
                    })
                })
                .connect_lazy_with(options.clone())
        };
        Ok(Self {
            read: pool(true),
            write: pool(false),
            codec: &CODEC,
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
        let begin = match access {
            Access::ReadOnly => "START TRANSACTION READ ONLY",
            Access::Write => "START TRANSACTION READ WRITE",
        };
        let query = bind_all!(sql, binds, None::<i64>);
        self.in_transaction(ctx, begin, query, access, window).await
    }
}

/// MariaDB's `max_statement_time` (seconds, every statement) when the
/// server knows it, else MySQL's `max_execution_time` (milliseconds,
/// `SELECT` only; other statements rely on the backstop and on the
/// server's lock wait timeout).
async fn statement_timeout(conn: &mut sqlx::MySqlConnection, secs: u64) {
    let mariadb = format!("SET SESSION max_statement_time = {secs}");
    if conn.execute(mariadb.as_str()).await.is_err() {
        let mysql = format!("SET SESSION max_execution_time = {}", secs * 1000);
        if let Err(e) = conn.execute(mysql.as_str()).await {
            tracing::warn!("this server has no statement timeout variable: {e}");
        }
    }
}

fn classify(db: &dyn sqlx::error::DatabaseError) -> DbKind {
    match db
        .try_downcast_ref::<MySqlDatabaseError>()
        .map(|e| e.number())
    {
        Some(ER_READ_ONLY_TRANSACTION) => DbKind::ReadOnly,
        Some(ER_STATEMENT_TIMEOUT | ER_QUERY_TIMEOUT) => DbKind::Timeout,
        _ if db.code().as_deref() == Some("25006") => DbKind::ReadOnly,
        _ => DbKind::Other,
    }
}

const CODEC: Codec<MySql> = Codec {
    decode: value,
    json_type,
    rows_affected: |r| r.rows_affected(),
    classify,
};

/// `BOOLEAN` is `TINYINT(1)`: it holds any small integer, so it is one.
fn json_type(ty: &MySqlTypeInfo) -> JsonType {
    match ty.name() {
        "BOOLEAN" | "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" | "BIT"
        | "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
        | "BIGINT UNSIGNED" => JsonType::Integer,
        "FLOAT" | "DOUBLE" => JsonType::Number,
        "VARCHAR" | "CHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET"
        | "DATE" | "TIME" | "DATETIME" | "TIMESTAMP" | "BINARY" | "VARBINARY" | "BLOB"
        | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" => JsonType::String,
        _ => JsonType::Any,
    }
}

fn value(row: &MySqlRow, i: usize) -> Result<Value, SourceError> {
    let raw = row
        .try_get_raw(i)
        .map_err(|e| SourceError::Statement(e.to_string()))?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let ty = raw.type_info().name().to_owned();
    let unsupported = || SourceError::Decode {
        column: super::column_name(row, i),
        ty: ty.clone(),
    };
    let e = |_| unsupported();
    Ok(match ty.as_str() {
        "BOOLEAN" | "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => {
            Value::from(row.try_get_unchecked::<i64, _>(i).map_err(e)?)
        }
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
        | "BIGINT UNSIGNED" | "BIT" => Value::from(row.try_get_unchecked::<u64, _>(i).map_err(e)?),
        // Through f32's shortest text, so FLOAT 0.1 reads 0.1, not 0.100000001.
        "FLOAT" => decode::float(
            row.try_get_unchecked::<f32, _>(i)
                .map_err(e)?
                .to_string()
                .parse()
                .map_err(|_| unsupported())?,
        ),
        "DOUBLE" => decode::float(row.try_get_unchecked::<f64, _>(i).map_err(e)?),
        // DECIMAL travels as text in both protocols.
        "DECIMAL" => decode::decimal(&row.try_get_unchecked::<String, _>(i).map_err(e)?),
        "VARCHAR" | "CHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" => {
            Value::String(row.try_get_unchecked::<String, _>(i).map_err(e)?)
        }
        "JSON" => {
            let text = row.try_get_unchecked::<String, _>(i).map_err(e)?;
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        "DATE" => decode::date(row.try_get_unchecked(i).map_err(e)?),
        "DATETIME" | "TIMESTAMP" => decode::datetime(row.try_get_unchecked(i).map_err(e)?),
        "TIME" => decode::time(row.try_get_unchecked(i).map_err(e)?),
        "BINARY" | "VARBINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
            decode::bytes(&row.try_get_unchecked::<Vec<u8>, _>(i).map_err(e)?)
        }
        "NULL" => Value::Null,
        _ => return Err(unsupported()),
    })
}
