//! `mcp-connector tools …`

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use super::ConfigArgs;
use crate::app::AppState;
use crate::config::Config;
use crate::drift::{DEFAULT_LOCK_FILE, DriftReport, ToolLock};

/// `tools lock`
#[derive(Debug, Clone, Args)]
pub(super) struct LockArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Where to write [default: safety.tools_lock, else mcp-connector.tools.lock].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `tools diff`
#[derive(Debug, Clone, Args)]
pub(super) struct DiffArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Lock file to compare with [default: safety.tools_lock, else mcp-connector.tools.lock].
    #[arg(long)]
    lock: Option<PathBuf>,
}

/// Print the served tool definitions as a JSON array.
pub(super) fn list(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    super::runtime()?.block_on(async move {
        let state = AppState::build(config)
            .await
            .context("loading the catalog")?;
        let served = state.mcp.live.load();
        let tools: Vec<_> = served.catalog.tools().definitions().cloned().collect();
        println!("{}", serde_json::to_string_pretty(&tools)?);
        state.db.close().await;
        Ok(())
    })
}

/// Write the lock of the served tools.
pub(super) fn lock(args: &LockArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let path = lock_path(args.out.as_deref(), &config);
    let live = served(config)?;
    live.write(&path)?;
    println!(
        "wrote {} ({} tools, {})",
        path.display(),
        live.tools.len(),
        live.digest
    );
    Ok(())
}

/// Compare the served tools with the lock; an error (exit 1) on any drift.
pub(super) fn diff(args: &DiffArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let path = lock_path(args.lock.as_deref(), &config);
    let locked = ToolLock::read(&path)?;
    let report = DriftReport::compare(&locked, &served(config)?);
    if report.is_empty() {
        println!("no drift: the served tools match {}", path.display());
        return Ok(());
    }
    for line in report.lines() {
        println!("{line}");
    }
    anyhow::bail!(
        "the served tools differ from {}: {}",
        path.display(),
        report.summary()
    )
}

/// An explicit path, else the configured lock, else the default file name.
fn lock_path(explicit: Option<&Path>, config: &Config) -> PathBuf {
    explicit
        .map(Path::to_owned)
        .or_else(|| config.safety.tools_lock.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_LOCK_FILE))
}

/// The lock of the tools `serve` would serve with `config`.
fn served(config: Config) -> anyhow::Result<ToolLock> {
    super::runtime()?.block_on(async move {
        let state = AppState::build(config)
            .await
            .context("loading the catalog")?;
        let lock = crate::drift::served(&state.mcp);
        state.db.close().await;
        Ok(lock)
    })
}
