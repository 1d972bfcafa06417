//! [`AuditSink`]: group commit through one writer task.
//!
//! Every caller waits until its record is committed, so a tool result is
//! never sent before its audit record is durable. One writer task takes all
//! records pending at that moment and commits them in a single transaction:
//! while one batch commits the next one gathers, so throughput grows with
//! concurrency instead of paying one commit per call.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::record::AuditEvent;
use super::{AuditConfig, AuditError, store};
use crate::store::Db;
use crate::telemetry::Metrics;

/// Most records in one transaction (17 bound parameters each, well under
/// both backends' limits).
const MAX_BATCH: usize = 256;
/// Records waiting for the writer before `record` itself waits.
const QUEUE: usize = 4096;

type Pending = (AuditEvent, oneshot::Sender<Result<(), AuditError>>);

/// Records audit events. Cheap to clone; disabled sinks accept and drop.
#[derive(Clone, Debug)]
pub struct AuditSink {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    tx: mpsc::Sender<Pending>,
    redact: Vec<String>,
}

impl AuditSink {
    /// A sink writing to `db`, or a disabled one when `config` says so.
    /// Spawns the writer task: call inside a Tokio runtime.
    pub fn start(db: Db, config: &AuditConfig) -> Self {
        Self::start_observed(db, config, Metrics::disabled())
    }

    /// [`AuditSink::start`], timing each batch commit into `metrics`.
    pub fn start_observed(db: Db, config: &AuditConfig, metrics: Metrics) -> Self {
        if !config.enabled {
            return Self::disabled();
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(db, rx, metrics));
        Self {
            inner: Some(Arc::new(Inner {
                tx,
                redact: config.redact.clone(),
            })),
        }
    }

    /// A sink that records nothing (`audit.enabled = false`).
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Records waiting for the writer (0 when disabled): the channel's
    /// used capacity, read without touching the hot path.
    pub fn queue_depth(&self) -> usize {
        self.inner
            .as_ref()
            .map_or(0, |i| i.tx.max_capacity() - i.tx.capacity())
    }

    /// Argument field names to redact.
    pub fn redact_fields(&self) -> &[String] {
        self.inner.as_ref().map_or(&[], |i| &i.redact)
    }

    /// Record `event`; resolves once it is committed. An error means the
    /// record is not stored, and the caller must not report success.
    pub async fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let (done, committed) = oneshot::channel();
        inner
            .tx
            .send((event, done))
            .await
            .map_err(|_| AuditError::WriterGone)?;
        committed.await.map_err(|_| AuditError::WriterGone)?
    }
}

/// The single writer: batch whatever is pending, commit, answer everyone.
/// A failed batch fails its callers and the writer carries on, because the
/// next batch re-reads the chain's tail from the database.
async fn writer(db: Db, mut rx: mpsc::Receiver<Pending>, metrics: Metrics) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The chain's end as this writer last wrote it; `None` = read it first.
    let mut tail = None;
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (events, waiters): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        let started = std::time::Instant::now();
        let result = store::append(&db, events, &mut tail)
            .await
            .map_err(|e| AuditError::Commit(Arc::new(e)));
        metrics.audit_committed(started.elapsed());
        if let Err(e) = &result {
            tracing::error!(error = %e, records = waiters.len(), "audit batch not committed; those calls fail");
        }
        for waiter in waiters {
            // The caller may have gone (client disconnected): nothing to tell.
            let _ = waiter.send(result.clone());
        }
    }
}
