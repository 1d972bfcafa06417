//! The database: embedded SQLite by default, PostgreSQL for several replicas.
//!
//! Each backend has two pools. Reads go to a pool whose connections are
//! read-only at the database level (SQLite `mode=ro`-style `read_only`,
//! PostgreSQL `default_transaction_read_only`), so a read tool cannot write even
//! through a bug. Writes go to a separate pool; on SQLite that pool has a single
//! connection, which serialises writers instead of failing with `SQLITE_BUSY`.
//! Migrations are parallel trees in `migrations/{sqlite,postgres}`.

pub mod approvals;
pub mod company;
pub mod oauth;
pub mod secrets;
pub mod sessions;
pub mod tasks;

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// The migration that inserts the Company demo's rows (`0002_seed_demo`).
const DEMO_SEED_VERSION: i64 = 2;

/// Errors of the storage subsystem. The messages name the operation, never
/// the SQL or the data; callers log them with a correlation id.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL scheme (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The SQLite file could not be opened; names the file, since SQLite's
    /// own message ("code: 14, unable to open database file") does not.
    #[error("cannot open the SQLite database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored value is corrupt: {0}")]
    Corrupt(&'static str),
    /// A unique key is taken (for example a user name).
    #[error("{0} already exists")]
    Conflict(&'static str),
}

/// Which backend a URL selects (checked when the configuration loads).
pub use crate::config::Backend;

impl Backend {
    /// The backend a database URL names.
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        Self::from_url(url).ok_or(StoreError::UnsupportedUrl)
    }
}

/// Run `$body` with `$pool` bound to the write pool of either backend. The
/// body is compiled once per backend, so one SQL text (with `$1`-style
/// placeholders, which SQLite accepts too) serves both.
macro_rules! on_write {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite { write: $pool, .. } => $body,
            $crate::store::Db::Postgres { write: $pool, .. } => $body,
        }
    };
}

/// [`on_write!`] on the read-only pool.
macro_rules! on_read {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite { read: $pool, .. } => $body,
            $crate::store::Db::Postgres { read: $pool, .. } => $body,
        }
    };
}
pub(crate) use {on_read, on_write};

/// Connection pools of one backend. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite { read: SqlitePool, write: SqlitePool },
    Postgres { read: PgPool, write: PgPool },
}

/// Pool sizing and timeouts.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl Db {
    /// Open the pools for `url`, creating an SQLite file if it does not exist.
    /// Does not migrate: call [`Db::migrate`].
    pub async fn connect(url: &str, opts: &DbOptions) -> Result<Self, StoreError> {
        match Backend::of_url(url)? {
            Backend::Sqlite => {
                let base = SqliteConnectOptions::from_str(url)
                    .map_err(|e| StoreError::InvalidUrl(e.to_string()))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // WAL + NORMAL is durable against application crashes and
                    // only risks the last commits on power loss.
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                // No ping before each query: a local file cannot drop the
                // connection, and the ping costs as much as the query.
                let write = SqlitePoolOptions::new()
                    .test_before_acquire(false)
                    .max_connections(1)
                    .acquire_timeout(opts.acquire_timeout)
                    .connect_with(base.clone())
                    .await
                    .map_err(|e| open_error(&base, e))?;
                let read = SqlitePoolOptions::new()
                    .test_before_acquire(false)
                    .max_connections(opts.max_connections.max(1))
                    .acquire_timeout(opts.acquire_timeout)
                    .connect_with(base.clone().read_only(true))
                    .await
                    .map_err(|e| open_error(&base, e))?;
                Ok(Self::Sqlite { read, write })
            }
            Backend::Postgres => {
                let base = PgConnectOptions::from_str(url)
                    .map_err(|e| StoreError::InvalidUrl(e.to_string()))?
                    .application_name("mcp-connector");
                // A broken connection surfaces as a query error and is
                // replaced; pinging before every query would double the
                // round trips on the hot path.
                let write = PgPoolOptions::new()
                    .test_before_acquire(false)
                    .max_connections(opts.max_connections.max(1))
                    .acquire_timeout(opts.acquire_timeout)
                    .connect_lazy_with(base.clone());
                let read = PgPoolOptions::new()
                    .test_before_acquire(false)
                    .max_connections(opts.max_connections.max(1))
                    .acquire_timeout(opts.acquire_timeout)
                    .connect_lazy_with(base.options([("default_transaction_read_only", "on")]));
                Ok(Self::Postgres { read, write })
            }
        }
    }

    /// Apply pending migrations. Safe to run from several replicas at once:
    /// sqlx takes an advisory lock on PostgreSQL, and SQLite has one writer.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.migrate_with(true).await
    }

    /// Migrate; `demo_rows = false` leaves out the Company demo's rows (a
    /// connector serving declared tools or the conformance fixtures has no
    /// use for them). Left out, that migration stays pending: sqlx applies a
    /// missing version out of order, so the first start of the Company demo
    /// on this database seeds it then.
    pub async fn migrate_with(&self, demo_rows: bool) -> Result<(), StoreError> {
        let mut migrator = match self {
            Self::Sqlite { .. } => sqlx::migrate!("migrations/sqlite"),
            Self::Postgres { .. } => sqlx::migrate!("migrations/postgres"),
        };
        if !demo_rows {
            let kept: Vec<_> = migrator
                .iter()
                .filter(|m| m.version != DEMO_SEED_VERSION)
                .cloned()
                .collect();
            migrator.migrations = kept.into();
            // The seed may have been applied by an earlier Company start.
            migrator.set_ignore_missing(true);
        }
        match self {
            Self::Sqlite { write, .. } => migrator.run(write).await?,
            Self::Postgres { write, .. } => migrator.run(write).await?,
        }
        Ok(())
    }

    /// Write a consistent copy of a SQLite database to `out` (which must not
    /// exist), while other processes keep reading and writing it:
    /// `VACUUM INTO` reads one snapshot (WAL mode lets writers go on) and
    /// writes a compact, self-contained file. PostgreSQL has its own tools
    /// (`pg_dump`); `None` there.
    pub async fn backup_to(&self, out: &std::path::Path) -> Option<Result<(), StoreError>> {
        let Self::Sqlite { read, .. } = self else {
            return None;
        };
        let target = out.display().to_string();
        Some(
            sqlx::query("VACUUM INTO ?")
                .bind(target)
                .execute(read)
                .await
                .map(|_| ())
                .map_err(StoreError::from),
        )
    }

    /// Whether `PRAGMA integrity_check` finds the SQLite file sound (`None`
    /// on PostgreSQL).
    pub async fn integrity_ok(&self) -> Option<Result<bool, StoreError>> {
        let Self::Sqlite { read, .. } = self else {
            return None;
        };
        let check = sqlx::query_scalar::<_, String>("PRAGMA integrity_check")
            .fetch_one(read)
            .await;
        Some(check.map(|r| r == "ok").map_err(StoreError::from))
    }

    /// Cheap liveness probe of the read path, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite { read, .. } => {
                sqlx::query("SELECT 1").execute(read).await?;
            }
            Self::Postgres { read, .. } => {
                sqlx::query("SELECT 1").execute(read).await?;
            }
        }
        Ok(())
    }

    /// Connections of both pools as (idle, in use), for the metrics.
    pub fn pool_connections(&self) -> (u32, u32) {
        fn of<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> (u32, u32) {
            let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
            (idle, pool.size().saturating_sub(idle))
        }
        let ((ri, ru), (wi, wu)) = match self {
            Self::Sqlite { read, write } => (of(read), of(write)),
            Self::Postgres { read, write } => (of(read), of(write)),
        };
        (ri + wi, ru + wu)
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite { .. } => Backend::Sqlite,
            Self::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Close every pool, waiting for connections to return.
    pub async fn close(&self) {
        match self {
            Self::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Self::Postgres { read, write } => {
                read.close().await;
                write.close().await;
            }
        }
    }
}

/// [`StoreError::Open`] for `options`' file, with a hint for the usual causes.
fn open_error(options: &SqliteConnectOptions, e: sqlx::Error) -> StoreError {
    let path = options.get_filename().display().to_string();
    let reason = match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("14") => {
            "the file cannot be created or opened (does its directory exist, and may this user write there?)".to_owned()
        }
        other => other.to_string(),
    };
    StoreError::Open { path, reason }
}
