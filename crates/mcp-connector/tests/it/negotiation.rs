//! Content negotiation on `/mcp`: the answer is always in a media type the
//! client accepted (a JSON-only client gets JSON even from a call that
//! streams progress), and 406 when it accepts neither; stateless, with
//! sessions, and in the 2026-07-28 revision.

use serde_json::{Value, json};

use crate::common::{LEGACY, MODERN, Opts, TestServer};
use crate::db_test;

fn progress_call(id: i64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": "p"}}})
}

/// POST `body` with `accept` (none when `None`); (status, content type, body).
async fn post(
    srv: &TestServer,
    body: &Value,
    accept: Option<&str>,
    extra: &[(&str, &str)],
) -> (u16, String, String) {
    let mut req = srv
        .client
        .post(&srv.url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("sent");
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, ct, res.text().await.expect("body"))
}

fn json_answer(ct: &str, text: &str, id: i64) -> Value {
    assert!(ct.starts_with("application/json"), "JSON, got {ct}: {text}");
    let m: Value = serde_json::from_str(text).expect("one JSON message");
    assert_eq!(m["id"], id, "{m}");
    m
}

db_test!(
    json_only_clients_never_get_a_stream,
    Opts::conformance(),
    |srv| {
        let legacy = [("mcp-protocol-version", LEGACY)];
        // A call that streams progress, to a client that takes only JSON.
        for accept in [
            "application/json",
            "application/json, text/event-stream;q=0",
            "application/*",
        ] {
            let (status, ct, text) = post(&srv, &progress_call(3), Some(accept), &legacy).await;
            assert_eq!(status, 200, "{accept}");
            let m = json_answer(&ct, &text, 3);
            assert!(m["result"]["content"].is_array(), "{m}");
        }
        // The same call to a client that takes a stream gets the progress too.
        for accept in [
            "application/json, text/event-stream",
            "text/event-stream",
            "*/*",
        ] {
            let (status, ct, text) = post(&srv, &progress_call(4), Some(accept), &legacy).await;
            assert_eq!(status, 200);
            assert!(ct.starts_with("text/event-stream"), "{accept}: {ct}");
            let msgs = crate::common::sse_messages(&text);
            assert!(
                msgs.iter().any(|m| m["method"] == "notifications/progress"),
                "{text}"
            );
        }
        // A plain call to a JSON-only client, and errors, are JSON too.
        let count = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"});
        let (_, ct, text) = post(&srv, &count, Some("application/json"), &legacy).await;
        json_answer(&ct, &text, 5);
        let unknown = json!({"jsonrpc": "2.0", "id": 6, "method": "no/such"});
        let (_, ct, text) = post(&srv, &unknown, Some("application/json"), &legacy).await;
        assert_eq!(json_answer(&ct, &text, 6)["error"]["code"], -32601);
    }
);

db_test!(accepting_neither_is_406, |srv| {
    let legacy = [("mcp-protocol-version", LEGACY)];
    let body = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/list"});
    for accept in [
        "text/html",
        "image/png, text/plain",
        "application/json;q=0, text/event-stream;q=0",
    ] {
        let (status, _, text) = post(&srv, &body, Some(accept), &legacy).await;
        assert_eq!(status, 406, "{accept}: {text}");
        let m: Value = serde_json::from_str(&text).expect("a JSON-RPC error");
        assert_eq!(m["error"]["code"], -32600);
        assert_eq!(m["id"], 8);
    }
    // No Accept header at all is taken as "either".
    let (status, _, _) = post(&srv, &body, None, &legacy).await;
    assert_eq!(status, 200);
});

db_test!(
    json_only_clients_in_a_session,
    Opts {
        demo: mcp_connector::config::Demo::Conformance,
        ..Opts::sessions()
    },
    |srv| {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "it", "version": "1"}}});
        let res = srv
            .client
            .post(&srv.url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(init.to_string())
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
        let sid = res.headers()["mcp-session-id"]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        let ct = res.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        json_answer(&ct, &res.text().await.expect("body"), 1);
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let headers = [
            ("mcp-session-id", sid.as_str()),
            ("mcp-protocol-version", LEGACY),
        ];
        let (status, _, _) = post(&srv, &note, Some("application/json"), &headers).await;
        assert_eq!(status, 202);
        let (status, ct, text) =
            post(&srv, &progress_call(2), Some("application/json"), &headers).await;
        assert_eq!(status, 200);
        json_answer(&ct, &text, 2);
    }
);

db_test!(
    json_only_clients_in_2026_07_28,
    Opts::conformance(),
    |srv| {
        let mut call = progress_call(9);
        call["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!(MODERN);
        call["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({});
        call["params"]["_meta"]["io.modelcontextprotocol/clientInfo"] =
            json!({"name": "it", "version": "1"});
        let headers = [
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/call"),
            ("mcp-name", "test_tool_with_progress"),
        ];
        let (status, ct, text) = post(&srv, &call, Some("application/json"), &headers).await;
        assert_eq!(status, 200, "{text}");
        json_answer(&ct, &text, 9);
    }
);
