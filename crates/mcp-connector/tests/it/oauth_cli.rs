//! The operator verbs `client`, `user` and `token`, driven through the real
//! binary against the database of a running OAuth server (so every check
//! also runs on PostgreSQL when `TEST_DATABASE_URL` is set).

#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::process::{Output, Stdio};

use mcp_connector::auth::ScopeSet;
use mcp_connector::auth::issue;
use mcp_connector::clock::unix_now;
use mcp_connector_security::SecretString;
use mcp_connector_security::password::verify_password;
use serde_json::Value;

use crate::common::{Opts, TestServer, binary};
use crate::db_test;

const PASSWORD: &str = "correct horse battery";

/// Run `mcp-connector <args> --database-url <the server's>`, with `stdin`.
fn run(srv: &TestServer, args: &[&str], stdin: Option<&str>) -> Output {
    tokio::task::block_in_place(|| {
        let mut child = binary()
            .args(args)
            .args(["--database-url", &srv.database_url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(input);
        child.wait_with_output().expect("binary runs")
    })
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}{}", stdout(o), stderr(o));
    stdout(o)
}

#[track_caller]
fn refused(o: &Output, reason: &str) {
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(o), stderr(o));
    assert!(
        stderr(o).contains(reason),
        "want `{reason}` in: {}",
        stderr(o)
    );
}

/// `client add --format json` → (id, secret).
fn add_client(srv: &TestServer, extra: &[&str]) -> (String, Option<String>) {
    let mut args = vec!["client", "add", "--name", "Test", "--format", "json"];
    args.extend_from_slice(extra);
    let out: Value = serde_json::from_str(&ok(&run(srv, &args, None))).expect("json");
    (
        out["client_id"].as_str().expect("id").to_owned(),
        out["client_secret"].as_str().map(str::to_owned),
    )
}

fn add_user(srv: &TestServer, name: &str, role: &str) {
    ok(&run(
        srv,
        &["user", "add", name, "--role", role, "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    ));
}

db_test!(client_add_shows_the_secret_once, Opts::oauth(), |srv| {
    let text = ok(&run(&srv, &["client", "add", "--name", "Claude"], None));
    let id = text
        .split_whitespace()
        .find(|w| w.starts_with("mcpc_"))
        .expect("id printed")
        .to_owned();
    let secret = text
        .split_whitespace()
        .find(|w| w.starts_with("mcpcs_"))
        .expect("secret printed")
        .to_owned();
    assert!(text.contains("Advanced settings"), "{text}");

    let stored = srv.state.db.client(&id).await.expect("db").expect("stored");
    assert_eq!(
        stored.secret_hash.as_deref(),
        Some(issue::hash(&secret).as_str())
    );
    assert_eq!(stored.auth_method, "client_secret_basic");
    assert_eq!(
        stored.redirect_uris,
        [
            "https://claude.ai/api/mcp/auth_callback",
            "https://claude.com/api/mcp/auth_callback"
        ]
    );
    assert!(stored.allows_grant("authorization_code") && stored.allows_grant("refresh_token"));

    for format in ["text", "json"] {
        let list = ok(&run(&srv, &["client", "list", "--format", format], None));
        assert!(list.contains(&id) && list.contains("Claude"), "{list}");
        assert!(!list.contains(&secret), "secret listed: {list}");
        assert!(!list.contains(&issue::hash(&secret)), "hash listed: {list}");
        assert!(!list.contains("mcpcs_"), "{list}");
    }
});

db_test!(client_add_json_takes_redirect_uris, Opts::oauth(), |srv| {
    let (id, secret) = add_client(
        &srv,
        &[
            "--redirect-uri",
            "http://127.0.0.1:7777/callback",
            "--redirect-uri",
            "https://app.example.com/cb",
        ],
    );
    assert!(id.starts_with("mcpc_") && secret.expect("confidential").starts_with("mcpcs_"));
    let stored = srv.state.db.client(&id).await.expect("db").expect("stored");
    assert_eq!(
        stored.redirect_uris,
        [
            "http://127.0.0.1:7777/callback",
            "https://app.example.com/cb"
        ]
    );
});

db_test!(public_client_has_no_secret, Opts::oauth(), |srv| {
    let (id, secret) = add_client(&srv, &["--public"]);
    assert_eq!(secret, None);
    let stored = srv.state.db.client(&id).await.expect("db").expect("stored");
    assert_eq!(
        (stored.secret_hash, stored.auth_method.as_str()),
        (None, "none")
    );
});

db_test!(
    client_add_refuses_a_plain_http_redirect,
    Opts::oauth(),
    |srv| {
        let o = run(
            &srv,
            &[
                "client",
                "add",
                "--name",
                "x",
                "--redirect-uri",
                "http://evil.example/cb",
            ],
            None,
        );
        refused(&o, "must be https");
        assert!(srv.state.db.list_clients().await.expect("db").is_empty());
    }
);

db_test!(client_credentials_needs_a_scope, Opts::oauth(), |srv| {
    let o = run(
        &srv,
        &[
            "client",
            "add",
            "--name",
            "svc",
            "--grant",
            "client_credentials",
        ],
        None,
    );
    refused(&o, "--scope");
    assert!(srv.state.db.list_clients().await.expect("db").is_empty());
});

db_test!(client_credentials_client_is_stored, Opts::oauth(), |srv| {
    let (id, secret) = add_client(
        &srv,
        &["--grant", "client_credentials", "--scope", "employees:read"],
    );
    assert!(secret.is_some());
    let stored = srv.state.db.client(&id).await.expect("db").expect("stored");
    assert_eq!(stored.grant_types, ["client_credentials"]);
    assert_eq!(stored.scopes, "employees:read");
    assert!(stored.redirect_uris.is_empty());
});

db_test!(client_revoke_revokes_its_tokens, Opts::oauth(), |srv| {
    let (id, _) = add_client(
        &srv,
        &["--grant", "client_credentials", "--scope", "employees:read"],
    );
    let auth = srv.state.auth.as_ref().expect("oauth");
    let t = issue::grant_and_tokens(auth, &id, None, &ScopeSet::parse("employees:read"), false)
        .await
        .unwrap();
    let hash = issue::hash(&t.access_token);
    assert!(
        srv.state
            .db
            .access_token(&hash, unix_now())
            .await
            .unwrap()
            .is_some()
    );

    ok(&run(&srv, &["client", "revoke", &id], None));
    assert!(
        srv.state
            .db
            .access_token(&hash, unix_now())
            .await
            .unwrap()
            .is_none()
    );
    let list = ok(&run(&srv, &["client", "list"], None));
    assert!(list.contains("revoked"), "{list}");
    let json: Value = serde_json::from_str(&ok(&run(
        &srv,
        &["client", "list", "--format", "json"],
        None,
    )))
    .unwrap();
    assert!(json[0]["revoked_at"].is_i64(), "{json}");
});

db_test!(client_revoke_of_an_unknown_id_fails, Opts::oauth(), |srv| {
    refused(
        &run(&srv, &["client", "revoke", "mcpc_nope"], None),
        "no active client",
    );
    let (id, _) = add_client(&srv, &[]);
    ok(&run(&srv, &["client", "revoke", &id], None));
    refused(
        &run(&srv, &["client", "revoke", &id], None),
        "no active client",
    );
});

db_test!(user_add_and_list, Opts::oauth(), |srv| {
    ok(&run(
        &srv,
        &[
            "user",
            "add",
            "alice",
            "--role",
            "editor",
            "--email",
            "a@example.com",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    ));
    let user = srv
        .state
        .db
        .user_by_name("alice")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!((user.role.as_str(), user.disabled), ("editor", false));
    assert_eq!(user.email.as_deref(), Some("a@example.com"));
    assert!(verify_password(
        &user.password_hash,
        &SecretString::new(PASSWORD)
    ));
    for format in ["text", "json"] {
        let list = ok(&run(&srv, &["user", "list", "--format", format], None));
        assert!(list.contains("alice") && list.contains("editor"), "{list}");
        assert!(
            !list.contains("argon2") && !list.contains(PASSWORD),
            "{list}"
        );
    }
});

db_test!(user_add_refuses_a_short_password, Opts::oauth(), |srv| {
    let o = run(
        &srv,
        &["user", "add", "bob", "--role", "viewer", "--password-stdin"],
        Some("short\n"),
    );
    refused(&o, "at least 12 characters");
    assert!(
        srv.state
            .db
            .user_by_name("bob")
            .await
            .expect("db")
            .is_none()
    );
});

db_test!(user_add_refuses_an_unknown_role, Opts::oauth(), |srv| {
    let o = run(
        &srv,
        &["user", "add", "bob", "--role", "admin", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    refused(&o, "unknown role `admin`");
    assert!(
        srv.state
            .db
            .user_by_name("bob")
            .await
            .expect("db")
            .is_none()
    );
});

db_test!(user_add_needs_password_stdin, Opts::oauth(), |srv| {
    let o = run(
        &srv,
        &["user", "add", "bob", "--role", "viewer"],
        Some(&format!("{PASSWORD}\n")),
    );
    refused(&o, "--password-stdin");
    assert!(
        srv.state
            .db
            .user_by_name("bob")
            .await
            .expect("db")
            .is_none()
    );
});

db_test!(user_add_refuses_a_taken_name, Opts::oauth(), |srv| {
    add_user(&srv, "alice", "viewer");
    let o = run(
        &srv,
        &[
            "user",
            "add",
            "alice",
            "--role",
            "editor",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    refused(&o, "already exists");
    let user = srv
        .state
        .db
        .user_by_name("alice")
        .await
        .unwrap()
        .expect("kept");
    assert_eq!(user.role, "viewer");
});

db_test!(
    user_disable_revokes_grants_and_enable_restores,
    Opts::oauth(),
    |srv| {
        add_user(&srv, "alice", "editor");
        let user = srv
            .state
            .db
            .user_by_name("alice")
            .await
            .unwrap()
            .expect("stored");
        let (client, _) = add_client(&srv, &[]);
        let auth = srv.state.auth.as_ref().expect("oauth");
        let t = issue::grant_and_tokens(
            auth,
            &client,
            Some(&user.id),
            &ScopeSet::parse("employees:read"),
            true,
        )
        .await
        .unwrap();
        let hash = issue::hash(&t.access_token);
        assert!(
            srv.state
                .db
                .access_token(&hash, unix_now())
                .await
                .unwrap()
                .is_some()
        );

        ok(&run(&srv, &["user", "disable", "alice"], None));
        assert!(
            srv.state
                .db
                .user_by_name("alice")
                .await
                .unwrap()
                .unwrap()
                .disabled
        );
        assert!(
            srv.state
                .db
                .access_token(&hash, unix_now())
                .await
                .unwrap()
                .is_none()
        );
        assert!(ok(&run(&srv, &["user", "list"], None)).contains("disabled"));

        ok(&run(&srv, &["user", "enable", "alice"], None));
        assert!(
            !srv.state
                .db
                .user_by_name("alice")
                .await
                .unwrap()
                .unwrap()
                .disabled
        );
        // Re-enabling does not bring revoked tokens back.
        assert!(
            srv.state
                .db
                .access_token(&hash, unix_now())
                .await
                .unwrap()
                .is_none()
        );
    }
);

db_test!(
    user_disable_of_an_unknown_user_fails,
    Opts::oauth(),
    |srv| {
        refused(
            &run(&srv, &["user", "disable", "nobody"], None),
            "no user `nobody`",
        );
    }
);

db_test!(user_passwd_changes_the_password, Opts::oauth(), |srv| {
    add_user(&srv, "alice", "viewer");
    let new = "a different long password";
    ok(&run(
        &srv,
        &["user", "passwd", "alice", "--password-stdin"],
        Some(&format!("{new}\r\n")),
    ));
    let user = srv
        .state
        .db
        .user_by_name("alice")
        .await
        .unwrap()
        .expect("stored");
    assert!(verify_password(
        &user.password_hash,
        &SecretString::new(new)
    ));
    assert!(!verify_password(
        &user.password_hash,
        &SecretString::new(PASSWORD)
    ));
});

db_test!(user_passwd_refuses_a_short_password, Opts::oauth(), |srv| {
    add_user(&srv, "alice", "viewer");
    let o = run(
        &srv,
        &["user", "passwd", "alice", "--password-stdin"],
        Some("tiny\n"),
    );
    refused(&o, "at least 12 characters");
    let user = srv
        .state
        .db
        .user_by_name("alice")
        .await
        .unwrap()
        .expect("stored");
    assert!(verify_password(
        &user.password_hash,
        &SecretString::new(PASSWORD)
    ));
});

db_test!(token_revoke_ends_the_grant, Opts::oauth(), |srv| {
    let (client, _) = add_client(&srv, &[]);
    let auth = srv.state.auth.as_ref().expect("oauth");
    let t = issue::grant_and_tokens(
        auth,
        &client,
        None,
        &ScopeSet::parse("employees:read"),
        true,
    )
    .await
    .unwrap();
    let hash = issue::hash(&t.access_token);
    let refresh = t.refresh_token.expect("refresh");
    // By the refresh token, read from stdin: the access token goes too.
    ok(&run(
        &srv,
        &["token", "revoke", "-"],
        Some(&format!("{refresh}\n")),
    ));
    assert!(
        srv.state
            .db
            .access_token(&hash, unix_now())
            .await
            .unwrap()
            .is_none()
    );
    refused(
        &run(&srv, &["token", "revoke", &t.access_token], None),
        "no live token",
    );
});

db_test!(
    token_revoke_of_an_unknown_token_fails,
    Opts::oauth(),
    |srv| {
        refused(
            &run(&srv, &["token", "revoke", "mcpat_nope"], None),
            "no live token",
        );
    }
);

// What the CLI creates works on the real endpoints.

db_test!(
    cli_user_and_client_complete_the_login_flow,
    Opts::oauth(),
    |srv| {
        use crate::oauth_flow::{AuthorizeParams, Pkce, authorize_code, exchange, param};
        add_user(&srv, "alice", "editor");
        let redirect = "http://127.0.0.1:9/callback";
        let (id, secret) = add_client(&srv, &["--redirect-uri", redirect]);
        let secret = secret.expect("confidential");
        let pkce = Pkce::new();
        let params = AuthorizeParams::new(&srv, &id, redirect, "alice", PASSWORD, &pkce);
        let back = authorize_code(&srv, &params)
            .await
            .unwrap_or_else(|r| panic!("flow stopped: {}", r.status()));
        let code = param(&back, "code").expect("code");
        let res = exchange(&srv, &id, Some(&secret), &code, &pkce.verifier, redirect).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("json");
        assert!(
            body["access_token"]
                .as_str()
                .is_some_and(|t| t.starts_with("mcpat_"))
        );
        // A wrong secret is refused: the CLI stored the hash of the printed one.
        let pkce = Pkce::new();
        let params = AuthorizeParams::new(&srv, &id, redirect, "alice", PASSWORD, &pkce);
        let back = authorize_code(&srv, &params).await.expect("flow");
        let code = param(&back, "code").expect("code");
        let res = exchange(
            &srv,
            &id,
            Some("mcpcs_wrong"),
            &code,
            &pkce.verifier,
            redirect,
        )
        .await;
        assert_eq!(res.status(), 401);
    }
);

db_test!(disabled_user_cannot_log_in, Opts::oauth(), |srv| {
    use crate::oauth_flow::{AuthorizeParams, Pkce, authorize_code};
    add_user(&srv, "alice", "editor");
    let redirect = "http://127.0.0.1:9/callback";
    let (id, _) = add_client(&srv, &["--redirect-uri", redirect]);
    ok(&run(&srv, &["user", "disable", "alice"], None));
    let params = AuthorizeParams::new(&srv, &id, redirect, "alice", PASSWORD, &Pkce::new());
    let refused = authorize_code(&srv, &params)
        .await
        .expect_err("login refused");
    assert_eq!(refused.status(), 401);
});

db_test!(
    cli_service_client_gets_tokens_with_basic_and_post,
    Opts::oauth(),
    |srv| {
        let (id, secret) = add_client(
            &srv,
            &["--grant", "client_credentials", "--scope", "employees:read"],
        );
        let secret = secret.expect("secret");
        let url = format!("{}/token", srv.base);
        let basic = srv
            .client
            .post(&url)
            .basic_auth(&id, Some(&secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .expect("send");
        assert_eq!(basic.status(), 200);
        let body: Value = basic.json().await.expect("json");
        assert_eq!(body["scope"], "employees:read");
        assert!(body.get("refresh_token").is_none(), "{body}");
        let post = srv
            .client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&client_id={id}&client_secret={secret}"
            ))
            .send()
            .await
            .expect("send");
        assert_eq!(post.status(), 200);
    }
);
