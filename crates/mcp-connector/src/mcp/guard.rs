//! Guarded writes: which tools are served, and the user's confirmation
//! before a destructive one runs.
//!
//! * `server.read_only` hides every tool not annotated `readOnlyHint: true`,
//!   and `[tools.NAME] enabled = false` hides one tool. A hidden tool is
//!   refused exactly like an unknown one, so a client learns nothing from it.
//! * A tool annotated `destructiveHint: true` runs only after the user
//!   confirmed it through MCP elicitation: a server-to-client request in a
//!   stateful session (`--sessions`), or an `input_required` result in the
//!   2026-07-28 revision, whose `requestState` is sealed and bound to the
//!   exact tool, arguments and caller, expires after [`CONFIRM_TTL_SECS`]
//!   and is spent on first use (recorded in the database, so a replica
//!   that did not mint it refuses a replay too). A client that cannot ask the user (Claude
//!   today, any stateless legacy client) gets the tool's policy: approved
//!   by a person in the browser ([`super::approval`], the default when users
//!   sign in to the connector), refused with a message saying how to enable
//!   it (the default otherwise), or allowed. A client that declares
//!   URL-mode elicitation in a stateful session is asked to open that
//!   approval page itself.

use std::collections::{BTreeMap, HashMap, HashSet};

use mcp_connector_security::{Sealer, random_token, sha256_hex};
use rmcp::model::{
    CallToolResponse, ElicitRequestParams, ElicitationAction, ElicitationSchema, InputRequest,
    InputRequests, InputRequiredResult, JsonObject, Tool,
};
use serde_json::json;

use crate::catalog::ToolCtx;

pub use super::gate::Gate;
use super::gate::{declined, refusal};

/// `[tools.NAME] unconfirmed` is configuration, parsed at load.
pub use crate::config::Unconfirmed;

/// Which tools are served and how destructive ones are guarded.
#[derive(Debug, Clone, Default)]
pub struct ToolPolicy {
    pub read_only: bool,
    pub disabled: HashSet<String>,
    /// `[tools.NAME] unconfirmed`, where set.
    pub unconfirmed: HashMap<String, Unconfirmed>,
    /// The policy of the other destructive tools.
    pub default_unconfirmed: Unconfirmed,
    /// Approval lifetimes per tool, seconds; others use `approval_ttl_secs`.
    pub approval_ttls: HashMap<String, u64>,
    pub approval_ttl_secs: u64,
}

impl ToolPolicy {
    /// Whether `tool` is listed and callable.
    pub fn serves(&self, tool: &Tool) -> bool {
        if self.disabled.contains(tool.name.as_ref()) {
            return false;
        }
        !self.read_only || annotation(tool, |a| a.read_only_hint)
    }

    /// What a destructive `name` does when the user cannot be asked.
    pub fn unconfirmed(&self, name: &str) -> Unconfirmed {
        self.unconfirmed
            .get(name)
            .copied()
            .unwrap_or(self.default_unconfirmed)
    }

    /// How long an approval request for `name` lives, in seconds.
    pub fn approval_ttl(&self, name: &str) -> i64 {
        let secs = self
            .approval_ttls
            .get(name)
            .copied()
            .unwrap_or(self.approval_ttl_secs);
        i64::try_from(secs).unwrap_or(i64::MAX)
    }

    /// The definition `tools/list` shows: a tool answered with an approval
    /// link may return `{approval_url, expires_at}` as its structured
    /// content, so its output schema says so (clients validate it).
    /// With `view`, such a tool also links the approval view for MCP Apps
    /// hosts ([`super::approval_view`]).
    pub fn listed(&self, tool: &Tool, view: bool) -> Tool {
        let mut tool = tool.clone();
        if is_destructive(&tool) && self.unconfirmed(&tool.name) == Unconfirmed::Approve {
            tool.output_schema = tool
                .output_schema
                .map(|s| std::sync::Arc::new(super::approval::widen_output_schema(&s)));
            if view {
                super::approval_view::link(&mut tool);
            }
        }
        tool
    }
}

fn annotation(tool: &Tool, get: impl Fn(&rmcp::model::ToolAnnotations) -> Option<bool>) -> bool {
    tool.annotations.as_ref().and_then(get).unwrap_or(false)
}

/// Whether the tool declares itself destructive. MCP's default for a
/// missing hint on a writing tool is "destructive", so only an explicit
/// `false` (or a read-only tool) counts as safe.
pub fn is_destructive(tool: &Tool) -> bool {
    let a = tool.annotations.as_ref();
    let read_only = a.and_then(|a| a.read_only_hint).unwrap_or(false);
    !read_only && a.and_then(|a| a.destructive_hint).unwrap_or(true)
}

const CONFIRM_KEY: &str = "confirm";
/// How long a confirmation request may be answered.
pub const CONFIRM_TTL_SECS: i64 = 600;
const STATE_VERSION: &str = "confirm-v2";

/// What a confirmation state is sealed with and bound to.
pub struct Seal<'a> {
    pub sealer: &'a Sealer,
    /// Where spent states are recorded.
    pub db: &'a crate::store::Db,
    /// The token's subject (`""` without authentication).
    pub caller: &'a str,
    /// Out-of-band approval: who calls, where the page is, the audit trail.
    pub approval: super::approval::Context<'a>,
}

/// The sealing context binds a confirmation to one tool, one set of
/// arguments and one caller: a "yes" for removing employee 3 cannot be
/// replayed to remove 4, nor by another user.
fn seal_context(tool: &str, args: &JsonObject, caller: &str) -> String {
    let canonical = serde_json::to_string(args).unwrap_or_default();
    format!(
        "confirm:{tool}:{}:{}",
        sha256_hex(canonical.as_bytes()),
        sha256_hex(caller.as_bytes())
    )
}

/// `(issued_at, nonce)` of an opened state payload.
fn parse_payload(payload: &[u8]) -> Option<(i64, &str)> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut parts = text.splitn(3, ':');
    (parts.next()? == STATE_VERSION).then_some(())?;
    let issued = parts.next()?.parse().ok()?;
    Some((issued, parts.next()?))
}

fn confirm_message(tool: &Tool, args: &JsonObject) -> String {
    let title = tool
        .annotations
        .as_ref()
        .and_then(|a| a.title.clone())
        .unwrap_or_else(|| tool.name.to_string());
    format!(
        "Allow \"{title}\" to run with {}? This cannot be undone.",
        serde_json::Value::Object(args.clone())
    )
}

fn confirm_schema() -> Option<ElicitationSchema> {
    serde_json::from_value(json!({
        "type": "object",
        "properties": {"confirm": {"type": "boolean", "title": "Confirm", "description": "Run the action"}},
        "required": ["confirm"]
    }))
    .ok()
}

fn accepted(action: &ElicitationAction, content: Option<&serde_json::Value>) -> bool {
    matches!(action, ElicitationAction::Accept)
        && content
            .and_then(|c| c.get(CONFIRM_KEY))
            .and_then(serde_json::Value::as_bool)
            == Some(true)
}

/// Decide whether a destructive tool may run now.
pub async fn confirm(
    ctx: &ToolCtx,
    tool: &Tool,
    args: &JsonObject,
    policy: &ToolPolicy,
    seal: &Seal<'_>,
    sessions: bool,
) -> Gate {
    if !is_destructive(tool) {
        return Gate::Proceed;
    }
    let name = tool.name.as_ref();
    let can_elicit = ctx.client_capabilities.elicitation.is_some();
    let modern = ctx.request.meta.protocol_version().is_some();
    let can_open_url = ctx
        .client_capabilities
        .elicitation
        .as_ref()
        .is_some_and(|e| e.url.is_some());
    // URL mode wins over a form where the tool is to be approved: a person
    // signed in to the connector decides on the page, not the client's UI.
    if can_open_url && sessions && !modern && policy.unconfirmed(name) == Unconfirmed::Approve {
        let ttl = policy.approval_ttl(name);
        return super::approval::by_url(ctx, tool, args, ttl, &seal.approval).await;
    }
    if can_elicit && modern {
        return confirm_by_round_trip(ctx, tool, args, seal).await;
    }
    if can_elicit && sessions {
        let Some(schema) = confirm_schema() else {
            return refusal(name);
        };
        let params = ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: confirm_message(tool, args),
            requested_schema: schema,
        };
        return match ctx.request.peer.create_elicitation(params).await {
            Ok(r) if accepted(&r.action, r.content.as_ref()) => Gate::Proceed,
            Ok(_) => declined(name),
            Err(e) => {
                tracing::info!(tool = name, error = %e, "confirmation request failed");
                unconfirmed(ctx, tool, args, policy, seal).await
            }
        };
    }
    unconfirmed(ctx, tool, args, policy, seal).await
}

/// The tool's policy for a client that cannot ask the user.
async fn unconfirmed(
    ctx: &ToolCtx,
    tool: &Tool,
    args: &JsonObject,
    policy: &ToolPolicy,
    seal: &Seal<'_>,
) -> Gate {
    let name = tool.name.as_ref();
    match policy.unconfirmed(name) {
        Unconfirmed::Allow => Gate::Proceed,
        Unconfirmed::Refuse => refusal(name),
        Unconfirmed::Approve => {
            let ttl = policy.approval_ttl(name);
            super::approval::gate(ctx, tool, args, ttl, &seal.approval).await
        }
    }
}

/// 2026-07-28: answer `input_required` first; run when the retry carries a
/// "yes" and a live, unspent state this server sealed for exactly this
/// call and caller.
async fn confirm_by_round_trip(
    ctx: &ToolCtx,
    tool: &Tool,
    args: &JsonObject,
    seal: &Seal<'_>,
) -> Gate {
    let name = tool.name.as_ref();
    let context = seal_context(name, args, seal.caller);
    let Some(state) = ctx.request_state.as_deref() else {
        return ask(tool, args, seal.sealer, &context);
    };
    let Some((issued, nonce)) = seal
        .sealer
        .open(&context, state)
        .ok()
        .as_deref()
        .and_then(parse_payload)
        .map(|(i, n)| (i, n.to_owned()))
    else {
        return Gate::Invalid("requestState is invalid or does not belong to this call".into());
    };
    let now = crate::clock::unix_now();
    if now > issued + CONFIRM_TTL_SECS {
        return Gate::Invalid(
            "requestState has expired: call the tool again to ask for a new confirmation".into(),
        );
    }
    let answer = ctx
        .input_responses
        .as_ref()
        .and_then(|r| r.get(CONFIRM_KEY));
    let action = answer
        .and_then(|a| a.get("action"))
        .and_then(|a| serde_json::from_value::<ElicitationAction>(a.clone()).ok());
    let Some(action) = action else {
        // State but no answer: ask again.
        return ask(tool, args, seal.sealer, &context);
    };
    if !accepted(&action, answer.and_then(|a| a.get("content"))) {
        // Nothing runs: a declined answer spends nothing.
        return declined(name);
    }
    // A "yes" is spent by the run it allows: of two concurrent uses
    // exactly one gets through (one row per nonce, on every replica).
    match seal
        .db
        .claim_nonce(&format!("confirm:{nonce}"), issued + CONFIRM_TTL_SECS)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(tool = name, "confirmation refused: requestState replayed");
            return Gate::Invalid(
                "requestState was already used: call the tool again to ask for a new confirmation"
                    .into(),
            );
        }
        Err(e) => {
            tracing::error!(tool = name, error = %e, "could not record a confirmation as used");
            // Fail closed: without the record a replay could not be told apart.
            return refusal(name);
        }
    }
    Gate::Proceed
}

fn ask(tool: &Tool, args: &JsonObject, sealer: &Sealer, context: &str) -> Gate {
    let request: Result<InputRequest, _> = serde_json::from_value(json!({
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": confirm_message(tool, args),
            "requestedSchema": {
                "type": "object",
                "properties": {"confirm": {"type": "boolean", "title": "Confirm", "description": "Run the action"}},
                "required": ["confirm"]
            }
        }
    }));
    let Ok(request) = request else {
        return refusal(tool.name.as_ref());
    };
    let requests: InputRequests = BTreeMap::from([(CONFIRM_KEY.to_owned(), request)]);
    let payload = format!(
        "{STATE_VERSION}:{}:{}",
        crate::clock::unix_now(),
        random_token(16)
    );
    let state = sealer.seal(context, payload.as_bytes());
    Gate::Pending(CallToolResponse::InputRequired(InputRequiredResult::new(
        Some(requests),
        Some(state),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(read_only: Option<bool>, destructive: Option<bool>) -> Tool {
        let mut t = Tool::new("t", "d", std::sync::Arc::new(JsonObject::new()));
        let mut a = rmcp::model::ToolAnnotations::with_title("T");
        a.read_only_hint = read_only;
        a.destructive_hint = destructive;
        t.annotations = Some(a);
        t
    }

    #[test]
    fn destructive_follows_mcp_defaults() {
        assert!(!is_destructive(&tool(Some(true), None)));
        assert!(!is_destructive(&tool(Some(false), Some(false))));
        assert!(is_destructive(&tool(Some(false), Some(true))));
        assert!(
            is_destructive(&tool(None, None)),
            "unannotated tools are assumed destructive"
        );
    }

    #[test]
    fn read_only_mode_and_disabled_tools() {
        let ro = tool(Some(true), None);
        let rw = tool(Some(false), Some(false));
        let mut p = ToolPolicy::default();
        assert!(p.serves(&ro) && p.serves(&rw));
        p.read_only = true;
        assert!(p.serves(&ro) && !p.serves(&rw));
        p.read_only = false;
        p.disabled.insert("t".into());
        assert!(!p.serves(&ro));
    }

    #[test]
    fn confirmations_are_bound_to_the_call() {
        let a: JsonObject = serde_json::from_value(json!({"id": 3})).unwrap_or_default();
        let b: JsonObject = serde_json::from_value(json!({"id": 4})).unwrap_or_default();
        let s = Sealer::new(&[9; 32]);
        let state = s.seal(
            &seal_context("remove_employee", &a, "user:1"),
            b"confirm-v2:1:n",
        );
        assert!(
            s.open(&seal_context("remove_employee", &a, "user:1"), &state)
                .is_ok()
        );
        assert!(
            s.open(&seal_context("remove_employee", &b, "user:1"), &state)
                .is_err()
        );
        assert!(
            s.open(&seal_context("add_employee", &a, "user:1"), &state)
                .is_err()
        );
        assert!(
            s.open(&seal_context("remove_employee", &a, "user:2"), &state)
                .is_err(),
            "bound to the caller"
        );
        assert_eq!(parse_payload(b"confirm-v2:17:abc"), Some((17, "abc")));
        assert_eq!(parse_payload(b"confirm-v1"), None);
    }
}
