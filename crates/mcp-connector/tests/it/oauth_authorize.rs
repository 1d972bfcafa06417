//! `GET /authorize`: request validation, redirect URI rules, PKCE, resource
//! and scope parsing, over real HTTP (see `oauth_flow` for the browser-like
//! driver; the login and consent steps are tested in `oauth_login`).

// Tests may unwrap: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use serde_json::Value;

use crate::common::{Opts, TestServer};
use crate::db_test;
use crate::oauth_flow::{
    AuthorizeParams, PASSWORD, Page, Pkce, READ, REDIRECT, WRITE, add_client, add_user,
    authorize_code, consent, csrf_cookie, exchange, location, login, param, start, start_raw,
};

/// A client with [`REDIRECT`], an `editor` user `alice`, and parameters
/// for them.
pub async fn setup(srv: &TestServer, role: &str) -> (AuthorizeParams, Pkce) {
    let (client, _) = add_client(srv, "Test App", &[REDIRECT], false).await;
    add_user(srv, "alice", PASSWORD, role).await;
    let pkce = Pkce::new();
    let p = AuthorizeParams::new(srv, &client, REDIRECT, "alice", PASSWORD, &pkce);
    (p, pkce)
}

/// Assert an error redirect to [`REDIRECT`] with `error` = `code`, the
/// request's state, `iss`, and no `code`.
pub fn expect_error_redirect(
    srv: &TestServer,
    res: &reqwest::Response,
    p: &AuthorizeParams,
    code: &str,
) {
    assert_eq!(res.status().as_u16(), 303, "expected a redirect");
    let url = location(res).expect("Location");
    assert!(url.as_str().starts_with(REDIRECT), "{url}");
    assert_eq!(param(&url, "error").as_deref(), Some(code), "{url}");
    assert!(param(&url, "error_description").is_some());
    assert_eq!(param(&url, "state"), p.state);
    assert_eq!(param(&url, "iss").as_deref(), Some(srv.base.as_str()));
    assert_eq!(param(&url, "code"), None);
}

/// Assert a 400 error page without any redirect.
async fn expect_error_page(res: reqwest::Response) {
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.headers().get("location").is_none());
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = res.text().await.unwrap();
    assert!(!html.contains("<form"), "error page with a form");
}

pub async fn exchange_ok(
    srv: &TestServer,
    p: &AuthorizeParams,
    pkce: &Pkce,
    url: &url::Url,
) -> Value {
    let code = param(url, "code").expect("code");
    let res = exchange(
        srv,
        &p.client_id,
        None,
        &code,
        &pkce.verifier,
        &p.redirect_uri,
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    res.json().await.unwrap()
}

db_test!(
    happy_path_redirects_with_code_state_and_iss,
    Opts::oauth(),
    |srv| {
        let (mut p, pkce) = setup(&srv, "editor").await;
        // State is returned verbatim, whatever it contains.
        p.state = Some("a b&c=d/é+%".into());
        p.scope = Some(format!("{READ} {WRITE}"));
        let url = authorize_code(&srv, &p).await.expect("redirect");
        assert!(url.as_str().starts_with(&format!("{REDIRECT}?")), "{url}");
        let codes: Vec<_> = url.query_pairs().filter(|(k, _)| k == "code").collect();
        assert_eq!(codes.len(), 1, "{url}");
        assert!(codes[0].1.starts_with("mcpac_"));
        assert_eq!(param(&url, "state"), p.state);
        assert_eq!(param(&url, "iss").as_deref(), Some(srv.base.as_str()));
        let tokens = exchange_ok(&srv, &p, &pkce, &url).await;
        assert_eq!(tokens["scope"], format!("{READ} {WRITE}"));
    }
);

db_test!(
    redirect_keeps_existing_query_and_omits_absent_state,
    Opts::oauth(),
    |srv| {
        let with_query = "https://client.example/cb?tenant=7";
        let (client, _) = add_client(&srv, "App", &[with_query], false).await;
        add_user(&srv, "alice", PASSWORD, "viewer").await;
        let pkce = Pkce::new();
        let mut p = AuthorizeParams::new(&srv, &client, with_query, "alice", PASSWORD, &pkce);
        p.state = None;
        let url = authorize_code(&srv, &p).await.expect("redirect");
        assert_eq!(param(&url, "tenant").as_deref(), Some("7"));
        assert!(param(&url, "code").is_some());
        assert_eq!(param(&url, "state"), None);
    }
);

db_test!(
    redirect_uri_may_be_omitted_with_one_registered,
    Opts::oauth(),
    |srv| {
        let (p, pkce) = setup(&srv, "viewer").await;
        let mut url = p.url(&srv);
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "redirect_uri")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        let res = srv.client.get(url).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let cookie = csrf_cookie(&res);
        let page = Page {
            status: 200,
            html: res.text().await.unwrap(),
            cookie,
        };
        let consent_page = login(&srv, &page, "alice", PASSWORD).await.unwrap();
        let url = consent(&srv, &consent_page, &[READ.into()]).await.unwrap();
        assert!(url.as_str().starts_with(REDIRECT));
        exchange_ok(&srv, &p, &pkce, &url).await;
    }
);

db_test!(
    missing_code_challenge_is_invalid_request,
    Opts::oauth(),
    |srv| {
        let (p, _) = setup(&srv, "viewer").await;
        let mut url = p.url(&srv);
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !k.starts_with("code_challenge"))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        let res = srv.client.get(url).send().await.unwrap();
        expect_error_redirect(&srv, &res, &p, "invalid_request");
    }
);

/// `GET /authorize` with `code_challenge_method` replaced by `method`
/// (`None`: absent).
async fn with_method(
    srv: &TestServer,
    p: &AuthorizeParams,
    method: Option<&str>,
) -> reqwest::Response {
    let mut url = p.url(srv);
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "code_challenge_method")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let Some(m) = method {
        pairs.push(("code_challenge_method".into(), m.into()));
    }
    url.query_pairs_mut().clear().extend_pairs(pairs);
    srv.client.get(url).send().await.unwrap()
}

db_test!(plain_pkce_is_invalid_request, Opts::oauth(), |srv| {
    let (p, _) = setup(&srv, "viewer").await;
    let res = with_method(&srv, &p, Some("plain")).await;
    expect_error_redirect(&srv, &res, &p, "invalid_request");
});

db_test!(
    missing_pkce_method_is_invalid_request,
    Opts::oauth(),
    |srv| {
        let (p, _) = setup(&srv, "viewer").await;
        let res = with_method(&srv, &p, None).await;
        expect_error_redirect(&srv, &res, &p, "invalid_request");
    }
);

db_test!(
    malformed_challenge_is_invalid_request,
    Opts::oauth(),
    |srv| {
        let (mut p, _) = setup(&srv, "viewer").await;
        p.code_challenge = "too-short".into();
        let res = start_raw(&srv, &p).await;
        expect_error_redirect(&srv, &res, &p, "invalid_request");
    }
);

db_test!(other_response_type_is_unsupported, Opts::oauth(), |srv| {
    let (p, _) = setup(&srv, "viewer").await;
    let mut url = p.url(&srv);
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "response_type" {
                "token".into()
            } else {
                v
            };
            (k.into_owned(), v.into_owned())
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let res = srv.client.get(url).send().await.unwrap();
    expect_error_redirect(&srv, &res, &p, "unsupported_response_type");
});

db_test!(unknown_client_gets_error_page, Opts::oauth(), |srv| {
    let (mut p, _) = setup(&srv, "viewer").await;
    p.client_id = "no-such-client".into();
    expect_error_page(start_raw(&srv, &p).await).await;
});

db_test!(
    unregistered_redirect_uri_gets_error_page,
    Opts::oauth(),
    |srv| {
        let (mut p, _) = setup(&srv, "viewer").await;
        p.redirect_uri = "https://other.example/callback".into();
        expect_error_page(start_raw(&srv, &p).await).await;
    }
);

/// Try `redirect` instead of the registered one: must be an error page.
async fn open_redirect_refused(srv: &TestServer, redirect: &str) {
    let (client, _) = add_client(
        srv,
        "App",
        &["https://claude.ai/api/mcp/auth_callback"],
        false,
    )
    .await;
    let pkce = Pkce::new();
    let p = AuthorizeParams::new(srv, &client, redirect, "x", "y", &pkce);
    expect_error_page(start_raw(srv, &p).await).await;
}

db_test!(open_redirect_suffix_domain, Opts::oauth(), |srv| {
    open_redirect_refused(&srv, "https://claude.ai.evil.example/api/mcp/auth_callback").await;
});

db_test!(open_redirect_userinfo, Opts::oauth(), |srv| {
    open_redirect_refused(&srv, "https://claude.ai@evil.example/api/mcp/auth_callback").await;
});

db_test!(open_redirect_other_path, Opts::oauth(), |srv| {
    open_redirect_refused(&srv, "https://claude.ai/api/mcp/auth_callback/../../evil").await;
});

db_test!(open_redirect_extra_query, Opts::oauth(), |srv| {
    open_redirect_refused(
        &srv,
        "https://claude.ai/api/mcp/auth_callback?next=https://evil.example",
    )
    .await;
});

db_test!(open_redirect_other_port, Opts::oauth(), |srv| {
    open_redirect_refused(&srv, "https://claude.ai:8443/api/mcp/auth_callback").await;
});

db_test!(
    repeated_redirect_uri_gets_error_page,
    Opts::oauth(),
    |srv| {
        let (p, _) = setup(&srv, "viewer").await;
        let mut url = p.url(&srv);
        url.query_pairs_mut()
            .append_pair("redirect_uri", "https://evil.example/cb");
        let res = srv.client.get(url).send().await.unwrap();
        expect_error_page(res).await;
    }
);

db_test!(loopback_redirect_matches_any_port, Opts::oauth(), |srv| {
    let (client, _) = add_client(&srv, "CLI", &["http://127.0.0.1/callback"], false).await;
    add_user(&srv, "alice", PASSWORD, "viewer").await;
    let pkce = Pkce::new();
    let sent = "http://127.0.0.1:54321/callback";
    let p = AuthorizeParams::new(&srv, &client, sent, "alice", PASSWORD, &pkce);
    let url = authorize_code(&srv, &p).await.expect("redirect");
    assert_eq!(url.port(), Some(54321));
    assert_eq!(url.path(), "/callback");
    exchange_ok(&srv, &p, &pkce, &url).await;
    // Another path on loopback is still refused.
    let mut other = p.clone();
    other.redirect_uri = "http://127.0.0.1:54321/other".into();
    expect_error_page(start_raw(&srv, &other).await).await;
});

db_test!(wrong_resource_is_invalid_target, Opts::oauth(), |srv| {
    let (mut p, _) = setup(&srv, "viewer").await;
    p.resource = Some("https://other.example/mcp".into());
    let res = start_raw(&srv, &p).await;
    expect_error_redirect(&srv, &res, &p, "invalid_target");
});

db_test!(trailing_slash_resource_is_accepted, Opts::oauth(), |srv| {
    let (mut p, pkce) = setup(&srv, "viewer").await;
    p.resource = Some(format!("{}/mcp/", srv.base));
    let url = authorize_code(&srv, &p).await.expect("redirect");
    exchange_ok(&srv, &p, &pkce, &url).await;
});

db_test!(missing_resource_is_invalid_request, Opts::oauth(), |srv| {
    let (mut p, _) = setup(&srv, "viewer").await;
    p.resource = None;
    let res = start_raw(&srv, &p).await;
    expect_error_redirect(&srv, &res, &p, "invalid_request");
    let url = location(&res).expect("Location");
    assert!(
        param(&url, "error_description")
            .unwrap()
            .contains("resource")
    );
});

fn resource_optional(c: &mut mcp_connector::config::Config) {
    c.auth.require_resource = false;
}

db_test!(
    missing_resource_binds_the_canonical_one_when_allowed,
    Opts {
        tweak: Some(resource_optional),
        ..Opts::oauth()
    },
    |srv| {
        let (mut p, pkce) = setup(&srv, "viewer").await;
        p.resource = None;
        let url = authorize_code(&srv, &p).await.expect("redirect");
        let code = param(&url, "code").unwrap();
        // The code is bound to this server's resource: naming it at /token works.
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("code_verifier", pkce.verifier.as_str()),
                ("redirect_uri", REDIRECT),
                ("client_id", p.client_id.as_str()),
                ("resource", &format!("{}/mcp", srv.base)),
            ])
            .finish();
        let res = srv
            .client
            .post(format!("{}/token", srv.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
    }
);

db_test!(
    leading_space_scope_and_prompt_show_login,
    Opts::oauth(),
    |srv| {
        let (mut p, _) = setup(&srv, "viewer").await;
        p.scope = Some(" offline_access".into());
        p.extra.push(("prompt".into(), "consent".into()));
        let page = start(&srv, &p).await.expect("login page");
        assert_eq!(page.status, 200);
        assert!(page.html.contains("id=\"login\""));
        assert!(page.field("request").is_some());
        assert!(page.field("csrf").is_some());
    }
);

db_test!(
    self_registered_client_gets_an_error_page_not_a_redirect,
    Opts::oauth(),
    |srv| {
        // Anyone can register any https redirect URI: a malformed request
        // must not bounce the browser there before a user signed in.
        let res = srv
            .client
            .post(format!("{}/register", srv.base))
            .json(&serde_json::json!({
                "client_name": "Totally Legit",
                "redirect_uris": ["https://attacker.example/landing"],
                "token_endpoint_auth_method": "none",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let client: Value = res.json().await.unwrap();
        let id = client["client_id"].as_str().unwrap();
        for query in [
            // No PKCE.
            "response_type=code&state=s",
            // Wrong response type.
            "response_type=token&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
            // Another resource.
            "response_type=code&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&resource=https://other.example/mcp",
        ] {
            let url = format!(
                "{}/authorize?client_id={id}&redirect_uri=https%3A%2F%2Fattacker.example%2Flanding&{query}",
                srv.base
            );
            let res = srv.client.get(&url).send().await.unwrap();
            assert!(
                res.headers().get("location").is_none(),
                "{query}: redirected"
            );
            expect_error_page(res).await;
        }
        // A client the operator added (`client add`) still gets the error
        // at its redirect URI, as OAuth expects.
        let (p, _) = setup(&srv, "viewer").await;
        let res = with_method(&srv, &p, Some("plain")).await;
        expect_error_redirect(&srv, &res, &p, "invalid_request");
    }
);
