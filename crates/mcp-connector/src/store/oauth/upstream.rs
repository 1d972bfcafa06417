//! Accounts from the company's identity provider: created or updated at
//! each sign-in, keyed by (issuer, `sub`), and re-checked at the provider
//! with its (encrypted) refresh token.

use super::UpstreamLogin;
use super::users::{COLUMNS, NO_PASSWORD, User, user};
use crate::store::{Db, StoreError, on_read, on_write};

/// A user due for a re-check at the provider, claimed by this replica.
#[derive(Debug, Clone)]
pub struct DueRecheck {
    pub user_id: String,
    pub username: String,
    /// The provider's `sub` of the user.
    pub subject: String,
    pub role: String,
    /// The encrypted refresh token; `None` when the provider gave none.
    pub sealed_refresh: Option<String>,
}

impl Db {
    /// The account of (`issuer`, `subject`).
    pub async fn user_by_subject(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM oauth_users WHERE issuer = $1 AND subject = $2");
        on_write!(self, |pool| sqlx::query(&sql)
            .bind(issuer)
            .bind(subject)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(user)
            .transpose())
    }

    /// Record a sign-in of `login`: update the account of its (issuer, sub)
    /// (email, display name, role, last login), or create it with the first
    /// of `login.names` no other account holds. A disabled account stays
    /// disabled (the caller refuses it). Returns the account as stored.
    pub async fn upsert_upstream_user(
        &self,
        login: &UpstreamLogin,
        new_id: &str,
    ) -> Result<User, StoreError> {
        // A concurrent first sign-in of the same person can win the insert;
        // then the second attempt finds and updates its row.
        for _ in 0..2 {
            if let Some(existing) = self.user_by_subject(&login.issuer, &login.subject).await? {
                self.update_upstream_user(&existing.id, login).await?;
                return self
                    .user(&existing.id)
                    .await?
                    .ok_or(StoreError::Corrupt("upstream user vanished"));
            }
            let mut name = None;
            for candidate in &login.names {
                if self.user_by_name(candidate).await?.is_none() {
                    name = Some(candidate.clone());
                    break;
                }
            }
            let Some(name) = name else {
                return Err(StoreError::Conflict("user name"));
            };
            match self.insert_upstream_user(login, new_id, &name).await {
                Ok(()) => {
                    return self
                        .user(new_id)
                        .await?
                        .ok_or(StoreError::Corrupt("upstream user vanished"));
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict("user"))
    }

    async fn insert_upstream_user(
        &self,
        l: &UpstreamLogin,
        id: &str,
        name: &str,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO oauth_users (id, username, email, password_hash, role, disabled, created_at, updated_at, \
                   source, issuer, subject, display_name, last_login_at) \
                   VALUES ($1, $2, $3, $4, $5, 0, $6, $6, 'upstream', $7, $8, $9, $6)";
        on_write!(self, |pool| sqlx::query(sql)
            .bind(id)
            .bind(name)
            .bind(&l.email)
            .bind(NO_PASSWORD)
            .bind(&l.role)
            .bind(l.now)
            .bind(&l.issuer)
            .bind(&l.subject)
            .bind(&l.display_name)
            .execute(pool)
            .await
            .map_err(super::conflict("user"))?
            .rows_affected());
        Ok(())
    }

    async fn update_upstream_user(&self, id: &str, l: &UpstreamLogin) -> Result<(), StoreError> {
        let sql = "UPDATE oauth_users SET email = $1, display_name = $2, role = $3, last_login_at = $4, \
                   updated_at = $4 WHERE id = $5";
        on_write!(self, |pool| sqlx::query(sql)
            .bind(&l.email)
            .bind(&l.display_name)
            .bind(&l.role)
            .bind(l.now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Note a sign-in of a local account.
    pub async fn touch_user_login(&self, id: &str, now: i64) -> Result<(), StoreError> {
        on_write!(self, |pool| sqlx::query(
            "UPDATE oauth_users SET last_login_at = $1 WHERE id = $2"
        )
        .bind(now)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Keep `sealed` (the provider's encrypted refresh token, `None` to
    /// forget it) and the time of the next re-check for user `id`.
    pub async fn set_upstream_refresh(
        &self,
        id: &str,
        sealed: Option<&str>,
        recheck_at: Option<i64>,
    ) -> Result<(), StoreError> {
        on_write!(self, |pool| sqlx::query(
            "UPDATE oauth_users SET upstream_refresh = $1, recheck_at = $2 WHERE id = $3"
        )
        .bind(sealed)
        .bind(recheck_at)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Change the role of user `id` (the groups mapping at a re-check).
    pub async fn set_user_role_by_id(
        &self,
        id: &str,
        role: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        on_write!(self, |pool| sqlx::query(
            "UPDATE oauth_users SET role = $1, updated_at = $2 WHERE id = $3"
        )
        .bind(role)
        .bind(now)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Revoke every grant of user `id` and end its browser sessions (the
    /// provider refused the user). Returns how many grants ended.
    pub async fn revoke_user_grants(&self, id: &str, now: i64) -> Result<u64, StoreError> {
        on_write!(self, |pool| {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "UPDATE oauth_grants SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM auth_sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(n)
        })
    }

    /// Claim up to `limit` upstream users whose re-check is due at `now` and
    /// who still hold a live grant: each is pushed to `lease_until` first, so
    /// that of several replicas exactly one re-checks a user (two refreshes
    /// with one rotating refresh token would look like token theft to the
    /// provider).
    pub async fn claim_due_rechecks(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<DueRecheck>, StoreError> {
        type Row = (String, String, Option<String>, String, Option<String>, i64);
        let candidates: Vec<Row> = on_read!(self, |pool| {
            sqlx::query_as(
                "SELECT id, username, subject, role, upstream_refresh, recheck_at FROM oauth_users \
                 WHERE source = 'upstream' AND disabled = 0 AND recheck_at IS NOT NULL AND recheck_at <= $1 \
                 AND EXISTS (SELECT 1 FROM oauth_grants g WHERE g.user_id = oauth_users.id AND g.revoked_at IS NULL) \
                 ORDER BY recheck_at LIMIT $2",
            )
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        let mut claimed = Vec::new();
        for (user_id, username, subject, role, sealed_refresh, was) in candidates {
            let won = on_write!(self, |pool| sqlx::query(
                "UPDATE oauth_users SET recheck_at = $1 WHERE id = $2 AND recheck_at = $3"
            )
            .bind(lease_until)
            .bind(&user_id)
            .bind(was)
            .execute(pool)
            .await?
            .rows_affected())
                == 1;
            if won {
                claimed.push(DueRecheck {
                    user_id,
                    username,
                    subject: subject.unwrap_or_default(),
                    role,
                    sealed_refresh,
                });
            }
        }
        Ok(claimed)
    }
}
