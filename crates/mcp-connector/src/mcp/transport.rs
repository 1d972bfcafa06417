//! The `/mcp` endpoint.
//!
//! rmcp's `StreamableHttpService` implements both protocol eras: the stateless
//! 2026-07-28 revision (chosen per request by its `_meta`) and the
//! `initialize`-based 2025-03-26 … 2025-11-25 revisions, stateless or with
//! sessions. Around it this module adds what real clients need:
//!
//! * Content negotiation ([`super::negotiate`]): the answer is in a media
//!   type the client accepts (JSON only, event stream only, or either), and
//!   406 when it accepts neither.
//! * The held-open GET stream in stateless mode (see [`crate::http::stream`]).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use rmcp::transport::streamable_http_server::session::SessionStore;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use super::envelope;
use super::handler::{ConnectorHandler, Shared};
use super::live::{Decided, Served};
use super::negotiate::{self, Accepts};
use super::session_limits::{Freshness, SessionLimits};
use crate::http::rate_limit::{RateLimiter, Subject};
use crate::http::stream::idle_event_stream;
use crate::telemetry::metrics::{AuthRefusal, Limit, Outcome};

type Service = StreamableHttpService<ConnectorHandler, LocalSessionManager>;

/// Settings of the endpoint.
#[derive(Clone)]
pub struct EndpointOptions {
    pub sessions: bool,
    pub max_body_bytes: usize,
    pub sse_keep_alive: Duration,
    pub session_store: Option<Arc<dyn SessionStore>>,
    /// Cancelling this ends every rmcp stream (after in-flight calls drained).
    pub transport_shutdown: CancellationToken,
    /// Cancelling this ends the idle stateless GET streams at once.
    pub shutdown: CancellationToken,
    /// Per-tool call limits (the per-request limit runs at the edge).
    pub rate_limiter: Option<Arc<RateLimiter>>,
    /// Session cap, idle time and lifetime (`--sessions` only).
    pub limits: crate::config::Limits,
    /// Authentication, for per-operation scope checks; `None` without auth.
    pub auth: Option<crate::auth::Auth>,
}

/// The `/mcp` endpoint's state.
#[derive(Clone)]
pub struct Endpoint {
    /// Prefers JSON responses (falls back to SSE when a call notifies).
    /// Behind `Arc` because cloning the service per request (its config and
    /// cancellation token) showed up in profiles.
    json: Arc<Service>,
    /// Always answers with SSE.
    sse: Arc<Service>,
    sessions: bool,
    keep_alive: Duration,
    max_body_bytes: usize,
    shutdown: CancellationToken,
    rate_limiter: Option<Arc<RateLimiter>>,
    session_limits: Option<Arc<SessionLimits>>,
    auth: Option<crate::auth::Auth>,
    /// The catalog and tool policy, to find the scope a call needs.
    mcp: Shared,
}

impl Endpoint {
    pub fn new(shared: Shared, opts: EndpointOptions) -> Self {
        let mut manager = LocalSessionManager::default();
        manager.session_config.keep_alive = Some(opts.limits.session_idle);
        let sessions = Arc::new(manager);
        let session_limits = opts.sessions.then(|| {
            Arc::new(SessionLimits::new(
                sessions.clone(),
                opts.session_store.clone(),
                opts.limits.max_sessions,
                opts.limits.session_max_lifetime,
            ))
        });
        if let (Some(gauges), Some(limits)) = (shared.metrics.state(), &session_limits) {
            let limits = Arc::downgrade(limits);
            gauges.set_sessions(Box::new(move || {
                limits
                    .upgrade()
                    .and_then(|l| l.open_now())
                    .map(|n| n as i64)
            }));
        }
        let make = |json_response: bool| {
            let mut config = StreamableHttpServerConfig::default()
                // Host and Origin are checked at our edge for every route,
                // with the operator's public host; see crate::http::edge.
                .disable_allowed_hosts()
                .with_legacy_session_mode(opts.sessions)
                .with_json_response(json_response && !opts.sessions)
                .with_sse_keep_alive(Some(opts.sse_keep_alive))
                .with_max_request_body_bytes(opts.max_body_bytes)
                .with_cancellation_token(opts.transport_shutdown.clone());
            config.session_store = opts.session_store.clone();
            let shared = Arc::new(shared.clone());
            Arc::new(StreamableHttpService::new(
                move || Ok(ConnectorHandler::new(shared.clone())),
                sessions.clone(),
                config,
            ))
        };
        Self {
            json: make(true),
            sse: make(false),
            sessions: opts.sessions,
            keep_alive: opts.sse_keep_alive,
            max_body_bytes: opts.max_body_bytes,
            shutdown: opts.shutdown,
            rate_limiter: opts.rate_limiter,
            session_limits,
            auth: opts.auth,
            mcp: shared,
        }
    }
}

const BOTH: HeaderValue = HeaderValue::from_static("application/json, text/event-stream");

/// `ANY /mcp`.
pub async fn handle(State(ep): State<Endpoint>, req: Request) -> Response {
    if req.method() == Method::GET && !ep.sessions {
        return idle_event_stream(ep.keep_alive, ep.shutdown.clone());
    }
    if req.method() != Method::POST {
        let (Some(limits), Some(id)) = (&ep.session_limits, session_id(&req)) else {
            return forward(&ep.sse, req).await;
        };
        if req.method() == Method::DELETE {
            // rmcp acknowledges a DELETE of any id; an ended or unknown
            // session is 404, so a client knows its DELETE did nothing.
            if !limits.exists(&id).await {
                return session_not_found(None);
            }
            let res = forward(&ep.sse, req).await;
            limits.forget(&id).await;
            return res;
        }
        if limits.touch(&id).await == Freshness::Expired {
            return session_expired(None);
        }
        return forward(&ep.sse, req).await;
    }
    let (mut parts, body) = req.into_parts();
    let bytes = match envelope::read_body(body, ep.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(e) => return e.into_response(),
    };
    let env = match envelope::check(&bytes) {
        Ok(env) => env,
        Err(e) => return e.into_response(),
    };
    // One snapshot per request: the scope check here and the handler
    // (through `Decided`) decide with the same tools and policy.
    let served = ep.mcp.live.load();
    let metrics = &ep.mcp.metrics;
    if let Some(res) = scope_check(&ep, &served, &parts, &env) {
        metrics.auth_refused(AuthRefusal::InsufficientScope);
        if let Some(tool) = &env.tool {
            metrics.tool_call(tool, Outcome::Refused, None);
        }
        return res;
    }
    parts.extensions.insert(Decided(served));
    if let (Some(limiter), Some(tool)) = (&ep.rate_limiter, &env.tool)
        && let Some(subject) = Subject::of(&parts.extensions)
        && let Err(limited) = limiter.check_tool(&subject, tool)
    {
        metrics.rate_limited(Limit::ToolCalls);
        metrics.tool_call(tool, Outcome::RateLimited, None);
        tracing::info!(?subject, tool, "tool call refused: rate limit");
        return too_many(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests: calls to this tool are rate limited",
            limited.retry_after_secs,
            env.id,
        );
    }
    let mut reservation = None;
    if let Some(limits) = &ep.session_limits {
        match parts.headers.get(SESSION_ID).and_then(|v| v.to_str().ok()) {
            // A session is initialized once; rmcp would answer a second
            // `initialize` again, as if the session were new.
            Some(_) if env.method.as_deref() == Some("initialize") => {
                return envelope::RpcError {
                    status: StatusCode::BAD_REQUEST,
                    code: -32600,
                    message: "Bad Request: this session is already initialized".into(),
                    id: env.id,
                }
                .into_response();
            }
            Some(id) if limits.touch(id).await == Freshness::Expired => {
                return session_expired(env.id);
            }
            Some(_) => {}
            None if env.method.as_deref() == Some("initialize") => match limits.reserve().await {
                Ok(r) => reservation = Some(r),
                Err(retry_after) => {
                    metrics.rate_limited(Limit::Sessions);
                    tracing::warn!("initialize refused: session limit reached");
                    return too_many(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Service Unavailable: too many sessions",
                        retry_after,
                        env.id,
                    );
                }
            },
            None => {}
        }
    }
    let accepts = negotiate::classify(parts.headers.get(header::ACCEPT));
    parts.headers.insert(header::ACCEPT, BOTH);
    let service = match accepts {
        Accepts::Both | Accepts::JsonOnly => &ep.json,
        Accepts::SseOnly => &ep.sse,
        Accepts::Neither => return negotiate::not_acceptable(env.id),
    };
    let mut res = forward(service, Request::from_parts(parts, Body::from(bytes))).await;
    if accepts == Accepts::JsonOnly {
        res = negotiate::fold_into_json(res, env.id.as_ref()).await;
    }
    if let (Some(limits), Some(_)) = (&ep.session_limits, reservation) {
        // The session's lifetime starts with the id rmcp hands out.
        if let Some(id) = res.headers().get(SESSION_ID).and_then(|v| v.to_str().ok()) {
            limits.touch(id).await;
        }
    }
    envelope::normalise_error(res, env.id).await
}

const SESSION_ID: &str = "mcp-session-id";

/// 403 `insufficient_scope` when the token lacks the scope the operation
/// needs. Decided here, before rmcp dispatch, because only the HTTP layer
/// can answer 403 with a `WWW-Authenticate` challenge (RFC 6750 §3.1).
fn scope_check(
    ep: &Endpoint,
    served: &Served,
    parts: &axum::http::request::Parts,
    env: &envelope::Envelope,
) -> Option<Response> {
    let auth = ep.auth.as_ref()?;
    let principal = parts.extensions.get::<crate::auth::Principal>()?;
    let method = env.method.as_deref()?;
    let tool = env
        .tool
        .as_deref()
        .and_then(|name| served.catalog.tools().get(name))
        .map(|t| &t.def)
        .filter(|def| served.policy.serves(def));
    let scope = crate::auth::resource::missing_scope(auth, principal, method, tool)?;
    tracing::info!(
        method,
        tool = env.tool.as_deref(),
        scope,
        "request refused: insufficient scope"
    );
    let mut res = envelope::RpcError {
        status: StatusCode::FORBIDDEN,
        code: crate::wire::code::INVALID_REQUEST,
        message: format!("Forbidden: this operation needs the scope {scope}").into(),
        id: env.id.clone(),
    }
    .into_response();
    if let Some(v) = crate::auth::resource::insufficient_scope(auth, &scope) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    Some(res)
}

fn session_id(req: &Request) -> Option<String> {
    req.headers()
        .get(SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A refusal for load: JSON-RPC error body plus `Retry-After`.
fn too_many(
    status: StatusCode,
    message: &'static str,
    retry_after_secs: u64,
    id: Option<serde_json::Value>,
) -> Response {
    let mut res = envelope::RpcError {
        status,
        code: crate::wire::code::INVALID_REQUEST,
        message: message.into(),
        id,
    }
    .into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    res
}

/// 404 for a session that ended or never existed.
fn session_not_found(id: Option<serde_json::Value>) -> Response {
    envelope::RpcError {
        status: StatusCode::NOT_FOUND,
        code: -32001,
        message: "Not Found: Session not found".into(),
        id,
    }
    .into_response()
}

/// 404 for a session past its lifetime: the client starts a new one.
fn session_expired(id: Option<serde_json::Value>) -> Response {
    envelope::RpcError {
        status: StatusCode::NOT_FOUND,
        code: -32001,
        message: "Not Found: session expired".into(),
        id,
    }
    .into_response()
}

async fn forward(service: &Service, req: Request) -> Response {
    service.handle(req).await.map(Body::new)
}
