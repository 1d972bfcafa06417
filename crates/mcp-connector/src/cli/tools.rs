//! `mcp-connector tools …`

use anyhow::Context as _;

use super::ConfigArgs;
use crate::app::AppState;

/// Print the served tool definitions as a JSON array.
pub(super) fn list(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    super::runtime()?.block_on(async move {
        let state = AppState::build(config)
            .await
            .context("loading the catalog")?;
        let tools: Vec<_> = state.mcp.catalog.tools().definitions().cloned().collect();
        println!("{}", serde_json::to_string_pretty(&tools)?);
        state.db.close().await;
        Ok(())
    })
}
