//! `mcp-bench controls`: the cost of the security controls.
//!
//! Starts the connector twice on separate SQLite files, once with every
//! control off and once with every control on (IP allowlist, rate limits set
//! high enough never to trigger, synchronous audit trail, output hygiene),
//! from the two config files beside this crate, and measures stateless
//! `tools/call` throughput of both at each concurrency, back to back.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::load::Workload;
use crate::process::Server;
use crate::report::Meta;

/// Options of the `controls` verb.
#[derive(Debug, clap::Args)]
pub(crate) struct ControlsArgs {
    /// Config with every control off.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/controls-off.toml"))]
    off: PathBuf,
    /// Config with every control on.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/controls-on.toml"))]
    on: PathBuf,
    /// Seconds of measured load per cell.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Comma-separated numbers of concurrent clients.
    #[arg(long, value_delimiter = ',', default_values_t = [16, 64])]
    concurrency: Vec<usize>,
    /// The mcp-connector binary [default: $CARGO_TARGET_DIR/release/mcp-connector].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Also write the Markdown report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Target from issue 5: all controls on keep ≥ 0.8 of the throughput.
const TARGET: f64 = 0.8;

pub(crate) async fn run(args: &ControlsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=3600).contains(&args.duration),
        "--duration must be between 1 and 3600 seconds"
    );
    anyhow::ensure!(
        !args.concurrency.is_empty() && args.concurrency.iter().all(|&c| (1..=1024).contains(&c)),
        "concurrency values must be between 1 and 1024"
    );
    let bin = crate::server_bin(args.server_bin.as_deref())?;
    let warmup = Duration::from_secs(1);
    let duration = Duration::from_secs(args.duration);
    let mut meta = Meta::collect(warmup, duration);
    let dir = tempfile::Builder::new()
        .prefix("mcp-bench-controls-")
        .tempdir()?;
    let control = crate::load::client(1)?;
    let start = |name: &'static str, config: PathBuf, db: &'static str| {
        let bin = bin.clone();
        let control = control.clone();
        let db_url = format!("sqlite://{}", dir.path().join(db).display());
        let log = dir.path().join(format!("{db}.log"));
        async move {
            anyhow::ensure!(config.is_file(), "{} not found", config.display());
            let addr = crate::process::free_loopback_addr()?;
            let argv = vec![
                "serve".to_owned(),
                "--config".to_owned(),
                config.display().to_string(),
                "--listen".to_owned(),
                addr.to_string(),
                "--database-url".to_owned(),
                db_url,
            ];
            Server::start(name, &bin, &argv, addr, log, &control)
                .await
                .with_context(|| format!("starting {name}"))
        }
    };
    eprintln!("starting servers ({})", bin.display());
    let off = start("controls off", args.off.clone(), "off.db").await?;
    let on = start("controls on", args.on.clone(), "on.db").await?;

    let mut rows = Vec::new();
    for &c in &args.concurrency {
        let (o, _) = crate::measure(&off, Workload::StatelessCall, c, warmup, duration).await?;
        let (n, _) = crate::measure(&on, Workload::StatelessCall, c, warmup, duration).await?;
        rows.push((c, o, n));
    }
    meta.compilers.1 = crate::process::busy_compilers();

    let mut out = String::new();
    let _ = writeln!(out, "# mcp-connector: cost of the security controls\n");
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
    let _ = writeln!(
        out,
        "- Configs: `{}` (off), `{}` (on)\n",
        args.off.display(),
        args.on.display()
    );
    let _ = writeln!(
        out,
        "| C | off req/s | off p99 ms | on req/s | on p50 ms | on p99 ms | on errors | ratio on/off | target ≥ {TARGET} |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (c, o, n) in &rows {
        let ratio = if o.rate() > 0.0 {
            n.rate() / o.rate()
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "| {c} | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} | {} | {ratio:.2} | {} |",
            o.rate(),
            o.quantile_ms(0.99),
            n.rate(),
            n.quantile_ms(0.5),
            n.quantile_ms(0.99),
            n.errors + o.errors,
            if ratio >= TARGET { "met" } else { "**missed**" }
        );
    }
    print!("{out}");
    if let Some(path) = &args.out {
        std::fs::write(path, &out).with_context(|| format!("writing {}", path.display()))?;
    }
    drop((off, on));
    Ok(())
}
