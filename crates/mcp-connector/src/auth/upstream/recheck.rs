//! The periodic re-check of upstream users (`auth.upstream.recheck_secs`):
//! each user who still holds a live grant is refreshed at the provider with
//! the refresh token it gave at sign-in (kept encrypted). When the provider
//! refuses (the account was deprovisioned, its password reset, its session
//! revoked) or the user is no longer in a mapped group, every grant of the
//! user is revoked and its sessions end: live tokens stop working at their
//! next revalidation (within about five seconds). A changed group mapping
//! changes the role. A provider that cannot be reached is tried again a
//! minute later; the user keeps working meanwhile.
//!
//! Every replica runs the task; a re-check is claimed in the database first
//! (see [`crate::store::Db::claim_due_rechecks`]), so exactly one replica
//! uses a rotating refresh token.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Upstream, UpstreamError};
use crate::auth::Auth;
use crate::auth::events::{self, What};
use crate::store::StoreError;
use crate::store::oauth::DueRecheck;

/// Users claimed per pass.
const BATCH: i64 = 50;
/// A re-check that could not reach the provider is tried again this soon.
const RETRY_SECS: i64 = 60;

/// How often the task looks for due users: a quarter of the interval,
/// between one second and a minute.
fn tick(every: Duration) -> Duration {
    (every / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Run [`run_once`] until `shutdown`; `None` when users are not re-checked.
pub fn spawn(auth: Auth, shutdown: CancellationToken) -> Option<JoinHandle<()>> {
    let up = auth.upstream.clone()?;
    let every = up.config.recheck?;
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(tick(every)) => {}
            }
            if let Err(e) = run_once(&auth, &up).await {
                tracing::warn!(error = %e, "upstream re-check failed; retrying later");
            }
        }
    }))
}

/// One pass: re-check every due user this replica can claim. Returns how
/// many were re-checked.
pub async fn run_once(auth: &Auth, up: &Arc<Upstream>) -> Result<usize, StoreError> {
    let Some(every) = up.config.recheck else {
        return Ok(0);
    };
    let every = i64::try_from(every.as_secs()).unwrap_or(3600);
    let now = auth.clock.unix_now();
    let due = auth.db.claim_due_rechecks(now, now + every, BATCH).await?;
    let n = due.len();
    for user in due {
        recheck(auth, up, &user, every).await?;
    }
    Ok(n)
}

/// What a re-check found.
enum Outcome {
    /// Still allowed, with this role; the refresh token to keep.
    Allowed { role: String, refresh: String },
    /// The provider refused, or no group maps any more.
    Refused(&'static str),
    /// Not decided: try again later.
    Unknown,
}

async fn recheck(
    auth: &Auth,
    up: &Upstream,
    user: &DueRecheck,
    every: i64,
) -> Result<(), StoreError> {
    let now = auth.clock.unix_now();
    let outcome = match user
        .sealed_refresh
        .as_deref()
        .and_then(|s| up.open_refresh(&user.user_id, s))
    {
        // Fail closed: a token that cannot be opened (the client secret
        // changed) cannot vouch for the user any more.
        None => Outcome::Refused("the stored refresh token cannot be opened"),
        Some(rt) => ask(auth, up, user, rt).await,
    };
    match outcome {
        Outcome::Allowed { role, refresh } => {
            let sealed = up.seal_refresh(&user.user_id, &refresh);
            auth.db
                .set_upstream_refresh(&user.user_id, sealed.as_deref(), Some(now + every))
                .await?;
            if role != user.role {
                auth.db
                    .set_user_role_by_id(&user.user_id, &role, now)
                    .await?;
                tracing::info!(user_id = %user.user_id, role = %role, "upstream re-check changed the role");
                let what = What::UpstreamRoleChanged {
                    user_id: &user.user_id,
                    role: &role,
                };
                events::record_or_log(auth, what.by_operator()).await;
            }
        }
        Outcome::Refused(why) => {
            let revoked = auth.db.revoke_user_grants(&user.user_id, now).await?;
            auth.db
                .set_upstream_refresh(&user.user_id, None, None)
                .await?;
            tracing::warn!(user_id = %user.user_id, reason = why, grants = revoked, "identity provider refused the user; grants revoked");
            let what = What::UpstreamRecheckRefused {
                user_id: &user.user_id,
                username: &user.username,
                grants_revoked: revoked,
            };
            events::record_or_log(auth, what.by_operator()).await;
        }
        Outcome::Unknown => {
            auth.db
                .set_upstream_refresh(
                    &user.user_id,
                    user.sealed_refresh.as_deref(),
                    Some(now + RETRY_SECS.min(every)),
                )
                .await?;
        }
    }
    Ok(())
}

/// Refresh at the provider and map the groups again.
async fn ask(auth: &Auth, up: &Upstream, user: &DueRecheck, rt: String) -> Outcome {
    let tokens = match up.refresh(&rt).await {
        Ok(t) => t,
        Err(UpstreamError::Refused(_)) => {
            return Outcome::Refused("the provider refused the refresh");
        }
        Err(e) => {
            tracing::warn!(user_id = %user.user_id, error = %e, "upstream re-check postponed");
            return Outcome::Unknown;
        }
    };
    let refresh = tokens.refresh_token.clone().unwrap_or(rt);
    // The groups: from a fresh ID token, else userinfo; without either the
    // role stays as it is.
    let groups = match &tokens.id_token {
        Some(id_token) => match up.validate_id_token(id_token, None).await {
            Ok(claims) if claims.sub == user.subject => {
                super::login::groups(up, &claims, tokens.access_token.as_deref()).await
            }
            Ok(_) => return Outcome::Refused("the provider answered for another subject"),
            Err(UpstreamError::InvalidToken(why)) => {
                tracing::warn!(user_id = %user.user_id, reason = why, "re-check ID token rejected");
                return Outcome::Refused("the provider's ID token was not valid");
            }
            Err(_) => return Outcome::Unknown,
        },
        None => match tokens.access_token.as_deref() {
            Some(at) => match up.userinfo(at).await {
                Ok(Some(info))
                    if info.get("sub").and_then(|v| v.as_str()) == Some(&user.subject) =>
                {
                    Ok(info
                        .get(&up.config.groups_claim)
                        .and_then(super::id_token::groups_of))
                }
                Ok(Some(_)) => {
                    return Outcome::Refused("the provider answered for another subject");
                }
                Ok(None) => {
                    return Outcome::Allowed {
                        role: user.role.clone(),
                        refresh,
                    };
                }
                Err(_) => return Outcome::Unknown,
            },
            None => {
                return Outcome::Allowed {
                    role: user.role.clone(),
                    refresh,
                };
            }
        },
    };
    let groups = match groups {
        Ok(g) => g,
        Err(UpstreamError::InvalidToken(_)) => {
            return Outcome::Refused("the provider answered for another subject");
        }
        Err(_) => return Outcome::Unknown,
    };
    match up.role_for(groups.as_deref(), &auth.scopes) {
        Some(role) => Outcome::Allowed { role, refresh },
        None => Outcome::Refused("the user is in no mapped group any more"),
    }
}
