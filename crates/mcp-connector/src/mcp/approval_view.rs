//! The approval view for MCP Apps hosts (extension `io.modelcontextprotocol/ui`,
//! stable 2026-01-26): Claude web and Desktop render it in a sandboxed
//! iframe beside a pending approval, showing the call's details and a button
//! that asks the host to open the approval page.
//!
//! The view cannot approve anything, by construction: it declares no
//! network origin (the host's CSP then forbids every request), calls no
//! tool, and only ever asks the host to open a link under this connector's
//! own `/approve/` path, which needs the person's signed-in browser session
//! and a CSRF token from that page (which refuses to be framed).

use rmcp::model::{
    ClientCapabilities, JsonObject, MetaObject, ReadResourceResult, ResourceContents, Tool,
};
use serde_json::{Value, json};

/// The extension's identifier in `capabilities.extensions`.
pub const EXTENSION: &str = "io.modelcontextprotocol/ui";
/// The view's resource (not listed: hosts find it through the tool).
pub const URI: &str = "ui://mcp-connector/approval";
/// The MCP Apps HTML profile.
pub const MIME: &str = "text/html;profile=mcp-app";
/// Where the pending result carries the view's details (`_meta`, which the
/// host passes to the view and keeps out of the model's context).
pub const META_KEY: &str = "io.github.mcp-connector/approval";

const HTML: &str = include_str!("approval_view.html");
/// Replaced, at read time, by the connector's origin as a JSON string.
const ORIGIN_SLOT: &str = "\"__MCP_CONNECTOR_ORIGIN__\"";

/// Whether to link the view for this client: it declared the extension
/// with the HTML profile, or its capabilities are not known at all (a
/// stateless legacy request carries none; hosts without MCP Apps ignore
/// `_meta.ui`, and the pending text still shows the link).
pub fn wanted(caps: &ClientCapabilities, known: bool) -> bool {
    if !known {
        return true;
    }
    caps.extensions
        .as_ref()
        .and_then(|e| e.get(EXTENSION))
        .and_then(|s| s.get("mimeTypes"))
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|t| t.as_str() == Some(MIME)))
}

/// `tool` with `_meta.ui.resourceUri` pointing at the view.
pub fn link(tool: &mut Tool) {
    let meta = tool
        .meta
        .get_or_insert_with(|| MetaObject(JsonObject::new()));
    meta.0.insert("ui".into(), json!({ "resourceUri": URI }));
}

/// The view's document, for `resources/read`; `None` for any other URI or
/// without a public origin (no approval page to open).
pub fn read(uri: &str, origin: Option<&str>) -> Option<ReadResourceResult> {
    if uri != URI {
        return None;
    }
    let origin = serde_json::to_string(origin?).ok()?;
    // The JSON string lands inside a <script>: `<` is escaped so that no
    // origin could close the element.
    let origin = origin.replace('<', "\\u003c");
    let contents = ResourceContents::TextResourceContents {
        uri: URI.into(),
        mime_type: Some(MIME.into()),
        text: HTML.replace(ORIGIN_SLOT, &origin),
        meta: Some(MetaObject(
            serde_json::from_value(json!({
                // No connectDomains / resourceDomains: the host's default CSP
                // (`connect-src 'none'`) applies, so the view cannot fetch.
                "ui": { "csp": {}, "prefersBorder": true }
            }))
            .unwrap_or_default(),
        )),
    };
    Some(ReadResourceResult::new(vec![contents]))
}

/// What the view shows of one pending call.
pub struct Details<'a> {
    pub tool: &'a Tool,
    pub client_id: &'a str,
    pub client_name: Option<&'a str>,
    pub arguments: &'a JsonObject,
    pub approval_url: &'a str,
    pub expires_at: &'a str,
}

/// The pending result's `_meta` for the view.
pub fn meta(d: &Details<'_>) -> MetaObject {
    let title = d
        .tool
        .annotations
        .as_ref()
        .and_then(|a| a.title.clone())
        .or_else(|| d.tool.title.clone())
        .unwrap_or_else(|| d.tool.name.to_string());
    let details = json!({
        "tool": d.tool.name,
        "title": title,
        "description": d.tool.description,
        "client_id": d.client_id,
        "client_name": d.client_name,
        "arguments": d.arguments,
        "approval_url": d.approval_url,
        "expires_at": d.expires_at,
    });
    let mut m = JsonObject::new();
    m.insert(META_KEY.into(), details);
    MetaObject(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(v: Value) -> ClientCapabilities {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn linked_only_for_hosts_that_render_html_views() {
        let apps = caps(json!({"extensions": {EXTENSION: {"mimeTypes": [MIME]}}}));
        assert!(wanted(&apps, true));
        let other = caps(json!({"extensions": {EXTENSION: {"mimeTypes": ["text/uri-list"]}}}));
        assert!(!wanted(&other, true));
        assert!(!wanted(&caps(json!({})), true));
        assert!(wanted(&caps(json!({})), false), "unknown capabilities");
    }

    #[test]
    fn the_document_knows_only_its_origin() {
        assert!(read("ui://other", Some("https://a.example")).is_none());
        assert!(read(URI, None).is_none());
        let r = read(URI, Some("https://tools.example.com")).unwrap_or_else(|| unreachable!());
        let v = serde_json::to_value(&r).unwrap_or_default();
        let c = &v["contents"][0];
        assert_eq!(c["mimeType"], MIME);
        let text = c["text"].as_str().unwrap_or_default();
        assert!(text.contains("\"https://tools.example.com\""));
        assert!(!text.contains("__MCP_CONNECTOR_ORIGIN__"));
        assert!(!text.contains("fetch(") && !text.contains("XMLHttpRequest"));
        assert_eq!(c["_meta"]["ui"]["csp"], json!({}));
        let hostile = read(URI, Some("https://a.example</script><script>x"))
            .unwrap_or_else(|| unreachable!());
        let v = serde_json::to_value(&hostile).unwrap_or_default();
        assert!(
            !v["contents"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .contains("</script><script>x")
        );
    }
}
