//! The fixtures the official MCP conformance suite's server scenarios call
//! (`test_simple_text`, `test://static-text`, `test_simple_prompt`, …), served
//! through the same handler, transport and edge as the Company demo, so the
//! suite exercises our server code rather than a separate test double.

// Sampling and logging are deprecated by 2026-07-28 (SEP-2577) but the suite
// still tests them for the older revisions.
#![allow(deprecated)]

mod mrtr;
mod tasks;

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use rmcp::model::{
    AudioContent, CallToolResult, CompleteRequestParams, CompletionInfo, ContentBlock,
    CreateMessageRequestParams, ElicitRequestParams, ElicitationAction, ElicitationSchema,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, ImageContent, JsonObject, Prompt,
    PromptArgument, PromptMessage, ReadResourceResult, Reference, Resource, ResourceContents,
    ResourceTemplate, Role, SamplingMessage,
};
use serde_json::{Value, json};

use mcp_connector_security::Sealer;

use crate::catalog::tools::{RegisterError, text};
use crate::catalog::{Catalog, CatalogError, Identity, ToolCtx, ToolError, ToolSet, ToolSpec};

/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==";
/// A silent WAV.
const WAV: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA=";

pub struct Conformance {
    tools: ToolSet,
}

pub(super) fn object(v: Value) -> Arc<JsonObject> {
    Arc::new(match v {
        Value::Object(m) => m,
        _ => JsonObject::new(),
    })
}

pub(super) fn no_params() -> Arc<JsonObject> {
    object(json!({"type": "object", "properties": {}}))
}

pub(super) const fn spec(name: &'static str, description: &'static str) -> ToolSpec {
    ToolSpec::read(name, name, description)
}

fn action(a: &ElicitationAction) -> &'static str {
    match a {
        ElicitationAction::Accept => "accept",
        ElicitationAction::Decline => "decline",
        _ => "cancel",
    }
}

/// Ask the client for input; a result either way (elicitation needs a session
/// or a client that declared the capability).
async fn elicit(
    ctx: &ToolCtx,
    message: &str,
    schema: Value,
    label: &str,
) -> Result<CallToolResult, ToolError> {
    let schema: ElicitationSchema = serde_json::from_value(schema)
        .map_err(|e| ToolError::Refused(format!("fixture schema is invalid: {e}")))?;
    let params = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: message.to_owned(),
        requested_schema: schema,
    };
    match ctx.request.peer.create_elicitation(params).await {
        Ok(r) => Ok(text(format!(
            "{label}: action={}, content={}",
            action(&r.action),
            r.content
                .map(|c| c.to_string())
                .unwrap_or_else(|| "null".into())
        ))),
        Err(e) => Err(ToolError::Refused(format!("Elicitation error: {e}"))),
    }
}

fn fixed(
    set: &mut ToolSet,
    name: &'static str,
    description: &'static str,
    result: fn() -> CallToolResult,
) -> Result<(), RegisterError> {
    set.add_raw(
        spec(name, description),
        no_params(),
        None,
        move |_ctx, _: JsonObject| async move { Ok(result()) },
    )
}

impl Conformance {
    pub fn new(sealer: &Sealer) -> Result<Self, RegisterError> {
        let mut t = ToolSet::new();
        // In the order tools/list shows them.
        content(&mut t)?;
        client_features(&mut t)?;
        transport_features(&mut t)?;
        mrtr::register(&mut t, sealer)?;
        tasks::register(&mut t)?;
        Ok(Self { tools: t })
    }
}

/// Tools that return fixed content of each kind.
fn content(t: &mut ToolSet) -> Result<(), RegisterError> {
    fixed(t, "test_simple_text", "Returns simple text content", || {
        text("This is a simple text response for testing.")
    })?;
    fixed(t, "test_image_content", "Returns image content", || {
        CallToolResult::success(vec![ContentBlock::image(PNG, "image/png")])
    })?;
    fixed(t, "test_audio_content", "Returns audio content", || {
        CallToolResult::success(vec![ContentBlock::Audio(AudioContent::new(
            WAV,
            "audio/wav",
        ))])
    })?;
    fixed(
        t,
        "test_embedded_resource",
        "Returns embedded resource content",
        || {
            CallToolResult::success(vec![ContentBlock::resource(
                ResourceContents::text(
                    "This is an embedded resource content.",
                    "test://embedded-resource",
                )
                .with_mime_type("text/plain"),
            )])
        },
    )?;
    fixed(
        t,
        "test_multiple_content_types",
        "Returns multiple content types",
        || {
            CallToolResult::success(vec![
                ContentBlock::text("Multiple content types test:"),
                ContentBlock::image(PNG, "image/png"),
                ContentBlock::resource(
                    ResourceContents::text(
                        r#"{"test":"data","value":123}"#,
                        "test://mixed-content-resource",
                    )
                    .with_mime_type("application/json"),
                ),
            ])
        },
    )?;
    fixed(t, "test_error_handling", "Always returns an error", || {
        CallToolResult::error(vec![ContentBlock::text(
            "This tool intentionally returns an error for testing",
        )])
    })?;
    Ok(())
}

/// Tools that use what the client offers: logging, progress, sampling,
/// elicitation.
fn client_features(t: &mut ToolSet) -> Result<(), RegisterError> {
    t.add_raw(
        spec(
            "test_tool_with_logging",
            "Sends logging notifications during execution",
        ),
        no_params(),
        None,
        |ctx: ToolCtx, _: JsonObject| async move {
            for msg in [
                "Tool execution started",
                "Tool processing data",
                "Tool execution completed",
            ] {
                ctx.log(rmcp::model::LoggingLevel::Info, "conformance", json!(msg))
                    .await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(text("Logging test completed"))
        },
    )?;
    t.add_raw(
        spec("test_tool_with_progress", "Reports progress notifications"),
        no_params(),
        None,
        |ctx: ToolCtx, _: JsonObject| async move {
            for (p, m) in [(0.0, "Starting"), (50.0, "Halfway"), (100.0, "Complete")] {
                ctx.progress(p, Some(100.0), m).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(text("Progress test completed"))
        },
    )?;
    t.add_raw(
        spec("test_sampling", "Requests LLM sampling from the client"),
        object(json!({"type": "object", "properties": {"prompt": {"type": "string", "description": "The prompt to send"}}, "required": ["prompt"]})),
        None,
        |ctx: ToolCtx, a: JsonObject| async move {
            let prompt = a.get("prompt").and_then(Value::as_str).unwrap_or("Hello").to_owned();
            let req = CreateMessageRequestParams::new(vec![SamplingMessage::user_text(prompt)], 100);
            match ctx.request.peer.create_message(req).await {
                Ok(r) => {
                    let reply = r.message.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).unwrap_or_default();
                    Ok(text(format!("LLM response: {reply}")))
                }
                Err(e) => Err(ToolError::Refused(format!("Sampling error: {e}"))),
            }
        },
    )?;
    t.add_raw(
        spec("test_elicitation", "Requests user input from the client"),
        object(json!({"type": "object", "properties": {"message": {"type": "string", "description": "The message to show"}}, "required": ["message"]})),
        None,
        |ctx: ToolCtx, a: JsonObject| async move {
            let message = a.get("message").and_then(Value::as_str).unwrap_or("Please provide your information").to_owned();
            let schema = json!({"type": "object", "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"}},
                "required": ["username", "email"]});
            elicit(&ctx, &message, schema, "User response").await
        },
    )?;
    t.add_raw(spec("test_elicitation_sep1034_defaults", "Elicitation with default values (SEP-1034)"), no_params(), None, |ctx: ToolCtx, _: JsonObject| async move {
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string", "description": "User's name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User's age", "default": 30},
            "score": {"type": "number", "description": "User's score", "default": 95.5},
            "status": {"type": "string", "description": "User's status", "enum": ["active", "inactive", "pending"], "default": "active"},
            "verified": {"type": "boolean", "description": "Whether user is verified", "default": true}}});
        elicit(&ctx, "Please provide values (all have defaults)", schema, "Elicitation completed").await
    })?;
    t.add_raw(spec("test_elicitation_sep1330_enums", "Elicitation with enum schemas (SEP-1330)"), no_params(), None, |ctx: ToolCtx, _: JsonObject| async move {
        let schema = json!({"type": "object", "properties": {
            "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
            "titledSingle": {"type": "string", "oneOf": [
                {"const": "value1", "title": "First Option"}, {"const": "value2", "title": "Second Option"}, {"const": "value3", "title": "Third Option"}]},
            "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"]},
            "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
            "titledMulti": {"type": "array", "items": {"anyOf": [
                {"const": "value1", "title": "First Choice"}, {"const": "value2", "title": "Second Choice"}, {"const": "value3", "title": "Third Choice"}]}}}});
        elicit(&ctx, "Test enum schema improvements", schema, "Enum elicitation completed").await
    })?;
    Ok(())
}

/// Tools about schemas and the transport: JSON Schema 2020-12, reconnection,
/// a header-mirrored parameter.
fn transport_features(t: &mut ToolSet) -> Result<(), RegisterError> {
    t.add_raw(
        spec("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features"),
        object(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {"address": {"$anchor": "addressDef", "type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
            "properties": {
                "name": {"type": "string"},
                "address": {"$ref": "#/$defs/address"},
                "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                "phone": {"type": "string"},
                "email": {"type": "string"}},
            "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
            "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
            "then": {"required": ["phone"]},
            "else": {"required": ["email"]},
            "additionalProperties": false})),
        None,
        |_ctx, a: JsonObject| async move {
            Ok(text(format!("Hello, {}!", a.get("name").and_then(Value::as_str).unwrap_or("world"))))
        },
    )?;
    t.add_raw(
        spec("test_reconnection", "Tests SSE reconnection behaviour"),
        no_params(),
        None,
        |_ctx, _: JsonObject| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(text("Reconnection test completed"))
        },
    )?;
    // SEP-2243 custom headers: `region` is mirrored into
    // `Mcp-Param-Region`, which rmcp checks against the body (the
    // handler's `get_tool` gives it the schema); a mismatch is -32020.
    t.add_raw(
        spec(
            "test_custom_header_param",
            "Echoes a region that clients also send as the Mcp-Param-Region header",
        ),
        object(json!({
            "type": "object",
            "properties": {
                "region": {"type": "string", "description": "A region name", "x-mcp-header": "Region"},
                "note": {"type": "string", "description": "Not mirrored"}
            },
            "required": ["region"]
        })),
        None,
        |_ctx, a: JsonObject| async move {
            Ok(text(format!(
                "region={}",
                a.get("region").and_then(Value::as_str).unwrap_or("")
            )))
        },
    )?;
    Ok(())
}

impl Catalog for Conformance {
    fn identity(&self) -> Identity {
        Identity {
            name: "mcp-connector-conformance",
            title: "mcp-connector conformance fixtures",
            instructions: "Fixtures for the official MCP conformance suite.",
        }
    }

    fn tools(&self) -> &ToolSet {
        &self.tools
    }

    fn supports_subscriptions(&self) -> bool {
        true
    }

    fn list_resources(&self) -> BoxFuture<'_, Result<Vec<Resource>, CatalogError>> {
        async {
            Ok(vec![
                Resource::new("test://static-text", "Static Text Resource")
                    .with_description("A static text resource for testing")
                    .with_mime_type("text/plain"),
                Resource::new("test://static-binary", "Static Binary Resource")
                    .with_description("A static binary resource for testing")
                    .with_mime_type("image/png"),
                Resource::new("test://watched-resource", "Watched Resource")
                    .with_description("A resource for subscription tests")
                    .with_mime_type("text/plain"),
            ])
        }
        .boxed()
    }

    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        vec![
            ResourceTemplate::new("test://template/{id}/data", "Dynamic Resource")
                .with_description("A dynamic resource with parameter substitution")
                .with_mime_type("application/json"),
        ]
    }

    fn read_resource<'a>(
        &'a self,
        uri: &'a str,
    ) -> BoxFuture<'a, Result<ReadResourceResult, CatalogError>> {
        async move {
            let contents = match uri {
                "test://static-text" => ResourceContents::text("This is the content of the static text resource.", uri).with_mime_type("text/plain"),
                "test://watched-resource" => ResourceContents::text("Watched resource content.", uri).with_mime_type("text/plain"),
                "test://static-binary" => ResourceContents::blob(PNG, uri).with_mime_type("image/png"),
                _ => {
                    let id = uri
                        .strip_prefix("test://template/")
                        .and_then(|s| s.strip_suffix("/data"))
                        .filter(|id| !id.is_empty() && !id.contains('/'))
                        .ok_or_else(|| CatalogError::ResourceNotFound(uri.to_owned()))?;
                    let body = json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
                    ResourceContents::text(body.to_string(), uri).with_mime_type("application/json")
                }
            };
            Ok(ReadResourceResult::new(vec![contents]))
        }
        .boxed()
    }

    fn prompts(&self) -> Vec<Prompt> {
        let arg = |name: &str, description: &str| {
            PromptArgument::new(name)
                .with_description(description)
                .with_required(true)
        };
        vec![
            Prompt::new(
                "test_simple_prompt",
                Some("A simple test prompt with no arguments"),
                None,
            ),
            Prompt::new(
                "test_prompt_with_arguments",
                Some("A test prompt that accepts arguments"),
                Some(vec![
                    arg("arg1", "First test argument"),
                    arg("arg2", "Second test argument"),
                ]),
            ),
            Prompt::new(
                "test_prompt_with_embedded_resource",
                Some("A test prompt that includes an embedded resource"),
                Some(vec![arg("resourceUri", "URI of the resource to embed")]),
            ),
            Prompt::new(
                "test_prompt_with_image",
                Some("A test prompt that includes an image"),
                None,
            ),
            Prompt::new(
                "test_input_required_result_prompt",
                Some("A prompt that asks the user for context first"),
                None,
            ),
        ]
    }

    fn get_prompt(
        &self,
        request: GetPromptRequestParams,
    ) -> BoxFuture<'_, Result<GetPromptResponse, CatalogError>> {
        async move {
            let arg = |name: &str| {
                request
                    .arguments
                    .as_ref()
                    .and_then(|a| a.get(name))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            let result = match request.name.as_str() {
                "test_simple_prompt" => GetPromptResult::new(vec![PromptMessage::new_text(
                    Role::User,
                    "This is a simple prompt for testing.",
                )]),
                "test_prompt_with_arguments" => {
                    GetPromptResult::new(vec![PromptMessage::new_text(
                        Role::User,
                        format!(
                            "Prompt with arguments: arg1='{}', arg2='{}'",
                            arg("arg1"),
                            arg("arg2")
                        ),
                    )])
                }
                "test_prompt_with_embedded_resource" => {
                    let uri = Some(arg("resourceUri"))
                        .filter(|u| !u.is_empty())
                        .unwrap_or_else(|| "test://example-resource".into());
                    GetPromptResult::new(vec![
                        PromptMessage::new(
                            Role::User,
                            ContentBlock::resource(
                                ResourceContents::text(
                                    "Embedded resource content for testing.",
                                    uri,
                                )
                                .with_mime_type("text/plain"),
                            ),
                        ),
                        PromptMessage::new_text(
                            Role::User,
                            "Please process the embedded resource above.",
                        ),
                    ])
                }
                "test_prompt_with_image" => GetPromptResult::new(vec![
                    PromptMessage::new(
                        Role::User,
                        ContentBlock::Image(ImageContent::new(PNG, "image/png")),
                    ),
                    PromptMessage::new_text(Role::User, "Please analyze the image above."),
                ]),
                "test_input_required_result_prompt" => {
                    return mrtr::prompt(request.input_responses.as_ref());
                }
                _ => return Err(CatalogError::UnknownPrompt(request.name)),
            };
            Ok(result.into())
        }
        .boxed()
    }

    fn complete(
        &self,
        request: CompleteRequestParams,
    ) -> BoxFuture<'_, Result<CompletionInfo, CatalogError>> {
        async move {
            let values: Vec<String> = match (&request.r#ref, request.argument.name.as_str()) {
                (Reference::Resource(_), "id") => vec!["1".into(), "2".into(), "3".into()],
                (Reference::Prompt(_), "arg1" | "arg2") => {
                    vec!["testValue1".into(), "testValue2".into(), "alpha".into()]
                }
                _ => Vec::new(),
            };
            let prefix = request.argument.value.clone();
            let values = values
                .into_iter()
                .filter(|v| v.starts_with(&prefix))
                .collect();
            Ok(CompletionInfo::with_all_values(values).unwrap_or_default())
        }
        .boxed()
    }
}
