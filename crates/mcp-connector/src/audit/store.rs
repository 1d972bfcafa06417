//! The SQL of the audit trail, per backend.
//!
//! Appends go through the write pool, one transaction per batch. Reads
//! (`tail`, `export`, `verify`) use the read-only pool.

use sqlx::{Postgres, QueryBuilder, Sqlite};

use super::AuditError;
use super::chain::{ChainBreak, ChainCheck, GENESIS_HASH};
use super::record::{AuditEvent, AuditRecord};
use crate::store::Db;

/// Key of the PostgreSQL advisory lock that serialises appends across
/// replicas ("mcpaudit" in ASCII).
const APPEND_LOCK: i64 = 0x6d63_7061_7564_6974;

const COLUMNS: &str = "seq, time, kind, subject, client, session_id, source_ip, tool, arguments, \
     result_sha256, result_size, is_error, error, duration_ms, flags, prev_hash, hash";

const TAIL: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";

/// Binds every column of a record, in [`COLUMNS`] order.
macro_rules! push_record {
    ($b:ident, $r:ident) => {
        $b.push_bind($r.seq)
            .push_bind($r.time)
            .push_bind($r.kind)
            .push_bind($r.subject)
            .push_bind($r.client)
            .push_bind($r.session_id)
            .push_bind($r.source_ip)
            .push_bind($r.tool)
            .push_bind($r.arguments)
            .push_bind($r.result_sha256)
            .push_bind($r.result_size)
            .push_bind($r.is_error)
            .push_bind($r.error)
            .push_bind($r.duration_ms)
            .push_bind($r.flags)
            .push_bind($r.prev_hash)
            .push_bind($r.hash);
    };
}

/// Chain `events` onto the log in one transaction. The tail is read inside
/// the transaction, after taking the append lock, so that concurrent writers
/// (PostgreSQL replicas, or an SQLite file shared by two processes) never
/// fork the chain.
pub(crate) async fn append(
    db: &Db,
    events: Vec<AuditEvent>,
    tail: &mut Option<(i64, String)>,
) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    match db {
        Db::Sqlite { write, .. } => {
            // One round trip per batch in the common case: a single INSERT
            // (atomic on its own) that only takes effect if the chain still
            // ends where this writer last left it. Another writer on the same
            // file (a second process) makes it insert nothing: then re-read
            // the tail, re-seal and try again.
            for _ in 0..8 {
                if tail.is_none() {
                    *tail = Some(
                        sqlx::query_as(TAIL)
                            .fetch_optional(write)
                            .await?
                            .unwrap_or((0, GENESIS_HASH.to_owned())),
                    );
                }
                let expected = tail.clone().unwrap_or((0, GENESIS_HASH.to_owned()));
                let records = seal_all(events.clone(), Some(expected.clone()));
                let last = records.last().map(|r| (r.seq, r.hash.clone()));
                let n = records.len() as u64;
                let mut b = QueryBuilder::<Sqlite>::new(format!(
                    "INSERT INTO audit_log ({COLUMNS}) SELECT * FROM (VALUES "
                ));
                let mut first = true;
                for r in records {
                    if !first {
                        b.push(", ");
                    }
                    first = false;
                    b.push("(");
                    let mut sep = b.separated(", ");
                    push_record!(sep, r);
                    b.push(")");
                }
                // The chain's current end must be the one the records were
                // sealed on (NULL when the log is empty).
                b.push(") WHERE (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1) IS ");
                if expected.0 == 0 {
                    b.push("NULL");
                } else {
                    b.push_bind(expected.1);
                }
                match b.build().execute(write).await {
                    Ok(done) if done.rows_affected() == n => {
                        *tail = last;
                        return Ok(());
                    }
                    Ok(_) => *tail = None,
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => *tail = None,
                    Err(e) => {
                        *tail = None;
                        return Err(e);
                    }
                }
            }
            Err(sqlx::Error::Protocol(
                "audit chain kept moving under this writer".into(),
            ))
        }
        Db::Postgres { write, .. } => {
            *tail = None;
            let mut tx = write.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(APPEND_LOCK)
                .execute(&mut *tx)
                .await?;
            let current: Option<(i64, String)> =
                sqlx::query_as(TAIL).fetch_optional(&mut *tx).await?;
            let records = seal_all(events, current);
            let mut b =
                QueryBuilder::<Postgres>::new(format!("INSERT INTO audit_log ({COLUMNS}) "));
            b.push_values(records, |mut b, r| {
                push_record!(b, r);
            });
            b.build().execute(&mut *tx).await?;
            tx.commit().await
        }
    }
}

fn seal_all(events: Vec<AuditEvent>, tail: Option<(i64, String)>) -> Vec<AuditRecord> {
    let (mut seq, mut prev) = tail.unwrap_or((0, GENESIS_HASH.to_owned()));
    events
        .into_iter()
        .map(|e| {
            seq += 1;
            let r = AuditRecord::seal(e, seq, &prev);
            prev.clone_from(&r.hash);
            r
        })
        .collect()
}

/// Up to `limit` records with `seq > after`, in order.
pub async fn since(db: &Db, after: i64, limit: i64) -> Result<Vec<AuditRecord>, AuditError> {
    let read_err = |e| AuditError::Read(std::sync::Arc::new(e));
    match db {
        Db::Sqlite { read, .. } => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(read)
        .await
        .map_err(read_err),
        Db::Postgres { read, .. } => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(read)
        .await
        .map_err(read_err),
    }
}

/// The last `n` records about `tool` (calls, approvals, drift), oldest first.
pub async fn by_tool(db: &Db, tool: &str, n: i64) -> Result<Vec<AuditRecord>, AuditError> {
    let read_err = |e| AuditError::Read(std::sync::Arc::new(e));
    let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE tool = $1 ORDER BY seq DESC LIMIT $2");
    let mut rows: Vec<AuditRecord> = match db {
        Db::Sqlite { read, .. } => sqlx::query_as(&sql)
            .bind(tool)
            .bind(n)
            .fetch_all(read)
            .await
            .map_err(read_err)?,
        Db::Postgres { read, .. } => sqlx::query_as(&sql)
            .bind(tool)
            .bind(n)
            .fetch_all(read)
            .await
            .map_err(read_err)?,
    };
    rows.reverse();
    Ok(rows)
}

/// The last `n` records, oldest first.
pub async fn tail(db: &Db, n: i64) -> Result<Vec<AuditRecord>, AuditError> {
    let read_err = |e| AuditError::Read(std::sync::Arc::new(e));
    let mut rows: Vec<AuditRecord> = match db {
        Db::Sqlite { read, .. } => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT ?"
        ))
        .bind(n)
        .fetch_all(read)
        .await
        .map_err(read_err)?,
        Db::Postgres { read, .. } => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT $1"
        ))
        .bind(n)
        .fetch_all(read)
        .await
        .map_err(read_err)?,
    };
    rows.reverse();
    Ok(rows)
}

/// The outcome of [`verify`].
#[derive(Debug)]
pub struct Verified {
    pub count: i64,
    /// Hash of the last row ([`GENESIS_HASH`] for an empty log).
    pub head: String,
}

/// Recompute the whole chain, a page at a time.
pub async fn verify(db: &Db) -> Result<Result<Verified, ChainBreak>, AuditError> {
    const PAGE: i64 = 1000;
    let mut check = ChainCheck::default();
    let mut after = i64::MIN;
    loop {
        let rows = since(db, after, PAGE).await?;
        for r in &rows {
            if let Err(broken) = check.push(r) {
                return Ok(Err(broken));
            }
        }
        match rows.last() {
            Some(last) if rows.len() == PAGE as usize => after = last.seq,
            _ => break,
        }
    }
    Ok(Ok(Verified {
        count: check.count(),
        head: check.head().to_owned(),
    }))
}

/// What the admin console's audit page selects; every field optional.
/// Times are prefixes of the stored RFC 3339 form (`2026-12-04`,
/// `2026-12-04T21:30`), compared as text, which orders them correctly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The `subject` column exactly (`user:<id>`, `operator`, …).
    pub subject: Option<String>,
    /// The `client` column exactly (OAuth client id or `clientInfo.name`).
    pub client: Option<String>,
    pub tool: Option<String>,
    /// Records at or after this time.
    pub from: Option<String>,
    /// Records up to this time, inclusive of everything it is a prefix of.
    pub to: Option<String>,
    /// Only records before this sequence number (the next page).
    pub before: Option<i64>,
}

/// Adds the `WHERE` of a [`Filter`] to a query builder of either backend.
macro_rules! push_filter {
    ($b:ident, $f:ident) => {
        $b.push(" WHERE 1 = 1");
        if let Some(v) = &$f.subject {
            $b.push(" AND subject = ").push_bind(v.clone());
        }
        if let Some(v) = &$f.client {
            $b.push(" AND client = ").push_bind(v.clone());
        }
        if let Some(v) = &$f.tool {
            $b.push(" AND tool = ").push_bind(v.clone());
        }
        if let Some(v) = &$f.from {
            $b.push(" AND time >= ").push_bind(v.clone());
        }
        if let Some(v) = &$f.to {
            // `~` sorts after every character of a timestamp.
            $b.push(" AND time <= ").push_bind(format!("{v}~"));
        }
        if let Some(v) = $f.before {
            $b.push(" AND seq < ").push_bind(v);
        }
    };
}

/// Up to `limit` records matching `filter`, newest first.
pub async fn search(db: &Db, filter: &Filter, limit: i64) -> Result<Vec<AuditRecord>, AuditError> {
    let read_err = |e| AuditError::Read(std::sync::Arc::new(e));
    let head = format!("SELECT {COLUMNS} FROM audit_log");
    match db {
        Db::Sqlite { read, .. } => {
            let mut b = QueryBuilder::<Sqlite>::new(head);
            push_filter!(b, filter);
            b.push(" ORDER BY seq DESC LIMIT ").push_bind(limit);
            b.build_query_as().fetch_all(read).await.map_err(read_err)
        }
        Db::Postgres { read, .. } => {
            let mut b = QueryBuilder::<Postgres>::new(head);
            push_filter!(b, filter);
            b.push(" ORDER BY seq DESC LIMIT ").push_bind(limit);
            b.build_query_as().fetch_all(read).await.map_err(read_err)
        }
    }
}

/// The record `seq`, if any.
pub async fn one(db: &Db, seq: i64) -> Result<Option<AuditRecord>, AuditError> {
    let mut page = since(db, seq - 1, 1).await?;
    Ok(page.pop().filter(|r| r.seq == seq))
}

/// Tool calls recorded so far: (all, errors).
pub async fn tool_call_counts(db: &Db) -> Result<(i64, i64), AuditError> {
    const SQL: &str = "SELECT COUNT(*), COALESCE(SUM(CASE WHEN is_error THEN 1 ELSE 0 END), 0) \
         FROM audit_log WHERE kind = 'tool_call'";
    let read_err = |e| AuditError::Read(std::sync::Arc::new(e));
    match db {
        Db::Sqlite { read, .. } => sqlx::query_as(SQL).fetch_one(read).await.map_err(read_err),
        Db::Postgres { read, .. } => sqlx::query_as(SQL).fetch_one(read).await.map_err(read_err),
    }
}
