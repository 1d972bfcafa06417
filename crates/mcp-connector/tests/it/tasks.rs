//! The tasks extension (SEP-2663) on the conformance fixtures: task-augmented
//! `tools/call`, `tasks/get`, `tasks/update`, `tasks/cancel`, the removed v1
//! methods, the capability gate, principal binding and replicas sharing
//! tasks through the database.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{MODERN, Opts, TestServer, read_message};
use crate::db_test;
use crate::oauth_flow::{add_token_user, mint, test_client};

const TASKS: &str = "io.modelcontextprotocol/tasks";

/// A 2026-07-28 request; `tasks` declares the extension; `token` is a bearer
/// token. The JSON-RPC reply.
async fn send(
    srv: &TestServer,
    method: &str,
    mut params: Value,
    tasks: bool,
    token: Option<&str>,
) -> Value {
    let caps = if tasks {
        json!({"extensions": {TASKS: {}}})
    } else {
        json!({})
    };
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": caps,
        "io.modelcontextprotocol/clientInfo": {"name": "it", "version": "1"},
    });
    let name = params
        .get("name")
        .or_else(|| params.get("taskId"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": method, "params": params});
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("mcp-protocol-version", MODERN), ("mcp-method", method)];
    if let Some(n) = name.as_deref() {
        headers.push(("mcp-name", n));
    }
    if let Some(a) = auth.as_deref() {
        headers.push(("authorization", a));
    }
    read_message(srv.post_raw(body.to_string(), &headers).await).await
}

async fn call(srv: &TestServer, tool: &str, args: Value, token: Option<&str>) -> Value {
    let reply = send(
        srv,
        "tools/call",
        json!({"name": tool, "arguments": args}),
        true,
        token,
    )
    .await;
    reply
        .get("result")
        .cloned()
        .unwrap_or_else(|| panic!("no result: {reply}"))
}

async fn get(srv: &TestServer, id: &str, token: Option<&str>) -> Value {
    send(srv, "tasks/get", json!({"taskId": id}), true, token).await
}

/// Poll `tasks/get` until the task is in `status` or terminal.
async fn wait_for(srv: &TestServer, id: &str, status: &str, token: Option<&str>) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let reply = get(srv, id, token).await;
        let task = reply
            .get("result")
            .cloned()
            .unwrap_or_else(|| panic!("{reply}"));
        let s = task["status"].as_str().unwrap_or_default().to_owned();
        if s == status || ["completed", "failed", "cancelled"].contains(&s.as_str()) {
            return task;
        }
        assert!(tokio::time::Instant::now() < deadline, "task stuck: {task}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn code(reply: &Value) -> i64 {
    reply["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error: {reply}"))
}

fn task_id(created: &Value) -> String {
    assert_eq!(created["resultType"], "task", "{created}");
    created["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("no taskId: {created}"))
        .to_owned()
}

db_test!(
    task_runs_to_completion_and_inlines_its_result,
    Opts::conformance(),
    |srv| {
        let created = call(
            &srv,
            "slow_compute",
            json!({"seconds": 0.5, "label": "a"}),
            None,
        )
        .await;
        let id = task_id(&created);
        assert_eq!(created["status"], "working");
        assert!(
            created["ttlMs"].as_u64().is_some_and(|t| t > 0),
            "{created}"
        );
        assert!(
            created["pollIntervalMs"].as_u64().is_some_and(|t| t > 0),
            "{created}"
        );
        assert!(
            created.get("result").is_none() && created.get("task").is_none(),
            "{created}"
        );
        // Durable before the answer: an immediate get finds it, still working,
        // without a result (the result is not there before the task is done).
        let now = get(&srv, &id, None).await["result"].clone();
        assert_eq!(now["taskId"], id.as_str());
        assert_eq!(now["status"], "working", "{now}");
        assert_eq!(now["resultType"], "complete");
        assert!(now.get("result").is_none(), "{now}");
        let done = wait_for(&srv, &id, "completed", None).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(
            done["result"]["content"][0]["text"],
            "computed a after 0.5s"
        );
        assert_eq!(done["resultType"], "complete");
    }
);

db_test!(
    tool_errors_complete_and_protocol_errors_fail,
    Opts::conformance(),
    |srv| {
        let id = task_id(&call(&srv, "failing_job", json!({}), None).await);
        let done = wait_for(&srv, &id, "completed", None).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["result"]["isError"], true, "{done}");
        let id = task_id(&call(&srv, "protocol_error_job", json!({}), None).await);
        let failed = wait_for(&srv, &id, "failed", None).await;
        assert_eq!(failed["status"], "failed", "{failed}");
        assert_eq!(failed["error"]["code"], -32603, "{failed}");
        assert!(failed.get("result").is_none(), "{failed}");
        // The internal detail stays in the log: the client gets a reference.
        let message = failed["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("Internal error (reference "),
            "{message}"
        );
        assert!(!message.contains("protocol_error_job"), "{message}");
    }
);

db_test!(
    a_task_over_the_tool_timeout_completes_with_an_error,
    Opts {
        tool_timeout: Some(Duration::from_secs(1)),
        ..Opts::conformance()
    },
    |srv| {
        let id = task_id(&call(&srv, "slow_compute", json!({"seconds": 30}), None).await);
        let done = wait_for(&srv, &id, "completed", None).await;
        assert_eq!(done["result"]["isError"], true, "{done}");
        let text = done["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(text.contains("did not finish within"), "{text}");
    }
);

db_test!(
    cancel_acks_empty_and_is_idempotent,
    Opts::conformance(),
    |srv| {
        let id = task_id(&call(&srv, "slow_compute", json!({"seconds": 60}), None).await);
        let ack = send(&srv, "tasks/cancel", json!({"taskId": id}), true, None).await;
        assert_eq!(ack["result"], json!({"resultType": "complete"}), "{ack}");
        let task = get(&srv, &id, None).await["result"].clone();
        assert_eq!(task["status"], "cancelled", "{task}");
        // Cancelling a finished task: the same ack, the status stays.
        let again = send(&srv, "tasks/cancel", json!({"taskId": id}), true, None).await;
        assert_eq!(
            again["result"],
            json!({"resultType": "complete"}),
            "{again}"
        );
        let done = task_id(&call(&srv, "slow_compute", json!({"seconds": 0}), None).await);
        wait_for(&srv, &done, "completed", None).await;
        let ack = send(&srv, "tasks/cancel", json!({"taskId": done}), true, None).await;
        assert_eq!(ack["result"], json!({"resultType": "complete"}), "{ack}");
        assert_eq!(
            get(&srv, &done, None).await["result"]["status"],
            "completed"
        );
    }
);

db_test!(
    unknown_task_ids_and_removed_methods,
    Opts::conformance(),
    |srv| {
        for (method, params) in [
            ("tasks/get", json!({"taskId": "no-such-task"})),
            ("tasks/cancel", json!({"taskId": "no-such-task"})),
            (
                "tasks/update",
                json!({"taskId": "no-such-task", "inputResponses": {}}),
            ),
        ] {
            let reply = send(&srv, method, params, true, None).await;
            assert_eq!(code(&reply), -32602, "{method}: {reply}");
        }
        // v1's tasks/result and tasks/list are gone in SEP-2663.
        for method in ["tasks/result", "tasks/list"] {
            let reply = send(&srv, method, json!({"taskId": "x"}), true, None).await;
            assert_eq!(code(&reply), -32601, "{method}: {reply}");
        }
    }
);

db_test!(without_the_extension_no_tasks, Opts::conformance(), |srv| {
    let args = json!({"name": "slow_compute", "arguments": {"seconds": 0, "label": "s"}});
    let sync = send(&srv, "tools/call", args, false, None).await["result"].clone();
    assert_eq!(sync["resultType"], "complete", "{sync}");
    assert!(sync.get("taskId").is_none(), "{sync}");
    assert_eq!(sync["content"][0]["text"], "computed s after 0s");
    let required = send(
        &srv,
        "tools/call",
        json!({"name": "failing_job", "arguments": {}}),
        false,
        None,
    )
    .await;
    assert_eq!(code(&required), -32021, "{required}");
    assert!(
        required["error"]["data"]["requiredCapabilities"]["extensions"][TASKS].is_object(),
        "{required}"
    );
    let gated = send(&srv, "tasks/get", json!({"taskId": "x"}), false, None).await;
    assert_eq!(code(&gated), -32021, "{gated}");
    // A sync-only tool never becomes a task, even with a v1 `task` hint.
    let greet = send(
        &srv,
        "tools/call",
        json!({"name": "greet", "arguments": {"name": "W"}, "task": {"ttl": 1000}}),
        true,
        None,
    )
    .await;
    assert_eq!(
        greet["result"]["content"][0]["text"], "Hello, W!",
        "{greet}"
    );
    assert!(greet["result"].get("taskId").is_none(), "{greet}");
});

db_test!(
    input_required_tasks_resume_after_update,
    Opts::conformance(),
    |srv| {
        let id = task_id(&call(&srv, "confirm_delete", json!({"filename": "a.txt"}), None).await);
        let waiting = wait_for(&srv, &id, "input_required", None).await;
        assert_eq!(waiting["status"], "input_required", "{waiting}");
        assert_eq!(
            waiting["inputRequests"]["confirm"]["method"], "elicitation/create",
            "{waiting}"
        );
        // An answer to a request the task did not make changes nothing.
        let ack = send(
            &srv,
            "tasks/update",
            json!({"taskId": id, "inputResponses": {"other": {}}}),
            true,
            None,
        )
        .await;
        assert_eq!(ack["result"], json!({"resultType": "complete"}), "{ack}");
        assert_eq!(
            get(&srv, &id, None).await["result"]["status"],
            "input_required"
        );
        let answer = json!({"confirm": {"action": "accept", "content": {"confirm": true}}});
        let ack = send(
            &srv,
            "tasks/update",
            json!({"taskId": id, "inputResponses": answer}),
            true,
            None,
        )
        .await;
        assert_eq!(ack["result"], json!({"resultType": "complete"}), "{ack}");
        let done = wait_for(&srv, &id, "completed", None).await;
        assert_eq!(
            done["result"]["content"][0]["text"], "Deleted a.txt",
            "{done}"
        );

        // Two questions: one answer keeps the other open.
        let id = task_id(&call(&srv, "multi_input", json!({}), None).await);
        let waiting = wait_for(&srv, &id, "input_required", None).await;
        let keys: Vec<&String> = waiting["inputRequests"]
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys.len(), 2, "{waiting}");
        let first = json!({"first": {"action": "accept", "content": {"name": "Ann"}}});
        send(
            &srv,
            "tasks/update",
            json!({"taskId": id, "inputResponses": first}),
            true,
            None,
        )
        .await;
        let partial = get(&srv, &id, None).await["result"].clone();
        assert_eq!(partial["status"], "input_required", "{partial}");
        assert!(partial["inputRequests"].get("first").is_none(), "{partial}");
        assert!(
            partial["inputRequests"].get("second").is_some(),
            "{partial}"
        );
        let second = json!({"second": {"action": "accept", "content": {"name": "Bo"}}});
        send(
            &srv,
            "tasks/update",
            json!({"taskId": id, "inputResponses": second}),
            true,
            None,
        )
        .await;
        let done = wait_for(&srv, &id, "completed", None).await;
        assert_eq!(
            done["result"]["content"][0]["text"], "first=Ann; second=Bo",
            "{done}"
        );
    }
);

db_test!(multi_round_trip_then_a_task, Opts::conformance(), |srv| {
    let round1 = call(&srv, "test_tool_with_task", json!({}), None).await;
    assert_eq!(round1["resultType"], "input_required", "{round1}");
    assert!(round1.get("taskId").is_none(), "{round1}");
    let params = json!({"name": "test_tool_with_task", "arguments": {},
        "inputResponses": {"user_name": {"action": "accept", "content": {"name": "Alice"}}}});
    let round2 = send(&srv, "tools/call", params, true, None).await["result"].clone();
    let id = task_id(&round2);
    assert!(
        round2.get("requestState").is_none() && round2.get("inputRequests").is_none(),
        "{round2}"
    );
    let done = wait_for(&srv, &id, "completed", None).await;
    assert_eq!(
        done["result"]["content"][0]["text"], "Hello, Alice! (from a task)",
        "{done}"
    );
});

db_test!(
    tasks_belong_to_their_principal,
    Opts {
        auth: mcp_connector::config::AuthMode::OAuth,
        ..Opts::conformance()
    },
    |srv| {
        let (client, _) = test_client(&srv, false).await;
        let alice = add_token_user(&srv, "viewer").await;
        let bob = add_token_user(&srv, "viewer").await;
        let (a, _) = mint(&srv, &client, Some(&alice), "tools:read").await;
        let (b, _) = mint(&srv, &client, Some(&bob), "tools:read").await;
        let id = task_id(&call(&srv, "slow_compute", json!({"seconds": 60}), Some(&a)).await);
        // Bob sees Alice's task exactly as an unknown one, and cannot cancel it.
        assert_eq!(code(&get(&srv, &id, Some(&b)).await), -32602);
        let cancel = send(&srv, "tasks/cancel", json!({"taskId": id}), true, Some(&b)).await;
        assert_eq!(code(&cancel), -32602, "{cancel}");
        let update = send(
            &srv,
            "tasks/update",
            json!({"taskId": id, "inputResponses": {}}),
            true,
            Some(&b),
        )
        .await;
        assert_eq!(code(&update), -32602, "{update}");
        assert_eq!(
            get(&srv, &id, Some(&a)).await["result"]["status"],
            "working"
        );
        let ack = send(&srv, "tasks/cancel", json!({"taskId": id}), true, Some(&a)).await;
        assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
        assert_eq!(
            get(&srv, &id, Some(&a)).await["result"]["status"],
            "cancelled"
        );
    }
);

db_test!(replicas_share_tasks, Opts::conformance(), |srv| {
    let other = srv.replica(Opts::conformance()).await;
    // Created on one replica, finished there, read on the other.
    let id = task_id(&call(&srv, "slow_compute", json!({"seconds": 0.3}), None).await);
    let done = wait_for(&other, &id, "completed", None).await;
    assert_eq!(
        done["result"]["content"][0]["text"], "computed  after 0.3s",
        "{done}"
    );
    // Cancelled through the other replica: the runner stops at its next
    // heartbeat and its result never replaces `cancelled`.
    let id = task_id(&call(&srv, "slow_compute", json!({"seconds": 3}), None).await);
    let ack = send(&other, "tasks/cancel", json!({"taskId": id}), true, None).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(get(&srv, &id, None).await["result"]["status"], "cancelled");
    // A task paused for input is resumed by whichever replica gets the answer.
    let id = task_id(&call(&srv, "confirm_delete", json!({"filename": "r.txt"}), None).await);
    wait_for(&srv, &id, "input_required", None).await;
    let answer = json!({"confirm": {"action": "accept", "content": {"confirm": false}}});
    send(
        &other,
        "tasks/update",
        json!({"taskId": id, "inputResponses": answer}),
        true,
        None,
    )
    .await;
    let done = wait_for(&srv, &id, "completed", None).await;
    assert_eq!(done["result"]["content"][0]["text"], "Kept r.txt", "{done}");
    other.stop().await;
});

fn stored(id: &str, status: &str, heartbeat_ms_ago: i64) -> mcp_connector::store::tasks::TaskRow {
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms");
    mcp_connector::store::tasks::TaskRow {
        id: id.into(),
        subject: String::new(),
        client_id: String::new(),
        tool: "slow_compute".into(),
        arguments: "{}".into(),
        status: status.into(),
        input_requests: None,
        input_responses: None,
        result: None,
        error: None,
        created_at: now - heartbeat_ms_ago,
        updated_at: now - heartbeat_ms_ago,
        heartbeat_at: now - heartbeat_ms_ago,
        expires_at: now + 3_600_000,
    }
}

db_test!(
    a_task_whose_replica_died_is_reported_failed,
    Opts::conformance(),
    |srv| {
        use mcp_connector::store::tasks::insert;
        // Working, but no heartbeat for a minute: its replica is gone.
        insert(&srv.state.db, &stored("orphan", "working", 60_000))
            .await
            .expect("insert");
        let task = get(&srv, "orphan", None).await["result"].clone();
        assert_eq!(task["status"], "failed", "{task}");
        assert_eq!(task["error"]["code"], -32603, "{task}");
        // A fresh heartbeat is a live task.
        insert(&srv.state.db, &stored("alive", "working", 1_000))
            .await
            .expect("insert");
        assert_eq!(
            get(&srv, "alive", None).await["result"]["status"],
            "working"
        );
    }
);

db_test!(
    unfinished_tasks_per_owner_are_capped,
    Opts::conformance(),
    |srv| {
        use mcp_connector::store::tasks::insert;
        let cap = mcp_connector::mcp::handler::tasks::MAX_UNFINISHED_PER_OWNER;
        for i in 0..cap {
            insert(
                &srv.state.db,
                &stored(&format!("t{i}"), "input_required", 0),
            )
            .await
            .expect("insert");
        }
        let refused = send(
            &srv,
            "tools/call",
            json!({"name": "slow_compute", "arguments": {"seconds": 0}}),
            true,
            None,
        )
        .await;
        assert_eq!(code(&refused), -32600, "{refused}");
        // Finishing one makes room.
        let ack = send(&srv, "tasks/cancel", json!({"taskId": "t0"}), true, None).await;
        assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
        task_id(&call(&srv, "slow_compute", json!({"seconds": 0}), None).await);
    }
);
