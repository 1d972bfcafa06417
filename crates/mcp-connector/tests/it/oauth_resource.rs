//! `/mcp` as an OAuth protected resource (mode `oauth`): bearer tokens,
//! the 401 challenge, audience binding, revocation within seconds, per-tool
//! scopes (403 `insufficient_scope`) and role ceilings (hidden tools).
//!
//! Tokens are minted with the server's own issuing code (`auth::issue`),
//! not through the authorization endpoint, which has its own tests.

use std::time::{Duration, Instant};

use mcp_connector::audit::store as audit_store;
use mcp_connector::auth::issue;
use mcp_connector::clock::unix_now;
use mcp_connector::store::oauth::{Grant, NewToken, TokenKind};
use serde_json::{Value, json};

use crate::common::{LEGACY, Opts, TestServer, read_message};
use crate::db_test;
use crate::oauth_flow::{add_token_user, mint, test_client, tokens};

/// An access token row written directly, for states `issue` never produces.
async fn raw_token(srv: &TestServer, resource: &str, expires_at: i64) -> String {
    let (client, _) = test_client(srv, false).await;
    let user = add_token_user(srv, "editor").await;
    let grant = Grant {
        id: issue::id(),
        client_id: client.clone(),
        user_id: Some(user.clone()),
        scopes: "employees:read".into(),
        resource: resource.into(),
        now: unix_now(),
    };
    srv.state.db.insert_grant(&grant).await.expect("grant");
    let token = issue::credential(issue::ACCESS_PREFIX);
    srv.state
        .db
        .insert_tokens(&[NewToken {
            token_hash: issue::hash(&token),
            kind: TokenKind::Access,
            grant_id: grant.id,
            client_id: client,
            user_id: Some(user),
            scopes: "employees:read".into(),
            resource: resource.into(),
            now: unix_now() - 7200,
            expires_at,
        }])
        .await
        .expect("token");
    token
}

/// A user of `role` and a token of theirs with `scopes`: (token, user id).
async fn user_token(srv: &TestServer, role: &str, scopes: &str) -> (String, String) {
    let user = add_token_user(srv, role).await;
    let (client, _) = test_client(srv, false).await;
    let (token, _) = mint(srv, &client, Some(&user), scopes).await;
    (token, user)
}

/// POST `body` with `token` as the bearer token.
async fn post_bearer(srv: &TestServer, token: &str, body: &Value) -> reqwest::Response {
    post(srv, Some(&format!("Bearer {token}")), body).await
}

/// POST a legacy-era JSON-RPC request with `authorization` (if any).
pub async fn post(
    srv: &TestServer,
    authorization: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut headers = vec![("mcp-protocol-version", LEGACY)];
    if let Some(a) = authorization {
        headers.push(("authorization", a));
    }
    srv.post_raw(body.to_string(), &headers).await
}

pub fn rpc(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 5, "method": method, "params": params})
}

pub fn count_call() -> Value {
    rpc(
        "tools/call",
        json!({"name": "get_employee_count", "arguments": {"department": "engineering"}}),
    )
}

/// `tools/call` with a bearer token: (status, reply).
pub async fn call(srv: &TestServer, token: &str, tool: &str, args: Value) -> (u16, Value) {
    let res = post_bearer(
        srv,
        token,
        &rpc("tools/call", json!({"name": tool, "arguments": args})),
    )
    .await;
    let status = res.status().as_u16();
    (status, read_message(res).await)
}

pub async fn tool_names(srv: &TestServer, token: &str) -> Vec<String> {
    let res = post_bearer(srv, token, &rpc("tools/list", json!({}))).await;
    assert_eq!(res.status(), 200);
    let reply = read_message(res).await;
    reply["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {reply}"))
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_owned())
        .collect()
}

pub fn www_authenticate(res: &reqwest::Response) -> String {
    res.headers()
        .get("www-authenticate")
        .unwrap_or_else(|| panic!("no WWW-Authenticate on {}", res.status()))
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// A 401 carrying `error="invalid_token"` and no tool data.
pub async fn assert_invalid_token(res: reqwest::Response, srv: &TestServer) {
    assert_eq!(res.status(), 401);
    let challenge = www_authenticate(&res);
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            srv.base
        )),
        "{challenge}"
    );
    let body: Value = res.json().await.expect("JSON body");
    assert_eq!(body["error"], "invalid_token");
    assert!(body.get("result").is_none());
}

async fn valid_count(srv: &TestServer, token: &str) -> u16 {
    post_bearer(srv, token, &count_call())
        .await
        .status()
        .as_u16()
}

/// Revoke `grant` through `srv`; when that happened.
async fn revoke_grant(srv: &TestServer, grant: &str) -> Instant {
    let revoked = Instant::now();
    let done = srv.state.db.revoke_grant(grant, unix_now()).await;
    done.expect("revoke");
    revoked
}

/// Assert that `srv` refuses `token` within five seconds of `since`.
async fn assert_refused_within_five_seconds(srv: &TestServer, token: &str, since: Instant) {
    let took = refused_within(srv, token, since).await;
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// Poll until `token` is refused; how long that took after `since`.
async fn refused_within(srv: &TestServer, token: &str, since: Instant) -> Duration {
    loop {
        let status = valid_count(srv, token).await;
        if status == 401 {
            return since.elapsed();
        }
        assert_eq!(status, 200);
        assert!(since.elapsed() < Duration::from_secs(10), "never refused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

db_test!(no_token_gets_the_challenge, Opts::oauth(), |srv| {
    let res = post(&srv, None, &count_call()).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        www_authenticate(&res),
        format!(
            "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\", scope=\"employees:read\"",
            srv.base
        )
    );
    let body = res.text().await.expect("body");
    assert!(!body.contains("42") && !body.contains("result"), "{body}");
});

db_test!(get_and_delete_need_a_token_too, Opts::oauth(), |srv| {
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let res = srv
            .client
            .request(method.clone(), &srv.url)
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 401, "{method}");
        assert!(www_authenticate(&res).contains("resource_metadata="));
    }
});

db_test!(other_schemes_count_as_no_token, Opts::oauth(), |srv| {
    let res = post(&srv, Some("Basic dXNlcjpwYXNz"), &count_call()).await;
    assert_eq!(res.status(), 401);
    assert!(!www_authenticate(&res).contains("error="));
});

db_test!(garbage_token_is_invalid, Opts::oauth(), |srv| {
    let res = post(&srv, Some("Bearer mcpat_not-a-real-token"), &count_call()).await;
    assert_invalid_token(res, &srv).await;
});

db_test!(token_without_our_prefix_is_invalid, Opts::oauth(), |srv| {
    let res = post(&srv, Some("Bearer abc.def.ghi"), &count_call()).await;
    assert_invalid_token(res, &srv).await;
});

db_test!(malformed_bearer_header_is_invalid, Opts::oauth(), |srv| {
    let res = post(&srv, Some("Bearer two words"), &count_call()).await;
    assert_invalid_token(res, &srv).await;
});

db_test!(expired_token_is_invalid, Opts::oauth(), |srv| {
    let auth = srv.state.auth.clone().expect("auth");
    let token = raw_token(&srv, &auth.resource, unix_now() - 1).await;
    let res = post_bearer(&srv, &token, &count_call()).await;
    assert_invalid_token(res, &srv).await;
});

db_test!(
    token_for_another_resource_is_invalid,
    Opts::oauth(),
    |srv| {
        let token = raw_token(&srv, "https://other.example/mcp", unix_now() + 3600).await;
        let res = post_bearer(&srv, &token, &count_call()).await;
        assert_invalid_token(res, &srv).await;
    }
);

db_test!(token_in_query_string_is_ignored, Opts::oauth(), |srv| {
    let (token, _) = user_token(&srv, "viewer", "employees:read").await;
    let res = srv
        .client
        .post(format!("{}?access_token={token}", srv.url))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", LEGACY)
        .body(count_call().to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 401);
    assert!(!www_authenticate(&res).contains("error="));
});

db_test!(valid_token_calls_tools, Opts::oauth(), |srv| {
    let (token, _) = user_token(&srv, "viewer", "employees:read").await;
    let (status, reply) = call(
        &srv,
        &token,
        "get_employee_count",
        json!({"department": "engineering"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(reply["result"]["structuredContent"]["count"], 42, "{reply}");
    // The scheme is case-insensitive.
    let res = post(&srv, Some(&format!("bearer {token}")), &count_call()).await;
    assert_eq!(res.status(), 200);
});

db_test!(
    revoked_token_is_refused_within_five_seconds,
    Opts::oauth(),
    |srv| {
        let user = add_token_user(&srv, "viewer").await;
        let (client, _) = test_client(&srv, false).await;
        let (token, grant) = mint(&srv, &client, Some(&user), "employees:read").await;
        // Cached as valid now.
        assert_eq!(valid_count(&srv, &token).await, 200);
        let revoked = revoke_grant(&srv, &grant).await;
        assert_refused_within_five_seconds(&srv, &token, revoked).await;
    }
);

db_test!(revocation_reaches_other_replicas, Opts::oauth(), |srv| {
    let replica = srv.replica(Opts::oauth()).await;
    // The replica has its own public URL, hence its own resource: mint
    // there, and use it on the replica, revoke through the first server.
    let user = add_token_user(&srv, "viewer").await;
    let (client, _) = test_client(&srv, false).await;
    let (token, grant) = mint(&replica, &client, Some(&user), "employees:read").await;
    assert_eq!(valid_count(&replica, &token).await, 200);
    let revoked = revoke_grant(&srv, &grant).await;
    assert_refused_within_five_seconds(&replica, &token, revoked).await;
    replica.stop().await;
});

/// A fixed public URL, so that a second server on the same database is the
/// same resource (a restart or another replica behind one name).
fn fixed_origin() -> Opts {
    Opts {
        public_url: Some("http://127.0.0.1:1"),
        ..Opts::oauth()
    }
}

db_test!(tokens_survive_a_restart, fixed_origin(), |srv| {
    let user = add_token_user(&srv, "viewer").await;
    let (client, _) = test_client(&srv, false).await;
    let tokens = tokens(&srv, &client, Some(&user), "employees:read", true).await;
    // The first server goes away; a new one starts on the same database.
    srv.shutdown.cancel();
    let restarted = srv.replica(fixed_origin()).await;
    assert_eq!(valid_count(&restarted, &tokens.access_token).await, 200);
    let refresh = tokens.refresh_token.expect("refresh token");
    let res = crate::oauth_token::refresh(&restarted, &client, &refresh).await;
    assert_eq!(res.status(), 200);
    let renewed: Value = res.json().await.expect("json");
    let access = renewed["access_token"].as_str().expect("access token");
    assert_eq!(valid_count(&restarted, access).await, 200);
    restarted.stop().await;
});

db_test!(
    disabled_user_is_refused_within_five_seconds,
    Opts::oauth(),
    |srv| {
        let (token, user) = user_token(&srv, "viewer", "employees:read").await;
        assert_eq!(valid_count(&srv, &token).await, 200);
        let db = &srv.state.db;
        let name = db.user(&user).await.expect("db").expect("user").username;
        let disabled = Instant::now();
        assert!(
            db.set_user_disabled(&name, true, unix_now())
                .await
                .expect("disable")
        );
        assert_refused_within_five_seconds(&srv, &token, disabled).await;
    }
);

db_test!(viewer_cannot_see_write_tools, Opts::oauth(), |srv| {
    let (token, _) = user_token(&srv, "viewer", "employees:read").await;
    let names = tool_names(&srv, &token).await;
    assert!(
        names.contains(&"get_employee_count".to_owned()),
        "{names:?}"
    );
    assert!(!names.contains(&"add_employee".to_owned()), "{names:?}");
    assert!(!names.contains(&"remove_employee".to_owned()), "{names:?}");
});

db_test!(
    viewer_calling_a_write_tool_gets_unknown_tool,
    Opts::oauth(),
    |srv| {
        // Even a token that names the write scope cannot exceed the role.
        let (token, _) = user_token(&srv, "viewer", "employees:read employees:write").await;
        let (status, reply) = call(
            &srv,
            &token,
            "add_employee",
            json!({"name": "Mallory", "department": "engineering", "title": "x"}),
        )
        .await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["error"]["code"], -32602, "{reply}");
        assert!(
            reply["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Unknown tool")),
            "{reply}"
        );
    }
);

db_test!(editor_sees_write_tools, Opts::oauth(), |srv| {
    let (token, _) = user_token(&srv, "editor", "employees:read").await;
    let names = tool_names(&srv, &token).await;
    assert!(names.contains(&"add_employee".to_owned()), "{names:?}");
    assert!(names.contains(&"remove_employee".to_owned()), "{names:?}");
});

db_test!(
    editor_token_without_write_scope_gets_403,
    Opts::oauth(),
    |srv| {
        let (token, _) = user_token(&srv, "editor", "employees:read").await;
        let res = post_bearer(&srv, &token, &rpc(
            "tools/call",
            json!({"name": "add_employee", "arguments": {"name": "Mallory", "department": "engineering", "title": "x"}}),
        ),
    )
    .await;
        assert_eq!(res.status(), 403);
        let challenge = www_authenticate(&res);
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
        assert!(
            challenge.contains("scope=\"employees:write\""),
            "{challenge}"
        );
        assert!(
            challenge.contains(&format!(
                "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
                srv.base
            )),
            "{challenge}"
        );
        let reply: Value = res.json().await.expect("JSON");
        assert_eq!(reply["id"], 5);
        assert!(reply["error"]["code"].is_i64(), "{reply}");
    }
);

db_test!(editor_token_with_write_scope_writes, Opts::oauth(), |srv| {
    let (token, _) = user_token(&srv, "editor", "employees:read employees:write").await;
    let (status, reply) = call(
        &srv,
        &token,
        "add_employee",
        json!({"name": "Grace", "department": "engineering", "title": "Engineer"}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply.get("result").is_some(), "{reply}");
});

db_test!(resources_need_the_read_scope, Opts::oauth(), |srv| {
    let (token, _) = user_token(&srv, "editor", "employees:write").await;
    let res = post_bearer(&srv, &token, &rpc("resources/list", json!({}))).await;
    assert_eq!(res.status(), 403);
    assert!(www_authenticate(&res).contains("scope=\"employees:read\""));
});

db_test!(
    read_tool_without_read_scope_gets_403,
    Opts::oauth(),
    |srv| {
        let (token, _) = user_token(&srv, "editor", "employees:write").await;
        let res = post_bearer(&srv, &token, &count_call()).await;
        assert_eq!(res.status(), 403);
        assert!(www_authenticate(&res).contains("scope=\"employees:read\""));
    }
);

db_test!(service_client_token_works, Opts::oauth(), |srv| {
    let (client, _) = test_client(&srv, false).await;
    let (token, _) = mint(&srv, &client, None, "employees:read").await;
    assert_eq!(valid_count(&srv, &token).await, 200);
    // Its ceiling is its own scopes: write tools are hidden.
    let names = tool_names(&srv, &token).await;
    assert!(!names.contains(&"add_employee".to_owned()), "{names:?}");
});

db_test!(audit_record_names_the_subject, Opts::oauth(), |srv| {
    let (token, user) = user_token(&srv, "viewer", "employees:read").await;
    assert_eq!(valid_count(&srv, &token).await, 200);
    let records = audit_store::since(&srv.state.db, 0, 100)
        .await
        .expect("audit");
    let last = records.last().expect("a record");
    assert_eq!(last.tool.as_deref(), Some("get_employee_count"));
    assert_eq!(
        last.subject.as_deref(),
        Some(format!("user:{user}").as_str())
    );
    assert!(last.client.is_some());
});

db_test!(modern_requests_need_tokens_too, Opts::oauth(), |srv| {
    let (status, _) = srv.modern("tools/list", json!({}), None).await;
    assert_eq!(status, 401);
});

fn two_requests_per_minute(config: &mut mcp_connector::config::Config) {
    config.limits.requests = Some(mcp_connector::config::Rate {
        limit: 2,
        period: Duration::from_secs(60),
        burst: 2,
    });
}

db_test!(
    rate_limit_follows_the_user_not_the_address,
    Opts {
        tweak: Some(two_requests_per_minute),
        ..Opts::oauth()
    },
    |srv| {
        let (ann, _) = user_token(&srv, "viewer", "employees:read").await;
        let (bob, _) = user_token(&srv, "viewer", "employees:read").await;
        assert_eq!(valid_count(&srv, &ann).await, 200);
        assert_eq!(valid_count(&srv, &ann).await, 200);
        assert_eq!(valid_count(&srv, &ann).await, 429);
        // Same address, another user: a budget of its own.
        assert_eq!(valid_count(&srv, &bob).await, 200);
    }
);

fn few_auth_failures(c: &mut mcp_connector::config::Config) {
    c.limits.auth_failures_per_minute = 20;
}

db_test!(
    made_up_tokens_are_refused_early_after_a_budget_of_failures,
    Opts {
        tweak: Some(few_auth_failures),
        ..Opts::oauth()
    },
    |srv| {
        // Well-formed but unknown tokens: each would be a database lookup.
        let mut statuses = Vec::new();
        for _ in 0..40 {
            let fake = issue::credential(issue::ACCESS_PREFIX);
            statuses.push(
                post_bearer(&srv, &fake, &count_call())
                    .await
                    .status()
                    .as_u16(),
            );
        }
        assert!(statuses[..20].iter().all(|s| *s == 401), "{statuses:?}");
        assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
        // Refused before the token is read: a valid token from this address
        // waits too, with Retry-After.
        let (token, _) = user_token(&srv, "viewer", "employees:read").await;
        let res = post_bearer(&srv, &token, &count_call()).await;
        assert_eq!(res.status(), 429);
        assert!(res.headers().contains_key("retry-after"));
    }
);
