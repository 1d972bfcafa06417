//! `mcp-connector grant …`: the authorizations users and services hold (a
//! consent, a service token, an Enterprise-Managed Authorization), and
//! ending one with all its tokens.

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::json;

use super::ConfigArgs;
use super::client::{Format, open, print_list, when};
use crate::auth::events::What;
use crate::clock::unix_now;

/// `grant list`
#[derive(Debug, Clone, Args)]
pub(super) struct ListArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Only the grants of this user (name).
    #[arg(long)]
    user: Option<String>,
    /// Only the grants of this client (id).
    #[arg(long)]
    client: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// `grant revoke`
#[derive(Debug, Clone, Args)]
pub(super) struct RevokeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The grant id `grant list` shows.
    id: String,
}

pub(super) fn list(args: &ListArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        let o = open(&args.config).await?;
        let user_id = match &args.user {
            Some(name) => match o.db.user_by_name(name).await.context("reading users")? {
                Some(u) => Some(u.id),
                None => {
                    o.db.close().await;
                    bail!("no user `{name}`");
                }
            },
            None => None,
        };
        let grants =
            o.db.list_grants(user_id.as_deref(), args.client.as_deref(), unix_now())
                .await
                .context("reading grants");
        o.db.close().await;
        let grants = grants?;
        print_list(
            args.format,
            &grants,
            "no grants",
            &[
                "ID",
                "USER",
                "CLIENT",
                "SCOPE",
                "CREATED",
                "LAST USED",
                "STATUS",
            ],
            |g| {
                json!({
                    "id": g.id,
                    "user": g.username,
                    "user_id": g.user_id,
                    "client_id": g.client_id,
                    "client_name": g.client_name,
                    "scope": g.scopes,
                    "created_at": g.created_at,
                    "last_used_at": g.last_used_at,
                    "live": g.live,
                })
            },
            |g| {
                let client = match &g.client_name {
                    Some(n) => format!("{n} ({})", g.client_id),
                    None => g.client_id.clone(),
                };
                vec![
                    g.id.clone(),
                    g.username.clone().unwrap_or_else(|| "-".to_owned()),
                    client,
                    g.scopes.clone(),
                    when(Some(g.created_at)),
                    when(g.last_used_at),
                    if g.live { "active" } else { "expired" }.to_owned(),
                ]
            },
        )
    })
}

pub(super) fn revoke(args: &RevokeArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        let o = open(&args.config).await?;
        let revoked = o.db.revoke_grant(&args.id, unix_now()).await;
        let audited = match revoked {
            Ok(true) => {
                o.record(What::GrantRevokedByOperator { grant_id: &args.id })
                    .await
            }
            _ => Ok(()),
        };
        o.db.close().await;
        if !revoked.context("revoking the grant")? {
            bail!("no active grant with id `{}`", args.id);
        }
        println!(
            "revoked grant {}: its access and refresh tokens stop working within 5 seconds",
            args.id
        );
        audited
    })
}
