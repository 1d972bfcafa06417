//! Password checks off the async executor, bounded in CPU and memory.
//!
//! One argon2 check takes about 19 MiB and tens of milliseconds of one core.
//! Run unbounded on tokio's blocking pool (up to 512 threads), a burst of
//! login POSTs from one address made the process grow by hundreds of MiB
//! and keep it: every pool thread got its own allocator arena. Here a fixed
//! set of worker threads, one per core, each with one reusable
//! [`Scratch`], does every check: memory is at most `workers × 19 MiB`,
//! allocated once, whatever the burst. Checks wait in a bounded queue for
//! at most [`QUEUE_DEADLINE`]; a full queue or an expired wait is
//! [`HashError::Busy`] (503 with `Retry-After`), never an unbounded backlog.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use mcp_connector_security::SecretString;
use mcp_connector_security::password::Scratch;
use tokio::sync::oneshot;

/// How long a check may wait for a worker before it is refused.
pub const QUEUE_DEADLINE: Duration = Duration::from_secs(5);
/// Queued checks per worker before new ones are refused at once.
const QUEUE_PER_WORKER: usize = 16;

/// Why a password was not checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("too many sign-in attempts are being checked; try again shortly")]
    Busy,
}

struct Job {
    /// `None`: no such user; spend the same time and answer `false`.
    hash: Option<String>,
    password: SecretString,
    deadline: Instant,
    reply: oneshot::Sender<bool>,
}

/// The pool of password-check workers. Cheap to share (`Arc`); the workers
/// stop when the last handle is dropped.
pub struct Hasher {
    jobs: SyncSender<Job>,
    workers: usize,
    peak: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl Hasher {
    /// One worker per available core.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::with_workers(cores.clamp(1, 16))
    }

    pub fn with_workers(workers: usize) -> Self {
        let workers = workers.max(1);
        let (jobs, rx) = sync_channel::<Job>(workers * QUEUE_PER_WORKER);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        for i in 0..workers {
            let rx = rx.clone();
            let (running, peak) = (running.clone(), peak.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("password-check-{i}"))
                .spawn(move || work(&rx, &running, &peak));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password-check worker");
            }
        }
        Self {
            jobs,
            workers,
            peak,
        }
    }

    /// Whether `password` matches `hash` (`None`: an unknown user, checked
    /// against a dummy hash so that it takes as long).
    pub async fn verify(
        &self,
        hash: Option<String>,
        password: SecretString,
    ) -> Result<bool, HashError> {
        let (reply, answer) = oneshot::channel();
        let deadline = Instant::now() + QUEUE_DEADLINE;
        let job = Job {
            hash,
            password,
            deadline,
            reply,
        };
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!("password check refused: queue full");
                return Err(HashError::Busy);
            }
            Err(TrySendError::Disconnected(_)) => return Err(HashError::Busy),
        }
        // The check itself takes well under a second; the deadline bounds
        // the wait for a worker (an expired job is dropped unchecked).
        match tokio::time::timeout(QUEUE_DEADLINE + Duration::from_secs(5), answer).await {
            Ok(Ok(ok)) => Ok(ok),
            _ => {
                tracing::warn!("password check refused: waited too long for a worker");
                Err(HashError::Busy)
            }
        }
    }

    /// Number of workers (the most checks that ever run at once).
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The most checks that ran at the same time so far.
    pub fn peak_concurrency(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

fn work(rx: &std::sync::Mutex<Receiver<Job>>, running: &AtomicUsize, peak: &AtomicUsize) {
    let mut scratch = Scratch::default();
    loop {
        // The lock is held only while waiting for the next job.
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else {
            return; // Every sender is gone: the server stopped.
        };
        if Instant::now() > job.deadline || job.reply.is_closed() {
            continue; // Nobody waits for this answer any more.
        }
        let now = running.fetch_add(1, Ordering::Relaxed) + 1;
        peak.fetch_max(now, Ordering::Relaxed);
        let ok = match &job.hash {
            Some(h) => scratch.verify(h, &job.password),
            None => {
                scratch.verify_nobody(&job.password);
                false
            }
        };
        running.fetch_sub(1, Ordering::Relaxed);
        let _ = job.reply.send(ok);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_queue_refuses_instead_of_growing() {
        let h = Hasher::with_workers(1);
        let pw = || SecretString::new("correct horse battery");
        let stored = mcp_connector_security::password::hash_password(&pw()).expect("hash");
        assert!(h.verify(Some(stored.clone()), pw()).await.expect("checked"));
        assert!(!h.verify(None, pw()).await.expect("checked"));
        // Far more at once than one worker and its queue hold.
        let all =
            futures::future::join_all((0..60).map(|_| h.verify(Some(stored.clone()), pw()))).await;
        let busy = all.iter().filter(|r| r.is_err()).count();
        assert!(busy > 0, "some are refused");
        assert!(all.iter().filter(|r| matches!(r, Ok(true))).count() >= QUEUE_PER_WORKER);
        assert_eq!(h.peak_concurrency(), 1);
    }
}
