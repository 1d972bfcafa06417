//! PostgreSQL. Read connections start with `default_transaction_read_only
//! = on` (a startup parameter, so no extra round trip) and every read runs
//! in `BEGIN READ ONLY` … `ROLLBACK`: the server refuses any write inside
//! (SQLSTATE 25006), including writes done by functions (`nextval`, a
//! PL/pgSQL function that inserts) and data-modifying CTEs. A read-only
//! transaction cannot be switched to read-write from inside either.
//!
//! The statement timeout is the server's `statement_timeout`, also a
//! startup parameter of both pools (equivalent to a `SET LOCAL` in every
//! transaction, minus the round trip); a cancelled statement is SQLSTATE
//! 57014.

use std::str::FromStr;

use serde_json::Value;
use sqlx::postgres::{
    PgArgumentBuffer, PgConnectOptions, PgPoolOptions, PgRow, PgTypeInfo, PgTypeKind, PgValueFormat,
};
use sqlx::types::chrono::{DateTime, Utc};
use sqlx::{Postgres, Row, TypeInfo, ValueRef};

use super::{ACQUIRE_TIMEOUT, Codec, Ctx, DbKind, Pooled, bind_all, decode};
use crate::declared::query::{Access, QueryOutput, SourceError, Window};
use crate::declared::spec::{Bound, JsonType, SqlSourceSpec};

impl Pooled<Postgres> {
    pub(super) fn open_postgres(spec: &SqlSourceSpec) -> Result<Self, sqlx::Error> {
        let ms = spec.statement_timeout.as_millis().to_string();
        let base = PgConnectOptions::from_str(spec.url.expose())?
            .application_name("mcp-connector")
            .options([("statement_timeout", ms.as_str())]);
        let read = base
            .clone()
            .options([("default_transaction_read_only", "on")]);
        let pool = || {
            PgPoolOptions::new()
                .max_connections(spec.max_connections)
                .acquire_timeout(ACQUIRE_TIMEOUT)
        };
        Ok(Self {
            read: pool().connect_lazy_with(read),
            write: pool().connect_lazy_with(base),
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
        match self.run_with(ctx, sql, binds, access, window, false).await {
            // `:x IS NULL` alone gives the server nothing to infer an
            // untyped NULL's type from: bind NULLs as text instead (the
            // failed attempt changed nothing, it did not get past Parse).
            Err(SourceError::Statement(m))
                if m.starts_with("could not determine data type of parameter")
                    && binds.contains(&Bound::Null) =>
            {
                self.run_with(ctx, sql, binds, access, window, true).await
            }
            other => other,
        }
    }

    async fn run_with(
        &self,
        ctx: &Ctx,
        sql: &str,
        binds: &[Bound],
        access: Access,
        window: Window,
        text_nulls: bool,
    ) -> Result<QueryOutput, SourceError> {
        let begin = match access {
            Access::ReadOnly => "BEGIN READ ONLY",
            Access::Write => "BEGIN READ WRITE",
        };
        let sql = typed_text(sql, binds, text_nulls);
        let query = if text_nulls {
            bind_all!(sql.as_str(), binds, Untyped(true))
        } else {
            bind_all!(sql.as_str(), binds, Untyped(false))
        };
        self.in_transaction(ctx, begin, query, access, window).await
    }
}

/// The statement text with the bound types in a trailing comment.
///
/// sqlx caches prepared statements by their text, and a prepared
/// statement keeps the parameter types of its first use: a `number`
/// argument bound once as an integer and next as a float, or a NULL whose
/// type the server inferred, would be sent in a format the cached statement
/// does not expect ("incorrect binary data format"). One text per type
/// signature gives one prepared statement per signature.
fn typed_text(sql: &str, binds: &[Bound], text_nulls: bool) -> String {
    if binds.is_empty() {
        return sql.to_owned();
    }
    let signature: String = binds
        .iter()
        .map(|b| match b {
            Bound::Null if text_nulls => 't',
            Bound::Null => 'n',
            Bound::Bool(_) => 'b',
            Bound::Int(_) => 'i',
            Bound::Float(_) => 'f',
            Bound::Text(_) => 't',
        })
        .collect();
    format!("{sql}\n/* binds: {signature} */")
}

/// A NULL whose type the server infers from where it is used (parameter
/// type OID 0), so that `WHERE id = :x` with a NULL `:x` is not an
/// `integer = text` error; `Untyped(true)` is a text NULL, for statements
/// where nothing says the type.
struct Untyped(bool);

impl sqlx::Type<Postgres> for Untyped {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(sqlx::postgres::types::Oid(0))
    }
}

impl sqlx::Encode<'_, Postgres> for Untyped {
    fn produces(&self) -> Option<PgTypeInfo> {
        self.0.then(|| PgTypeInfo::with_name("text"))
    }

    fn encode_by_ref(
        &self,
        _buf: &mut PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

fn classify(db: &dyn sqlx::error::DatabaseError) -> DbKind {
    match db.code().as_deref() {
        // read_only_sql_transaction
        Some("25006") => DbKind::ReadOnly,
        // query_canceled: statement_timeout
        Some("57014") => DbKind::Timeout,
        _ => DbKind::Other,
    }
}

const CODEC: Codec<Postgres> = Codec {
    decode: value,
    json_type,
    rows_affected: |r| r.rows_affected(),
    classify,
};

fn json_type(ty: &PgTypeInfo) -> JsonType {
    match ty.name() {
        "INT2" | "INT4" | "INT8" | "OID" => JsonType::Integer,
        "FLOAT4" | "FLOAT8" => JsonType::Number,
        "BOOL" => JsonType::Boolean,
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "\"CHAR\"" | "CHAR" | "CITEXT" | "UNKNOWN"
        | "DATE" | "TIME" | "TIMESTAMP" | "TIMESTAMPTZ" | "INTERVAL" | "UUID" | "BYTEA" => {
            JsonType::String
        }
        _ if matches!(ty.kind(), PgTypeKind::Enum(_)) => JsonType::String,
        // NUMERIC is a number or, past f64's precision, a string; JSON is
        // anything.
        _ => JsonType::Any,
    }
}

fn value(row: &PgRow, i: usize) -> Result<Value, SourceError> {
    let raw = row
        .try_get_raw(i)
        .map_err(|e| SourceError::Statement(e.to_string()))?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let ty = raw.type_info().into_owned();
    let binary = raw.format() == PgValueFormat::Binary;
    let bytes = raw.as_bytes().ok();
    let unsupported = || SourceError::Decode {
        column: super::column_name(row, i),
        ty: ty.name().to_owned(),
    };
    let e = |_| unsupported();
    Ok(match ty.name() {
        "BOOL" => Value::from(row.try_get_unchecked::<bool, _>(i).map_err(e)?),
        "INT2" => Value::from(row.try_get_unchecked::<i16, _>(i).map_err(e)?),
        "INT4" => Value::from(row.try_get_unchecked::<i32, _>(i).map_err(e)?),
        "INT8" => Value::from(row.try_get_unchecked::<i64, _>(i).map_err(e)?),
        "OID" => Value::from(
            row.try_get_unchecked::<sqlx::postgres::types::Oid, _>(i)
                .map_err(e)?
                .0,
        ),
        "FLOAT4" => decode::float(f64::from(row.try_get_unchecked::<f32, _>(i).map_err(e)?)),
        "FLOAT8" => decode::float(row.try_get_unchecked::<f64, _>(i).map_err(e)?),
        "NUMERIC" if binary => {
            decode::decimal(&bytes.and_then(decode::pg_numeric).ok_or_else(unsupported)?)
        }
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "\"CHAR\"" | "CHAR" | "CITEXT" | "UNKNOWN"
        | "XML" => Value::String(row.try_get_unchecked::<String, _>(i).map_err(e)?),
        "JSON" | "JSONB" => row.try_get_unchecked::<Value, _>(i).map_err(e)?,
        "DATE" => decode::date(row.try_get_unchecked(i).map_err(e)?),
        "TIME" => decode::time(row.try_get_unchecked(i).map_err(e)?),
        "TIMESTAMP" => decode::datetime(row.try_get_unchecked(i).map_err(e)?),
        "TIMESTAMPTZ" => decode::datetime_utc(
            row.try_get_unchecked::<DateTime<Utc>, _>(i)
                .map_err(e)?
                .naive_utc(),
        ),
        "INTERVAL" => {
            let v = row
                .try_get_unchecked::<sqlx::postgres::types::PgInterval, _>(i)
                .map_err(e)?;
            Value::String(decode::interval(v.months, v.days, v.microseconds))
        }
        "UUID" => Value::String(
            row.try_get_unchecked::<uuid::Uuid, _>(i)
                .map_err(e)?
                .to_string(),
        ),
        "BYTEA" => decode::bytes(&row.try_get_unchecked::<Vec<u8>, _>(i).map_err(e)?),
        "VOID" => Value::Null,
        "TEXT[]" | "VARCHAR[]" | "NAME[]" => Value::from(
            row.try_get_unchecked::<Vec<Option<String>>, _>(i)
                .map_err(e)?,
        ),
        "INT2[]" => Value::from(row.try_get_unchecked::<Vec<Option<i16>>, _>(i).map_err(e)?),
        "INT4[]" => Value::from(row.try_get_unchecked::<Vec<Option<i32>>, _>(i).map_err(e)?),
        "INT8[]" => Value::from(row.try_get_unchecked::<Vec<Option<i64>>, _>(i).map_err(e)?),
        _ if matches!(ty.kind(), PgTypeKind::Enum(_)) => {
            Value::String(row.try_get_unchecked::<String, _>(i).map_err(e)?)
        }
        _ => return Err(unsupported()),
    })
}
