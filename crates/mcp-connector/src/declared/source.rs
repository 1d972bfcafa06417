//! The live side of `[sources.NAME]`: one pool or HTTP client per source,
//! opened lazily (a source that is down does not stop the server; its
//! tools answer `isError` and `/readyz` says which source is down).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::http::HttpSource;
use super::spec::{SourceKind, SourceSpec};
use super::sql::SqlSource;

/// What a source is asked and answers, shared with the engines below.
pub use super::query::{Access, Column, QueryOutput, SourceError, Window};

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
