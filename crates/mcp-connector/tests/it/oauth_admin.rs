//! The administration verbs of issue 12, through the real binary: `user
//! list` (source, role, status, last login), `user role`, `user delete`,
//! `grant list`, `grant revoke`, `client add --grant jwt-bearer`,
//! `--access-token-ttl`, unknown scopes refused, and `user add` asking for
//! the password twice without echo on a terminal (a real pseudo-terminal).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Opts, TestServer, binary};
use crate::db_test;
use crate::oauth_cli::{CALLBACK, add_client, add_user, alice_code, ok, refused, run};
use crate::oauth_flow::{exchange, tokens, valid};
use crate::oauth_resource::tool_names;
use crate::oauth_token::expect_tokens;

fn json_of(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// A token of `alice` through the login flow with client `id`.
async fn alice_token(srv: &TestServer, id: &str, secret: Option<&str>) -> Value {
    let (code, pkce) = alice_code(srv, id).await;
    expect_tokens(exchange(srv, id, secret, &code, &pkce.verifier, CALLBACK).await).await
}

/// Poll until `check` holds (at most `within`); how long it took.
async fn within<F, Fut>(within: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "not within {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

db_test!(
    user_list_shows_source_role_status_and_last_login,
    Opts::oauth(),
    |srv| {
        add_user(&srv, "alice", "editor");
        add_user(&srv, "bob", "viewer");
        ok(&run(&srv, &["user", "disable", "bob"], None));
        let (id, secret) = add_client(&srv, &["--redirect-uri", CALLBACK]);
        alice_token(&srv, &id, secret.as_deref()).await;
        let text = ok(&run(&srv, &["user", "list"], None));
        let header = text.lines().next().unwrap();
        for col in ["NAME", "SOURCE", "ROLE", "STATUS", "LAST LOGIN"] {
            assert!(header.contains(col), "{header}");
        }
        let alice = text.lines().find(|l| l.starts_with("alice")).unwrap();
        assert!(alice.contains("local") && alice.contains("editor") && alice.contains("active"));
        assert!(alice.contains('Z'), "a last login time: {alice}");
        let bob = text.lines().find(|l| l.starts_with("bob")).unwrap();
        assert!(bob.contains("disabled") && bob.contains(" - "), "{bob}");
        let list = json_of(&ok(&run(&srv, &["user", "list", "--format", "json"], None)));
        let a = list
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == "alice")
            .unwrap();
        assert_eq!(a["source"], "local");
        assert!(a["last_login_at"].is_i64());
        assert!(a.get("password_hash").is_none());
    }
);

db_test!(user_role_reaches_live_tokens, Opts::oauth(), |srv| {
    add_user(&srv, "alice", "editor");
    let (id, secret) = add_client(&srv, &["--redirect-uri", CALLBACK]);
    // An editor token with the write scope.
    let (code, pkce) = {
        let pkce = crate::oauth_flow::Pkce::new();
        let mut p = crate::oauth_flow::AuthorizeParams::new(
            &srv,
            &id,
            CALLBACK,
            "alice",
            crate::oauth_flow::PASSWORD,
            &pkce,
        );
        p.tick = Some(vec![
            crate::oauth_flow::READ.into(),
            crate::oauth_flow::WRITE.into(),
        ]);
        let back = crate::oauth_flow::authorize_code(&srv, &p).await.unwrap();
        (crate::oauth_flow::param(&back, "code").unwrap(), pkce)
    };
    let t = expect_tokens(
        exchange(
            &srv,
            &id,
            secret.as_deref(),
            &code,
            &pkce.verifier,
            CALLBACK,
        )
        .await,
    )
    .await;
    let token = t["access_token"].as_str().unwrap().to_owned();
    assert!(
        tool_names(&srv, &token)
            .await
            .contains(&"add_employee".to_owned())
    );
    refused(
        &run(&srv, &["user", "role", "alice", "admin"], None),
        "unknown role",
    );
    refused(
        &run(&srv, &["user", "role", "nobody", "viewer"], None),
        "no user",
    );
    ok(&run(&srv, &["user", "role", "alice", "viewer"], None));
    let took = within(Duration::from_secs(6), || {
        let token = token.clone();
        let srv = &srv;
        async move {
            !tool_names(srv, &token)
                .await
                .contains(&"add_employee".to_owned())
        }
    })
    .await;
    assert!(took <= Duration::from_secs(5), "{took:?}");
    // Read still works: the grant stands, bounded by the new role.
    assert!(
        tool_names(&srv, &token)
            .await
            .contains(&"get_employee_count".to_owned())
    );
});

db_test!(
    user_delete_removes_the_user_and_its_grants,
    Opts::oauth(),
    |srv| {
        add_user(&srv, "alice", "editor");
        let (id, secret) = add_client(&srv, &["--redirect-uri", CALLBACK]);
        let t = alice_token(&srv, &id, secret.as_deref()).await;
        let token = t["access_token"].as_str().unwrap();
        assert!(valid(&srv, token).await);
        ok(&run(&srv, &["user", "delete", "alice"], None));
        assert!(srv.state.db.user_by_name("alice").await.unwrap().is_none());
        assert!(!valid(&srv, token).await);
        let grants = srv.state.db.list_grants(None, None, 0).await.unwrap();
        assert!(grants.is_empty(), "{grants:?}");
        refused(&run(&srv, &["user", "delete", "alice"], None), "no user");
    }
);

db_test!(grant_list_and_revoke, Opts::oauth(), |srv| {
    add_user(&srv, "alice", "editor");
    add_user(&srv, "bob", "viewer");
    let (id, secret) = add_client(&srv, &["--redirect-uri", CALLBACK]);
    let t = alice_token(&srv, &id, secret.as_deref()).await;
    let token = t["access_token"].as_str().unwrap().to_owned();
    let bob = srv.state.db.user_by_name("bob").await.unwrap().unwrap();
    tokens(&srv, &id, Some(&bob.id), crate::oauth_flow::READ, false).await;
    let all = json_of(&ok(&run(
        &srv,
        &["grant", "list", "--format", "json"],
        None,
    )));
    assert_eq!(all.as_array().unwrap().len(), 2);
    let mine = json_of(&ok(&run(
        &srv,
        &["grant", "list", "--user", "alice", "--format", "json"],
        None,
    )));
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["user"], "alice");
    assert_eq!(mine[0]["client_id"], id.as_str());
    assert_eq!(mine[0]["live"], true);
    let by_client = json_of(&ok(&run(
        &srv,
        &["grant", "list", "--client", &id, "--format", "json"],
        None,
    )));
    assert_eq!(by_client.as_array().unwrap().len(), 2);
    let text = ok(&run(&srv, &["grant", "list"], None));
    assert!(text.lines().next().unwrap().contains("LAST USED"), "{text}");
    refused(
        &run(&srv, &["grant", "list", "--user", "nobody"], None),
        "no user",
    );
    let gid = mine[0]["id"].as_str().unwrap();
    ok(&run(&srv, &["grant", "revoke", gid], None));
    assert!(!valid(&srv, &token).await);
    refused(
        &run(&srv, &["grant", "revoke", gid], None),
        "no active grant",
    );
    let left = json_of(&ok(&run(
        &srv,
        &["grant", "list", "--format", "json"],
        None,
    )));
    assert_eq!(left.as_array().unwrap().len(), 1);
});

db_test!(client_add_refuses_unknown_scopes, Opts::oauth(), |srv| {
    let args = [
        "client",
        "add",
        "--name",
        "svc",
        "--grant",
        "client_credentials",
        "--scope",
        "employees:read tools:admin",
    ];
    refused(&run(&srv, &args, None), "unknown scope tools:admin");
    assert!(srv.state.db.list_clients().await.unwrap().is_empty());
});

db_test!(
    client_add_jwt_bearer_and_token_lifetime,
    Opts::oauth(),
    |srv| {
        // jwt-bearer combines with the code grant; --scope optional (all).
        let o = ok(&run(
            &srv,
            &[
                "client",
                "add",
                "--name",
                "Claude EMA",
                "--format",
                "json",
                "--grant",
                "authorization_code",
                "--grant",
                "jwt-bearer",
                "--access-token-ttl",
                "12h",
                "--redirect-uri",
                CALLBACK,
            ],
            None,
        ));
        let c = json_of(&o);
        let grants: Vec<&str> = c["grant_types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap())
            .collect();
        assert_eq!(
            grants,
            [
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:jwt-bearer"
            ]
        );
        assert_eq!(c["access_token_ttl_secs"], 43_200);
        let id = c["client_id"].as_str().unwrap();
        let stored = srv.state.db.client(id).await.unwrap().unwrap();
        assert_eq!(stored.access_token_ttl_secs, Some(43_200));
        // The client's own lifetime is what its tokens get.
        add_user(&srv, "alice", "editor");
        let t = alice_token(&srv, id, c["client_secret"].as_str()).await;
        assert_eq!(t["expires_in"], 43_200);
        // Refusals.
        for (extra, why) in [
            (vec!["--grant", "jwt-bearer", "--public"], "drop --public"),
            (
                vec!["--access-token-ttl", "31d"],
                "between 1 second and 30 days",
            ),
            (
                vec!["--grant", "jwt-bearer", "--redirect-uri", CALLBACK],
                "drop --redirect-uri",
            ),
        ] {
            let mut args = vec!["client", "add", "--name", "x"];
            args.extend(extra);
            let o = run(&srv, &args, None);
            assert!(!o.status.success());
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            assert!(err.contains(why), "{err}");
        }
    }
);

/// Drive `mcp-connector user add dora --role viewer` on a pseudo-terminal
/// (Python's `pty`): the password typed twice must never be echoed.
fn on_a_terminal(srv: &TestServer, first: &str, second: &str) -> (bool, String) {
    let script = r#"
import os, pty, sys, select
argv = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out = b""
def read_until(token, limit=10.0):
    global out
    import time
    end = time.time() + limit
    while token not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
read_until(b"Password: ")
os.write(fd, (os.environ["PW1"] + "\n").encode())
read_until(b"Repeat password: ")
os.write(fd, (os.environ["PW2"] + "\n").encode())
read_until(b"\x00", 10.0)
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(0 if os.waitstatus_to_exitcode(status) == 0 else 1)
"#;
    let bin = binary().get_program().to_owned();
    let o = tokio::task::block_in_place(|| {
        std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(bin)
            .args([
                "user",
                "add",
                "dora",
                "--role",
                "viewer",
                "--database-url",
                &srv.database_url,
            ])
            .env("PW1", first)
            .env("PW2", second)
            .output()
            .expect("python3 runs")
    });
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

db_test!(
    user_add_asks_twice_without_echo_on_a_terminal,
    Opts::oauth(),
    |srv| {
        let pw = "terminal typed password";
        let (success, screen) = on_a_terminal(&srv, pw, pw);
        assert!(success, "{screen}");
        assert!(
            screen.contains("Password: ") && screen.contains("Repeat password: "),
            "{screen}"
        );
        assert!(!screen.contains(pw), "the password was echoed: {screen}");
        let dora = srv
            .state
            .db
            .user_by_name("dora")
            .await
            .unwrap()
            .expect("added");
        assert!(mcp_connector_security::password::verify_password(
            &dora.password_hash,
            &mcp_connector_security::SecretString::new(pw)
        ));
        // Two different passwords: nothing is changed.
        ok(&run(&srv, &["user", "delete", "dora"], None));
        let (success, screen) = on_a_terminal(&srv, pw, "another typed password");
        assert!(!success, "{screen}");
        assert!(screen.contains("differ"), "{screen}");
        assert!(srv.state.db.user_by_name("dora").await.unwrap().is_none());
    }
);
