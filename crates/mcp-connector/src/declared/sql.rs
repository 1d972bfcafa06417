//! SQL sources: SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! CONTRACT (implemented by the SQL helper; signatures fixed):
//! * `open` builds lazy pools, no IO.
//! * `run` executes a rendered statement with positional binds in a
//!   transaction of the given [`Access`]; read-only is enforced by the
//!   engine (SQLite: a separate read-only pool, `PRAGMA query_only`;
//!   PostgreSQL: `SET TRANSACTION READ ONLY` + `default_transaction_read_only`
//!   on read connections; MySQL: `START TRANSACTION READ ONLY`), with the
//!   source's statement timeout.

use super::source::{Access, Column, QueryOutput, SourceError, Window};
use super::spec::{Bound, SqlSourceSpec};

/// A database source.
pub struct SqlSource {
    name: String,
}

impl SqlSource {
    /// Build the pools (lazy: nothing connects until first use).
    pub fn open(name: &str, spec: &SqlSourceSpec) -> Result<Self, SourceError> {
        let _ = spec;
        Ok(Self {
            name: name.to_owned(),
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
        let _ = (sql, binds, access, window);
        Err(SourceError::Unavailable {
            source_name: self.name.clone(),
            reason: "not implemented".into(),
        })
    }

    /// Result columns of `sql` without running it (for `outputSchema`).
    pub async fn probe(&self, sql: &str) -> Result<Vec<Column>, SourceError> {
        let _ = sql;
        Ok(Vec::new())
    }

    /// One round trip.
    pub async fn ping(&self) -> Result<(), SourceError> {
        Ok(())
    }

    pub async fn close(&self) {}
}
