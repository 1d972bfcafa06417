//! A small pool of SQLite connections, each paired with the deadline its
//! progress handler reads.
//!
//! Why not sqlx's pool: SQLite has no statement timeout, so every connection
//! runs a progress handler that interrupts the statement past a deadline.
//! With sqlx's pool the only way to give a connection a new deadline is
//! `lock_handle`, a round trip to the connection's worker thread on every
//! call, which cost about a tenth of a declared read tool's throughput
//! (`mcp-bench declared`). Here the handler is installed once, when the
//! connection opens, and reads an atomic that each call sets with a plain
//! store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::ConnectOptions as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Virtual-machine steps between deadline checks: about a millisecond.
const PROGRESS_STEPS: i32 = 10_000;

/// No deadline: the handler never interrupts.
const NEVER: u64 = u64::MAX;

/// Up to `size` connections opened with `options`, on demand.
pub(super) struct Lanes {
    options: SqliteConnectOptions,
    permits: Semaphore,
    idle: Mutex<Vec<Lane>>,
    acquire_timeout: Duration,
    /// Deadlines are nanoseconds since this instant.
    epoch: Instant,
}

struct Lane {
    conn: SqliteConnection,
    deadline: Arc<AtomicU64>,
}

impl Lanes {
    /// No IO: connections open on first use.
    pub(super) fn new(options: SqliteConnectOptions, size: u32, acquire_timeout: Duration) -> Self {
        let size = usize::try_from(size.max(1)).unwrap_or(1);
        Self {
            options,
            permits: Semaphore::new(size),
            idle: Mutex::new(Vec::with_capacity(size)),
            acquire_timeout,
            epoch: Instant::now(),
        }
    }

    /// A connection for one call; it goes back to the pool when dropped.
    pub(super) async fn acquire(&self) -> Result<Leased<'_>, sqlx::Error> {
        let permit = match tokio::time::timeout(self.acquire_timeout, self.permits.acquire()).await
        {
            Err(_) => return Err(sqlx::Error::PoolTimedOut),
            Ok(Err(_)) => return Err(sqlx::Error::PoolClosed),
            Ok(Ok(permit)) => permit,
        };
        let lane = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let lane = match lane {
            Some(lane) => lane,
            None => tokio::time::timeout(self.acquire_timeout, self.open())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)??,
        };
        Ok(Leased {
            lanes: self,
            lane: Some(lane),
            _permit: permit,
            healthy: true,
        })
    }

    async fn open(&self) -> Result<Lane, sqlx::Error> {
        let mut conn = self.options.connect().await?;
        let deadline = Arc::new(AtomicU64::new(NEVER));
        let epoch = self.epoch;
        let until = Arc::clone(&deadline);
        // The one round trip to the worker thread, per connection.
        conn.lock_handle()
            .await?
            .set_progress_handler(PROGRESS_STEPS, move || {
                nanos_since(epoch) < until.load(Ordering::Relaxed)
            });
        Ok(Lane { conn, deadline })
    }

    /// Refuse new calls and close the idle connections; leased ones close
    /// when their call ends.
    pub(super) async fn close(&self) {
        self.permits.close();
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        for lane in idle {
            let _ = sqlx::Connection::close(lane.conn).await;
        }
    }
}

fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(NEVER)
}

/// A connection lent to one call.
pub(super) struct Leased<'a> {
    lanes: &'a Lanes,
    lane: Option<Lane>,
    _permit: SemaphorePermit<'a>,
    healthy: bool,
}

impl Leased<'_> {
    /// The connection, whose next statements are interrupted once `limit`
    /// has passed from now.
    pub(super) fn with_deadline(&mut self, limit: Duration) -> &mut SqliteConnection {
        let until = nanos_since(self.lanes.epoch)
            .saturating_add(u64::try_from(limit.as_nanos()).unwrap_or(NEVER));
        let lane = self.lane.as_mut().expect("a lane until dropped");
        lane.deadline.store(until, Ordering::Relaxed);
        &mut lane.conn
    }

    /// Do not reuse this connection (its worker failed or the call was
    /// abandoned mid-statement).
    pub(super) fn discard(&mut self) {
        self.healthy = false;
    }
}

impl Drop for Leased<'_> {
    fn drop(&mut self) {
        let Some(lane) = self.lane.take() else {
            return;
        };
        // The deadline stays: a statement abandoned mid-run (the caller's
        // future dropped) is still interrupted on time.
        if self.healthy && !self.lanes.permits.is_closed() {
            self.lanes
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(lane);
        }
        // Otherwise `lane` drops here, which ends its worker thread.
    }
}
