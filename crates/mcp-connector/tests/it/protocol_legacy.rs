//! The `initialize`-based revisions (2025-03-26, 2025-06-18, 2025-11-25),
//! stateless by default, and JSON-RPC error handling.

use serde_json::{Value, json};

use crate::common::{LEGACY, read_message};
use crate::db_test;

fn initialize(version: &str) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "it", "version": "1"}}})
    .to_string()
}

db_test!(initialize_negotiates_every_supported_revision, |srv| {
    for v in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        let r = read_message(srv.post_raw(initialize(v), &[]).await).await;
        assert_eq!(r["result"]["protocolVersion"], v);
        let caps = &r["result"]["capabilities"];
        for cap in ["tools", "resources", "prompts", "completions", "logging"] {
            assert!(caps.get(cap).is_some(), "{cap} advertised");
        }
        assert_eq!(r["result"]["serverInfo"]["name"], "company-tools");
    }
    // An unknown future version gets one we support.
    let r = read_message(srv.post_raw(initialize("2099-01-01"), &[]).await).await;
    assert_eq!(r["result"]["protocolVersion"], LEGACY);
});

db_test!(stateless_mode_issues_no_session_id, |srv| {
    let res = srv.post_raw(initialize(LEGACY), &[]).await;
    assert!(res.headers().get("mcp-session-id").is_none());
    // A stale session id from an old deployment is ignored, not a 404.
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string();
    let res = srv
        .post_raw(
            body,
            &[
                ("mcp-protocol-version", LEGACY),
                ("mcp-session-id", "stale-id"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
});

db_test!(notifications_get_202_without_a_body, |srv| {
    let body = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let res = srv
        .post_raw(body, &[("mcp-protocol-version", LEGACY)])
        .await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.text().await.expect("body"), "");
});

db_test!(ping_answers_empty_result, |srv| {
    let r = srv.rpc("ping", json!({})).await;
    assert_eq!(r["result"], json!({}));
});

db_test!(logging_set_level_is_accepted, |srv| {
    let r = srv
        .rpc("logging/setLevel", json!({"level": "warning"}))
        .await;
    assert_eq!(r["result"], json!({}), "{r}");
});

db_test!(malformed_and_invalid_requests_get_jsonrpc_errors, |srv| {
    // Not JSON at all.
    let res = srv
        .post_raw("{not json", &[("mcp-protocol-version", LEGACY)])
        .await;
    let status = res.status();
    let r = read_message(res).await;
    assert!(status.is_client_error(), "{status}");
    assert_eq!(r["error"]["code"], -32700, "{r}");

    // Wrong JSON-RPC version.
    let body = json!({"jsonrpc": "1.0", "id": 3, "method": "ping"}).to_string();
    let res = srv
        .post_raw(body, &[("mcp-protocol-version", LEGACY)])
        .await;
    assert!(res.status().is_client_error());
    let r = read_message(res).await;
    assert!(r["error"]["code"].as_i64().is_some(), "{r}");

    // Unknown method: -32601 with the id echoed.
    let body = json!({"jsonrpc": "2.0", "id": "abc", "method": "does/not/exist"}).to_string();
    let r = read_message(
        srv.post_raw(body, &[("mcp-protocol-version", LEGACY)])
            .await,
    )
    .await;
    assert_eq!(r["error"]["code"], -32601, "{r}");
    assert_eq!(r["id"], "abc");

    // A batch array: refused as a whole on >= 2025-06-18, nothing executed.
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add_employee", "arguments": {"name": "B", "department": "sales", "title": "t"}}},
        {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    ])
    .to_string();
    let res = srv
        .post_raw(batch, &[("mcp-protocol-version", LEGACY)])
        .await;
    assert!(res.status().is_client_error(), "{}", res.status());
    assert_eq!(srv.count("sales").await, 18, "no part of the batch ran");
});

db_test!(protocol_version_header_is_checked, |srv| {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let res = srv
        .post_raw(body.clone(), &[("mcp-protocol-version", "1999-01-01")])
        .await;
    assert_eq!(res.status(), 400);
    // Absent header: served as 2025-03-26.
    let res = srv.post_raw(body, &[]).await;
    assert_eq!(res.status(), 200);
    let r: Value = read_message(res).await;
    assert!(r["result"]["tools"].is_array());
});

db_test!(accept_headers_real_clients_send_are_served, |srv| {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "get_employee_count", "arguments": {"department": "engineering"}}})
    .to_string();
    for accept in ["text/event-stream", "*/*", "application/json"] {
        let res = srv
            .client
            .post(&srv.url)
            .header("content-type", "application/json")
            .header("accept", accept)
            .header("mcp-protocol-version", LEGACY)
            .body(body.clone())
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200, "Accept: {accept}");
        let ct = res.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        if accept == "text/event-stream" {
            assert!(
                ct.starts_with("text/event-stream"),
                "SSE-only client gets SSE, got {ct}"
            );
        }
        let r = read_message(res).await;
        assert_eq!(
            r["result"]["structuredContent"]["count"], 42,
            "Accept: {accept}"
        );
    }
    // No Accept header at all.
    let res = srv
        .client
        .post(&srv.url)
        .header("content-type", "application/json")
        .header("mcp-protocol-version", LEGACY)
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
});

db_test!(stateless_get_is_a_held_open_event_stream, |srv| {
    let started = std::time::Instant::now();
    let mut res = srv
        .client
        .get(&srv.url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/event-stream")
    );
    assert_eq!(res.headers()["x-accel-buffering"], "no");
    let first = tokio::time::timeout(std::time::Duration::from_secs(2), res.chunk())
        .await
        .expect("first byte arrives at once")
        .expect("chunk")
        .expect("stream still open");
    assert!(first.starts_with(b":"), "a comment, not an event");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // Still open: no further chunk ends the stream within a short wait.
    let next = tokio::time::timeout(std::time::Duration::from_millis(300), res.chunk()).await;
    assert!(next.is_err(), "stream held open");
    drop(res);
});

db_test!(stateless_delete_is_405, |srv| {
    let res = srv.client.delete(&srv.url).send().await.expect("sent");
    assert_eq!(res.status(), 405);
});

db_test!(
    progress_notifications_stream_before_the_result,
    crate::common::Opts::conformance(),
    |srv| {
        let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": "p1"}}})
    .to_string();
        let res = srv
            .post_raw(body, &[("mcp-protocol-version", LEGACY)])
            .await;
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap_or_default()
                .starts_with("text/event-stream")
        );
        let text = res.text().await.expect("body");
        let msgs = crate::common::sse_messages(&text);
        let progress: Vec<f64> = msgs
            .iter()
            .filter(|m| m["method"] == "notifications/progress")
            .map(|m| {
                assert_eq!(m["params"]["progressToken"], "p1");
                m["params"]["progress"].as_f64().expect("progress")
            })
            .collect();
        assert!(progress.len() >= 2, "{text}");
        assert!(
            progress.windows(2).all(|w| w[0] < w[1]),
            "strictly increasing: {progress:?}"
        );
        let last = msgs.last().expect("messages");
        assert_eq!(last["id"], 5, "the result comes last");
        assert!(last["result"].is_object());
    }
);

db_test!(
    logging_notifications_follow_the_level,
    crate::common::Opts::conformance(),
    |srv| {
        let body = json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call",
        "params": {"name": "test_tool_with_logging", "arguments": {}}})
        .to_string();
        let text = srv
            .post_raw(body, &[("mcp-protocol-version", LEGACY)])
            .await
            .text()
            .await
            .expect("body");
        let logs = crate::common::sse_messages(&text)
            .into_iter()
            .filter(|m| m["method"] == "notifications/message")
            .count();
        assert!(logs >= 3, "{text}");
    }
);

db_test!(
    slow_tools_time_out_as_tool_errors,
    crate::common::Opts {
        tool_timeout: Some(std::time::Duration::from_millis(50)),
        ..crate::common::Opts::conformance()
    },
    |srv| {
        let started = std::time::Instant::now();
        let r = srv.call("test_tool_with_progress", json!({})).await;
        assert_eq!(r["isError"], true, "{r}");
        assert!(
            crate::common::first_text(&r).contains("did not finish"),
            "{r}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // The server goes on serving.
        let r = srv.call("test_simple_text", json!({})).await;
        assert_eq!(r["isError"], false);
    }
);
