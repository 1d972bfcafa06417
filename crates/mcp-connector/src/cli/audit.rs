//! `mcp-connector audit …`: read and check the audit trail.

use std::io::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use super::StoreArgs;
use crate::audit::{AuditRecord, store};
use crate::store::{Db, DbOptions};

/// How often `tail --follow` looks for new records.
const FOLLOW_POLL: Duration = Duration::from_secs(1);
/// Records read per query by `export` and `tail --follow`.
const PAGE: i64 = 1000;

/// `audit tail`
#[derive(Debug, Clone, Args)]
pub(super) struct TailArgs {
    #[command(flatten)]
    config: StoreArgs,
    /// How many of the latest records to print.
    #[arg(short = 'n', long, default_value_t = 20)]
    lines: u32,
    /// Keep printing new records as they are committed.
    #[arg(short, long)]
    follow: bool,
}

/// `audit list`
#[derive(Debug, Clone, Args)]
pub(super) struct ListArgs {
    #[command(flatten)]
    config: StoreArgs,
    /// Only records about this tool: its calls and their approvals.
    #[arg(long)]
    tool: String,
    /// How many of the latest such records to print.
    #[arg(short = 'n', long, default_value_t = 100)]
    lines: u32,
}

/// `audit export`
#[derive(Debug, Clone, Args)]
pub(super) struct ExportArgs {
    #[command(flatten)]
    config: StoreArgs,
    /// Only records after this sequence number.
    #[arg(long, default_value_t = 0)]
    since: i64,
}

async fn open(args: &StoreArgs) -> anyhow::Result<Db> {
    let config = args.load()?;
    Db::connect(&config.database_url, &DbOptions::default())
        .await
        .context("connecting to the database")
}

/// Print `records` as JSON Lines; the last `seq` printed.
fn print(records: &[AuditRecord]) -> anyhow::Result<Option<i64>> {
    let mut out = std::io::stdout().lock();
    for r in records {
        serde_json::to_writer(&mut out, r)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(records.last().map(|r| r.seq))
}

const READ_CONTEXT: &str =
    "reading audit_log (has `mcp-connector migrate` or `serve` run on this database?)";

pub(super) fn tail(args: &TailArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async move {
        let db = open(&args.config).await?;
        let latest = store::tail(&db, i64::from(args.lines))
            .await
            .context(READ_CONTEXT)?;
        let mut last = print(&latest)?.unwrap_or(0);
        if args.lines == 0 {
            // `-n 0 --follow`: only what arrives from now on.
            last = store::tail(&db, 1).await?.last().map_or(0, |r| r.seq);
        }
        if !args.follow {
            db.close().await;
            return Ok(());
        }
        // Runs until interrupted, or until stdout is closed (a write error).
        loop {
            tokio::time::sleep(FOLLOW_POLL).await;
            let new = store::since(&db, last, PAGE).await?;
            if let Some(seq) = print(&new)? {
                last = seq;
            }
        }
    })
}

/// The latest records about one tool, oldest first: for a destructive
/// tool, approval request → approval → use → call.
pub(super) fn list(args: &ListArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async move {
        let db = open(&args.config).await?;
        let rows = store::by_tool(&db, &args.tool, i64::from(args.lines))
            .await
            .context(READ_CONTEXT);
        db.close().await;
        print(&rows?)?;
        Ok(())
    })
}

pub(super) fn export(args: &ExportArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async move {
        let db = open(&args.config).await?;
        let mut after = args.since;
        loop {
            let page = store::since(&db, after, PAGE).await.context(READ_CONTEXT)?;
            match print(&page)? {
                Some(seq) if page.len() as i64 == PAGE => after = seq,
                _ => break,
            }
        }
        db.close().await;
        Ok(())
    })
}

pub(super) fn verify(args: &StoreArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async move {
        let db = open(args).await?;
        let outcome = store::verify(&db).await.context(READ_CONTEXT);
        db.close().await;
        let verified = outcome??;
        println!(
            "{} records, chain intact (head {})",
            verified.count, verified.head
        );
        Ok(())
    })
}
