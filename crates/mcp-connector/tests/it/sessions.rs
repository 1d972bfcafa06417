//! `--sessions`: stateful sessions with `Mcp-Session-Id`, shared through the
//! database, resumable streams and server-to-client requests.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    LEGACY, Opts, TestServer, find_message, read_message, read_until, sse_messages,
};
use crate::db_test;

/// Initialize a session; its id.
async fn open_session(srv: &TestServer, capabilities: Value) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": capabilities, "clientInfo": {"name": "it", "version": "1"}}})
    .to_string();
    let res = srv.post_raw(body, &[]).await;
    assert_eq!(res.status(), 200);
    let id = res
        .headers()
        .get("mcp-session-id")
        .expect("session id issued")
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        id.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "visible ASCII only"
    );
    let r = read_message(res).await;
    assert_eq!(r["result"]["protocolVersion"], LEGACY);
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let res = srv
        .post_raw(
            note,
            &[("mcp-session-id", &id), ("mcp-protocol-version", LEGACY)],
        )
        .await;
    assert_eq!(res.status(), 202);
    id
}

async fn in_session(srv: &TestServer, id: &str, method: &str, params: Value) -> reqwest::Response {
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": method, "params": params}).to_string();
    srv.post_raw(
        body,
        &[("mcp-session-id", id), ("mcp-protocol-version", LEGACY)],
    )
    .await
}

fn count_args() -> Value {
    json!({"name": "get_employee_count", "arguments": {"department": "engineering"}})
}

db_test!(session_lifecycle, Opts::sessions(), |srv| {
    let id = open_session(&srv, json!({})).await;
    let r = read_message(in_session(&srv, &id, "tools/call", count_args()).await).await;
    assert_eq!(r["result"]["structuredContent"]["count"], 42);

    // Missing id: 400. Unknown id: 404.
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}).to_string();
    assert_eq!(
        srv.post_raw(body, &[("mcp-protocol-version", LEGACY)])
            .await
            .status(),
        400
    );
    assert_eq!(
        in_session(&srv, "no-such-session", "tools/list", json!({}))
            .await
            .status(),
        404
    );

    // DELETE ends it; afterwards the id is unknown.
    let res = srv
        .client
        .delete(&srv.url)
        .header("mcp-session-id", &id)
        .send()
        .await
        .expect("sent");
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(
        in_session(&srv, &id, "tools/list", json!({}))
            .await
            .status(),
        404
    );
});

db_test!(session_get_stream_opens, Opts::sessions(), |srv| {
    let id = open_session(&srv, json!({})).await;
    let res = srv
        .client
        .get(&srv.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", LEGACY)
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
    // Without a session id the GET is refused.
    let res = srv
        .client
        .get(&srv.url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 400);
});

db_test!(
    another_replica_serves_the_session,
    Opts::sessions(),
    |srv| {
        let id = open_session(&srv, json!({})).await;
        // A second server on the same database has never seen this session in
        // memory; it restores it from the session table.
        let other = srv.replica(Opts::sessions()).await;
        let r = read_message(in_session(&other, &id, "tools/call", count_args()).await).await;
        assert_eq!(r["result"]["structuredContent"]["count"], 42, "{r}");
        other.stop().await;
    }
);

db_test!(
    streams_are_resumable_with_last_event_id,
    Opts {
        sessions: true,
        ..Opts::conformance()
    },
    |srv| {
        let id = open_session(&srv, json!({})).await;
        // Read the call's stream up to its first progress event, then drop the
        // connection as a flaky network would.
        let mut res = in_session(&srv, &id, "tools/call", json!({"name": "test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": 9}})).await;
        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        read_until(&mut res, &mut text, deadline, |t| {
            t.contains("notifications/progress") && t.contains("\nid:")
        })
        .await;
        drop(res);
        let progress_event = text
            .split("\n\n")
            .find(|e| e.contains("notifications/progress"))
            .and_then(|e| e.lines().find_map(|l| l.strip_prefix("id:")))
            .map(str::trim)
            .expect("the progress event has an id")
            .to_owned();
        let ids = [progress_event.as_str()];
        // Reconnect while the call is still running (rmcp keeps a request's
        // stream for resumption until its response has been delivered).
        // Reconnect after the first event: the rest is replayed.
        let res = srv
            .client
            .get(&srv.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &id)
            .header("mcp-protocol-version", LEGACY)
            .header("last-event-id", ids[0])
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
        let mut res = res;
        let mut replay = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !sse_messages(&replay).iter().any(|m| m["id"] == 2) {
            match tokio::time::timeout_at(deadline, res.chunk()).await {
                Ok(Ok(Some(chunk))) => replay.push_str(&String::from_utf8_lossy(&chunk)),
                _ => break,
            }
        }
        let msgs = sse_messages(&replay);
        assert!(
            msgs.iter().any(|m| m["id"] == 2 && m["result"].is_object()),
            "the result is replayed: {replay}"
        );
    }
);

db_test!(
    server_to_client_elicitation,
    Opts {
        sessions: true,
        ..Opts::conformance()
    },
    |srv| {
        let id = open_session(&srv, json!({"elicitation": {}})).await;
        let mut res = in_session(
            &srv,
            &id,
            "tools/call",
            json!({"name": "test_elicitation", "arguments": {"message": "Who are you?"}}),
        )
        .await;
        assert_eq!(res.status(), 200);
        let mut buf = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let is_request = |m: &Value| m["method"] == "elicitation/create";
        read_until(&mut res, &mut buf, deadline, |b| {
            find_message(b, is_request).is_some()
        })
        .await;
        let request = find_message(&buf, is_request).expect("elicitation request");
        assert_eq!(request["params"]["message"], "Who are you?");
        let answer = json!({"jsonrpc": "2.0", "id": request["id"], "result": {"action": "accept", "content": {"username": "ada", "email": "ada@example.com"}}}).to_string();
        let ack = srv
            .post_raw(
                answer,
                &[("mcp-session-id", &id), ("mcp-protocol-version", LEGACY)],
            )
            .await;
        assert_eq!(ack.status(), 202);
        let is_result = |m: &Value| m["id"] == 2;
        read_until(&mut res, &mut buf, deadline, |b| {
            find_message(b, is_result).is_some()
        })
        .await;
        let result = find_message(&buf, is_result).expect("tool result");
        let text = result["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(text.contains("accept") && text.contains("ada"), "{result}");
    }
);

db_test!(
    cancelled_requests_get_no_result,
    Opts {
        sessions: true,
        ..Opts::conformance()
    },
    |srv| {
        let id = open_session(&srv, json!({})).await;
        let mut res = in_session(&srv, &id, "tools/call", json!({"name": "test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": 3}})).await;
        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        read_until(&mut res, &mut text, deadline, |t| {
            t.contains("notifications/progress")
        })
        .await;
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2, "reason": "user gave up"}}).to_string();
        let ack = srv
            .post_raw(
                cancel,
                &[("mcp-session-id", &id), ("mcp-protocol-version", LEGACY)],
            )
            .await;
        assert_eq!(ack.status(), 202);
        // The rest of the stream must not carry a successful result for id 2.
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, res.chunk()).await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if sse_messages(&text).iter().any(|m| m["id"] == 2) {
                break;
            }
        }
        let done = sse_messages(&text);
        assert!(
            !done
                .iter()
                .any(|m| m["id"] == 2
                    && m["result"]["content"][0]["text"] == "Progress test completed"),
            "a cancelled call does not complete: {text}"
        );
        // The session is still usable. A fresh id: the cancelled request's
        // id 2 may still be settling inside the session.
        let body = json!({"jsonrpc": "2.0", "id": 30, "method": "tools/call",
            "params": {"name": "test_simple_text", "arguments": {}}});
        let r = read_message(
            srv.post_raw(
                body.to_string(),
                &[("mcp-session-id", &id), ("mcp-protocol-version", LEGACY)],
            )
            .await,
        )
        .await;
        assert!(r["result"]["content"].is_array());
    }
);

async fn delete(srv: &TestServer, id: &str) -> (u16, Value) {
    let res = srv
        .client
        .delete(&srv.url)
        .header("mcp-session-id", id)
        .header("mcp-protocol-version", LEGACY)
        .send()
        .await
        .expect("sent");
    let status = res.status().as_u16();
    (status, read_message(res).await)
}

db_test!(a_session_is_initialized_once, Opts::sessions(), |srv| {
    let id = open_session(&srv, json!({})).await;
    let params = json!({"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "it", "version": "1"}});
    let res = in_session(&srv, &id, "initialize", params).await;
    assert_eq!(res.status(), 400);
    let reply = read_message(res).await;
    assert_eq!(reply["error"]["code"], -32600, "{reply}");
    assert_eq!(reply["id"], 2, "{reply}");
    // The session is still the one it was.
    let r = read_message(in_session(&srv, &id, "tools/call", count_args()).await).await;
    assert_eq!(r["result"]["structuredContent"]["count"], 42, "{r}");
});

db_test!(
    delete_of_an_ended_or_unknown_session_is_404,
    Opts::sessions(),
    |srv| {
        let (status, reply) = delete(&srv, "no-such-session").await;
        assert_eq!(status, 404, "{reply}");
        assert_eq!(reply["error"]["code"], -32001, "{reply}");
        let id = open_session(&srv, json!({})).await;
        let (status, _) = delete(&srv, &id).await;
        assert!((200..300).contains(&status), "{status}");
        // The second DELETE of the same session, and any request on it: 404.
        let (status, reply) = delete(&srv, &id).await;
        assert_eq!(status, 404, "{reply}");
        assert_eq!(
            in_session(&srv, &id, "tools/list", json!({}))
                .await
                .status(),
            404
        );
    }
);
