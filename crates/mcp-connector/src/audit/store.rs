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
pub(crate) async fn append(db: &Db, events: Vec<AuditEvent>) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    match db {
        Db::Sqlite { write, .. } => {
            // IMMEDIATE takes the write lock before the tail is read: another
            // process appending to the same file waits (busy timeout) instead
            // of forking the chain or failing the upgrade from read to write.
            let mut tx = write.begin_with("BEGIN IMMEDIATE").await?;
            let tail: Option<(i64, String)> = sqlx::query_as(TAIL).fetch_optional(&mut *tx).await?;
            let records = seal_all(events, tail);
            let mut b = QueryBuilder::<Sqlite>::new(format!("INSERT INTO audit_log ({COLUMNS}) "));
            b.push_values(records, |mut b, r| {
                push_record!(b, r);
            });
            b.build().execute(&mut *tx).await?;
            tx.commit().await
        }
        Db::Postgres { write, .. } => {
            let mut tx = write.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(APPEND_LOCK)
                .execute(&mut *tx)
                .await?;
            let tail: Option<(i64, String)> = sqlx::query_as(TAIL).fetch_optional(&mut *tx).await?;
            let records = seal_all(events, tail);
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

/// Number and hash each event after `tail`.
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
