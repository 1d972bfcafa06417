//! Browser sessions after a sign-in, and sign-ins waiting for the upstream
//! provider to send the browser back. Both are keyed by a SHA-256: the
//! random values themselves live only in the browser (a cookie) and in the
//! provider's redirect (`state`).

use sqlx::Row as _;

use super::users::{U_COLUMNS, User, user};
use crate::store::{Db, StoreError, on_read, on_write};

/// What claiming an upstream sign-in's state found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateClaim {
    /// First use: the payload stored with it, and its expiry.
    Fresh {
        payload: String,
        expires_at: i64,
    },
    /// Used before: a replayed callback.
    Used,
    Unknown,
}

impl Db {
    /// Start a session for `user_id` (the cookie's hash is `id_hash`).
    pub async fn insert_session(
        &self,
        id_hash: &str,
        user_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        on_write!(self, |pool| {
            sqlx::query(
            "INSERT INTO auth_sessions (id_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)"
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await?
        .rows_affected()
        });
        Ok(())
    }

    /// The enabled user of the live session `id_hash`, and when it expires.
    pub async fn session_user(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<(User, i64)>, StoreError> {
        let sql = format!(
            "SELECT {U_COLUMNS}, s.expires_at FROM auth_sessions s JOIN oauth_users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled = 0"
        );
        on_read!(self, |pool| {
            let Some(r) = sqlx::query(&sql)
                .bind(id_hash)
                .bind(now)
                .fetch_optional(pool)
                .await?
            else {
                return Ok(None);
            };
            let expires_at: i64 = r.try_get(14)?;
            Ok(Some((user(&r)?, expires_at)))
        })
    }

    /// End the session `id_hash` (sign-out).
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        on_write!(self, |pool| sqlx::query(
            "DELETE FROM auth_sessions WHERE id_hash = $1"
        )
        .bind(id_hash)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Remember an upstream sign-in under the hash of its `state`.
    pub async fn insert_upstream_state(
        &self,
        state_hash: &str,
        payload: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        on_write!(self, |pool| {
            sqlx::query(
            "INSERT INTO oauth_upstream_states (state_hash, payload, expires_at) VALUES ($1, $2, $3)"
        )
        .bind(state_hash)
        .bind(payload)
        .bind(expires_at)
        .execute(pool)
        .await?
        .rows_affected()
        });
        Ok(())
    }

    /// Use the upstream sign-in `state_hash` once. Atomic: of two concurrent
    /// callbacks with the same state exactly one gets [`StateClaim::Fresh`].
    pub async fn claim_upstream_state(
        &self,
        state_hash: &str,
        now: i64,
    ) -> Result<StateClaim, StoreError> {
        on_write!(self, |pool| {
            let row = sqlx::query(
                "UPDATE oauth_upstream_states SET used_at = $1 WHERE state_hash = $2 AND used_at IS NULL \
                 RETURNING payload, expires_at",
            )
            .bind(now)
            .bind(state_hash)
            .fetch_optional(pool)
            .await?;
            if let Some(r) = row {
                return Ok(StateClaim::Fresh {
                    payload: r.try_get(0)?,
                    expires_at: r.try_get(1)?,
                });
            }
            let seen: Option<i64> = sqlx::query_scalar(
                "SELECT expires_at FROM oauth_upstream_states WHERE state_hash = $1",
            )
            .bind(state_hash)
            .fetch_optional(pool)
            .await?;
            Ok(match seen {
                Some(_) => StateClaim::Used,
                None => StateClaim::Unknown,
            })
        })
    }
}
