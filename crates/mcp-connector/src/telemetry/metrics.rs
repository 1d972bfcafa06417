//! The Prometheus metrics registry ([`Metrics`]), served at `GET /metrics`
//! on its own listener (`telemetry.metrics_listen`, see [`crate::http::metrics`]).
//!
//! Every label value is bounded by construction: tool names come from the
//! catalog (pre-registered at start-up and on reload, so a call is one hash
//! lookup and a few atomic adds), and every other label is an enum of this
//! module. A call to a tool the catalog does not serve counts under
//! `tool="_unknown"`, so a client can never create a series.
//!
//! The registry is also the in-process API for reading the counters (the
//! admin console): [`Metrics::snapshot`]. A disabled [`Metrics`] (no
//! `metrics_listen`) records nothing and costs one branch per call site.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use super::gauges::{self, StateGauges};

/// The tool label of calls to a tool the catalog does not serve.
pub const UNKNOWN_TOOL: &str = "_unknown";

/// Latency buckets in seconds: 1 ms … 60 s (tool calls are bounded by the
/// tool timeout, 60 s by default).
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// Defines a label enum with its Prometheus value for each variant.
macro_rules! label_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $value:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }
        impl $name {
            /// Every value, in the order of the registry's series.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The label value.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $value),+ }
            }
            fn index(self) -> usize {
                self as usize
            }
        }
    };
}

label_enum!(
    /// `outcome` of `mcp_connector_tool_calls_total`.
    Outcome {
        Ok => "ok",
        ToolError => "tool_error",
        Refused => "refused",
        RateLimited => "rate_limited",
        ApprovalPending => "approval_pending",
    }
);

label_enum!(
    /// `reason` of `mcp_connector_auth_refusals_total`.
    AuthRefusal {
        MissingToken => "missing_token",
        MalformedToken => "malformed_token",
        BadToken => "bad_token",
        Expired => "expired",
        WrongAudience => "wrong_audience",
        InsufficientScope => "insufficient_scope",
        Unavailable => "unavailable",
        LoginFailed => "login_failed",
        AccountDisabled => "account_disabled",
        LoginThrottled => "login_throttled",
        UpstreamRefused => "upstream_refused",
        AssertionRefused => "assertion_refused",
        TokenReplay => "token_replay",
    }
);

label_enum!(
    /// `limit` of `mcp_connector_rate_limited_total`.
    Limit {
        Requests => "requests",
        Addresses => "addresses",
        ToolCalls => "tool_calls",
        AuthFailures => "auth_failures",
        Sessions => "sessions",
    }
);

label_enum!(
    /// `reason` of `mcp_connector_network_refusals_total`.
    NetworkRefusal {
        Allowlist => "allowlist",
        Host => "host",
        Origin => "origin",
    }
);

label_enum!(
    /// `grant` of `mcp_connector_auth_tokens_issued_total`.
    Grant {
        AuthorizationCode => "authorization_code",
        RefreshToken => "refresh_token",
        ClientCredentials => "client_credentials",
        JwtBearer => "jwt_bearer",
        Other => "other",
    }
);

impl Grant {
    /// The grant of an OAuth `grant_type` value.
    pub fn of(grant_type: &str) -> Self {
        match grant_type {
            "authorization_code" => Self::AuthorizationCode,
            "refresh_token" => Self::RefreshToken,
            "client_credentials" => Self::ClientCredentials,
            "urn:ietf:params:oauth:grant-type:jwt-bearer" | "jwt-bearer" => Self::JwtBearer,
            _ => Self::Other,
        }
    }
}

type Labels = Vec<(&'static str, Cow<'static, str>)>;

/// The series of one tool, created when the tool is registered.
#[derive(Debug)]
struct ToolSeries {
    calls: Vec<Counter>,
    duration: Histogram,
}

/// One counter per value of a label enum, pre-registered.
#[derive(Debug)]
struct Counters(Vec<Counter>);

impl Counters {
    fn new(family: &Family<Labels, Counter>, key: &'static str, values: &[&'static str]) -> Self {
        Self(
            values
                .iter()
                .map(|v| family.get_or_create_owned(&vec![(key, Cow::Borrowed(*v))]))
                .collect(),
        )
    }

    fn get(&self, i: usize) -> u64 {
        self.0.get(i).map_or(0, Counter::get)
    }

    fn inc(&self, i: usize) {
        if let Some(c) = self.0.get(i) {
            c.inc();
        }
    }
}

struct Inner {
    registry: Registry,
    tool_calls: Family<Labels, Counter>,
    tool_duration: Family<Labels, Histogram, fn() -> Histogram>,
    tools: ArcSwap<HashMap<Box<str>, Arc<ToolSeries>>>,
    unknown_tool: Arc<ToolSeries>,
    /// Serialises [`Metrics::register_tools`] (start-up and reloads).
    tools_lock: Mutex<()>,
    http_requests: Family<Labels, Counter>,
    http_duration: Family<Labels, Histogram, fn() -> Histogram>,
    tokens_issued: Counters,
    auth_refusals: Counters,
    rate_limited: Counters,
    network_refusals: Counters,
    audit_commit: Histogram,
    state: Arc<StateGauges>,
}

/// The metrics of one server. Cheap to clone; [`Metrics::disabled`] records nothing.
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

fn counters(
    registry: &mut Registry,
    name: &str,
    help: &str,
    key: &'static str,
    values: &[&'static str],
) -> Counters {
    let family = Family::<Labels, Counter>::default();
    registry.register(name, help, family.clone());
    Counters::new(&family, key, values)
}

fn names<T: Copy>(all: &[T], f: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| f(*v)).collect()
}

impl Metrics {
    /// A registry with every series of this server at zero, and the
    /// `process_*` metrics.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let tool_calls = Family::<Labels, Counter>::default();
        registry.register(
            "mcp_connector_tool_calls",
            "MCP tool calls by tool and outcome",
            tool_calls.clone(),
        );
        let tool_duration =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        registry.register(
            "mcp_connector_tool_call_duration_seconds",
            "Time from dispatch to result of MCP tool calls that ran, by tool",
            tool_duration.clone(),
        );
        let http_requests = Family::<Labels, Counter>::default();
        registry.register(
            "mcp_connector_http_requests",
            "HTTP requests on the MCP listener by route and status",
            http_requests.clone(),
        );
        let http_duration =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        registry.register(
            "mcp_connector_http_request_duration_seconds",
            "Time until the response head of HTTP requests, by route",
            http_duration.clone(),
        );
        let tokens_issued = counters(
            &mut registry,
            "mcp_connector_auth_tokens_issued",
            "Access tokens issued at /token, by grant",
            "grant",
            &names(Grant::ALL, Grant::as_str),
        );
        let auth_refusals = counters(
            &mut registry,
            "mcp_connector_auth_refusals",
            "Refused bearer tokens, scopes, logins and assertions, by reason",
            "reason",
            &names(AuthRefusal::ALL, AuthRefusal::as_str),
        );
        let rate_limited = counters(
            &mut registry,
            "mcp_connector_rate_limited",
            "Requests refused by a rate limit or the session cap, by limit",
            "limit",
            &names(Limit::ALL, Limit::as_str),
        );
        let network_refusals = counters(
            &mut registry,
            "mcp_connector_network_refusals",
            "Requests refused by network controls, by reason",
            "reason",
            &names(NetworkRefusal::ALL, NetworkRefusal::as_str),
        );
        let audit_commit = histogram();
        registry.register(
            "mcp_connector_audit_commit_duration_seconds",
            "Time to commit one batch of audit records",
            audit_commit.clone(),
        );
        registry.register(
            "mcp_connector_build",
            "Build information",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        let state = Arc::new(StateGauges::default());
        registry.register_collector(Box::new(state.clone()));
        registry.register_collector(Box::new(gauges::Process));
        let unknown_tool = Arc::new(tool_series(
            &tool_calls,
            &tool_duration,
            UNKNOWN_TOOL.into(),
        ));
        Self {
            inner: Some(Arc::new(Inner {
                registry,
                tool_calls,
                tool_duration,
                tools: ArcSwap::from_pointee(HashMap::new()),
                unknown_tool,
                tools_lock: Mutex::new(()),
                http_requests,
                http_duration,
                tokens_issued,
                auth_refusals,
                rate_limited,
                network_refusals,
                audit_commit,
                state,
            })),
        }
    }

    /// Metrics that record nothing (`telemetry.metrics_listen` unset).
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Create the series of `tools` (the catalog's names), at zero, so that
    /// calls find them with one lookup. Series of tools no longer served
    /// stay (a counter must not go back to zero while the process lives).
    pub fn register_tools<'a>(&self, tools: impl IntoIterator<Item = &'a str>) {
        let Some(inner) = &self.inner else { return };
        let _serial = inner.tools_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut map: HashMap<Box<str>, Arc<ToolSeries>> = (**inner.tools.load()).clone();
        for name in tools {
            if name == UNKNOWN_TOOL || map.contains_key(name) {
                continue;
            }
            let series = tool_series(
                &inner.tool_calls,
                &inner.tool_duration,
                Cow::Owned(name.to_owned()),
            );
            map.insert(name.into(), Arc::new(series));
        }
        inner.tools.store(Arc::new(map));
    }

    /// One tool call: `tool` as the client named it (mapped to
    /// `_unknown` unless registered), its outcome, and how long it ran
    /// (`None` when it did not run: refused or rate limited).
    pub fn tool_call(&self, tool: &str, outcome: Outcome, ran_for: Option<Duration>) {
        let Some(inner) = &self.inner else { return };
        let tools = inner.tools.load();
        let series = tools.get(tool).unwrap_or(&inner.unknown_tool);
        series.calls[outcome.index()].inc();
        if let Some(d) = ran_for {
            series.duration.observe(d.as_secs_f64());
        }
    }

    /// One HTTP request on the MCP listener; `route` is the matched route
    /// template (bounded by the router), never the request path.
    pub fn http_request(&self, route: &str, status: u16, elapsed: Duration) {
        let Some(inner) = &self.inner else { return };
        let route: Cow<'static, str> = Cow::Owned(route.to_owned());
        let labels = vec![
            ("route", route.clone()),
            ("status", Cow::Owned(status.to_string())),
        ];
        inner.http_requests.get_or_create(&labels).inc();
        inner
            .http_duration
            .get_or_create(&vec![("route", route)])
            .observe(elapsed.as_secs_f64());
    }

    pub fn token_issued(&self, grant: Grant) {
        if let Some(inner) = &self.inner {
            inner.tokens_issued.inc(grant.index());
        }
    }

    pub fn auth_refused(&self, reason: AuthRefusal) {
        if let Some(inner) = &self.inner {
            inner.auth_refusals.inc(reason.index());
        }
    }

    pub fn rate_limited(&self, limit: Limit) {
        if let Some(inner) = &self.inner {
            inner.rate_limited.inc(limit.index());
        }
    }

    pub fn network_refused(&self, reason: NetworkRefusal) {
        if let Some(inner) = &self.inner {
            inner.network_refusals.inc(reason.index());
        }
    }

    pub fn audit_committed(&self, elapsed: Duration) {
        if let Some(inner) = &self.inner {
            inner.audit_commit.observe(elapsed.as_secs_f64());
        }
    }

    /// The gauges read at each scrape (sessions, audit queue, database pool).
    pub fn state(&self) -> Option<&StateGauges> {
        self.inner.as_deref().map(|i| &*i.state)
    }

    /// The registry in the Prometheus text format 0.0.4, or OpenMetrics 1.0
    /// text when `openmetrics`; `None` when disabled.
    pub fn encode(&self, openmetrics: bool) -> Option<String> {
        let inner = self.inner.as_ref()?;
        let mut out = String::new();
        let result = if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &inner.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &inner.registry)
        };
        // Writing to a String fails only if a collector does.
        result.ok().map(|()| out)
    }

    /// The counters as numbers, for in-process readers (the admin console);
    /// `None` when disabled.
    pub fn snapshot(&self) -> Option<Snapshot> {
        let inner = self.inner.as_ref()?;
        let mut tool_calls = Vec::new();
        let tools = inner.tools.load();
        let all = tools
            .iter()
            .map(|(n, s)| (n.as_ref(), s))
            .chain(std::iter::once((UNKNOWN_TOOL, &inner.unknown_tool)));
        for (name, series) in all {
            for outcome in Outcome::ALL {
                tool_calls.push(ToolCount {
                    tool: name.to_owned(),
                    outcome: *outcome,
                    calls: series.calls[outcome.index()].get(),
                });
            }
        }
        tool_calls.sort_by(|a, b| (&a.tool, a.outcome.index()).cmp(&(&b.tool, b.outcome.index())));
        let by = |c: &Counters, values: &[&'static str]| {
            values
                .iter()
                .enumerate()
                .map(|(i, v)| (*v, c.get(i)))
                .collect()
        };
        Some(Snapshot {
            tool_calls,
            tokens_issued: by(&inner.tokens_issued, &names(Grant::ALL, Grant::as_str)),
            auth_refusals: by(
                &inner.auth_refusals,
                &names(AuthRefusal::ALL, AuthRefusal::as_str),
            ),
            rate_limited: by(&inner.rate_limited, &names(Limit::ALL, Limit::as_str)),
            network_refusals: by(
                &inner.network_refusals,
                &names(NetworkRefusal::ALL, NetworkRefusal::as_str),
            ),
            sessions_active: inner.state.sessions_active(),
            audit_queue_depth: inner.state.audit_queue_depth(),
        })
    }
}

fn tool_series(
    calls: &Family<Labels, Counter>,
    duration: &Family<Labels, Histogram, fn() -> Histogram>,
    name: Cow<'static, str>,
) -> ToolSeries {
    ToolSeries {
        calls: Outcome::ALL
            .iter()
            .map(|o| {
                calls.get_or_create_owned(&vec![
                    ("tool", name.clone()),
                    ("outcome", Cow::Borrowed(o.as_str())),
                ])
            })
            .collect(),
        duration: duration.get_or_create_owned(&vec![("tool", name)]),
    }
}

/// One `mcp_connector_tool_calls_total` series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCount {
    pub tool: String,
    pub outcome: Outcome,
    pub calls: u64,
}

/// The counters at one moment ([`Metrics::snapshot`]). Label values are
/// the ones the metrics carry.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// By tool (registered tools and `_unknown`), then outcome.
    pub tool_calls: Vec<ToolCount>,
    pub tokens_issued: Vec<(&'static str, u64)>,
    pub auth_refusals: Vec<(&'static str, u64)>,
    pub rate_limited: Vec<(&'static str, u64)>,
    pub network_refusals: Vec<(&'static str, u64)>,
    pub sessions_active: i64,
    pub audit_queue_depth: i64,
}

impl Snapshot {
    /// Calls of `tool` with `outcome` (0 for a tool never registered).
    pub fn tool_calls(&self, tool: &str, outcome: Outcome) -> u64 {
        self.tool_calls
            .iter()
            .find(|c| c.tool == tool && c.outcome == outcome)
            .map_or(0, |c| c.calls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: &Metrics) -> String {
        m.encode(false).unwrap()
    }

    #[test]
    fn unknown_tools_share_one_series() {
        let m = Metrics::new();
        m.register_tools(["get_employee_count"]);
        m.tool_call(
            "get_employee_count",
            Outcome::Ok,
            Some(Duration::from_millis(3)),
        );
        m.tool_call("no_such_tool", Outcome::Refused, None);
        m.tool_call("another\"made-up\ntool", Outcome::Refused, None);
        let s = m.snapshot().unwrap();
        assert_eq!(s.tool_calls("get_employee_count", Outcome::Ok), 1);
        assert_eq!(s.tool_calls(UNKNOWN_TOOL, Outcome::Refused), 2);
        let t = text(&m);
        assert!(
            t.contains("mcp_connector_tool_calls_total{tool=\"_unknown\",outcome=\"refused\"} 2")
        );
        assert!(!t.contains("no_such_tool"), "{t}");
        assert!(!t.contains("made-up"), "{t}");
        // Pre-registered: the approval_pending series exists at zero.
        assert!(t.contains(
            "mcp_connector_tool_calls_total{tool=\"get_employee_count\",outcome=\"approval_pending\"} 0"
        ));
        assert!(t.contains(
            "mcp_connector_tool_call_duration_seconds_count{tool=\"get_employee_count\"} 1"
        ));
    }

    #[test]
    fn names_and_formats() {
        let m = Metrics::new();
        m.token_issued(Grant::of("authorization_code"));
        m.auth_refused(AuthRefusal::WrongAudience);
        m.rate_limited(Limit::ToolCalls);
        m.network_refused(NetworkRefusal::Origin);
        m.http_request("/mcp", 200, Duration::from_millis(1));
        let t = text(&m);
        for line in [
            "mcp_connector_auth_tokens_issued_total{grant=\"authorization_code\"} 1",
            "mcp_connector_auth_refusals_total{reason=\"wrong_audience\"} 1",
            "mcp_connector_rate_limited_total{limit=\"tool_calls\"} 1",
            "mcp_connector_network_refusals_total{reason=\"origin\"} 1",
            "mcp_connector_http_requests_total{route=\"/mcp\",status=\"200\"} 1",
            "# TYPE mcp_connector_http_request_duration_seconds histogram",
            "mcp_connector_build_info{version=\"",
            "# TYPE process_resident_memory_bytes gauge",
        ] {
            assert!(t.contains(line), "missing `{line}` in:\n{t}");
        }
        assert!(!t.contains("# EOF"));
        let om = m.encode(true).unwrap();
        assert!(om.ends_with("# EOF\n"), "{om}");
    }

    #[test]
    fn disabled_records_and_serves_nothing() {
        let m = Metrics::disabled();
        m.register_tools(["a"]);
        m.tool_call("a", Outcome::Ok, None);
        assert!(m.encode(false).is_none());
        assert!(m.snapshot().is_none());
    }
}
