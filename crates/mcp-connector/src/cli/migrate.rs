//! `mcp-connector migrate`

use anyhow::Context as _;

use super::StoreArgs;
use crate::store::{Db, DbOptions};

pub(super) fn run(args: &StoreArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    super::runtime()?.block_on(async move {
        let db = Db::connect(&config.database_url, &DbOptions::default())
            .await
            .context("connecting to the database")?;
        db.migrate_with(config.wants_demo_rows())
            .await
            .context("migrating")?;
        db.close().await;
        println!("database is up to date");
        Ok(())
    })
}
