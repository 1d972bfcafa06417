//! The connection loop: accept, bound and time every connection.
//!
//! `axum::serve` gives a connection as long as the client likes. A client
//! that sends its request head a byte at a time, or opens connections and
//! sends nothing, holds a socket and a task each for ever. Here every
//! connection is watched:
//!
//! * **request head**: once the first byte of a request has arrived, the
//!   whole head must follow within `limits.request_head_timeout_secs`;
//! * **idle keep-alive**: between requests (nothing in flight, nothing
//!   received) a connection is closed after `limits.keep_alive_idle_secs`;
//! * **per address**: at most `limits.max_connections_per_address` open
//!   connections per client address (trusted proxies are exempt: every
//!   connection comes from them); one more is answered 503 and closed.
//!
//! The request *body* has its own deadline, enforced where it is read
//! ([`body_deadline`]). A response in progress (an SSE stream) is never
//! cut by these timers: its own keep-alives and the tool timeout bound it.
//!
//! The watchdog knows what the connection is doing from two signals: the
//! bytes read (through [`Watched`], which wraps the socket) and the
//! requests in flight (counted by the service, and ended when the response
//! body has been sent or dropped). HTTP/2 connections (seen by their
//! preface) multiplex requests, so only the idle timer applies to them.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::network::TrustedProxies;

/// Timers and caps of the connection loop.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub head_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_per_address: usize,
    /// Exempt from the per-address cap.
    pub proxies: TrustedProxies,
}

/// Serve `router` on `listener` until `shutdown`, then stop accepting and
/// wait for open connections to finish (they are told to close once their
/// current request is done).
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    limits: ConnLimits,
    shutdown: CancellationToken,
) -> io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let open = Arc::new(OpenConnections::default());
    let builder = Arc::new(Builder::new(TokioExecutor::new()));
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let ip = peer.ip().to_canonical();
        let slot = if limits.proxies.trusts(ip) {
            None
        } else {
            match open.take(ip, limits.max_per_address) {
                Some(slot) => Some(slot),
                None => {
                    tracing::warn!(%ip, "connection refused: too many open connections from this address");
                    tokio::spawn(refuse(io));
                    continue;
                }
            }
        };
        let watch = Arc::new(Activity::new());
        let service = {
            let watch = watch.clone();
            let router = router.clone();
            tower::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                let guard = watch.begin();
                let mut router = router.clone();
                async move {
                    let res = tower::Service::call(&mut router, req).await?;
                    Ok::<_, std::convert::Infallible>(res.map(|b| {
                        Body::new(Tracked {
                            inner: b,
                            _guard: guard,
                        })
                    }))
                }
            })
        };
        let conn = builder.serve_connection_with_upgrades(
            TokioIo::new(Watched {
                inner: io,
                watch: watch.clone(),
            }),
            hyper_util::service::TowerToHyperService::new(service),
        );
        let conn = graceful.watch(conn.into_owned());
        let limits = limits.clone();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                r = conn => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                why = watchdog(&watch, &limits) => {
                    // Dropping the connection closes the socket.
                    tracing::info!(%ip, "connection closed: {why}");
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Answer an over-limit connection with a short 503 and close it.
async fn refuse<I: AsyncWrite + Unpin>(mut io: I) {
    let body = crate::wire::too_many_connections_body();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let write = async {
        io.write_all(head.as_bytes()).await?;
        io.write_all(body.as_bytes()).await?;
        io.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), write).await;
}

/// Open connections per address.
#[derive(Default)]
struct OpenConnections {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection of an address; dropping it frees the slot.
struct Slot {
    open: Arc<OpenConnections>,
    ip: IpAddr,
}

impl OpenConnections {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            open: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.open.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// What a connection is doing, for its watchdog.
struct Activity {
    in_flight: AtomicUsize,
    h2: AtomicBool,
    /// When the first byte of a request head arrived (none in flight).
    head_started: Mutex<Option<Instant>>,
    /// When the connection last became idle.
    idle_since: Mutex<Instant>,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            h2: AtomicBool::new(false),
            head_started: Mutex::new(None),
            idle_since: Mutex::new(Instant::now()),
            changed: Notify::new(),
        }
    }

    fn bytes_read(&self, first: &[u8]) {
        if first.starts_with(b"PRI * HTTP/2") {
            self.h2.store(true, Ordering::Relaxed);
        }
        if self.in_flight.load(Ordering::Acquire) == 0 && !self.h2.load(Ordering::Relaxed) {
            let mut head = self.head_started.lock().unwrap_or_else(|e| e.into_inner());
            if head.is_none() {
                *head = Some(Instant::now());
                drop(head);
                self.changed.notify_one();
            }
        }
    }

    /// A request's head has been parsed: it is in flight until its
    /// response body is done.
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        *self.head_started.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.changed.notify_one();
        InFlight {
            watch: self.clone(),
        }
    }
}

/// A request in flight; dropped with its response body.
struct InFlight {
    watch: Arc<Activity>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.watch.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self
                .watch
                .idle_since
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Instant::now();
        }
        self.watch.changed.notify_one();
    }
}

/// Resolves (with the reason) when the connection should be closed.
async fn watchdog(watch: &Activity, limits: &ConnLimits) -> &'static str {
    loop {
        let deadline = if watch.in_flight.load(Ordering::Acquire) > 0 {
            None
        } else if let Some(t) = *watch.head_started.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((t + limits.head_timeout, "request head not received in time"))
        } else {
            let idle = *watch.idle_since.lock().unwrap_or_else(|e| e.into_inner());
            Some((idle + limits.idle_timeout, "idle"))
        };
        match deadline {
            None => watch.changed.notified().await,
            Some((at, why)) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {
                        // Nothing changed since the deadline was computed
                        // (a change would have woken the other branch).
                        if watch.in_flight.load(Ordering::Acquire) == 0 {
                            return why;
                        }
                    }
                    () = watch.changed.notified() => {}
                }
            }
        }
    }
}

/// The socket, reporting the bytes it reads to the watchdog.
struct Watched<I> {
    inner: I,
    watch: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let watch = self.watch.clone();
            watch.bytes_read(&buf.filled()[before..]);
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A response body that keeps its request "in flight" until it is done.
struct Tracked {
    inner: Body,
    _guard: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The request body did not arrive within `limits.request_body_timeout_secs`.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

/// Whether `err` (from reading a request body) is, or wraps, [`BodyTimeout`].
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.is::<BodyTimeout>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Middleware: the request body must arrive within `deadline` of the head.
pub async fn body_deadline(
    axum::extract::State(deadline): axum::extract::State<Duration>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let body = Body::new(Deadline {
        inner: body,
        sleep: Box::pin(tokio::time::sleep(deadline)),
    });
    next.run(Request::from_parts(parts, body)).await
}

struct Deadline {
    inner: Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimeout)))),
            Poll::Pending => Poll::Pending,
        }
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
