//! Graceful shutdown: in-flight calls finish, idle streams close, serve returns.

use std::time::Duration;

use serde_json::json;

use crate::common::{Backend, LEGACY, Opts, TestServer, read_message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_calls_finish_after_shutdown_begins() {
    let mut srv = TestServer::try_spawn(Backend::Sqlite, Opts::conformance())
        .await
        .expect("sqlite");
    // An idle GET stream must not hold shutdown up.
    let idle = srv.client.get(&srv.url).send().await.expect("stream");
    assert_eq!(idle.status(), 200);

    let body = json!({"jsonrpc": "2.0", "id": 11, "method": "tools/call",
        "params": {"name": "test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": 1}}})
    .to_string();
    let call = {
        let client = srv.client.clone();
        let url = srv.url.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", LEGACY)
                .body(body)
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(40)).await;
    let task = srv.take_task();
    srv.shutdown.cancel();

    let res = call
        .await
        .expect("joined")
        .expect("the in-flight call got a response");
    let reply = read_message(res).await;
    assert_eq!(reply["id"], 11);
    assert!(
        reply["result"]["content"].is_array(),
        "completed, not cut off: {reply}"
    );

    let served = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("serve returns after draining");
    served.expect("no panic").expect("serve Ok");

    // New connections are refused once the server has stopped.
    let after = srv.client.get(format!("{}/healthz", srv.base)).send().await;
    assert!(after.is_err(), "listener closed");
    drop(idle);
}
