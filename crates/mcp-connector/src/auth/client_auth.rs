//! Stub: replaced by the implementation (client lookup and authentication).

use super::{Auth, OAuthError};
use crate::store::oauth::Client;

/// The live client `client_id` (CIMD URLs resolved), or `None`.
pub async fn lookup(auth: &Auth, client_id: &str) -> Result<Option<Client>, OAuthError> {
    Ok(auth
        .db
        .client(client_id)
        .await?
        .filter(|c| c.revoked_at.is_none()))
}
