//! Closed-loop load: C tasks, each sending its next request as soon as the
//! previous one is answered, for a fixed time. Throughput is what the server
//! sustains with C requests always in flight; latency is per request.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::future::join_all;

use crate::mcp;

/// Upper bound on iterations of one task, whatever the duration: even at
/// 10 µs per request this is far beyond any run this tool does.
const MAX_ITERATIONS_PER_TASK: u64 = 10_000_000;
/// A request slower than this counts as an error rather than hanging a task.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The outcome of one timed run.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunStats {
    pub(crate) concurrency: usize,
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) elapsed: Duration,
    /// Latencies of successful operations, sorted, in microseconds.
    latencies_us: Vec<u32>,
    pub(crate) first_error: Option<String>,
    /// The server's CPU time (user + system) over the run, when measured.
    pub(crate) server_cpu: Option<Duration>,
}

impl RunStats {
    /// Server CPU per successful operation, in microseconds.
    pub(crate) fn cpu_per_op_us(&self) -> Option<f64> {
        let cpu = self.server_cpu?;
        (self.ok > 0).then(|| cpu.as_secs_f64() * 1e6 / self.ok as f64)
    }

    /// Successful operations per second.
    pub(crate) fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// The `q`-quantile (0 < q ≤ 1) latency in milliseconds, nearest-rank.
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        let n = self.latencies_us.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        f64::from(self.latencies_us[rank - 1]) / 1000.0
    }

    fn merge(concurrency: usize, elapsed: Duration, parts: Vec<TaskStats>) -> Self {
        let mut stats = Self {
            concurrency,
            elapsed,
            ..Self::default()
        };
        for part in parts {
            stats.ok += part.latencies_us.len() as u64;
            stats.errors += part.errors;
            stats.latencies_us.extend(part.latencies_us);
            if stats.first_error.is_none() {
                stats.first_error = part.first_error;
            }
        }
        stats.latencies_us.sort_unstable();
        stats
    }
}

#[derive(Default)]
struct TaskStats {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

impl TaskStats {
    fn record(&mut self, started: Instant, outcome: anyhow::Result<()>) {
        match outcome {
            Ok(()) => {
                let us = started.elapsed().as_micros();
                self.latencies_us
                    .push(u32::try_from(us).unwrap_or(u32::MAX));
            }
            Err(e) => {
                self.errors += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(format!("{e:#}"));
                }
            }
        }
    }
}

/// A client whose pool keeps one connection per task alive, so the run
/// measures requests, not TCP handshakes. Proxies are off: all traffic is to
/// loopback.
pub(crate) fn client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    client_with(concurrency, None)
}

/// [`client`], with an `Authorization` header on every request if given.
pub(crate) fn client_with(
    concurrency: usize,
    authorization: Option<&str>,
) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(value) = authorization {
        let mut value = reqwest::header::HeaderValue::from_str(value)
            .context("the Authorization value is not a valid header")?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(concurrency.max(1) * 2)
        .pool_idle_timeout(Duration::from_secs(90))
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the HTTP client")
}

/// One client per virtual client, each with a pool of at most one idle
/// connection: with a closed loop that is one keep-alive connection per
/// task. Without `keep_alive` every request opens a new connection (a storm
/// of connections).
pub(crate) fn pinned(
    concurrency: usize,
    authorization: Option<&str>,
    keep_alive: bool,
) -> anyhow::Result<Vec<reqwest::Client>> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(value) = authorization {
        let mut value = reqwest::header::HeaderValue::from_str(value)
            .context("the Authorization value is not a valid header")?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    (0..concurrency.max(1))
        .map(|_| {
            reqwest::Client::builder()
                .default_headers(headers.clone())
                .no_proxy()
                .tcp_nodelay(true)
                .pool_max_idle_per_host(usize::from(keep_alive))
                .pool_idle_timeout(Duration::from_secs(90))
                .timeout(REQUEST_TIMEOUT)
                .build()
                .context("building the HTTP client")
        })
        .collect()
}

/// Which operation each task repeats.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Workload {
    /// One stateless `tools/call` per iteration.
    StatelessCall,
    /// One stateless `tools/call` of the config-declared `count_by_department`
    /// (`mcp-bench declared`), whose result is rows rather than `{count}`.
    DeclaredCall,
    /// A whole session per iteration: initialize, initialized, call, DELETE.
    Session,
    /// Each task opens one session (initialize, initialized) before its
    /// loop, then sends `tools/call` in it per iteration (answers as the
    /// server's default, SSE for rmcp sessions), and DELETEs it at the end.
    SessionCall,
}

/// Run `workload` against `base_url` with `concurrency` tasks for `duration`.
pub(crate) async fn run(
    client: &reqwest::Client,
    base_url: &str,
    workload: Workload,
    concurrency: usize,
    duration: Duration,
) -> RunStats {
    let limit = Limit::Until(Instant::now() + duration);
    run_on(
        std::slice::from_ref(client),
        base_url,
        workload,
        concurrency,
        limit,
    )
    .await
}

/// When a run ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Limit {
    /// Each task stops at this instant.
    Until(Instant),
    /// Each task does this many iterations (a storm of a fixed size).
    Iterations(u64),
}

/// [`run`] with task `i` on `clients[i % clients.len()]`: one client per task
/// with a pool of one connection gives one keep-alive connection per virtual
/// client, as real MCP clients have.
pub(crate) async fn run_on(
    clients: &[reqwest::Client],
    base_url: &str,
    workload: Workload,
    concurrency: usize,
    limit: Limit,
) -> RunStats {
    let url = format!("{base_url}/mcp");
    let started = Instant::now();
    let tasks = (0..concurrency).map(|task| {
        let client = clients[task % clients.len().max(1)].clone();
        let url = url.clone();
        tokio::spawn(async move {
            // Distinct ids per task make a crossed-over response detectable.
            let id = (task as u64) << 32;
            task_loop(&client, &url, workload, limit, id).await
        })
    });
    let mut parts = Vec::with_capacity(concurrency);
    for joined in join_all(tasks).await {
        match joined {
            Ok(part) => parts.push(part),
            Err(e) => parts.push(TaskStats {
                errors: 1,
                first_error: Some(format!("load task failed: {e}")),
                ..TaskStats::default()
            }),
        }
    }
    RunStats::merge(concurrency, started.elapsed(), parts)
}

/// One task's closed loop.
async fn task_loop(
    client: &reqwest::Client,
    url: &str,
    workload: Workload,
    limit: Limit,
    mut id: u64,
) -> TaskStats {
    let mut stats = TaskStats::default();
    let session = match workload {
        Workload::SessionCall => match open_session(client, url, id).await {
            Ok(session) => Some(session),
            Err(e) => {
                stats.record(Instant::now(), Err(e));
                return stats;
            }
        },
        _ => None,
    };
    let iterations = match limit {
        Limit::Until(_) => MAX_ITERATIONS_PER_TASK,
        Limit::Iterations(n) => n.min(MAX_ITERATIONS_PER_TASK),
    };
    for _ in 0..iterations {
        if let Limit::Until(deadline) = limit
            && Instant::now() >= deadline
        {
            break;
        }
        id += 1;
        let t0 = Instant::now();
        let outcome = match (workload, &session) {
            (Workload::StatelessCall, _) => stateless_call(client, url, id).await,
            (Workload::DeclaredCall, _) => declared_call(client, url, id).await,
            (Workload::Session, _) => session_once(client, url, id).await,
            (Workload::SessionCall, Some(sid)) => session_call(client, url, sid, id).await,
            (Workload::SessionCall, None) => Err(anyhow::anyhow!("no session")),
        };
        stats.record(t0, outcome);
    }
    if let Some(sid) = session
        && let Err(e) = close_session(client, url, &sid).await
    {
        stats.record(Instant::now(), Err(e));
    }
    stats
}

async fn stateless_call(client: &reqwest::Client, url: &str, id: u64) -> anyhow::Result<()> {
    let res = mcp::post(client, url, mcp::call_body(id), None)
        .send()
        .await?;
    let msg = mcp::read_response(res, id).await?;
    mcp::check_count(&msg)
}

async fn declared_call(client: &reqwest::Client, url: &str, id: u64) -> anyhow::Result<()> {
    let res = mcp::post(client, url, mcp::declared_call_body(id), None)
        .send()
        .await?;
    let msg = mcp::read_response(res, id).await?;
    mcp::check_row_count(&msg)
}

/// One full session, as a client that connects, calls one tool and leaves.
async fn session_once(client: &reqwest::Client, url: &str, id: u64) -> anyhow::Result<()> {
    let session_id = open_session(client, url, id).await?;
    session_call(client, url, &session_id, id + 1).await?;
    close_session(client, url, &session_id).await
}

/// `tools/call` in an open session.
async fn session_call(
    client: &reqwest::Client,
    url: &str,
    session_id: &str,
    id: u64,
) -> anyhow::Result<()> {
    let res = mcp::post(client, url, mcp::call_body(id), Some(session_id))
        .send()
        .await?;
    let msg = mcp::read_response(res, id).await.context("tools/call")?;
    mcp::check_count(&msg)
}

/// initialize and notifications/initialized; the session id.
async fn open_session(client: &reqwest::Client, url: &str, id: u64) -> anyhow::Result<String> {
    let res = mcp::post(client, url, mcp::initialize_body(id), None)
        .send()
        .await?;
    let session_id = res
        .headers()
        .get(mcp::SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .context("initialize returned no Mcp-Session-Id")?;
    let init = mcp::read_response(res, id).await.context("initialize")?;
    if let Some(error) = init.get("error") {
        bail!("initialize failed: {error}");
    }
    let res = mcp::post(client, url, mcp::initialized_body(), Some(&session_id))
        .send()
        .await?;
    if res.status() != reqwest::StatusCode::ACCEPTED {
        bail!("notifications/initialized: HTTP {}", res.status());
    }
    Ok(session_id)
}

/// DELETE the session.
async fn close_session(
    client: &reqwest::Client,
    url: &str,
    session_id: &str,
) -> anyhow::Result<()> {
    let res = client
        .delete(url)
        .header(mcp::SESSION_HEADER, session_id)
        .header("mcp-protocol-version", mcp::PROTOCOL_VERSION)
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("DELETE: HTTP {}", res.status());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let parts = vec![TaskStats {
            latencies_us: (1..=100).rev().map(|v| v * 1000).collect(),
            ..TaskStats::default()
        }];
        let stats = RunStats::merge(1, Duration::from_secs(1), parts);
        assert_eq!(stats.ok, 100);
        assert!((stats.quantile_ms(0.5) - 50.0).abs() < f64::EPSILON);
        assert!((stats.quantile_ms(0.99) - 99.0).abs() < f64::EPSILON);
        assert!((stats.rate() - 100.0).abs() < f64::EPSILON);
    }
}
