//! Local user accounts for the login page.

use super::{conflict, flag};
use crate::store::{Db, StoreError, on_read, on_write};

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
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, username, email, password_hash, role, disabled, created_at, updated_at";

fn user<R>(r: &R) -> Result<User, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(User {
        id: r.try_get(0)?,
        username: r.try_get(1)?,
        email: r.try_get(2)?,
        password_hash: r.try_get(3)?,
        role: r.try_get(4)?,
        disabled: flag(r.try_get(5)?),
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
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
            }
            tx.commit().await?;
            Ok(n > 0)
        })
    }
}
