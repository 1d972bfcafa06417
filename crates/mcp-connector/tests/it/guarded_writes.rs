//! Guarded writes: read-only mode, disabled tools, and confirmation of
//! destructive tools (elicitation accepted, declined, unsupported).

use std::time::Duration;

use mcp_connector::config::{Config, ToolSettings};
use mcp_connector::mcp::guard::Unconfirmed;
use serde_json::{Value, json};

use crate::common::{
    Backend, LEGACY, MODERN, Opts, TestServer, first_text, read_message, sse_messages,
};
use crate::db_test;

fn names(list: &Value) -> Vec<String> {
    list["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

db_test!(
    read_only_mode_hides_and_refuses_writes,
    Opts {
        tweak: Some(|c| c.read_only = true),
        ..Opts::default()
    },
    |srv| {
        let list = srv.rpc("tools/list", json!({})).await;
        assert_eq!(
            names(&list),
            ["get_employee_count", "list_departments", "find_employees"]
        );
        for (tool, args) in [
            (
                "add_employee",
                json!({"name": "X", "department": "sales", "title": "t"}),
            ),
            ("remove_employee", json!({"id": 1})),
        ] {
            let r = srv
                .rpc("tools/call", json!({"name": tool, "arguments": args}))
                .await;
            assert_eq!(r["error"]["code"], -32602, "{r}");
            assert_eq!(
                r["error"]["message"],
                format!("Unknown tool: {tool}"),
                "looks exactly like an unknown tool"
            );
        }
        assert_eq!(srv.count("sales").await, 18);
        assert_eq!(srv.count("engineering").await, 42, "reads still work");
    }
);

fn disable_find(c: &mut Config) {
    c.tools.insert(
        "find_employees".into(),
        ToolSettings {
            enabled: false,
            ..ToolSettings::default()
        },
    );
}

db_test!(
    a_disabled_tool_is_hidden_and_unknown,
    Opts {
        tweak: Some(disable_find),
        ..Opts::default()
    },
    |srv| {
        let list = srv.rpc("tools/list", json!({})).await;
        assert!(!names(&list).contains(&"find_employees".to_owned()));
        let r = srv
            .rpc(
                "tools/call",
                json!({"name": "find_employees", "arguments": {}}),
            )
            .await;
        assert_eq!(r["error"]["code"], -32602);
    }
);

db_test!(
    destructive_tool_is_refused_when_the_user_cannot_confirm,
    |srv| {
        // A stateless legacy client (like Claude today) cannot be asked.
        let r = srv.call("remove_employee", json!({"id": 1})).await;
        assert_eq!(r["isError"], true);
        let text = first_text(&r);
        assert!(
            text.contains("confirmation")
                && text.contains("[tools.remove_employee] unconfirmed = \"allow\""),
            "{text}"
        );
        assert_eq!(srv.count("engineering").await, 42, "nothing was removed");
    }
);

fn allow_remove(c: &mut Config) {
    c.tools.insert(
        "remove_employee".into(),
        ToolSettings {
            enabled: true,
            unconfirmed: Unconfirmed::Allow,
        },
    );
}

db_test!(
    an_operator_can_allow_a_destructive_tool_deliberately,
    Opts {
        tweak: Some(allow_remove),
        ..Opts::default()
    },
    |srv| {
        let r = srv.call("remove_employee", json!({"id": 1})).await;
        assert_eq!(r["isError"], false, "{r}");
        assert_eq!(srv.count("engineering").await, 41);
    }
);

/// Open a session declaring elicitation; call remove_employee; answer the
/// confirmation with `action`; the final tool result.
async fn remove_with_session_answer(srv: &TestServer, action: &str, confirm: bool) -> Value {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {"elicitation": {}}, "clientInfo": {"name": "it", "version": "1"}}});
    let res = srv.post_raw(init.to_string(), &[]).await;
    let sid = res.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let _ = read_message(res).await;
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    srv.post_raw(
        note,
        &[("mcp-session-id", &sid), ("mcp-protocol-version", LEGACY)],
    )
    .await;
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "remove_employee", "arguments": {"id": 1}}});
    let mut res = srv
        .post_raw(
            call.to_string(),
            &[("mcp-session-id", &sid), ("mcp-protocol-version", LEGACY)],
        )
        .await;
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let msgs = sse_messages(&buf);
        if let Some(req) = msgs.iter().find(|m| m["method"] == "elicitation/create")
            && !buf.contains("\"answered\"")
        {
            assert!(
                req["params"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("Remove employee"),
                "{req}"
            );
            let answer = json!({"jsonrpc": "2.0", "id": req["id"], "result": {"action": action, "content": {"confirm": confirm}}});
            let ack = srv
                .post_raw(
                    answer.to_string(),
                    &[("mcp-session-id", &sid), ("mcp-protocol-version", LEGACY)],
                )
                .await;
            assert_eq!(ack.status(), 202);
            buf.push_str("\n\n: \"answered\"\n\n");
        }
        if let Some(done) = msgs.iter().find(|m| m["id"] == 2) {
            return done["result"].clone();
        }
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .expect("in time")
            .expect("chunk")
            .expect("open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

db_test!(
    destructive_tool_runs_after_the_user_confirms_in_a_session,
    Opts::sessions(),
    |srv| {
        // A stateless replica on the same database reads the counts.
        let plain = srv.replica(Opts::default()).await;
        let r = remove_with_session_answer(&srv, "accept", true).await;
        assert_eq!(r["isError"], false, "{r}");
        assert_eq!(plain.count("engineering").await, 41);
        plain.stop().await;
    }
);

db_test!(
    destructive_tool_does_not_run_when_the_user_declines,
    Opts::sessions(),
    |srv| {
        let plain = srv.replica(Opts::default()).await;
        let r = remove_with_session_answer(&srv, "decline", false).await;
        assert_eq!(r["isError"], true, "{r}");
        assert!(
            r["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .contains("did not confirm")
        );
        assert_eq!(plain.count("engineering").await, 42);
        // Accepting the form but answering "no" is not a confirmation either.
        let r = remove_with_session_answer(&srv, "accept", false).await;
        assert_eq!(r["isError"], true, "{r}");
        assert_eq!(plain.count("engineering").await, 42);
        plain.stop().await;
    }
);

/// A 2026-07-28 tools/call of remove_employee with elicitation declared.
async fn modern_remove(srv: &TestServer, id: i64, extra: Value) -> (u16, Value) {
    let mut params = json!({"name": "remove_employee", "arguments": {"id": id}, "_meta": {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}});
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            params[k] = v;
        }
    }
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": params});
    let res = srv
        .post_raw(
            body.to_string(),
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/call"),
                ("mcp-name", "remove_employee"),
            ],
        )
        .await;
    let status = res.status().as_u16();
    (status, read_message(res).await)
}

db_test!(destructive_tool_confirmed_by_multi_round_trip, |srv| {
    let (status, first) = modern_remove(&srv, 1, json!({})).await;
    assert_eq!(status, 200, "{first}");
    let r = &first["result"];
    assert_eq!(r["resultType"], "input_required", "{first}");
    assert_eq!(
        r["inputRequests"]["confirm"]["method"],
        "elicitation/create"
    );
    let state = r["requestState"].as_str().expect("sealed state").to_owned();
    assert_eq!(srv.count("engineering").await, 42, "nothing ran yet");

    // The state is bound to employee 1: replaying it for employee 2 is refused.
    let yes = json!({"confirm": {"action": "accept", "content": {"confirm": true}}});
    let (status, other) = modern_remove(
        &srv,
        2,
        json!({"inputResponses": yes, "requestState": state}),
    )
    .await;
    assert_eq!(other["error"]["code"], -32602, "{other}");
    assert!(status == 200 || status == 400);
    let (_, tampered) = modern_remove(
        &srv,
        1,
        json!({"inputResponses": yes, "requestState": format!("{state}x")}),
    )
    .await;
    assert_eq!(tampered["error"]["code"], -32602);
    assert_eq!(srv.count("engineering").await, 42);

    // Declined: no change. Confirmed: removed.
    let no = json!({"confirm": {"action": "decline"}});
    let (_, declined) = modern_remove(
        &srv,
        1,
        json!({"inputResponses": no, "requestState": state}),
    )
    .await;
    assert_eq!(declined["result"]["isError"], true, "{declined}");
    assert_eq!(srv.count("engineering").await, 42);
    let (_, done) = modern_remove(
        &srv,
        1,
        json!({"inputResponses": yes, "requestState": state}),
    )
    .await;
    assert_eq!(done["result"]["isError"], false, "{done}");
    assert_eq!(srv.count("engineering").await, 41);
});

db_test!(a_confirmation_runs_the_tool_once, |srv| {
    // Two employees so that a second run would show.
    let (_, first) = modern_remove(&srv, 1, json!({})).await;
    let state = first["result"]["requestState"]
        .as_str()
        .expect("sealed state")
        .to_owned();
    let yes = json!({"confirm": {"action": "accept", "content": {"confirm": true}}});
    let retry = json!({"inputResponses": yes, "requestState": state});
    let (_, done) = modern_remove(&srv, 1, retry.clone()).await;
    assert_eq!(done["result"]["isError"], false, "{done}");
    assert_eq!(srv.count("engineering").await, 41);
    // Replayed, on this server or another replica: refused, nothing runs.
    let replica = srv.replica(Opts::default()).await;
    for server in [&srv, &replica] {
        let (status, again) = modern_remove(server, 1, retry.clone()).await;
        assert_eq!(again["error"]["code"], -32602, "{again}");
        assert!(
            again["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("already used")),
            "{again}"
        );
        assert!(status == 200 || status == 400);
    }
    // Concurrent uses of one fresh "yes": exactly one runs.
    let (_, ask) = modern_remove(&srv, 2, json!({})).await;
    let state = ask["result"]["requestState"]
        .as_str()
        .expect("state")
        .to_owned();
    let retry = json!({"inputResponses": yes, "requestState": state});
    let results =
        futures::future::join_all((0..6).map(|_| modern_remove(&srv, 2, retry.clone()))).await;
    let ran = results
        .iter()
        .filter(|(_, r)| r["result"]["isError"] == false)
        .count();
    assert_eq!(ran, 1, "{results:?}");
    assert_eq!(srv.count("engineering").await, 40);
    replica.stop().await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tool_in_config_stops_start_up() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = Config {
        database_url: format!("sqlite://{}", dir.path().join("x.db").display()),
        ..Config::default()
    };
    config
        .tools
        .insert("remove_employe".into(), ToolSettings::default());
    let err = mcp_connector::AppState::build(config)
        .await
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("tools.remove_employe") && msg.contains("remove_employee"),
        "{msg}"
    );
    let _ = Backend::Sqlite;
}
