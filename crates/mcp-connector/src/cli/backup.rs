//! `mcp-connector backup` and `restore`: a consistent copy of the SQLite
//! database while the connector serves, and putting one back. PostgreSQL
//! deployments use `pg_dump` / `pg_restore` (see the README).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;

use super::StoreArgs;
use crate::store::{Backend, Db, DbOptions};

/// `backup`
#[derive(Debug, Clone, Args)]
pub(super) struct BackupArgs {
    #[command(flatten)]
    config: StoreArgs,
    /// The backup file to write (it must not exist).
    #[arg(long)]
    out: PathBuf,
}

/// `restore`
#[derive(Debug, Clone, Args)]
pub(super) struct RestoreArgs {
    #[command(flatten)]
    config: StoreArgs,
    /// A file written by `mcp-connector backup`.
    #[arg(long)]
    from: PathBuf,
    /// Replace an existing database (stop every server using it first).
    #[arg(long)]
    force: bool,
}

/// The file of a `sqlite://` URL; an error naming the PostgreSQL way.
fn sqlite_file(url: &str) -> anyhow::Result<PathBuf> {
    if Backend::of_url(url)? != Backend::Sqlite {
        bail!(
            "backup and restore handle SQLite; for PostgreSQL use pg_dump -Fc and pg_restore \
             (docs/operations.md: Backup and restore), then `mcp-connector audit verify`"
        );
    }
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap_or_default();
    Ok(PathBuf::from(path))
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

pub(super) fn backup(args: &BackupArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let source = sqlite_file(&config.database_url)?;
    if !source.exists() {
        bail!("no database at {}", source.display());
    }
    if args.out.exists() {
        bail!("{} exists: choose a new file", args.out.display());
    }
    super::runtime()?.block_on(async {
        let db = Db::connect(&config.database_url, &DbOptions::default())
            .await
            .context("opening the database")?;
        let done = db.backup_to(&args.out).await;
        db.close().await;
        done.context("not a SQLite database")?
            .with_context(|| format!("writing {}", args.out.display()))?;
        let verified = check(&args.out).await?;
        println!(
            "backed up {} to {} ({} audit records, chain intact, head {})",
            source.display(),
            args.out.display(),
            verified.count,
            verified.head
        );
        Ok(())
    })
}

/// Open a backup, check its integrity and its audit chain.
async fn check(file: &Path) -> anyhow::Result<crate::audit::store::Verified> {
    // Opened like the server opens it (WAL mode): a backup is a database.
    let db = Db::connect(&sqlite_url(file), &DbOptions::default())
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let integrity = db.integrity_ok().await;
    let chain = crate::audit::store::verify(&db).await;
    db.close().await;
    if !integrity
        .context("not a SQLite database")?
        .context("checking integrity")?
    {
        bail!("{}: PRAGMA integrity_check failed", file.display());
    }
    chain
        .with_context(|| {
            format!(
                "{}: no audit trail (not a backup of mcp-connector?)",
                file.display()
            )
        })?
        .map_err(|broken| anyhow::anyhow!("{}: {broken}", file.display()))
}

pub(super) fn restore(args: &RestoreArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let target = sqlite_file(&config.database_url)?;
    if target.exists() && !args.force {
        bail!(
            "{} exists: stop every server using it, then run restore again with --force",
            target.display()
        );
    }
    super::runtime()?.block_on(async {
        let verified = check(&args.from).await?;
        // Copy next to the target, then rename: the target is either the old
        // database or the whole backup, never half of one.
        let tmp = target.with_extension("restore-tmp");
        let _ = std::fs::remove_file(&tmp);
        let from = Db::connect(&sqlite_url(&args.from), &DbOptions::default())
            .await
            .with_context(|| format!("opening {}", args.from.display()))?;
        let copied = from.backup_to(&tmp).await;
        from.close().await;
        copied
            .context("not a SQLite database")?
            .with_context(|| format!("writing {}", tmp.display()))?;
        // A write-ahead log left by the old database would be replayed
        // onto the restored one.
        for suffix in ["-wal", "-shm"] {
            let mut side = target.clone().into_os_string();
            side.push(suffix);
            match std::fs::remove_file(&side) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("removing {}", Path::new(&side).display()));
                }
            }
        }
        std::fs::rename(&tmp, &target)
            .with_context(|| format!("moving {} to {}", tmp.display(), target.display()))?;
        println!(
            "restored {} into {} ({} audit records, chain intact, head {})",
            args.from.display(),
            target.display(),
            verified.count,
            verified.head
        );
        Ok(())
    })
}
