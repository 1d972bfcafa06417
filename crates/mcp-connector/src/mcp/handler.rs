//! The rmcp `ServerHandler` that serves a [`Catalog`].
//!
//! One handler instance exists per stateful session, or per request in
//! stateless mode; everything shared lives behind [`Shared`]'s `Arc`s.

// Logging is deprecated by the 2026-07-28 revision (SEP-2577) but is part of
// every older revision we serve, so we keep implementing it.
#![allow(deprecated)]

pub mod tasks;

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_connector_security::{Sealer, random_token};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ClientCapabilities,
    CompleteRequestParams, CompleteResult, ContentBlock, GetPromptRequestParams, GetPromptResponse,
    GetTaskParams, GetTaskResult, Implementation, InitializeResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel,
    PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
    ServerCapabilities, SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams, UpdateTaskParams,
};
use rmcp::service::{NotificationContext, Peer, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use tokio::sync::broadcast;
use tokio_util::task::TaskTracker;

use super::call_report::CallReport;
use super::guard::{self, Gate};
use super::live::{Decided, Served};
use super::pagination::page;
use crate::auth::Principal;
use crate::catalog::CatalogError;
use crate::catalog::tools::{ToolCtx, ToolError};
use crate::telemetry::metrics::Outcome;

/// State shared by every handler instance.
#[derive(Clone)]
pub struct Shared {
    /// The catalog and tool policy; replaced on config reload.
    pub live: super::live::Live,
    pub sealer: Sealer,
    pub tool_timeout: Duration,
    /// Tracks in-flight requests so that shutdown can wait for them.
    pub in_flight: TaskTracker,
    /// Stateful sessions (server-to-client requests are possible).
    pub sessions: bool,
    /// Tool output hygiene (`[safety]`).
    pub hygiene: Arc<crate::safety::HygieneConfig>,
    /// The audit trail; every tool call is recorded before its result is sent.
    pub audit: crate::audit::AuditSink,
    /// The database: one-time confirmation states, tasks.
    pub db: crate::store::Db,
    /// The public origin (`https://tools.example.com`), for approval links.
    pub public_origin: Option<Arc<str>>,
    /// `safety.approval_wait_secs`.
    pub approval_wait: Duration,
    /// How long a call waits for the decision after its client opened the
    /// approval page (URL-mode elicitation).
    pub approval_url_wait: Duration,
    /// Tool calls are counted here (see [`crate::telemetry::metrics`]).
    pub metrics: crate::telemetry::Metrics,
    /// Tasks running on this replica (their state is in `db`).
    pub tasks: tasks::LocalTasks,
}

/// Serves one session (or one stateless request).
#[derive(Clone)]
pub struct ConnectorHandler {
    /// Behind one `Arc`: stateless mode makes a handler per request, and
    /// cloning every field of [`Shared`] each time showed up in profiles.
    shared: Arc<Shared>,
    /// `logging/setLevel` of this session; `None` until the client sets one.
    log_level: Arc<Mutex<Option<LoggingLevel>>>,
}

impl ConnectorHandler {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            log_level: Arc::new(Mutex::new(None)),
        }
    }

    /// The log threshold of a request: the 2026-07-28 `_meta` level, or for
    /// older revisions the session's `logging/setLevel` (debug until set).
    fn log_threshold(&self, ctx: &RequestContext<RoleServer>) -> Option<LoggingLevel> {
        if is_modern(ctx) {
            // 2026-07-28: no notifications/message unless the request asks.
            ctx.meta.log_level()
        } else {
            let set = self.log_level.lock().map(|l| *l).unwrap_or(None);
            Some(set.unwrap_or(LoggingLevel::Debug))
        }
    }
}

/// Whether a request uses the stateless 2026-07-28 revision (per-request `_meta`).
fn is_modern(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.meta.protocol_version().is_some()
}

/// Log an internal failure under a fresh reference and return that reference,
/// which is all the client gets to see.
fn internal_reference(what: &str, err: &dyn std::error::Error) -> String {
    let reference = random_token(6);
    tracing::error!(error_ref = %reference, error = %err, "{what} failed");
    reference
}

/// How often a session's change listener checks whether the session ended
/// (rmcp offers no close event on a peer; a reload also ends it early).
const SESSION_CHECK: Duration = Duration::from_secs(10);

/// Send `notifications/tools/list_changed` to `peer` after each reload
/// until its session ends.
async fn notify_tool_changes(mut changed: broadcast::Receiver<()>, peer: Peer<RoleServer>) {
    let mut check = tokio::time::interval(SESSION_CHECK);
    loop {
        tokio::select! {
            r = changed.recv() => match r {
                // A lagged receiver missed changes: one notice covers them.
                Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    if peer.notify_tool_list_changed().await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = check.tick() => {
                if peer.is_transport_closed() {
                    return;
                }
            }
        }
    }
}

fn catalog_error(err: CatalogError, ctx: &RequestContext<RoleServer>) -> McpError {
    match err {
        CatalogError::ResourceNotFound(uri) => {
            let data = Some(serde_json::json!({ "uri": uri }));
            if is_modern(ctx) {
                // 2026-07-28 folds resource-not-found into invalid params.
                McpError::invalid_params("Resource not found", data)
            } else {
                McpError::resource_not_found("Resource not found", data)
            }
        }
        CatalogError::UnknownPrompt(name) => {
            McpError::invalid_params(format!("Unknown prompt: {name}"), None)
        }
        e @ (CatalogError::InvalidArgument { .. } | CatalogError::InvalidParams(_)) => {
            McpError::invalid_params(e.to_string(), None)
        }
        CatalogError::UnknownReference => {
            McpError::invalid_params("Unknown completion reference", None)
        }
        CatalogError::Internal(e) => {
            let reference = internal_reference("catalog operation", &e);
            McpError::internal_error(format!("Internal error (reference {reference})"), None)
        }
    }
}

/// The revisions we serve: Streamable HTTP only. 2024-11-05 used the
/// deprecated HTTP+SSE transport, which this server does not offer.
const SUPPORTED_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

/// The authenticated caller of a request, when `/mcp` requires tokens.
pub use crate::config::principal::of_request as principal;

/// The snapshot the transport decided a request with ([`Decided`]), or the
/// current one for a request that did not pass through it.
fn snapshot(shared: &Shared, ctx: &RequestContext<RoleServer>) -> Arc<Served> {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<Decided>())
        .map_or_else(|| shared.live.load(), |d| d.0.clone())
}

/// The scope a call to `tool` needs, by the catalog's scope names.
fn needed_scope(served: &Served, tool: &rmcp::model::Tool) -> &'static str {
    let scopes = served.catalog.scopes();
    crate::auth::scope::needed_scope(scopes.read, scopes.write, tool)
}

impl ConnectorHandler {
    /// Whether `principal` may know of `tool`: a tool needing a scope
    /// outside the principal's ceiling (its role) is hidden and unknown.
    fn visible_to(
        served: &Served,
        tool: &rmcp::model::Tool,
        principal: Option<&Principal>,
    ) -> bool {
        principal.is_none_or(|p| p.ceiling.contains(needed_scope(served, tool)))
    }

    /// What the client declared, and whether that is known: a stateless
    /// legacy request carries no capabilities (its `initialize` was
    /// another request), a session or a 2026-07-28 request does.
    fn client_capabilities(&self, ctx: &RequestContext<RoleServer>) -> (ClientCapabilities, bool) {
        if let Some(caps) = ctx.meta.client_capabilities() {
            return (caps, true);
        }
        let known = self.shared.sessions;
        let caps = ctx.peer.peer_info().map(|i| i.capabilities.clone());
        (caps.unwrap_or_default(), known)
    }

    /// `tools/call` without the audit record ([`ServerHandler::call_tool`]
    /// adds it); `audit` collects what only this function sees.
    async fn run_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
        audit: &mut Option<crate::audit::CallAudit>,
        report: &mut CallReport,
    ) -> Result<CallToolResponse, McpError> {
        // A tool hidden by policy (read-only mode, disabled) is refused
        // exactly like one that does not exist. The snapshot is the one the
        // transport checked the scope against, so both see the same tools.
        let served = snapshot(&self.shared, &ctx);
        let tool = served.catalog.tools().get(&request.name);
        let principal = principal(&ctx);
        let Some(tool) = tool
            .filter(|t| served.policy.serves(&t.def))
            .filter(|t| Self::visible_to(&served, &t.def, principal))
        else {
            report.known = false;
            return Err(McpError::invalid_params(
                format!("Unknown tool: {}", request.name),
                None,
            ));
        };
        // The transport answers 403 before dispatch; this is the backstop.
        if let Some(p) = principal
            && !p.scopes.contains(needed_scope(&served, &tool.def))
        {
            return Err(McpError::invalid_request(
                "Forbidden: the access token lacks the scope this tool needs",
                None,
            ));
        }
        let caller: Arc<str> = principal.map_or_else(|| Arc::from(""), |p| p.subject.clone());
        // In flight: `call_tool` holds the one token for the whole call.
        let started = Instant::now();
        let cancelled = ctx.ct.clone();
        let (client_capabilities, known) = self.client_capabilities(&ctx);
        let view = super::approval_view::wanted(&client_capabilities, known);
        let tool_ctx = ToolCtx {
            log_level: self.log_threshold(&ctx),
            client_capabilities,
            input_responses: request.input_responses,
            request_state: request.request_state,
            request: ctx,
        };
        let arguments = request.arguments.unwrap_or_default();
        let seal = guard::Seal {
            sealer: &self.shared.sealer,
            db: &self.shared.db,
            caller: &caller,
            approval: super::approval::Context {
                db: &self.shared.db,
                audit: &self.shared.audit,
                origin: self.shared.public_origin.as_deref(),
                wait: self.shared.approval_wait,
                url_wait: self.shared.approval_url_wait,
                view,
            },
        };
        let gate = guard::confirm(
            &tool_ctx,
            &tool.def,
            &arguments,
            &served.policy,
            &seal,
            self.shared.sessions,
        );
        match gate.await {
            Gate::Proceed => {}
            Gate::Answer(answer) => {
                tracing::debug!(tool = %request.name, "destructive tool not run: refused or declined");
                return Ok(answer);
            }
            Gate::Pending(answer) => {
                tracing::debug!(tool = %request.name, "destructive tool not run yet: waiting for a person");
                report.outcome = Outcome::ApprovalPending;
                return Ok(answer);
            }
            Gate::Invalid(message) => return Err(McpError::invalid_params(message, None)),
        }
        if let Some(mode) = &tool.task {
            if tool_ctx.client_capabilities.supports_tasks() {
                if let Some(reply) = mode.before.as_ref().and_then(|before| before(&tool_ctx)) {
                    return Ok(reply);
                }
                // The task's outcome is audited when it settles.
                let audit = audit.take();
                let created =
                    tasks::create(&self.shared, tool.clone(), tool_ctx, arguments, audit).await;
                if created.is_ok() {
                    report.outcome = Outcome::Ok;
                }
                return created;
            }
            if mode.required {
                return Err(McpError::missing_required_client_capability(
                    ClientCapabilities::builder().enable_tasks().build(),
                ));
            }
        }
        let call = tool.call(tool_ctx, arguments);
        let timeout = self.shared.tool_timeout;
        let outcome = tokio::select! {
            r = tokio::time::timeout(timeout, call) => r.unwrap_or(Err(ToolError::Timeout(timeout))),
            () = cancelled.cancelled() => {
                report.outcome = Outcome::ToolError;
                report.ran_for = Some(started.elapsed());
                tracing::debug!(tool = %request.name, "tool call cancelled by the client");
                return Err(McpError::internal_error("request cancelled", None));
            }
        };
        // The one log line of the call is written by `CallReport::finish`.
        report.ran_for = Some(started.elapsed());
        report.outcome = Outcome::ToolError;
        let mut result = match outcome {
            Ok(CallToolResponse::Complete(result)) => {
                if !result.is_error.unwrap_or(false) {
                    report.outcome = Outcome::Ok;
                }
                result
            }
            Ok(other) => {
                // The tool asks the client for input (an elicitation): it ran.
                report.outcome = Outcome::Ok;
                return Ok(other);
            }
            Err(ToolError::MissingCapability(caps)) => {
                report.outcome = Outcome::Refused;
                return Err(McpError::missing_required_client_capability(*caps));
            }
            Err(ToolError::InvalidParams(message)) => {
                report.outcome = Outcome::Refused;
                return Err(McpError::invalid_params(message, None));
            }
            Err(ToolError::Internal(e)) => {
                let reference = internal_reference("tool call", &e);
                CallToolResult::error(vec![ContentBlock::text(format!(
                    "The tool failed because of an internal error (reference {reference}). Try again later."
                ))])
            }
            Err(e) => {
                if matches!(e, ToolError::Refused(_)) {
                    report.outcome = Outcome::Refused;
                }
                tracing::debug!(tool = %request.name, "tool call refused: {e}");
                CallToolResult::error(vec![ContentBlock::text(e.to_string())])
            }
        };
        // Tool output hygiene: one pass over the finished result. The report
        // holds rule names and counts, never the text (for the audit record).
        let hygiene =
            crate::safety::hygiene::apply(&mut result, &request.name, &self.shared.hygiene);
        hygiene.log(&request.name);
        if let Some(audit) = audit.as_mut() {
            audit.set_flags(hygiene.flag_names());
        }
        Ok(result.into())
    }
}

impl ServerHandler for ConnectorHandler {
    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(SUPPORTED_VERSIONS)
    }

    fn get_info(&self) -> InitializeResult {
        let served = self.shared.live.load();
        let id = served.catalog.identity();
        let mut resources = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_prompts()
            .enable_completions()
            .enable_logging()
            // The served tools change on config reload (SIGHUP).
            .enable_tool_list_changed();
        if served.catalog.supports_subscriptions() {
            resources = resources.enable_resources_subscribe();
        }
        if served.catalog.tools().has_tasks() {
            resources = resources.enable_tasks();
        }
        let mut implementation = Implementation::new(id.name, env!("CARGO_PKG_VERSION"));
        implementation.title = Some(id.title.to_owned());
        InitializeResult::new(resources.build())
            .with_server_info(implementation)
            .with_instructions(id.instructions)
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if let Ok(mut level) = self.log_level.lock() {
            *level = Some(request.level);
        }
        Ok(())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let served = self.shared.live.load();
        let policy = &served.policy;
        let principal = principal(&ctx);
        let (caps, known) = self.client_capabilities(&ctx);
        let view = super::approval_view::wanted(&caps, known);
        let all: Vec<_> = served
            .catalog
            .tools()
            .definitions()
            .filter(|t| policy.serves(t) && Self::visible_to(&served, t, principal))
            .map(|t| policy.listed(t, view))
            .collect();
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let (tools, next) = page(&self.shared.sealer, "tools/list", &all, cursor)?;
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next;
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        let served = self.shared.live.load();
        let tool = served.catalog.tools().get(name)?;
        served.policy.serves(&tool.def).then(|| tool.def.clone())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // Audit trail: every outcome is recorded, and committed, before it is
        // returned; if it cannot be recorded the call fails closed. The call
        // counts as in flight until then, so that shutdown does not close the
        // database under a pending record.
        let _in_flight = self.shared.in_flight.token();
        let mut audit = self.shared.audit.begin_call(&request, &ctx);
        let mut report = CallReport::begin(&ctx);
        let name = request.name.clone();
        let response = self.run_tool(request, ctx, &mut audit, &mut report).await;
        let response = match audit {
            Some(audit) => audit.finish(response).await,
            None => response,
        };
        report.finish(&self.shared.metrics, &name, response.is_ok());
        response
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let all = self
            .shared
            .live
            .load()
            .catalog
            .list_resources()
            .await
            .map_err(|e| catalog_error(e, &ctx))?;
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let (items, next) = page(&self.shared.sealer, "resources/list", &all, cursor)?;
        let mut result = ListResourcesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let all = self.shared.live.load().catalog.resource_templates();
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let (items, next) = page(
            &self.shared.sealer,
            "resources/templates/list",
            &all,
            cursor,
        )?;
        let mut result = ListResourceTemplatesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let _in_flight = self.shared.in_flight.token();
        let origin = self.shared.public_origin.as_deref();
        if let Some(view) = super::approval_view::read(&request.uri, origin) {
            return Ok(view.into());
        }
        let served = self.shared.live.load();
        served
            .catalog
            .read_resource(&request.uri)
            .await
            .map(Into::into)
            .map_err(|e| catalog_error(e, &ctx))
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let all = self.shared.live.load().catalog.prompts();
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let (items, next) = page(&self.shared.sealer, "prompts/list", &all, cursor)?;
        let mut result = ListPromptsResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let _in_flight = self.shared.in_flight.token();
        let served = self.shared.live.load();
        served
            .catalog
            .get_prompt(request)
            .await
            .map_err(|e| catalog_error(e, &ctx))
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let served = self.shared.live.load();
        served
            .catalog
            .complete(request)
            .await
            .map(CompleteResult::new)
            .map_err(|e| catalog_error(e, &ctx))
    }

    /// `subscriptions/listen` (2026-07-28): `toolsListChanged` always (the
    /// tools change on reload); resource subscriptions for catalogs that
    /// offer them. rmcp acknowledges, tags and filters the stream.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = if self.shared.live.load().catalog.supports_subscriptions() {
            requested.clone()
        } else {
            SubscriptionFilter::new()
        };
        accepted.tools_list_changed = requested.tools_list_changed;
        Some(accepted)
    }

    /// A `subscriptions/listen` stream: sends `notifications/tools/list_changed`
    /// after each reload, if accepted, until the client cancels.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        if context.accepted().tools_list_changed != Some(true) {
            context.cancelled().await;
            return Ok(());
        }
        let mut changed = self.shared.live.subscribe();
        loop {
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                r = changed.recv() => match r {
                    // A lagged receiver missed changes: one notice covers them.
                    Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Err(e) = context.sink().notify_tool_list_changed().await {
                            tracing::debug!(error = %e, "subscription stream closed");
                            return Ok(());
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        context.cancelled().await;
                        return Ok(());
                    }
                },
            }
        }
    }

    /// A stateful session is ready: from now on tell it when the tools
    /// change (config reload), until the session ends. Stateless clients of
    /// older revisions have no stream to be told on: they see the new tools
    /// on their next `tools/list` (2026-07-28 clients use [`Self::listen`]).
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if self.shared.sessions {
            tokio::spawn(notify_tool_changes(
                self.shared.live.subscribe(),
                context.peer,
            ));
        }
    }

    /// `tasks/get` (rmcp has checked that the client declared the extension).
    async fn get_task(
        &self,
        request: GetTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        tasks::get(&self.shared, &request.task_id, &ctx).await
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        tasks::update(&self.shared, &request.task_id, request.input_responses, ctx).await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        tasks::cancel(&self.shared, &request.task_id, &ctx).await
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        _request: SubscribeRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if self.shared.live.load().catalog.supports_subscriptions() {
            Ok(())
        } else {
            Err(McpError::method_not_found::<
                rmcp::model::SubscribeRequestMethod,
            >())
        }
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        _request: UnsubscribeRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if self.shared.live.load().catalog.supports_subscriptions() {
            Ok(())
        } else {
            Err(McpError::method_not_found::<
                rmcp::model::UnsubscribeRequestMethod,
            >())
        }
    }
}
