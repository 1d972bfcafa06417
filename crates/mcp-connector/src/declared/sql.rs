//! SQL sources: SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! * `open` builds lazy pools, no IO: a source that is down does not stop
//!   the server, its tools fail with [`SourceError::Unavailable`] after the
//!   pool's acquire timeout ([`ACQUIRE_TIMEOUT`]).
//! * `run` executes a rendered statement with positional binds in a
//!   transaction of the given [`Access`]. Read-only is enforced by the
//!   engine, never by looking at the SQL (see each engine's module):
//!   SQLite opens a separate read-only pool with `PRAGMA query_only`;
//!   PostgreSQL read connections start with `default_transaction_read_only`
//!   and every read runs in `BEGIN READ ONLY`; MySQL/MariaDB reads run in
//!   `START TRANSACTION READ ONLY`. A write the engine refuses comes back as
//!   [`SourceError::ReadOnly`].
//! * Statement timeouts are the engine's own where it has one (PostgreSQL
//!   `statement_timeout`, MariaDB `max_statement_time`, MySQL
//!   `max_execution_time`, an SQLite progress handler that interrupts the
//!   statement), with a `tokio` timeout around every statement as a
//!   backstop.
//! * Values become JSON by column type (see [`decode`]).
//!
//! Error messages shown to callers carry the database's message only: never
//! the URL, the password or the SQLite file's path.

mod decode;
mod mysql;
mod postgres;
mod sqlite;

use std::time::Duration;

use futures::TryStreamExt;
use serde_json::Value;
use sqlx::{Column as _, Database, Either, Executor, Row};

use super::query::{Access, Column, QueryOutput, SourceError, Window};
use super::spec::{Bound, Engine, JsonType, SqlSourceSpec};

/// How long a call waits for a connection: a source that is down fails
/// fast instead of holding the caller for the tool timeout.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// `ping` gives up after this long.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Room past the engine's own statement timeout before the `tokio`
/// backstop fires, so that the engine's (clearer) error normally wins.
const BACKSTOP_GRACE: Duration = Duration::from_secs(1);

/// A database source.
pub struct SqlSource {
    name: String,
    timeout: Duration,
    pools: Pools,
}

enum Pools {
    Sqlite(Box<sqlite::Pools>),
    Postgres(Pooled<sqlx::Postgres>),
    MySql(Pooled<sqlx::MySql>),
}

impl SqlSource {
    /// Build the pools (lazy: nothing connects until first use).
    pub fn open(name: &str, spec: &SqlSourceSpec) -> Result<Self, SourceError> {
        let bad_url = |e: sqlx::Error| {
            // sqlx's message can quote the URL: keep it out of the error.
            tracing::debug!(source = name, "cannot parse the source URL: {e}");
            SourceError::Unavailable {
                source_name: name.to_owned(),
                reason: "the connection URL is not valid for this engine".to_owned(),
            }
        };
        let pools = match spec.engine {
            Engine::Sqlite => Pools::Sqlite(Box::new(sqlite::Pools::open(spec).map_err(bad_url)?)),
            Engine::Postgres => Pools::Postgres(Pooled::open_postgres(spec).map_err(bad_url)?),
            Engine::MySql => Pools::MySql(Pooled::open_mysql(spec).map_err(bad_url)?),
        };
        Ok(Self {
            name: name.to_owned(),
            timeout: spec.statement_timeout,
            pools,
        })
    }

    /// Run `sql` (already in the engine's placeholder syntax) with `binds`.
    pub async fn run(
        &self,
        sql: &str,
        binds: &[Bound],
        access: Access,
        window: Window,
    ) -> Result<QueryOutput, SourceError> {
        let ctx = self.ctx();
        match &self.pools {
            Pools::Sqlite(p) => p.run(&ctx, sql, binds, access, window).await,
            Pools::Postgres(p) => p.run(&ctx, sql, binds, access, window).await,
            Pools::MySql(p) => p.run(&ctx, sql, binds, access, window).await,
        }
    }

    /// Result columns of `sql` without running it (for `outputSchema`).
    pub async fn probe(&self, sql: &str) -> Result<Vec<Column>, SourceError> {
        let ctx = self.ctx();
        match &self.pools {
            Pools::Sqlite(p) => p.probe(&ctx, sql).await,
            Pools::Postgres(p) => p.probe(&ctx, sql).await,
            Pools::MySql(p) => p.probe(&ctx, sql).await,
        }
    }

    /// One round trip.
    pub async fn ping(&self) -> Result<(), SourceError> {
        let ctx = self.ctx();
        let fut = async {
            match &self.pools {
                Pools::Sqlite(p) => p.ping(&ctx).await,
                Pools::Postgres(p) => p.ping(&ctx).await,
                Pools::MySql(p) => p.ping(&ctx).await,
            }
        };
        tokio::time::timeout(PING_TIMEOUT, fut)
            .await
            .unwrap_or_else(|_| Err(ctx.unavailable("no answer in time")))
    }

    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite(p) => p.close().await,
            Pools::Postgres(p) => p.close().await,
            Pools::MySql(p) => p.close().await,
        }
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            name: self.name.clone(),
            timeout: self.timeout,
        }
    }
}

/// What the engine modules need to know about their source.
struct Ctx {
    name: String,
    timeout: Duration,
}

impl Ctx {
    fn unavailable(&self, reason: impl Into<String>) -> SourceError {
        SourceError::Unavailable {
            source_name: self.name.clone(),
            reason: reason.into(),
        }
    }

    fn timed_out(&self) -> SourceError {
        SourceError::Timeout {
            source_name: self.name.clone(),
            secs: self.timeout.as_secs(),
        }
    }

    /// An error while getting a connection (or starting its transaction).
    /// The reason names the kind of failure only: sqlx's own messages for
    /// configuration errors may quote the URL.
    fn connect_error(&self, e: sqlx::Error) -> SourceError {
        tracing::warn!(source = %self.name, "cannot connect: {e}");
        let reason = match &e {
            sqlx::Error::PoolTimedOut => format!(
                "no connection within {} s (is the database running?)",
                ACQUIRE_TIMEOUT.as_secs()
            ),
            sqlx::Error::Io(io) => format!("cannot connect ({})", io.kind()),
            sqlx::Error::Tls(_) => "TLS handshake failed".to_owned(),
            // Its message names the database user and the client's
            // address: the code says enough, the log has the rest.
            sqlx::Error::Database(db) => match db.code() {
                Some(code) => format!("the database refused the connection (code {code})"),
                None => "the database refused the connection".to_owned(),
            },
            sqlx::Error::PoolClosed => "the source is closed (reloading)".to_owned(),
            _ => "cannot connect".to_owned(),
        };
        self.unavailable(reason)
    }

    /// An error while running the statement; `engine` classifies database
    /// errors (read-only refusal, timeout) by code.
    fn statement_error(
        &self,
        e: sqlx::Error,
        engine: fn(&dyn sqlx::error::DatabaseError) -> DbKind,
    ) -> SourceError {
        match e {
            sqlx::Error::Database(db) => match engine(db.as_ref()) {
                DbKind::ReadOnly => SourceError::ReadOnly {
                    detail: db.message().to_owned(),
                },
                DbKind::Timeout => self.timed_out(),
                DbKind::Other => SourceError::Statement(db.message().to_owned()),
            },
            sqlx::Error::ColumnDecode { index, source } => {
                SourceError::Statement(format!("cannot decode column {index}: {source}"))
            }
            e @ (sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed) => self.connect_error(e),
            other => SourceError::Statement(other.to_string()),
        }
    }

    /// Run `fut` (one statement) under the backstop timeout.
    async fn backstop<T>(
        &self,
        fut: impl Future<Output = Result<T, SourceError>>,
    ) -> Result<T, SourceError> {
        tokio::time::timeout(self.timeout + BACKSTOP_GRACE, fut)
            .await
            .unwrap_or_else(|_| Err(self.timed_out()))
    }
}

/// How an engine's error code reads.
enum DbKind {
    ReadOnly,
    Timeout,
    Other,
}

/// Per-engine hooks for [`collect`].
struct Codec<DB: Database> {
    /// A row's value at a column, as JSON.
    decode: fn(&DB::Row, usize) -> Result<Value, SourceError>,
    /// The JSON type of a column, from its type name.
    json_type: fn(&DB::TypeInfo) -> JsonType,
    rows_affected: fn(&DB::QueryResult) -> u64,
    classify: fn(&dyn sqlx::error::DatabaseError) -> DbKind,
}

/// Stream the statement's results: skip `window.offset` rows, keep up to
/// `window.limit` (and no more once the kept rows hold `window.max_chars`
/// characters: the page could not show them), and note whether one more
/// exists. A read stops reading there (the rest is never fetched); a write
/// reads to the end, since its effect and its row count are only complete
/// then.
async fn collect<'e, 'q: 'e, DB, E, Q>(
    ctx: &Ctx,
    executor: E,
    query: Q,
    access: Access,
    window: Window,
    codec: &Codec<DB>,
) -> Result<QueryOutput, SourceError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    Q: sqlx::Execute<'q, DB> + 'q,
{
    let mut stream = executor.fetch_many(query);
    let mut out = QueryOutput::default();
    let mut seen: u64 = 0;
    let mut affected: u64 = 0;
    let mut chars: usize = 0;
    let err = |e| ctx.statement_error(e, codec.classify);
    while let Some(item) = stream.try_next().await.map_err(err)? {
        match item {
            Either::Left(result) => affected += (codec.rows_affected)(&result),
            Either::Right(row) => {
                if out.columns.is_empty() {
                    out.columns = columns(row.columns(), codec.json_type);
                }
                seen += 1;
                if seen <= window.offset {
                    continue;
                }
                if out.rows.len() >= window.limit || chars > window.max_chars {
                    out.more = true;
                    if access == Access::ReadOnly {
                        break;
                    }
                    continue;
                }
                let values = (0..row.len())
                    .map(|i| (codec.decode)(&row, i))
                    .collect::<Result<Vec<_>, _>>()?;
                chars += values.iter().map(approx_chars).sum::<usize>();
                out.rows.push(values);
            }
        }
    }
    // Dropping the stream stops reading; the driver discards the rest.
    drop(stream);
    if access == Access::Write {
        out.rows_affected = Some(affected);
    }
    Ok(out)
}

/// A read pool and a write pool (PostgreSQL, MySQL/MariaDB: their read
/// connections are read-only for the whole session, see each module).
/// Each engine module adds `open` and `run`.
struct Pooled<DB: Database> {
    read: sqlx::Pool<DB>,
    write: sqlx::Pool<DB>,
    codec: &'static Codec<DB>,
}

impl<DB> Pooled<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Run `query` in a transaction opened with `begin` on the pool for
    /// `access`; a read is rolled back, a write committed.
    async fn in_transaction<'q, Q>(
        &self,
        ctx: &Ctx,
        begin: &'static str,
        query: Q,
        access: Access,
        window: Window,
    ) -> Result<QueryOutput, SourceError>
    where
        Q: sqlx::Execute<'q, DB> + 'q,
    {
        let pool = match access {
            Access::ReadOnly => &self.read,
            Access::Write => &self.write,
        };
        let mut tx = pool
            .begin_with(begin)
            .await
            .map_err(|e| ctx.connect_error(e))?;
        let out = ctx
            .backstop(collect(ctx, &mut *tx, query, access, window, self.codec))
            .await?;
        let end = match access {
            // Nothing to keep; ROLLBACK also ends the transaction fastest.
            Access::ReadOnly => tx.rollback().await,
            Access::Write => tx.commit().await,
        };
        end.map_err(|e| ctx.statement_error(e, self.codec.classify))?;
        Ok(out)
    }

    /// Result columns of `sql`, prepared (not run) on a read connection.
    async fn probe(&self, ctx: &Ctx, sql: &str) -> Result<Vec<Column>, SourceError> {
        let mut conn = self
            .read
            .acquire()
            .await
            .map_err(|e| ctx.connect_error(e))?;
        let d = (&mut *conn)
            .describe(sql)
            .await
            .map_err(|e| ctx.statement_error(e, self.codec.classify))?;
        Ok(columns(&d.columns, self.codec.json_type))
    }

    /// One round trip on a read connection.
    async fn ping(&self, ctx: &Ctx) -> Result<(), SourceError> {
        let mut conn = self
            .read
            .acquire()
            .await
            .map_err(|e| ctx.connect_error(e))?;
        (&mut *conn)
            .execute("SELECT 1")
            .await
            .map_err(|e| ctx.statement_error(e, self.codec.classify))?;
        Ok(())
    }

    async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// About how many characters `v` takes in the rendered page.
fn approx_chars(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len() + 3,
        Value::Array(_) | Value::Object(_) => v.to_string().len(),
        _ => 8,
    }
}

fn columns<C: sqlx::Column>(
    cols: &[C],
    json_type: fn(&<C::Database as Database>::TypeInfo) -> JsonType,
) -> Vec<Column> {
    cols.iter()
        .map(|c| Column {
            name: c.name().to_owned(),
            ty: json_type(c.type_info()),
        })
        .collect()
}

/// A column's name for messages.
fn column_name<R: Row>(row: &R, i: usize) -> String {
    row.columns()
        .get(i)
        .map_or_else(|| i.to_string(), |c| c.name().to_owned())
}

/// Bind every value positionally; `$null` is the engine's NULL value.
macro_rules! bind_all {
    ($sql:expr, $binds:expr, $null:expr) => {{
        let mut q = sqlx::query($sql);
        for b in $binds {
            q = match b {
                Bound::Null => q.bind($null),
                Bound::Bool(v) => q.bind(*v),
                Bound::Int(v) => q.bind(*v),
                Bound::Float(v) => q.bind(*v),
                Bound::Text(s) => q.bind(s.as_str()),
            };
        }
        q
    }};
}
use bind_all;
