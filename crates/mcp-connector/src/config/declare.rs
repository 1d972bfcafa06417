//! `[sources.NAME]` and `[[tools]]`: the validation of config-defined tools
//! (their file shape is in [`super::file`]) into [`crate::config::spec`] types.

use std::collections::BTreeMap;

use super::file::{SourceSection, ToolsSection};
use super::spec::{self, Declared};
use super::{AuthMode, ConfigError, ToolSettings, Unconfirmed};

/// The validated tool part of the config: settings of built-in tools, the
/// per-tool approval lifetimes and the declared tools (if any).
pub(super) type ToolsParts = (
    BTreeMap<String, ToolSettings>,
    BTreeMap<String, u64>,
    Option<Declared>,
);

/// Validate `tools` and `sources`. A destructive tool whose `unconfirmed`
/// is not set is approved in the browser when users sign in to the
/// connector (`auth.mode = "oauth"`), refused otherwise; `approve` without
/// OAuth is an error, since nobody could sign in to approve.
pub(super) fn tools(
    tools: ToolsSection,
    sources: BTreeMap<String, SourceSection>,
    mode: AuthMode,
) -> Result<ToolsParts, ConfigError> {
    let default = if mode == AuthMode::OAuth {
        Unconfirmed::Approve
    } else {
        Unconfirmed::Refuse
    };
    let parts = validate(tools, sources, default)?;
    if mode != AuthMode::OAuth
        && let Some(name) = parts
            .0
            .iter()
            .find(|(_, t)| t.unconfirmed == Unconfirmed::Approve)
            .map(|(n, _)| n)
    {
        return Err(ConfigError::invalid(
            "tools.*.unconfirmed",
            format!(
                "[tools.{name}] unconfirmed = `approve` needs auth.mode = \"oauth\": the approver signs in to the connector"
            ),
        ));
    }
    Ok(parts)
}

fn validate(
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
