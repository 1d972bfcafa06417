//! `GET /metrics` on its own listener (`telemetry.metrics_listen`), and the
//! middleware that counts the MCP listener's HTTP requests.
//!
//! The metrics never share the MCP listener: what is reachable where the
//! tools are (possibly from the internet) stays the tools, and the metrics
//! port can be firewalled to the monitoring network alone.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::telemetry::Metrics;

/// `Content-Type` of the Prometheus text format, the default.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `Content-Type` of OpenMetrics, served only when `Accept` asks for it.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Route label of requests no route matched (their paths are the
/// client's and would make the label unbounded).
const UNMATCHED: &str = "_unmatched";

/// Whether `Accept` asks for OpenMetrics (Prometheus sends it first, with
/// the text format as a lower-quality fallback).
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut params = range.split(';');
            let media = params.next().unwrap_or("").trim();
            let refused = params.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
        })
}

async fn scrape(State(metrics): State<Metrics>, headers: HeaderMap) -> Response {
    let openmetrics = wants_openmetrics(&headers);
    match metrics.encode(openmetrics) {
        Some(body) => {
            let kind = if openmetrics {
                OPENMETRICS
            } else {
                PROMETHEUS_TEXT
            };
            let mut res = body.into_response();
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            res
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are not collected\n",
        )
            .into_response(),
    }
}

/// The metrics listener's routes: `GET /metrics` and nothing else.
pub fn router(metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics)
}

/// Serve `GET /metrics` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// Middleware on the MCP listener: count each request by matched route
/// and status, and time it until its response head.
pub async fn count(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    if !metrics.is_enabled() {
        return next.run(req).await;
    }
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let res = next.run(req).await;
    metrics.http_request(
        route.as_deref().unwrap_or(UNMATCHED),
        res.status().as_u16(),
        started.elapsed(),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_only_when_asked() {
        let h = |v: &'static str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, HeaderValue::from_static(v));
            m
        };
        assert!(!wants_openmetrics(&HeaderMap::new()));
        assert!(!wants_openmetrics(&h("text/plain")));
        assert!(!wants_openmetrics(&h("*/*")));
        assert!(wants_openmetrics(&h(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
        )));
        assert!(!wants_openmetrics(&h("application/openmetrics-text;q=0")));
    }
}
