//! The client side of MCP over Streamable HTTP, as much as the benchmark needs:
//! build the POSTs and pull the JSON-RPC response out of a JSON or SSE body.

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};

pub(crate) const PROTOCOL_VERSION: &str = "2025-11-25";
pub(crate) const SESSION_HEADER: &str = "mcp-session-id";
/// The department and headcount of the Company demo's seed data.
pub(crate) const DEPARTMENT: &str = "engineering";
pub(crate) const EXPECTED_COUNT: i64 = 42;
/// Larger bodies mean the server misbehaves; stop reading rather than buffer it.
const MAX_BODY_BYTES: usize = 1 << 20;

pub(crate) fn call_body(id: u64) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": {"name": "get_employee_count", "arguments": {"department": DEPARTMENT}},
    })
    .to_string()
}

/// The config-declared tool of `mcp-bench declared`.
pub(crate) const DECLARED_TOOL: &str = "count_by_department";

pub(crate) fn declared_call_body(id: u64) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": {"name": DECLARED_TOOL, "arguments": {"department": DEPARTMENT}},
    })
    .to_string()
}

pub(crate) fn initialize_body(id: u64) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcp-bench", "version": env!("CARGO_PKG_VERSION")},
        },
    })
    .to_string()
}

pub(crate) fn initialized_body() -> String {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string()
}

/// A POST to `/mcp` with the headers every MCP client sends.
pub(crate) fn post(
    client: &reqwest::Client,
    url: &str,
    body: String,
    session: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut req = client
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", PROTOCOL_VERSION)
        .body(body);
    if let Some(id) = session {
        req = req.header(SESSION_HEADER, id);
    }
    req
}

/// Read the JSON-RPC response with `id` from `res`, whether the server chose
/// a JSON body or an event stream. For a stream, reading stops at the
/// response, so a server that keeps the stream open cannot stall the caller.
pub(crate) async fn read_response(res: reqwest::Response, id: u64) -> anyhow::Result<Value> {
    let status = res.status();
    if !status.is_success() {
        bail!("HTTP {status}");
    }
    let is_sse = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_sse {
        let bytes = res.bytes().await.context("reading the body")?;
        return serde_json::from_slice(&bytes).context("response is not JSON");
    }
    let mut stream = res.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut scanned = 0;
    while let Some(chunk) = stream.next().await {
        buf.extend_from_slice(&chunk.context("reading the event stream")?);
        if buf.len() > MAX_BODY_BYTES {
            bail!("event stream exceeded {MAX_BODY_BYTES} bytes without the response");
        }
        // Only complete events (ended by a blank line) are examined.
        while let Some(end) = find_event_end(&buf[scanned..]) {
            let event = &buf[scanned..scanned + end];
            scanned += end;
            if let Some(msg) = event_message(event)
                && msg.get("id").and_then(Value::as_u64) == Some(id)
            {
                return Ok(msg);
            }
        }
    }
    bail!("event stream ended without the response")
}

/// Length of the first event in `buf` including its terminating blank line.
fn find_event_end(buf: &[u8]) -> Option<usize> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The JSON message in an SSE event's `data:` lines, if there is one (priming
/// events and keep-alive comments carry none).
fn event_message(event: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(event).ok()?;
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    if data.iter().all(|d| d.trim().is_empty()) {
        return None;
    }
    serde_json::from_str(&data.join("\n")).ok()
}

/// Accept only the right answer: a result whose structured content is the
/// seed data's headcount. A JSON-RPC error or a tool error is a failure.
pub(crate) fn check_count(msg: &Value) -> anyhow::Result<()> {
    if let Some(error) = msg.get("error") {
        bail!("JSON-RPC error: {error}");
    }
    let result = msg.get("result").context("no result")?;
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        bail!("tool error: {result}");
    }
    let count = result
        .pointer("/structuredContent/count")
        .and_then(Value::as_i64);
    if count != Some(EXPECTED_COUNT) {
        bail!("expected count {EXPECTED_COUNT}, got {result}");
    }
    Ok(())
}

/// [`check_count`] for a declared tool: the headcount is the `count`
/// column of the only row.
pub(crate) fn check_row_count(msg: &Value) -> anyhow::Result<()> {
    if let Some(error) = msg.get("error") {
        bail!("JSON-RPC error: {error}");
    }
    let result = msg.get("result").context("no result")?;
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        bail!("tool error: {result}");
    }
    let rows = result
        .pointer("/structuredContent/rows")
        .and_then(Value::as_array);
    let count = match rows.map(Vec::as_slice) {
        Some([row]) => row.get("count").and_then(Value::as_i64),
        _ => None,
    };
    if count != Some(EXPECTED_COUNT) {
        bail!("expected one row with count {EXPECTED_COUNT}, got {result}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_event_parsing() {
        let body =
            b"id: 0\nretry: 3000\ndata: \n\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n";
        let first = find_event_end(body).expect("first event");
        assert_eq!(event_message(&body[..first]), None);
        let rest = &body[first..];
        let second = find_event_end(rest).expect("second event");
        let msg = event_message(&rest[..second]).expect("message");
        assert_eq!(msg["id"], 7);
    }

    #[test]
    fn count_check() {
        let ok = json!({"id": 1, "result": {"structuredContent": {"count": 42}}});
        assert!(check_count(&ok).is_ok());
        let wrong = json!({"id": 1, "result": {"structuredContent": {"count": 41}}});
        assert!(check_count(&wrong).is_err());
        let err = json!({"id": 1, "error": {"code": -32602, "message": "x"}});
        assert!(check_count(&err).is_err());
        let rows = json!({"id": 1, "result": {"structuredContent": {"rows": [{"count": 42}]}}});
        assert!(check_row_count(&rows).is_ok());
        let two = json!({"id": 1, "result": {"structuredContent": {"rows": [{"count": 42}, {"count": 42}]}}});
        assert!(check_row_count(&two).is_err());
        assert!(check_row_count(&err).is_err());
    }
}
