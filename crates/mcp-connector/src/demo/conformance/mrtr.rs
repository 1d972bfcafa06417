//! 2026-07-28 fixtures: multi round-trip requests (SEP-2322), capability
//! checks and the stateless-transport probes of the conformance suite.
//!
//! A tool that needs the client's input returns `input_required` with
//! `inputRequests` and, where later rounds depend on earlier ones, a
//! `requestState`. The client echoes that state back, so it is sealed with the
//! server secret and a forged or edited state is refused with `-32602`.

use mcp_connector_security::Sealer;
use rmcp::model::{
    ClientCapabilities, GetPromptResponse, GetPromptResult, InputRequest, InputRequests,
    InputRequiredResult, InputResponses, JsonObject, PromptMessage, Role,
};
use serde_json::{Value, json};

use crate::catalog::tools::{RegisterError, ToolReply, text};
use crate::catalog::{CatalogError, ToolCtx, ToolError, ToolSet};

use super::{no_params, spec};

fn request(method: &str, params: Value) -> InputRequest {
    match serde_json::from_value(json!({"method": method, "params": params})) {
        Ok(r) => r,
        // The fixtures are constants; a failure here is a programming error
        // that the conformance run reports, not something to hide.
        Err(e) => unreachable!("fixture input request is invalid: {e}"),
    }
}

pub(super) fn elicit(message: &str, property: &str, kind: &str) -> InputRequest {
    request(
        "elicitation/create",
        json!({"mode": "form", "message": message, "requestedSchema": {
            "type": "object", "properties": {property: {"type": kind}}, "required": [property]}}),
    )
}

fn sample(text: &str, max_tokens: u32) -> InputRequest {
    request(
        "sampling/createMessage",
        json!({"messages": [{"role": "user", "content": {"type": "text", "text": text}}], "maxTokens": max_tokens}),
    )
}

fn roots() -> InputRequest {
    request("roots/list", json!({}))
}

pub(super) fn ask(requests: Vec<(&str, InputRequest)>, state: Option<String>) -> ToolReply {
    let map: InputRequests = requests
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    ToolReply::InputRequired(InputRequiredResult::new(Some(map), state))
}

/// The accepted elicitation content field `field` of answer `key`, if any.
pub(super) fn accepted(
    responses: Option<&InputResponses>,
    key: &str,
    field: &str,
) -> Option<Value> {
    let answer = responses?.get(key)?;
    if answer.get("action")?.as_str()? != "accept" {
        return None;
    }
    answer.get("content")?.get(field).cloned()
}

fn sampled_text(responses: Option<&InputResponses>, key: &str) -> Option<String> {
    let answer = responses?.get(key)?;
    Some(answer.get("content")?.get("text")?.as_str()?.to_owned())
}

fn root_uris(responses: Option<&InputResponses>, key: &str) -> Option<Vec<String>> {
    let roots = responses?.get(key)?.get("roots")?.as_array()?;
    Some(
        roots
            .iter()
            .filter_map(|r| r.get("uri")?.as_str().map(str::to_owned))
            .collect(),
    )
}

/// Open a sealed state, refusing anything the server did not mint.
fn open_state(
    sealer: &Sealer,
    context: &str,
    state: Option<&str>,
) -> Result<Option<String>, ToolError> {
    match state {
        None => Ok(None),
        Some(s) => sealer
            .open(context, s)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(|| {
                ToolError::InvalidParams("requestState is invalid or was tampered with".into())
            }),
    }
}

/// Register the 2026-07-28 fixtures, in the order `tools/list` shows them.
pub(super) fn register(t: &mut ToolSet, sealer: &Sealer) -> Result<(), RegisterError> {
    client_capabilities_and_logging(t)?;
    input_requests(t)?;
    sealed_state(t, sealer)?;
    sealed_rounds(t, sealer)?;
    capabilities(t)?;
    Ok(())
}

/// The tools that answer at once: a missing client capability, streaming
/// elicitation, logging.
fn client_capabilities_and_logging(t: &mut ToolSet) -> Result<(), RegisterError> {
    t.add_raw(
        spec(
            "test_missing_capability",
            "Needs the client's sampling capability",
        ),
        no_params(),
        None,
        |ctx: ToolCtx, _: JsonObject| async move {
            if ctx.client_capabilities.sampling.is_none() {
                let mut needed = ClientCapabilities::default();
                needed.sampling = Some(Default::default());
                return Err(ToolError::MissingCapability(Box::new(needed)));
            }
            Ok(text("The client can sample."))
        },
    )?;
    t.add_raw(
        spec(
            "test_streaming_elicitation",
            "Asks for input without a server-to-client request",
        ),
        no_params(),
        None,
        |_ctx: ToolCtx, _: JsonObject| async move {
            Ok(ask(
                vec![("user_name", elicit("What is your name?", "name", "string"))],
                None,
            ))
        },
    )?;
    t.add_raw(
        spec(
            "test_logging_tool",
            "Logs only when the request asks for logs",
        ),
        no_params(),
        None,
        |ctx: ToolCtx, _: JsonObject| async move {
            #[allow(deprecated)]
            ctx.log(
                rmcp::model::LoggingLevel::Info,
                "conformance",
                json!("logging tool ran"),
            )
            .await;
            Ok(text("Logging tool completed"))
        },
    )?;
    Ok(())
}

/// `input_required` results that ask for one input: elicitation, sampling,
/// the client's roots.
fn input_requests(t: &mut ToolSet) -> Result<(), RegisterError> {
    t.add_raw(
        spec(
            "test_input_required_result_elicitation",
            "Asks the user's name, then greets",
        ),
        no_params(),
        None,
        |ctx: ToolCtx, _: JsonObject| async move {
            Ok(
                match accepted(ctx.input_responses.as_ref(), "user_name", "name")
                    .and_then(|v| v.as_str().map(str::to_owned))
                {
                    Some(name) => text(format!("Hello, {name}!")).into(),
                    None => ask(
                        vec![("user_name", elicit("What is your name?", "name", "string"))],
                        None,
                    ),
                },
            )
        },
    )?;
    t.add_raw(
        spec(
            "test_input_required_result_sampling",
            "Asks the client's model a question",
        ),
        no_params(),
        None,
        |ctx: ToolCtx, _: JsonObject| async move {
            Ok(
                match sampled_text(ctx.input_responses.as_ref(), "capital_question") {
                    Some(answer) => text(format!("The model answered: {answer}")).into(),
                    None => ask(
                        vec![(
                            "capital_question",
                            sample("What is the capital of France?", 100),
                        )],
                        None,
                    ),
                },
            )
        },
    )?;
    t.add_raw(
        spec(
            "test_input_required_result_list_roots",
            "Asks the client for its roots",
        ),
        no_params(),
        None,
        |ctx: ToolCtx, _: JsonObject| async move {
            Ok(
                match root_uris(ctx.input_responses.as_ref(), "client_roots") {
                    Some(uris) => text(format!("Client roots: {}", uris.join(", "))).into(),
                    None => ask(vec![("client_roots", roots())], None),
                },
            )
        },
    )?;
    Ok(())
}

/// `input_required` with a sealed `requestState`: one round, several inputs.
fn sealed_state(t: &mut ToolSet, sealer: &Sealer) -> Result<(), RegisterError> {
    let s = sealer.clone();
    t.add_raw(
        spec(
            "test_input_required_result_request_state",
            "Carries sealed state between rounds",
        ),
        no_params(),
        None,
        move |ctx: ToolCtx, _: JsonObject| {
            let s = s.clone();
            async move {
                const CTX: &str = "mrtr:request_state";
                let state = open_state(&s, CTX, ctx.request_state.as_deref())?;
                let ok = accepted(ctx.input_responses.as_ref(), "confirm", "ok");
                Ok(match (state.as_deref(), ok) {
                    (Some("awaiting-confirm"), Some(ok)) => {
                        text(format!("state-ok: confirmed={ok}")).into()
                    }
                    _ => ask(
                        vec![("confirm", elicit("Please confirm", "ok", "boolean"))],
                        Some(s.seal(CTX, b"awaiting-confirm")),
                    ),
                })
            }
        },
    )?;
    let s = sealer.clone();
    t.add_raw(
        spec(
            "test_input_required_result_multiple_inputs",
            "Asks for several inputs at once",
        ),
        no_params(),
        None,
        move |ctx: ToolCtx, _: JsonObject| {
            let s = s.clone();
            async move {
                const CTX: &str = "mrtr:multiple_inputs";
                let state = open_state(&s, CTX, ctx.request_state.as_deref())?;
                let r = ctx.input_responses.as_ref();
                let name = accepted(r, "user_name", "name");
                let greeting = sampled_text(r, "greeting");
                let client_roots = root_uris(r, "client_roots");
                Ok(match (state.as_deref(), name, greeting, client_roots) {
                    (Some("round-1"), Some(name), Some(greeting), Some(roots)) => text(format!(
                        "name={name}; greeting={greeting}; roots={}",
                        roots.join(",")
                    ))
                    .into(),
                    _ => ask(
                        vec![
                            ("user_name", elicit("What is your name?", "name", "string")),
                            ("greeting", sample("Generate a greeting", 50)),
                            ("client_roots", roots()),
                        ],
                        Some(s.seal(CTX, b"round-1")),
                    ),
                })
            }
        },
    )?;
    Ok(())
}

/// `input_required` over several rounds, and a tampered `requestState`.
fn sealed_rounds(t: &mut ToolSet, sealer: &Sealer) -> Result<(), RegisterError> {
    let s = sealer.clone();
    t.add_raw(
        spec(
            "test_input_required_result_multi_round",
            "Asks twice before answering",
        ),
        no_params(),
        None,
        move |ctx: ToolCtx, _: JsonObject| {
            let s = s.clone();
            async move {
                const CTX: &str = "mrtr:multi_round";
                let state = open_state(&s, CTX, ctx.request_state.as_deref())?;
                let r = ctx.input_responses.as_ref();
                let step1 = || {
                    ask(
                        vec![(
                            "step1",
                            elicit("Step 1: What is your name?", "name", "string"),
                        )],
                        Some(s.seal(CTX, b"step1")),
                    )
                };
                Ok(match state.as_deref() {
                    Some("step1") => match accepted(r, "step1", "name")
                        .and_then(|v| v.as_str().map(str::to_owned))
                    {
                        Some(name) => ask(
                            vec![(
                                "step2",
                                elicit("Step 2: What is your favorite color?", "color", "string"),
                            )],
                            Some(s.seal(CTX, format!("step2:{name}").as_bytes())),
                        ),
                        None => step1(),
                    },
                    Some(st) if st.starts_with("step2:") => match accepted(r, "step2", "color") {
                        Some(color) => {
                            text(format!("{} likes {color}", &st["step2:".len()..])).into()
                        }
                        None => step1(),
                    },
                    _ => step1(),
                })
            }
        },
    )?;
    let s = sealer.clone();
    t.add_raw(
        spec(
            "test_input_required_result_tampered_state",
            "Refuses an edited requestState",
        ),
        no_params(),
        None,
        move |ctx: ToolCtx, _: JsonObject| {
            let s = s.clone();
            async move {
                const CTX: &str = "mrtr:tampered_state";
                Ok(match open_state(&s, CTX, ctx.request_state.as_deref())? {
                    Some(_) => text("state verified").into(),
                    None => ask(
                        vec![("confirm", elicit("Please confirm", "ok", "boolean"))],
                        Some(s.seal(CTX, b"issued")),
                    ),
                })
            }
        },
    )?;
    Ok(())
}

/// `input_required` that depends on the client's capabilities.
fn capabilities(t: &mut ToolSet) -> Result<(), RegisterError> {
    t.add_raw(
        spec(
            "test_input_required_result_capabilities",
            "Asks only for what the client can do",
        ),
        no_params(),
        None,
        |ctx: ToolCtx, _: JsonObject| async move {
            let caps = &ctx.client_capabilities;
            let mut requests = Vec::new();
            if caps.elicitation.is_some() {
                requests.push(("user_name", elicit("What is your name?", "name", "string")));
            }
            if caps.sampling.is_some() {
                requests.push(("greeting", sample("Generate a greeting", 50)));
            }
            if requests.is_empty() {
                let mut needed = ClientCapabilities::default();
                needed.sampling = Some(Default::default());
                return Err(ToolError::MissingCapability(Box::new(needed)));
            }
            if ctx
                .input_responses
                .as_ref()
                .is_some_and(|r| requests.iter().all(|(k, _)| r.contains_key(*k)))
            {
                return Ok(text("All inputs received").into());
            }
            Ok(ask(requests, None))
        },
    )?;
    Ok(())
}

/// `prompts/get test_input_required_result_prompt`.
pub(super) fn prompt(
    responses: Option<&InputResponses>,
) -> Result<GetPromptResponse, CatalogError> {
    Ok(
        match accepted(responses, "user_context", "context")
            .and_then(|v| v.as_str().map(str::to_owned))
        {
            Some(context) => GetPromptResult::new(vec![PromptMessage::new_text(
                Role::User,
                format!("Use this context: {context}"),
            )])
            .into(),
            None => {
                let map: InputRequests = [(
                    "user_context".to_owned(),
                    elicit("What context should the prompt use?", "context", "string"),
                )]
                .into_iter()
                .collect();
                GetPromptResponse::InputRequired(InputRequiredResult::new(Some(map), None))
            }
        },
    )
}
