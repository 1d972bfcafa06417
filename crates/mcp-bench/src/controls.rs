//! `mcp-bench controls`: the cost of the security controls.
//!
//! Starts the connector twice on separate SQLite files, once with every
//! control off and once with every control on (IP allowlist, rate limits set
//! high enough never to trigger, synchronous audit trail, output hygiene),
//! from the two config files beside this crate, and measures stateless
//! `tools/call` throughput of both at each concurrency, back to back.

use std::path::PathBuf;

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
    #[command(flatten)]
    load: crate::CompareArgs,
}

/// Target from issue 5: all controls on keep ≥ 0.8 of the throughput.
const TARGET: f64 = 0.8;

pub(crate) async fn run(args: &ControlsArgs) -> anyhow::Result<()> {
    let (bin, warmup, duration) = args.load.check()?;
    let mut meta = Meta::collect(warmup, duration);
    let dir = tempfile::Builder::new()
        .prefix("mcp-bench-controls-")
        .tempdir()?;
    let control = crate::load::client(1)?;
    let start = |name: &'static str, config: PathBuf, db: &'static str| {
        let db_url = format!("sqlite://{}", dir.path().join(db).display());
        let log = dir.path().join(format!("{db}.log"));
        let (bin, control) = (bin.clone(), control.clone());
        async move {
            anyhow::ensure!(config.is_file(), "{} not found", config.display());
            Server::serve_config(name, &bin, &config, &db_url, log, &control).await
        }
    };
    eprintln!("starting servers ({})", bin.display());
    let off = start("controls off", args.off.clone(), "off.db").await?;
    let on = start("controls on", args.on.clone(), "on.db").await?;

    let mut rows = Vec::new();
    for &c in &args.load.concurrency {
        let (o, _) = crate::measure(&off, Workload::StatelessCall, c, warmup, duration).await?;
        let (n, _) = crate::measure(&on, Workload::StatelessCall, c, warmup, duration).await?;
        rows.push((c, o, n));
    }
    meta.compilers.1 = crate::process::busy_compilers();

    let out = crate::report::comparison(
        &meta,
        "mcp-connector: cost of the security controls",
        &format!(
            "- Configs: `{}` (off), `{}` (on)",
            args.off.display(),
            args.on.display()
        ),
        &format!(
            "| C | off req/s | off p99 ms | on req/s | on p50 ms | on p99 ms | on errors | ratio on/off | target ≥ {TARGET} |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        &rows,
        |o, n, ratio| {
            format!(
                "{:.0} | {:.2} | {:.0} | {:.2} | {:.2} | {} | {ratio:.2} | {}",
                o.rate(),
                o.quantile_ms(0.99),
                n.rate(),
                n.quantile_ms(0.5),
                n.quantile_ms(0.99),
                n.errors + o.errors,
                if ratio >= TARGET { "met" } else { "**missed**" }
            )
        },
    );
    crate::report::emit(&out, args.load.out.as_deref())?;
    drop((off, on));
    Ok(())
}
