//! Who is calling `/mcp`: the authenticated principal a bearer token stands for.
//!
//! A plain value: the auth layer makes it, and audit, the catalogs and the
//! MCP handler read it, so it sits below all of them.

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::service::RequestContext;

use super::scope::ScopeSet;

/// The owner of a validated access token. The resource layer inserts it into
/// the request's extensions; the MCP handler reads it (through rmcp's copy of
/// the HTTP request parts) to hide tools and to fill the audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Stable subject: `user:<id>`, `client:<client_id>` for a service
    /// client, or the identity provider's `sub`.
    pub subject: Arc<str>,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub client_id: Arc<str>,
    /// Scopes the token grants.
    pub scopes: ScopeSet,
    /// Scopes the principal could ever hold (its role's, or the service
    /// client's fixed scopes). Tools needing anything else are hidden and
    /// look unknown; tools inside it but outside `scopes` answer 403.
    pub ceiling: ScopeSet,
    /// Unix seconds.
    pub expires_at: i64,
}

/// The authenticated caller of a request, when `/mcp` requires tokens
/// (rmcp copies the HTTP request parts into the request context).
pub fn of_request(ctx: &RequestContext<RoleServer>) -> Option<&Principal> {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<Principal>())
}
