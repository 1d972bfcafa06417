//! What a source is asked and what it answers: the window of rows, the
//! access a statement has, the output, and the error model. The engines
//! ([`super::sql`], [`super::http`]) and [`super::source`], which opens them,
//! all use this; it uses none of them.

use super::spec::JsonType;

/// Why a source operation failed. Messages are safe to show to the caller:
/// they never contain credentials or connection strings.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Cannot connect or the connection broke.
    #[error("source `{source_name}` is unavailable: {reason}")]
    Unavailable { source_name: String, reason: String },
    /// The statement or request exceeded its time limit.
    #[error("source `{source_name}` did not answer within {secs} s")]
    Timeout { source_name: String, secs: u64 },
    /// The engine refused a write in a read-only transaction.
    #[error("refused: this tool is read-only and the database refused a write ({detail})")]
    ReadOnly { detail: String },
    /// The database rejected the statement (syntax, missing column, type).
    #[error("the database rejected the statement: {0}")]
    Statement(String),
    /// A value the connector cannot represent as JSON.
    #[error(
        "column `{column}` has type {ty}, which cannot be returned as JSON; cast it in the statement (e.g. CAST(x AS TEXT))"
    )]
    Decode { column: String, ty: String },
    /// An HTTP call was refused before it was sent (host not allowed,
    /// private address, redirect to another host).
    #[error("refused: {0}")]
    Blocked(String),
    /// The API answered with an error status.
    #[error("the API answered HTTP {status}: {body}")]
    HttpStatus { status: u16, body: String },
    /// The response is larger than `max_response_bytes`.
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
}

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: JsonType,
}

/// Which rows of a result to return: skip `offset`, return at most `limit`
/// rows and stop once they hold about `max_chars` characters, and say
/// whether there were more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub offset: u64,
    pub limit: usize,
    pub max_chars: usize,
}

/// What a statement returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryOutput {
    pub columns: Vec<Column>,
    /// Rows in column order.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Rows exist past the window.
    pub more: bool,
    /// For statements that write: rows changed.
    pub rows_affected: Option<u64>,
}

/// Whether a statement may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read-only connection and transaction; the engine refuses writes.
    ReadOnly,
    /// A read-write transaction, committed when the statement succeeds.
    Write,
}
