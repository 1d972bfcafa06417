//! Authentication events in the audit trail (kind `auth`): what a login,
//! a consent, a token exchange, a refresh and a replay record, that no
//! credential ever reaches a row, and that the chain still verifies with
//! tool calls and authentication events mixed.

// Tests may unwrap: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mcp_connector::audit::{AuditRecord, store as audit_store};
use serde_json::{Value, json};

use crate::common::{LEGACY, Opts, TestServer};
use crate::db_test;
use crate::oauth_flow::{self, AuthorizeParams, Pkce, param};
use crate::oauth_token::{expect_error, expect_tokens, refresh, revoke, s};

const REDIRECT: &str = "https://client.example/callback";
const PASSWORD: &str = "correct horse battery";

/// Every `auth` record, oldest first.
async fn auth_rows(srv: &TestServer) -> Vec<AuditRecord> {
    audit_store::since(&srv.state.db, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "auth")
        .collect()
}

fn args(r: &AuditRecord) -> Value {
    serde_json::from_str(r.arguments.as_deref().expect("arguments")).unwrap()
}

fn event(r: &AuditRecord) -> String {
    args(r)["event"].as_str().unwrap_or_default().to_owned()
}

/// No token, code, client secret or password anywhere in any row.
async fn assert_no_credentials(srv: &TestServer) {
    for r in audit_store::since(&srv.state.db, 0, 10_000).await.unwrap() {
        let text = serde_json::to_string(&r).unwrap();
        for bad in ["mcpat_", "mcprt_", "mcpac_", "mcpcs_", PASSWORD] {
            assert!(!text.contains(bad), "{bad} in {text}");
        }
    }
}

/// A user and a public client, ready for [`oauth_flow::authorize_code`]:
/// (user id, client id, params, PKCE).
async fn set_up(srv: &TestServer, username: &str) -> (String, String, AuthorizeParams, Pkce) {
    let user = oauth_flow::add_user(srv, username, PASSWORD, "viewer").await;
    let (client, _) = oauth_flow::add_client(srv, "Audited", &[REDIRECT], false).await;
    let pkce = Pkce::new();
    let p = AuthorizeParams::new(srv, &client, REDIRECT, username, PASSWORD, &pkce);
    (user, client, p, pkce)
}

/// Log in, consent and exchange the code: the token response.
async fn sign_in(srv: &TestServer, client: &str, p: &AuthorizeParams, pkce: &Pkce) -> Value {
    let back = oauth_flow::authorize_code(srv, p).await.unwrap();
    let code = param(&back, "code").unwrap();
    let res = oauth_flow::exchange(srv, client, None, &code, &pkce.verifier, REDIRECT).await;
    expect_tokens(res).await
}

db_test!(failed_login_is_recorded, Opts::oauth(), |srv| {
    let (_, client, p, _) = set_up(&srv, "alice").await;
    let page = oauth_flow::start(&srv, &p).await.unwrap();
    let res = oauth_flow::login_raw(&srv, &page, "alice", "wrong password here").await;
    assert_eq!(res.status(), 401);

    let rows = auth_rows(&srv).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(event(r), "login_failed");
    assert_eq!(args(r)["user"], "alice");
    assert!(r.is_error);
    assert!(r.error.is_some());
    assert_eq!(r.subject, None);
    assert_eq!(r.client.as_deref(), Some(client.as_str()));
    assert_eq!(r.source_ip.as_deref(), Some("127.0.0.1"));
    for r in audit_store::since(&srv.state.db, 0, 10_000).await.unwrap() {
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("wrong password here"), "{text}");
    }
});

db_test!(
    login_consent_exchange_and_refresh_are_recorded,
    Opts::oauth(),
    |srv| {
        let (user, client, p, pkce) = set_up(&srv, "bob").await;
        let t = sign_in(&srv, &client, &p, &pkce).await;
        expect_tokens(refresh(&srv, &client, s(&t, "refresh_token")).await).await;

        let rows = auth_rows(&srv).await;
        let events: Vec<String> = rows.iter().map(event).collect();
        assert_eq!(
            events,
            [
                "login_succeeded",
                "consent_granted",
                "token_issued",
                "token_issued"
            ],
            "{rows:?}"
        );
        let subject = format!("user:{user}");
        for r in &rows {
            assert_eq!(r.subject.as_deref(), Some(subject.as_str()), "{r:?}");
            assert_eq!(r.client.as_deref(), Some(client.as_str()), "{r:?}");
            assert!(!r.is_error, "{r:?}");
            assert_eq!(r.error, None);
            assert_eq!(r.source_ip.as_deref(), Some("127.0.0.1"));
        }
        assert_eq!(args(&rows[0])["user"], "bob");
        assert_eq!(args(&rows[1])["scope"], "employees:read");
        assert_eq!(args(&rows[2])["grant_type"], "authorization_code");
        assert_eq!(args(&rows[2])["scope"], "employees:read");
        assert_eq!(args(&rows[3])["grant_type"], "refresh_token");
        assert_no_credentials(&srv).await;
    }
);

fn no_grace(c: &mut mcp_connector::config::Config) {
    c.auth.refresh_grace = Duration::ZERO;
}

db_test!(
    refresh_reuse_is_recorded,
    Opts {
        tweak: Some(no_grace),
        ..Opts::oauth()
    },
    |srv| {
        let (user, client, p, pkce) = set_up(&srv, "carol").await;
        let t = sign_in(&srv, &client, &p, &pkce).await;
        let r1 = s(&t, "refresh_token");
        expect_tokens(refresh(&srv, &client, r1).await).await;
        expect_error(refresh(&srv, &client, r1).await, 400, "invalid_grant").await;

        let rows = auth_rows(&srv).await;
        let last = rows.last().unwrap();
        assert_eq!(event(last), "refresh_reuse", "{rows:?}");
        assert_eq!(args(last)["grant_revoked"], true);
        assert!(last.is_error);
        assert_eq!(last.subject, Some(format!("user:{user}")));
        assert_eq!(last.client.as_deref(), Some(client.as_str()));
        assert_no_credentials(&srv).await;
    }
);

db_test!(code_replay_is_recorded, Opts::oauth(), |srv| {
    let (_, client, p, pkce) = set_up(&srv, "dave").await;
    let back = oauth_flow::authorize_code(&srv, &p).await.unwrap();
    let code = param(&back, "code").unwrap();
    let first = oauth_flow::exchange(&srv, &client, None, &code, &pkce.verifier, REDIRECT).await;
    expect_tokens(first).await;
    let again = oauth_flow::exchange(&srv, &client, None, &code, &pkce.verifier, REDIRECT).await;
    expect_error(again, 400, "invalid_grant").await;

    let rows = auth_rows(&srv).await;
    let last = rows.last().unwrap();
    assert_eq!(event(last), "code_replay", "{rows:?}");
    assert!(last.is_error);
    assert_eq!(last.client.as_deref(), Some(client.as_str()));
    assert_no_credentials(&srv).await;
});

db_test!(consent_denied_is_recorded, Opts::oauth(), |srv| {
    let (user, client, p, _) = set_up(&srv, "erin").await;
    let page = oauth_flow::start(&srv, &p).await.unwrap();
    let consent = oauth_flow::login(&srv, &page, "erin", PASSWORD)
        .await
        .unwrap();
    let res = oauth_flow::consent_raw(&srv, &consent, "deny", &[]).await;
    assert_eq!(res.status(), 303);

    let rows = auth_rows(&srv).await;
    let last = rows.last().unwrap();
    assert_eq!(event(last), "consent_denied", "{rows:?}");
    assert!(last.is_error);
    assert_eq!(last.subject, Some(format!("user:{user}")));
    assert_eq!(last.client.as_deref(), Some(client.as_str()));
});

db_test!(
    chain_verifies_with_auth_and_tool_rows,
    Opts::oauth(),
    |srv| {
        let (_, client, p, pkce) = set_up(&srv, "frank").await;
        let t = sign_in(&srv, &client, &p, &pkce).await;
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "get_employee_count", "arguments": {"department": "engineering"}}});
        let bearer = format!("Bearer {}", s(&t, "access_token"));
        let res = srv
            .post_raw(
                call.to_string(),
                &[("mcp-protocol-version", LEGACY), ("authorization", &bearer)],
            )
            .await;
        assert_eq!(res.status(), 200);
        // The record is committed before the result is sent.
        let reply = crate::common::read_message(res).await;
        assert_ne!(reply["result"]["isError"], true, "{reply}");
        // One more authentication event after the tool call.
        expect_tokens(refresh(&srv, &client, s(&t, "refresh_token")).await).await;

        let all = audit_store::since(&srv.state.db, 0, 10_000).await.unwrap();
        let kinds: Vec<&str> = all.iter().map(|r| r.kind.as_str()).collect();
        assert!(kinds.contains(&"tool_call"), "{kinds:?}");
        assert_eq!(kinds.last(), Some(&"auth"), "{kinds:?}");
        let verified = audit_store::verify(&srv.state.db).await.unwrap().unwrap();
        assert_eq!(verified.count, i64::try_from(all.len()).unwrap());
        assert_eq!(verified.head, all.last().unwrap().hash);
    }
);

/// Make every insert into `audit_log` fail from now on.
async fn break_audit(srv: &TestServer) {
    crate::audit::raw_sql(
        srv,
        "CREATE TRIGGER audit_log_broken BEFORE INSERT ON audit_log \
         BEGIN SELECT RAISE(ABORT, 'disk says no'); END;",
        "CREATE FUNCTION audit_broken() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'disk says no'; END; $$; \
         CREATE TRIGGER audit_log_broken BEFORE INSERT ON audit_log \
         FOR EACH ROW EXECUTE FUNCTION audit_broken();",
    )
    .await
    .expect("break the audit table");
}

db_test!(
    no_token_is_issued_when_its_issuance_cannot_be_recorded,
    Opts::oauth(),
    |srv| {
        let (_, client, p, pkce) = set_up(&srv, "grace").await;
        let back = oauth_flow::authorize_code(&srv, &p).await.unwrap();
        let code = param(&back, "code").unwrap();
        break_audit(&srv).await;
        let res = oauth_flow::exchange(&srv, &client, None, &code, &pkce.verifier, REDIRECT).await;
        assert_eq!(res.status(), 500);
        let body = res.text().await.unwrap();
        assert!(body.contains("server_error"), "{body}");
        assert!(!body.contains("mcpat_"), "token sent without audit: {body}");
    }
);

db_test!(
    a_failed_login_is_refused_even_when_it_cannot_be_recorded,
    Opts::oauth(),
    |srv| {
        let (_, _, p, _) = set_up(&srv, "heidi").await;
        let page = oauth_flow::start(&srv, &p).await.unwrap();
        break_audit(&srv).await;
        let res = oauth_flow::login_raw(&srv, &page, "heidi", "wrong password here").await;
        assert_eq!(res.status(), 401);
        assert!(auth_rows(&srv).await.is_empty());
    }
);

db_test!(
    a_login_that_cannot_be_recorded_goes_no_further,
    Opts::oauth(),
    |srv| {
        let (_, _, p, _) = set_up(&srv, "ivan").await;
        let page = oauth_flow::start(&srv, &p).await.unwrap();
        break_audit(&srv).await;
        let res = oauth_flow::login_raw(&srv, &page, "ivan", PASSWORD).await;
        assert_eq!(res.status(), 500);
        let body = res.text().await.unwrap();
        assert!(
            !body.contains("name=\"ticket\""),
            "consent page shown: {body}"
        );
    }
);

db_test!(
    registration_and_revocation_are_recorded,
    Opts::oauth(),
    |srv| {
        let res = srv
            .client
            .post(format!("{}/register", srv.base))
            .json(&json!({"redirect_uris": [REDIRECT], "client_name": "DCR app"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let doc: Value = res.json().await.unwrap();
        let registered = s(&doc, "client_id").to_owned();
        let rows = auth_rows(&srv).await;
        let r = rows.last().unwrap();
        assert_eq!(event(r), "client_registered");
        assert_eq!(args(r)["name"], "DCR app");
        assert_eq!(r.client.as_deref(), Some(registered.as_str()));
        assert!(!r.is_error);

        let (_, client, p, pkce) = set_up(&srv, "judy").await;
        let t = sign_in(&srv, &client, &p, &pkce).await;
        let res = revoke(&srv, &client, s(&t, "refresh_token"), None).await;
        assert_eq!(res.status(), 200);
        let rows = auth_rows(&srv).await;
        let r = rows.last().unwrap();
        assert_eq!(event(r), "token_revoked", "{rows:?}");
        assert_eq!(r.client.as_deref(), Some(client.as_str()));
        assert_no_credentials(&srv).await;
    }
);

/// Run the binary against the server's database; panics unless it succeeds.
fn cli(srv: &TestServer, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write as _;
    use std::process::Stdio;
    tokio::task::block_in_place(|| {
        let mut child = crate::common::binary()
            .args(args)
            .args(["--database-url", &srv.database_url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    })
}

db_test!(operator_verbs_are_recorded, Opts::oauth(), |srv| {
    let pw = format!("{PASSWORD}\n");
    let add = ["user", "add", "kim", "--role", "viewer", "--password-stdin"];
    cli(&srv, &add, Some(&pw));
    cli(
        &srv,
        &["user", "passwd", "kim", "--password-stdin"],
        Some(&pw),
    );
    cli(&srv, &["user", "disable", "kim"], None);
    cli(&srv, &["user", "enable", "kim"], None);
    let out = cli(
        &srv,
        &["client", "add", "--name", "Ops", "--format", "json"],
        None,
    );
    let doc: Value = serde_json::from_str(&out).unwrap();
    let client = s(&doc, "client_id").to_owned();
    let (_, public, p, pkce) = set_up(&srv, "liam").await;
    let t = sign_in(&srv, &public, &p, &pkce).await;
    cli(&srv, &["token", "revoke", "-"], Some(s(&t, "access_token")));
    cli(&srv, &["client", "revoke", &client], None);

    let rows: Vec<AuditRecord> = auth_rows(&srv)
        .await
        .into_iter()
        .filter(|r| r.subject.as_deref() == Some("operator"))
        .collect();
    let events: Vec<String> = rows.iter().map(event).collect();
    assert_eq!(
        events,
        [
            "user_added",
            "password_changed",
            "user_disabled",
            "user_enabled",
            "client_added",
            "token_revoked_by_operator",
            "client_revoked",
        ],
        "{rows:?}"
    );
    assert!(rows[..4].iter().all(|r| args(r)["user"] == "kim"));
    assert_eq!(args(&rows[0])["role"], "viewer");
    assert_eq!(rows[4].client.as_deref(), Some(client.as_str()));
    assert_eq!(rows[6].client.as_deref(), Some(client.as_str()));
    assert!(rows.iter().all(|r| !r.is_error && r.source_ip.is_none()));
    assert_no_credentials(&srv).await;
    let verified = audit_store::verify(&srv.state.db).await.unwrap().unwrap();
    assert!(verified.count >= 7);
});

fn one_attempt(c: &mut mcp_connector::config::Config) {
    c.auth.login_attempts_per_minute = 1;
}

db_test!(
    throttled_login_is_recorded,
    Opts {
        tweak: Some(one_attempt),
        ..Opts::oauth()
    },
    |srv| {
        let (_, client, p, _) = set_up(&srv, "mona").await;
        let page = oauth_flow::start(&srv, &p).await.unwrap();
        let res = oauth_flow::login_raw(&srv, &page, "mona", "wrong password here").await;
        assert_eq!(res.status(), 401);
        let res = oauth_flow::login_raw(&srv, &page, "mona", PASSWORD).await;
        assert_eq!(res.status(), 429);

        let rows = auth_rows(&srv).await;
        let events: Vec<String> = rows.iter().map(event).collect();
        assert_eq!(events, ["login_failed", "login_throttled"], "{rows:?}");
        let r = &rows[1];
        assert!(r.is_error);
        assert_eq!(args(r)["user"], "mona");
        assert_eq!(r.client.as_deref(), Some(client.as_str()));
        assert_no_credentials(&srv).await;
    }
);
