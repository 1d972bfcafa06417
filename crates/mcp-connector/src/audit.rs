//! The audit trail: every tool call, committed before its result is sent, and
//! authentication events ([`crate::auth::events`]).
//!
//! Records live in the `audit_log` table (migration `0003_audit`). Each row
//! carries the SHA-256 of its canonical form and of the row before it, so an
//! edited, deleted or reordered row breaks the chain, and the database refuses
//! `UPDATE` and `DELETE` on the table with triggers.
//!
//! # Layout
//! * [`record`]: [`AuditEvent`] (what happened) and [`AuditRecord`] (a stored row).
//! * [`chain`]: the canonical serialisation, the hash and the chain check.
//! * [`redact`]: argument fields replaced before anything is stored.
//! * [`sink`]: [`AuditSink`], group commit through one writer task.
//! * [`store`]: the SQL, per backend.
//! * [`call`]: the `tools/call` hook used by the MCP handler.

pub mod call;
pub mod chain;
pub mod record;
pub mod redact;
pub mod sink;
pub mod store;

use std::sync::Arc;

pub use call::CallAudit;
pub use chain::{ChainBreak, GENESIS_HASH};
pub use record::{AuditEvent, AuditKind, AuditRecord};
pub use sink::AuditSink;

/// Errors of the audit subsystem.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    /// The batch holding the record did not commit. `Arc` because one
    /// database error answers every caller of the batch.
    #[error("audit record not committed: {0}")]
    Commit(Arc<sqlx::Error>),
    /// Reading the log failed.
    #[error("reading the audit log: {0}")]
    Read(Arc<sqlx::Error>),
    /// The writer task is gone (shutdown, or it failed).
    #[error("the audit writer is not running")]
    WriterGone,
}

/// `[audit]` is configuration, validated at load.
pub use crate::config::AuditConfig;
