//! Client ID Metadata Documents: URLs that would make the server fetch from
//! private networks are refused before any fetch (or after resolution), and
//! Claude's document resolves through its pinned copy (no internet here).

// Tests may unwrap: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::get;
use mcp_connector::auth::cimd::{CLAUDE_CLIENT_ID, CimdError, CimdFetcher};
use mcp_connector::auth::client_auth::lookup;
use mcp_connector::clock::unix_now;
use mcp_connector::config::AuthConfig;
use mcp_connector::http::tls::{self, TlsListener};
use mcp_connector::store::oauth::ClientOrigin;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::common::{Opts, TestServer};
use crate::db_test;
use crate::oauth_flow::{Pkce, add_token_user, auth, code};
use crate::oauth_token::{expect_error, expect_tokens, post_form};

/// Assert that `client_id` is not a client, and not stored either.
async fn refused(srv: &TestServer, client_id: &str) {
    let found = lookup(auth(srv), client_id).await.unwrap();
    assert!(found.is_none(), "{client_id} resolved");
    assert!(srv.state.db.client(client_id).await.unwrap().is_none());
}

db_test!(loopback_literal_is_refused, Opts::oauth(), |srv| {
    refused(&srv, "https://127.0.0.1/client.json").await;
});

db_test!(
    localhost_name_is_refused_after_resolution,
    Opts::oauth(),
    |srv| {
        refused(&srv, "https://localhost/client.json").await;
    }
);

db_test!(private_literal_is_refused, Opts::oauth(), |srv| {
    refused(&srv, "https://10.0.0.7/client.json").await;
});

db_test!(metadata_service_is_refused, Opts::oauth(), |srv| {
    refused(&srv, "https://169.254.169.254/latest/meta-data").await;
});

db_test!(mapped_ipv6_loopback_is_refused, Opts::oauth(), |srv| {
    refused(&srv, "https://[::ffff:127.0.0.1]/client.json").await;
});

db_test!(http_scheme_is_refused, Opts::oauth(), |srv| {
    // Not https: not even treated as a metadata document URL.
    refused(&srv, "http://claude.ai/oauth/mcp-oauth-client-metadata").await;
});

db_test!(url_without_path_is_refused, Opts::oauth(), |srv| {
    refused(&srv, "https://claude.ai/").await;
});

db_test!(url_with_fragment_is_refused, Opts::oauth(), |srv| {
    refused(&srv, "https://claude.ai/oauth/mcp-oauth-client-metadata#x").await;
});

db_test!(url_with_dot_segment_is_refused, Opts::oauth(), |srv| {
    refused(
        &srv,
        "https://claude.ai/x/../oauth/mcp-oauth-client-metadata",
    )
    .await;
});

db_test!(
    refused_client_id_fails_at_token_endpoint,
    Opts::oauth(),
    |srv| {
        let res = post_form(
            &srv,
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "https://169.254.169.254/latest/meta-data"),
                ("refresh_token", "mcprt_x"),
            ],
            None,
        )
        .await;
        expect_error(res, 401, "invalid_client").await;
    }
);

db_test!(
    claude_document_resolves_from_pinned_copy,
    Opts::oauth(),
    |srv| {
        let c = lookup(auth(&srv), CLAUDE_CLIENT_ID)
            .await
            .unwrap()
            .expect("Claude resolves");
        assert_eq!(c.name, "Claude");
        assert_eq!(c.redirect_uris, ["https://claude.ai/api/mcp/auth_callback"]);
        assert_eq!(c.auth_method, "none");
        assert_eq!(c.origin, ClientOrigin::Cimd);
        assert!(c.secret_hash.is_none());
        assert!(c.allows_grant("refresh_token"));
        // Stored, so grants and tokens can refer to it.
        assert!(
            srv.state
                .db
                .client(CLAUDE_CLIENT_ID)
                .await
                .unwrap()
                .is_some()
        );
    }
);

db_test!(
    claude_exchanges_a_code_as_public_client,
    Opts::oauth(),
    |srv| {
        let a = auth(&srv);
        lookup(a, CLAUDE_CLIENT_ID)
            .await
            .unwrap()
            .expect("Claude resolves");
        let user = add_token_user(&srv, "viewer").await;
        let pkce = Pkce::new();
        let redirect = "https://claude.ai/api/mcp/auth_callback";
        let code = code(&srv, CLAUDE_CLIENT_ID, &user, redirect, &pkce.challenge).await;
        let resource = format!("{}/mcp", srv.base);
        let res = post_form(
            &srv,
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("client_id", CLAUDE_CLIENT_ID),
                ("code", &code),
                ("code_verifier", &pkce.verifier),
                ("redirect_uri", redirect),
                ("resource", &resource),
            ],
            None,
        )
        .await;
        let t = expect_tokens(res).await;
        assert!(t["refresh_token"].is_string());
    }
);

db_test!(revoked_claude_copy_stays_revoked, Opts::oauth(), |srv| {
    let a = auth(&srv);
    lookup(a, CLAUDE_CLIENT_ID)
        .await
        .unwrap()
        .expect("Claude resolves");
    assert!(
        srv.state
            .db
            .revoke_client(CLAUDE_CLIENT_ID, unix_now())
            .await
            .unwrap()
    );
    assert!(lookup(a, CLAUDE_CLIENT_ID).await.unwrap().is_none());
});

fn no_cimd(c: &mut mcp_connector::config::Config) {
    c.auth.client_metadata_documents = false;
}

db_test!(
    documents_can_be_switched_off,
    Opts {
        tweak: Some(no_cimd),
        ..Opts::oauth()
    },
    |srv| {
        refused(&srv, CLAUDE_CLIENT_ID).await;
    }
);

/// A local HTTPS server publishing documents, and a fetcher that trusts it
/// and may reach loopback (both off by default).
struct DocServer {
    base: String,
    fetcher: CimdFetcher,
    shutdown: CancellationToken,
}

async fn doc_server() -> DocServer {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let cert_pem = key.cert.pem();
    let tls_config = tls::server_config(
        cert_pem.as_bytes(),
        key.signing_key.serialize_pem().as_bytes(),
    )
    .expect("tls config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let good = base.clone();
    let mismatch = base.clone();
    let app = Router::new()
        .route(
            "/good",
            get(move || async move {
                Json(json!({
                    "client_id": format!("{good}/good"),
                    "client_name": "Local app",
                    "redirect_uris": ["https://app.example/cb"],
                    "token_endpoint_auth_method": "none",
                }))
            }),
        )
        .route(
            "/mismatch",
            get(move || async move {
                Json(json!({
                    "client_id": format!("{mismatch}/other"),
                    "client_name": "Local app",
                    "redirect_uris": ["https://app.example/cb"],
                }))
            }),
        )
        .route(
            "/redirect",
            get(|| async { (StatusCode::FOUND, [("location", "/good")]) }),
        )
        .route(
            "/big",
            get(|| async {
                // No Content-Length: the cap must hold while streaming.
                let chunks = (0..12).map(|_| Ok::<_, std::io::Error>(vec![b' '; 512]));
                Body::from_stream(futures::stream::iter(chunks))
            }),
        );
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let listener = TlsListener::new(listener, tls_config).expect("tls listener");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    let config = AuthConfig {
        cimd_allow_private_networks: true,
        ..AuthConfig::default()
    };
    DocServer {
        base,
        fetcher: CimdFetcher::with_root_certificate(&config, cert_pem.as_bytes()),
        shutdown,
    }
}

db_test!(
    fetched_document_resolves_and_is_stored,
    Opts::oauth(),
    |srv| {
        let d = doc_server().await;
        let id = format!("{}/good", d.base);
        let c = d
            .fetcher
            .resolve(&srv.state.db, &id)
            .await
            .expect("fetched")
            .expect("live");
        assert_eq!(c.name, "Local app");
        assert_eq!(c.origin, ClientOrigin::Cimd);
        assert_eq!(c.redirect_uris, ["https://app.example/cb"]);
        assert!(srv.state.db.client(&id).await.unwrap().is_some());
        d.shutdown.cancel();
    }
);

db_test!(redirecting_document_is_refused, Opts::oauth(), |srv| {
    let d = doc_server().await;
    let r = d
        .fetcher
        .resolve(&srv.state.db, &format!("{}/redirect", d.base))
        .await;
    assert!(matches!(r, Err(CimdError::Redirect)), "{r:?}");
    d.shutdown.cancel();
});

db_test!(oversized_document_is_refused, Opts::oauth(), |srv| {
    let d = doc_server().await;
    let r = d
        .fetcher
        .resolve(&srv.state.db, &format!("{}/big", d.base))
        .await;
    assert!(matches!(r, Err(CimdError::TooLarge)), "{r:?}");
    d.shutdown.cancel();
});

db_test!(
    document_naming_another_url_is_refused,
    Opts::oauth(),
    |srv| {
        let d = doc_server().await;
        let r = d
            .fetcher
            .resolve(&srv.state.db, &format!("{}/mismatch", d.base))
            .await;
        assert!(matches!(r, Err(CimdError::Invalid(_))), "{r:?}");
        d.shutdown.cancel();
    }
);

db_test!(
    loopback_document_is_refused_by_default,
    Opts::oauth(),
    |srv| {
        let d = doc_server().await;
        let strict = CimdFetcher::new(&AuthConfig::default());
        let r = strict
            .resolve(&srv.state.db, &format!("{}/good", d.base))
            .await;
        assert!(matches!(r, Err(CimdError::ForbiddenAddress)), "{r:?}");
        d.shutdown.cancel();
    }
);
