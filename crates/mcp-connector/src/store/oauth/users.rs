//! User accounts: local ones (`user add`, a password) and upstream ones,
//! created at their first sign-in with the company's identity provider and
//! keyed by (issuer, `sub`).

use super::{conflict, flag};
use crate::store::{Db, StoreError, on_read, on_write};

/// Where an account comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSource {
    /// `user add`: signs in with a password.
    Local,
    /// The company's identity provider: signs in there, no password here.
    Upstream,
}

impl UserSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Upstream => "upstream",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "local" => Ok(Self::Local),
            "upstream" => Ok(Self::Upstream),
            _ => Err(StoreError::Corrupt("unknown user source")),
        }
    }
}

/// The `password_hash` of an upstream account: not a PHC string, so no
/// password ever verifies against it.
pub const NO_PASSWORD: &str = "!upstream";

/// What a sign-in with the identity provider says about a person.
#[derive(Debug, Clone)]
pub struct UpstreamLogin {
    pub issuer: String,
    pub subject: String,
    /// User names to try in order (`preferred_username`, email, `sub`); the
    /// first one no other account holds is taken.
    pub names: Vec<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub role: String,
    pub now: i64,
}

/// A user to store.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    /// argon2id PHC string.
    pub password_hash: String,
    pub role: String,
    pub now: i64,
}

/// A stored user.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub source: UserSource,
    /// The identity provider's issuer and `sub` (upstream accounts).
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub display_name: Option<String>,
    pub last_login_at: Option<i64>,
    /// When the account is next re-checked at the provider.
    pub recheck_at: Option<i64>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

pub(super) const COLUMNS: &str = "id, username, email, password_hash, role, disabled, created_at, updated_at, \
     source, issuer, subject, display_name, last_login_at, recheck_at";

/// The same columns of the table aliased `u`, for joins.
pub(super) const U_COLUMNS: &str = "u.id, u.username, u.email, u.password_hash, u.role, u.disabled, u.created_at, \
     u.updated_at, u.source, u.issuer, u.subject, u.display_name, u.last_login_at, u.recheck_at";

pub(super) fn user<R>(r: &R) -> Result<User, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database>,
{
    let source: String = r.try_get(8)?;
    Ok(User {
        id: r.try_get(0)?,
        username: r.try_get(1)?,
        email: r.try_get(2)?,
        password_hash: r.try_get(3)?,
        role: r.try_get(4)?,
        disabled: flag(r.try_get(5)?),
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
        source: UserSource::parse(&source)?,
        issuer: r.try_get(9)?,
        subject: r.try_get(10)?,
        display_name: r.try_get(11)?,
        last_login_at: r.try_get(12)?,
        recheck_at: r.try_get(13)?,
    })
}

impl Db {
    /// Store a new user; [`StoreError::Conflict`] if the name is taken.
    pub async fn insert_user(&self, u: &NewUser) -> Result<(), StoreError> {
        let sql = "INSERT INTO oauth_users (id, username, email, password_hash, role, disabled, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, 0, $6, $6)";
        on_write!(self, |pool| sqlx::query(sql)
            .bind(&u.id)
            .bind(&u.username)
            .bind(&u.email)
            .bind(&u.password_hash)
            .bind(&u.role)
            .bind(u.now)
            .execute(pool)
            .await
            .map_err(conflict("user"))?
            .rows_affected());
        Ok(())
    }

    /// The user called `username` (exact match).
    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.user_where("username", username).await
    }

    /// The user with id `id`.
    pub async fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.user_where("id", id).await
    }

    /// The user whose `column` (a fixed name, never input) equals `value`.
    async fn user_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM oauth_users WHERE {column} = $1");
        on_read!(self, |pool| sqlx::query(&sql)
            .bind(value)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(user)
            .transpose())
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM oauth_users ORDER BY username");
        on_read!(self, |pool| sqlx::query(&sql)
            .fetch_all(pool)
            .await?
            .iter()
            .map(user)
            .collect())
    }

    /// Disable or re-enable `username`. Disabling revokes every grant the
    /// user made. `false` if there is no such user.
    pub async fn set_user_disabled(
        &self,
        username: &str,
        disabled: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.update_user(
            username,
            "disabled = $1",
            i64::from(disabled),
            disabled,
            now,
        )
        .await
    }

    /// Set the password hash of `username` and revoke the user's grants, so
    /// a changed password logs out every connected client.
    pub async fn set_user_password(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.update_user(
            username,
            "password_hash = $1",
            password_hash.to_owned(),
            true,
            now,
        )
        .await
    }

    /// Give `username` the role `role`. Its live tokens keep their grants
    /// but are bounded by the new role within seconds (the token check reads
    /// the role). `false` if there is no such user.
    pub async fn set_user_role(
        &self,
        username: &str,
        role: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.update_user(username, "role = $1", role.to_owned(), false, now)
            .await
    }

    /// Delete `username` with its grants, codes, tokens and sessions, in one
    /// transaction. `false` if there is no such user.
    pub async fn delete_user(&self, username: &str) -> Result<bool, StoreError> {
        const USER: &str = "(SELECT id FROM oauth_users WHERE username = $1)";
        on_write!(self, |pool| {
            let mut tx = pool.begin().await?;
            for sql in [
                format!("DELETE FROM oauth_tokens WHERE user_id = {USER}"),
                format!("DELETE FROM oauth_codes WHERE user_id = {USER}"),
                format!("DELETE FROM oauth_grants WHERE user_id = {USER}"),
                format!("DELETE FROM auth_sessions WHERE user_id = {USER}"),
            ] {
                sqlx::query(&sql).bind(username).execute(&mut *tx).await?;
            }
            let n = sqlx::query("DELETE FROM oauth_users WHERE username = $1")
                .bind(username)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    /// `UPDATE oauth_users SET <set>` with `$1` = `value`, optionally revoking
    /// the user's grants in the same transaction.
    async fn update_user<V>(
        &self,
        username: &str,
        set: &str,
        value: V,
        revoke: bool,
        now: i64,
    ) -> Result<bool, StoreError>
    where
        V: for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + for<'q> sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Sqlite>
            + sqlx::Type<sqlx::Postgres>
            + Send
            + Clone
            + 'static,
    {
        let sql = format!("UPDATE oauth_users SET {set}, updated_at = $2 WHERE username = $3");
        on_write!(self, |pool| {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(&sql)
                .bind(value.clone())
                .bind(now)
                .bind(username)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if revoke && n > 0 {
                sqlx::query(
                    "UPDATE oauth_grants SET revoked_at = $1 WHERE revoked_at IS NULL \
                     AND user_id = (SELECT id FROM oauth_users WHERE username = $2)",
                )
                .bind(now)
                .bind(username)
                .execute(&mut *tx)
                .await?;
                // Signed-in browsers end too (a changed password, a disabled account).
                sqlx::query(
                    "DELETE FROM auth_sessions WHERE user_id = (SELECT id FROM oauth_users WHERE username = $1)",
                )
                .bind(username)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(n > 0)
        })
    }
}
