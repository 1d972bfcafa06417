//! The tasks extension (SEP-2663, `io.modelcontextprotocol/tasks`).
//!
//! A `tools/call` of a task tool from a client that declared the extension
//! answers at once with a `CreateTaskResult`; the tool runs in the background
//! on this replica. The task's state lives in the database
//! ([`crate::store::tasks`]), so `tasks/get`, `tasks/update` and
//! `tasks/cancel` work on any replica:
//!
//! * the running replica refreshes a heartbeat; a `working` task whose
//!   heartbeat stopped (its replica died) is reported `failed`;
//! * a cancel from another replica is seen at the next heartbeat, one from
//!   this replica at once; either way the result of a cancelled run is
//!   discarded (the store's updates are conditional on the status);
//! * a tool that needs the client's input pauses the task (`input_required`);
//!   the replica that receives the last answer runs the tool again with every
//!   answer, as a multi round-trip tool would be run.
//!
//! A task belongs to the subject and client that created it: anyone else's
//! `taskId` is unknown (`-32602`), exactly like a made-up one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::FutureExt as _;
use mcp_connector_security::random_token;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, CreateTaskResult,
    DetailedTask, GetTaskResult, InputRequests, InputResponses, JsonObject, Task, TaskPayload,
    TaskStatus,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{Shared, principal};
use crate::audit::CallAudit;
use crate::catalog::ToolCtx;
use crate::catalog::tools::{ToolEntry, ToolError};
use crate::store::tasks::{self as store, Settled, TaskRow};

/// How long a task stays readable after it was created (`ttlMs`).
pub const TASK_TTL: Duration = Duration::from_secs(3600);
/// The polling interval suggested to clients (`pollIntervalMs`).
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How often the running replica proves it is alive and checks for a cancel
/// from another replica.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// A `working` task without a heartbeat for this long has lost its replica.
const ORPHANED_AFTER: Duration = Duration::from_secs(20);
/// Unfinished tasks one owner may have at once: each holds a running tool or
/// a row; a client that never polls must not fill the server.
pub const MAX_UNFINISHED_PER_OWNER: i64 = 64;

/// Tasks running on this replica, so that a cancel here stops them at once.
#[derive(Clone, Default)]
pub struct LocalTasks(Arc<Mutex<HashMap<String, CancellationToken>>>);

impl LocalTasks {
    fn start(&self, id: &str) -> CancellationToken {
        let token = CancellationToken::new();
        if let Ok(mut map) = self.0.lock() {
            map.insert(id.to_owned(), token.clone());
        }
        token
    }

    fn done(&self, id: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(id);
        }
    }

    fn cancel(&self, id: &str) {
        if let Ok(map) = self.0.lock()
            && let Some(token) = map.get(id)
        {
            token.cancel();
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn timestamp(unix_ms: i64) -> String {
    let since = Duration::from_millis(u64::try_from(unix_ms).unwrap_or(0));
    crate::clock::rfc3339_millis(UNIX_EPOCH + since)
}

/// The owner of a request's tasks: (subject, client id), empty when `/mcp`
/// needs no token (then the unguessable id alone guards a task).
fn owner(ctx: &RequestContext<RoleServer>) -> (String, String) {
    principal(ctx).map_or_else(Default::default, |p| {
        (p.subject.to_string(), p.client_id.to_string())
    })
}

fn internal(what: &str, err: &dyn std::error::Error) -> McpError {
    let reference = random_token(6);
    tracing::error!(error_ref = %reference, error = %err, "{what} failed");
    McpError::internal_error(format!("Internal error (reference {reference})"), None)
}

fn unknown_task() -> McpError {
    McpError::invalid_params("Unknown task", None)
}

fn task_of(row: &TaskRow, status: TaskStatus) -> Task {
    Task::new(
        &row.id,
        status,
        timestamp(row.created_at),
        timestamp(row.updated_at),
    )
    .with_ttl_ms(u64::try_from(row.expires_at - row.created_at).unwrap_or(0))
    .with_poll_interval_ms(u64::try_from(ms(POLL_INTERVAL)).unwrap_or(500))
}

/// Start `tool` as a task; the `CreateTaskResult` is returned only once the
/// task is stored, so a `tasks/get` right after it finds the task.
pub async fn create(
    shared: &Shared,
    tool: ToolEntry,
    ctx: ToolCtx,
    arguments: JsonObject,
    audit: Option<CallAudit>,
) -> Result<CallToolResponse, McpError> {
    let db = &shared.db;
    let now = now_ms();
    if let Err(e) = store::purge_expired(db, now).await {
        tracing::warn!(error = %e, "expired tasks not purged");
    }
    let (subject, client_id) = owner(&ctx.request);
    let unfinished = store::count_unfinished(db, &subject, &client_id, now)
        .await
        .map_err(|e| internal("counting tasks", &e))?;
    if unfinished >= MAX_UNFINISHED_PER_OWNER {
        return Err(McpError::invalid_request(
            format!(
                "Too many unfinished tasks (at most {MAX_UNFINISHED_PER_OWNER}): wait for some to finish or cancel them"
            ),
            None,
        ));
    }
    let row = TaskRow {
        id: random_token(16),
        subject,
        client_id,
        tool: tool.def.name.to_string(),
        arguments: Value::Object(arguments.clone()).to_string(),
        status: "working".into(),
        input_requests: None,
        input_responses: ctx.input_responses.as_ref().map(|r| json!(r).to_string()),
        result: None,
        error: None,
        created_at: now,
        updated_at: now,
        heartbeat_at: now,
        expires_at: now.saturating_add(ms(TASK_TTL)),
    };
    store::insert(db, &row)
        .await
        .map_err(|e| internal("storing a task", &e))?;
    tracing::info!(tool = %row.tool, task = %row.id, "task created");
    let created = CreateTaskResult::new(task_of(&row, TaskStatus::Working));
    spawn(shared.clone(), row.id, tool, ctx, arguments, audit);
    Ok(CallToolResponse::Task(created))
}

/// Run a task on this replica in the background.
fn spawn(
    shared: Shared,
    id: String,
    tool: ToolEntry,
    mut ctx: ToolCtx,
    arguments: JsonObject,
    audit: Option<CallAudit>,
) {
    let token = shared.tasks.start(&id);
    // The request's own token ends with the HTTP exchange; the task outlives it.
    ctx.request.ct = token.clone();
    tokio::spawn(async move {
        let settled = run(&shared, &id, &tool, ctx, arguments, audit, &token).await;
        shared.tasks.done(&id);
        if let Some(settled) = settled {
            match store::settle(&shared.db, &id, &settled, now_ms()).await {
                Ok(true) => tracing::info!(task = %id, status = settled.status, "task settled"),
                Ok(false) => tracing::info!(task = %id, "task result discarded: cancelled"),
                Err(e) => tracing::error!(task = %id, error = %e, "task result not stored"),
            }
        }
    });
}

/// Run the tool to its end, a pause, a cancel or the tool timeout; `None`
/// when cancelled (nothing to store).
async fn run(
    shared: &Shared,
    id: &str,
    tool: &ToolEntry,
    ctx: ToolCtx,
    arguments: JsonObject,
    audit: Option<CallAudit>,
    token: &CancellationToken,
) -> Option<Settled> {
    let timeout = shared.tool_timeout;
    // A panicking tool fails its task instead of leaving it `working`.
    let call = std::panic::AssertUnwindSafe(tool.call(ctx, arguments)).catch_unwind();
    let call = tokio::time::timeout(timeout, call);
    tokio::pin!(call);
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.tick().await;
    let outcome = loop {
        tokio::select! {
            r = &mut call => break match r {
                Err(_) => Err(ToolError::Timeout(timeout)),
                Ok(Err(_panic)) => Err(ToolError::Internal(crate::store::StoreError::Corrupt("the tool panicked"))),
                Ok(Ok(r)) => r,
            },
            () = token.cancelled() => return cancelled(audit).await,
            _ = beat.tick() => match store::heartbeat(&shared.db, id, now_ms()).await {
                Ok(true) => {}
                Ok(false) => return cancelled(audit).await,
                Err(e) => tracing::warn!(task = %id, error = %e, "task heartbeat failed"),
            },
        }
    };
    Some(settle_outcome(shared, tool, outcome, audit).await)
}

async fn cancelled(audit: Option<CallAudit>) -> Option<Settled> {
    if let Some(audit) = audit {
        // The audit error, if any, has no one left to tell but the log.
        let _ = audit
            .finish(Err(McpError::internal_error("task cancelled", None)))
            .await;
    }
    None
}

fn failed(error: &McpError) -> Settled {
    let mut obj = json!({"code": error.code.0, "message": error.message});
    if let Some(data) = &error.data {
        obj["data"] = data.clone();
    }
    Settled {
        status: "failed",
        error: Some(obj.to_string()),
        ..Settled::default()
    }
}

/// Map the tool's outcome to a task state: a tool error is a `completed`
/// task with `isError` (the tool ran); a protocol error is `failed`.
async fn settle_outcome(
    shared: &Shared,
    tool: &ToolEntry,
    outcome: Result<CallToolResponse, ToolError>,
    audit: Option<CallAudit>,
) -> Settled {
    let name = tool.def.name.to_string();
    let response: Result<CallToolResponse, McpError> = match outcome {
        Ok(CallToolResponse::Complete(mut result)) => {
            let hygiene = crate::safety::hygiene::apply(&mut result, &name, &shared.hygiene);
            hygiene.log(&name);
            Ok(result.into())
        }
        Ok(CallToolResponse::InputRequired(r))
            if r.input_requests.as_ref().is_some_and(|m| !m.is_empty()) =>
        {
            Ok(CallToolResponse::InputRequired(r))
        }
        Ok(_) => Err(McpError::internal_error(
            "the tool answered in a way a task cannot hold",
            None,
        )),
        Err(ToolError::MissingCapability(caps)) => {
            Err(McpError::missing_required_client_capability(*caps))
        }
        Err(ToolError::InvalidParams(message)) => Err(McpError::invalid_params(message, None)),
        Err(ToolError::Internal(e)) => Err(internal("task", &e)),
        Err(e) => Ok(CallToolResult::error(vec![ContentBlock::text(e.to_string())]).into()),
    };
    // Audited before the outcome becomes visible; fails closed.
    let response = match audit {
        Some(audit) => audit.finish(response).await,
        None => response,
    };
    match response {
        Ok(CallToolResponse::Complete(result)) => Settled {
            status: "completed",
            result: Some(json!(result).to_string()),
            ..Settled::default()
        },
        Ok(CallToolResponse::InputRequired(r)) => Settled {
            status: "input_required",
            input_requests: Some(json!(r.input_requests).to_string()),
            ..Settled::default()
        },
        Ok(_) => failed(&McpError::internal_error("unexpected task outcome", None)),
        Err(e) => failed(&e),
    }
}

async fn load(
    shared: &Shared,
    id: &str,
    ctx: &RequestContext<RoleServer>,
) -> Result<TaskRow, McpError> {
    let (subject, client_id) = owner(ctx);
    store::load(&shared.db, id, &subject, &client_id, now_ms())
        .await
        .map_err(|e| internal("reading a task", &e))?
        .ok_or_else(unknown_task)
}

fn parse<T: serde::de::DeserializeOwned>(text: Option<&str>) -> Result<T, McpError> {
    serde_json::from_str(text.unwrap_or("null")).map_err(|e| internal("decoding a stored task", &e))
}

/// `tasks/get`: the task with its result, error or open input requests.
pub async fn get(
    shared: &Shared,
    id: &str,
    ctx: &RequestContext<RoleServer>,
) -> Result<GetTaskResult, McpError> {
    let mut row = load(shared, id, ctx).await?;
    let now = now_ms();
    if row.status == "working" && row.heartbeat_at < now - ms(ORPHANED_AFTER) {
        let lost = failed(&McpError::internal_error(
            "the server running the task stopped",
            None,
        ));
        let error = lost.error.unwrap_or_default();
        let stale = now - ms(ORPHANED_AFTER);
        if store::fail_orphan(&shared.db, id, &error, stale, now)
            .await
            .map_err(|e| internal("failing an orphaned task", &e))?
        {
            tracing::warn!(task = %id, "task lost its replica; marked failed");
        }
        row = load(shared, id, ctx).await?;
    }
    let payload = match row.status.as_str() {
        "working" => TaskPayload::Working,
        "cancelled" => TaskPayload::Cancelled,
        "input_required" => TaskPayload::InputRequired {
            input_requests: parse::<InputRequests>(row.input_requests.as_deref())?,
        },
        "completed" => TaskPayload::Completed {
            result: parse::<JsonObject>(row.result.as_deref())?,
        },
        "failed" => TaskPayload::Failed {
            error: parse::<JsonObject>(row.error.as_deref())?,
        },
        _ => {
            return Err(internal(
                "reading a task",
                &crate::store::StoreError::Corrupt("task status"),
            ));
        }
    };
    let task = task_of(&row, payload.status());
    Ok(GetTaskResult::new(DetailedTask::new(task, payload)))
}

/// `tasks/cancel`: an unfinished task becomes `cancelled`; a finished one
/// is left as it is (the acknowledgement is the same).
pub async fn cancel(
    shared: &Shared,
    id: &str,
    ctx: &RequestContext<RoleServer>,
) -> Result<(), McpError> {
    let row = load(shared, id, ctx).await?;
    if matches!(row.status.as_str(), "working" | "input_required")
        && store::cancel(&shared.db, id, now_ms())
            .await
            .map_err(|e| internal("cancelling a task", &e))?
    {
        tracing::info!(task = %id, "task cancelled");
    }
    shared.tasks.cancel(id);
    Ok(())
}

/// `tasks/update`: answers to an `input_required` task's requests. Answers
/// to requests it did not make are ignored; once none is open the tool runs
/// again, here, with every answer.
pub async fn update(
    shared: &Shared,
    id: &str,
    responses: InputResponses,
    ctx: RequestContext<RoleServer>,
) -> Result<(), McpError> {
    let row = load(shared, id, &ctx).await?;
    if row.status != "input_required" {
        return Ok(());
    }
    let seen = row.input_requests.clone().unwrap_or_default();
    let mut open: InputRequests = parse(Some(&seen))?;
    let mut all: InputResponses = match row.input_responses.as_deref() {
        Some(text) => parse(Some(text))?,
        None => InputResponses::new(),
    };
    let mut answered = false;
    for (key, value) in responses {
        if open.remove(&key).is_some() {
            all.insert(key, value);
            answered = true;
        }
    }
    if !answered {
        return Ok(());
    }
    let resume = open.is_empty();
    let open_text = (!resume).then(|| json!(open).to_string());
    let stored = store::answer(
        &shared.db,
        id,
        &seen,
        open_text.as_deref(),
        &json!(all).to_string(),
        resume,
        now_ms(),
    )
    .await
    .map_err(|e| internal("answering a task", &e))?;
    if stored && resume {
        resume_task(shared, row, all, ctx).await;
    }
    Ok(())
}

/// Run an answered task's tool again on this replica.
async fn resume_task(
    shared: &Shared,
    row: TaskRow,
    responses: InputResponses,
    ctx: RequestContext<RoleServer>,
) {
    let served = shared.live.load();
    let tool = served.catalog.tools().get(&row.tool).cloned();
    let arguments: Result<JsonObject, _> = serde_json::from_str(&row.arguments);
    let (Some(tool), Ok(arguments)) = (tool.filter(|t| served.policy.serves(&t.def)), arguments)
    else {
        let gone = failed(&McpError::invalid_params(
            "The task's tool is no longer served",
            None,
        ));
        if let Err(e) = store::settle(&shared.db, &row.id, &gone, now_ms()).await {
            tracing::error!(task = %row.id, error = %e, "task state not stored");
        }
        return;
    };
    let mut request = CallToolRequestParams::new(row.tool.clone());
    request.arguments = Some(arguments.clone());
    let audit = shared.audit.begin_call(&request, &ctx);
    let client_capabilities = ctx.client_capabilities().unwrap_or_default();
    let tool_ctx = ToolCtx {
        log_level: None,
        client_capabilities,
        input_responses: Some(responses),
        request_state: None,
        request: ctx,
    };
    spawn(shared.clone(), row.id, tool, tool_ctx, arguments, audit);
}
