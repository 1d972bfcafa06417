//! Out-of-band approval of a destructive call (`unconfirmed = "approve"`),
//! for clients that cannot ask the user themselves (claude.ai).
//!
//! The first call stores an approval request bound to the caller (subject),
//! the OAuth client, the tool and the SHA-256 of the canonical arguments,
//! and answers with an ordinary result carrying the link to
//! `{public_url}/approve/{id}` (the page is [`crate::auth::approve`]).
//! Nothing runs. A person signed in to the connector approves or rejects
//! there; the model cannot, since approval needs that browser session.
//! A repeat of exactly the same call (same caller, client, tool, argument
//! digest) after *Approve* spends the approval in one conditional `UPDATE`
//! and runs once; any other call finds nothing to spend and gets its own
//! request. With `safety.approval_wait_secs` the first call waits for the
//! decision instead, reporting progress, and runs as soon as it is made.
//! A client that declares URL-mode elicitation (2025-11-25) in a stateful
//! session is asked to open the page itself ([`by_url`]); the call then
//! waits for the decision the same way.

use std::time::Duration;

use mcp_connector_security::{random_token, sha256_hex};
use rmcp::model::{
    CallToolResponse, CallToolResult, ContentBlock, ElicitRequestParams, ElicitationAction,
    JsonObject, Tool,
};
use serde_json::{Value, json};

use super::gate::{Gate, declined, refusal};
use crate::audit::AuditSink;
use crate::auth::Principal;
use crate::auth::approve::{self as page, Step};
use crate::catalog::ToolCtx;
use crate::store::Db;
use crate::store::approvals::{Approval, ApprovalKey, ApprovalStatus};

/// How often a waiting call looks at its request.
const POLL: Duration = Duration::from_millis(200);
/// How often a waiting call reports progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// What the approval step needs besides the call.
pub struct Context<'a> {
    pub db: &'a Db,
    pub audit: &'a AuditSink,
    /// The public origin (`https://tools.example.com`); `None` without one,
    /// and then nothing can be approved.
    pub origin: Option<&'a str>,
    /// `safety.approval_wait_secs`.
    pub wait: Duration,
    /// How long a call whose client opened the page (URL-mode elicitation)
    /// waits for the decision: just under `server.request_timeout_secs`.
    pub url_wait: Duration,
    /// The client renders MCP Apps views: a pending answer carries the
    /// details [`super::approval_view`] shows.
    pub view: bool,
}

/// Arguments as canonical JSON: object keys sorted at every depth, no
/// insignificant whitespace, so the same call always has the same digest.
pub fn canonical_json(args: &JsonObject) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(&Value::Object(args.clone())).to_string()
}

/// `schema` widened so that the pending answer's structured content
/// (`{approval_url, expires_at}`) is valid against it too.
pub fn widen_output_schema(schema: &JsonObject) -> JsonObject {
    let mut out = schema.clone();
    let required = out.remove("required");
    if let Some(Value::Object(props)) = out.get_mut("properties") {
        props.insert(
            "approval_url".into(),
            json!({"type": "string", "description": "Page where a person approves this call"}),
        );
        props.insert(
            "expires_at".into(),
            json!({"type": "string", "description": "When the approval request expires (RFC 3339)"}),
        );
    }
    let mut either = vec![json!({"required": ["approval_url", "expires_at"]})];
    either.push(match required {
        Some(r) => json!({ "required": r }),
        None => json!({}),
    });
    out.insert("anyOf".into(), Value::Array(either));
    out
}

/// Decide whether the destructive call may run now, or answer with the
/// approval link.
pub async fn gate(
    ctx: &ToolCtx,
    tool: &Tool,
    args: &JsonObject,
    ttl: i64,
    c: &Context<'_>,
) -> Gate {
    let name = tool.name.as_ref();
    let (Some(principal), Some(_)) = (ctx.principal(), c.origin) else {
        // Nobody signs in, so nobody can approve.
        return refusal(name);
    };
    let canonical = canonical_json(args);
    let key = key_of(principal, name, &canonical);
    match step(ctx, tool, &key, &canonical, ttl, c).await {
        Ok(Some(gate)) => gate,
        Ok(None) => refusal(name),
        Err(e) => {
            tracing::error!(tool = name, error = %e, "approval request failed");
            // Fail closed: without the record nothing can be approved.
            refusal(name)
        }
    }
}

fn key_of(p: &Principal, tool: &str, canonical: &str) -> ApprovalKey {
    ApprovalKey {
        subject: p.subject.to_string(),
        user_id: p.user_id.clone(),
        client_id: p.client_id.to_string(),
        tool: tool.to_owned(),
        args_digest: sha256_hex(canonical.as_bytes()),
    }
}

async fn step(
    ctx: &ToolCtx,
    tool: &Tool,
    key: &ApprovalKey,
    canonical: &str,
    ttl: i64,
    c: &Context<'_>,
) -> Result<Option<Gate>, crate::store::StoreError> {
    let Some(approval) = open_request(ctx, key, canonical, ttl, c).await? else {
        return Ok(Some(Gate::Proceed));
    };
    if !c.wait.is_zero()
        && let Some(gate) = wait_for(ctx, &approval, c, c.wait).await?
    {
        return Ok(Some(gate));
    }
    let Some(origin) = c.origin else {
        return Ok(None);
    };
    Ok(Some(pending(tool, &approval, origin, c).await))
}

/// The live request for this exact call, or a new one; `None` when an
/// approved one was found and spent by this call (it may run).
async fn open_request(
    ctx: &ToolCtx,
    key: &ApprovalKey,
    canonical: &str,
    ttl: i64,
    c: &Context<'_>,
) -> Result<Option<Approval>, crate::store::StoreError> {
    let now = crate::clock::unix_now();
    match c.db.live_approval(key, now).await? {
        Some(a) if a.status == ApprovalStatus::Approved => {
            if spend(&a, ctx, c).await? {
                return Ok(None);
            }
            // Another repeat spent it first: this call needs its own.
            create(ctx, key, canonical, ttl, c).await.map(Some)
        }
        Some(a) => Ok(Some(a)),
        None => create(ctx, key, canonical, ttl, c).await.map(Some),
    }
}

/// URL-mode elicitation: the client is asked to open the approval page
/// (the same page, the same signed-in person), then the call waits for the
/// decision and runs once approved. If the client cannot open it, or the
/// wait runs out, the answer is the ordinary link.
pub async fn by_url(
    ctx: &ToolCtx,
    tool: &Tool,
    args: &JsonObject,
    ttl: i64,
    c: &Context<'_>,
) -> Gate {
    let name = tool.name.as_ref();
    let (Some(principal), Some(origin)) = (ctx.principal(), c.origin) else {
        return refusal(name);
    };
    let canonical = canonical_json(args);
    let key = key_of(principal, name, &canonical);
    let approval = match open_request(ctx, &key, &canonical, ttl, c).await {
        Ok(Some(a)) => a,
        Ok(None) => return Gate::Proceed,
        Err(e) => {
            tracing::error!(tool = name, error = %e, "approval request failed");
            return refusal(name);
        }
    };
    match open_in_browser(ctx, tool, &approval, origin, c.url_wait).await {
        Some(ElicitationAction::Accept) => {}
        Some(_) => return declined(name),
        None => return pending(tool, &approval, origin, c).await,
    }
    match wait_for(ctx, &approval, c, c.url_wait).await {
        Ok(Some(gate)) => gate,
        Ok(None) => pending(tool, &approval, origin, c).await,
        Err(e) => {
            tracing::error!(tool = name, error = %e, "approval wait failed");
            refusal(name)
        }
    }
}

/// Ask the client to open the page; the user's answer to that, `None` if
/// the request failed or was not answered within `wait`.
async fn open_in_browser(
    ctx: &ToolCtx,
    tool: &Tool,
    a: &Approval,
    origin: &str,
    wait: Duration,
) -> Option<ElicitationAction> {
    let title = tool
        .annotations
        .as_ref()
        .and_then(|t| t.title.clone())
        .unwrap_or_else(|| tool.name.to_string());
    let params = ElicitRequestParams::UrlElicitationParams {
        meta: None,
        message: format!(
            "\"{title}\" changes data and needs your approval. Open the page, check the details \
             and approve or reject it; nothing runs until you do."
        ),
        url: page::url(origin, &a.id),
        // Unique per request, and the approval's own id: what the page shows.
        elicitation_id: a.id.clone(),
    };
    let asked = ctx.request.peer.create_elicitation(params);
    match tokio::time::timeout(wait, asked).await {
        Ok(Ok(r)) => Some(r.action),
        Ok(Err(e)) => {
            tracing::info!(tool = %tool.name, error = %e, "URL elicitation failed");
            None
        }
        Err(_) => None,
    }
}

/// Spend `a`; `true` if this call may run. The audit record of the use
/// comes first, so the chain shows request → approval → use → call.
async fn spend(
    a: &Approval,
    ctx: &ToolCtx,
    c: &Context<'_>,
) -> Result<bool, crate::store::StoreError> {
    if !c.db.use_approval(&a.id, crate::clock::unix_now()).await? {
        return Ok(false);
    }
    page::record(
        c.audit,
        a,
        Step::Used,
        a.decided_by.as_deref(),
        source_ip(ctx),
    )
    .await;
    Ok(true)
}

async fn create(
    ctx: &ToolCtx,
    key: &ApprovalKey,
    canonical: &str,
    ttl: i64,
    c: &Context<'_>,
) -> Result<Approval, crate::store::StoreError> {
    let now = crate::clock::unix_now();
    // 128 random bits: an id nobody can guess (and guessing one approves
    // nothing: the page needs the caller's own signed-in browser).
    let id = random_token(16);
    let expires_at = now.saturating_add(ttl);
    c.db.insert_approval(&id, key, canonical, now, expires_at)
        .await?;
    let a = Approval {
        id,
        key: key.clone(),
        arguments: canonical.to_owned(),
        status: ApprovalStatus::Pending,
        created_at: now,
        expires_at,
        decided_by: None,
    };
    tracing::info!(tool = %key.tool, "approval requested");
    page::record(c.audit, &a, Step::Requested, None, source_ip(ctx)).await;
    Ok(a)
}

/// Wait up to `wait` for the decision, reporting progress. `Some` once
/// decided (run, or the rejection); `None` when the wait ran out.
async fn wait_for(
    ctx: &ToolCtx,
    a: &Approval,
    c: &Context<'_>,
    wait: Duration,
) -> Result<Option<Gate>, crate::store::StoreError> {
    let started = tokio::time::Instant::now();
    let deadline = started + wait;
    let mut next_progress = started;
    let url = c.origin.map(|o| page::url(o, &a.id)).unwrap_or_default();
    while tokio::time::Instant::now() < deadline {
        if tokio::time::Instant::now() >= next_progress {
            let waited = started.elapsed().as_secs_f64();
            ctx.progress(
                waited,
                Some(wait.as_secs_f64()),
                &format!("Waiting for a person to approve at {url}"),
            )
            .await;
            next_progress += PROGRESS_EVERY;
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = ctx.request.ct.cancelled() => return Ok(None),
        }
        let Some(now) = c.db.approval(&a.id).await? else {
            return Ok(None);
        };
        match now.status {
            ApprovalStatus::Pending => {}
            ApprovalStatus::Approved => {
                return Ok(spend(&now, ctx, c).await?.then_some(Gate::Proceed));
            }
            ApprovalStatus::Rejected => return Ok(Some(rejected(&a.key.tool))),
            ApprovalStatus::Used | ApprovalStatus::Expired => return Ok(None),
        }
    }
    Ok(None)
}

fn source_ip(ctx: &ToolCtx) -> Option<std::net::IpAddr> {
    ctx.request
        .extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<crate::network::ClientIp>())
        .map(|ip| ip.0)
}

fn rejected(tool: &str) -> Gate {
    Gate::Answer(CallToolResponse::Complete(CallToolResult::error(vec![
        ContentBlock::text(format!(
            "The person asked to approve `{tool}` rejected it. Nothing was changed."
        )),
    ])))
}

/// The answer while a request waits for its decision: an ordinary result
/// (the call did not fail) that tells the model what to show the user.
async fn pending(tool: &Tool, a: &Approval, origin: &str, c: &Context<'_>) -> Gate {
    let name = tool.name.as_ref();
    let url = page::url(origin, &a.id);
    let expires = page::rfc3339(a.expires_at);
    let text = format!(
        "Nothing was changed yet: `{name}` needs a person's approval before it runs. \
         Show the user this link and ask them to open it, check the details and approve: {url}\n\
         After they have approved, call `{name}` again with exactly the same arguments; it then runs once. \
         The link expires at {expires}."
    );
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(json!({"approval_url": url, "expires_at": expires}));
    if c.view {
        let client = c.db.client(&a.key.client_id).await.ok().flatten();
        let arguments: JsonObject = serde_json::from_str(&a.arguments).unwrap_or_default();
        result.meta = Some(super::approval_view::meta(&super::approval_view::Details {
            tool,
            client_id: &a.key.client_id,
            client_name: client.as_ref().map(|c| c.name.as_str()),
            arguments: &arguments,
            approval_url: &url,
            expires_at: &expires,
        }));
    }
    Gate::Pending(CallToolResponse::Complete(result))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> JsonObject {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn canonical_form_ignores_key_order_only() {
        let a = canonical_json(&obj(
            json!({"b": 1, "a": {"y": [2, {"d": 1, "c": 0}], "x": "s"}}),
        ));
        let b = canonical_json(&obj(
            json!({"a": {"x": "s", "y": [2, {"c": 0, "d": 1}]}, "b": 1}),
        ));
        assert_eq!(a, b);
        assert_eq!(a, r#"{"a":{"x":"s","y":[2,{"c":0,"d":1}]},"b":1}"#);
        let c = canonical_json(&obj(
            json!({"a": {"x": "s", "y": [{"c": 0, "d": 1}, 2]}, "b": 1}),
        ));
        assert_ne!(a, c, "array order is meaningful");
    }

    #[test]
    fn widened_schema_accepts_both_shapes() {
        let s = obj(
            json!({"type": "object", "properties": {"removed": {"type": "object"}}, "required": ["removed"]}),
        );
        let w = widen_output_schema(&s);
        assert_eq!(w["type"], "object");
        assert!(w.get("required").is_none());
        assert_eq!(
            w["anyOf"][0]["required"],
            json!(["approval_url", "expires_at"])
        );
        assert_eq!(w["anyOf"][1]["required"], json!(["removed"]));
        assert_eq!(w["properties"]["approval_url"]["type"], "string");
        assert!(w["properties"].get("removed").is_some());
    }
}
