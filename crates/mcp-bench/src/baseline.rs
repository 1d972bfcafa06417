//! The bare rmcp baseline: the smallest server that answers the same tool call
//! as the connector's Company demo, over the same transport configuration.
//! Its throughput is the ceiling the connector is compared against, so it does
//! no work beyond what rmcp itself needs (no database, no middleware).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, InitializeResult,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::json;

/// Headcounts of the Company demo's seed data, so both servers give one answer.
fn headcounts() -> HashMap<&'static str, i64> {
    HashMap::from([("engineering", 42), ("sales", 18), ("operations", 11)])
}

#[derive(Clone)]
struct Baseline {
    counts: Arc<HashMap<&'static str, i64>>,
    tool: Arc<Tool>,
}

impl Baseline {
    fn new() -> Self {
        let schema = json!({
            "type": "object",
            "properties": {"department": {"type": "string"}},
            "required": ["department"],
        });
        let schema = match schema {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        Self {
            counts: Arc::new(headcounts()),
            tool: Arc::new(Tool::new(
                "get_employee_count",
                "Number of employees in a department.",
                schema,
            )),
        }
    }
}

impl ServerHandler for Baseline {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "mcp-bench-baseline",
                env!("CARGO_PKG_VERSION"),
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(vec![(*self.tool).clone()]))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        (name == self.tool.name).then(|| (*self.tool).clone())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if request.name != self.tool.name {
            return Err(McpError::invalid_params(
                format!("Unknown tool: {}", request.name),
                None,
            ));
        }
        let department = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("department"))
            .and_then(|d| d.as_str())
            .ok_or_else(|| McpError::invalid_params("`department` must be a string", None))?;
        let Some(count) = self.counts.get(department) else {
            return Ok(
                CallToolResult::error(vec![rmcp::model::ContentBlock::text(format!(
                    "no department named {department}"
                ))])
                .into(),
            );
        };
        Ok(CallToolResult::structured(json!({"department": department, "count": count})).into())
    }
}

/// `mcp-bench baseline-server`: serve until killed. Uses the same runtime
/// flavour as `mcp-connector serve` (multi-threaded, one worker per core) so
/// that the two processes differ only in what they do per request. With
/// `sessions`, stateful sessions with rmcp's default SSE answers, as the
/// connector's `--sessions`.
pub(crate) fn run(listen: SocketAddr, sessions: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the runtime")?;
    runtime.block_on(async move {
        // Same settings as the connector's endpoint in the same mode.
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(sessions)
            .with_json_response(!sessions);
        let handler = Baseline::new();
        let service = StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        let app = axum::Router::new()
            .route("/healthz", axum::routing::get(|| async { "ok" }))
            .nest_service("/mcp", service);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        axum::serve(listener, app).await.context("serving")
    })
}
