//! Validated sources and tools, built from the config file at load time.
//!
//! Everything that can be checked without a connection is checked here:
//! URLs, `${ENV}` expansion, parameter types and bounds, and that the
//! statement's placeholders and the declared parameters match exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use mcp_connector_security::SecretString;
use url::Url;

use super::placeholder::{self, Segment};
use crate::config::ConfigError;
use crate::config::file::{ParamDecl, SourceSection, ToolDecl};

/// Caller-context placeholders, filled from the authenticated caller and
/// never from arguments.
pub const CONTEXT_PARAMS: &[&str] = &["_user", "_client", "_user_id", "_user_email"];

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

/// A statement and its placeholders, scanned with its engine's rules.
#[derive(Debug, Clone)]
pub struct SqlStatement {
    pub text: String,
    pub engine: Engine,
    pub segments: Vec<Segment>,
}

impl SqlStatement {
    /// The statement in the engine's syntax and the parameter name bound at
    /// each position.
    pub fn render(&self) -> (String, Vec<String>) {
        placeholder::render(&self.segments, self.engine)
    }
}

/// An HTTP call.
#[derive(Debug, Clone)]
pub struct HttpRequestSpec {
    pub method: http::Method,
    /// Path template under the base URL: text and `{param}` pieces.
    pub path: Vec<PathPiece>,
    pub query: Vec<String>,
    pub body: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPiece {
    Text(String),
    Param(String),
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
    fn new(at: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            at: at.into(),
            span: None,
            message: message.into(),
        }
    }

    fn with_span(mut self, span: Range<usize>) -> Self {
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

/// Replace `${VAR}` with the variable's value.
pub fn expand_env(
    at: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, SpecError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| SpecError::new(at, "`${` without a closing `}`"))?;
        let var = &after[..end];
        if var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(SpecError::new(
                at,
                format!("`${{{var}}}` is not a variable name"),
            ));
        }
        let value = env(var)
            .ok_or_else(|| SpecError::new(at, format!("environment variable {var} is not set")))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Validate `[sources.NAME]`.
pub fn source(
    name: &str,
    s: SourceSection,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SourceSpec, SpecError> {
    let key = |k: &str| format!("sources.{name}.{k}");
    if !valid_name(name) {
        return Err(SpecError::new(
            format!("sources.{name}"),
            "source names use letters, digits, `_` and `-`",
        ));
    }
    let url = expand_env(&key("url"), &s.url, env)?;
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    let kind = match scheme.as_deref() {
        Some(scheme @ ("sqlite" | "postgres" | "postgresql" | "mysql" | "mariadb")) => {
            let engine = match scheme {
                "sqlite" => Engine::Sqlite,
                "postgres" | "postgresql" => Engine::Postgres,
                _ => Engine::MySql,
            };
            // sqlx speaks MariaDB through its mysql driver.
            let url = match url.strip_prefix("mariadb:") {
                Some(rest) => format!("mysql:{rest}"),
                None => url,
            };
            let display = display_url(&url);
            for k in [
                "allow_hosts",
                "headers",
                "timeout_secs",
                "max_response_bytes",
            ] {
                let given = match k {
                    "allow_hosts" => s.allow_hosts.is_some(),
                    "headers" => s.headers.is_some(),
                    "timeout_secs" => s.timeout_secs.is_some(),
                    _ => s.max_response_bytes.is_some(),
                };
                if given {
                    return Err(SpecError::new(key(k), "only for http sources"));
                }
            }
            SourceKind::Sql(SqlSourceSpec {
                engine,
                url: SecretString::new(url),
                display,
                max_connections: match s.max_connections.unwrap_or(4) {
                    0 => return Err(SpecError::new(key("max_connections"), "must be at least 1")),
                    n => n,
                },
                statement_timeout: positive_secs(
                    &key("statement_timeout_secs"),
                    s.statement_timeout_secs,
                    10,
                )?,
            })
        }
        Some("http" | "https") => {
            let base_url = Url::parse(&url)
                .map_err(|e| SpecError::new(key("url"), format!("not a URL: {e}")))?;
            if !base_url.username().is_empty() || base_url.password().is_some() {
                return Err(SpecError::new(
                    key("url"),
                    "put credentials in [sources.NAME.headers], not in the URL",
                ));
            }
            if base_url.query().is_some() || base_url.fragment().is_some() {
                return Err(SpecError::new(
                    key("url"),
                    "no query or fragment in a base URL",
                ));
            }
            let host = base_url
                .host_str()
                .ok_or_else(|| SpecError::new(key("url"), "has no host"))?
                .trim_matches(['[', ']'])
                .to_ascii_lowercase();
            let allow_hosts = match s.allow_hosts {
                Some(list) if list.is_empty() => {
                    return Err(SpecError::new(key("allow_hosts"), "must not be empty"));
                }
                Some(list) => list
                    .into_iter()
                    .map(|h| h.trim().trim_matches(['[', ']']).to_ascii_lowercase())
                    .collect(),
                None => vec![host.clone()],
            };
            if !allow_hosts.contains(&host) {
                return Err(SpecError::new(
                    key("allow_hosts"),
                    format!("does not list the URL's own host `{host}`"),
                ));
            }
            let mut headers = Vec::new();
            for (h, v) in s.headers.unwrap_or_default() {
                let at = key(&format!("headers.{h}"));
                let hn = http::HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| SpecError::new(&at, "not a header name"))?;
                let value = expand_env(&at, &v, env)?;
                if http::HeaderValue::from_str(&value).is_err() {
                    return Err(SpecError::new(&at, "the value is not a valid header value"));
                }
                headers.push((hn, SecretString::new(value)));
            }
            if s.max_connections.is_some() || s.statement_timeout_secs.is_some() {
                return Err(SpecError::new(
                    key("max_connections"),
                    "max_connections and statement_timeout_secs are only for databases",
                ));
            }
            SourceKind::Http(HttpSourceSpec {
                base_url,
                allow_hosts,
                headers,
                timeout: positive_secs(&key("timeout_secs"), s.timeout_secs, 10)?,
                max_response_bytes: match s.max_response_bytes.unwrap_or(1024 * 1024) {
                    n @ 1..=67_108_864 => n,
                    _ => {
                        return Err(SpecError::new(
                            key("max_response_bytes"),
                            "must be between 1 and 67108864",
                        ));
                    }
                },
            })
        }
        _ => {
            return Err(SpecError::new(
                key("url"),
                "expected sqlite://PATH, postgres://…, mysql://…, mariadb://…, http(s)://…",
            ));
        }
    };
    Ok(SourceSpec {
        name: name.to_owned(),
        kind,
    })
}

/// `scheme://host[:port]/path` of a URL, without user, password or query.
fn display_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) if u.scheme() == "sqlite" => {
            let rest = url.split_once('?').map_or(url, |(a, _)| a);
            rest.to_owned()
        }
        Ok(u) => format!(
            "{}://{}{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path()
        ),
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

fn positive_secs(at: &str, value: Option<u64>, default: u64) -> Result<Duration, SpecError> {
    match value.unwrap_or(default) {
        0 => Err(SpecError::new(at, "must be at least 1 second")),
        n if n > 3600 => Err(SpecError::new(at, "must be at most 3600 seconds")),
        n => Ok(Duration::from_secs(n)),
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Validate the `i`-th `[[tools]]` entry against the sources.
pub fn tool(
    i: usize,
    mut d: ToolDecl,
    sources: &BTreeMap<String, SourceSpec>,
) -> Result<ToolDef, SpecError> {
    let name = d.name.get_ref().clone();
    let at = |k: &str| format!("tools[{i}] ({name}).{k}");
    if !crate::catalog::tools::valid_tool_name(&name) {
        return Err(SpecError::new(
            at("name"),
            "must match ^[a-zA-Z0-9_-]{1,64}$ (Claude drops every tool otherwise)",
        ));
    }
    if d.description.trim().is_empty() {
        return Err(SpecError::new(
            at("description"),
            "must not be empty: the model reads it to choose the tool",
        ));
    }
    let source = sources.get(&d.source).ok_or_else(|| {
        let known: Vec<&str> = sources.keys().map(String::as_str).collect();
        SpecError::new(
            at("source"),
            format!("no [sources.{}] (declared: {})", d.source, known.join(", ")),
        )
    })?;
    let read_only = d.read_only.unwrap_or(true);
    let destructive = match (read_only, d.destructive) {
        (true, Some(true)) => {
            return Err(SpecError::new(
                at("destructive"),
                "a read_only tool cannot be destructive",
            ));
        }
        (true, _) => false,
        (false, Some(x)) => x,
        (false, None) => {
            return Err(SpecError::new(
                at("destructive"),
                "a tool with read_only = false must say destructive = true or false",
            ));
        }
    };
    let mut params = Vec::new();
    for (pname, p) in std::mem::take(&mut d.parameters) {
        params.push(param(&at(&format!("parameters.{pname}")), &pname, p)?);
    }
    let kind = d.kind.as_deref().unwrap_or(match source.kind {
        SourceKind::Sql(_) => "sql",
        SourceKind::Http(_) => "http",
    });
    let declared: BTreeSet<&str> = params.iter().map(|p| p.name.as_str()).collect();
    if kind == "sql" && read_only && declared.contains(super::catalog::CURSOR_ARG) {
        return Err(SpecError::new(
            at("parameters.cursor"),
            "`cursor` is reserved: read tools take it for the next page",
        ));
    }
    let action = match (kind, &source.kind) {
        ("sql", SourceKind::Sql(sql)) => {
            for k in [
                ("method", d.method.is_some()),
                ("path", d.path.is_some()),
                ("query", d.query.is_some()),
                ("body", d.body.is_some()),
            ] {
                if k.1 {
                    return Err(SpecError::new(at(k.0), "only for kind = \"http\""));
                }
            }
            let statement = d
                .statement
                .ok_or_else(|| SpecError::new(at("statement"), "is required for an SQL tool"))?;
            let span = statement.span();
            let text = statement.into_inner();
            if text.trim().is_empty() {
                return Err(SpecError::new(at("statement"), "is empty").with_span(span));
            }
            let segments = placeholder::scan(&text, sql.engine);
            check_placeholders(
                &at("statement"),
                placeholder::names(&segments).map(|(n, _)| n),
                &declared,
            )
            .map_err(|e| e.with_span(span.clone()))?;
            Action::Sql(SqlStatement {
                text,
                engine: sql.engine,
                segments,
            })
        }
        ("http", SourceKind::Http(_)) => {
            if d.statement.is_some() {
                return Err(SpecError::new(at("statement"), "only for SQL tools"));
            }
            Action::Http(http_request(&at, &d, &params, &declared)?)
        }
        ("sql" | "http", _) => {
            return Err(SpecError::new(
                at("kind"),
                format!("`{kind}` does not match [sources.{}]", d.source),
            ));
        }
        (other, _) => {
            return Err(SpecError::new(
                at("kind"),
                format!("`{other}` is not one of: sql, http"),
            ));
        }
    };
    let columns = match d.columns {
        None => None,
        Some(map) => Some(
            map.into_iter()
                .map(|(c, t)| {
                    JsonType::parse(&t).map(|t| (c.clone(), t)).ok_or_else(|| {
                        SpecError::new(
                            at(&format!("columns.{c}")),
                            format!("`{t}` is not one of: string, integer, number, boolean, any"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(ToolDef {
        title: d.title.unwrap_or_else(|| name.replace('_', " ")),
        description: d.description,
        source: d.source,
        read_only,
        destructive,
        idempotent: d.idempotent.unwrap_or(read_only),
        params,
        action,
        max_rows: bounded(&at("max_rows"), d.max_rows, DEFAULT_MAX_ROWS, 1, 10_000)?,
        max_chars: bounded(
            &at("max_chars"),
            d.max_chars,
            DEFAULT_MAX_CHARS,
            1_000,
            1_000_000,
        )?,
        columns,
        name,
    })
}

fn bounded(
    at: &str,
    v: Option<usize>,
    default: usize,
    lo: usize,
    hi: usize,
) -> Result<usize, SpecError> {
    let v = v.unwrap_or(default);
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(SpecError::new(at, format!("must be between {lo} and {hi}")))
    }
}

/// Every placeholder is declared or a context name; every declared
/// parameter is used.
fn check_placeholders<'a>(
    at: &str,
    used: impl Iterator<Item = &'a str>,
    declared: &BTreeSet<&str>,
) -> Result<(), SpecError> {
    let used: BTreeSet<&str> = used.collect();
    for u in &used {
        if u.starts_with('_') {
            if !CONTEXT_PARAMS.contains(u) {
                return Err(SpecError::new(
                    at,
                    format!(
                        "`:{u}` is not a caller-context name (those are {})",
                        CONTEXT_PARAMS.join(", ")
                    ),
                ));
            }
        } else if !declared.contains(u) {
            return Err(SpecError::new(
                at,
                format!("placeholder `:{u}` has no [tools.parameters.{u}]"),
            ));
        }
    }
    if let Some(unused) = declared.iter().find(|p| !used.contains(*p)) {
        return Err(SpecError::new(
            at,
            format!("parameter `{unused}` is declared but the statement has no `:{unused}`"),
        ));
    }
    Ok(())
}

fn http_request(
    at: &dyn Fn(&str) -> String,
    d: &ToolDecl,
    params: &[ParamDef],
    declared: &BTreeSet<&str>,
) -> Result<HttpRequestSpec, SpecError> {
    let method = match d
        .method
        .as_deref()
        .unwrap_or("GET")
        .to_ascii_uppercase()
        .as_str()
    {
        "GET" => http::Method::GET,
        "POST" => http::Method::POST,
        "PUT" => http::Method::PUT,
        "PATCH" => http::Method::PATCH,
        "DELETE" => http::Method::DELETE,
        other => {
            return Err(SpecError::new(
                at("method"),
                format!("`{other}` is not one of: GET, POST, PUT, PATCH, DELETE"),
            ));
        }
    };
    let (path_text, span) = match &d.path {
        Some(p) => (p.get_ref().clone(), Some(p.span())),
        None => (String::new(), None),
    };
    let path = parse_path(&path_text).map_err(|m| {
        let e = SpecError::new(at("path"), m);
        match &span {
            Some(s) => e.with_span(s.clone()),
            None => e,
        }
    })?;
    let in_path: BTreeSet<&str> = path
        .iter()
        .filter_map(|p| match p {
            PathPiece::Param(n) => Some(n.as_str()),
            PathPiece::Text(_) => None,
        })
        .collect();
    for p in &in_path {
        if !declared.contains(p) && !CONTEXT_PARAMS.contains(p) {
            return Err(SpecError::new(
                at("path"),
                format!("`{{{p}}}` has no [tools.parameters.{p}]"),
            ));
        }
    }
    let rest: Vec<String> = params
        .iter()
        .map(|p| p.name.clone())
        .filter(|n| !in_path.contains(n.as_str()))
        .collect();
    let sends_body = matches!(
        method,
        http::Method::POST | http::Method::PUT | http::Method::PATCH
    );
    let query = d
        .query
        .clone()
        .unwrap_or_else(|| if sends_body { Vec::new() } else { rest.clone() });
    let body = d
        .body
        .clone()
        .unwrap_or_else(|| if sends_body { rest.clone() } else { Vec::new() });
    for (k, list) in [("query", &query), ("body", &body)] {
        if let Some(bad) = list.iter().find(|n| !declared.contains(n.as_str())) {
            return Err(SpecError::new(
                at(k),
                format!("`{bad}` is not a declared parameter"),
            ));
        }
    }
    if let Some(unused) = rest
        .iter()
        .find(|n| !query.contains(n) && !body.contains(n))
    {
        return Err(SpecError::new(
            at("parameters"),
            format!("parameter `{unused}` is not sent (not in path, query or body)"),
        ));
    }
    Ok(HttpRequestSpec {
        method,
        path,
        query,
        body,
    })
}

/// `/tickets/{id}/comments` → text and parameter pieces.
fn parse_path(text: &str) -> Result<Vec<PathPiece>, String> {
    if text.contains(['?', '#']) {
        return Err("no query or fragment in a path; use `query = [...]`".to_owned());
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(PathPiece::Text(rest[..open].to_owned()));
        }
        let close = rest[open..].find('}').ok_or("`{` without `}`")? + open;
        let name = &rest[open + 1..close];
        if !valid_name(name) {
            return Err(format!("`{{{name}}}` is not a parameter name"));
        }
        out.push(PathPiece::Param(name.to_owned()));
        rest = &rest[close + 1..];
    }
    if rest.contains('}') {
        return Err("`}` without `{`".to_owned());
    }
    if !rest.is_empty() {
        out.push(PathPiece::Text(rest.to_owned()));
    }
    Ok(out)
}

/// Validate one `[tools.parameters.NAME]`.
fn param(at: &str, name: &str, p: ParamDecl) -> Result<ParamDef, SpecError> {
    if name.starts_with('_') || !valid_name(name) || name.contains('-') {
        return Err(SpecError::new(
            at,
            "parameter names use letters, digits and `_`, and do not start with `_` (reserved for caller context)",
        ));
    }
    let (ty, is_enum) = match p.ty.as_str() {
        "enum" => (JsonType::String, true),
        t => match JsonType::parse(t) {
            Some(JsonType::Any) | None => {
                return Err(SpecError::new(
                    format!("{at}.type"),
                    format!("`{t}` is not one of: string, integer, number, boolean, enum"),
                ));
            }
            Some(t) => (t, false),
        },
    };
    let to_json = |key: &str, v: toml::Value| -> Result<serde_json::Value, SpecError> {
        let json = serde_json::to_value(&v)
            .map_err(|_| SpecError::new(format!("{at}.{key}"), "not a plain value"))?;
        if type_matches(ty, &json) {
            Ok(json)
        } else {
            Err(SpecError::new(
                format!("{at}.{key}"),
                format!("`{v}` is not a {}", ty.as_str()),
            ))
        }
    };
    let allowed = match p.allowed {
        Some(list) if list.is_empty() => {
            return Err(SpecError::new(format!("{at}.enum"), "must not be empty"));
        }
        Some(list) => Some(
            list.into_iter()
                .map(|v| to_json("enum", v))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None if is_enum => {
            return Err(SpecError::new(
                format!("{at}.enum"),
                "type = \"enum\" needs enum = [...]",
            ));
        }
        None => None,
    };
    let default = p.default.map(|v| to_json("default", v)).transpose()?;
    if ty == JsonType::Boolean && (p.minimum.is_some() || p.maximum.is_some()) {
        return Err(SpecError::new(
            format!("{at}.minimum"),
            "bounds need an integer or number",
        ));
    }
    if ty == JsonType::String && (p.minimum.is_some() || p.maximum.is_some()) {
        return Err(SpecError::new(
            format!("{at}.minimum"),
            "strings take min_length and max_length",
        ));
    }
    if ty != JsonType::String && (p.min_length.is_some() || p.max_length.is_some()) {
        return Err(SpecError::new(
            format!("{at}.min_length"),
            "only strings have a length",
        ));
    }
    if let (Some(lo), Some(hi)) = (p.minimum, p.maximum)
        && lo > hi
    {
        return Err(SpecError::new(
            format!("{at}.minimum"),
            "is greater than maximum",
        ));
    }
    if let (Some(lo), Some(hi)) = (p.min_length, p.max_length)
        && lo > hi
    {
        return Err(SpecError::new(
            format!("{at}.min_length"),
            "is greater than max_length",
        ));
    }
    let def = ParamDef {
        name: name.to_owned(),
        ty,
        description: p.description,
        required: p.required.unwrap_or(default.is_none()),
        default,
        allowed,
        minimum: p.minimum,
        maximum: p.maximum,
        min_length: p.min_length,
        max_length: p.max_length,
    };
    if let Some(v) = &def.default {
        super::args::check_value(&def, v)
            .map_err(|m| SpecError::new(format!("{at}.default"), m))?;
    }
    Ok(def)
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
