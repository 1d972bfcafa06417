//! What is recorded: [`AuditEvent`] in, [`AuditRecord`] stored.

use std::net::IpAddr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// The kind of an audited event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    ToolCall,
    /// The served tools differ from the tools lock (behavioural drift).
    ToolDrift,
    /// An authentication event: login, consent, token issued or revoked,
    /// client or user administration (`arguments.event` names which).
    Auth,
    /// A step of an out-of-band approval of a destructive call: request,
    /// approval, rejection, use, expiry (`arguments.event` names which,
    /// `arguments.approval` the request).
    Approval,
}

impl AuditKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToolCall => "tool_call",
            Self::ToolDrift => "tool_drift",
            Self::Auth => "auth",
            Self::Approval => "approval",
        }
    }
}

/// One event to record. Arguments must already be redacted
/// ([`super::redact::redact`]); the sink stores what it is given.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub time: SystemTime,
    pub kind: AuditKind,
    /// The authenticated subject (`user:<id>`, `client:<id>`, the identity
    /// provider's `sub`, or `operator` for the command-line verbs).
    pub subject: Option<String>,
    /// `clientInfo.name` as the client declared it (tool calls), or the
    /// OAuth client id (`auth` events).
    pub client: Option<String>,
    pub session_id: Option<String>,
    pub source_ip: Option<IpAddr>,
    pub tool: Option<String>,
    pub arguments: Option<serde_json::Value>,
    /// SHA-256 (hex) and size in bytes of the serialised result sent.
    pub result: Option<(String, u64)>,
    pub is_error: bool,
    pub error: Option<String>,
    pub duration_ms: Option<u64>,
    /// Prompt-injection flags raised on the result.
    pub flags: Option<Vec<String>>,
}

impl AuditEvent {
    /// An event of `kind` happening now, with every optional field empty.
    pub fn now(kind: AuditKind) -> Self {
        Self {
            time: SystemTime::now(),
            kind,
            subject: None,
            client: None,
            session_id: None,
            source_ip: None,
            tool: None,
            arguments: None,
            result: None,
            is_error: false,
            error: None,
            duration_ms: None,
            flags: None,
        }
    }
}

/// A row of `audit_log`, exactly as stored and hashed. This is also the JSON
/// Lines format of `audit tail` and `audit export`, so that anyone can
/// recompute the chain from an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct AuditRecord {
    pub seq: i64,
    pub time: String,
    pub kind: String,
    pub subject: Option<String>,
    pub client: Option<String>,
    pub session_id: Option<String>,
    pub source_ip: Option<String>,
    pub tool: Option<String>,
    /// JSON text.
    pub arguments: Option<String>,
    pub result_sha256: Option<String>,
    pub result_size: Option<i64>,
    pub is_error: bool,
    pub error: Option<String>,
    pub duration_ms: Option<i64>,
    /// JSON text.
    pub flags: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// `2026-11-25T08:43:03.123Z`. Text, not a database timestamp type, because
/// the stored bytes must be the hashed bytes on both backends.
pub fn rfc3339_millis(time: SystemTime) -> String {
    crate::clock::rfc3339_millis(time)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn formats_utc_with_millis() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_060_183_123);
        assert_eq!(rfc3339_millis(t), "2025-11-25T08:43:03.123Z");
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339_millis(leap), "2000-02-29T00:00:00.000Z");
    }
}
