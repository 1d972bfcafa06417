//! The operator verbs `client`, `user` and `token`, driven through the real
//! binary against the database of a running OAuth server (so every check
//! also runs on PostgreSQL when `TEST_DATABASE_URL` is set).

#![allow(clippy::unwrap_used, unreachable_pub)]

use std::io::Write as _;
use std::process::{Output, Stdio};

use mcp_connector::auth::issue;
use mcp_connector::store::oauth::User;
use mcp_connector_security::SecretString;
use mcp_connector_security::password::verify_password;
use serde_json::Value;

use crate::common::{Opts, TestServer, binary};
use crate::db_test;
use crate::oauth_flow::{
    AuthorizeParams, PASSWORD, Pkce, authorize_code, exchange, param, tokens, valid,
};
use crate::oauth_token::{expect_tokens, post_form};

/// Run `mcp-connector <args> --database-url <the server's>`, with `stdin`.
pub fn run(srv: &TestServer, args: &[&str], stdin: Option<&str>) -> Output {
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
            // A refused command may exit before it reads its input.
            let written = input.write_all(text.as_bytes());
            if let Err(e) = written
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                panic!("write stdin: {e}");
            }
        }
        drop(input);
        child.wait_with_output().expect("binary runs")
    })
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
pub fn ok(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}{}", stdout(o), stderr(o));
    stdout(o)
}

#[track_caller]
pub fn refused(o: &Output, reason: &str) {
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(o), stderr(o));
    assert!(
        stderr(o).contains(reason),
        "want `{reason}` in: {}",
        stderr(o)
    );
}

/// [`PASSWORD`] as typed on stdin.
pub fn password_line() -> String {
    format!("{PASSWORD}\n")
}

/// `client add --format json` → (id, secret).
pub fn add_client(srv: &TestServer, extra: &[&str]) -> (String, Option<String>) {
    let mut args = vec!["client", "add", "--name", "Test", "--format", "json"];
    args.extend_from_slice(extra);
    let out: Value = serde_json::from_str(&ok(&run(srv, &args, None))).expect("json");
    (
        out["client_id"].as_str().expect("id").to_owned(),
        out["client_secret"].as_str().map(str::to_owned),
    )
}

/// `client add --name x <extra>` is refused for `reason`; nothing stored.
async fn client_add_refused(srv: &TestServer, extra: &[&str], reason: &str) {
    let mut args = vec!["client", "add", "--name", "x"];
    args.extend_from_slice(extra);
    refused(&run(srv, &args, None), reason);
    assert!(srv.state.db.list_clients().await.expect("db").is_empty());
}

/// `user add <name> <extra>` with `stdin`.
fn user_add(srv: &TestServer, name: &str, extra: &[&str], stdin: &str) -> Output {
    let mut args = vec!["user", "add", name];
    args.extend_from_slice(extra);
    run(srv, &args, Some(stdin))
}

/// `user add <name> --role <role>` with [`PASSWORD`].
pub fn add_user(srv: &TestServer, name: &str, role: &str) {
    let extra = ["--role", role, "--password-stdin"];
    ok(&user_add(srv, name, &extra, &password_line()));
}

/// `user add bob <extra>` with `stdin` is refused for `reason`; no `bob`.
async fn user_add_refused(srv: &TestServer, extra: &[&str], stdin: &str, reason: &str) {
    refused(&user_add(srv, "bob", extra, stdin), reason);
    assert!(user(srv, "bob").await.is_none());
}

async fn user(srv: &TestServer, name: &str) -> Option<User> {
    srv.state.db.user_by_name(name).await.expect("db")
}

/// The stored `alice`.
async fn alice(srv: &TestServer) -> User {
    user(srv, "alice").await.expect("alice stored")
}

fn has_password(user: &User, password: &str) -> bool {
    verify_password(&user.password_hash, &SecretString::new(password))
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
        let evil = ["--redirect-uri", "http://evil.example/cb"];
        client_add_refused(&srv, &evil, "must be https").await;
    }
);

db_test!(client_credentials_needs_a_scope, Opts::oauth(), |srv| {
    client_add_refused(&srv, &["--grant", "client_credentials"], "--scope").await;
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
    let t = tokens(&srv, &id, None, "employees:read", false).await;
    assert!(valid(&srv, &t.access_token).await);

    ok(&run(&srv, &["client", "revoke", &id], None));
    assert!(!valid(&srv, &t.access_token).await);
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
    let extra = [
        "--role",
        "editor",
        "--email",
        "a@example.com",
        "--password-stdin",
    ];
    ok(&user_add(&srv, "alice", &extra, &password_line()));
    let user = alice(&srv).await;
    assert_eq!((user.role.as_str(), user.disabled), ("editor", false));
    assert_eq!(user.email.as_deref(), Some("a@example.com"));
    assert!(has_password(&user, PASSWORD));
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
    let args = ["--role", "viewer", "--password-stdin"];
    user_add_refused(&srv, &args, "short\n", "at least 12 characters").await;
});

db_test!(user_add_refuses_an_unknown_role, Opts::oauth(), |srv| {
    let args = ["--role", "admin", "--password-stdin"];
    user_add_refused(&srv, &args, &password_line(), "unknown role `admin`").await;
});

db_test!(user_add_needs_password_stdin, Opts::oauth(), |srv| {
    let args = ["--role", "viewer"];
    user_add_refused(&srv, &args, &password_line(), "--password-stdin").await;
});

db_test!(user_add_refuses_a_taken_name, Opts::oauth(), |srv| {
    add_user(&srv, "alice", "viewer");
    let extra = ["--role", "editor", "--password-stdin"];
    refused(
        &user_add(&srv, "alice", &extra, &password_line()),
        "already exists",
    );
    assert_eq!(alice(&srv).await.role, "viewer");
});

db_test!(
    user_disable_revokes_grants_and_enable_restores,
    Opts::oauth(),
    |srv| {
        add_user(&srv, "alice", "editor");
        let user = alice(&srv).await;
        let (client, _) = add_client(&srv, &[]);
        let t = tokens(&srv, &client, Some(&user.id), "employees:read", true).await;
        assert!(valid(&srv, &t.access_token).await);

        ok(&run(&srv, &["user", "disable", "alice"], None));
        assert!(alice(&srv).await.disabled);
        assert!(!valid(&srv, &t.access_token).await);
        assert!(ok(&run(&srv, &["user", "list"], None)).contains("disabled"));

        ok(&run(&srv, &["user", "enable", "alice"], None));
        assert!(!alice(&srv).await.disabled);
        // Re-enabling does not bring revoked tokens back.
        assert!(!valid(&srv, &t.access_token).await);
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
    let args = ["user", "passwd", "alice", "--password-stdin"];
    ok(&run(&srv, &args, Some(&format!("{new}\r\n"))));
    let user = alice(&srv).await;
    assert!(has_password(&user, new));
    assert!(!has_password(&user, PASSWORD));
});

db_test!(user_passwd_refuses_a_short_password, Opts::oauth(), |srv| {
    add_user(&srv, "alice", "viewer");
    let args = ["user", "passwd", "alice", "--password-stdin"];
    refused(&run(&srv, &args, Some("tiny\n")), "at least 12 characters");
    assert!(has_password(&alice(&srv).await, PASSWORD));
});

db_test!(token_revoke_ends_the_grant, Opts::oauth(), |srv| {
    let (client, _) = add_client(&srv, &[]);
    let t = tokens(&srv, &client, None, "employees:read", true).await;
    let refresh = t.refresh_token.expect("refresh");
    // By the refresh token, read from stdin: the access token goes too.
    let stdin = format!("{refresh}\n");
    ok(&run(&srv, &["token", "revoke", "-"], Some(&stdin)));
    assert!(!valid(&srv, &t.access_token).await);
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

pub const CALLBACK: &str = "http://127.0.0.1:9/callback";

/// `alice` (an editor) logs in to client `id` and allows: the code and
/// its verifier.
pub async fn alice_code(srv: &TestServer, id: &str) -> (String, Pkce) {
    let pkce = Pkce::new();
    let params = AuthorizeParams::new(srv, id, CALLBACK, "alice", PASSWORD, &pkce);
    let back = authorize_code(srv, &params)
        .await
        .unwrap_or_else(|r| panic!("flow stopped: {}", r.status()));
    (param(&back, "code").expect("code"), pkce)
}

db_test!(
    cli_user_and_client_complete_the_login_flow,
    Opts::oauth(),
    |srv| {
        add_user(&srv, "alice", "editor");
        let (id, secret) = add_client(&srv, &["--redirect-uri", CALLBACK]);
        let secret = secret.expect("confidential");
        let (code, pkce) = alice_code(&srv, &id).await;
        let res = exchange(&srv, &id, Some(&secret), &code, &pkce.verifier, CALLBACK).await;
        expect_tokens(res).await;
        // A wrong secret is refused: the CLI stored the hash of the printed one.
        let (code, pkce) = alice_code(&srv, &id).await;
        let wrong = Some("mcpcs_wrong");
        let res = exchange(&srv, &id, wrong, &code, &pkce.verifier, CALLBACK).await;
        assert_eq!(res.status(), 401);
    }
);

db_test!(disabled_user_cannot_log_in, Opts::oauth(), |srv| {
    add_user(&srv, "alice", "editor");
    let (id, _) = add_client(&srv, &["--redirect-uri", CALLBACK]);
    ok(&run(&srv, &["user", "disable", "alice"], None));
    let params = AuthorizeParams::new(&srv, &id, CALLBACK, "alice", PASSWORD, &Pkce::new());
    let refused = authorize_code(&srv, &params)
        .await
        .expect_err("login refused");
    // Issue 12: the right password of a disabled account is told so (403).
    assert_eq!(refused.status(), 403);
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
        let grant = ("grant_type", "client_credentials");
        let basic = post_form(&srv, "/token", &[grant], Some((&id, &secret))).await;
        let body = expect_tokens(basic).await;
        assert_eq!(body["scope"], "employees:read");
        assert!(body.get("refresh_token").is_none(), "{body}");
        let form = [grant, ("client_id", &id), ("client_secret", &secret)];
        expect_tokens(post_form(&srv, "/token", &form, None).await).await;
    }
);
