//! `mcp-connector tools …`

use std::path::{Path, PathBuf};

use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use mcp_connector_security::sha256_hex;
use rmcp::model::{CallToolResult, ContentBlock};

use super::ToolsArgs;
use crate::app::AppState;
use crate::audit::redact::redact;
use crate::audit::{AuditEvent, AuditKind};
use crate::catalog::ToolError;
use crate::config::Config;
use crate::declared::args::Caller;
use crate::drift::{DEFAULT_LOCK_FILE, DriftReport, ToolLock};

/// `tools lock`
#[derive(Debug, Clone, Args)]
pub(super) struct LockArgs {
    #[command(flatten)]
    config: ToolsArgs,
    /// Where to write [default: safety.tools_lock, else mcp-connector.tools.lock].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `tools diff`
#[derive(Debug, Clone, Args)]
pub(super) struct DiffArgs {
    #[command(flatten)]
    config: ToolsArgs,
    /// Lock file to compare with [default: safety.tools_lock, else mcp-connector.tools.lock].
    #[arg(long)]
    lock: Option<PathBuf>,
}

/// Longest error text kept in an audit record (as for `/mcp` calls).
const MAX_ERROR_CHARS: usize = 2000;

/// `tools call`
#[derive(Debug, Clone, Args)]
pub(super) struct CallArgs {
    #[command(flatten)]
    config: ToolsArgs,
    /// The declared tool to run.
    name: String,
    /// Arguments, a JSON object.
    #[arg(long, default_value = "{}")]
    args: String,
    /// Caller user name, bound to `:_user` (unset: NULL, so row filters on it match nothing).
    #[arg(long)]
    user: Option<String>,
    /// Caller client id, bound to `:_client`.
    #[arg(long)]
    client: Option<String>,
    /// Print the `structuredContent` as JSON, or the text content.
    #[arg(long, value_enum, default_value_t = CallFormat::Json)]
    format: CallFormat,
}

/// How `tools call` prints a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum CallFormat {
    Json,
    Text,
}

/// Run a declared tool as `tools/call` would, print its result, exit 1 if
/// it is unknown or its result is an error.
pub(super) fn call(args: &CallArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    if config.declared.is_none() {
        anyhow::bail!(
            "`tools call` runs tools declared in the config file ([[tools]]); \
             the built-in demo tools are called through /mcp"
        );
    }
    let arguments = match serde_json::from_str(&args.args) {
        Ok(serde_json::Value::Object(o)) => o,
        Ok(_) => anyhow::bail!("--args must be a JSON object"),
        Err(e) => anyhow::bail!("--args is not JSON: {e}"),
    };
    let caller = Caller {
        user: args.user.clone(),
        client: args.client.clone(),
        ..Caller::default()
    };
    let result = super::runtime()?.block_on(async move {
        let state = AppState::build(config)
            .await
            .context("loading the catalog")?;
        let outcome = run_declared(&state, &args.name, arguments, &caller).await;
        state.db.close().await;
        outcome
    })?;
    let text = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect::<Vec<_>>()
        .join("\n");
    if result.is_error == Some(true) {
        anyhow::bail!("tool `{}` returned an error: {text}", args.name);
    }
    match (args.format, &result.structured_content) {
        (CallFormat::Json, Some(v)) => println!("{}", serde_json::to_string_pretty(v)?),
        (CallFormat::Json, None) => println!("{}", serde_json::to_string_pretty(&result)?),
        (CallFormat::Text, _) => println!("{text}"),
    }
    Ok(())
}

/// The tool call proper: policy, time limit, the shared invoke path,
/// output hygiene and the audit record (committed before anything prints).
async fn run_declared(
    state: &AppState,
    name: &str,
    arguments: rmcp::model::JsonObject,
    caller: &Caller,
) -> anyhow::Result<CallToolResult> {
    let served = state.mcp.live.load();
    let declared = served
        .catalog
        .declared()
        .context("no declared tools are served")?;
    // Read-only mode and `enabled = false` hide a tool here as on /mcp.
    let known = served
        .catalog
        .tools()
        .get(name)
        .is_some_and(|t| served.policy.serves(&t.def));
    if !known {
        let names: Vec<String> = served
            .catalog
            .tools()
            .definitions()
            .filter(|t| served.policy.serves(t))
            .map(|t| t.name.to_string())
            .collect();
        anyhow::bail!("unknown tool `{name}` (served: {})", names.join(", "));
    }
    let mut event = AuditEvent::now(AuditKind::ToolCall);
    event.subject = Some(format!(
        "cli:{}",
        caller
            .user
            .as_deref()
            .unwrap_or(crate::auth::events::OPERATOR)
    ));
    event.client = Some(
        caller
            .client
            .clone()
            .unwrap_or_else(|| "mcp-connector-cli".into()),
    );
    event.tool = Some(name.to_owned());
    event.arguments = Some(redact(
        &serde_json::Value::Object(arguments.clone()),
        state.mcp.audit.redact_fields(),
    ));
    let started = Instant::now();
    let timeout = state.mcp.tool_timeout;
    let outcome = tokio::time::timeout(timeout, declared.invoke(name, arguments, caller))
        .await
        .unwrap_or(Err(ToolError::Timeout(timeout)));
    event.duration_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    let mut result = match outcome {
        Ok(r) => r,
        // Bad arguments are a JSON-RPC error on /mcp: the call did not run.
        Err(e @ (ToolError::InvalidParams(_) | ToolError::NotFound(_))) => {
            event.is_error = true;
            event.error = Some(e.to_string());
            record(state, event).await?;
            anyhow::bail!("{e}");
        }
        Err(ToolError::Internal(e)) => {
            // The operator's terminal may see the cause; the audit record
            // keeps the generic text, as on /mcp.
            eprintln!("internal error: {e}");
            CallToolResult::error(vec![ContentBlock::text(
                "The tool failed because of an internal error.",
            )])
        }
        Err(e) => CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
    };
    let hygiene = crate::safety::hygiene::apply(&mut result, name, &state.mcp.hygiene);
    let flags = hygiene.flag_names();
    if !flags.is_empty() {
        eprintln!(
            "warning: the output looks like instructions to a model ({})",
            flags.join(", ")
        );
    }
    event.flags = (!flags.is_empty()).then(|| flags.iter().map(|f| (*f).to_owned()).collect());
    let bytes = serde_json::to_vec(&result).unwrap_or_default();
    event.result = Some((sha256_hex(&bytes), bytes.len() as u64));
    event.is_error = result.is_error.unwrap_or(false);
    if event.is_error {
        let text: Vec<&str> = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
            .collect();
        let text = text.join("\n");
        event.error = Some(crate::safety::hygiene::prefix_chars(&text, MAX_ERROR_CHARS).to_owned());
    }
    record(state, event).await?;
    Ok(result)
}

/// Commit an audit record; as on /mcp, no result is shown unaudited.
async fn record(state: &AppState, event: AuditEvent) -> anyhow::Result<()> {
    state
        .mcp
        .audit
        .record(event)
        .await
        .context("the call could not be recorded in the audit trail; result withheld")
}

/// Print the served tool definitions as a JSON array.
pub(super) fn list(args: &ToolsArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    super::runtime()?.block_on(async move {
        let state = AppState::build(config)
            .await
            .context("loading the catalog")?;
        let served = state.mcp.live.load();
        let tools: Vec<_> = served.catalog.tools().definitions().cloned().collect();
        println!("{}", serde_json::to_string_pretty(&tools)?);
        state.db.close().await;
        Ok(())
    })
}

/// Write the lock of the served tools.
pub(super) fn lock(args: &LockArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let path = lock_path(args.out.as_deref(), &config);
    let live = served(config)?;
    live.write(&path)?;
    println!(
        "wrote {} ({} tools, {})",
        path.display(),
        live.tools.len(),
        live.digest
    );
    Ok(())
}

/// Compare the served tools with the lock; an error (exit 1) on any drift.
pub(super) fn diff(args: &DiffArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let path = lock_path(args.lock.as_deref(), &config);
    let locked = ToolLock::read(&path)?;
    let live = served(config)?;
    let report = DriftReport::compare(&locked, &live);
    if report.is_empty() {
        println!("no drift: the served tools match {}", path.display());
        return Ok(());
    }
    for line in report.lines() {
        println!("{line}");
    }
    // What changed, old then new, so a reviewer need not open the lock.
    for change in &report.changed {
        println!("\n~ {}", change.name);
        for field in &change.fields {
            let text = |lock: &ToolLock| {
                lock.tools
                    .get(&change.name)
                    .and_then(|t| t.fields.get(*field))
                    .map_or_else(|| "(absent)".to_owned(), shown)
            };
            println!("  {field}:");
            println!("    - {}", text(&locked));
            println!("    + {}", text(&live));
        }
    }
    anyhow::bail!(
        "the served tools differ from {}: {}",
        path.display(),
        report.summary()
    )
}

/// A lock field for `tools diff`: a string as its text, anything else as
/// compact JSON (schemas and annotations).
fn shown(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "(absent)".to_owned(),
        other => other.to_string(),
    }
}

/// An explicit path, else the configured lock, else the default file name.
fn lock_path(explicit: Option<&Path>, config: &Config) -> PathBuf {
    explicit
        .map(Path::to_owned)
        .or_else(|| config.safety.tools_lock.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_LOCK_FILE))
}

/// The lock of the tools `serve` would serve with `config`.
fn served(config: Config) -> anyhow::Result<ToolLock> {
    super::runtime()?.block_on(async move {
        let state = AppState::build(config)
            .await
            .context("loading the catalog")?;
        let lock = crate::app::served_lock(&state.mcp.live.load());
        state.db.close().await;
        Ok(lock)
    })
}
