//! Server-wide secrets shared by all replicas, created on first use.

use mcp_connector_security::random_bytes;

use super::{Db, StoreError};

impl Db {
    /// The secret called `name`, creating a random 32-byte one if none exists.
    /// Concurrent first calls from several replicas agree on one value: the
    /// insert is a no-op when another replica won the race.
    pub async fn server_secret(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let fresh = random_bytes(32);
        let value: Vec<u8> = match self {
            Self::Sqlite { write, .. } => {
                sqlx::query("INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING")
                    .bind(name)
                    .bind(&fresh)
                    .execute(write)
                    .await?;
                sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = ?")
                    .bind(name)
                    .fetch_one(write)
                    .await?
            }
            Self::Postgres { write, .. } => {
                sqlx::query("INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                    .bind(name)
                    .bind(&fresh)
                    .execute(write)
                    .await?;
                sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                    .bind(name)
                    .fetch_one(write)
                    .await?
            }
        };
        if value.len() < 32 {
            return Err(StoreError::Corrupt("server secret shorter than 32 bytes"));
        }
        Ok(value)
    }
}
