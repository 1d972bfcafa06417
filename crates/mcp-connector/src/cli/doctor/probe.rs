//! The MCP requests Claude sends, in its order: `initialize` (2025-11-25),
//! the stateless 2026-07-28 `server/discover`, the session round trip, the
//! held-open `GET` stream, and `tools/list` as Claude needs it.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::Doctor;

/// What Claude sends as `Accept` on every POST.
pub(super) const ACCEPT: &str = "application/json, text/event-stream";
const LEGACY: &str = "2025-11-25";
const MODERN: &str = "2026-07-28";
/// Claude's tool name rule.
fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
/// Claude drops tools whose input schema is larger than about this.
const MAX_SCHEMA_BYTES: usize = 16 * 1024;

/// A reply: status, headers and the JSON-RPC message (from JSON or SSE).
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    pub(super) message: Option<Value>,
    pub(super) body: String,
}

impl Reply {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The JSON-RPC `result`, if the reply carries one.
    pub(super) fn result(&self) -> Option<&Value> {
        self.message.as_ref().and_then(|m| m.get("result"))
    }
}

/// The JSON-RPC message of a body: JSON, or the last SSE `data:` with an id.
fn message_of(content_type: &str, body: &str) -> Option<Value> {
    if content_type.starts_with("text/event-stream") {
        body.split("\n\n")
            .filter_map(|event| {
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                serde_json::from_str::<Value>(&data.join("\n")).ok()
            })
            .filter(|m| m.get("id").is_some())
            .last()
    } else {
        serde_json::from_str(body).ok()
    }
}

impl Doctor {
    /// POST a JSON-RPC message to the MCP URL with Claude's headers.
    pub(super) async fn post(
        &self,
        body: &Value,
        extra: &[(&str, String)],
        bearer: bool,
    ) -> Result<Reply, reqwest::Error> {
        let mut req = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .body(body.to_string());
        for (k, v) in extra {
            req = req.header(*k, v);
        }
        if bearer && let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = res.text().await?;
        Ok(Reply {
            status,
            headers,
            message: message_of(&content_type, &text),
            body: text,
        })
    }

    fn initialize_body() -> Value {
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "mcp-connector-doctor", "version": env!("CARGO_PKG_VERSION")},
        }})
    }

    /// `initialize` as Claude sends it (with the `--token` if `bearer`).
    /// The reply, when there is one to go on with.
    pub(super) async fn initialize(&mut self, bearer: bool) -> Option<Reply> {
        let reply = match self.post(&Self::initialize_body(), &[], bearer).await {
            Ok(r) => r,
            Err(e) => {
                self.report.fail(
                    "initialize",
                    format!("POST {} failed: {}", self.url, error_chain(&e)),
                    "check that the server runs and that the proxy forwards the path",
                );
                return None;
            }
        };
        // mcp-connector says when its proxy looks misconfigured.
        if !bearer && let Some(w) = reply.header(crate::network::allowlist::PROXY_WARNING_HEADER) {
            let detail = w
                .strip_prefix("X-Forwarded-Proto: ")
                .unwrap_or(w)
                .to_owned();
            self.report.warn(
                "X-Forwarded-Proto",
                detail,
                "have the proxy send X-Forwarded-Proto: https (nginx: proxy_set_header X-Forwarded-Proto $scheme; \
                 Caddy and haproxy with `option forwardfor` + http-request set-header do so)",
            );
        }
        match reply.status {
            200 => {
                let result = reply.result().cloned().unwrap_or(Value::Null);
                let version = result["protocolVersion"].as_str().unwrap_or("?");
                let server = result["serverInfo"]["name"].as_str().unwrap_or("?");
                self.report.pass(
                    "initialize",
                    format!("{LEGACY}: 200, server {server}, protocol {version}"),
                );
            }
            401 if bearer => {
                self.report.fail(
                    "token",
                    "the server refused the --token (401)",
                    "use a live access token issued for this URL (its audience)",
                );
            }
            401 => self.report.pass(
                "initialize",
                "401: authentication required (the OAuth checks follow)",
            ),
            _ => {
                self.refused("initialize", &reply);
                return None;
            }
        }
        Some(reply)
    }

    /// Explain a refusal by its status and body.
    pub(super) fn refused(&mut self, what: &'static str, reply: &Reply) {
        let status = reply.status;
        let body = reply.body.chars().take(200).collect::<String>();
        match status {
            403 if body.contains("address not allowed") => {
                let ranges = self.anthropic_ranges.join(", ");
                self.report.fail(
                    "allowlist",
                    format!("{what}: 403, the server's IP allowlist refused this address"),
                    format!(
                        "Claude connects from Anthropic's egress ranges ({ranges}): \
                         network.allow = [\"anthropic\"] admits them; behind a proxy, set \
                         network.trusted_proxies so that the client's address is checked, not the proxy's"
                    ),
                );
            }
            403 if body.contains("Host not allowed") => self.report.fail(
                "public_url",
                format!(
                    "{what}: 403, the server does not accept the host {}",
                    self.url.host_str().unwrap_or_default()
                ),
                "set server.public_url to the URL users paste (or add the host to server.allowed_hosts); \
                 behind a proxy, forward the Host header (nginx: proxy_set_header Host $host)",
            ),
            404 => self.report.fail(
                what,
                format!("404: nothing is served at {}", self.url.path()),
                "paste the MCP endpoint (…/mcp) and check that the proxy forwards that path",
            ),
            301 | 302 | 303 | 307 | 308 => self.report.fail(
                what,
                format!(
                    "{status}: redirects to {}",
                    reply.header("location").unwrap_or("?")
                ),
                "paste the final URL: Claude does not follow redirects on MCP requests",
            ),
            502..=504 => self.report.fail(
                what,
                format!("{status}: the proxy could not reach the server behind it"),
                "start the connector, and check the proxy's upstream address",
            ),
            _ => self.report.fail(
                what,
                format!("{status}: {body}"),
                "the server must answer MCP requests at this URL",
            ),
        }
    }

    /// A browser-origin request from claude.ai: refused ones are a warning
    /// (Claude's backend sends no Origin today; its web client might).
    pub(super) async fn origin(&mut self) {
        let extra = [("origin", "https://claude.ai".to_owned())];
        match self.post(&Self::initialize_body(), &extra, true).await {
            Ok(r) if r.status == 403 && r.body.contains("Origin") => self.report.warn(
                "origin",
                "a request with Origin: https://claude.ai is refused (403)",
                "add \"https://claude.ai\" to server.allowed_origins",
            ),
            Ok(_) => self
                .report
                .pass("origin", "Origin: https://claude.ai is accepted"),
            Err(e) => self.report.skip("origin", error_chain(&e)),
        }
    }

    /// The stateless 2026-07-28 era: `server/discover` with per-request `_meta`.
    pub(super) async fn discover(&mut self, with_token: bool) {
        let body = json!({"jsonrpc": "2.0", "id": 2, "method": "server/discover", "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "mcp-connector-doctor", "version": env!("CARGO_PKG_VERSION")},
        }}});
        let extra = [
            ("mcp-protocol-version", MODERN.to_owned()),
            ("mcp-method", "server/discover".to_owned()),
        ];
        match self.post(&body, &extra, with_token).await {
            Ok(r) if r.status == 200 => {
                let versions = r
                    .result()
                    .and_then(|res| res["supportedVersions"].as_array())
                    .map(|v| {
                        v.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                self.report.pass(
                    "stateless",
                    format!("{MODERN} server/discover: 200 ({versions})"),
                );
            }
            Ok(r) if r.status == 401 && !with_token => self.report.pass(
                "stateless",
                format!("{MODERN} server/discover: 401 like initialize"),
            ),
            Ok(r) => self.report.warn(
                "stateless",
                format!(
                    "{MODERN} server/discover: {} (Claude falls back to initialize)",
                    r.status
                ),
                "serve the 2026-07-28 revision too: Claude probes it",
            ),
            Err(e) => self.report.fail(
                "stateless",
                format!("{MODERN} server/discover failed: {}", error_chain(&e)),
                "check the server",
            ),
        }
    }

    /// `Mcp-Session-Id` round trip: `notifications/initialized` and
    /// `tools/list` with the id the server gave (when it gave one).
    pub(super) async fn session(&mut self, init: &Reply) -> Option<String> {
        let Some(id) = init.header("mcp-session-id").map(str::to_owned) else {
            self.report.pass(
                "session",
                "stateless: no Mcp-Session-Id (any replica can answer)",
            );
            return None;
        };
        let extra = [
            ("mcp-session-id", id.clone()),
            ("mcp-protocol-version", LEGACY.to_owned()),
        ];
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        match self.post(&note, &extra, true).await {
            Ok(r) if r.status == 202 || r.status == 200 => {
                self.report.pass("session", format!("Mcp-Session-Id round trip ({} chars)", id.len()));
            }
            Ok(r) => self.report.fail(
                "session",
                format!("notifications/initialized with the session id: {}", r.status),
                "the session must be found on whichever replica answers: share sessions (PostgreSQL) or turn them off",
            ),
            Err(e) => self.report.fail("session", error_chain(&e), "check the server"),
        }
        Some(id)
    }

    /// `GET` of the SSE stream: the first bytes must arrive at once. A proxy
    /// that buffers holds them back, and Claude's relay gives up.
    pub(super) async fn stream(&mut self, session: Option<&str>) {
        let mut req = self
            .client
            .get(self.url.clone())
            .header("accept", "text/event-stream")
            .header("mcp-protocol-version", LEGACY);
        if let Some(id) = session {
            req = req.header("mcp-session-id", id);
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let started = Instant::now();
        let mut res = match tokio::time::timeout(self.sse_wait, req.send()).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                self.report.fail(
                    "buffering",
                    format!("GET {}: {}", self.url, error_chain(&e)),
                    "check the proxy",
                );
                return;
            }
            Err(_) => return self.buffered(started.elapsed()),
        };
        let status = res.status().as_u16();
        if status == 405 {
            self.report.fail(
                "stream",
                "GET answers 405: Claude's relay opens this stream and fails on 405",
                "answer GET with a held-open text/event-stream",
            );
            return;
        }
        if status != 200 {
            self.report.fail(
                "stream",
                format!("GET answered {status}"),
                "serve the SSE stream on GET",
            );
            return;
        }
        let left = self.sse_wait.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, res.chunk()).await {
            Ok(Ok(Some(_))) => self.report.pass(
                "buffering",
                format!(
                    "SSE stream: first bytes after {} ms (not buffered)",
                    started.elapsed().as_millis()
                ),
            ),
            Ok(Ok(None)) => self.report.warn(
                "stream",
                "the SSE stream closed at once",
                "keep the GET stream open (proxy read timeout, server keep-alives)",
            ),
            Ok(Err(e)) => self
                .report
                .fail("stream", error_chain(&e), "check the proxy"),
            Err(_) => self.buffered(started.elapsed()),
        }
    }

    fn buffered(&mut self, waited: Duration) {
        self.report.fail(
            "buffering",
            format!("the SSE stream sent nothing within {} s: a proxy buffers it", waited.as_secs()),
            "turn buffering off for /mcp (nginx: proxy_buffering off and no gzip for text/event-stream; \
             Caddy: flush_interval -1; CDNs: bypass caching for /mcp)",
        );
    }

    /// `tools/list`, linted as Claude needs it.
    pub(super) async fn tools(&mut self, session: Option<&str>) -> Option<Vec<Value>> {
        let mut extra = vec![("mcp-protocol-version", LEGACY.to_owned())];
        if let Some(id) = session {
            extra.push(("mcp-session-id", id.to_owned()));
        }
        let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {}});
        let reply = match self.post(&body, &extra, true).await {
            Ok(r) if r.status == 200 => r,
            Ok(r) => {
                self.refused("tools", &r);
                return None;
            }
            Err(e) => {
                self.report
                    .fail("tools", error_chain(&e), "check the server");
                return None;
            }
        };
        let tools: Vec<Value> = reply
            .result()
            .and_then(|r| r["tools"].as_array())
            .cloned()
            .unwrap_or_default();
        let (problems, notes) = lint(&tools);
        let size = reply.body.len();
        if !problems.is_empty() {
            self.report.fail(
                "tools",
                format!("{} tools, {}", tools.len(), problems.join("; ")),
                "rename or slim the tools: Claude refuses or drops them",
            );
        } else if !notes.is_empty() {
            self.report.warn(
                "tools",
                format!("{} tools ({size} bytes); {}", tools.len(), notes.join("; ")),
                "give every tool a title, a description and readOnlyHint/destructiveHint: \
                 Claude shows them and asks before writes",
            );
        } else {
            self.report.pass(
                "tools",
                format!("{} tools ({size} bytes), names, titles, descriptions and hints as Claude needs", tools.len()),
            );
        }
        Some(tools)
    }

    /// `--call NAME ARGS`: one read-only tool.
    pub(super) async fn call(&mut self, tools: &[Value], session: Option<&str>) {
        let Some((name, args)) = self.call_tool.clone() else {
            return;
        };
        let Some(tool) = tools.iter().find(|t| t["name"] == name.as_str()) else {
            self.report.fail(
                "call",
                format!("no tool `{name}` is listed"),
                "name a tool from tools/list",
            );
            return;
        };
        if tool["annotations"]["readOnlyHint"] != true {
            self.report.skip(
                "call",
                format!("`{name}` is not read-only: doctor calls only read-only tools"),
            );
            return;
        }
        let mut extra = vec![("mcp-protocol-version", LEGACY.to_owned())];
        if let Some(id) = session {
            extra.push(("mcp-session-id", id.to_owned()));
        }
        let body = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
            "params": {"name": name, "arguments": args}});
        match self.post(&body, &extra, true).await {
            Ok(r) if r.status == 200 && r.result().is_some_and(|res| res["isError"] != true) => {
                self.report
                    .pass("call", format!("{name}: answered ({} bytes)", r.body.len()));
            }
            Ok(r) if r.status == 200 => self.report.fail(
                "call",
                format!("{name}: {}", r.body.chars().take(300).collect::<String>()),
                "see the tool's error text",
            ),
            Ok(r) => self.refused("call", &r),
            Err(e) => self
                .report
                .fail("call", error_chain(&e), "check the server"),
        }
    }
}

/// What Claude would refuse or drop (`problems`) and what it shows poorly
/// (`notes`) in a `tools/list` result.
fn lint(tools: &[Value]) -> (Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    for t in tools {
        let name = t["name"].as_str().unwrap_or_default();
        if !valid_tool_name(name) {
            problems.push(format!("`{name}` does not match ^[a-zA-Z0-9_-]{{1,64}}$"));
        }
        if t["inputSchema"]["type"] != "object" {
            problems.push(format!("{name}: inputSchema.type is not \"object\""));
        }
        if t["inputSchema"].to_string().len() > MAX_SCHEMA_BYTES {
            problems.push(format!(
                "{name}: input schema over 16 KiB (Claude drops it)"
            ));
        }
        let a = &t["annotations"];
        for (field, ok) in [
            ("title", t["title"].is_string() || a["title"].is_string()),
            (
                "description",
                t["description"].as_str().is_some_and(|d| !d.is_empty()),
            ),
            ("readOnlyHint", a["readOnlyHint"].is_boolean()),
            // A read-only tool needs no destructiveHint (it is ignored).
            (
                "destructiveHint",
                a["destructiveHint"].is_boolean() || a["readOnlyHint"] == true,
            ),
        ] {
            if !ok {
                notes.push(format!("{name}: no {field}"));
            }
        }
    }
    (problems, notes)
}

/// A reqwest error with its causes (the TLS or connection reason is in them).
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lint_finds_what_claude_refuses_and_what_it_shows_poorly() {
        let good = json!({"name": "get_count", "title": "Count", "description": "d",
            "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}});
        assert_eq!(lint(std::slice::from_ref(&good)), (vec![], vec![]));
        let mut bad = good.clone();
        bad["name"] = "get count!".into();
        bad["inputSchema"] = json!({"type": "object", "description": "x".repeat(MAX_SCHEMA_BYTES)});
        let (problems, _) = lint(&[bad]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        let mut bare = good;
        bare.as_object_mut().map(|o| o.remove("title"));
        bare["annotations"] = json!({"readOnlyHint": false});
        let (problems, notes) = lint(&[bare]);
        assert!(problems.is_empty());
        assert_eq!(
            notes,
            ["get_count: no title", "get_count: no destructiveHint"]
        );
        assert!(valid_tool_name(&"a".repeat(64)) && !valid_tool_name(&"a".repeat(65)));
    }

    #[test]
    fn sse_and_json_bodies() {
        let sse = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
        assert_eq!(
            message_of("text/event-stream", sse).map(|m| m["id"].clone()),
            Some(json!(1))
        );
        assert_eq!(
            message_of("application/json", "{\"id\":2}").map(|m| m["id"].clone()),
            Some(json!(2))
        );
        assert!(message_of("application/json", "<html>").is_none());
    }
}
