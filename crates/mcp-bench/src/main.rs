//! `mcp-bench`: throughput, latency, session rate and memory of mcp-connector,
//! against a bare rmcp server doing the same tool call from memory.
//!
//! Every server is a child process (the baseline is this binary's hidden
//! `baseline-server` verb) so that both sides are measured the same way: over
//! loopback TCP, in their own runtime, sharing the cores with the load generator.

mod baseline;
mod controls;
mod declared;
mod drive;
mod load;
mod mcp;
mod oauth;
mod process;
mod product;
mod report;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};

use crate::load::{RunStats, Workload};
use crate::process::{RssSampler, Server};
use crate::report::{Memory, Meta, Report};

#[derive(Debug, Parser)]
#[command(name = "mcp-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the bare rmcp baseline (started by the benchmark itself).
    /// Throughput with every security control on versus off.
    Controls(controls::ControlsArgs),
    /// Throughput with OAuth bearer tokens on /mcp versus no authentication.
    #[command(name = "oauth")]
    OAuth(oauth::OAuthArgs),
    /// Throughput of a config-declared SQL tool versus the built-in get_employee_count.
    Declared(declared::DeclaredArgs),
    /// The product with its controls on against bare rmcp, both transport
    /// shapes, each control's cost, and memory after a session storm.
    Product(product::ProductArgs),
    /// Send a fixed number of calls on one connection (load for a profiler).
    Drive(drive::DriveArgs),
    #[command(hide = true)]
    BaselineServer {
        #[arg(long)]
        listen: SocketAddr,
        /// Stateful sessions with SSE answers instead of stateless JSON.
        #[arg(long)]
        sessions: bool,
    },
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// The mcp-connector binary [default: $CARGO_TARGET_DIR/release/mcp-connector,
    /// else target/release/mcp-connector].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Seconds of measured load per cell.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Comma-separated numbers of concurrent clients.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 64])]
    concurrency: Vec<usize>,
    /// Concurrent clients of the full-session run.
    #[arg(long, default_value_t = 16)]
    session_concurrency: usize,
    /// Short smoke run: 2 s per cell at concurrency 1 and 4.
    #[arg(long)]
    quick: bool,
    /// Also write the Markdown report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Largest concurrency accepted; beyond it the 2-core target machine only
/// measures its own scheduler.
const MAX_CONCURRENCY: usize = 1024;
pub(crate) const IDLE_SETTLE: Duration = Duration::from_secs(2);

/// Load options of the two-configuration comparisons (`controls`, `oauth`, `declared`).
#[derive(Debug, clap::Args)]
pub(crate) struct CompareArgs {
    /// Seconds of measured load per cell.
    #[arg(long, default_value_t = 10)]
    pub(crate) duration: u64,
    /// Comma-separated numbers of concurrent clients.
    #[arg(long, value_delimiter = ',', default_values_t = [16, 64])]
    pub(crate) concurrency: Vec<usize>,
    /// The mcp-connector binary [default: $CARGO_TARGET_DIR/release/mcp-connector].
    #[arg(long)]
    pub(crate) server_bin: Option<PathBuf>,
    /// Also write the Markdown report to this file.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

impl CompareArgs {
    /// Check the options: (server binary, warm-up, measured time per cell).
    pub(crate) fn check(&self) -> anyhow::Result<(PathBuf, Duration, Duration)> {
        anyhow::ensure!(
            (1..=3600).contains(&self.duration),
            "--duration must be between 1 and 3600 seconds"
        );
        let allowed = |c: &usize| (1..=MAX_CONCURRENCY).contains(c);
        anyhow::ensure!(
            !self.concurrency.is_empty() && self.concurrency.iter().all(allowed),
            "concurrency values must be between 1 and {MAX_CONCURRENCY}"
        );
        let bin = server_bin(self.server_bin.as_deref())?;
        Ok((
            bin,
            Duration::from_secs(1),
            Duration::from_secs(self.duration),
        ))
    }
}

/// Run `task` on a multi-threaded runtime; Ctrl-C stops it with an error
/// (the servers it started are dropped, which stops them).
fn interruptible(task: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the runtime")?;
    rt.block_on(async {
        tokio::select! {
            r = task => r,
            _ = tokio::signal::ctrl_c() => bail!("interrupted"),
        }
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::BaselineServer { listen, sessions }) => baseline::run(listen, sessions),
        Some(Command::Controls(args)) => interruptible(controls::run(&args)),
        Some(Command::OAuth(args)) => interruptible(oauth::run(&args)),
        Some(Command::Declared(args)) => interruptible(declared::run(&args)),
        Some(Command::Product(args)) => interruptible(product::run(&args)),
        Some(Command::Drive(args)) => interruptible(drive::run(&args)),
        None => bench_main(cli.bench),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn bench_main(mut args: BenchArgs) -> anyhow::Result<()> {
    if args.quick {
        args.duration = 2;
        args.concurrency = vec![1, 4];
        args.session_concurrency = 4;
    }
    if args.duration == 0 || args.duration > 3600 {
        bail!("--duration must be between 1 and 3600 seconds");
    }
    let all = args.concurrency.iter().chain([&args.session_concurrency]);
    if args.concurrency.is_empty() || all.clone().any(|&c| c == 0 || c > MAX_CONCURRENCY) {
        bail!("concurrency values must be between 1 and {MAX_CONCURRENCY}");
    }
    interruptible(bench(&args))
}

fn server_bin(arg: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match arg {
        Some(p) => p.to_path_buf(),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| PathBuf::from("target"), PathBuf::from)
            .join("release/mcp-connector"),
    };
    if !path.is_file() {
        bail!(
            "{} not found; build it with `cargo build --release -p mcp-connector` or pass --server-bin",
            path.display()
        );
    }
    Ok(path)
}

async fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let bin = server_bin(args.server_bin.as_deref())?;
    let warmup = Duration::from_secs(1);
    let duration = Duration::from_secs(args.duration);
    let mut meta = Meta::collect(warmup, duration);
    let dir = tempfile::Builder::new().prefix("mcp-bench-").tempdir()?;
    let control = load::client(1)?;

    // One load generator is one client address: with the default per-client
    // rate limit it would measure the limiter. `mcp-bench controls` measures
    // the controls themselves.
    let config = dir.path().join("bench.toml");
    std::fs::write(&config, "[limits]\nrequests_per_minute = 0\n")
        .context("writing the bench config")?;
    let start_ours = |name: &str, db: &str, sessions: bool| {
        let addr = process::free_loopback_addr();
        let db_url = format!("sqlite://{}", dir.path().join(db).display());
        let log = dir.path().join(format!("{db}.log"));
        let name = name.to_owned();
        let bin = bin.clone();
        let control = control.clone();
        let config = config.clone();
        async move {
            let addr = addr?;
            let mut argv = vec!["serve".into(), "--listen".into(), addr.to_string()];
            argv.extend(["--database-url".into(), db_url]);
            argv.extend(["--config".into(), config.display().to_string()]);
            if sessions {
                argv.push("--sessions".into());
            }
            Server::start(&name, &bin, &argv, addr, log, &control).await
        }
    };
    // The servers are declared after `dir`, so they are killed before their
    // database files are removed.
    eprintln!("starting servers ({})", bin.display());
    let ours = start_ours("mcp-connector (stateless)", "stateless.db", false).await?;
    let ours_sessions = start_ours("mcp-connector (--sessions)", "sessions.db", true).await?;
    let addr = process::free_loopback_addr()?;
    let exe = std::env::current_exe().context("locating mcp-bench")?;
    let argv = [
        "baseline-server".to_owned(),
        "--listen".to_owned(),
        addr.to_string(),
    ];
    let log = dir.path().join("baseline.log");
    let base = Server::start("bare rmcp baseline", &exe, &argv, addr, log, &control).await?;

    // Idle memory: after start-up and a pause, before any MCP request.
    tokio::time::sleep(IDLE_SETTLE).await;
    let servers = [&ours, &base, &ours_sessions];
    let idle: Vec<Option<u64>> = servers.iter().map(|s| s.rss_bytes()).collect();
    let mut peak: Vec<Option<u64>> = vec![None; servers.len()];

    let mut stateless = Vec::new();
    for &c in &args.concurrency {
        // Both targets at each concurrency back to back, so a slow drift of
        // the machine (other processes, thermal) hits both alike.
        let (o, po) = measure(&ours, Workload::StatelessCall, c, warmup, duration).await?;
        let (b, pb) = measure(&base, Workload::StatelessCall, c, warmup, duration).await?;
        peak[0] = peak[0].max(po);
        peak[1] = peak[1].max(pb);
        stateless.push((o, b));
    }
    let (sessions, p) = measure(
        &ours_sessions,
        Workload::Session,
        args.session_concurrency,
        warmup,
        duration,
    )
    .await?;
    peak[2] = peak[2].max(p);

    meta.compilers.1 = process::busy_compilers();
    let names = [
        "mcp-connector (stateless)",
        "bare rmcp baseline",
        "mcp-connector (--sessions)",
    ];
    let memory = (0..servers.len())
        .map(|i| Memory {
            name: names[i].to_owned(),
            idle: idle[i],
            peak: peak[i],
            after: servers[i].rss_bytes(),
        })
        .collect();
    let report = Report {
        meta,
        stateless,
        sessions,
        memory,
    }
    .render();
    report::emit(&report, args.out.as_deref())
}

/// Warm up, then measure one cell while sampling the server's RSS. Returns
/// the stats and the peak RSS seen during the measured part.
async fn measure(
    server: &Server,
    workload: Workload,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<(RunStats, Option<u64>)> {
    measure_with(server, workload, concurrency, warmup, duration, None).await
}

/// [`measure`], sending `authorization` on every request if given.
async fn measure_with(
    server: &Server,
    workload: Workload,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    authorization: Option<&str>,
) -> anyhow::Result<(RunStats, Option<u64>)> {
    eprintln!("{}: C={concurrency} {workload:?}", server.name);
    // A fresh pool per cell: each cell starts from C warm connections and
    // inherits nothing from the previous target.
    let client = load::client_with(concurrency, authorization)?;
    let url = server.base_url();
    load::run(&client, &url, workload, concurrency, warmup).await;
    let sampler = RssSampler::start(server.pid());
    let cpu0 = server.cpu_time();
    let mut stats = load::run(&client, &url, workload, concurrency, duration).await;
    stats.server_cpu = cpu0
        .zip(server.cpu_time())
        .map(|(a, b)| b.saturating_sub(a));
    let peak = sampler.finish().await;
    eprintln!(
        "  {:.0}/s p50 {:.2} ms p99 {:.2} ms errors {}",
        stats.rate(),
        stats.quantile_ms(0.5),
        stats.quantile_ms(0.99),
        stats.errors
    );
    Ok((stats, peak))
}
