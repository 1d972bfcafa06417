//! Slow and stalled clients, over raw sockets: a request head or body sent
//! a byte at a time, connections that sit idle or say nothing, too many
//! connections from one address. Open streams are not cut by these timers.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::common::{Backend, Opts, TestServer};

fn short_timers(c: &mut mcp_connector::config::Config) {
    c.limits.request_head_timeout = Duration::from_secs(1);
    c.limits.request_body_timeout = Duration::from_secs(1);
    c.limits.keep_alive_idle = Duration::from_secs(1);
    c.limits.max_connections_per_address = 3;
    c.sse_keep_alive = Duration::from_millis(300);
}

async fn server() -> TestServer {
    TestServer::try_spawn(
        Backend::Sqlite,
        Opts {
            tweak: Some(short_timers),
            ..Opts::default()
        },
    )
    .await
    .expect("sqlite")
}

async fn connect(srv: &TestServer) -> TcpStream {
    let addr = srv.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connect")
}

/// Read until the peer closes (`Ok(everything read)`) or `within` passes
/// (`Err(what was read so far)`).
async fn read_to_close(s: &mut TcpStream, within: Duration) -> Result<String, String> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return Err(String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(0) | Err(_)) => return Ok(String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_sent_a_byte_at_a_time_is_cut_off() {
    let srv = server().await;
    let mut s = connect(&srv).await;
    let head = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    let mut closed = false;
    for b in head {
        if s.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    if !closed {
        closed = read_to_close(&mut s, Duration::from_secs(3)).await.is_ok();
    }
    assert!(closed, "a dribbled head must not hold the connection");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_a_byte_at_a_time_gets_408() {
    let srv = server().await;
    let mut s = connect(&srv).await;
    let head = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                Accept: application/json, text/event-stream\r\nContent-Length: 500\r\n\r\n";
    s.write_all(head.as_bytes()).await.expect("head");
    let started = Instant::now();
    let mut answer = String::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(4) {
        let _ = s.write_all(b" ").await;
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            answer.push_str(&String::from_utf8_lossy(&buf[..n]));
            if answer.contains("\r\n\r\n") {
                break;
            }
        }
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_silent_connections_are_closed() {
    let srv = server().await;
    // Kept alive after a request, then idle.
    let mut s = connect(&srv).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("request");
    let started = Instant::now();
    let got = read_to_close(&mut s, Duration::from_secs(4)).await;
    let text = got.expect("closed after the idle time");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the idle time"
    );
    // Connected, never a byte sent.
    let mut silent = connect(&srv).await;
    assert!(
        read_to_close(&mut silent, Duration::from_secs(4))
            .await
            .is_ok()
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_address_are_capped() {
    let srv = server().await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(&srv).await);
    }
    // Let the server accept the three before the fourth arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = connect(&srv).await;
    let text = read_to_close(&mut fourth, Duration::from_secs(2))
        .await
        .expect("refused and closed at once");
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("retry-after: 1"), "{text}");
    assert!(text.contains("too many connections"), "{text}");
    // A slot frees when a connection closes.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let res = srv
        .client
        .get(format!("{}/healthz", srv.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    drop(held);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_stream_outlives_the_idle_timer() {
    let srv = server().await;
    let mut res = srv
        .client
        .get(&srv.url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("stream");
    assert_eq!(res.status(), 200);
    let started = Instant::now();
    let mut chunks = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        let chunk = tokio::time::timeout(Duration::from_secs(2), res.chunk())
            .await
            .expect("keep-alives keep coming")
            .expect("chunk");
        assert!(
            chunk.is_some(),
            "the stream ended after {:?}",
            started.elapsed()
        );
        chunks += 1;
    }
    assert!(chunks >= 3, "{chunks}");
    drop(res);
    srv.stop().await;
}
