//! The Markdown report, including the spec's targets marked met or missed.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;

use crate::load::RunStats;

/// Where and how the benchmark ran.
pub(crate) struct Meta {
    pub(crate) command: String,
    pub(crate) date: String,
    pub(crate) nproc: usize,
    pub(crate) cpu: String,
    pub(crate) kernel: String,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    /// Compiler processes seen before and after the run (0 and 0 = idle machine).
    pub(crate) compilers: (usize, usize),
    pub(crate) loadavg_before: String,
}

impl Meta {
    pub(crate) fn collect(warmup: Duration, duration: Duration) -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        Self {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            date: utc_now(),
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            kernel,
            warmup,
            duration,
            compilers: (crate::process::busy_compilers(), 0),
            loadavg_before: loadavg(),
        }
    }
}

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Memory of one server process, in bytes.
pub(crate) struct Memory {
    pub(crate) name: String,
    pub(crate) idle: Option<u64>,
    pub(crate) peak: Option<u64>,
    pub(crate) after: Option<u64>,
}

pub(crate) struct Report {
    pub(crate) meta: Meta,
    /// (ours, baseline) per concurrency.
    pub(crate) stateless: Vec<(RunStats, RunStats)>,
    pub(crate) sessions: RunStats,
    pub(crate) memory: Vec<Memory>,
}

const MIB: f64 = 1024.0 * 1024.0;
const TARGET_RATIO: f64 = 0.8;
const TARGET_P99_MS: f64 = 10.0;
const TARGET_IDLE_MIB: f64 = 40.0;

impl Report {
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    // `write!` to a String cannot fail; the results are ignored on purpose.
    fn render_into(&self, o: &mut String) {
        let m = &self.meta;
        let _ = writeln!(o, "# mcp-connector benchmark\n");
        let _ = writeln!(o, "- Command: `{}`", m.command);
        let _ = writeln!(o, "- Date: {}", m.date);
        let _ = writeln!(
            o,
            "- Machine: {} × {} (nproc {}), Linux {}",
            m.nproc, m.cpu, m.nproc, m.kernel
        );
        let _ = writeln!(
            o,
            "- Load average before: {}; compiler processes running before/after: {}/{}{}",
            m.loadavg_before,
            m.compilers.0,
            m.compilers.1,
            if m.compilers == (0, 0) {
                " (machine otherwise idle)"
            } else {
                " (numbers are noisy)"
            }
        );
        let _ = writeln!(
            o,
            "- Load: closed loop, warm-up {:.0} s then {:.0} s per cell; load generator, \
             connector and baseline share the machine's cores\n",
            m.warmup.as_secs_f64(),
            m.duration.as_secs_f64()
        );

        let _ = writeln!(o, "## Stateless `tools/call` (get_employee_count)\n");
        let _ = writeln!(
            o,
            "| C | ours req/s | ours p50 ms | ours p99 ms | ours errors | baseline req/s | baseline p50 ms | baseline p99 ms | baseline errors | ratio ours/baseline |"
        );
        let _ = writeln!(o, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (ours, base) in &self.stateless {
            let _ = writeln!(
                o,
                "| {} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {:.2} | {} | {:.2} |",
                ours.concurrency,
                ours.rate(),
                ours.quantile_ms(0.5),
                ours.quantile_ms(0.99),
                ours.errors,
                base.rate(),
                base.quantile_ms(0.5),
                base.quantile_ms(0.99),
                base.errors,
                ratio(ours, base),
            );
        }

        let s = &self.sessions;
        let _ = writeln!(o, "\n## Full sessions (`--sessions`)\n");
        let _ = writeln!(
            o,
            "initialize → notifications/initialized → tools/call → DELETE, {} tasks.\n",
            s.concurrency
        );
        let _ = writeln!(o, "| C | sessions/s | p50 ms | p99 ms | errors |");
        let _ = writeln!(o, "|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            o,
            "| {} | {:.0} | {:.2} | {:.2} | {} |",
            s.concurrency,
            s.rate(),
            s.quantile_ms(0.5),
            s.quantile_ms(0.99),
            s.errors
        );

        let _ = writeln!(o, "\n## Server memory (VmRSS)\n");
        let _ = writeln!(
            o,
            "| process | idle MiB | peak under load MiB | after load MiB |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|");
        for mem in &self.memory {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                mem.name,
                mib(mem.idle),
                mib(mem.peak),
                mib(mem.after)
            );
        }

        let errors: Vec<String> = self
            .stateless
            .iter()
            .flat_map(|(a, b)| [a, b])
            .chain([s])
            .filter_map(|r| r.first_error.clone())
            .collect();
        if !errors.is_empty() {
            let _ = writeln!(o, "\nFirst errors seen:\n");
            for e in errors {
                let _ = writeln!(o, "- `{e}`");
            }
        }

        let _ = writeln!(o, "\n## Targets\n");
        let _ = writeln!(o, "| target | measured | status |");
        let _ = writeln!(o, "|---|---|---|");
        for (target, measured, met) in self.targets() {
            let status = match met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            };
            let _ = writeln!(o, "| {target} | {measured} | {status} |");
        }
    }

    /// (target, measured value, met?) for each target of the spec.
    pub(crate) fn targets(&self) -> Vec<(String, String, Option<bool>)> {
        let at = |c: usize| {
            self.stateless
                .iter()
                .find(|(ours, _)| ours.concurrency == c)
        };
        let mut rows = Vec::new();
        for c in [16, 64] {
            let row = match at(c) {
                Some((ours, base)) => {
                    let r = ratio(ours, base);
                    (format!("{r:.2}"), Some(r >= TARGET_RATIO))
                }
                None => ("—".to_owned(), None),
            };
            rows.push((
                format!("throughput ratio ≥ {TARGET_RATIO} at C={c}"),
                row.0,
                row.1,
            ));
        }
        let p99 = at(16).map(|(ours, _)| ours.quantile_ms(0.99));
        rows.push((
            format!("p99 < {TARGET_P99_MS} ms at C=16"),
            p99.map_or("—".to_owned(), |v| format!("{v:.2} ms")),
            p99.map(|v| v < TARGET_P99_MS),
        ));
        let idle = self
            .memory
            .first()
            .and_then(|m| m.idle)
            .map(|b| b as f64 / MIB);
        rows.push((
            format!("idle memory < {TARGET_IDLE_MIB} MiB"),
            idle.map_or("—".to_owned(), |v| format!("{v:.1} MiB")),
            idle.map(|v| v < TARGET_IDLE_MIB),
        ));
        let errors: u64 = self
            .stateless
            .iter()
            .map(|(ours, _)| ours.errors)
            .sum::<u64>()
            + self.sessions.errors;
        rows.push((
            "no error under load".to_owned(),
            format!("{errors} errors"),
            Some(errors == 0),
        ));
        rows
    }
}

/// The report of a two-configuration comparison (`controls`, `oauth`):
/// `title`, where it ran, `setup` (what was compared), then a table under
/// `header`/`align` with one line per (concurrency, first, second), whose
/// cells after `C` come from `cells(first, second, second/first)`.
pub(crate) fn comparison(
    meta: &Meta,
    title: &str,
    setup: &str,
    header: &str,
    align: &str,
    rows: &[(usize, RunStats, RunStats)],
    cells: impl Fn(&RunStats, &RunStats, f64) -> String,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {title}\n");
    let _ = writeln!(out, "- Command: `{}`", meta.command);
    let _ = writeln!(out, "- Date: {}", meta.date);
    let _ = writeln!(
        out,
        "- Machine: {} × {} (nproc {}), Linux {}",
        meta.nproc, meta.cpu, meta.nproc, meta.kernel
    );
    let _ = writeln!(
        out,
        "- Compiler processes running before/after: {}/{}",
        meta.compilers.0, meta.compilers.1
    );
    let _ = writeln!(out, "{setup}\n");
    let _ = writeln!(out, "{header}");
    let _ = writeln!(out, "{align}");
    for (c, first, second) in rows {
        let ratio = if first.rate() > 0.0 {
            second.rate() / first.rate()
        } else {
            0.0
        };
        let _ = writeln!(out, "| {c} | {} |", cells(first, second, ratio));
    }
    out
}

/// Targets of issue 16.
const PRODUCT_RATIO: f64 = 0.8;
const PRODUCT_CPU_US: f64 = 100.0;
const PRODUCT_P99_MS: f64 = 2.0;
const PRODUCT_IDLE_MIB: f64 = 10.0;
const PRODUCT_STORM_MIB: f64 = 40.0;

fn cpu_us(stats: &RunStats) -> String {
    stats
        .cpu_per_op_us()
        .map_or("—".to_owned(), |v| format!("{v:.0}"))
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

/// The report of `mcp-bench product`.
pub(crate) fn product(
    meta: &Meta,
    controls_c: usize,
    storm: u64,
    r: &crate::product::Results,
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# mcp-connector with its controls on against bare rmcp\n"
    );
    let _ = writeln!(o, "- Command: `{}`", meta.command);
    let _ = writeln!(o, "- Date: {}", meta.date);
    let _ = writeln!(
        o,
        "- Machine: {} (nproc {}), Linux {}; load average before {}; compiler processes before/after: {}/{}",
        meta.cpu, meta.nproc, meta.kernel, meta.loadavg_before, meta.compilers.0, meta.compilers.1
    );
    let _ = writeln!(
        o,
        "- Controls on: `--auth oauth` with a client_credentials token, audit on, \
         allowlist `loopback`, rate limits 60,000,000/min, output wrapping on. \
         One keep-alive connection per virtual client; warm-up {:.0} s, {:.0} s per cell. \
         CPU = server utime+stime over the measured window / calls (10 ms ticks).\n",
        meta.warmup.as_secs_f64(),
        meta.duration.as_secs_f64()
    );
    let _ = writeln!(o, "## Throughput, latency, server CPU\n");
    let _ = writeln!(
        o,
        "| shape | C | ours calls/s | ours p50 ms | ours p99 ms | ours CPU µs/call | rmcp calls/s | rmcp p99 ms | rmcp CPU µs/call | errors | ratio | ≥ {PRODUCT_RATIO} |"
    );
    let _ = writeln!(
        o,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for (shape, ours, base) in &r.matrix {
        let q = ratio(ours, base);
        let _ = writeln!(
            o,
            "| {shape} | {} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {} | {} | {q:.2} | {} |",
            ours.concurrency,
            ours.rate(),
            ours.quantile_ms(0.5),
            ours.quantile_ms(0.99),
            cpu_us(ours),
            base.rate(),
            base.quantile_ms(0.99),
            cpu_us(base),
            ours.errors + base.errors,
            met(q >= PRODUCT_RATIO),
        );
    }
    if !r.controls.is_empty() {
        let _ = writeln!(
            o,
            "\n## Each control's cost (one off at a time, C = {controls_c})\n"
        );
        let _ = writeln!(
            o,
            "| shape | configuration | calls/s | p99 ms | CPU µs/call | CPU saved µs/call | errors |"
        );
        let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|");
        for (shape, variant, stats) in &r.controls {
            let all_on = r
                .controls
                .iter()
                .find(|(s, v, _)| s == shape && *v == "all on")
                .and_then(|(_, _, s)| s.cpu_per_op_us());
            let saved = all_on
                .zip(stats.cpu_per_op_us())
                .map_or("—".to_owned(), |(a, b)| format!("{:.0}", a - b));
            let _ = writeln!(
                o,
                "| {shape} | {variant} | {:.0} | {:.2} | {} | {saved} | {} |",
                stats.rate(),
                stats.quantile_ms(0.99),
                cpu_us(stats),
                stats.errors
            );
        }
    }
    if !r.storms.is_empty() {
        let _ = writeln!(
            o,
            "\n## Memory (VmRSS): idle, and after {storm} sessions / stateless connections\n"
        );
        let _ = writeln!(
            o,
            "| shape | server | idle MiB | right after MiB | 5 s later MiB | storm ops/s | errors | idle ≤ {PRODUCT_IDLE_MIB} | after ≤ {PRODUCT_STORM_MIB} |"
        );
        let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---|---|");
        for (shape, m) in &r.storms {
            let ours = m.name.starts_with("mcp-connector");
            let check = |v: Option<u64>, limit: f64| match (ours, v) {
                (true, Some(b)) => met(b as f64 / MIB <= limit).to_owned(),
                _ => "—".to_owned(),
            };
            let _ = writeln!(
                o,
                "| {shape} | {} | {} | {} | {} | {:.0} | {} | {} | {} |",
                m.name,
                mib(m.idle),
                mib(m.after),
                mib(m.settled),
                m.stats.rate(),
                m.stats.errors,
                check(m.idle, PRODUCT_IDLE_MIB),
                check(m.after, PRODUCT_STORM_MIB),
            );
        }
    }
    let _ = writeln!(o, "\n## Targets at C = 16\n");
    for (shape, ours, _) in r.matrix.iter().filter(|(_, s, _)| s.concurrency == 16) {
        let cpu = ours.cpu_per_op_us().unwrap_or(f64::NAN);
        let p99 = ours.quantile_ms(0.99);
        let _ = writeln!(
            o,
            "- {shape}: CPU {cpu:.0} µs/call (≤ {PRODUCT_CPU_US}: {}), p99 {p99:.2} ms (≤ {PRODUCT_P99_MS}: {})",
            met(cpu <= PRODUCT_CPU_US),
            met(p99 <= PRODUCT_P99_MS)
        );
    }
    let errors: Vec<&String> = r
        .matrix
        .iter()
        .flat_map(|(_, a, b)| [a, b])
        .chain(r.controls.iter().map(|(_, _, s)| s))
        .chain(r.storms.iter().map(|(_, m)| &m.stats))
        .filter_map(|s| s.first_error.as_ref())
        .collect();
    for e in errors {
        let _ = writeln!(o, "- first error seen: `{e}`");
    }
    o
}

/// Print `report`, and write it to `path` too if given.
pub(crate) fn emit(report: &str, path: Option<&Path>) -> anyhow::Result<()> {
    print!("{report}");
    if let Some(path) = path {
        std::fs::write(path, report).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn ratio(ours: &RunStats, base: &RunStats) -> f64 {
    let b = base.rate();
    if b > 0.0 { ours.rate() / b } else { f64::NAN }
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("—".to_owned(), |b| format!("{:.1}", b as f64 / MIB))
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC`, without a date crate.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
