//! The admin console (issue 14, item 3) over real HTTP, like a browser
//! without JavaScript: sign-in redirect, the `admin` permission, every page
//! with real data, revoking a client (its token fails at once), CSRF on
//! every post, disabling a user, the audit filters and the chain check, and
//! the console's own actions in the audit trail.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mcp_connector::audit::store as audit_store;
use mcp_connector::config::Config;
use serde_json::{Value, json};

use crate::common::{Opts, TestServer};
use crate::db_test;
use crate::idp::Jar;
use crate::oauth_flow::{ClientSpec, PASSWORD, READ, add_user, field, insert_client, mint};
use crate::oauth_resource::call;

/// `GET path` with `jar`'s cookies (keeping what it sets).
async fn get(srv: &TestServer, jar: &mut Jar, path: &str) -> reqwest::Response {
    let res = srv
        .client
        .get(format!("{}{path}", srv.base))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    jar.take(&res);
    res
}

/// `POST path` with a form and `jar`'s cookies.
async fn post(srv: &TestServer, jar: &Jar, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    srv.client
        .post(format!("{}{path}", srv.base))
        .header("cookie", jar.header())
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Sign `username` in at `/signin`, returning to `/admin`.
async fn sign_in(srv: &TestServer, username: &str) -> Jar {
    let mut jar = Jar::default();
    let page = get(srv, &mut jar, "/signin?return_to=%2Fadmin").await;
    assert_eq!(page.status(), 200);
    let csrf = field(&page.text().await.unwrap(), "csrf").unwrap();
    let res = post(
        srv,
        &jar,
        "/signin",
        &[
            ("step", "login"),
            ("return_to", "/admin"),
            ("csrf", &csrf),
            ("username", username),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(res.status(), 303, "sign-in of {username}");
    assert_eq!(res.headers()["location"], "/admin");
    jar.take(&res);
    jar
}

/// An administrator `root` and a viewer `alice`: (root's id, alice's id).
pub async fn people(srv: &TestServer) -> (String, String) {
    let root = add_user(srv, "root", PASSWORD, "admin").await;
    let alice = add_user(srv, "alice", PASSWORD, "viewer").await;
    (root, alice)
}

/// A page of the console as the signed-in `jar`: (status, HTML, CSRF field).
async fn page(srv: &TestServer, jar: &mut Jar, path: &str) -> (u16, String, Option<String>) {
    let res = get(srv, jar, path).await;
    let status = res.status().as_u16();
    if status == 200 {
        let csp = res.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("script-src"),
            "{csp}"
        );
        assert_eq!(res.headers()["cache-control"], "no-store");
    }
    let html = res.text().await.unwrap();
    let csrf = field(&html, "csrf");
    (status, html, csrf)
}

/// The audit records whose `arguments.event` is `event`, parsed.
async fn events(srv: &TestServer, event: &str) -> Vec<(Option<String>, Value)> {
    // The audit writer commits in batches: wait for a moment's worth.
    tokio::time::sleep(Duration::from_millis(100)).await;
    audit_store::tail(&srv.state.db, 500)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| {
            let args: Value = serde_json::from_str(r.arguments.as_deref()?).ok()?;
            (args["event"] == event).then_some((r.subject, args))
        })
        .collect()
}

/// `auth.mode = "oauth"` with the default roles plus `admin`, which holds
/// the console's permission (no default role does).
pub fn console() -> Opts {
    Opts {
        tweak: Some(|c: &mut Config| {
            let (read, write) = c.tool_scope_names();
            let entries = |e: &[&str]| e.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
            c.auth.roles = BTreeMap::from([
                ("viewer".to_owned(), entries(&[read])),
                ("editor".to_owned(), entries(&[read, write])),
                ("admin".to_owned(), entries(&[read, write, "admin"])),
            ]);
        }),
        ..Opts::oauth()
    }
}

const PAGES: [&str; 6] = [
    "/admin",
    "/admin/clients",
    "/admin/users",
    "/admin/grants",
    "/admin/tools",
    "/admin/audit",
];

db_test!(no_session_is_sent_to_sign_in, console(), |srv| {
    for path in PAGES.into_iter().chain(["/admin/audit/1"]) {
        let res = srv
            .client
            .get(format!("{}{path}", srv.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{path}");
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        let expected = format!(
            "/signin?return_to={}",
            url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
        );
        assert_eq!(location, expected);
    }
    // A post without a session changes nothing either.
    let (client, _) = insert_client(&srv, &ClientSpec::default()).await;
    let res = srv
        .client
        .post(format!("{}/admin/clients/revoke", srv.base))
        .form(&[("id", client.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(
        srv.state
            .db
            .client(&client)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
});

db_test!(
    a_role_without_the_admin_permission_gets_403,
    console(),
    |srv| {
        let (_, _) = people(&srv).await;
        let mut jar = sign_in(&srv, "alice").await;
        for path in PAGES {
            let (status, html, _) = page(&srv, &mut jar, path).await;
            assert_eq!(status, 403, "{path}");
            assert!(html.contains("Not an administrator"), "{html}");
            assert!(!html.contains("<table"), "{path} leaks data");
        }
        // Even with a valid CSRF token, a viewer's post is refused.
        let (client, _) = insert_client(&srv, &ClientSpec::default()).await;
        let csrf = jar.get("mcpc_csrf").unwrap().to_owned();
        let res = post(
            &srv,
            &jar,
            "/admin/clients/revoke",
            &[("csrf", &csrf), ("id", &client)],
        )
        .await;
        assert_eq!(res.status(), 403);
        assert!(
            srv.state
                .db
                .client(&client)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_none()
        );
    }
);

db_test!(no_default_role_opens_the_console, Opts::oauth(), |srv| {
    add_user(&srv, "ed", PASSWORD, "editor").await;
    let mut jar = sign_in(&srv, "ed").await;
    let (status, _, _) = page(&srv, &mut jar, "/admin").await;
    assert_eq!(status, 403);
});

db_test!(every_page_shows_real_data, console(), |srv| {
    let (_, alice) = people(&srv).await;
    let spec = ClientSpec {
        name: "Reporting <tool>",
        ..ClientSpec::default()
    };
    let (client, _) = insert_client(&srv, &spec).await;
    let (token, grant) = mint(&srv, &client, Some(&alice), READ).await;
    let (status, _) = call(
        &srv,
        &token,
        "get_employee_count",
        json!({"department": "engineering"}),
    )
    .await;
    assert_eq!(status, 200);
    let mut jar = sign_in(&srv, "root").await;

    let (status, html, _) = page(&srv, &mut jar, "/admin").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(env!("CARGO_PKG_VERSION")) && html.contains("oauth"),
        "{html}"
    );
    assert!(html.contains(&format!("{}/mcp", srv.base)), "{html}");
    assert!(
        html.contains("<dt>Tool calls (audit trail)</dt><dd>1</dd>"),
        "{html}"
    );
    assert!(html.contains("<dt>Users</dt><dd>2</dd>"), "{html}");
    assert!(html.contains("<dt>Active grants</dt><dd>1</dd>"), "{html}");

    let (_, html, csrf) = page(&srv, &mut jar, "/admin/clients").await;
    assert!(html.contains(&client) && html.contains(&format!("id=\"revoke-{client}\"")));
    assert!(html.contains("Reporting &lt;tool&gt;") && !html.contains("<tool>"));
    assert!(csrf.is_some(), "forms carry the CSRF field");

    let (_, html, _) = page(&srv, &mut jar, "/admin/users").await;
    assert!(
        html.contains("alice") && html.contains("viewer") && html.contains("id=\"disable-alice\"")
    );
    // No button to disable yourself.
    assert!(!html.contains("id=\"disable-root\""));

    let (_, html, _) = page(&srv, &mut jar, "/admin/grants").await;
    assert!(html.contains(&grant) && html.contains(READ), "{html}");
    let (_, html, _) = page(&srv, &mut jar, "/admin/grants?user=alice").await;
    assert!(html.contains(&grant));
    let (status, html, _) = page(&srv, &mut jar, "/admin/grants?user=nobody").await;
    assert_eq!(status, 404);
    assert!(!html.contains(&grant));

    let (_, html, _) = page(&srv, &mut jar, "/admin/tools").await;
    let served = srv.state.mcp.live.load();
    for t in served.catalog.tools().definitions() {
        assert!(
            html.contains(&format!("<code>{}</code>", t.name)),
            "{} missing",
            t.name
        );
    }
    assert!(html.contains("employees:write") && html.contains("read-only"));
    assert!(html.contains("No tools lock is configured"));

    let (_, html, _) = page(&srv, &mut jar, "/admin/audit").await;
    assert!(
        html.contains("get_employee_count") && html.contains("login_succeeded"),
        "{html}"
    );
    let seq = audit_store::tail(&srv.state.db, 1).await.unwrap()[0].seq;
    let (status, html, _) = page(&srv, &mut jar, &format!("/admin/audit/{seq}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Previous hash") && html.contains("id=\"record\""));
    let (status, _, _) = page(&srv, &mut jar, "/admin/audit/999999").await;
    assert_eq!(status, 404);
});

db_test!(revoking_a_client_ends_its_token_at_once, console(), |srv| {
    let (root, alice) = people(&srv).await;
    let (client, _) = insert_client(&srv, &ClientSpec::default()).await;
    let (token, _) = mint(&srv, &client, Some(&alice), READ).await;
    let args = json!({"department": "engineering"});
    // Validated once: the token is in the cache from here on.
    assert_eq!(
        call(&srv, &token, "get_employee_count", args.clone())
            .await
            .0,
        200
    );

    let mut jar = sign_in(&srv, "root").await;
    let (_, _, csrf) = page(&srv, &mut jar, "/admin/clients").await;
    let res = post(
        &srv,
        &jar,
        "/admin/clients/revoke",
        &[("csrf", &csrf.unwrap()), ("id", &client)],
    )
    .await;
    assert_eq!(res.status(), 303);
    let back = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with("/admin/clients?done=client_revoked"),
        "{back}"
    );
    let start = Instant::now();
    loop {
        if call(&srv, &token, "get_employee_count", args.clone())
            .await
            .0
            == 401
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "token still accepted after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("revoked client's token refused after {:?}", start.elapsed());
    assert!(
        srv.state
            .db
            .client(&client)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    let (_, html, _) = page(&srv, &mut jar, &back).await;
    assert!(html.contains("id=\"notice\"") && !html.contains(&format!("id=\"revoke-{client}\"")));
    // Recorded under the administrator's name.
    let recorded = events(&srv, "client_revoked").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].0.as_deref(),
        Some(format!("user:{root}").as_str())
    );
    assert_eq!(recorded[0].1["via"], "admin_console");
});

db_test!(
    posts_without_the_right_csrf_token_change_nothing,
    console(),
    |srv| {
        let (_, alice) = people(&srv).await;
        let (client, _) = insert_client(&srv, &ClientSpec::default()).await;
        let (_, grant) = mint(&srv, &client, Some(&alice), READ).await;
        let mut jar = sign_in(&srv, "root").await;
        let _ = page(&srv, &mut jar, "/admin/clients").await;
        let wrong = "A".repeat(43);
        for (path, field_name, value) in [
            ("/admin/clients/revoke", "id", client.as_str()),
            ("/admin/grants/revoke", "id", grant.as_str()),
            ("/admin/users/disable", "username", "alice"),
        ] {
            for csrf in [None, Some(wrong.as_str()), Some("")] {
                let mut form = vec![(field_name, value)];
                if let Some(c) = csrf {
                    form.push(("csrf", c));
                }
                let res = post(&srv, &jar, path, &form).await;
                assert_eq!(res.status(), 403, "{path} with {csrf:?}");
                assert!(res.text().await.unwrap().contains("Nothing was changed"));
            }
        }
        let res = post(&srv, &jar, "/admin/audit/verify", &[]).await;
        assert_eq!(res.status(), 403);
        assert!(
            srv.state
                .db
                .client(&client)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_none()
        );
        let grants = srv
            .state
            .db
            .list_grants(None, None, mcp_connector::clock::unix_now())
            .await
            .unwrap();
        assert!(grants.iter().any(|g| g.id == grant));
        assert!(
            !srv.state
                .db
                .user_by_name("alice")
                .await
                .unwrap()
                .unwrap()
                .disabled
        );
        assert!(events(&srv, "client_revoked").await.is_empty());
    }
);

db_test!(disable_and_enable_a_user, console(), |srv| {
    let (_, alice) = people(&srv).await;
    let (client, _) = insert_client(&srv, &ClientSpec::default()).await;
    let (token, _) = mint(&srv, &client, Some(&alice), READ).await;
    let args = json!({"department": "engineering"});
    assert_eq!(
        call(&srv, &token, "get_employee_count", args.clone())
            .await
            .0,
        200
    );
    let mut jar = sign_in(&srv, "root").await;
    let (_, _, csrf) = page(&srv, &mut jar, "/admin/users").await;
    let csrf = csrf.unwrap();
    let res = post(
        &srv,
        &jar,
        "/admin/users/disable",
        &[("csrf", &csrf), ("username", "alice")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(
        srv.state
            .db
            .user_by_name("alice")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert_eq!(call(&srv, &token, "get_employee_count", args).await.0, 401);
    let (_, html, _) = page(&srv, &mut jar, "/admin/users").await;
    assert!(html.contains("id=\"enable-alice\""), "{html}");
    // The administrator cannot lock themselves out.
    let res = post(
        &srv,
        &jar,
        "/admin/users/disable",
        &[("csrf", &csrf), ("username", "root")],
    )
    .await;
    assert_eq!(res.status(), 409);
    assert!(
        !srv.state
            .db
            .user_by_name("root")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    let res = post(
        &srv,
        &jar,
        "/admin/users/disable",
        &[("csrf", &csrf), ("username", "nobody")],
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = post(
        &srv,
        &jar,
        "/admin/users/enable",
        &[("csrf", &csrf), ("username", "alice")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(
        !srv.state
            .db
            .user_by_name("alice")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert_eq!(events(&srv, "user_disabled").await.len(), 1);
    assert_eq!(events(&srv, "user_enabled").await.len(), 1);
});

db_test!(revoke_a_grant, console(), |srv| {
    let (_, alice) = people(&srv).await;
    let (client, _) = insert_client(&srv, &ClientSpec::default()).await;
    let (token, grant) = mint(&srv, &client, Some(&alice), READ).await;
    let args = json!({"department": "engineering"});
    assert_eq!(
        call(&srv, &token, "get_employee_count", args.clone())
            .await
            .0,
        200
    );
    let mut jar = sign_in(&srv, "root").await;
    let (_, _, csrf) = page(&srv, &mut jar, "/admin/grants").await;
    let res = post(
        &srv,
        &jar,
        "/admin/grants/revoke",
        &[("csrf", &csrf.unwrap()), ("id", &grant)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(call(&srv, &token, "get_employee_count", args).await.0, 401);
    let recorded = events(&srv, "grant_revoked_by_operator").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].1["grant"], grant.as_str());
});

db_test!(audit_filters_and_chain_check, console(), |srv| {
    let (root, alice) = people(&srv).await;
    let (client, _) = insert_client(&srv, &ClientSpec::default()).await;
    let (token, _) = mint(&srv, &client, Some(&alice), READ).await;
    for d in ["engineering", "sales"] {
        let (status, _) = call(&srv, &token, "get_employee_count", json!({"department": d})).await;
        assert_eq!(status, 200);
    }
    let mut jar = sign_in(&srv, "root").await;
    let rows = |html: &str| html.matches("<tr><td><a href=\"/admin/audit/").count();

    let (status, html, _) = page(&srv, &mut jar, "/admin/audit?user=alice").await;
    assert_eq!(status, 200);
    assert!(rows(&html) >= 2, "alice's two calls: {html}");
    assert_eq!(
        html.matches("<td>get_employee_count</td><td>get_employee_count</td>")
            .count(),
        2
    );
    assert!(
        !html.contains("login_succeeded"),
        "root's sign-in is not alice's"
    );
    let (_, html, _) = page(&srv, &mut jar, "/admin/audit?tool=get_employee_count").await;
    assert_eq!(rows(&html), 2);
    let (_, html, _) = page(&srv, &mut jar, &format!("/admin/audit?user=user%3A{root}")).await;
    assert!(html.contains("login_succeeded") && !html.contains("get_employee_count"));
    let (_, html, _) = page(
        &srv,
        &mut jar,
        &format!("/admin/audit?client={client}&tool=nothing"),
    )
    .await;
    assert_eq!(rows(&html), 0);
    assert!(html.contains("No records match."));
    let (_, html, _) = page(&srv, &mut jar, "/admin/audit?from=2099-01-01").await;
    assert_eq!(rows(&html), 0);
    let (_, html, _) = page(
        &srv,
        &mut jar,
        "/admin/audit?to=2099-01-01&tool=get_employee_count",
    )
    .await;
    assert_eq!(rows(&html), 2);
    let (_, html, _) = page(&srv, &mut jar, "/admin/audit?from=2000-01-01&to=2000-12-31").await;
    assert_eq!(rows(&html), 0);
    let (status, html, _) = page(&srv, &mut jar, "/admin/audit?from=yesterday").await;
    assert_eq!(status, 400);
    assert!(html.contains("must be a UTC time"));
    let (status, _, _) = page(&srv, &mut jar, "/admin/audit?user=nobody").await;
    assert_eq!(status, 400);

    let (_, _, csrf) = page(&srv, &mut jar, "/admin/audit").await;
    let res = post(
        &srv,
        &jar,
        "/admin/audit/verify",
        &[("csrf", &csrf.unwrap())],
    )
    .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("chain intact"), "{html}");
    let recorded = events(&srv, "audit_verified").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].1["intact"], true);
    assert_eq!(
        recorded[0].0.as_deref(),
        Some(format!("user:{root}").as_str())
    );
});
