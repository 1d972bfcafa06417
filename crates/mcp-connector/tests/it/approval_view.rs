//! The approval view for MCP Apps hosts (`io.modelcontextprotocol/ui`): linked
//! from a destructive tool for clients that declare the extension, served by
//! `resources/read`, fed by the pending result's `_meta`, rendered in
//! Chromium, and unable to approve anything itself.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use crate::approvals::{engineering, sign_in, status_of, token_for};
use crate::common::{LEGACY, MODERN, Opts, TestServer, read_message};
use crate::db_test;
use crate::oauth_flow::{PASSWORD, add_user};

const URI: &str = "ui://mcp-connector/approval";
const MIME: &str = "text/html;profile=mcp-app";
const META_KEY: &str = "io.github.mcp-connector/approval";

fn apps_host() -> Value {
    json!({"extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": [MIME]}}})
}

/// A 2026-07-28 request as `token`'s holder, declaring `caps`; the reply.
async fn modern(
    srv: &TestServer,
    token: &str,
    method: &str,
    mut params: Value,
    caps: Value,
) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": caps,
        "io.modelcontextprotocol/clientInfo": {"name": "it", "version": "1"},
    });
    let name = params["name"]
        .as_str()
        .or_else(|| params["uri"].as_str())
        .map(str::to_owned);
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": method, "params": params});
    let bearer = format!("Bearer {token}");
    let mut headers = vec![
        ("mcp-protocol-version", MODERN),
        ("mcp-method", method),
        ("authorization", bearer.as_str()),
    ];
    if let Some(n) = name.as_deref() {
        headers.push(("mcp-name", n));
    }
    let res = srv.post_raw(body.to_string(), &headers).await;
    let status = res.status().as_u16();
    let reply = read_message(res).await;
    assert_eq!(status, 200, "{reply}");
    reply
}

fn tool<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {list}"))
}

db_test!(
    the_view_is_linked_for_apps_hosts_only,
    Opts::oauth(),
    |srv| {
        let alice = add_user(&srv, "alice", PASSWORD, "editor").await;
        let (token, client_id) = token_for(&srv, &alice, "Claude").await;

        let list = modern(&srv, &token, "tools/list", json!({}), apps_host()).await;
        assert_eq!(
            tool(&list, "remove_employee")["_meta"]["ui"]["resourceUri"],
            URI
        );
        assert!(
            tool(&list, "get_employee_count")["_meta"]
                .get("ui")
                .is_none(),
            "only tools that wait for an approval: {list}"
        );
        let plain = modern(&srv, &token, "tools/list", json!({}), json!({})).await;
        assert!(
            tool(&plain, "remove_employee")
                .get("_meta")
                .is_none_or(|m| m.get("ui").is_none()),
            "not for a client without the extension: {plain}"
        );
        let other =
            json!({"extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/uri-list"]}}});
        let list = modern(&srv, &token, "tools/list", json!({}), other).await;
        assert!(
            tool(&list, "remove_employee")
                .get("_meta")
                .is_none_or(|m| m.get("ui").is_none())
        );

        // The view itself: the MCP Apps profile, the connector's origin, no domains.
        let read = modern(
            &srv,
            &token,
            "resources/read",
            json!({"uri": URI}),
            apps_host(),
        )
        .await;
        let c = &read["result"]["contents"][0];
        assert_eq!(c["uri"], URI, "{read}");
        assert_eq!(c["mimeType"], MIME);
        assert_eq!(c["_meta"]["ui"]["csp"], json!({}));
        let html = c["text"].as_str().unwrap();
        assert!(
            html.contains(&format!("const ORIGIN = \"{}\";", srv.base)),
            "{html}"
        );

        // The pending answer carries what the view shows; nothing runs.
        let call = json!({"name": "remove_employee", "arguments": {"id": 5}});
        let r = modern(&srv, &token, "tools/call", call.clone(), apps_host()).await;
        let result = &r["result"];
        assert_eq!(result["isError"], false, "{r}");
        let url = result["structuredContent"]["approval_url"]
            .as_str()
            .unwrap();
        let d = &result["_meta"][META_KEY];
        assert_eq!(d["approval_url"], url, "{r}");
        assert_eq!(d["tool"], "remove_employee");
        assert_eq!(d["title"], "Remove employee");
        assert_eq!(d["client_name"], "Claude");
        assert_eq!(d["client_id"], client_id.as_str());
        assert_eq!(d["arguments"], json!({"id": 5}));
        assert_eq!(d["expires_at"], result["structuredContent"]["expires_at"]);
        assert_eq!(engineering(&srv, &token).await, 42);
        // Without the extension the same request (same link) has no view data.
        let r = modern(&srv, &token, "tools/call", call, json!({})).await;
        assert_eq!(r["result"]["structuredContent"]["approval_url"], url);
        assert!(
            r["result"]
                .get("_meta")
                .is_none_or(|m| m.get(META_KEY).is_none()),
            "{r}"
        );

        // A stateless legacy request carries no capabilities: the view is linked
        // (hosts without MCP Apps ignore `_meta.ui`).
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
        let bearer = format!("Bearer {token}");
        let res = srv
            .post_raw(
                body,
                &[("mcp-protocol-version", LEGACY), ("authorization", &bearer)],
            )
            .await;
        let list = read_message(res).await;
        assert_eq!(
            tool(&list, "remove_employee")["_meta"]["ui"]["resourceUri"],
            URI
        );
    }
);

db_test!(the_view_renders_and_cannot_approve, Opts::oauth(), |srv| {
    let alice = add_user(&srv, "alice", PASSWORD, "editor").await;
    let (token, _) = token_for(&srv, &alice, "Claude").await;
    let read = modern(
        &srv,
        &token,
        "resources/read",
        json!({"uri": URI}),
        apps_host(),
    )
    .await;
    let html = read["result"]["contents"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let args = json!({"id": 6});
    let r = modern(
        &srv,
        &token,
        "tools/call",
        json!({"name": "remove_employee", "arguments": {"id": 6}}),
        apps_host(),
    )
    .await;
    let result = r["result"].clone();
    assert_eq!(result["_meta"][META_KEY]["arguments"], args);
    let url = result["structuredContent"]["approval_url"]
        .as_str()
        .unwrap()
        .to_owned();

    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case.json");
    let input = json!({"html": html, "arguments": args, "result": result});
    std::fs::write(&case, input.to_string()).unwrap();
    let shots = crate::op::interop().join("results/approval-view");
    let out = tokio::process::Command::new(crate::op::node())
        .arg(crate::op::interop().join("approval_view_browser.mjs"))
        .arg(&case)
        .arg(&shots)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "the view failed in Chromium: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = seen["view_text"].as_str().unwrap();
    for part in [
        "Remove employee",
        "remove_employee",
        "Claude",
        "Nothing has changed yet",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    assert!(
        text.contains("id\n6") || text.contains("id\t6"),
        "the argument: {text}"
    );
    let requests = seen["requests"].as_array().unwrap();
    let methods: Vec<&str> = requests
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods[0], "ui/initialize", "{methods:?}");
    assert!(methods.contains(&"ui/notifications/initialized"));
    let opened: Vec<&Value> = requests
        .iter()
        .filter(|r| r["method"] == "ui/open-link")
        .collect();
    assert_eq!(opened.len(), 1, "{requests:?}");
    assert_eq!(opened[0]["params"]["url"], url.as_str());
    assert!(
        !methods
            .iter()
            .any(|m| *m == "tools/call" || *m == "resources/read"),
        "the view calls nothing on the server: {methods:?}"
    );
    assert!(
        seen["fetch_blocked"].as_bool().unwrap(),
        "no network from the view"
    );
    assert!(shots.join("view.png").exists());

    // What a view could send: from its opaque origin, refused at the edge;
    // even with the person's cookie and the connector's own origin, without
    // the page's CSRF token, refused. Nothing changes.
    let path = url.strip_prefix(&srv.base).unwrap();
    let jar = sign_in(&srv, "alice").await;
    for (origin, cookie) in [
        ("null", String::new()),
        ("null", jar.header()),
        (srv.base.as_str(), jar.header()),
    ] {
        let res = srv
            .client
            .post(format!("{}{path}", srv.base))
            .header("cookie", cookie)
            .header("origin", origin)
            .form(&[("decision", "approve"), ("csrf", "guessed")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 403, "origin {origin}");
    }
    assert_eq!(status_of(&srv, &url).await, "pending");
    assert_eq!(engineering(&srv, &token).await, 42);
});
