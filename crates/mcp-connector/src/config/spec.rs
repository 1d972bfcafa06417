//! Validated sources and tools, built from the config file at load time.
//!
//! Everything that can be checked without a connection is checked here:
//! URLs, `${ENV}` expansion, parameter types and bounds, and that the
//! statement's placeholders and the declared parameters match exactly.

pub mod placeholder;
mod source;
mod tool;
mod value;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use mcp_connector_security::SecretString;
use url::Url;

pub use self::source::{expand_env, source};
pub use self::tool::tool;
pub use self::value::{check_value, number};
use super::ConfigError;

/// Caller-context placeholders, filled from the authenticated caller and
/// never from arguments.
pub const CONTEXT_PARAMS: &[&str] = &["_user", "_client", "_user_id", "_user_email"];

/// The argument every paged tool accepts for its next page.
pub const CURSOR_ARG: &str = "cursor";

/// Tool names Claude accepts. The MCP spec allows dots and 128 characters,
/// but Claude drops the whole tool list if any name falls outside
/// `^[a-zA-Z0-9_-]{1,64}$`, so we refuse such a name at load and at registration.
pub fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Default rows per page and characters per result.
pub const DEFAULT_MAX_ROWS: usize = 100;
pub const DEFAULT_MAX_CHARS: usize = 150_000;

/// Sources and tools declared in the config file.
#[derive(Debug, Clone)]
pub struct Declared {
    pub sources: BTreeMap<String, SourceSpec>,
    pub tools: Vec<ToolDef>,
}

/// A database engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    Sqlite,
    Postgres,
    MySql,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::MySql => "mysql",
        }
    }
}

/// `[sources.NAME]`, validated.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub name: String,
    pub kind: SourceKind,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    Sql(SqlSourceSpec),
    Http(HttpSourceSpec),
}

/// A database source. The URL holds credentials: it is never logged or
/// shown (its `Debug` is redacted), only `display` (scheme, host, database).
#[derive(Debug, Clone)]
pub struct SqlSourceSpec {
    pub engine: Engine,
    pub url: SecretString,
    /// `engine://host/db` without user or password, for messages.
    pub display: String,
    pub max_connections: u32,
    pub statement_timeout: Duration,
}

/// An HTTP API source.
#[derive(Debug, Clone)]
pub struct HttpSourceSpec {
    /// Base URL (no credentials, no query); tool paths are appended.
    pub base_url: Url,
    /// Lower-case host names or addresses tools may reach.
    pub allow_hosts: Vec<String>,
    /// Header name and (possibly secret) value.
    pub headers: Vec<(http::HeaderName, SecretString)>,
    pub timeout: Duration,
    pub max_response_bytes: usize,
}

/// A declared tool, validated.
#[derive(Debug, Clone)]
pub struct ToolDef {
    pub name: String,
    pub title: String,
    pub description: String,
    pub source: String,
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub params: Vec<ParamDef>,
    pub action: Action,
    pub max_rows: usize,
    pub max_chars: usize,
    /// Declared result columns (name, JSON type), in declaration order.
    pub columns: Option<Vec<(String, JsonType)>>,
}

/// What a tool does.
#[derive(Debug, Clone)]
pub enum Action {
    Sql(SqlStatement),
    Http(HttpRequestSpec),
}

/// A statement as declared and as sent, rendered once at load.
#[derive(Debug, Clone)]
pub struct SqlStatement {
    /// As written in the config, with `:name` placeholders.
    pub text: String,
    /// In the engine's placeholder syntax (`?` or `$n`).
    pub sql: String,
    /// The parameter bound at each position of `sql`.
    pub order: Vec<String>,
}

/// An HTTP call.
#[derive(Debug, Clone)]
pub struct HttpRequestSpec {
    pub method: http::Method,
    /// Path template under the base URL: text, `{param}` and `{+param}` pieces.
    pub path: Vec<PathPiece>,
    pub query: Vec<String>,
    pub body: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPiece {
    Text(String),
    /// `{name}`: one path segment; a `/` in the value is refused.
    Param(String),
    /// `{+name}`: one or more segments; the value's `/` separate them and
    /// every segment is encoded on its own (the tool declares that it takes
    /// a path, like RFC 6570's reserved expansion).
    Segments(String),
}

/// JSON type of a parameter or a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    String,
    Integer,
    Number,
    Boolean,
    Any,
}

impl JsonType {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "string" => Self::String,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            "any" => Self::Any,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Any => "any",
        }
    }
}

/// A tool parameter.
#[derive(Debug, Clone)]
pub struct ParamDef {
    pub name: String,
    pub ty: JsonType,
    pub description: Option<String>,
    pub default: Option<serde_json::Value>,
    pub required: bool,
    pub allowed: Option<Vec<serde_json::Value>>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
}

/// A value bound to a statement or sent to an API.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => Ok(()),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Text(s) => f.write_str(s),
        }
    }
}

/// A validation error of one source or tool.
#[derive(Debug)]
pub struct SpecError {
    /// `sources.hr.url`, `tools[0] (count_by_title).statement`, …
    pub at: String,
    pub span: Option<Range<usize>>,
    pub message: String,
}

impl SpecError {
    pub(super) fn new(at: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            at: at.into(),
            span: None,
            message: message.into(),
        }
    }

    pub(super) fn with_span(mut self, span: Range<usize>) -> Self {
        self.span = Some(span);
        self
    }

    /// As a config error; `fallback` locates it when it has no span of its own.
    pub fn into_config(self, fallback: Option<Range<usize>>) -> ConfigError {
        ConfigError::Tool {
            at: self.at,
            span: self.span.or(fallback),
            line: None,
            message: self.message,
        }
    }
}

/// Whether `v` has JSON type `ty` (integers are numbers too).
pub fn type_matches(ty: JsonType, v: &serde_json::Value) -> bool {
    match ty {
        JsonType::String => v.is_string(),
        JsonType::Integer => v.is_i64() || v.is_u64(),
        JsonType::Number => v.is_number(),
        JsonType::Boolean => v.is_boolean(),
        JsonType::Any => true,
    }
}
