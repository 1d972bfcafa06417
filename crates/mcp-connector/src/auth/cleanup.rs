//! Periodic removal of expired codes and tokens and of registrations that
//! were never used (Claude registers a client per connection, so unused
//! dynamic registrations would otherwise pile up).

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Auth;
use crate::store::StoreError;

const INTERVAL: Duration = Duration::from_secs(600);
/// The first run waits a little so that start-up is not slowed by it.
const FIRST_RUN: Duration = Duration::from_secs(30);
/// Expired codes and tokens are kept this long so that a late replay is
/// still recognised as one (and revokes its grant).
const KEEP_EXPIRED_SECS: i64 = 24 * 3600;

/// Run [`run_once`] every ten minutes until `shutdown` is cancelled.
pub fn spawn(auth: Auth, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut wait = FIRST_RUN;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = INTERVAL;
            if let Err(e) = run_once(&auth).await {
                tracing::warn!(error = %e, "OAuth cleanup failed; retrying later");
            }
        }
    })
}

/// One cleanup pass; returns the number of rows removed.
pub async fn run_once(auth: &Auth) -> Result<u64, StoreError> {
    let now = auth.clock.unix_now();
    let expired = auth.db.delete_expired_oauth(now, KEEP_EXPIRED_SECS).await?;
    let ttl = i64::try_from(auth.config.unused_client_ttl.as_secs()).unwrap_or(i64::MAX / 4);
    let clients = auth.db.delete_unused_clients(now - ttl).await?;
    expire_approvals(auth, now).await?;
    if expired + clients > 0 {
        tracing::info!(
            expired,
            clients,
            "OAuth cleanup removed expired rows and unused clients"
        );
    }
    Ok(expired + clients)
}

/// Mark approval requests past their expiry as expired, each with its
/// audit record (request → expiry). Returns how many.
pub async fn expire_approvals(auth: &Auth, now: i64) -> Result<usize, StoreError> {
    let expired = auth.db.expire_approvals(now).await?;
    for a in &expired {
        super::approve::record(&auth.audit, a, super::approve::Step::Expired, None, None).await;
    }
    Ok(expired.len())
}
