//! `mcp-connector user …`: the accounts that sign in: local ones (a
//! password here) and upstream ones (created at their first sign-in with the
//! company's identity provider).
//!
//! Passwords are never taken from the command line, where `ps` and shell
//! history would show them: on a terminal they are asked for twice without
//! echo; otherwise `--password-stdin` reads one line.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{Context as _, bail};
use clap::Args;
use mcp_connector_security::SecretString;
use mcp_connector_security::password::hash_password;
use serde_json::json;

use super::ConfigArgs;
use super::client::{Format, note_mode, open, print_list, when};
use crate::auth::events::What;
use crate::auth::issue;
use crate::clock::unix_now;
use crate::store::StoreError;
use crate::store::oauth::{NewUser, UserSource};

/// `user add`
#[derive(Debug, Clone, Args)]
pub(super) struct AddArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The login name.
    username: String,
    /// What the user may grant: `viewer` (read), `editor` (read and write),
    /// or a role of `[auth.roles]`.
    #[arg(long)]
    role: String,
    #[arg(long)]
    email: Option<String>,
    /// Read the password (one line) from standard input instead of asking
    /// on the terminal.
    #[arg(long)]
    password_stdin: bool,
}

/// `user list`
#[derive(Debug, Clone, Args)]
pub(super) struct ListArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// `user disable` / `user enable` / `user delete`
#[derive(Debug, Clone, Args)]
pub(super) struct NameArgs {
    #[command(flatten)]
    config: ConfigArgs,
    username: String,
}

/// `user role`
#[derive(Debug, Clone, Args)]
pub(super) struct RoleArgs {
    #[command(flatten)]
    config: ConfigArgs,
    username: String,
    /// `viewer`, `editor` or a role of `[auth.roles]`.
    role: String,
}

/// `user passwd`
#[derive(Debug, Clone, Args)]
pub(super) struct PasswdArgs {
    #[command(flatten)]
    config: ConfigArgs,
    username: String,
    /// Read the new password (one line) from standard input.
    #[arg(long)]
    password_stdin: bool,
}

/// The password: one line of standard input with `--password-stdin`; on a
/// terminal, asked for twice without echo.
fn read_password(flag: bool) -> anyhow::Result<SecretString> {
    let stdin = std::io::stdin();
    if flag {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let trimmed = line.trim_end_matches(['\r', '\n']).to_owned();
        return Ok(SecretString::new(trimmed));
    }
    if !stdin.is_terminal() {
        bail!(
            "no terminal to ask for the password: pass --password-stdin and write it on standard input, e.g.\n  \
             read -rs PW && printf '%s\\n' \"$PW\" | mcp-connector user ... --password-stdin"
        );
    }
    let first = super::terminal::read_hidden("Password: ")?;
    let second = super::terminal::read_hidden("Repeat password: ")?;
    if first != second {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

/// A login name: 1 to 64 characters, no spaces or control characters.
fn check_username(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        bail!("`{name}` is not a user name (1 to 64 characters, no spaces)");
    }
    Ok(())
}

pub(super) fn add(args: &AddArgs) -> anyhow::Result<()> {
    check_username(&args.username)?;
    if let Some(e) = &args.email
        && (!e.contains('@') || e.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        bail!("`{e}` is not an email address");
    }
    let password = read_password(args.password_stdin)?;
    let hash = hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    super::runtime()?.block_on(async {
        let o = open(&args.config).await?;
        note_mode(&o.config);
        if !o.policy.roles.contains_key(&args.role) {
            o.db.close().await;
            let known: Vec<&str> = o.policy.roles.keys().map(String::as_str).collect();
            bail!(
                "unknown role `{}` (roles: {}; more in [auth.roles])",
                args.role,
                known.join(", ")
            );
        }
        let user_id = issue::id();
        let stored =
            o.db.insert_user(&NewUser {
                id: user_id.clone(),
                username: args.username.clone(),
                email: args.email.clone(),
                password_hash: hash,
                role: args.role.clone(),
                now: unix_now(),
            })
            .await;
        let audited = match &stored {
            Ok(()) => {
                let what = What::UserAdded {
                    user_id: &user_id,
                    username: &args.username,
                    role: &args.role,
                };
                o.record(what).await
            }
            Err(_) => Ok(()),
        };
        o.db.close().await;
        match stored {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => bail!("user `{}` already exists", args.username),
            Err(e) => return Err(e).context("storing the user"),
        }
        println!(
            "added user {} (role {}: may grant {})",
            args.username,
            args.role,
            o.policy.ceiling(&args.role)
        );
        audited
    })
}

pub(super) fn list(args: &ListArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        let o = open(&args.config).await?;
        let users = o.db.list_users().await.context("reading users");
        o.db.close().await;
        let users = users?;
        // Never the password hash.
        print_list(
            args.format,
            &users,
            "no users",
            &["NAME", "SOURCE", "ROLE", "STATUS", "LAST LOGIN", "EMAIL"],
            |u| {
                json!({
                    "username": u.username,
                    "source": u.source.as_str(),
                    "email": u.email,
                    "display_name": u.display_name,
                    "role": u.role,
                    "disabled": u.disabled,
                    "issuer": u.issuer,
                    "subject": u.subject,
                    "last_login_at": u.last_login_at,
                    "created_at": u.created_at,
                    "updated_at": u.updated_at,
                })
            },
            |u| {
                vec![
                    u.username.clone(),
                    u.source.as_str().to_owned(),
                    u.role.clone(),
                    if u.disabled { "disabled" } else { "active" }.to_owned(),
                    when(u.last_login_at),
                    u.email.clone().unwrap_or_else(|| "-".to_owned()),
                ]
            },
        )
    })
}

/// `user role NAME ROLE`.
pub(super) fn role(args: &RoleArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        let o = open(&args.config).await?;
        if !o.policy.roles.contains_key(&args.role) {
            o.db.close().await;
            let known: Vec<&str> = o.policy.roles.keys().map(String::as_str).collect();
            bail!(
                "unknown role `{}` (roles: {}; more in [auth.roles])",
                args.role,
                known.join(", ")
            );
        }
        let before = o.db.user_by_name(&args.username).await;
        let found =
            o.db.set_user_role(&args.username, &args.role, unix_now())
                .await;
        let audited = match found {
            Ok(true) => {
                let what = What::RoleChanged {
                    username: &args.username,
                    role: &args.role,
                };
                o.record(what).await
            }
            _ => Ok(()),
        };
        o.db.close().await;
        if !found.context("updating the user")? {
            bail!("no user `{}`", args.username);
        }
        println!(
            "{} now has role {} (may grant {}); its live tokens are bounded by it within 5 seconds",
            args.username,
            args.role,
            o.policy.ceiling(&args.role)
        );
        if let Ok(Some(u)) = before
            && u.source == UserSource::Upstream
        {
            eprintln!(
                "note: {} signs in with the identity provider; the groups mapping sets the role \
                 again at the next sign-in or re-check",
                args.username
            );
        }
        audited
    })
}

/// `user delete NAME`.
pub(super) fn delete(args: &NameArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        let o = open(&args.config).await?;
        let found = o.db.delete_user(&args.username).await;
        let audited = match found {
            Ok(true) => {
                o.record(What::UserDeleted {
                    username: &args.username,
                })
                .await
            }
            _ => Ok(()),
        };
        o.db.close().await;
        if !found.context("deleting the user")? {
            bail!("no user `{}`", args.username);
        }
        println!(
            "deleted {} and its grants; its tokens stop working within 5 seconds",
            args.username
        );
        audited
    })
}

pub(super) fn set_disabled(args: &NameArgs, disabled: bool) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        let o = open(&args.config).await?;
        let found = o
            .db
            .set_user_disabled(&args.username, disabled, unix_now())
            .await;
        let username = &args.username;
        let audited = match (&found, disabled) {
            (Ok(true), true) => o.record(What::UserDisabled { username }).await,
            (Ok(true), false) => o.record(What::UserEnabled { username }).await,
            _ => Ok(()),
        };
        o.db.close().await;
        if !found.context("updating the user")? {
            bail!("no user `{}`", args.username);
        }
        if disabled {
            println!(
                "disabled {}: login refused, every grant revoked; its tokens stop working within 5 seconds",
                args.username
            );
        } else {
            println!(
                "enabled {} (clients connect again through the login page)",
                args.username
            );
        }
        audited
    })
}

pub(super) fn passwd(args: &PasswdArgs) -> anyhow::Result<()> {
    check_username(&args.username)?;
    let password = read_password(args.password_stdin)?;
    let hash = hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    super::runtime()?.block_on(async {
        let o = open(&args.config).await?;
        if let Ok(Some(u)) = o.db.user_by_name(&args.username).await
            && u.source == UserSource::Upstream
        {
            o.db.close().await;
            bail!(
                "{} signs in with the identity provider and has no password here",
                args.username
            );
        }
        let found =
            o.db.set_user_password(&args.username, &hash, unix_now())
                .await;
        let audited = match found {
            Ok(true) => {
                let what = What::PasswordChanged {
                    username: &args.username,
                };
                o.record(what).await
            }
            _ => Ok(()),
        };
        o.db.close().await;
        if !found.context("updating the user")? {
            bail!("no user `{}`", args.username);
        }
        println!(
            "changed the password of {}; its existing grants are revoked (clients log in again)",
            args.username
        );
        audited
    })
}
