//! Stateful MCP sessions kept in the database, so that a session created on
//! one replica can be resumed on another (rmcp restores it from the stored
//! `initialize` parameters).

use rmcp::transport::streamable_http_server::session::{
    SessionState, SessionStore, SessionStoreError,
};

use super::Db;

/// rmcp [`SessionStore`] backed by the `mcp_sessions` table.
#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl SessionStore for DbSessionStore {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let row: Option<String> = match &self.db {
            Db::Sqlite { write, .. } => {
                sqlx::query_scalar("SELECT state FROM mcp_sessions WHERE id = ?")
                    .bind(session_id)
                    .fetch_optional(write)
                    .await?
            }
            Db::Postgres { write, .. } => {
                sqlx::query_scalar("SELECT state FROM mcp_sessions WHERE id = $1")
                    .bind(session_id)
                    .fetch_optional(write)
                    .await?
            }
        };
        Ok(match row {
            Some(json) => Some(serde_json::from_str(&json)?),
            None => None,
        })
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let json = serde_json::to_string(state)?;
        match &self.db {
            Db::Sqlite { write, .. } => {
                sqlx::query("INSERT INTO mcp_sessions (id, state) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state")
                    .bind(session_id)
                    .bind(json)
                    .execute(write)
                    .await?;
            }
            Db::Postgres { write, .. } => {
                sqlx::query("INSERT INTO mcp_sessions (id, state) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET state = excluded.state")
                    .bind(session_id)
                    .bind(json)
                    .execute(write)
                    .await?;
            }
        }
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        match &self.db {
            Db::Sqlite { write, .. } => {
                sqlx::query("DELETE FROM mcp_sessions WHERE id = ?")
                    .bind(session_id)
                    .execute(write)
                    .await?;
            }
            Db::Postgres { write, .. } => {
                sqlx::query("DELETE FROM mcp_sessions WHERE id = $1")
                    .bind(session_id)
                    .execute(write)
                    .await?;
            }
        }
        Ok(())
    }
}
