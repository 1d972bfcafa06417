//! Native TLS (`[server.tls]`) with a certificate the test generates.

use std::net::SocketAddr;
use std::time::Duration;

use mcp_connector::config::Config;
use mcp_connector::http::tls::{self, TlsFiles};
use mcp_connector::{AppState, serve_tls};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::common::{LEGACY, read_message};

struct TlsServer {
    addr: SocketAddr,
    cert_pem: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

/// A server on 127.0.0.1:0 terminating TLS with a fresh self-signed
/// certificate for `localhost`, loaded from PEM files like `serve` does.
async fn start() -> TlsServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let cert_pem = key.cert.pem();
    let files = TlsFiles {
        cert_file: dir.path().join("cert.pem"),
        key_file: dir.path().join("key.pem"),
    };
    std::fs::write(&files.cert_file, &cert_pem).expect("write cert");
    std::fs::write(&files.key_file, key.signing_key.serialize_pem()).expect("write key");
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        database_url: format!("sqlite://{}", dir.path().join("test.db").display()),
        shutdown_grace: Duration::from_secs(5),
        tls: Some(files.clone()),
        ..Config::default()
    };
    let server_tls = tls::load(&files).expect("certificate and key load");
    let state = AppState::build(config).await.expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve_tls(listener, server_tls, state, shutdown.clone()));
    TlsServer {
        addr,
        cert_pem,
        shutdown,
        task,
        _dir: dir,
    }
}

fn count_request(client: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "get_employee_count", "arguments": {"department": "engineering"}}});
    client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", LEGACY)
        .body(body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_handshake_and_tool_call() {
    let srv = start().await;
    let trusting = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(srv.cert_pem.as_bytes()).expect("pem"))
        .resolve("localhost", srv.addr)
        .build()
        .expect("client");
    let url = format!("https://localhost:{}/mcp", srv.addr.port());
    let res = count_request(&trusting, &url)
        .send()
        .await
        .expect("TLS request");
    assert_eq!(res.status(), 200);
    let reply = read_message(res).await;
    assert_eq!(reply["result"]["structuredContent"]["count"], 42, "{reply}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new();
    let plain_url = format!("http://127.0.0.1:{}/mcp", srv.addr.port());
    let r = tokio::time::timeout(
        Duration::from_secs(15),
        count_request(&plain, &plain_url).send(),
    )
    .await
    .expect("plain request ends");
    assert!(r.is_err(), "plain HTTP must fail: {r:?}");

    // A client that does not trust the certificate fails the handshake.
    let untrusting = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .resolve("localhost", srv.addr)
        .build()
        .expect("client");
    let err = count_request(&untrusting, &url)
        .send()
        .await
        .expect_err("untrusted certificate is refused");
    assert!(err.is_connect(), "{err:?}");

    // The trusted client still works, then graceful shutdown completes.
    let res = count_request(&trusting, &url)
        .send()
        .await
        .expect("TLS request");
    assert_eq!(res.status(), 200);
    srv.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), srv.task)
        .await
        .expect("server stops within 15 s")
        .expect("no panic")
        .expect("serve_tls returned Ok");
}

#[tokio::test]
async fn tls_files_are_checked_with_the_key_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    std::fs::write(&cert, pair.cert.pem()).expect("write");
    // A certificate where the key belongs.
    std::fs::write(&key, pair.cert.pem()).expect("write");
    let err = tls::load(&TlsFiles {
        cert_file: cert.clone(),
        key_file: key.clone(),
    })
    .expect_err("no key")
    .to_string();
    assert!(err.starts_with("server.tls.key_file"), "{err}");

    // A key of another certificate.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    std::fs::write(&key, other.signing_key.serialize_pem()).expect("write");
    let err = tls::load(&TlsFiles {
        cert_file: cert,
        key_file: key,
    })
    .expect_err("mismatched pair")
    .to_string();
    assert!(err.starts_with("server.tls"), "{err}");

    // In the config file, one file without the other names the missing key.
    let file = Config::parse_file("[server.tls]\ncert_file = \"c.pem\"\n").expect("parses");
    let err = Config::from_parts(file, &Default::default())
        .expect_err("key_file missing")
        .to_string();
    assert!(err.starts_with("server.tls.key_file"), "{err}");
}
