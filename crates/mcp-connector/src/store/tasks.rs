//! Tasks of the tasks extension (SEP-2663), in the `mcp_tasks` table so that
//! every replica sees the same state. Every state change is a conditional
//! `UPDATE … WHERE status = …`: of two replicas racing (a result arriving as
//! the client cancels), exactly one wins, and a cancelled task stays
//! cancelled. The values are stored as given; sealing is the caller's.

use super::{Db, StoreError, on_read, on_write};

/// One row of `mcp_tasks`. Times are Unix milliseconds.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskRow {
    pub id: String,
    pub subject: String,
    pub client_id: String,
    pub tool: String,
    pub arguments: String,
    pub status: String,
    pub input_requests: Option<String>,
    pub input_responses: Option<String>,
    pub result: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub heartbeat_at: i64,
    pub expires_at: i64,
}

/// How a running task ended (or paused): its new status and payload.
#[derive(Debug, Clone, Default)]
pub struct Settled {
    pub status: &'static str,
    pub input_requests: Option<String>,
    pub result: Option<String>,
    pub error: Option<String>,
}

/// Store a new task. It is visible to `load` once this returns.
pub async fn insert(db: &Db, row: &TaskRow) -> Result<(), StoreError> {
    on_write!(db, |pool| {
        sqlx::query(
            "INSERT INTO mcp_tasks (id, subject, client_id, tool, arguments, status, \
             input_requests, input_responses, result, error, created_at, updated_at, \
             heartbeat_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&row.id)
        .bind(&row.subject)
        .bind(&row.client_id)
        .bind(&row.tool)
        .bind(&row.arguments)
        .bind(&row.status)
        .bind(&row.input_requests)
        .bind(&row.input_responses)
        .bind(&row.result)
        .bind(&row.error)
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(row.heartbeat_at)
        .bind(row.expires_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// The task `id` if it belongs to (`subject`, `client_id`) and has not
/// expired; another owner's task is indistinguishable from none.
pub async fn load(
    db: &Db,
    id: &str,
    subject: &str,
    client_id: &str,
    now: i64,
) -> Result<Option<TaskRow>, StoreError> {
    let row = on_read!(db, |pool| {
        sqlx::query_as::<_, TaskRow>(
            "SELECT * FROM mcp_tasks WHERE id = $1 AND subject = $2 AND client_id = $3 \
             AND expires_at > $4",
        )
        .bind(id)
        .bind(subject)
        .bind(client_id)
        .bind(now)
        .fetch_optional(pool)
        .await
    })?;
    Ok(row)
}

/// Unfinished (`working` or `input_required`) tasks of one owner.
pub async fn count_unfinished(
    db: &Db,
    subject: &str,
    client_id: &str,
    now: i64,
) -> Result<i64, StoreError> {
    let n: i64 = on_read!(db, |pool| {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM mcp_tasks WHERE subject = $1 AND client_id = $2 \
             AND status IN ('working', 'input_required') AND expires_at > $3",
        )
        .bind(subject)
        .bind(client_id)
        .bind(now)
        .fetch_one(pool)
        .await
    })?;
    Ok(n)
}

/// Delete expired tasks; returns how many.
pub async fn purge_expired(db: &Db, now: i64) -> Result<u64, StoreError> {
    let done = on_write!(db, |pool| {
        sqlx::query("DELETE FROM mcp_tasks WHERE expires_at <= $1")
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(done)
}

/// The running replica's sign of life. `false` when the task is no longer
/// `working` (cancelled, perhaps by another replica): the runner stops.
pub async fn heartbeat(db: &Db, id: &str, now: i64) -> Result<bool, StoreError> {
    let done = on_write!(db, |pool| {
        sqlx::query("UPDATE mcp_tasks SET heartbeat_at = $1 WHERE id = $2 AND status = 'working'")
            .bind(now)
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Record how a `working` task ended or paused; `false` if it was no longer
/// working (cancelled meanwhile), in which case nothing changes.
pub async fn settle(db: &Db, id: &str, to: &Settled, now: i64) -> Result<bool, StoreError> {
    let done = on_write!(db, |pool| {
        sqlx::query(
            "UPDATE mcp_tasks SET status = $1, input_requests = $2, result = $3, error = $4, \
             updated_at = $5 WHERE id = $6 AND status = 'working'",
        )
        .bind(to.status)
        .bind(&to.input_requests)
        .bind(&to.result)
        .bind(&to.error)
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Mark a `working` task whose heartbeat is older than `stale_before` as
/// failed with `error` (its replica stopped). `false` if it was not.
pub async fn fail_orphan(
    db: &Db,
    id: &str,
    error: &str,
    stale_before: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let done = on_write!(db, |pool| {
        sqlx::query(
            "UPDATE mcp_tasks SET status = 'failed', error = $1, updated_at = $2 \
             WHERE id = $3 AND status = 'working' AND heartbeat_at < $4",
        )
        .bind(error)
        .bind(now)
        .bind(id)
        .bind(stale_before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Cancel an unfinished task; `false` if it had already finished.
pub async fn cancel(db: &Db, id: &str, now: i64) -> Result<bool, StoreError> {
    let done = on_write!(db, |pool| {
        sqlx::query(
            "UPDATE mcp_tasks SET status = 'cancelled', input_requests = NULL, updated_at = $1 \
             WHERE id = $2 AND status IN ('working', 'input_required')",
        )
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Record answers to an `input_required` task: the requests still open and
/// every response so far. With `resume` the task goes back to `working` (the
/// caller runs it). Optimistic: `false` if the open requests changed since
/// they were read as `seen` (another answer won).
pub async fn answer(
    db: &Db,
    id: &str,
    seen: &str,
    open: Option<&str>,
    responses: &str,
    resume: bool,
    now: i64,
) -> Result<bool, StoreError> {
    let status = if resume { "working" } else { "input_required" };
    let done = on_write!(db, |pool| {
        sqlx::query(
            "UPDATE mcp_tasks SET status = $1, input_requests = $2, input_responses = $3, \
             updated_at = $4, heartbeat_at = $4 \
             WHERE id = $5 AND status = 'input_required' AND input_requests = $6",
        )
        .bind(status)
        .bind(open)
        .bind(responses)
        .bind(now)
        .bind(id)
        .bind(seen)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}
