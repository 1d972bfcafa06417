//! The admin console at `/admin`: server-rendered pages for the operator's
//! picture (overview, clients, users, grants, tools, audit trail) and the
//! few actions that cannot wait for a shell (revoke a client or a grant,
//! disable or enable a user, verify the audit chain).
//!
//! # Who gets in
//! A person signed in to the connector's browser session
//! ([`crate::auth::session`]: the same login page, local password or the
//! company's identity provider) whose role holds the permission `admin`
//! (`[auth.roles]`, see [`crate::config::PERMISSIONS`]). No session: `303`
//! to `/signin?return_to=…`; a session without the permission: `403`. The
//! console exists only where the sign-in does: `auth.mode = "oauth"`.
//!
//! # How it is safe to open in a browser
//! Plain HTML under the headers of the login and consent pages
//! ([`crate::auth::pages::html`]: a CSP with no script source,
//! `frame-ancestors 'none'`, `no-store`); it works without JavaScript.
//! Every POST carries the double-submit CSRF token of the sign-in pages
//! and is refused with `403` without it, before anything changes. Every
//! action is recorded in the audit trail under the administrator's own
//! subject (`user:<id>`, `"via": "admin_console"`).
//!
//! # Revocation
//! An action that ends access also drops the matching entries of this
//! replica's token cache ([`crate::auth::cache::TokenCache::forget_where`]),
//! so the tokens fail at once here; other replicas revalidate within
//! [`crate::auth::resource::REVALIDATE_AFTER`].
//!
//! # Layout
//! * [`view`]: the page frame, navigation, tables and small forms.
//! * [`pages`]: the overview, clients, users, grants and tools pages.
//! * [`audit`]: the audit trail (filters, one row, chain verification).
//! * [`actions`]: the POST handlers.

pub mod actions;
pub mod audit;
pub mod pages;
pub mod view;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};

use crate::auth::Auth;
use crate::auth::session::SignedIn;
use crate::config::Config;
use crate::mcp::live::Live;
use crate::network::ClientIp;

/// The permission a role needs for the console.
pub const PERMISSION: &str = "admin";

/// What the console reads. Cheap to clone.
#[derive(Clone)]
pub struct AdminState {
    pub auth: Auth,
    /// The served tools (config reloads included).
    pub live: Live,
    pub config: Arc<Config>,
    /// When the server started, for the uptime.
    pub started: Instant,
}

impl FromRef<AdminState> for Auth {
    fn from_ref(s: &AdminState) -> Self {
        s.auth.clone()
    }
}

/// The signed-in administrator of a request.
#[derive(Debug, Clone)]
pub struct Admin {
    pub signed_in: SignedIn,
    /// The client address, for the audit trail.
    pub ip: Option<std::net::IpAddr>,
}

impl FromRequestParts<AdminState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        if !state.auth.scopes.allows(&signed_in.user.role, PERMISSION) {
            tracing::info!(user = %signed_in.user.username, role = %signed_in.user.role, "admin console refused: the role lacks the admin permission");
            return Err(view::message(
                StatusCode::FORBIDDEN,
                "Not an administrator",
                "Your account may not open the admin console: its role does not have the \
                 `admin` permission.",
            ));
        }
        let ip = parts.extensions.get::<ClientIp>().map(|c| c.0);
        Ok(Self { signed_in, ip })
    }
}

/// The console's routes, for `auth.mode = "oauth"`.
pub fn routes(state: AdminState) -> Router {
    Router::new()
        .route("/admin", get(pages::overview))
        .route("/admin/", get(pages::overview))
        .route("/admin/clients", get(pages::clients))
        .route("/admin/clients/revoke", post(actions::revoke_client))
        .route("/admin/users", get(pages::users))
        .route("/admin/users/disable", post(actions::disable_user))
        .route("/admin/users/enable", post(actions::enable_user))
        .route("/admin/grants", get(pages::grants))
        .route("/admin/grants/revoke", post(actions::revoke_grant))
        .route("/admin/tools", get(pages::tools))
        .route("/admin/audit", get(audit::list))
        .route("/admin/audit/verify", post(audit::verify))
        .route("/admin/audit/{seq}", get(audit::one))
        .with_state(state)
}
