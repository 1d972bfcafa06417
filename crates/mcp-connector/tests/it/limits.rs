//! `[limits]`: per-client and per-tool rate limits (429 + `Retry-After`),
//! the concurrent-session cap and the session lifetime.

use std::time::Duration;

use mcp_connector::config::{Config, Rate};
use serde_json::{Value, json};

use crate::common::{LEGACY, Opts, TestServer, read_message};
use crate::db_test;

fn rate(limit: u32, period: Duration) -> Option<Rate> {
    Some(Rate {
        limit,
        period,
        burst: limit,
    })
}

/// Three requests per second per client.
fn per_client(c: &mut Config) {
    c.limits.requests = rate(3, Duration::from_secs(1));
}

/// Two calls per minute per client and tool; no per-client request limit.
fn per_tool(c: &mut Config) {
    c.limits.requests = None;
    c.limits.tool_calls = rate(2, Duration::from_secs(60));
}

fn two_sessions(c: &mut Config) {
    c.limits.max_sessions = 2;
}

fn short_sessions(c: &mut Config) {
    c.limits.session_max_lifetime = Duration::from_secs(1);
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()
        .get("retry-after")
        .expect("Retry-After present")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds")
}

async fn ping(srv: &TestServer) -> reqwest::Response {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    srv.post_raw(body, &[("mcp-protocol-version", LEGACY)])
        .await
}

async fn call_raw(srv: &TestServer, tool: &str, args: Value) -> reqwest::Response {
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": tool, "arguments": args}})
    .to_string();
    srv.post_raw(body, &[("mcp-protocol-version", LEGACY)])
        .await
}

db_test!(
    per_client_limit_refuses_then_recovers,
    Opts {
        tweak: Some(per_client),
        ..Opts::default()
    },
    |srv| {
        for _ in 0..3 {
            assert_eq!(ping(&srv).await.status(), 200);
        }
        let res = ping(&srv).await;
        assert_eq!(res.status(), 429);
        assert_eq!(retry_after(&res), 1);
        let body = read_message(res).await;
        assert_eq!(body["jsonrpc"], "2.0");
        assert_eq!(body["error"]["code"], -32600);
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Too Many Requests")),
            "{body}"
        );
        // The limit covers every route of the client, not only /mcp.
        let res = srv
            .client
            .get(format!("{}/healthz", srv.base))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 429);

        // One emission interval (1/3 s) later there is room again.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(ping(&srv).await.status(), 200);
    }
);

db_test!(default_limits_do_not_get_in_the_way, |srv| {
    for _ in 0..50 {
        assert_eq!(ping(&srv).await.status(), 200);
    }
});

db_test!(
    per_tool_limit_hits_only_that_tool,
    Opts {
        tweak: Some(per_tool),
        ..Opts::default()
    },
    |srv| {
        let args = json!({"department": "engineering"});
        for _ in 0..2 {
            let r = read_message(call_raw(&srv, "get_employee_count", args.clone()).await).await;
            assert_eq!(r["result"]["structuredContent"]["count"], 42, "{r}");
        }
        let res = call_raw(&srv, "get_employee_count", args.clone()).await;
        assert_eq!(res.status(), 429);
        assert!(retry_after(&res) >= 1);
        let body = read_message(res).await;
        assert_eq!(body["id"], 5, "the refused call's id is echoed");
        assert_eq!(body["error"]["code"], -32600);

        // Another tool and other methods are not affected.
        let r = read_message(call_raw(&srv, "list_departments", json!({})).await).await;
        assert!(r.get("result").is_some(), "{r}");
        assert_eq!(ping(&srv).await.status(), 200);
    }
);

async fn initialize(srv: &TestServer) -> reqwest::Response {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "it", "version": "1"}}})
    .to_string();
    srv.post_raw(body, &[]).await
}

async fn open(srv: &TestServer) -> String {
    let res = initialize(srv).await;
    assert_eq!(res.status(), 200);
    let id = res
        .headers()
        .get("mcp-session-id")
        .expect("session id")
        .to_str()
        .expect("ascii")
        .to_owned();
    let _ = read_message(res).await;
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

async fn in_session(srv: &TestServer, id: &str) -> reqwest::Response {
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}).to_string();
    srv.post_raw(
        body,
        &[("mcp-session-id", id), ("mcp-protocol-version", LEGACY)],
    )
    .await
}

db_test!(
    session_cap_refuses_then_frees_a_slot_on_delete,
    Opts {
        tweak: Some(two_sessions),
        ..Opts::sessions()
    },
    |srv| {
        let first = open(&srv).await;
        let _second = open(&srv).await;
        let res = initialize(&srv).await;
        assert_eq!(res.status(), 503);
        assert!(retry_after(&res) >= 1);
        let body = read_message(res).await;
        assert_eq!(body["id"], 1);
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("too many sessions")),
            "{body}"
        );

        // Existing sessions keep working at the cap.
        assert_eq!(in_session(&srv, &first).await.status(), 200);

        let res = srv
            .client
            .delete(&srv.url)
            .header("mcp-session-id", &first)
            .header("mcp-protocol-version", LEGACY)
            .send()
            .await
            .expect("sent");
        assert!(res.status().is_success(), "{}", res.status());
        let third = open(&srv).await;
        assert_ne!(third, first);
    }
);

db_test!(
    session_past_its_lifetime_is_closed,
    Opts {
        tweak: Some(short_sessions),
        ..Opts::sessions()
    },
    |srv| {
        let id = open(&srv).await;
        assert_eq!(in_session(&srv, &id).await.status(), 200);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let res = in_session(&srv, &id).await;
        assert_eq!(res.status(), 404);
        let body = read_message(res).await;
        assert_eq!(body["error"]["message"], "Not Found: session expired");
        // Closed for good: not restored from the database either.
        assert_eq!(in_session(&srv, &id).await.status(), 404);
        // A new session works.
        let fresh = open(&srv).await;
        assert_eq!(in_session(&srv, &fresh).await.status(), 200);
    }
);

db_test!(
    default_limits_hold_claude_sized_traffic_from_one_address,
    Opts::sessions(),
    |srv| {
        // All of an organisation's Claude users arrive from a few egress
        // addresses: with the defaults, one address opens 200 sessions at
        // once and runs 50 calls at once on one of them, none refused.
        let init = |i: usize| {
            let srv = &srv;
            async move {
                let body = json!({"jsonrpc": "2.0", "id": i, "method": "initialize", "params": {
                    "protocolVersion": LEGACY, "capabilities": {},
                    "clientInfo": {"name": "claude-like", "version": "1"}}})
                .to_string();
                let res = srv.post_raw(body, &[]).await;
                assert_eq!(res.status(), 200, "initialize {i} refused");
                let id = res.headers()["mcp-session-id"]
                    .to_str()
                    .expect("ascii")
                    .to_owned();
                let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
                let res = srv
                    .post_raw(
                        note.to_string(),
                        &[("mcp-session-id", &id), ("mcp-protocol-version", LEGACY)],
                    )
                    .await;
                assert_eq!(res.status(), 202, "initialized {i} refused");
                id
            }
        };
        let sessions = futures::future::join_all((0..200).map(init)).await;
        assert_eq!(sessions.len(), 200);
        let one = &sessions[0];
        let calls = futures::future::join_all((0..50).map(|i| {
            let srv = &srv;
            async move {
                let body = json!({"jsonrpc": "2.0", "id": 100 + i, "method": "tools/call",
                    "params": {"name": "get_employee_count", "arguments": {"department": "engineering"}}})
                .to_string();
                let res = srv
                    .post_raw(body, &[("mcp-session-id", one), ("mcp-protocol-version", LEGACY)])
                    .await;
                (res.status().as_u16(), read_message(res).await)
            }
        }))
        .await;
        for (status, reply) in &calls {
            assert_eq!(*status, 200, "{reply}");
            assert_eq!(reply["result"]["structuredContent"]["count"], 42, "{reply}");
        }
    }
);
