//! `[sources.NAME]` and `[[tools]]`: the file shape of config-defined tools
//! and its validation into [`crate::declared::spec`] types.
//!
//! `tools` is either an array of tables (tools declared here) or a table of
//! tables (`[tools.NAME]` settings of the built-in demo tools); TOML cannot
//! hold both under one key, so the deserializer looks at which one it got.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use toml::Spanned;

use super::{ConfigError, ToolSettings};
use crate::declared::spec::{self, Declared};
use crate::mcp::guard::Unconfirmed;

/// `tools` in the file.
#[derive(Debug, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ToolsSection {
    /// `[[tools]]`: tools served from `[sources.NAME]`.
    Declared(Vec<ToolDecl>),
    /// `[tools.NAME]`: settings of the built-in tools.
    Settings(BTreeMap<String, ToolSection>),
}

impl Default for ToolsSection {
    fn default() -> Self {
        Self::Settings(BTreeMap::new())
    }
}

impl<'de> Deserialize<'de> for ToolsSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ToolsSection;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[[tools]] entries or [tools.NAME] tables")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Self::Value, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(ToolsSection::Declared)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                BTreeMap::deserialize(MapAccessDeserializer::new(map)).map(ToolsSection::Settings)
            }
        }
        d.deserialize_any(V)
    }
}

/// `[tools.NAME]`: settings of a built-in tool.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolSection {
    /// `false` hides the tool and refuses calls to it.
    pub enabled: Option<bool>,
    /// For destructive tools when the client cannot ask the user to
    /// confirm: `approve` (a person approves the call in the browser; the
    /// default with `auth.mode = "oauth"`), `refuse` (the default otherwise)
    /// or `allow`.
    pub unconfirmed: Option<String>,
    /// How long an approval request of this tool may be approved and used,
    /// in seconds (default `safety.approval_ttl_secs`).
    pub approval_ttl_secs: Option<u64>,
}

/// `[sources.NAME]`: a database (`sqlite://`, `postgres://`, `mysql://`,
/// `mariadb://`) or an HTTP API (`http://`, `https://`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    /// Connection URL or API base URL; `${ENV_VAR}` is replaced by the
    /// variable's value (keep passwords out of the file).
    pub url: String,
    /// Database: connections in this source's pool (default 4).
    pub max_connections: Option<u32>,
    /// Database: statement time limit in seconds (default 10).
    pub statement_timeout_secs: Option<u64>,
    /// HTTP: hosts tools may reach (default: the URL's host). Checked again
    /// on the resolved address, and on every redirect.
    pub allow_hosts: Option<Vec<String>>,
    /// HTTP: headers sent with every request; values may use `${ENV_VAR}`.
    pub headers: Option<BTreeMap<String, String>>,
    /// HTTP: time limit for one request in seconds (default 10).
    pub timeout_secs: Option<u64>,
    /// HTTP: largest response body read, in bytes (default 1 MiB).
    pub max_response_bytes: Option<usize>,
}

/// `[[tools]]`: a tool declared in the config file.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolDecl {
    /// Tool name, `^[a-zA-Z0-9_-]{1,64}$`.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// `sql` (default) or `http`.
    pub kind: Option<String>,
    /// The `[sources.NAME]` it runs against.
    pub source: String,
    pub title: Option<String>,
    /// What the tool does, for the model: say what it returns and when to use it.
    pub description: String,
    /// SQL with `:name` placeholders (bound, never spliced).
    #[schemars(with = "Option<String>")]
    pub statement: Option<Spanned<String>>,
    /// Whether the tool changes nothing. Default `true` for SQL tools (run on
    /// a connection that cannot write) and HTTP GET; required for other HTTP
    /// methods.
    pub read_only: Option<bool>,
    /// Required when `read_only = false`: whether the tool deletes or overwrites.
    pub destructive: Option<bool>,
    /// Whether repeating a call has no further effect (default: `read_only`).
    pub idempotent: Option<bool>,
    /// `false` hides the tool.
    pub enabled: Option<bool>,
    /// Destructive tools when the user cannot confirm: `approve` (default
    /// with `auth.mode = "oauth"`), `refuse` (default otherwise) or `allow`.
    pub unconfirmed: Option<String>,
    /// Lifetime of this tool's approval requests in seconds (default
    /// `safety.approval_ttl_secs`).
    pub approval_ttl_secs: Option<u64>,
    /// Rows per page (default 100); further rows come with a cursor.
    pub max_rows: Option<usize>,
    /// Characters of rendered output per page (default 150000).
    pub max_chars: Option<usize>,
    /// Result columns and their JSON types (`string`, `integer`, `number`,
    /// `boolean`, `any`); probed from the database when absent.
    pub columns: Option<BTreeMap<String, String>>,
    /// HTTP: method (default GET).
    pub method: Option<String>,
    /// HTTP: path under the source URL, `{param}` segments percent-encoded.
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// HTTP: parameters sent as the query string (default: the ones not in
    /// the path, for GET and DELETE).
    pub query: Option<Vec<String>>,
    /// HTTP: parameters sent as a JSON object body (default: the ones not in
    /// the path, for POST, PUT and PATCH).
    pub body: Option<Vec<String>>,
    /// Parameters, `[tools.parameters.NAME]`.
    #[serde(default)]
    pub parameters: BTreeMap<String, ParamDecl>,
}

/// `[tools.parameters.NAME]`
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamDecl {
    /// `string`, `integer`, `number`, `boolean` or `enum` (a string from `enum`).
    #[serde(rename = "type")]
    pub ty: String,
    pub description: Option<String>,
    /// Used when the argument is absent (which makes it optional).
    #[schemars(with = "Option<serde_json::Value>")]
    pub default: Option<toml::Value>,
    /// `false` makes it optional without a default (bound as NULL).
    pub required: Option<bool>,
    /// Allowed values.
    #[serde(rename = "enum")]
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub allowed: Option<Vec<toml::Value>>,
    /// Inclusive bounds of a number or integer.
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    /// Length bounds of a string, in characters.
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
}

/// The validated tool part of the config: settings of built-in tools, the
/// per-tool approval lifetimes and the declared tools (if any).
pub(super) type ToolsParts = (
    BTreeMap<String, ToolSettings>,
    BTreeMap<String, u64>,
    Option<Declared>,
);

/// Validate `tools` and `sources`. `default` is the policy of a destructive
/// tool whose `unconfirmed` is not set.
pub(super) fn tools(
    tools: ToolsSection,
    sources: BTreeMap<String, SourceSection>,
    default: Unconfirmed,
) -> Result<ToolsParts, ConfigError> {
    let mut ttls = BTreeMap::new();
    match tools {
        ToolsSection::Settings(map) => {
            if let Some(name) = sources.keys().next() {
                return Err(ConfigError::Invalid {
                    key: "sources",
                    message: format!("[sources.{name}] is declared but no [[tools]] use it"),
                });
            }
            let mut out = BTreeMap::new();
            for (name, t) in map {
                let unconfirmed =
                    unconfirmed(t.unconfirmed.as_deref(), default).map_err(|message| {
                        ConfigError::invalid(
                            "tools.*.unconfirmed",
                            format!("[tools.{name}] {message}"),
                        )
                    })?;
                if let Some(secs) = t.approval_ttl_secs {
                    let secs = approval_ttl(secs).map_err(|message| {
                        ConfigError::invalid(
                            "tools.*.approval_ttl_secs",
                            format!("[tools.{name}] {message}"),
                        )
                    })?;
                    ttls.insert(name.clone(), secs);
                }
                out.insert(
                    name,
                    ToolSettings {
                        enabled: t.enabled.unwrap_or(true),
                        unconfirmed,
                    },
                );
            }
            Ok((out, ttls, None))
        }
        ToolsSection::Declared(decls) => {
            let mut specs = BTreeMap::new();
            for (name, s) in sources {
                let source = spec::source(&name, s, &|var| std::env::var(var).ok())
                    .map_err(|e| e.into_config(None))?;
                specs.insert(name, source);
            }
            let mut settings = BTreeMap::new();
            let mut defs = Vec::with_capacity(decls.len());
            for (i, decl) in decls.into_iter().enumerate() {
                let span = decl.name.span();
                let name = decl.name.get_ref().clone();
                let u = unconfirmed(decl.unconfirmed.as_deref(), default).map_err(|message| {
                    ConfigError::Tool {
                        at: format!("tools[{i}] ({name}).unconfirmed"),
                        span: Some(span.clone()),
                        line: None,
                        message,
                    }
                })?;
                if let Some(secs) = decl.approval_ttl_secs {
                    let secs = approval_ttl(secs).map_err(|message| ConfigError::Tool {
                        at: format!("tools[{i}] ({name}).approval_ttl_secs"),
                        span: Some(span.clone()),
                        line: None,
                        message,
                    })?;
                    ttls.insert(name.clone(), secs);
                }
                settings.insert(
                    name.clone(),
                    ToolSettings {
                        enabled: decl.enabled.unwrap_or(true),
                        unconfirmed: u,
                    },
                );
                let def = spec::tool(i, decl, &specs).map_err(|e| e.into_config(Some(span)))?;
                if defs.iter().any(|d: &spec::ToolDef| d.name == def.name) {
                    return Err(ConfigError::Tool {
                        at: format!("tools[{i}] ({name}).name"),
                        span: None,
                        line: None,
                        message: format!("tool `{name}` is declared twice"),
                    });
                }
                defs.push(def);
            }
            if let Some(unused) = specs.keys().find(|s| !defs.iter().any(|d| &d.source == *s)) {
                tracing::warn!(source = %unused, "[sources.{unused}] is not used by any tool");
            }
            Ok((
                settings,
                ttls,
                Some(Declared {
                    sources: specs,
                    tools: defs,
                }),
            ))
        }
    }
}

/// Bounds of an approval request's lifetime: long enough to open a link
/// and sign in, short enough that a forgotten link goes stale.
pub(super) fn approval_ttl(secs: u64) -> Result<u64, String> {
    if (60..=86_400).contains(&secs) {
        Ok(secs)
    } else {
        Err(format!(
            "approval_ttl_secs = {secs} must be between 60 and 86400"
        ))
    }
}

fn unconfirmed(text: Option<&str>, default: Unconfirmed) -> Result<Unconfirmed, String> {
    match text {
        None => Ok(default),
        Some("refuse") => Ok(Unconfirmed::Refuse),
        Some("allow") => Ok(Unconfirmed::Allow),
        Some("approve") => Ok(Unconfirmed::Approve),
        Some(other) => Err(format!(
            "unconfirmed = `{other}` is not one of: approve, refuse, allow"
        )),
    }
}

/// 1-based line of byte `offset` in `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |before| before.matches('\n').count() + 1)
}

/// The line of the key an error is about (`at` = `tools[2] (x).read_only`,
/// `tools[0] (x).parameters.p.type`), found in `text`;
/// `near` is an offset inside the tool's table (its `name`). Only some
/// values carry their own span, and the tool's `name =` line says little
/// about a wrong `read_only` ten lines further down. `None` when the key is
/// not written out on a line of its own (inline tables, absent keys).
pub(super) fn key_line(text: &str, at: &str, near: Option<usize>) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let header = |l: &str| l.trim_start().starts_with('[');
    let key_at = |l: &str, key: &str| {
        l.trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    // The first line at or after `from`, before the next table header
    // (`from` itself may be one), holding `key = …`.
    let find_key = |from: usize, key: &str| {
        lines
            .iter()
            .enumerate()
            .skip(from)
            .take_while(|(n, l)| *n == from || !header(l))
            .find(|(_, l)| key_at(l, key))
            .map(|(n, _)| n + 1)
    };
    let find_header = |from: usize, to: usize, name: &str| {
        (from..to.min(lines.len())).find(|n| {
            let l = lines[*n].trim();
            l.strip_prefix('[')
                .and_then(|l| l.strip_suffix(']'))
                .is_some_and(|h| h.trim() == name)
        })
    };
    let (_, path) = at.split_once(").")?;
    let near = line_of(text, near?) - 1;
    // This tool's table: from its `[[tools]]` header to the next one.
    let is_tools = |n: &usize| lines[*n].trim() == "[[tools]]";
    let start = (0..=near.min(lines.len().saturating_sub(1)))
        .rev()
        .find(is_tools)
        .unwrap_or(0);
    let end = (near + 1..lines.len())
        .find(is_tools)
        .unwrap_or(lines.len());
    let mut parts = path.splitn(3, '.');
    let key = parts.next()?;
    match (key, parts.next(), parts.next()) {
        ("parameters" | "columns", Some(sub), field) => {
            let h = find_header(start, end, &format!("tools.{key}.{sub}"))?;
            match field {
                Some(f) => find_key(h, f).or(Some(h + 1)),
                None => Some(h + 1),
            }
        }
        // A missing `destructive` is asked for by `read_only = false`.
        ("destructive", ..) => find_key(start, key)
            .or_else(|| find_key(start, "read_only"))
            .filter(|n| *n <= end),
        _ => find_key(start, key).filter(|n| *n <= end),
    }
}

#[cfg(test)]
#[path = "declare_tests.rs"]
mod tests;
