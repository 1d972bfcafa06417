//! Tools declared in the config file: `[sources.NAME]` databases and HTTP
//! APIs, and `[[tools]]` that run a bound SQL statement or an HTTP call
//! against them.
//!
//! * [`spec`]: validated sources and tools (from `config::declare`).
//! * [`placeholder`]: `:name` placeholders, found with each engine's lexical rules.
//! * [`args`]: input schema and argument checks; caller context.
//! * [`source`]: the connections: [`source::Sources`].
//! * [`query`]: what a source is asked and answers, and the error model.
//! * [`sql`]: statements on SQLite, PostgreSQL and MySQL/MariaDB, read-only
//!   enforced by the engine.
//! * [`http`]: HTTP calls to allowlisted hosts.
//! * [`render`]: rows to `structuredContent`, text and pages.
//! * [`catalog`]: the [`crate::catalog::Catalog`] serving them.

pub mod args;
pub mod catalog;
pub mod http;
pub mod placeholder;
pub mod query;
pub mod render;
pub mod source;
pub mod spec;
pub mod sql;

pub use self::catalog::DeclaredCatalog;
pub use self::spec::Declared;
