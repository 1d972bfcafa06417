//! Grants, authorization codes, access and refresh tokens.
//!
//! A grant is one authorization: the code redeemed for it and every token
//! issued from it (the refresh "family"). Revoking the grant revokes them all,
//! which is what code replay, refresh-token reuse, client revocation and user
//! disabling do.

use sqlx::Row as _;

use crate::store::{Db, StoreError, on_read, on_write};

/// One authorization.
#[derive(Debug, Clone)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    /// `None` for `client_credentials`.
    pub user_id: Option<String>,
    pub scopes: String,
    pub resource: String,
    pub now: i64,
}

/// An authorization code to store (by hash).
#[derive(Debug, Clone)]
pub struct NewCode {
    pub code_hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scopes: String,
    pub resource: String,
    pub expires_at: i64,
}

/// What redeeming a code found.
#[derive(Debug, Clone)]
pub enum CodeRedemption {
    /// First use; the code is now spent. The caller still checks expiry,
    /// client, redirect URI and PKCE.
    Fresh(NewCode),
    /// The code was used before: the caller revokes `grant_id`.
    Replayed {
        grant_id: String,
    },
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
}

/// A token to store (by hash).
#[derive(Debug, Clone)]
pub struct NewToken {
    pub token_hash: String,
    pub kind: TokenKind,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: Option<String>,
    pub scopes: String,
    pub resource: String,
    pub now: i64,
    pub expires_at: i64,
}

/// A live access token with what the resource server needs about its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub grant_id: String,
    pub client_id: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    pub scopes: String,
    pub resource: String,
    pub expires_at: i64,
    /// When the token was last seen in use (to the granularity of
    /// [`Db::touch_access_token`]), or issued.
    pub last_seen: i64,
}

/// A grant as `grant list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    pub id: String,
    pub client_id: String,
    pub client_name: Option<String>,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub scopes: String,
    pub created_at: i64,
    /// The latest use of one of its access tokens.
    pub last_used_at: Option<i64>,
    /// Whether an unexpired token or code is left.
    pub live: bool,
}

/// A refresh token, live or not: the token endpoint tells reuse apart from
/// an unknown token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub grant_id: String,
    pub client_id: String,
    pub user_id: Option<String>,
    pub scopes: String,
    pub resource: String,
    pub expires_at: i64,
    /// When it was exchanged for new tokens, if it was.
    pub used_at: Option<i64>,
    /// The token, its grant or its client is revoked, or its user disabled.
    pub revoked: bool,
}

/// Validation query: the token is an unexpired, unrevoked access token of a
/// live grant, live client and enabled user.
const ACCESS_SQL: &str = "SELECT t.grant_id, t.client_id, t.user_id, u.username, u.email, u.role, t.scopes, t.resource, t.expires_at, \
            COALESCE(t.last_used_at, t.created_at) \
     FROM oauth_tokens t \
     JOIN oauth_grants g ON g.id = t.grant_id \
     JOIN oauth_clients c ON c.id = t.client_id \
     LEFT JOIN oauth_users u ON u.id = t.user_id \
     WHERE t.token_hash = $1 AND t.kind = 'access' AND t.expires_at > $2 \
       AND t.revoked_at IS NULL AND g.revoked_at IS NULL AND c.revoked_at IS NULL \
       AND (t.user_id IS NULL OR (u.id IS NOT NULL AND u.disabled = 0))";

const REFRESH_SQL: &str = "SELECT t.grant_id, t.client_id, t.user_id, t.scopes, t.resource, t.expires_at, t.used_at, \
       CASE WHEN t.revoked_at IS NOT NULL OR g.revoked_at IS NOT NULL OR c.id IS NULL OR c.revoked_at IS NOT NULL \
            OR (t.user_id IS NOT NULL AND (u.id IS NULL OR u.disabled <> 0)) THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END \
     FROM oauth_tokens t \
     JOIN oauth_grants g ON g.id = t.grant_id \
     LEFT JOIN oauth_clients c ON c.id = t.client_id \
     LEFT JOIN oauth_users u ON u.id = t.user_id \
     WHERE t.token_hash = $1 AND t.kind = 'refresh'";

impl Db {
    /// Store a grant.
    pub async fn insert_grant(&self, g: &Grant) -> Result<(), StoreError> {
        on_write!(self, |pool| {
            sqlx::query(
            "INSERT INTO oauth_grants (id, client_id, user_id, scopes, resource, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(&g.id)
        .bind(&g.client_id)
        .bind(&g.user_id)
        .bind(&g.scopes)
        .bind(&g.resource)
        .bind(g.now)
        .execute(pool)
        .await?
        .rows_affected()
        });
        Ok(())
    }

    /// Store an authorization code.
    pub async fn insert_code(&self, c: &NewCode) -> Result<(), StoreError> {
        on_write!(self, |pool| {
            sqlx::query(
            "INSERT INTO oauth_codes (code_hash, grant_id, client_id, user_id, redirect_uri, code_challenge, scopes, resource, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )
        .bind(&c.code_hash)
        .bind(&c.grant_id)
        .bind(&c.client_id)
        .bind(&c.user_id)
        .bind(&c.redirect_uri)
        .bind(&c.code_challenge)
        .bind(&c.scopes)
        .bind(&c.resource)
        .bind(c.expires_at)
        .execute(pool)
        .await?
        .rows_affected()
        });
        Ok(())
    }

    /// Spend the code with hash `code_hash`. Atomic: of two concurrent
    /// redemptions exactly one gets [`CodeRedemption::Fresh`].
    pub async fn redeem_code(
        &self,
        code_hash: &str,
        now: i64,
    ) -> Result<CodeRedemption, StoreError> {
        on_write!(self, |pool| {
            let row = sqlx::query(
                "UPDATE oauth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL \
                 RETURNING grant_id, client_id, user_id, redirect_uri, code_challenge, scopes, resource, expires_at",
            )
            .bind(now)
            .bind(code_hash)
            .fetch_optional(pool)
            .await?;
            if let Some(r) = row {
                return Ok(CodeRedemption::Fresh(NewCode {
                    code_hash: code_hash.to_owned(),
                    grant_id: r.try_get(0)?,
                    client_id: r.try_get(1)?,
                    user_id: r.try_get(2)?,
                    redirect_uri: r.try_get(3)?,
                    code_challenge: r.try_get(4)?,
                    scopes: r.try_get(5)?,
                    resource: r.try_get(6)?,
                    expires_at: r.try_get(7)?,
                }));
            }
            let grant: Option<String> =
                sqlx::query_scalar("SELECT grant_id FROM oauth_codes WHERE code_hash = $1")
                    .bind(code_hash)
                    .fetch_optional(pool)
                    .await?;
            Ok(match grant {
                Some(grant_id) => CodeRedemption::Replayed { grant_id },
                None => CodeRedemption::Unknown,
            })
        })
    }

    /// Store `tokens` and mark their client used, in one transaction.
    pub async fn insert_tokens(&self, tokens: &[NewToken]) -> Result<(), StoreError> {
        on_write!(self, |pool| {
            let mut tx = pool.begin().await?;
            for t in tokens {
                sqlx::query(
                    "INSERT INTO oauth_tokens (token_hash, kind, grant_id, client_id, user_id, scopes, resource, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&t.token_hash)
                .bind(t.kind.as_str())
                .bind(&t.grant_id)
                .bind(&t.client_id)
                .bind(&t.user_id)
                .bind(&t.scopes)
                .bind(&t.resource)
                .bind(t.now)
                .bind(t.expires_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE oauth_clients SET last_used_at = $1 WHERE id = $2")
                    .bind(t.now)
                    .bind(&t.client_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The live access token with hash `token_hash`, if it is one.
    pub async fn access_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<AccessToken>, StoreError> {
        on_read!(self, |pool| {
            let Some(r) = sqlx::query(ACCESS_SQL)
                .bind(token_hash)
                .bind(now)
                .fetch_optional(pool)
                .await?
            else {
                return Ok(None);
            };
            Ok(Some(AccessToken {
                grant_id: r.try_get(0)?,
                client_id: r.try_get(1)?,
                user_id: r.try_get(2)?,
                username: r.try_get(3)?,
                email: r.try_get(4)?,
                role: r.try_get(5)?,
                scopes: r.try_get(6)?,
                resource: r.try_get(7)?,
                expires_at: r.try_get(8)?,
                last_seen: r.try_get(9)?,
            }))
        })
    }

    /// Note that the access token `token_hash` was used at `now`.
    pub async fn touch_access_token(&self, token_hash: &str, now: i64) -> Result<(), StoreError> {
        on_write!(self, |pool| sqlx::query(
            "UPDATE oauth_tokens SET last_used_at = $1 WHERE token_hash = $2 AND kind = 'access'"
        )
        .bind(now)
        .bind(token_hash)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Unrevoked grants, newest first, of `user_id` and/or `client_id` when
    /// given; `live` tells whether anything unexpired is left of each.
    pub async fn list_grants(
        &self,
        user_id: Option<&str>,
        client_id: Option<&str>,
        now: i64,
    ) -> Result<Vec<GrantRow>, StoreError> {
        let sql = "SELECT g.id, g.client_id, c.name, g.user_id, u.username, g.scopes, g.created_at, \
                   (SELECT MAX(COALESCE(t.last_used_at, t.created_at)) FROM oauth_tokens t WHERE t.grant_id = g.id AND t.kind = 'access'), \
                   CASE WHEN EXISTS (SELECT 1 FROM oauth_tokens t WHERE t.grant_id = g.id AND t.expires_at > $1) \
                          OR EXISTS (SELECT 1 FROM oauth_codes k WHERE k.grant_id = g.id AND k.expires_at > $1 AND k.used_at IS NULL) \
                        THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END \
                   FROM oauth_grants g \
                   LEFT JOIN oauth_clients c ON c.id = g.client_id \
                   LEFT JOIN oauth_users u ON u.id = g.user_id \
                   WHERE g.revoked_at IS NULL \
                     AND (CAST($2 AS TEXT) IS NULL OR g.user_id = $2) \
                     AND (CAST($3 AS TEXT) IS NULL OR g.client_id = $3) \
                   ORDER BY g.created_at DESC, g.id";
        on_read!(self, |pool| {
            let rows = sqlx::query(sql)
                .bind(now)
                .bind(user_id)
                .bind(client_id)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    let live: i64 = r.try_get(8)?;
                    Ok(GrantRow {
                        id: r.try_get(0)?,
                        client_id: r.try_get(1)?,
                        client_name: r.try_get(2)?,
                        user_id: r.try_get(3)?,
                        username: r.try_get(4)?,
                        scopes: r.try_get(5)?,
                        created_at: r.try_get(6)?,
                        last_used_at: r.try_get(7)?,
                        live: live != 0,
                    })
                })
                .collect()
        })
    }

    /// The refresh token with hash `token_hash`, live or not.
    pub async fn refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshToken>, StoreError> {
        // The write pool: a rotation that just committed must be seen.
        on_write!(self, |pool| {
            let Some(r) = sqlx::query(REFRESH_SQL)
                .bind(token_hash)
                .fetch_optional(pool)
                .await?
            else {
                return Ok(None);
            };
            let revoked: i64 = r.try_get(7)?;
            Ok(Some(RefreshToken {
                grant_id: r.try_get(0)?,
                client_id: r.try_get(1)?,
                user_id: r.try_get(2)?,
                scopes: r.try_get(3)?,
                resource: r.try_get(4)?,
                expires_at: r.try_get(5)?,
                used_at: r.try_get(6)?,
                revoked: revoked != 0,
            }))
        })
    }

    /// Mark a refresh token exchanged. `false` if another request did first.
    pub async fn mark_refresh_used(&self, token_hash: &str, now: i64) -> Result<bool, StoreError> {
        Ok(on_write!(self, |pool| {
            sqlx::query(
            "UPDATE oauth_tokens SET used_at = $1 WHERE token_hash = $2 AND kind = 'refresh' AND used_at IS NULL"
        )
        .bind(now)
        .bind(token_hash)
        .execute(pool)
        .await?
        .rows_affected()
        }) > 0)
    }

    /// Revoke grant `grant_id` and with it every token issued from it.
    /// `false` if no unrevoked grant has that id.
    pub async fn revoke_grant(&self, grant_id: &str, now: i64) -> Result<bool, StoreError> {
        Ok(on_write!(self, |pool| sqlx::query(
            "UPDATE oauth_grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"
        )
        .bind(now)
        .bind(grant_id)
        .execute(pool)
        .await?
        .rows_affected())
            > 0)
    }

    /// Revoke the grant of the token with hash `token_hash` (access or
    /// refresh), if it belongs to `client_id` (any client when `None`, for
    /// the operator's CLI). `false` if no such token.
    pub async fn revoke_token(
        &self,
        token_hash: &str,
        client_id: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        Ok(on_write!(self, |pool| {
            sqlx::query(
            "UPDATE oauth_grants SET revoked_at = $1 WHERE revoked_at IS NULL AND id = \
             (SELECT grant_id FROM oauth_tokens WHERE token_hash = $2 AND (CAST($3 AS TEXT) IS NULL OR client_id = $3))"
        )
        .bind(now)
        .bind(token_hash)
        .bind(client_id)
        .execute(pool)
        .await?
        .rows_affected()
        }) > 0)
    }

    /// Use the one-time `nonce` (valid until `expires_at`). `false` if it
    /// was used before: of two concurrent uses exactly one succeeds.
    pub async fn claim_nonce(&self, nonce: &str, expires_at: i64) -> Result<bool, StoreError> {
        Ok(on_write!(self, |pool| {
            sqlx::query(
            "INSERT INTO oauth_used_nonces (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING"
        )
        .bind(nonce)
        .bind(expires_at)
        .execute(pool)
        .await?
        .rows_affected()
        }) == 1)
    }

    /// Delete expired codes and tokens (after `keep` seconds more, so that
    /// a late replay is still recognised) and grants with nothing left.
    /// Returns the number of rows deleted.
    pub async fn delete_expired_oauth(&self, now: i64, keep: i64) -> Result<u64, StoreError> {
        let cutoff = now - keep;
        on_write!(self, |pool| {
            let mut n = 0;
            for sql in [
                "DELETE FROM oauth_codes WHERE expires_at < $1",
                "DELETE FROM oauth_tokens WHERE expires_at < $1",
                "DELETE FROM oauth_used_nonces WHERE expires_at < $1",
                "DELETE FROM auth_sessions WHERE expires_at < $1",
                "DELETE FROM oauth_upstream_states WHERE expires_at < $1",
                "DELETE FROM oauth_grants WHERE created_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM oauth_tokens t WHERE t.grant_id = oauth_grants.id) \
                 AND NOT EXISTS (SELECT 1 FROM oauth_codes c WHERE c.grant_id = oauth_grants.id)",
            ] {
                n += sqlx::query(sql)
                    .bind(cutoff)
                    .execute(pool)
                    .await?
                    .rows_affected();
            }
            Ok(n)
        })
    }
}
