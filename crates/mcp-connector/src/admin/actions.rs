//! The console's actions: each a form post, CSRF-checked before anything
//! is read, done with the store function its CLI verb uses (`client
//! revoke`, `user disable`/`enable`, `grant revoke`), recorded in the audit
//! trail under the administrator's subject, then `303` back to its page
//! (post/redirect/get: a reload does not post again).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::view::{self, message};
use super::{Admin, AdminState};
use crate::auth::events::{self, What};
use crate::auth::params::Params;
use crate::auth::session::{self, see_other};
use crate::clock::unix_now;

/// The form of a post, if its CSRF field matches the browser's cookie.
pub(super) fn checked_form(
    s: &AdminState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Params, Stop> {
    let form = Params::parse(body);
    if session::csrf_matches(&s.auth, headers, form.get("csrf")) {
        Ok(form)
    } else {
        tracing::info!("admin console post refused: missing or wrong CSRF token");
        Err(Box::new(view::refused(
            "The form was not sent from this console (its security token is missing or \
             wrong). Nothing was changed; reload the page and try again.",
        )))
    }
}

/// Record `what` as done by `admin`. The change is committed already: a
/// record that cannot be written is reported, not undone.
pub(super) async fn record(s: &AdminState, admin: &Admin, what: What<'_>) -> Result<(), Stop> {
    let event = what.by_admin(&admin.signed_in.user.id, admin.ip);
    events::record_to(&s.auth.audit, event).await.map_err(|e| {
        tracing::error!(error = %e, "admin action done but not recorded in the audit trail");
        Box::new(message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Done, but not recorded",
            "The change is made, but its audit record could not be written; see the server log.",
        ))
    })
}

fn required<'f>(form: &'f Params, name: &str) -> Result<&'f str, Stop> {
    form.get(name).ok_or_else(|| {
        Box::new(message(
            StatusCode::BAD_REQUEST,
            "Incomplete form",
            &format!("The form lacks `{name}`."),
        ))
    })
}

fn back(page: &str, done: &str, id: &str) -> Response {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("done", done)
        .append_pair("id", id)
        .finish();
    see_other(&format!("{page}?{q}"))
}

fn not_found(what: &str) -> Stop {
    Box::new(message(StatusCode::NOT_FOUND, "Not found", what))
}

/// A page that ends an action early (boxed: a `Response` is large).
pub(super) type Stop = Box<Response>;

/// `POST /admin/clients/revoke` (`id`).
pub async fn revoke_client(
    State(s): State<AdminState>,
    admin: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let form = checked_form(&s, &headers, &body)?;
        let id = required(&form, "id")?;
        match s.auth.db.revoke_client(id, unix_now()).await {
            Ok(true) => {}
            Ok(false) => return Err(not_found("There is no active client with this id.")),
            Err(e) => return Err(Box::new(view::internal(&e))),
        }
        // This replica stops accepting its tokens now, not at the next
        // revalidation.
        s.auth.cache.forget_where(|p| &*p.client_id == id);
        record(&s, &admin, What::ClientRevoked { client_id: id }).await?;
        Ok(back("/admin/clients", "client_revoked", id))
    };
    run.await.unwrap_or_else(|r| *r)
}

/// `POST /admin/users/disable` (`username`).
pub async fn disable_user(
    State(s): State<AdminState>,
    admin: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    set_disabled(s, admin, headers, body, true).await
}

/// `POST /admin/users/enable` (`username`).
pub async fn enable_user(
    State(s): State<AdminState>,
    admin: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    set_disabled(s, admin, headers, body, false).await
}

async fn set_disabled(
    s: AdminState,
    admin: Admin,
    headers: HeaderMap,
    body: Bytes,
    disabled: bool,
) -> Response {
    let run = async {
        let form = checked_form(&s, &headers, &body)?;
        let username = required(&form, "username")?;
        let db = &s.auth.db;
        let user = match db.user_by_name(username).await {
            Ok(Some(u)) => u,
            Ok(None) => return Err(not_found("There is no user with this name.")),
            Err(e) => return Err(Box::new(view::internal(&e))),
        };
        if disabled && user.id == admin.signed_in.user.id {
            return Err(Box::new(message(
                StatusCode::CONFLICT,
                "Not yourself",
                "You cannot disable your own account from the console.",
            )));
        }
        match db.set_user_disabled(username, disabled, unix_now()).await {
            Ok(true) => {}
            Ok(false) => return Err(not_found("There is no user with this name.")),
            Err(e) => return Err(Box::new(view::internal(&e))),
        }
        if disabled {
            s.auth
                .cache
                .forget_where(|p| p.user_id.as_deref() == Some(user.id.as_str()));
            record(&s, &admin, What::UserDisabled { username }).await?;
            Ok(back("/admin/users", "user_disabled", username))
        } else {
            record(&s, &admin, What::UserEnabled { username }).await?;
            Ok(back("/admin/users", "user_enabled", username))
        }
    };
    run.await.unwrap_or_else(|r| *r)
}

/// `POST /admin/grants/revoke` (`id`).
pub async fn revoke_grant(
    State(s): State<AdminState>,
    admin: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let form = checked_form(&s, &headers, &body)?;
        let id = required(&form, "id")?;
        let db = &s.auth.db;
        let now = unix_now();
        // Whose tokens to drop from the cache: the grant's user and client.
        let grant = match db.list_grants(None, None, now).await {
            Ok(all) => all.into_iter().find(|g| g.id == id),
            Err(e) => return Err(Box::new(view::internal(&e))),
        };
        match db.revoke_grant(id, now).await {
            Ok(true) => {}
            Ok(false) => return Err(not_found("There is no active grant with this id.")),
            Err(e) => return Err(Box::new(view::internal(&e))),
        }
        if let Some(g) = grant {
            s.auth
                .cache
                .forget_where(|p| *p.client_id == *g.client_id && p.user_id == g.user_id);
        }
        record(&s, &admin, What::GrantRevokedByOperator { grant_id: id }).await?;
        Ok(back("/admin/grants", "grant_revoked", id))
    };
    run.await.unwrap_or_else(|r| *r)
}
