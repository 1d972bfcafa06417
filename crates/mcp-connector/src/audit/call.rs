//! The `tools/call` hook: who called what, and what came back.

use std::net::IpAddr;
use std::time::Instant;

use mcp_connector_security::{random_token, sha256_hex};
use rmcp::model::{CallToolRequestParams, CallToolResponse, CallToolResult, Implementation};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};

use super::record::{AuditEvent, AuditKind};
use super::redact::redact;
use super::sink::AuditSink;
use crate::network::ClientIp;

/// Longest error text kept in a record, in characters.
const MAX_ERROR_CHARS: usize = 2000;

/// A tool call in progress: [`AuditSink::begin_call`] before it runs,
/// [`CallAudit::finish`] before its result is returned.
#[derive(Debug)]
pub struct CallAudit {
    sink: AuditSink,
    event: AuditEvent,
    started: Instant,
}

impl AuditSink {
    /// Start auditing a call; `None` when auditing is off.
    pub fn begin_call(
        &self,
        request: &CallToolRequestParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Option<CallAudit> {
        if !self.is_enabled() {
            return None;
        }
        let parts = ctx.extensions.get::<http::request::Parts>();
        let session_id = parts
            .and_then(|p| p.headers.get("mcp-session-id"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let source_ip: Option<IpAddr> = parts
            .and_then(|p| p.extensions.get::<ClientIp>())
            .or_else(|| ctx.extensions.get::<ClientIp>())
            .map(|ip| ip.0);
        // Stateless requests without `initialize` get a placeholder
        // `clientInfo` from rmcp; that is no client's name.
        let placeholder = Implementation::default();
        let client = ctx
            .meta
            .client_info()
            .or_else(|| ctx.peer.peer_info().map(|p| p.client_info.clone()))
            .filter(|i| i.name != placeholder.name || i.version != placeholder.version)
            .map(|i| i.name);
        let arguments = request
            .arguments
            .as_ref()
            .map(|a| redact(&serde_json::Value::Object(a.clone()), self.redact_fields()));
        let mut event = AuditEvent::now(AuditKind::ToolCall);
        event.tool = Some(request.name.to_string());
        event.arguments = arguments;
        event.session_id = session_id;
        event.source_ip = source_ip;
        // The authenticated subject; the OAuth client id stands in for a
        // client that declared no name (stateless requests often do not).
        let principal =
            parts.and_then(|p| p.extensions.get::<crate::config::principal::Principal>());
        event.subject = principal.map(|p| p.subject.to_string());
        event.client = client.or_else(|| {
            principal
                .filter(|p| !p.client_id.is_empty())
                .map(|p| p.client_id.to_string())
        });
        Some(CallAudit {
            sink: self.clone(),
            event,
            started: Instant::now(),
        })
    }
}

impl CallAudit {
    /// Prompt-injection flags raised on the result (rule names, never text).
    pub fn set_flags<'a>(&mut self, flags: impl IntoIterator<Item = &'a str>) {
        let flags: Vec<String> = flags.into_iter().map(str::to_owned).collect();
        self.event.flags = (!flags.is_empty()).then_some(flags);
    }

    /// Record the outcome, then hand it back. If the record cannot be
    /// committed the call fails closed: the client gets an internal error,
    /// never an unaudited result.
    pub async fn finish(
        self,
        response: Result<CallToolResponse, McpError>,
    ) -> Result<CallToolResponse, McpError> {
        let mut event = self.event;
        event.duration_ms =
            Some(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX));
        match &response {
            Ok(CallToolResponse::Complete(result)) => {
                let bytes = serde_json::to_vec(result).unwrap_or_default();
                event.result = Some((sha256_hex(&bytes), bytes.len() as u64));
                event.is_error = result.is_error.unwrap_or(false);
                if event.is_error {
                    event.error = Some(error_text(result));
                }
            }
            Ok(_) => {
                // Confirmation or other client input is needed: nothing ran.
                event.error = Some("needs client input; the tool did not run".into());
            }
            Err(e) => {
                event.is_error = true;
                event.error = Some(truncate(&e.message));
            }
        }
        match self.sink.record(event).await {
            Ok(()) => response,
            Err(e) => {
                let reference = random_token(6);
                tracing::error!(error_ref = %reference, error = %e, "tool call not audited; result withheld");
                Err(McpError::internal_error(
                    format!(
                        "Internal error (reference {reference}): the call could not be recorded"
                    ),
                    None,
                ))
            }
        }
    }
}

/// The text blocks of an error result.
fn error_text(result: &CallToolResult) -> String {
    let text: Vec<&str> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    truncate(&text.join("\n"))
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
