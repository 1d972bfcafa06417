//! Tools: typed registration, argument validation and the tool error model.
//!
//! A tool is registered with a typed argument struct. Its JSON Schema
//! (`inputSchema`) is generated from that type, and incoming arguments are
//! decoded with the same type, so the advertised schema and the accepted input
//! cannot drift apart. Decoding errors name the offending argument.

// Logging is deprecated by the 2026-07-28 revision (SEP-2577) but is part of
// every older revision we serve, so we keep implementing it.
#![allow(deprecated)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::RoleServer;
use rmcp::handler::server::common::{schema_for_output, schema_for_type};
use rmcp::model::{
    CallToolResponse, CallToolResult, ClientCapabilities, ContentBlock, InputResponses, JsonObject,
    LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a tool call failed. Every variant becomes a tool result with
/// `isError: true` (SEP-1303), so the model can read the message and correct
/// itself; only [`ToolError::Internal`] hides its detail behind a reference.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("Invalid argument `{argument}`: {message}")]
    InvalidArgument { argument: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
    #[error("The tool did not finish within {:.1} seconds.", .0.as_secs_f64())]
    Timeout(std::time::Duration),
    /// The call needs a client capability the client did not declare: a
    /// JSON-RPC error (`-32021`), since retrying cannot help.
    #[error("missing required client capability")]
    MissingCapability(Box<ClientCapabilities>),
    /// The request itself is malformed (for example a tampered
    /// `requestState`): a JSON-RPC `-32602`, not a tool result.
    #[error("{0}")]
    InvalidParams(String),
    #[error("internal error")]
    Internal(#[from] crate::store::StoreError),
}

impl ToolError {
    /// An invalid-argument error.
    pub fn invalid(argument: &str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            argument: argument.to_owned(),
            message: message.into(),
        }
    }
}

/// Tool names Claude accepts (one rule for declared tools, checked at load,
/// and for registered ones).
pub use crate::config::spec::valid_tool_name;

/// Registration error.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegisterError {
    #[error(
        "tool name `{0}` must match ^[a-zA-Z0-9_-]{{1,64}}$ (Claude drops every tool otherwise)"
    )]
    InvalidName(String),
    #[error("tool `{0}` is registered twice")]
    Duplicate(String),
    #[error("tool `{0}` has an input schema whose type is not \"object\"")]
    SchemaNotObject(String),
    #[error("tool `{0}` is not registered")]
    Unknown(String),
}

/// Static description of a tool.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

impl ToolSpec {
    /// A read-only, closed-world tool (the common case for data lookups).
    pub const fn read(name: &'static str, title: &'static str, description: &'static str) -> Self {
        Self {
            name,
            title,
            description,
            read_only: true,
            destructive: false,
            idempotent: true,
            open_world: false,
        }
    }

    pub fn annotations(&self) -> ToolAnnotations {
        annotations(
            self.title,
            self.read_only,
            self.destructive,
            self.idempotent,
            self.open_world,
        )
    }
}

/// Tool annotations. `destructiveHint` and `idempotentHint` only mean
/// something for tools that write, but Claude's directory wants both hints
/// set on every tool.
pub fn annotations(
    title: &str,
    read_only: bool,
    destructive: bool,
    idempotent: bool,
    open_world: bool,
) -> ToolAnnotations {
    let mut a = ToolAnnotations::with_title(title);
    a.read_only_hint = Some(read_only);
    a.destructive_hint = Some(!read_only && destructive);
    a.idempotent_hint = Some(idempotent);
    a.open_world_hint = Some(open_world);
    a
}

/// The context a tool runs in: the MCP request (for progress, logging,
/// cancellation and client requests) and the request's log threshold.
pub struct ToolCtx {
    pub request: RequestContext<RoleServer>,
    /// Lowest level the client wants as `notifications/message`; `None` means
    /// the client asked for no log messages (2026-07-28 without `logLevel`).
    pub log_level: Option<LoggingLevel>,
    /// What the client can do: the request's `_meta` (2026-07-28) or its
    /// `initialize` (older revisions).
    pub client_capabilities: ClientCapabilities,
    /// Answers to an earlier `input_required` result (2026-07-28 MRTR).
    pub input_responses: Option<InputResponses>,
    /// The `requestState` echoed from an earlier round; attacker-controlled.
    pub request_state: Option<String>,
}

impl ToolCtx {
    /// The authenticated caller, when `/mcp` requires tokens.
    pub fn principal(&self) -> Option<&crate::config::principal::Principal> {
        crate::config::principal::of_request(&self.request)
    }

    /// Report progress if the client asked for it (sent a progress token).
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: &str) {
        if let Some(token) = self.request.meta.get_progress_token() {
            let mut p = ProgressNotificationParam::new(token, progress).with_message(message);
            if let Some(total) = total {
                p = p.with_total(total);
            }
            // A client that went away cannot be told; the call goes on.
            let _ = self.request.peer.notify_progress(p).await;
        }
    }

    /// Send a log message to the client if its threshold allows.
    pub async fn log(&self, level: LoggingLevel, logger: &str, data: serde_json::Value) {
        let Some(threshold) = self.log_level else {
            return;
        };
        if level_rank(level) < level_rank(threshold) {
            return;
        }
        let _ = self
            .request
            .peer
            .notify_logging_message(
                LoggingMessageNotificationParam::new(level, data).with_logger(logger),
            )
            .await;
    }
}

/// Severity order of RFC 5424 levels, low to high.
pub fn level_rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// A successful result carrying `value` as `structuredContent` and, for
/// clients that only read text, the same JSON as a text block.
pub fn structured<T: Serialize>(value: &T) -> CallToolResult {
    let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    CallToolResult::structured(value)
}

/// A successful plain-text result.
pub fn text(s: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(s.into())])
}

/// A tool's answer: a result, or (2026-07-28) a request for client input.
pub type ToolReply = CallToolResponse;

type Handler =
    dyn Fn(ToolCtx, JsonObject) -> BoxFuture<'static, Result<ToolReply, ToolError>> + Send + Sync;

/// A synchronous first step of a task tool: a reply (typically a request for
/// the client's input) to give before any task exists, or `None` to go on.
pub type BeforeTask = dyn Fn(&ToolCtx) -> Option<ToolReply> + Send + Sync;

/// How a tool runs as a task (tasks extension, SEP-2663). For a client that
/// declared the extension, the call returns a task at once and the tool runs
/// in the background; its state is in the database.
#[derive(Clone)]
pub struct TaskMode {
    /// Without the client's tasks extension the call is refused (`-32021`)
    /// instead of running synchronously.
    pub required: bool,
    /// Run before the task is created (multi round-trip input first).
    pub before: Option<Arc<BeforeTask>>,
}

/// One registered tool.
#[derive(Clone)]
pub struct ToolEntry {
    pub def: Tool,
    handler: Arc<Handler>,
    /// `Some` for a tool that can run as a task.
    pub task: Option<TaskMode>,
}

impl ToolEntry {
    /// Run the tool with raw arguments.
    pub fn call(
        &self,
        ctx: ToolCtx,
        args: JsonObject,
    ) -> BoxFuture<'static, Result<ToolReply, ToolError>> {
        (self.handler)(ctx, args)
    }
}

/// The tools of a catalog, in registration order (which is the stable
/// `tools/list` order).
#[derive(Clone, Default)]
pub struct ToolSet {
    entries: Vec<ToolEntry>,
    by_name: HashMap<String, usize>,
}

impl ToolSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Register a tool whose arguments decode into `A`.
    pub fn add<A, R, F, Fut>(&mut self, spec: ToolSpec, f: F) -> Result<(), RegisterError>
    where
        A: DeserializeOwned + schemars::JsonSchema + Send + 'static,
        R: Into<ToolReply> + 'static,
        F: Fn(ToolCtx, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ToolError>> + Send + 'static,
    {
        let schema = schema_for_type::<A>();
        self.add_raw(spec, schema, None, f)
    }

    /// Register a tool with structured output `O` (advertised as `outputSchema`).
    pub fn add_structured<A, O, F, Fut>(
        &mut self,
        spec: ToolSpec,
        f: F,
    ) -> Result<(), RegisterError>
    where
        A: DeserializeOwned + schemars::JsonSchema + Send + 'static,
        O: schemars::JsonSchema + 'static,
        F: Fn(ToolCtx, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CallToolResult, ToolError>> + Send + 'static,
    {
        let schema = schema_for_type::<A>();
        self.add_raw(spec, schema, Some(schema_for_output::<O>()), f)
    }

    /// Register a tool with an explicit input schema (for fixtures whose schema
    /// is itself the thing under test).
    pub fn add_raw<A, R, F, Fut>(
        &mut self,
        spec: ToolSpec,
        input_schema: Arc<JsonObject>,
        output_schema: Option<Arc<JsonObject>>,
        f: F,
    ) -> Result<(), RegisterError>
    where
        A: DeserializeOwned + Send + 'static,
        R: Into<ToolReply> + 'static,
        F: Fn(ToolCtx, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ToolError>> + Send + 'static,
    {
        if !valid_tool_name(spec.name) {
            return Err(RegisterError::InvalidName(spec.name.to_owned()));
        }
        if self.by_name.contains_key(spec.name) {
            return Err(RegisterError::Duplicate(spec.name.to_owned()));
        }
        if input_schema.get("type").and_then(|t| t.as_str()) != Some("object") {
            return Err(RegisterError::SchemaNotObject(spec.name.to_owned()));
        }
        let mut def = Tool::new(spec.name, spec.description, input_schema);
        def.title = Some(spec.title.to_owned());
        def.annotations = Some(spec.annotations());
        def.output_schema = output_schema;
        let f = Arc::new(f);
        let handler: Arc<Handler> = Arc::new(move |ctx, args| {
            let f = f.clone();
            Box::pin(async move {
                let parsed: A = decode_arguments(args)?;
                f(ctx, parsed).await.map(Into::into)
            })
        });
        self.by_name
            .insert(spec.name.to_owned(), self.entries.len());
        self.entries.push(ToolEntry {
            def,
            handler,
            task: None,
        });
        Ok(())
    }

    /// Let the registered tool `name` run as a task.
    pub fn run_as_task(&mut self, name: &str, mode: TaskMode) -> Result<(), RegisterError> {
        let i = *self
            .by_name
            .get(name)
            .ok_or_else(|| RegisterError::Unknown(name.to_owned()))?;
        self.entries[i].task = Some(mode);
        Ok(())
    }

    /// Whether any tool can run as a task (the server then offers the
    /// tasks extension).
    pub fn has_tasks(&self) -> bool {
        self.entries.iter().any(|e| e.task.is_some())
    }

    /// Register a tool built at run time (config-declared): a complete
    /// definition and a handler that checks its raw arguments itself.
    pub fn add_dynamic<F>(&mut self, def: Tool, f: F) -> Result<(), RegisterError>
    where
        F: Fn(ToolCtx, JsonObject) -> BoxFuture<'static, Result<ToolReply, ToolError>>
            + Send
            + Sync
            + 'static,
    {
        let name = def.name.to_string();
        if !valid_tool_name(&name) {
            return Err(RegisterError::InvalidName(name));
        }
        if self.by_name.contains_key(&name) {
            return Err(RegisterError::Duplicate(name));
        }
        if def.input_schema.get("type").and_then(|t| t.as_str()) != Some("object") {
            return Err(RegisterError::SchemaNotObject(name));
        }
        self.by_name.insert(name, self.entries.len());
        self.entries.push(ToolEntry {
            def,
            handler: Arc::new(f),
            task: None,
        });
        Ok(())
    }

    /// Look a tool up by name.
    pub fn get(&self, name: &str) -> Option<&ToolEntry> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// Every tool definition, in registration order.
    pub fn definitions(&self) -> impl Iterator<Item = &Tool> {
        self.entries.iter().map(|e| &e.def)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Decode tool arguments, naming the argument at fault on error.
pub fn decode_arguments<A: DeserializeOwned>(args: JsonObject) -> Result<A, ToolError> {
    let value = serde_json::Value::Object(args);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde reports a missing or unknown field at the parent path and
        // names the field in its message; lift that name into `argument`.
        let argument = if path == "." {
            backticked(&inner).unwrap_or_else(|| "arguments".to_owned())
        } else {
            path
        };
        ToolError::InvalidArgument {
            argument,
            message: inner,
        }
    })
}

fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Args {
        department: String,
        limit: Option<u32>,
    }

    fn obj(v: serde_json::Value) -> JsonObject {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn tool_names_follow_claudes_rule() {
        assert!(valid_tool_name("get_employee_count"));
        assert!(valid_tool_name("a-b_C9"));
        assert!(!valid_tool_name(""));
        assert!(!valid_tool_name("company.count"));
        assert!(!valid_tool_name("has space"));
        assert!(!valid_tool_name(&"x".repeat(65)));
        assert!(valid_tool_name(&"x".repeat(64)));
    }

    #[test]
    fn registration_refuses_bad_names_and_duplicates() {
        let mut set = ToolSet::new();
        let spec = ToolSpec::read("ok_name", "Ok", "d");
        assert_eq!(
            set.add(spec.clone(), |_, _: Args| async { Ok(text("x")) }),
            Ok(())
        );
        assert_eq!(
            set.add(spec, |_, _: Args| async { Ok(text("x")) }),
            Err(RegisterError::Duplicate("ok_name".into()))
        );
        let bad = ToolSpec::read("bad.name", "Bad", "d");
        assert!(matches!(
            set.add(bad, |_, _: Args| async { Ok::<_, ToolError>(text("x")) }),
            Err(RegisterError::InvalidName(_))
        ));
    }

    #[test]
    fn decode_errors_name_the_argument() {
        let e = decode_arguments::<Args>(obj(serde_json::json!({}))).unwrap_err();
        assert!(
            matches!(&e, ToolError::InvalidArgument { argument, .. } if argument == "department"),
            "{e}"
        );
        let e = decode_arguments::<Args>(obj(serde_json::json!({"department": 5}))).unwrap_err();
        assert!(
            matches!(&e, ToolError::InvalidArgument { argument, .. } if argument == "department"),
            "{e}"
        );
        let e = decode_arguments::<Args>(obj(serde_json::json!({"department": "x", "limit": -1})))
            .unwrap_err();
        assert!(
            matches!(&e, ToolError::InvalidArgument { argument, .. } if argument == "limit"),
            "{e}"
        );
        let e = decode_arguments::<Args>(obj(serde_json::json!({"department": "x", "evil": 1})))
            .unwrap_err();
        assert!(
            matches!(&e, ToolError::InvalidArgument { argument, .. } if argument == "evil"),
            "{e}"
        );
    }
}
