//! Application state, the router and the server loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::routing::{any, get};
use axum::serve::ListenerExt as _;
use mcp_connector_security::Sealer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::auth::{self, Auth};
use crate::catalog::Catalog;
use crate::config::{Config, Demo};
use crate::declared::DeclaredCatalog;
use crate::http::edge::{self, EdgePolicy};
use crate::http::health;
use crate::http::rate_limit::{self, RateLimiter};
use crate::http::rejection::EdgeError;
use crate::http::request_id::RequestIds;
use crate::http::tls::TlsListener;
use crate::mcp::guard::{ToolPolicy, Unconfirmed};
use crate::mcp::handler::Shared;
use crate::mcp::live::{Live, Served};
use crate::mcp::transport::{self, Endpoint, EndpointOptions};
use crate::network::{self, Allowlist, NetworkPolicy, TrustedProxies};
use crate::store::sessions::DbSessionStore;
use crate::store::{Db, DbOptions, StoreError};
use crate::telemetry::Metrics;

/// Name of the server secret that seals cursors.
const CURSOR_SECRET: &str = "cursor-seal-v1";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("tool registration: {0}")]
    Tools(#[from] crate::catalog::tools::RegisterError),
    #[error("declared tools: {0}")]
    Declared(#[from] crate::declared::catalog::BuildError),
    #[error("tools.{name}: no such tool (served tools: {known})")]
    UnknownTool { name: String, known: String },
    #[error(transparent)]
    Drift(#[from] crate::drift::DriftError),
}

/// Everything the server shares between requests. Cloning is cheap.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub mcp: Shared,
    /// Cancelled after shutdown has drained in-flight calls; ends rmcp streams.
    pub transport_shutdown: CancellationToken,
    /// Cancelled when shutdown begins; ends idle streams at once.
    pub shutdown_begun: CancellationToken,
    /// Authentication of `/mcp`; `None` when `auth.mode = "none"`.
    pub auth: Option<Auth>,
    /// When the state was built (the admin console's uptime).
    pub started: std::time::Instant,
    /// The metrics registry: enabled when `telemetry.metrics_listen` is
    /// set. In-process readers (the admin console) use
    /// [`Metrics::snapshot`]; to count without serving `/metrics`, build
    /// the state with [`Metrics::new`] in `metrics` instead.
    pub metrics: Metrics,
}

impl AppState {
    /// Connect and migrate the database and build the catalog `config` names.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let db = Db::connect(
            &config.database_url,
            &DbOptions {
                max_connections: config.max_connections,
                ..DbOptions::default()
            },
        )
        .await?;
        db.migrate_with(config.wants_demo_rows()).await?;
        let sealer = Sealer::new(&db.server_secret(CURSOR_SECRET).await?);
        let served = served(&config, &db, &sealer).await?;
        let metrics = if config.metrics_listen.is_some() {
            Metrics::new()
        } else {
            Metrics::disabled()
        };
        metrics.register_tools(served.catalog.tools().definitions().map(|t| &*t.name));
        let audit =
            crate::audit::AuditSink::start_observed(db.clone(), &config.audit, metrics.clone());
        if let Some(gauges) = metrics.state() {
            let sink = audit.clone();
            gauges.set_audit_queue(Box::new(move || i64::try_from(sink.queue_depth()).ok()));
            let pools = db.clone();
            gauges.set_db_pool(Box::new(move || {
                let (idle, in_use) = pools.pool_connections();
                (i64::from(idle), i64::from(in_use))
            }));
        }
        let auth = Auth::build(&config, &db, &served.catalog.scopes(), &audit).await?;
        let live = Live::new(served);
        // The consent page lists the tools each scope unlocks: what is
        // served now, reloads included.
        let auth = auth.map(|mut a| {
            a.tools = Arc::new(LiveTools(live.clone()));
            a.metrics = metrics.clone();
            a
        });
        Ok(Self {
            metrics: metrics.clone(),
            auth,
            mcp: Shared {
                live,
                sealer,
                tool_timeout: config.tool_timeout,
                in_flight: TaskTracker::new(),
                sessions: config.sessions,
                hygiene: Arc::new(config.safety.hygiene()),
                audit,
                db: db.clone(),
                public_origin: config
                    .public_origin
                    .as_ref()
                    .map(|u| Arc::from(u.origin().ascii_serialization())),
                approval_wait: Duration::from_secs(config.safety.approval_wait_secs),
                // The answer must leave before the request times out.
                approval_url_wait: config
                    .request_timeout
                    .saturating_sub(Duration::from_secs(5))
                    .max(Duration::from_secs(1)),
                metrics,
                tasks: Default::default(),
            },
            config: Arc::new(config),
            db,
            transport_shutdown: CancellationToken::new(),
            shutdown_begun: CancellationToken::new(),
            started: std::time::Instant::now(),
        })
    }
}

/// The served tools, for the consent page.
struct LiveTools(Live);

impl auth::ToolDirectory for LiveTools {
    fn served_tools(&self) -> Vec<rmcp::model::Tool> {
        let served = self.0.load();
        served
            .catalog
            .tools()
            .definitions()
            .filter(|t| served.policy.serves(t))
            .cloned()
            .collect()
    }
}

/// The catalog `config` names (declared tools, else the demo) and its policy.
async fn served(config: &Config, db: &Db, sealer: &Sealer) -> Result<Served, StartError> {
    let catalog: Arc<dyn Catalog> = match (&config.declared, config.demo) {
        (Some(declared), _) => {
            Arc::new(DeclaredCatalog::build(declared.clone(), sealer.clone()).await?)
        }
        (None, Demo::Company) => Arc::new(crate::demo::company::Company::new(
            db.clone(),
            sealer.clone(),
        )?),
        (None, Demo::Conformance) => Arc::new(crate::demo::conformance::Conformance::new(sealer)?),
    };
    match tool_policy(config, catalog.as_ref()) {
        Ok(policy) => Ok(Served { catalog, policy }),
        Err(e) => {
            // Probing may have connected: close, do not just drop.
            if let Some(d) = catalog.declared() {
                d.sources().close().await;
            }
            Err(e)
        }
    }
}

impl AppState {
    /// Serve the tools of `config` from now on (config reload): declared
    /// tools and `[tools]` settings change; everything else needs a restart.
    /// Sessions that listen get `notifications/tools/list_changed`. On any
    /// error (including drift under `safety.drift = "refuse"`) the tools
    /// served so far stay.
    pub async fn reload_tools(&self, config: &Config) -> Result<(), StartError> {
        let mut config = config.clone();
        // Read-only mode is a start-up decision, not a reloadable one.
        config.read_only = self.config.read_only;
        let served = served(&config, &self.db, &self.mcp.sealer).await?;
        if let Err(e) = self.check_lock(&served).await {
            if let Some(d) = served.catalog.declared() {
                d.sources().close().await;
            }
            return Err(e);
        }
        let old = self.mcp.live.load();
        self.metrics
            .register_tools(served.catalog.tools().definitions().map(|t| &*t.name));
        self.mcp.live.replace(served);
        retire(old, self.config.tool_timeout);
        Ok(())
    }

    /// The start-up check of `safety.tools_lock`, for a reloaded tool set:
    /// a reload must not slip past a lock that would stop a restart.
    async fn check_lock(&self, served: &Served) -> Result<(), StartError> {
        let safety = &self.config.safety;
        let Some(path) = &safety.tools_lock else {
            return Ok(());
        };
        let live = served_lock(served);
        let report = crate::drift::check(path, crate::safety::DriftMode::Warn, &live)?;
        if report.is_empty() {
            return Ok(());
        }
        let refuse = safety.drift == crate::safety::DriftMode::Refuse;
        let mut event = crate::audit::AuditEvent::now(crate::audit::AuditKind::ToolDrift);
        event.is_error = refuse;
        event.error = Some(format!("config reload: {}", report.summary()));
        event.arguments = Some(serde_json::json!({
            "lock": path.display().to_string(),
            "locked_digest": report.locked_digest,
            "live_digest": report.live_digest,
            "changes": report.lines(),
        }));
        if let Err(e) = self.mcp.audit.record(event).await {
            tracing::error!(error = %e, "could not record tool drift in the audit trail");
        }
        if refuse {
            return Err(crate::drift::DriftError::Refused {
                path: path.clone(),
                summary: report.summary(),
            }
            .into());
        }
        for line in report.lines() {
            tracing::warn!(lock = %path.display(), "tool drift after reload: {line}");
        }
        Ok(())
    }
}

/// Close the sources of a replaced tool set once the calls that took it
/// have finished (each holds its snapshot), or after `grace`: closing at
/// once would fail calls that are about to take a connection.
fn retire(old: Arc<Served>, grace: Duration) {
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + grace;
        while Arc::strong_count(&old) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some(d) = old.catalog.declared() {
            d.sources().close().await;
        }
    });
}

/// The tool policy of `config`, with every `[tools.NAME]` checked against
/// the catalog so that a typo cannot silently leave a tool enabled.
fn tool_policy(config: &Config, catalog: &dyn Catalog) -> Result<ToolPolicy, StartError> {
    // Users sign in to the connector: a person can approve a write.
    let approve =
        config.auth.mode == crate::config::AuthMode::OAuth && config.public_origin.is_some();
    let mut policy = ToolPolicy {
        read_only: config.read_only,
        default_unconfirmed: if approve {
            Unconfirmed::Approve
        } else {
            Unconfirmed::Refuse
        },
        approval_ttl_secs: config.safety.approval_ttl_secs,
        approval_ttls: config
            .approval_ttls
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        ..ToolPolicy::default()
    };
    for (name, settings) in &config.tools {
        if catalog.tools().get(name).is_none() {
            let known: Vec<String> = catalog
                .tools()
                .definitions()
                .map(|t| t.name.to_string())
                .collect();
            return Err(StartError::UnknownTool {
                name: name.clone(),
                known: known.join(", "),
            });
        }
        if !settings.enabled {
            policy.disabled.insert(name.clone());
        }
        policy
            .unconfirmed
            .insert(name.clone(), settings.unconfirmed);
    }
    Ok(policy)
}

/// The lock of the tools `served` serves: what `tools/list` shows, so a
/// tool hidden by read-only mode or `enabled = false` is not in it.
pub fn served_lock(served: &Served) -> crate::drift::ToolLock {
    crate::drift::ToolLock::of(
        served
            .catalog
            .tools()
            .definitions()
            .filter(|t| served.policy.serves(t)),
    )
}

/// The HTTP router. Pure: builds routes and layers from `state`, binds nothing.
pub fn router(state: AppState) -> Router {
    let c = &state.config;
    let rate_limiter = if state.auth.is_some() {
        RateLimiter::authenticated(
            c.limits.requests,
            c.limits.tool_calls,
            c.limits.address_requests,
        )
    } else {
        RateLimiter::new(c.limits.requests, c.limits.tool_calls)
    };
    let endpoint = Endpoint::new(
        state.mcp.clone(),
        EndpointOptions {
            sessions: c.sessions,
            max_body_bytes: c.max_body_bytes,
            sse_keep_alive: c.sse_keep_alive,
            session_store: c
                .sessions
                .then(|| Arc::new(DbSessionStore::new(state.db.clone())) as _),
            transport_shutdown: state.transport_shutdown.clone(),
            shutdown: state.shutdown_begun.clone(),
            rate_limiter: rate_limiter.clone(),
            limits: c.limits.clone(),
            auth: state.auth.clone(),
        },
    );
    let metrics = state.metrics.clone();
    let policy = EdgePolicy {
        allowed_hosts: c.allowed_hosts.clone().into(),
        allowed_origins: c.allowed_origins.clone().into(),
        max_body_bytes: c.max_body_bytes,
        metrics: metrics.clone(),
    };
    let request_timeout = c.request_timeout;
    let body_timeout = c.limits.request_body_timeout;
    let network = NetworkPolicy {
        allow: Allowlist::new(c.allow.clone()),
        proxies: TrustedProxies::new(c.trusted_proxies.clone()),
        https_public: c
            .public_origin
            .as_ref()
            .is_some_and(|u| u.scheme() == "https"),
        metrics: metrics.clone(),
    };

    let mut mcp = Router::new()
        .route("/mcp", any(transport::handle))
        .with_state(endpoint);
    let mut public = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(health::Readiness {
            db: state.db.clone(),
            sources: {
                let live = state.mcp.live.clone();
                Arc::new(move || live.load().catalog.declared().map(|d| d.sources().clone()))
            },
        });
    if let Some(a) = &state.auth {
        public = public.merge(auth::routes(a.clone()));
        // The console signs in through `/signin`, which only the
        // authorization server has.
        if a.is_authorization_server() {
            public = public.merge(crate::admin::routes(crate::admin::AdminState {
                auth: a.clone(),
                live: state.mcp.live.clone(),
                config: state.config.clone(),
                started: state.started,
            }));
        }
    }

    // Layers added later wrap the earlier ones: the edge order is allowlist →
    // Host/Origin and body limit → timeout → authentication (on /mcp) → rate
    // limit → MCP. Authentication comes first on /mcp so that the rate limit
    // follows the user rather than the shared egress address of all Claude
    // traffic; the public routes (login, token) are limited per address.
    if let Some(limiter) = rate_limiter {
        mcp = mcp.layer(axum::middleware::from_fn_with_state(
            (limiter.clone(), metrics.clone()),
            rate_limit::enforce,
        ));
        public = public.layer(axum::middleware::from_fn_with_state(
            (limiter, metrics.clone()),
            rate_limit::enforce,
        ));
    }
    if let Some(a) = &state.auth {
        mcp = mcp.layer(axum::middleware::from_fn_with_state(
            a.clone(),
            auth::resource::require_token,
        ));
    }
    let app = mcp.merge(public);
    app
        .layer(axum::middleware::from_fn(move |req: Request, next: axum::middleware::Next| async move {
            // Bounds the time until a response starts. Streams that have
            // started are bounded by the tool timeout and their keep-alives.
            match tokio::time::timeout(request_timeout, next.run(req)).await {
                Ok(res) => res,
                Err(_) => axum::response::IntoResponse::into_response(EdgeError::Timeout),
            }
        }))
        .layer(axum::middleware::from_fn_with_state(
            body_timeout,
            crate::http::conn::body_deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(policy, edge::enforce))
        .layer(axum::middleware::from_fn_with_state(network, network::enforce))
        // Counts every request, refused ones included, by matched route.
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            crate::http::metrics::count,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                // A 5xx is logged where it happens, with its cause (ERROR for
                // an internal fault, WARN for a readiness probe that fails);
                // the trace layer's own line about it is a WARN, so that a
                // load balancer probing a replica whose database is down
                // does not fill the log with errors.
                .on_failure(DefaultOnFailure::new().level(tracing::Level::WARN))
                .make_span_with(|req: &Request| {
                // Method, path and request id only: never headers, query or body.
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::x_request_id(RequestIds::new()))
}

/// Serve `state` on `listener` until `shutdown` is cancelled, then stop
/// accepting, let in-flight calls finish (up to the configured grace period),
/// close the streams and return.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    // Nagle's algorithm would hold back the small writes of an SSE response
    // until the client's delayed ACK (about 40 ms per event).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    serve_on(listener, state, shutdown).await
}

/// [`serve`], terminating TLS with `tls` (see [`crate::http::tls`]).
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_on(TlsListener::new(listener, tls)?, state, shutdown).await
}

async fn serve_on<L>(
    listener: L,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let app = router(state.clone());
    let limits = crate::http::conn::ConnLimits {
        head_timeout: state.config.limits.request_head_timeout,
        idle_timeout: state.config.limits.keep_alive_idle,
        max_per_address: state.config.limits.max_connections_per_address,
        proxies: TrustedProxies::new(state.config.trusted_proxies.clone()),
    };
    let grace = state.config.shutdown_grace;
    let drain = {
        let state = state.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            state.shutdown_begun.cancel();
            drain_in_flight(&state.mcp.in_flight, grace).await;
            state.transport_shutdown.cancel();
        })
    };
    // Expired OAuth rows and unused registrations; stops with the server.
    let cleanup = state
        .auth
        .as_ref()
        .filter(|a| a.is_authorization_server())
        .map(|a| auth::cleanup::spawn(a.clone(), shutdown.child_token()));
    // Upstream users re-checked at the identity provider.
    let recheck = state
        .auth
        .as_ref()
        .and_then(|a| auth::upstream::recheck::spawn(a.clone(), shutdown.child_token()));
    // Connections carry `ConnectInfo<SocketAddr>` (the allowlist needs it)
    // and are timed and capped per address (see `http::conn`).
    let result = crate::http::conn::serve(listener, app, limits, shutdown).await;
    for task in [cleanup, recheck].into_iter().flatten() {
        task.abort();
    }
    drain.abort();
    state.transport_shutdown.cancel();
    if let Some(d) = state.mcp.live.load().catalog.declared() {
        d.sources().close().await;
    }
    state.db.close().await;
    result
}

/// Wait until every tracked request has finished, or `grace` has passed.
async fn drain_in_flight(tracker: &TaskTracker, grace: Duration) {
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            remaining = tracker.len(),
            "shutdown grace period over; closing streams with calls in flight"
        );
    }
    // The last responses are written after their handlers return.
    tokio::time::sleep(Duration::from_millis(200)).await;
}
