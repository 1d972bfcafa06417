//! Gauges read at scrape time: the server's state (sessions, audit queue,
//! database pool), from probes the app installs, and the standard
//! `process_*` metrics from `/proc` (Linux; elsewhere they are left out).
//! Reading at scrape time keeps them off the request path entirely.

use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Reads a gauge's current value; `None` when it cannot be read right now
/// (the last value is shown instead).
pub type Probe = Box<dyn Fn() -> Option<i64> + Send + Sync>;
/// Reads the database pools: (idle, in use) connections.
pub type PoolProbe = Box<dyn Fn() -> (i64, i64) + Send + Sync>;

#[derive(Default)]
struct Probes {
    sessions: Option<Probe>,
    audit_queue: Option<Probe>,
    db_pool: Option<PoolProbe>,
    last_sessions: i64,
}

/// The state gauges of one server; probes are installed once at start-up.
#[derive(Default)]
pub struct StateGauges {
    probes: Mutex<Probes>,
}

impl std::fmt::Debug for StateGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateGauges").finish_non_exhaustive()
    }
}

impl StateGauges {
    fn probes(&self) -> std::sync::MutexGuard<'_, Probes> {
        self.probes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `mcp_connector_sessions_active`: open stateful sessions.
    pub fn set_sessions(&self, probe: Probe) {
        self.probes().sessions = Some(probe);
    }

    /// `mcp_connector_audit_queue_depth`: records waiting for the writer.
    pub fn set_audit_queue(&self, probe: Probe) {
        self.probes().audit_queue = Some(probe);
    }

    /// `mcp_connector_db_pool_connections{state}`.
    pub fn set_db_pool(&self, probe: PoolProbe) {
        self.probes().db_pool = Some(probe);
    }

    pub fn sessions_active(&self) -> i64 {
        let mut p = self.probes();
        if let Some(v) = p.sessions.as_ref().and_then(|f| f()) {
            p.last_sessions = v;
        }
        p.last_sessions
    }

    pub fn audit_queue_depth(&self) -> i64 {
        self.probes()
            .audit_queue
            .as_ref()
            .and_then(|f| f())
            .unwrap_or(0)
    }

    fn db_pool(&self) -> (i64, i64) {
        self.probes().db_pool.as_ref().map_or((0, 0), |f| f())
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

impl Collector for StateGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        gauge(
            &mut encoder,
            "mcp_connector_sessions_active",
            "Open stateful MCP sessions",
            self.sessions_active(),
        )?;
        gauge(
            &mut encoder,
            "mcp_connector_audit_queue_depth",
            "Audit records waiting to be committed",
            self.audit_queue_depth(),
        )?;
        let (idle, in_use) = self.db_pool();
        let mut metric = encoder.encode_descriptor(
            "mcp_connector_db_pool_connections",
            "Connections of the connector's database pools, by state",
            None,
            MetricType::Gauge,
        )?;
        for (state, value) in [("idle", idle), ("in_use", in_use)] {
            let labels = [("state", state)];
            ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The standard process metrics (names as the Go and Python clients use).
#[derive(Debug, Default)]
pub(super) struct Process;

/// What `/proc/self` says about this process.
#[derive(Debug, Default, PartialEq)]
struct ProcStat {
    cpu_seconds: f64,
    virtual_bytes: i64,
    resident_bytes: i64,
    start_time_seconds: f64,
}

/// Parse `/proc/self/stat` given the clock tick rate, page size and boot
/// time (`btime` of `/proc/stat`). Fields after the parenthesised command
/// name (which may contain spaces) are counted from its closing `)`.
fn parse_stat(stat: &str, ticks: f64, page: i64, boot: f64) -> Option<ProcStat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field n is f[n - 3].
    let num = |n: usize| f.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    Some(ProcStat {
        cpu_seconds: (num(14)? + num(15)?) / ticks,
        start_time_seconds: boot + num(22)? / ticks,
        virtual_bytes: num(23)? as i64,
        resident_bytes: num(24)? as i64 * page,
    })
}

#[cfg(target_os = "linux")]
fn read_proc() -> Option<(ProcStat, i64, i64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse::<f64>()
        .ok()?;
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let page = i64::try_from(rustix::param::page_size()).ok()?;
    let parsed = parse_stat(&stat, ticks, page, boot)?;
    let fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as i64;
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()?
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse::<i64>().ok())
        .unwrap_or(-1);
    Some((parsed, fds, max_fds))
}

#[cfg(not(target_os = "linux"))]
fn read_proc() -> Option<(ProcStat, i64, i64)> {
    None
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some((stat, fds, max_fds)) = read_proc() else {
            return Ok(());
        };
        let cpu = encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(stat.cpu_seconds).encode(cpu)?;
        let start = encoder.encode_descriptor(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(stat.start_time_seconds).encode(start)?;
        for (name, help, value) in [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                stat.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                stat.virtual_bytes,
            ),
            ("process_open_fds", "Number of open file descriptors", fds),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                max_fds,
            ),
        ] {
            gauge(&mut encoder, name, help, value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_in_the_name() {
        // Fields 3.. of a real line, with utime 250 and stime 50 ticks,
        // starttime 1000 ticks, vsize 4096000 and rss 300 pages.
        let line = "4242 (mcp con) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1000 4096000 300 18446744073709551615";
        let s = parse_stat(line, 100.0, 4096, 1_700_000_000.0).unwrap();
        assert_eq!(
            s,
            ProcStat {
                cpu_seconds: 3.0,
                virtual_bytes: 4_096_000,
                resident_bytes: 300 * 4096,
                start_time_seconds: 1_700_000_010.0,
            }
        );
        assert_eq!(parse_stat("garbage", 100.0, 4096, 0.0), None);
    }
}
