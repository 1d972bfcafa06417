//! Behavioural drift: the served tools compared with a reviewed manifest.
//!
//! A user grants a connector's tools once; the model then acts on whatever
//! their descriptions and schemas say *today*. A changed description is a
//! changed instruction to the model, so an operator can pin the tools with
//! `mcp-connector tools lock`, see changes with `tools diff`, and have
//! `serve` warn about or refuse a tool set that differs from the lock.
//!
//! The lock is JSON with sorted keys, so it diffs cleanly in code review.
//! Each tool carries the fields the model sees plus a SHA-256 digest of them,
//! and the file carries a digest over all tools: two servers with the same
//! overall digest serve the same tools. The comparison itself is by field
//! value, so a hand-edited lock is compared on what it says, not on digests
//! that might not have been updated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rmcp::model::Tool;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::safety::DriftMode;

/// Where `tools lock` writes and `tools diff` reads when no path is given.
pub const DEFAULT_LOCK_FILE: &str = "mcp-connector.tools.lock";
/// Version of the lock format.
const FORMAT: u32 = 1;
/// The fields compared, in report order.
const FIELDS: [&str; 6] = [
    "name",
    "title",
    "description",
    "input_schema",
    "output_schema",
    "annotations",
];

/// Why a lock could not be read, written or honoured.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error("cannot read tool lock {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write tool lock {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("tool lock {path} is not a lock written by `mcp-connector tools lock`: {message}")]
    Parse { path: PathBuf, message: String },
    #[error(
        "safety.drift = \"refuse\": the served tools differ from safety.tools_lock ({path}): {summary}. \
         Review the change, then accept it with `mcp-connector tools lock --out {path}`"
    )]
    Refused { path: PathBuf, summary: String },
}

/// The manifest `tools lock` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolLock {
    pub format: u32,
    /// SHA-256 over every tool's name and digest.
    pub digest: String,
    /// By name (a `BTreeMap`, so the file's order is stable).
    pub tools: BTreeMap<String, LockedTool>,
}

/// One tool in the lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedTool {
    /// SHA-256 of the canonical JSON of [`Self::fields`].
    pub digest: String,
    /// `name`, `title`, `description`, `input_schema`, `output_schema`,
    /// `annotations` (`null` when absent).
    #[serde(flatten)]
    pub fields: BTreeMap<String, Value>,
}

impl ToolLock {
    /// The lock of `tools` as served now.
    pub fn of<'a>(tools: impl IntoIterator<Item = &'a Tool>) -> Self {
        let tools: BTreeMap<String, LockedTool> = tools
            .into_iter()
            .map(|t| (t.name.to_string(), LockedTool::of(t)))
            .collect();
        Self {
            format: FORMAT,
            digest: overall_digest(&tools),
            tools,
        }
    }

    /// Pretty JSON with sorted keys and a final newline.
    pub fn to_json(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        let mut text = serde_json::to_string_pretty(&sorted(value)).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Read a lock file.
    pub fn read(path: &Path) -> Result<Self, DriftError> {
        let text = std::fs::read_to_string(path).map_err(|source| DriftError::Read {
            path: path.to_owned(),
            source,
        })?;
        let parse = |message: String| DriftError::Parse {
            path: path.to_owned(),
            message,
        };
        let lock: Self = serde_json::from_str(&text).map_err(|e| parse(e.to_string()))?;
        if lock.format != FORMAT {
            return Err(parse(format!(
                "format {} is not supported (this release writes {FORMAT})",
                lock.format
            )));
        }
        Ok(lock)
    }

    /// Write the lock to `path`, replacing it atomically (a crash never
    /// leaves half a lock that `serve` would then refuse).
    pub fn write(&self, path: &Path) -> Result<(), DriftError> {
        let err = |source| DriftError::Write {
            path: path.to_owned(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, self.to_json()).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

impl LockedTool {
    fn of(tool: &Tool) -> Self {
        // Serializing a `Tool` cannot fail (string keys only); `Null` would
        // show up as drift rather than pass silently.
        let json = serde_json::to_value(tool).unwrap_or(Value::Null);
        let get = |key: &str| sorted(json.get(key).cloned().unwrap_or(Value::Null));
        let fields: BTreeMap<String, Value> = [
            ("name", get("name")),
            ("title", get("title")),
            ("description", get("description")),
            ("input_schema", get("inputSchema")),
            ("output_schema", get("outputSchema")),
            ("annotations", get("annotations")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Self {
            digest: digest_of(&fields),
            fields,
        }
    }
}

/// A value with every object's keys in sorted order, whatever the map type
/// serde_json was built with.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let ordered: BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(ordered.into_iter().collect::<Map<_, _>>())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn digest_of(fields: &BTreeMap<String, Value>) -> String {
    let canonical =
        serde_json::to_string(&sorted(serde_json::to_value(fields).unwrap_or_default()))
            .unwrap_or_default();
    format!(
        "sha256:{}",
        mcp_connector_security::sha256_hex(canonical.as_bytes())
    )
}

fn overall_digest(tools: &BTreeMap<String, LockedTool>) -> String {
    let pairs: BTreeMap<String, Value> = tools
        .iter()
        .map(|(name, t)| (name.clone(), Value::String(digest_of(&t.fields))))
        .collect();
    digest_of(&pairs)
}

/// A tool whose fields differ from the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedTool {
    pub name: String,
    /// The differing fields, in lock order (`description`, `input_schema`, …).
    pub fields: Vec<&'static str>,
}

/// The difference between a lock and the live tools. Empty means no drift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftReport {
    /// Served now, not in the lock.
    pub added: Vec<String>,
    /// In the lock, not served now.
    pub removed: Vec<String>,
    pub changed: Vec<ChangedTool>,
    /// Overall digest of the lock's tools (recomputed from their fields).
    pub locked_digest: String,
    /// Overall digest of the live tools.
    pub live_digest: String,
}

impl DriftReport {
    /// Compare `live` with `locked`.
    pub fn compare(locked: &ToolLock, live: &ToolLock) -> Self {
        let added = live
            .tools
            .keys()
            .filter(|n| !locked.tools.contains_key(*n))
            .cloned()
            .collect();
        let removed = locked
            .tools
            .keys()
            .filter(|n| !live.tools.contains_key(*n))
            .cloned()
            .collect();
        let changed = live
            .tools
            .iter()
            .filter_map(|(name, now)| {
                let before = locked.tools.get(name)?;
                let fields: Vec<&'static str> = FIELDS
                    .into_iter()
                    .filter(|f| {
                        // Compare canonical forms: key order in a hand-edited
                        // lock is not a change.
                        let a = before.fields.get(*f).cloned().map(sorted);
                        let b = now.fields.get(*f).cloned().map(sorted);
                        a.unwrap_or(Value::Null) != b.unwrap_or(Value::Null)
                    })
                    .collect();
                (!fields.is_empty()).then(|| ChangedTool {
                    name: name.clone(),
                    fields,
                })
            })
            .collect();
        Self {
            added,
            removed,
            changed,
            locked_digest: overall_digest(&locked.tools),
            live_digest: live.digest.clone(),
        }
    }

    /// Whether the live tools match the lock.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// One line, for logs and the audit trail.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return format!("tools match the lock ({})", self.live_digest);
        }
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            parts.push(format!("added {}", self.added.join(", ")));
        }
        if !self.removed.is_empty() {
            parts.push(format!("removed {}", self.removed.join(", ")));
        }
        if !self.changed.is_empty() {
            let changed: Vec<String> = self
                .changed
                .iter()
                .map(|c| format!("{} ({})", c.name, c.fields.join(", ")))
                .collect();
            parts.push(format!("changed {}", changed.join(", ")));
        }
        parts.join("; ")
    }

    /// One line per difference, for `tools diff` and start-up warnings.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        lines.extend(self.added.iter().map(|n| format!("+ {n}: added")));
        lines.extend(self.removed.iter().map(|n| format!("- {n}: removed")));
        lines.extend(
            self.changed
                .iter()
                .map(|c| format!("~ {}: changed {}", c.name, c.fields.join(", "))),
        );
        lines
    }
}

/// The start-up check of `serve`: compare `live` with the configured lock
/// and apply `mode`. `Ok(report)` when serving may go on (the caller logs a
/// non-empty report as warnings).
pub fn check(path: &Path, mode: DriftMode, live: &ToolLock) -> Result<DriftReport, DriftError> {
    let locked = ToolLock::read(path)?;
    let report = DriftReport::compare(&locked, live);
    if mode == DriftMode::Refuse && !report.is_empty() {
        return Err(DriftError::Refused {
            path: path.to_owned(),
            summary: report.summary(),
        });
    }
    Ok(report)
}

/// `serve`'s start-up check when `safety.tools_lock` is set: records any
/// drift in the audit trail, then logs each difference as a warning, or
/// refuses under `drift = "refuse"`. Returns the report (`None` without a
/// lock). `live` is the lock of the tools served (`app::served_lock`).
pub async fn on_start(
    safety: &crate::safety::SafetyConfig,
    live: &ToolLock,
    audit: &crate::audit::AuditSink,
) -> Result<Option<DriftReport>, DriftError> {
    let Some(path) = &safety.tools_lock else {
        return Ok(None);
    };
    // Compare without refusing first, so that a refused start is audited too.
    let report = check(path, DriftMode::Warn, live)?;
    if report.is_empty() {
        tracing::info!(lock = %path.display(), digest = %report.live_digest, "served tools match the lock");
        return Ok(Some(report));
    }
    let mut event = crate::audit::AuditEvent::now(crate::audit::AuditKind::ToolDrift);
    event.is_error = safety.drift == DriftMode::Refuse;
    event.error = Some(report.summary());
    event.arguments = Some(serde_json::json!({
        "lock": path.display().to_string(),
        "locked_digest": report.locked_digest,
        "live_digest": report.live_digest,
        "changes": report.lines(),
    }));
    if let Err(e) = audit.record(event).await {
        // Start-up goes on (or stops) by the drift mode; the missing record
        // is itself worth an error line.
        tracing::error!(error = %e, "could not record tool drift in the audit trail");
    }
    if safety.drift == DriftMode::Refuse {
        return Err(DriftError::Refused {
            path: path.clone(),
            summary: report.summary(),
        });
    }
    for line in report.lines() {
        tracing::warn!(lock = %path.display(), "tool drift: {line}");
    }
    tracing::warn!(lock = %path.display(), summary = %report.summary(), "served tools differ from the lock (safety.drift = \"warn\")");
    Ok(Some(report))
}

#[cfg(test)]
#[path = "drift_tests.rs"]
mod tests;
