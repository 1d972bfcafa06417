//! Out-of-band approval of destructive calls (`unconfirmed = "approve"`,
//! the default under OAuth): the link, the approval page, exactly-once
//! execution, the waiting variant, and every way it must refuse.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use mcp_connector::config::Config;
use serde_json::{Value, json};

use crate::common::{LEGACY, Opts, TestServer, first_text, read_message};
use crate::db_test;
use crate::idp::Jar;
use crate::oauth_flow::{PASSWORD, READ, WRITE, add_client, add_user, field, mint};

/// A user's token for a new client named `client`: (token, client id).
pub(crate) async fn token_for(srv: &TestServer, user_id: &str, client: &str) -> (String, String) {
    let (client_id, _) = add_client(srv, client, &[crate::oauth_flow::REDIRECT], false).await;
    let (token, _) = mint(srv, &client_id, Some(user_id), &format!("{READ} {WRITE}")).await;
    (token, client_id)
}

/// `tools/call` with a bearer token; the `result`.
async fn call(srv: &TestServer, token: &str, tool: &str, args: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}});
    let bearer = format!("Bearer {token}");
    let res = srv
        .post_raw(
            body.to_string(),
            &[("mcp-protocol-version", LEGACY), ("authorization", &bearer)],
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let reply = read_message(res).await;
    reply
        .get("result")
        .cloned()
        .unwrap_or_else(|| panic!("no result: {reply}"))
}

pub(crate) async fn remove(srv: &TestServer, token: &str, id: i64) -> Value {
    call(srv, token, "remove_employee", json!({"id": id})).await
}

pub(crate) async fn engineering(srv: &TestServer, token: &str) -> i64 {
    let r = call(
        srv,
        token,
        "get_employee_count",
        json!({"department": "engineering"}),
    )
    .await;
    r["structuredContent"]["count"].as_i64().unwrap()
}

/// The approval link of a pending answer (and checks its shape).
pub(crate) fn link(srv: &TestServer, r: &Value) -> String {
    assert_eq!(r["isError"], false, "an ordinary result: {r}");
    let url = r["structuredContent"]["approval_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no approval_url: {r}"))
        .to_owned();
    let prefix = format!("{}/approve/", srv.base);
    assert!(url.starts_with(&prefix), "{url}");
    let id = &url[prefix.len()..];
    assert_eq!(id.len(), 22, "128 random bits, base64url: {id}");
    let expires = r["structuredContent"]["expires_at"].as_str().unwrap();
    assert!(expires.ends_with('Z') && expires.len() == 20, "{expires}");
    assert!(first_text(r).contains(&url), "the text shows the link: {r}");
    url
}

pub(crate) fn path_of(srv: &TestServer, url: &str) -> String {
    url.strip_prefix(&srv.base).unwrap().to_owned()
}

/// Sign `username` in at `/signin`; the browser's cookies.
pub(crate) async fn sign_in(srv: &TestServer, username: &str) -> Jar {
    let mut jar = Jar::default();
    let page = get(srv, &jar, "/signin?return_to=%2F").await;
    jar.take(&page);
    let csrf = field(&page.text().await.unwrap(), "csrf").unwrap();
    let res = post(
        srv,
        &jar,
        "/signin",
        &[
            ("step", "login"),
            ("return_to", "/"),
            ("csrf", &csrf),
            ("username", username),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
    jar.take(&res);
    assert!(jar.get("mcpc_session").is_some());
    jar
}

pub(crate) async fn get(srv: &TestServer, jar: &Jar, path: &str) -> reqwest::Response {
    srv.client
        .get(format!("{}{path}", srv.base))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap()
}

async fn post(srv: &TestServer, jar: &Jar, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    srv.client
        .post(format!("{}{path}", srv.base))
        .header("cookie", jar.header())
        .header("origin", &srv.base)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Open the page and post `decision` with its CSRF token; the response.
pub(crate) async fn decide(
    srv: &TestServer,
    jar: &mut Jar,
    path: &str,
    decision: &str,
) -> reqwest::Response {
    let page = get(srv, jar, path).await;
    assert_eq!(page.status().as_u16(), 200);
    jar.take(&page);
    let html = page.text().await.unwrap();
    let csrf = field(&html, "csrf").unwrap_or_else(|| panic!("no form: {html}"));
    post(srv, jar, path, &[("csrf", &csrf), ("decision", decision)]).await
}

pub(crate) async fn status_of(srv: &TestServer, url: &str) -> String {
    let id = url.rsplit('/').next().unwrap();
    let a = srv.state.db.approval(id).await.unwrap().unwrap();
    a.status.as_str().to_owned()
}

pub(crate) async fn approval_events(srv: &TestServer) -> Vec<String> {
    let rows = mcp_connector::audit::store::since(&srv.state.db, 0, 10_000)
        .await
        .unwrap();
    rows.iter()
        .filter(|r| r.tool.as_deref() == Some("remove_employee"))
        .map(|r| match r.kind.as_str() {
            "approval" => {
                let a: Value = serde_json::from_str(r.arguments.as_deref().unwrap()).unwrap();
                a["event"].as_str().unwrap().to_owned()
            }
            other => format!("{other}:{}", r.is_error),
        })
        .collect()
}

db_test!(approval_link_then_one_run, Opts::oauth(), |srv| {
    let alice = add_user(&srv, "alice", PASSWORD, "editor").await;
    let (token, client_id) = token_for(&srv, &alice, "Claude").await;
    let first = remove(&srv, &token, 1).await;
    let url = link(&srv, &first);
    assert_eq!(engineering(&srv, &token).await, 42, "nothing changed yet");
    // Repeating while pending gives the same link.
    assert_eq!(link(&srv, &remove(&srv, &token, 1).await), url);
    assert_eq!(engineering(&srv, &token).await, 42);

    let mut jar = sign_in(&srv, "alice").await;
    let path = path_of(&srv, &url);
    let page = get(&srv, &jar, &path).await;
    assert_eq!(page.status().as_u16(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    for part in [
        "Remove employee",
        "Permanently remove an employee record by id.",
        "<strong id=\"client\">Claude</strong>",
        &client_id,
        "<code>id</code></dt><dd><pre class=\"arg\">1</pre>",
        "id=\"approve\"",
        "id=\"reject\"",
        "<strong id=\"signed-in\">alice</strong>",
    ] {
        assert!(html.contains(part), "{part} in {html}");
    }
    assert!(!html.contains("<script"), "works without JavaScript");

    let res = decide(&srv, &mut jar, &path, "approve").await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], path.as_str());
    let after = get(&srv, &jar, &path).await.text().await.unwrap();
    assert!(
        after.contains("Approved.") && !after.contains("id=\"approve\""),
        "{after}"
    );
    assert_eq!(status_of(&srv, &url).await, "approved");

    let run = remove(&srv, &token, 1).await;
    assert_eq!(run["isError"], false, "{run}");
    assert_eq!(run["structuredContent"]["removed"]["id"], 1, "{run}");
    assert_eq!(engineering(&srv, &token).await, 41, "exactly one row");
    assert_eq!(status_of(&srv, &url).await, "used");
    // A third call needs a new approval.
    let third = remove(&srv, &token, 1).await;
    let again = link(&srv, &third);
    assert_ne!(again, url);
    assert_eq!(engineering(&srv, &token).await, 41);
    let used = get(&srv, &jar, &path).await.text().await.unwrap();
    assert!(
        used.contains("action has run")
            && !used.contains("<form method=\"post\" action=\"/approve"),
        "{used}"
    );

    // The audit trail: request → approval → use → call, then a new request.
    assert_eq!(
        approval_events(&srv).await,
        [
            "approval_requested",
            "tool_call:false",
            "tool_call:false",
            "approval_approved",
            "approval_used",
            "tool_call:false",
            "approval_requested",
            "tool_call:false",
        ]
    );
    let report = mcp_connector::audit::store::verify(&srv.state.db)
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
    // `audit list --tool remove_employee` shows the same chain.
    let out = crate::common::binary()
        .args([
            "audit",
            "list",
            "--tool",
            "remove_employee",
            "--database-url",
            &srv.database_url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kinds: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).unwrap();
            let args: Value = r["arguments"]
                .as_str()
                .and_then(|a| serde_json::from_str(a).ok())
                .unwrap_or(Value::Null);
            args["event"]
                .as_str()
                .map_or_else(|| r["kind"].as_str().unwrap().to_owned(), str::to_owned)
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "approval_requested",
            "tool_call",
            "tool_call",
            "approval_approved",
            "approval_used",
            "tool_call",
            "approval_requested",
            "tool_call",
        ]
    );
});

db_test!(approval_page_refuses_what_it_must, Opts::oauth(), |srv| {
    let alice = add_user(&srv, "alice", PASSWORD, "editor").await;
    add_user(&srv, "bob", PASSWORD, "editor").await;
    let (token, _) = token_for(&srv, &alice, "Claude").await;
    let url = link(&srv, &remove(&srv, &token, 1).await);
    let path = path_of(&srv, &url);

    // No session: sign in first, then back here.
    let res = get(&srv, &Jar::default(), &path).await;
    assert_eq!(res.status().as_u16(), 303);
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        to,
        format!("/signin?return_to={}", path.replace('/', "%2F"))
    );

    // Another user: 403 on the page and on a well-formed post.
    let bob = sign_in(&srv, "bob").await;
    let res = get(&srv, &bob, &path).await;
    assert_eq!(res.status().as_u16(), 403);
    let html = res.text().await.unwrap();
    assert!(!html.contains("id=\"approve\""), "{html}");
    let csrf = bob.get("mcpc_csrf").unwrap().to_owned();
    let res = post(
        &srv,
        &bob,
        &path,
        &[("csrf", &csrf), ("decision", "approve")],
    )
    .await;
    assert_eq!(res.status().as_u16(), 403);
    assert_eq!(status_of(&srv, &url).await, "pending");

    // A guessed id: nothing there.
    let mut jar = sign_in(&srv, "alice").await;
    let guessed = get(&srv, &jar, "/approve/AAAAAAAAAAAAAAAAAAAAAA").await;
    assert_eq!(guessed.status().as_u16(), 404);

    // Missing or wrong CSRF token: 403, nothing changes.
    let page = get(&srv, &jar, &path).await;
    jar.take(&page);
    assert_eq!(page.status().as_u16(), 200);
    for form in [
        vec![("decision", "approve")],
        vec![
            ("csrf", "wrong-token-wrong-token-wrong-token-wrong12"),
            ("decision", "approve"),
        ],
    ] {
        let res = post(&srv, &jar, &path, &form).await;
        assert_eq!(res.status().as_u16(), 403, "{form:?}");
    }
    assert_eq!(status_of(&srv, &url).await, "pending");
    assert_eq!(engineering(&srv, &token).await, 42);

    // Approving twice: the second post changes nothing and says so.
    let res = decide(&srv, &mut jar, &path, "approve").await;
    assert_eq!(res.status().as_u16(), 303);
    let page_html = get(&srv, &jar, &path).await.text().await.unwrap();
    assert!(!page_html.contains("id=\"approve\""), "no button any more");
    let csrf = jar.get("mcpc_csrf").unwrap().to_owned();
    let res = post(
        &srv,
        &jar,
        &path,
        &[("csrf", &csrf), ("decision", "reject")],
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(
        status_of(&srv, &url).await,
        "approved",
        "a decision is final"
    );
    let approvals = approval_events(&srv)
        .await
        .into_iter()
        .filter(|e| e == "approval_approved")
        .count();
    assert_eq!(approvals, 1);

    // Changed arguments need their own approval.
    let other = remove(&srv, &token, 2).await;
    assert_ne!(link(&srv, &other), url);
    assert_eq!(engineering(&srv, &token).await, 42);

    // Another OAuth client of the same user does not match.
    let (other_client, _) = token_for(&srv, &alice, "Other app").await;
    let from_other = remove(&srv, &other_client, 1).await;
    assert_ne!(link(&srv, &from_other), url);
    assert_eq!(engineering(&srv, &token).await, 42);
    // The approved call itself still runs, once.
    let run = remove(&srv, &token, 1).await;
    assert_eq!(run["structuredContent"]["removed"]["id"], 1, "{run}");
    assert_eq!(engineering(&srv, &token).await, 41);
});

db_test!(
    rejected_and_expired_requests_run_nothing,
    Opts::oauth(),
    |srv| {
        let alice = add_user(&srv, "alice", PASSWORD, "editor").await;
        let (token, _) = token_for(&srv, &alice, "Claude").await;
        let mut jar = sign_in(&srv, "alice").await;

        // Rejected: the repeat gets a new link; the page says so, no button.
        let url = link(&srv, &remove(&srv, &token, 1).await);
        let path = path_of(&srv, &url);
        assert_eq!(
            decide(&srv, &mut jar, &path, "reject")
                .await
                .status()
                .as_u16(),
            303
        );
        assert_eq!(status_of(&srv, &url).await, "rejected");
        let html = get(&srv, &jar, &path).await.text().await.unwrap();
        assert!(
            html.contains("Rejected") && !html.contains("id=\"approve\""),
            "{html}"
        );
        let again = link(&srv, &remove(&srv, &token, 1).await);
        assert_ne!(again, url);
        assert_eq!(engineering(&srv, &token).await, 42);

        // Expired (time moved past the request's expiry): no button, a post
        // changes nothing, the repeat gets a new link.
        let id = again.rsplit('/').next().unwrap().to_owned();
        let past = mcp_connector::clock::unix_now() - 1;
        crate::audit::raw_sql(
            &srv,
            &format!("UPDATE tool_approvals SET expires_at = {past} WHERE id = '{id}'"),
            &format!("UPDATE tool_approvals SET expires_at = {past} WHERE id = '{id}'"),
        )
        .await
        .unwrap();
        let path = path_of(&srv, &again);
        let page = get(&srv, &jar, &path).await;
        jar.take(&page);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("Expired") && !html.contains("id=\"approve\""),
            "{html}"
        );
        let csrf = jar.get("mcpc_csrf").unwrap().to_owned();
        post(
            &srv,
            &jar,
            &path,
            &[("csrf", &csrf), ("decision", "approve")],
        )
        .await;
        assert_eq!(status_of(&srv, &again).await, "pending", "not decided");
        let third = link(&srv, &remove(&srv, &token, 1).await);
        assert_ne!(third, again);
        assert_eq!(engineering(&srv, &token).await, 42);
        // The clean-up marks it expired, with its audit record.
        let auth = srv.state.auth.as_ref().unwrap();
        let n =
            mcp_connector::auth::cleanup::expire_approvals(auth, mcp_connector::clock::unix_now())
                .await
                .unwrap();
        assert_eq!(n, 1);
        assert_eq!(status_of(&srv, &again).await, "expired");
        assert!(
            approval_events(&srv)
                .await
                .contains(&"approval_expired".to_owned())
        );
    }
);

fn wait_for_approval(c: &mut Config) {
    c.safety.approval_wait_secs = 20;
}

db_test!(
    waiting_call_returns_the_result_after_approval,
    Opts {
        tweak: Some(wait_for_approval),
        ..Opts::oauth()
    },
    |srv| {
        let alice = add_user(&srv, "alice", PASSWORD, "editor").await;
        let (token, _) = token_for(&srv, &alice, "Claude").await;
        let mut jar = sign_in(&srv, "alice").await;
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "remove_employee", "arguments": {"id": 1}, "_meta": {"progressToken": "p1"}}});
        let bearer = format!("Bearer {token}");
        let client = srv.client.clone();
        let url = srv.url.clone();
        let waiting = tokio::spawn(async move {
            let res = client
                .post(url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", LEGACY)
                .header("authorization", bearer)
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let text = res.text().await.unwrap();
            (Instant::now(), text)
        });
        // The request appears in the database; approve it in the browser.
        let deadline = Instant::now() + Duration::from_secs(10);
        let id = loop {
            let row: Option<String> = match &srv.state.db {
                mcp_connector::store::Db::Sqlite { write, .. } => {
                    sqlx::query_scalar("SELECT id FROM tool_approvals")
                        .fetch_optional(write)
                        .await
                        .unwrap()
                }
                mcp_connector::store::Db::Postgres { write, .. } => {
                    sqlx::query_scalar("SELECT id FROM tool_approvals")
                        .fetch_optional(write)
                        .await
                        .unwrap()
                }
            };
            if let Some(id) = row {
                break id;
            }
            assert!(Instant::now() < deadline, "no approval request");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!waiting.is_finished(), "the call waits");
        let res = decide(&srv, &mut jar, &format!("/approve/{id}"), "approve").await;
        assert_eq!(res.status().as_u16(), 303);
        let approved = Instant::now();
        let (done, text) = waiting.await.unwrap();
        let took = done.duration_since(approved);
        assert!(
            took < Duration::from_secs(1),
            "result {took:?} after the approval"
        );
        let msgs = crate::common::sse_messages(&text);
        assert!(
            msgs.iter().any(|m| m["method"] == "notifications/progress"),
            "progress while waiting: {text}"
        );
        let reply = msgs.iter().find(|m| m["id"] == 1).unwrap();
        assert_eq!(
            reply["result"]["structuredContent"]["removed"]["id"], 1,
            "{reply}"
        );
        assert_eq!(engineering(&srv, &token).await, 41);
    }
);

/// The interop venv's Python (`interop/setup.sh` makes it; `INTEROP_VENV` moves it).
pub(crate) fn python() -> std::path::PathBuf {
    let venv = std::env::var("INTEROP_VENV").map_or_else(
        |_| {
            std::path::PathBuf::from(std::env::var("HOME").unwrap())
                .join(".cache/mcp-connector/venv")
        },
        std::path::PathBuf::from,
    );
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash interop/setup.sh` before cargo test",
        python.display()
    );
    python
}

/// `remove_employee {id}` through the official Python SDK client (no
/// elicitation handler, like claude.ai).
async fn sdk_remove(srv: &TestServer, token: &str, id: i64) -> Value {
    let out = tokio::process::Command::new(python())
        .arg(crate::op::interop().join("py_approve.py"))
        .arg(&srv.url)
        .arg(id.to_string())
        .env("MCP_TOKEN", token)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "py_approve.py failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The SDK client gets the link, Chromium (JavaScript off) signs in and
/// approves, the repeat deletes exactly one row, a third call needs a new
/// approval. Screenshots stay in interop/results/approve/.
async fn sdk_and_browser(backend: crate::common::Backend) {
    let Some(srv) = TestServer::try_spawn(backend, Opts::oauth()).await else {
        eprintln!("TEST_DATABASE_URL is not set: PostgreSQL variant not run");
        return;
    };
    let alice = add_user(&srv, "alice", PASSWORD, "editor").await;
    let (token, _) = token_for(&srv, &alice, "Claude").await;
    let first = sdk_remove(&srv, &token, 7).await;
    assert_eq!(first["is_error"], false, "{first}");
    let url = first["structured"]["approval_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        url.starts_with(&format!("{}/approve/", srv.base)),
        "{first}"
    );
    assert!(first["text"].as_str().unwrap().contains(&url));
    assert_eq!(engineering(&srv, &token).await, 42, "nothing deleted");

    let shots = crate::op::interop()
        .join("results/approve")
        .join(format!("{backend:?}").to_lowercase());
    let out = tokio::process::Command::new(crate::op::node())
        .arg(crate::op::interop().join("approve_browser.mjs"))
        .arg(&url)
        .arg("alice")
        .arg(&shots)
        .env("APPROVE_PASSWORD", PASSWORD)
        .env("EXPECT", "Remove employee")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "the browser flow failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = seen["page_text"].as_str().unwrap();
    assert!(text.contains("Claude") && text.contains("alice"), "{text}");
    assert!(
        seen["after_text"].as_str().unwrap().contains("Approved"),
        "{seen}"
    );
    assert!(shots.join("approval.png").exists());

    let run = sdk_remove(&srv, &token, 7).await;
    assert_eq!(run["is_error"], false, "{run}");
    assert_eq!(run["structured"]["removed"]["id"], 7, "{run}");
    assert_eq!(engineering(&srv, &token).await, 41, "exactly one row");
    let third = sdk_remove(&srv, &token, 7).await;
    let again = third["structured"]["approval_url"].as_str().unwrap();
    assert_ne!(again, url, "a new approval: {third}");
    assert_eq!(engineering(&srv, &token).await, 41);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_client_and_browser_approval_sqlite() {
    sdk_and_browser(crate::common::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_client_and_browser_approval_postgres() {
    sdk_and_browser(crate::common::Backend::Postgres).await;
}

fn approver_role(c: &mut Config) {
    c.auth.roles = [
        ("editor", vec![READ, WRITE]),
        ("approver", vec![READ, WRITE, "approve"]),
    ]
    .into_iter()
    .map(|(r, s)| (r.to_owned(), s.into_iter().map(str::to_owned).collect()))
    .collect();
}

db_test!(
    service_client_calls_are_approved_by_an_approver,
    Opts {
        tweak: Some(approver_role),
        ..Opts::oauth()
    },
    |srv| {
        add_user(&srv, "alice", PASSWORD, "editor").await;
        add_user(&srv, "carol", PASSWORD, "approver").await;
        let (client_id, _) = crate::oauth_flow::insert_client(
            &srv,
            &crate::oauth_flow::ClientSpec {
                name: "Nightly job",
                secret: true,
                grants: &["client_credentials"],
                scopes: "employees:read employees:write",
                ..crate::oauth_flow::ClientSpec::default()
            },
        )
        .await;
        let (token, _) = mint(&srv, &client_id, None, &format!("{READ} {WRITE}")).await;
        let url = link(&srv, &remove(&srv, &token, 1).await);
        let path = path_of(&srv, &url);
        // A user without the `approve` permission may not decide it.
        let alice = sign_in(&srv, "alice").await;
        assert_eq!(get(&srv, &alice, &path).await.status().as_u16(), 403);
        let mut carol = sign_in(&srv, "carol").await;
        let page = get(&srv, &carol, &path).await;
        assert_eq!(page.status().as_u16(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("Nightly job") && html.contains(&format!("client:{client_id}")),
            "{html}"
        );
        assert_eq!(
            decide(&srv, &mut carol, &path, "approve")
                .await
                .status()
                .as_u16(),
            303
        );
        let run = remove(&srv, &token, 1).await;
        assert_eq!(run["structuredContent"]["removed"]["id"], 1, "{run}");
        assert_eq!(engineering(&srv, &token).await, 41);
    }
);
