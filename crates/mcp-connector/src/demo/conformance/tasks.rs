//! Fixtures of the tasks extension (SEP-2663) that the 2026-07-28 suite
//! calls: `greet` (never a task), `slow_compute`, `failing_job`,
//! `protocol_error_job`, `confirm_delete` and `multi_input` (tasks when the
//! client declared the extension) and `test_tool_with_task` (a task only;
//! asks for a name by multi round-trip first). They run through the real
//! task machinery of [`crate::mcp::handler::tasks`].

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::catalog::tools::{RegisterError, TaskMode, text};
use crate::catalog::{ToolCtx, ToolError, ToolSet};
use crate::store::StoreError;

use super::mrtr::{accepted, ask, elicit};
use super::{no_params, object, spec};

/// Longest `slow_compute` run: a fixture must not hold a task for hours.
const MAX_SECONDS: f64 = 300.0;

#[derive(Deserialize)]
struct Greet {
    name: String,
}

#[derive(Deserialize)]
struct Compute {
    #[serde(default)]
    seconds: f64,
    #[serde(default)]
    label: Option<String>,
}

#[derive(Deserialize)]
struct Delete {
    filename: String,
}

fn optional() -> TaskMode {
    TaskMode {
        required: false,
        before: None,
    }
}

fn name_of(ctx: &ToolCtx, key: &str) -> Option<String> {
    accepted(ctx.input_responses.as_ref(), key, "name").and_then(|v| v.as_str().map(str::to_owned))
}

/// Register the task fixtures.
pub(super) fn register(t: &mut ToolSet) -> Result<(), RegisterError> {
    t.add_raw(
        spec("greet", "Greets by name (never a task)"),
        object(json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]})),
        None,
        |_ctx, a: Greet| async move { Ok(text(format!("Hello, {}!", a.name))) },
    )?;
    t.add_raw(
        spec(
            "slow_compute",
            "Sleeps `seconds` seconds, then answers (a task)",
        ),
        object(json!({"type": "object", "properties": {
            "seconds": {"type": "number", "minimum": 0, "maximum": MAX_SECONDS},
            "label": {"type": "string"}}})),
        None,
        |_ctx, a: Compute| async move {
            if !(0.0..=MAX_SECONDS).contains(&a.seconds) {
                return Err(ToolError::invalid(
                    "seconds",
                    format!("must be between 0 and {MAX_SECONDS}"),
                ));
            }
            tokio::time::sleep(Duration::from_secs_f64(a.seconds)).await;
            let label = a.label.unwrap_or_default();
            Ok(text(format!("computed {label} after {}s", a.seconds)))
        },
    )?;
    t.run_as_task("slow_compute", optional())?;
    t.add_raw(
        spec(
            "failing_job",
            "Fails after a second with a tool error (a task only)",
        ),
        no_params(),
        None,
        |_ctx, _: JsonObject| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(CallToolResult::error(vec![ContentBlock::text(
                "The job failed on purpose.",
            )]))
        },
    )?;
    t.run_as_task(
        "failing_job",
        TaskMode {
            required: true,
            before: None,
        },
    )?;
    t.add_raw(
        spec(
            "protocol_error_job",
            "Fails with an internal (protocol) error (a task)",
        ),
        no_params(),
        None,
        |_ctx, _: JsonObject| async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Err::<CallToolResult, _>(ToolError::Internal(StoreError::Corrupt(
                "protocol_error_job always fails",
            )))
        },
    )?;
    t.run_as_task("protocol_error_job", optional())?;
    t.add_raw(
        spec("confirm_delete", "Asks for confirmation, then \"deletes\" a file (a task)"),
        object(json!({"type": "object", "properties": {"filename": {"type": "string"}}, "required": ["filename"]})),
        None,
        |ctx: ToolCtx, a: Delete| async move {
            Ok(match accepted(ctx.input_responses.as_ref(), "confirm", "confirm") {
                Some(Value::Bool(true)) => text(format!("Deleted {}", a.filename)).into(),
                Some(_) => text(format!("Kept {}", a.filename)).into(),
                None => ask(
                    vec![("confirm", elicit(&format!("Delete {}?", a.filename), "confirm", "boolean"))],
                    None,
                ),
            })
        },
    )?;
    t.run_as_task("confirm_delete", optional())?;
    t.add_raw(
        spec("multi_input", "Asks two questions at once (a task)"),
        no_params(),
        None,
        |ctx: ToolCtx, _: JsonObject| async move {
            Ok(match (name_of(&ctx, "first"), name_of(&ctx, "second")) {
                (Some(a), Some(b)) => text(format!("first={a}; second={b}")).into(),
                _ => ask(
                    vec![
                        ("first", elicit("First name?", "name", "string")),
                        ("second", elicit("Second name?", "name", "string")),
                    ],
                    None,
                ),
            })
        },
    )?;
    t.run_as_task("multi_input", optional())?;
    t.add_raw(
        spec(
            "test_tool_with_task",
            "Asks a name by multi round-trip, then greets from a task",
        ),
        no_params(),
        None,
        |ctx: ToolCtx, _: JsonObject| async move {
            match name_of(&ctx, "user_name") {
                Some(name) => Ok(text(format!("Hello, {name}! (from a task)"))),
                None => Err(ToolError::InvalidParams(
                    "the user's name is missing".into(),
                )),
            }
        },
    )?;
    t.run_as_task(
        "test_tool_with_task",
        TaskMode {
            required: true,
            before: Some(Arc::new(|ctx: &ToolCtx| {
                name_of(ctx, "user_name").is_none().then(|| {
                    ask(
                        vec![("user_name", elicit("What is your name?", "name", "string"))],
                        None,
                    )
                })
            })),
        },
    )?;
    Ok(())
}
