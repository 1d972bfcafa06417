//! The live side of `[sources.NAME]`: one pool or HTTP client per source,
//! opened lazily (a source that is down does not stop the server; its
//! tools answer `isError` and `/readyz` says which source is down).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::http::HttpSource;
use super::spec::{JsonType, SourceKind, SourceSpec};
use super::sql::SqlSource;

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

/// One live source.
#[derive(Clone)]
pub enum Source {
    Sql(Arc<SqlSource>),
    Http(Arc<HttpSource>),
}

/// Every live source, by name. Cheap to clone.
#[derive(Clone, Default)]
pub struct Sources {
    by_name: Arc<BTreeMap<String, Source>>,
}

impl Sources {
    /// Open every source without connecting (pools connect on first use).
    pub fn open(specs: &BTreeMap<String, SourceSpec>) -> Result<Self, SourceError> {
        let mut by_name = BTreeMap::new();
        for (name, spec) in specs {
            let source = match &spec.kind {
                SourceKind::Sql(s) => Source::Sql(Arc::new(SqlSource::open(name, s)?)),
                SourceKind::Http(h) => Source::Http(Arc::new(HttpSource::open(name, h)?)),
            };
            by_name.insert(name.clone(), source);
        }
        Ok(Self {
            by_name: Arc::new(by_name),
        })
    }

    pub fn get(&self, name: &str) -> Option<&Source> {
        self.by_name.get(name)
    }

    /// The source names, in order (for checks that time each source out
    /// separately, so that one hung source cannot hide the others).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// One source's [`Sources::ping_all`] check; `None` for an unknown name.
    pub async fn ping(&self, name: &str) -> Option<Result<(), SourceError>> {
        Some(match self.by_name.get(name)? {
            Source::Sql(s) => s.ping().await,
            Source::Http(h) => h.ping().await,
        })
    }

    /// Check every source answers (a database round trip; for HTTP, that
    /// the host resolves to an allowed address). Used by `/readyz` and
    /// `check-config --connect`.
    pub async fn ping_all(&self) -> Vec<(String, Result<(), SourceError>)> {
        let mut out = Vec::new();
        for (name, source) in self.by_name.iter() {
            let r = match source {
                Source::Sql(s) => s.ping().await,
                Source::Http(h) => h.ping().await,
            };
            out.push((name.clone(), r));
        }
        out
    }

    /// Close database pools (on reload and shutdown).
    pub async fn close(&self) {
        for source in self.by_name.values() {
            if let Source::Sql(s) = source {
                s.close().await;
            }
        }
    }
}
