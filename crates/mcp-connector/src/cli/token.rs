//! `mcp-connector token revoke`: end one connection by one of its tokens.

use std::io::BufRead as _;

use anyhow::{Context as _, bail};
use clap::Args;

use super::ConfigArgs;
use super::client::open;
use crate::auth::events::What;
use crate::auth::issue;
use crate::clock::unix_now;

/// `token revoke`
#[derive(Debug, Clone, Args)]
pub(super) struct RevokeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// An access (`mcpat_…`) or refresh (`mcprt_…`) token; `-` reads it from
    /// standard input (keeps it out of shell history).
    token: String,
}

pub(super) fn revoke(args: &RevokeArgs) -> anyhow::Result<()> {
    let token = if args.token == "-" {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the token from standard input")?;
        line.trim().to_owned()
    } else {
        args.token.trim().to_owned()
    };
    if token.is_empty() {
        bail!("no token given");
    }
    // Only the hash is stored, so only the hash is looked up.
    let hash = issue::hash(&token);
    super::runtime()?.block_on(async {
        let o = open(&args.config).await?;
        let revoked = o.db.revoke_token(&hash, None, unix_now()).await;
        let audited = match revoked {
            Ok(true) => o.record(What::TokenRevokedByOperator).await,
            _ => Ok(()),
        };
        o.db.close().await;
        if !revoked.context("revoking the token")? {
            bail!("no live token matches (unknown, expired or already revoked)");
        }
        println!(
            "revoked the grant of that token: its access and refresh tokens stop working within 5 seconds"
        );
        audited
    })
}
