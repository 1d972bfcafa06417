//! The upstream sign-in against the fake provider of `idp`: what a correct
//! provider cannot produce (wrong nonce, issuer or audience, bad signature,
//! expired ID token, another authorized party), replayed and foreign
//! callbacks, the groups mapping, and a provider that is down or
//! misconfigured. The happy path with a certified provider and a browser
//! is in `upstream_op`.

// Tests may unwrap: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use mcp_connector::audit::store as audit_store;
use mcp_connector::clock::unix_now;
use mcp_connector::store::oauth::UserSource;
use mcp_connector_security::pkce::s256_challenge;
use serde_json::{Value, json};

use crate::common::{Backend, Opts, TestServer};
use crate::idp::{Behaviour, CLIENT_ID, FakeIdp, Setup, callback, come_back, start_upstream};
use crate::idp_test;
use crate::oauth_authorize::exchange_ok;
use crate::oauth_flow::{Page, READ, REDIRECT, WRITE, consent, location, param, scope_boxes};
use crate::oauth_resource::call;

/// An error page: status, no session, no code, no redirect, nothing internal.
async fn expect_refusal_page(res: reqwest::Response, status: u16, says: &str) {
    assert_eq!(res.status().as_u16(), status);
    assert!(res.headers().get("location").is_none());
    for c in res.headers().get_all("set-cookie") {
        assert!(!c.to_str().unwrap().contains("mcpc_session="), "{c:?}");
    }
    let html = res.text().await.unwrap();
    assert!(html.contains(says), "{html}");
    for internal in [
        "error sending request",
        "InvalidToken",
        "Unavailable",
        "panicked",
    ] {
        assert!(!html.contains(internal), "{internal} in {html}");
    }
    assert!(!html.contains("name=\"ticket\""));
}

async fn user_count(srv: &TestServer) -> usize {
    srv.state.db.list_users().await.unwrap().len()
}

/// Sign in with ID token claims `over` and expect the refusal page.
async fn refused_with(srv: &TestServer, idp: &FakeIdp, over: Value) {
    idp.behave(Behaviour {
        id_token: over,
        ..Behaviour::default()
    });
    let s = start_upstream(srv, idp).await;
    let res = come_back(srv, idp, &s).await;
    expect_refusal_page(res, 400, "could not be verified").await;
    assert_eq!(user_count(srv).await, 0, "no account from a rejected token");
}

idp_test!(
    sign_in_creates_the_account_and_reaches_the_tools,
    false,
    |idp, srv| {
        let s = start_upstream(&srv, &idp).await;
        // PKCE S256, state, nonce, our redirect URI and the configured scopes.
        let up = &s.provider_url;
        assert_eq!(param(up, "code_challenge_method").as_deref(), Some("S256"));
        assert_eq!(param(up, "client_id").as_deref(), Some(CLIENT_ID));
        assert_eq!(
            param(up, "redirect_uri"),
            Some(format!("{}/oauth/upstream/callback", srv.base))
        );
        assert_eq!(
            param(up, "scope").as_deref(),
            Some("openid email profile groups")
        );
        let res = come_back(&srv, &idp, &s).await;
        assert_eq!(res.status().as_u16(), 200);
        let cookies: Vec<String> = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|c| c.to_str().unwrap().to_owned())
            .collect();
        let session = cookies
            .iter()
            .find(|c| c.starts_with("mcpc_session="))
            .expect("a session cookie");
        for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
            assert!(session.contains(attr), "{session}");
        }
        let page = Page {
            status: 200,
            html: res.text().await.unwrap(),
            cookie: s.jar.get("mcpc_csrf").map(|v| format!("mcpc_csrf={v}")),
        };
        assert!(
            page.html.contains("id=\"signed-in\">alice<"),
            "{}",
            page.html
        );
        // The token request: Basic client authentication and the verifier of
        // the challenge sent.
        let sent = idp.token_requests();
        let last = sent.last().unwrap();
        assert_eq!(last["grant_type"], "authorization_code");
        assert!(last["authorization"].starts_with("Basic "));
        assert!(!last.contains_key("client_secret"));
        assert_eq!(
            s256_challenge(&last["code_verifier"]),
            param(up, "code_challenge").unwrap()
        );
        // The account: upstream, keyed by (issuer, sub), named by preferred_username.
        let user = srv
            .state
            .db
            .user_by_subject(&idp.issuer, "sub-alice")
            .await
            .unwrap()
            .expect("created just in time");
        assert_eq!(user.source, UserSource::Upstream);
        assert_eq!(user.username, "alice");
        assert_eq!(user.email.as_deref(), Some("alice@example.com"));
        assert_eq!(user.display_name.as_deref(), Some("Alice Example"));
        assert_eq!(user.role, "editor");
        assert!(user.last_login_at.is_some());
        // Consent (an editor may tick write), code, token, a tool call.
        let boxes = scope_boxes(&page.html);
        assert_eq!(
            boxes,
            vec![(READ.to_owned(), true), (WRITE.to_owned(), false)]
        );
        let url = consent(&srv, &page, &[READ.into()]).await.unwrap();
        let tokens = exchange_ok(&srv, &s.params, &s.pkce, &url).await;
        let token = tokens["access_token"].as_str().unwrap();
        let (status, reply) = call(
            &srv,
            token,
            "get_employee_count",
            json!({"department": "engineering"}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(reply["result"]["structuredContent"]["count"], 42);
    }
);

idp_test!(wrong_nonce_is_refused, false, |idp, srv| {
    refused_with(&srv, &idp, json!({"nonce": "not-the-nonce-we-sent"})).await;
});

idp_test!(missing_nonce_is_refused, false, |idp, srv| {
    refused_with(&srv, &idp, json!({"nonce": null})).await;
});

idp_test!(wrong_issuer_is_refused, false, |idp, srv| {
    refused_with(&srv, &idp, json!({"iss": "https://login.evil.example"})).await;
});

idp_test!(wrong_audience_is_refused, false, |idp, srv| {
    refused_with(&srv, &idp, json!({"aud": "another-client"})).await;
});

idp_test!(another_authorized_party_is_refused, false, |idp, srv| {
    refused_with(
        &srv,
        &idp,
        json!({"aud": [CLIENT_ID, "another-client"], "azp": "another-client"}),
    )
    .await;
});

idp_test!(expired_id_token_is_refused, false, |idp, srv| {
    let now = unix_now();
    refused_with(&srv, &idp, json!({"iat": now - 900, "exp": now - 600})).await;
});

idp_test!(bad_signature_is_refused, false, |idp, srv| {
    idp.behave(Behaviour {
        foreign_key: true,
        ..Behaviour::default()
    });
    let s = start_upstream(&srv, &idp).await;
    let res = come_back(&srv, &idp, &s).await;
    expect_refusal_page(res, 400, "could not be verified").await;
    assert_eq!(user_count(&srv).await, 0);
});

idp_test!(replayed_state_is_refused, false, |idp, srv| {
    let s = start_upstream(&srv, &idp).await;
    let first = come_back(&srv, &idp, &s).await;
    assert_eq!(first.status().as_u16(), 200);
    let again = come_back(&srv, &idp, &s).await;
    expect_refusal_page(again, 400, "already used").await;
    // The provider was asked for tokens once only.
    assert_eq!(idp.token_requests().len(), 1);
});

idp_test!(callback_in_another_browser_is_refused, false, |idp, srv| {
    let s = start_upstream(&srv, &idp).await;
    let state = s.state();
    let stranger = crate::idp::Jar::default();
    let res = callback(&srv, &stranger, &[("code", "c"), ("state", &state)]).await;
    expect_refusal_page(res, 403, "could not be matched to this browser").await;
    assert!(idp.token_requests().is_empty(), "no code was redeemed");
});

idp_test!(
    unknown_state_and_mixed_up_issuer_are_refused,
    false,
    |idp, srv| {
        let s = start_upstream(&srv, &idp).await;
        let res = callback(&srv, &s.jar, &[("code", "c"), ("state", "made-up")]).await;
        expect_refusal_page(res, 400, "incomplete or was altered").await;
        let state = s.state();
        let res = callback(
            &srv,
            &s.jar,
            &[
                ("code", "c"),
                ("state", &state),
                ("iss", "https://other.example"),
            ],
        )
        .await;
        expect_refusal_page(res, 400, "incomplete or was altered").await;
        assert!(idp.token_requests().is_empty());
    }
);

idp_test!(
    user_in_no_mapped_group_goes_back_with_access_denied,
    false,
    |idp, srv| {
        idp.behave(Behaviour {
            id_token: json!({"groups": ["sales"]}),
            ..Behaviour::default()
        });
        let s = start_upstream(&srv, &idp).await;
        let res = come_back(&srv, &idp, &s).await;
        assert_eq!(res.status().as_u16(), 303);
        let url = location(&res).unwrap();
        assert!(url.as_str().starts_with(REDIRECT), "{url}");
        assert_eq!(param(&url, "error").as_deref(), Some("access_denied"));
        assert_eq!(param(&url, "state"), s.params.state);
        assert_eq!(param(&url, "code"), None);
        assert_eq!(user_count(&srv).await, 0);
        let rows = audit_store::since(&srv.state.db, 0, 1000).await.unwrap();
        assert!(
            rows.iter().any(|r| r
                .arguments
                .as_deref()
                .unwrap_or("")
                .contains("upstream_login_refused")),
            "the refusal is audited"
        );
    }
);

idp_test!(
    provider_refusal_goes_back_with_access_denied,
    false,
    |idp, srv| {
        let s = start_upstream(&srv, &idp).await;
        let state = s.state();
        let res = callback(
            &srv,
            &s.jar,
            &[("error", "access_denied"), ("state", &state)],
        )
        .await;
        assert_eq!(res.status().as_u16(), 303);
        let url = location(&res).unwrap();
        assert_eq!(param(&url, "error").as_deref(), Some("access_denied"));
    }
);

idp_test!(
    groups_come_from_userinfo_when_the_id_token_has_none,
    false,
    |idp, srv| {
        idp.behave(Behaviour {
            id_token: json!({"groups": null}),
            userinfo: json!({"groups": ["mcp-viewers"]}),
            ..Behaviour::default()
        });
        let s = start_upstream(&srv, &idp).await;
        let res = come_back(&srv, &idp, &s).await;
        assert_eq!(res.status().as_u16(), 200);
        let html = res.text().await.unwrap();
        // A viewer is offered read only.
        assert_eq!(scope_boxes(&html), vec![(READ.to_owned(), true)]);
        let u = srv.state.db.user_by_name("alice").await.unwrap().unwrap();
        assert_eq!(u.role, "viewer");
    }
);

idp_test!(each_sign_in_maps_the_groups_again, false, |idp, srv| {
    let s = start_upstream(&srv, &idp).await;
    assert_eq!(come_back(&srv, &idp, &s).await.status().as_u16(), 200);
    idp.behave(Behaviour {
        id_token: json!({"groups": ["mcp-viewers"], "email": "alice@new.example"}),
        ..Behaviour::default()
    });
    let s = start_upstream(&srv, &idp).await;
    assert_eq!(come_back(&srv, &idp, &s).await.status().as_u16(), 200);
    let users = srv.state.db.list_users().await.unwrap();
    assert_eq!(users.len(), 1, "one account per (issuer, sub)");
    assert_eq!(users[0].role, "viewer");
    assert_eq!(users[0].email.as_deref(), Some("alice@new.example"));
});

idp_test!(a_disabled_account_is_told_so, false, |idp, srv| {
    let s = start_upstream(&srv, &idp).await;
    assert_eq!(come_back(&srv, &idp, &s).await.status().as_u16(), 200);
    srv.state
        .db
        .set_user_disabled("alice", true, unix_now())
        .await
        .unwrap();
    let s = start_upstream(&srv, &idp).await;
    let res = come_back(&srv, &idp, &s).await;
    expect_refusal_page(res, 403, "Your account on this server is disabled").await;
});

idp_test!(a_taken_name_falls_back_to_the_email, false, |idp, srv| {
    crate::oauth_flow::add_user(&srv, "alice", "correct horse battery", "viewer").await;
    let s = start_upstream(&srv, &idp).await;
    assert_eq!(come_back(&srv, &idp, &s).await.status().as_u16(), 200);
    let u = srv
        .state
        .db
        .user_by_subject(&idp.issuer, "sub-alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.username, "alice@example.com");
    // The local alice cannot be taken over by the upstream one.
    let local = srv.state.db.user_by_name("alice").await.unwrap().unwrap();
    assert_eq!(local.source, UserSource::Local);
});

idp_test!(
    the_provider_refusing_the_code_is_a_clear_page,
    false,
    |idp, srv| {
        idp.behave(Behaviour {
            error: Some((400, "invalid_grant")),
            ..Behaviour::default()
        });
        let s = start_upstream(&srv, &idp).await;
        let res = come_back(&srv, &idp, &s).await;
        expect_refusal_page(res, 400, "did not accept the sign-in").await;
        idp.behave(Behaviour {
            error: Some((500, "server_error")),
            ..Behaviour::default()
        });
        let s = start_upstream(&srv, &idp).await;
        let res = come_back(&srv, &idp, &s).await;
        expect_refusal_page(res, 503, "could not be reached").await;
    }
);

/// A server whose provider is `issuer` (not a running fake provider).
async fn server_for(issuer: String, local_logins: bool) -> TestServer {
    crate::idp::SETUP.with(|s| {
        *s.borrow_mut() = Some(Setup {
            issuer,
            local_logins,
            default_role: None,
            recheck: None,
        })
    });
    let opts = Opts {
        tweak: Some(crate::idp::with_upstream),
        ..Opts::oauth()
    };
    TestServer::try_spawn(Backend::Sqlite, opts).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_unreachable_is_a_clear_page() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let srv = server_for(issuer, false).await;
    let (client, _) = crate::oauth_flow::add_client(&srv, "Claude", &[REDIRECT], false).await;
    let p = crate::oauth_flow::AuthorizeParams::new(
        &srv,
        &client,
        REDIRECT,
        "",
        "",
        &crate::oauth_flow::Pkce::new(),
    );
    let res = srv.client.get(p.url(&srv)).send().await.unwrap();
    assert_eq!(res.headers()["retry-after"], "30");
    expect_refusal_page(res, 503, "could not be reached").await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_with_another_issuer_is_a_misconfiguration_page() {
    let idp = FakeIdp::start().await;
    // The discovery document says `http://127.0.0.1:PORT`, not this.
    let srv = server_for(format!("{}/", idp.issuer), true).await;
    let (client, _) = crate::oauth_flow::add_client(&srv, "Claude", &[REDIRECT], false).await;
    let p = crate::oauth_flow::AuthorizeParams::new(
        &srv,
        &client,
        REDIRECT,
        "",
        "",
        &crate::oauth_flow::Pkce::new(),
    );
    // Local logins on: the chooser page, then the company button.
    let page = crate::oauth_flow::start(&srv, &p).await.unwrap();
    assert!(page.html.contains("id=\"upstream\"") && page.html.contains("id=\"login\""));
    let res = crate::oauth_flow::post_form(
        &srv,
        page.cookie.as_deref(),
        &[
            ("step", "upstream"),
            ("request", &page.field("request").unwrap()),
            ("csrf", &page.field("csrf").unwrap()),
        ],
    )
    .await;
    expect_refusal_page(res, 502, "not set up correctly").await;
    srv.stop().await;
}
