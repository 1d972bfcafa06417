//! The one record of each `tools/call` outside the audit trail: a counter
//! and histogram sample ([`crate::telemetry::metrics`]) and one INFO log
//! line with the principal, tool, outcome, duration and correlation id.

use std::time::{Duration, Instant};

use rmcp::RoleServer;
use rmcp::service::RequestContext;

use crate::telemetry::Metrics;
use crate::telemetry::metrics::{Outcome, UNKNOWN_TOOL};

/// Longest client-supplied tool name put in a log line, in characters.
const MAX_LOGGED_NAME: usize = 64;

/// What [`super::handler`] learnt about a call while deciding it.
#[derive(Debug)]
pub struct CallReport {
    started: Instant,
    /// Whether the tool is one the caller may see (else `_unknown`).
    pub known: bool,
    pub outcome: Outcome,
    /// How long the tool itself ran; `None` when it did not run.
    pub ran_for: Option<Duration>,
    principal: String,
    correlation_id: String,
}

impl CallReport {
    /// Start the report of a call made in `ctx`. Refused until decided.
    pub fn begin(ctx: &RequestContext<RoleServer>) -> Self {
        let parts = ctx.extensions.get::<http::request::Parts>();
        let correlation_id = parts
            .and_then(|p| p.headers.get("x-request-id"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let principal = crate::config::principal::of_request(ctx)
            .map(|p| p.subject.to_string())
            .unwrap_or_else(|| "anonymous".to_owned());
        Self {
            started: Instant::now(),
            known: true,
            outcome: Outcome::Refused,
            ran_for: None,
            principal,
            correlation_id,
        }
    }

    /// The call was answered (`audited_ok`: with a result, after its audit
    /// record): count it and log it. A result the audit trail withheld is a tool error.
    pub fn finish(mut self, metrics: &Metrics, requested: &str, audited_ok: bool) {
        if !audited_ok && matches!(self.outcome, Outcome::Ok) {
            self.outcome = Outcome::ToolError;
        }
        let tool = if self.known { requested } else { UNKNOWN_TOOL };
        metrics.tool_call(tool, self.outcome, self.ran_for);
        let duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let outcome = self.outcome.as_str();
        if self.known {
            tracing::info!(principal = %self.principal, tool, outcome, duration_ms, correlation_id = %self.correlation_id, "tool call");
        } else {
            // The name is the client's: truncated and escaped (Debug).
            let requested: String = requested.chars().take(MAX_LOGGED_NAME).collect();
            tracing::info!(principal = %self.principal, tool, ?requested, outcome, duration_ms, correlation_id = %self.correlation_id, "tool call");
        }
    }
}
