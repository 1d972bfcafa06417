//! The held-open `GET /mcp` stream of stateless mode.
//!
//! A stateless server has nothing to push, and the spec lets it answer GET
//! with 405. But claude.ai's relay and recent Claude Code open this stream and
//! fail the connection on 405, and a buffering proxy in front turns a silent
//! stream into a 502 after about 30 s. So the stream sends its first byte at
//! once, a comment every keep-alive interval, disables proxy buffering, and
//! ends when the client goes away or the server shuts down.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

/// An idle SSE response: an opening comment, then `: keep-alive` comments.
pub fn idle_event_stream(keep_alive: Duration, shutdown: CancellationToken) -> Response {
    let opening = futures::stream::once(async {
        Ok::<_, std::convert::Infallible>(Bytes::from_static(b": stream open\n\n"))
    });
    let ticks = futures::stream::unfold((), move |()| {
        let shutdown = shutdown.clone();
        async move {
            tokio::select! {
                () = tokio::time::sleep(keep_alive) => Some((Ok(Bytes::from_static(b": keep-alive\n\n")), ())),
                () = shutdown.cancelled() => None,
            }
        }
    });
    let body = Body::from_stream(futures::StreamExt::chain(opening, ticks));
    let mut res = Response::new(body);
    *res.status_mut() = StatusCode::OK;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-transform"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}
