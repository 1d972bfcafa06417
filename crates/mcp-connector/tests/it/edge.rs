//! The HTTP edge: Host/Origin (DNS rebinding), body limit, probes, request ids.

use serde_json::json;

use crate::common::{LEGACY, Opts, read_message};
use crate::db_test;

fn list() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string()
}

db_test!(foreign_origin_is_403_and_local_origin_passes, |srv| {
    let res = srv
        .post_raw(
            list(),
            &[
                ("mcp-protocol-version", LEGACY),
                ("origin", "https://evil.example"),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
    let r = read_message(res).await;
    assert_eq!(r["error"]["code"], -32600);
    assert!(
        !r.to_string().contains("evil"),
        "the refusal does not echo input"
    );
    assert_eq!(srv.list_status(&[("origin", "null")]).await, 403);
    assert_eq!(
        srv.list_status(&[("origin", "http://localhost:6274")])
            .await,
        200
    );
    // Without Origin (non-browser clients): normal handling.
    let res = srv
        .post_raw(list(), &[("mcp-protocol-version", LEGACY)])
        .await;
    assert_eq!(res.status(), 200);
});

db_test!(duplicate_origin_headers_are_refused, |srv| {
    let res = srv
        .client
        .post(&srv.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("origin", "http://localhost")
        .header("origin", "https://evil.example")
        .body(list())
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 403);
});

db_test!(foreign_host_is_403, |srv| {
    assert_eq!(srv.list_status(&[("host", "evil.example")]).await, 403);
    assert_eq!(
        srv.list_status(&[("host", "localhost.evil.example:80")])
            .await,
        403
    );
    let res = srv
        .client
        .get(format!("{}/healthz", srv.base))
        .header("host", "evil.example")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 403, "every route is behind the Host check");
});

db_test!(
    public_host_and_origin_are_allowed,
    Opts {
        public_url: Some("https://tools.example.com"),
        ..Opts::default()
    },
    |srv| {
        assert_eq!(
            srv.list_status(&[
                ("host", "tools.example.com"),
                ("origin", "https://tools.example.com")
            ])
            .await,
            200
        );
        assert_eq!(srv.list_status(&[("host", "other.example.com")]).await, 403);
        assert_eq!(
            srv.list_status(&[("origin", "https://tools.example.com.evil.example")])
                .await,
            403
        );
    }
);

db_test!(
    oversized_body_is_413,
    Opts {
        max_body_bytes: Some(4096),
        ..Opts::default()
    },
    |srv| {
        let big = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "get_employee_count", "arguments": {"department": "x".repeat(8192)}}})
        .to_string();
        let res = srv
            .post_raw(big.clone(), &[("mcp-protocol-version", LEGACY)])
            .await;
        assert_eq!(res.status(), 413);
        // Same without Content-Length (chunked): bounded while streaming.
        let stream = futures::stream::iter(
            big.into_bytes()
                .chunks(1000)
                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                .collect::<Vec<_>>(),
        );
        let res = srv
            .post_raw(
                reqwest::Body::wrap_stream(stream),
                &[("mcp-protocol-version", LEGACY)],
            )
            .await;
        assert_eq!(res.status(), 413);
        // The server still serves normal requests afterwards.
        assert_eq!(srv.count("engineering").await, 42);
    }
);

db_test!(health_and_readiness, |srv| {
    let res = srv
        .client
        .get(format!("{}/healthz", srv.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let res = srv
        .client
        .get(format!("{}/readyz", srv.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.expect("body").trim(), "ready");
});

db_test!(responses_carry_a_request_id, |srv| {
    let res = srv
        .post_raw(list(), &[("mcp-protocol-version", LEGACY)])
        .await;
    let id = res
        .headers()
        .get("x-request-id")
        .expect("x-request-id")
        .to_str()
        .expect("ascii");
    assert!(id.len() >= 16, "a generated id: {id}");
    let res = srv
        .post_raw(
            list(),
            &[
                ("mcp-protocol-version", LEGACY),
                ("x-request-id", "caller-chosen"),
            ],
        )
        .await;
    assert_eq!(
        res.headers()["x-request-id"],
        "caller-chosen",
        "an incoming id is kept for correlation"
    );
});

/// PostgreSQL only: there the database can be taken away under a running server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_when_the_database_is_gone() {
    let Some(srv) =
        crate::common::TestServer::try_spawn(crate::common::Backend::Postgres, Opts::default())
            .await
    else {
        eprintln!("TEST_DATABASE_URL is not set: not run");
        return;
    };
    let admin = std::env::var("TEST_DATABASE_URL").expect("set");
    let name = url::Url::parse(&srv.database_url)
        .expect("url")
        .path()
        .trim_start_matches('/')
        .to_owned();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("admin");
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .expect("drop");
    let res = srv
        .client
        .get(format!("{}/readyz", srv.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.text().await.expect("body").trim(),
        "database unavailable",
        "no internal detail"
    );
    let res = srv
        .client
        .get(format!("{}/healthz", srv.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        res.status(),
        200,
        "liveness does not depend on the database"
    );
    srv.stop().await;
}

crate::db_test!(deeply_nested_params_get_a_json_rpc_error, |srv| {
    let depth = 100_000;
    let body = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"get_employee_count\",\"arguments\":{}1{}}}}}",
        "{\"a\":".repeat(depth),
        "}".repeat(depth)
    );
    let res = srv
        .post_raw(body, &[("mcp-protocol-version", crate::common::LEGACY)])
        .await;
    let status = res.status().as_u16();
    let reply = crate::common::read_message(res).await;
    assert!(status == 400 || status == 200, "{status}: {reply}");
    assert!(reply["error"]["code"].is_i64(), "{reply}");
    // The server is fine afterwards.
    assert_eq!(srv.count("engineering").await, 42);
});
