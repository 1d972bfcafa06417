//! URL-mode elicitation (MCP 2025-11-25) for out-of-band approval: a client
//! that declares it, in a stateful session, is asked to open the approval
//! page itself, and the call runs as soon as the person approves there.
//! The client is the official Python SDK (`interop/py_url_approve.py`).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use mcp_connector::config::Config;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

use crate::approvals::{approval_events, decide, path_of, python, sign_in, status_of, token_for};
use crate::common::{Opts, TestServer};
use crate::db_test;
use crate::oauth_flow::{PASSWORD, add_user};

/// The Python client, started: it calls `remove_employee {id}` and answers
/// the URL request with `action`.
struct Sdk {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Sdk {
    fn start(srv: &TestServer, token: &str, id: i64, action: &str) -> Self {
        let mut child = tokio::process::Command::new(python())
            .arg(crate::op::interop().join("py_url_approve.py"))
            .arg(&srv.url)
            .arg(id.to_string())
            .arg(action)
            .env("MCP_TOKEN", token)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, lines }
    }

    /// The next JSON line the client prints (within 30 s).
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .expect("the client answers within 30 s")
            .unwrap()
            .expect("the client printed nothing more");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// The URL-mode request the server sent, checked: its URL and id.
    async fn url_request(&mut self, srv: &TestServer) -> (String, String) {
        let seen = self.next().await;
        let e = &seen["elicitation"];
        assert_eq!(e["mode"], "url", "{seen}");
        let url = e["url"].as_str().unwrap().to_owned();
        let prefix = format!("{}/approve/", srv.base);
        assert!(url.starts_with(&prefix), "{url}");
        assert_eq!(e["id"].as_str(), Some(&url[prefix.len()..]), "{seen}");
        let message = e["message"].as_str().unwrap();
        assert!(
            message.contains("Remove employee") && message.contains("approv"),
            "{message}"
        );
        (url, path_of(srv, e["url"].as_str().unwrap()))
    }

    async fn result(mut self) -> Value {
        let out = self.next().await;
        let status = self.child.wait().await.unwrap();
        assert!(status.success(), "py_url_approve.py failed: {out}");
        out
    }
}

/// Engineering's headcount, read from the database (a session-less call
/// is refused in `--sessions` mode).
async fn engineering(srv: &TestServer, _token: &str) -> i64 {
    srv.state.db.employee_count("engineering").await.unwrap()
}

fn url_mode() -> Opts {
    Opts {
        sessions: true,
        ..Opts::oauth()
    }
}

db_test!(
    url_elicitation_opens_the_page_and_runs_once,
    url_mode(),
    |srv| {
        let alice = add_user(&srv, "alice", PASSWORD, "editor").await;
        let (token, _) = token_for(&srv, &alice, "Claude Code").await;
        let mut jar = sign_in(&srv, "alice").await;

        let mut sdk = Sdk::start(&srv, &token, 7, "accept");
        let (url, path) = sdk.url_request(&srv).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(status_of(&srv, &url).await, "pending");
        assert_eq!(engineering(&srv, &token).await, 42, "nothing runs yet");

        let res = decide(&srv, &mut jar, &path, "approve").await;
        assert_eq!(res.status().as_u16(), 303);
        let approved = Instant::now();
        let out = sdk.result().await;
        let took = approved.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "result {took:?} after approval"
        );
        assert_eq!(out["is_error"], false, "{out}");
        assert_eq!(out["structured"]["removed"]["id"], 7, "{out}");
        assert_eq!(out["asked"], 1, "one request to open the page: {out}");
        assert_eq!(engineering(&srv, &token).await, 41, "exactly one row");
        assert_eq!(status_of(&srv, &url).await, "used");

        // The same call again needs a new approval: a new page, declined here.
        let mut again = Sdk::start(&srv, &token, 7, "decline");
        let (second, _) = again.url_request(&srv).await;
        assert_ne!(second, url);
        let out = again.result().await;
        assert_eq!(out["is_error"], true, "{out}");
        assert_eq!(engineering(&srv, &token).await, 41);
        assert_eq!(
            approval_events(&srv).await,
            [
                "approval_requested",
                "approval_approved",
                "approval_used",
                "tool_call:false",
                "approval_requested",
                "tool_call:true",
            ]
        );
    }
);

db_test!(url_elicitation_refusals_change_nothing, url_mode(), |srv| {
    let alice = add_user(&srv, "alice", PASSWORD, "editor").await;
    let (token, _) = token_for(&srv, &alice, "Claude Code").await;
    let mut jar = sign_in(&srv, "alice").await;

    // The user does not want to open the page.
    let mut sdk = Sdk::start(&srv, &token, 8, "decline");
    sdk.url_request(&srv).await;
    let out = sdk.result().await;
    assert_eq!(out["is_error"], true, "{out}");
    assert!(out["text"].as_str().unwrap().contains("did not confirm"));

    // The person opens it and rejects.
    let mut sdk = Sdk::start(&srv, &token, 9, "accept");
    let (url, path) = sdk.url_request(&srv).await;
    let res = decide(&srv, &mut jar, &path, "reject").await;
    assert_eq!(res.status().as_u16(), 303);
    let out = sdk.result().await;
    assert_eq!(out["is_error"], true, "{out}");
    assert!(out["text"].as_str().unwrap().contains("rejected"), "{out}");
    assert_eq!(status_of(&srv, &url).await, "rejected");

    // Another user's browser cannot approve alice's request.
    add_user(&srv, "bob", PASSWORD, "editor").await;
    let mut sdk = Sdk::start(&srv, &token, 10, "accept");
    let (url, path) = sdk.url_request(&srv).await;
    let bob = sign_in(&srv, "bob").await;
    let page = crate::approvals::get(&srv, &bob, &path).await;
    assert_eq!(page.status().as_u16(), 403);
    assert_eq!(status_of(&srv, &url).await, "pending");
    drop(sdk);
    assert_eq!(engineering(&srv, &token).await, 42, "nothing was removed");
});

fn short_requests(c: &mut Config) {
    c.request_timeout = Duration::from_secs(6);
}

db_test!(
    url_elicitation_falls_back_to_the_link,
    Opts {
        tweak: Some(short_requests),
        ..url_mode()
    },
    |srv| {
        let alice = add_user(&srv, "alice", PASSWORD, "editor").await;
        let (token, _) = token_for(&srv, &alice, "Claude Code").await;
        // Nobody decides within the request's time: the answer is the
        // ordinary link to the same request, and nothing ran.
        let mut sdk = Sdk::start(&srv, &token, 11, "accept");
        let (url, _) = sdk.url_request(&srv).await;
        let out = sdk.result().await;
        assert_eq!(out["is_error"], false, "{out}");
        assert_eq!(out["structured"]["approval_url"], url.as_str(), "{out}");
        assert_eq!(status_of(&srv, &url).await, "pending");
        assert_eq!(engineering(&srv, &token).await, 42);
    }
);
