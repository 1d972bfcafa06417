//! OAuth clients.

use super::conflict;
use crate::store::{Db, StoreError, on_read, on_write};

/// How a client came to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientOrigin {
    /// `mcp-connector client add`.
    Cli,
    /// Dynamic Client Registration (RFC 7591).
    Dcr,
    /// A fetched Client ID Metadata Document; the id is its URL.
    Cimd,
}

impl ClientOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::Dcr => "dcr",
            Self::Cimd => "cimd",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "cli" => Ok(Self::Cli),
            "dcr" => Ok(Self::Dcr),
            "cimd" => Ok(Self::Cimd),
            _ => Err(StoreError::Corrupt("unknown client origin")),
        }
    }
}

/// A client to store.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub id: String,
    /// SHA-256 hex of the secret; `None` for a public client.
    pub secret_hash: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Fixed scopes of a `client_credentials` client (space-separated).
    pub scopes: String,
    /// `none`, `client_secret_basic` or `client_secret_post`.
    pub auth_method: String,
    pub origin: ClientOrigin,
    pub now: i64,
}

/// A stored client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    pub secret_hash: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: String,
    pub auth_method: String,
    pub origin: ClientOrigin,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// `client add --access-token-ttl`, in seconds.
    pub access_token_ttl_secs: Option<i64>,
}

impl Client {
    /// Whether the client may use `grant` (`authorization_code`, ...).
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
}

const COLUMNS: &str = "id, secret_hash, name, redirect_uris, grant_types, scopes, auth_method, origin, created_at, last_used_at, revoked_at, access_token_ttl_secs";

fn client<R>(r: &R) -> Result<Client, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database>,
{
    let uris: String = r.try_get(3)?;
    let grants: String = r.try_get(4)?;
    let origin: String = r.try_get(7)?;
    Ok(Client {
        id: r.try_get(0)?,
        secret_hash: r.try_get(1)?,
        name: r.try_get(2)?,
        redirect_uris: serde_json::from_str(&uris)
            .map_err(|_| StoreError::Corrupt("client redirect_uris"))?,
        grant_types: grants.split_whitespace().map(str::to_owned).collect(),
        scopes: r.try_get(5)?,
        auth_method: r.try_get(6)?,
        origin: ClientOrigin::parse(&origin)?,
        created_at: r.try_get(8)?,
        last_used_at: r.try_get(9)?,
        revoked_at: r.try_get(10)?,
        access_token_ttl_secs: r.try_get(11)?,
    })
}

impl Db {
    /// Store a new client; [`StoreError::Conflict`] if the id exists.
    pub async fn insert_client(&self, c: &NewClient) -> Result<(), StoreError> {
        let uris = serde_json::to_string(&c.redirect_uris)
            .map_err(|_| StoreError::Corrupt("client redirect_uris"))?;
        let sql = "INSERT INTO oauth_clients (id, secret_hash, name, redirect_uris, grant_types, scopes, auth_method, origin, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        on_write!(self, |pool| sqlx::query(sql)
            .bind(&c.id)
            .bind(&c.secret_hash)
            .bind(&c.name)
            .bind(&uris)
            .bind(c.grant_types.join(" "))
            .bind(&c.scopes)
            .bind(&c.auth_method)
            .bind(c.origin.as_str())
            .bind(c.now)
            .execute(pool)
            .await
            .map_err(conflict("client"))?
            .rows_affected());
        Ok(())
    }

    /// Store or refresh the cached copy of a metadata-document client (its
    /// id is the document URL). A revoked one stays revoked.
    pub async fn upsert_cimd_client(&self, c: &NewClient) -> Result<(), StoreError> {
        let uris = serde_json::to_string(&c.redirect_uris)
            .map_err(|_| StoreError::Corrupt("client redirect_uris"))?;
        let sql = "INSERT INTO oauth_clients (id, secret_hash, name, redirect_uris, grant_types, scopes, auth_method, origin, created_at) \
                   VALUES ($1, NULL, $2, $3, $4, '', 'none', 'cimd', $5) \
                   ON CONFLICT (id) DO UPDATE SET name = excluded.name, redirect_uris = excluded.redirect_uris, \
                   grant_types = excluded.grant_types";
        on_write!(self, |pool| sqlx::query(sql)
            .bind(&c.id)
            .bind(&c.name)
            .bind(&uris)
            .bind(c.grant_types.join(" "))
            .bind(c.now)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Give client `id` its own access token lifetime (`None`: the default).
    pub async fn set_client_access_ttl(
        &self,
        id: &str,
        secs: Option<i64>,
    ) -> Result<(), StoreError> {
        on_write!(self, |pool| sqlx::query(
            "UPDATE oauth_clients SET access_token_ttl_secs = $1 WHERE id = $2"
        )
        .bind(secs)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// The client `id`, revoked or not.
    pub async fn client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM oauth_clients WHERE id = $1");
        on_write!(self, |pool| sqlx::query(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(client)
            .transpose())
    }

    /// Every client, oldest first.
    pub async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM oauth_clients ORDER BY created_at, id");
        on_read!(self, |pool| sqlx::query(&sql)
            .fetch_all(pool)
            .await?
            .iter()
            .map(client)
            .collect())
    }

    /// Revoke client `id` and every grant issued to it. `false` if no live
    /// client has that id.
    pub async fn revoke_client(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        on_write!(self, |pool| {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "UPDATE oauth_clients SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("UPDATE oauth_grants SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    /// Note that client `id` was issued a token (keeps a registration alive).
    pub async fn touch_client(&self, id: &str, now: i64) -> Result<(), StoreError> {
        on_write!(self, |pool| sqlx::query(
            "UPDATE oauth_clients SET last_used_at = $1 WHERE id = $2"
        )
        .bind(now)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Dynamic registrations not revoked that were never used and hold no
    /// live grant: what a registration flood piles up.
    pub async fn count_unused_registrations(&self) -> Result<u64, StoreError> {
        let sql = "SELECT COUNT(*) FROM oauth_clients WHERE origin = 'dcr' AND last_used_at IS NULL \
                   AND revoked_at IS NULL \
                   AND NOT EXISTS (SELECT 1 FROM oauth_grants g WHERE g.client_id = oauth_clients.id AND g.revoked_at IS NULL)";
        let n: i64 = on_write!(self, |pool| sqlx::query_scalar(sql).fetch_one(pool).await?);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Delete dynamic registrations created before `before` that never got a
    /// token, and metadata-document copies unused since then. Returns how
    /// many went.
    pub async fn delete_unused_clients(&self, before: i64) -> Result<u64, StoreError> {
        let sql = "DELETE FROM oauth_clients WHERE origin IN ('dcr', 'cimd') AND created_at < $1 \
                   AND (last_used_at IS NULL OR last_used_at < $1) \
                   AND NOT EXISTS (SELECT 1 FROM oauth_grants g WHERE g.client_id = oauth_clients.id AND g.revoked_at IS NULL)";
        Ok(on_write!(self, |pool| sqlx::query(sql)
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_round_trips() {
        for o in [ClientOrigin::Cli, ClientOrigin::Dcr, ClientOrigin::Cimd] {
            assert_eq!(ClientOrigin::parse(o.as_str()).unwrap(), o);
        }
        assert!(ClientOrigin::parse("x").is_err());
    }
}
