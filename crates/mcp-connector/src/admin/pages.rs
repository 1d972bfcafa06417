//! The console's read pages: overview, clients, users, grants and tools.
//! Each reads what the matching CLI verb reads (`client list`, `user
//! list`, `grant list`, `tools diff`), through the same store functions.

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::view::{self, Frame, notice, table, text, when};
use super::{Admin, AdminState};
use crate::auth::pages::escape;
use crate::clock::unix_now;
use crate::store::oauth::Client;

/// `?done=…&id=…`: what the action before the redirect did.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    done: Option<String>,
    id: Option<String>,
}

impl Done {
    /// The notice for a known `done` code (nothing is echoed otherwise).
    fn notice(&self) -> String {
        let id = self.id.as_deref().unwrap_or("");
        let line = match self.done.as_deref() {
            Some("client_revoked") => format!(
                "Revoked client {id} and every grant issued to it: its tokens stop working \
                 at once here, within 5 seconds on every replica."
            ),
            Some("grant_revoked") => format!("Revoked grant {id}: its tokens stop working."),
            Some("user_disabled") => {
                format!("Disabled {id}: login refused, every grant revoked.")
            }
            Some("user_enabled") => format!("Enabled {id}."),
            _ => return String::new(),
        };
        notice(true, &line)
    }
}

/// `GET /admin`.
pub async fn overview(State(s): State<AdminState>, admin: Admin, headers: HeaderMap) -> Response {
    let frame = Frame::new(&s.auth, &headers, &admin);
    let db = &s.auth.db;
    let now = unix_now();
    let counts = async {
        let users = db.list_users().await?;
        let clients = db.list_clients().await?;
        let grants = db.list_grants(None, None, now).await?;
        Ok::<_, crate::store::StoreError>((users, clients, grants))
    }
    .await;
    let (users, clients, grants) = match counts {
        Ok(c) => c,
        Err(e) => return view::internal(&e),
    };
    let calls = match crate::audit::store::tool_call_counts(db).await {
        Ok(c) => c,
        Err(e) => return view::internal(&e),
    };
    let served = s.live.load();
    let tools = served
        .catalog
        .tools()
        .definitions()
        .filter(|t| served.policy.serves(t))
        .count();
    let facts: [(&str, String); 12] = [
        ("Version", env!("CARGO_PKG_VERSION").to_owned()),
        ("Auth mode", s.config.auth.mode.as_str().to_owned()),
        ("MCP URL", s.config.mcp_url()),
        ("Uptime", uptime(s.started.elapsed().as_secs())),
        (
            "Database",
            crate::store::Backend::of_url(&s.config.database_url)
                .map(|b| format!("{b:?}"))
                .unwrap_or_default(),
        ),
        ("Tools served", tools.to_string()),
        ("Tool calls (audit trail)", calls.0.to_string()),
        ("Tool calls with an error", calls.1.to_string()),
        ("Users", users.len().to_string()),
        (
            "Disabled users",
            users.iter().filter(|u| u.disabled).count().to_string(),
        ),
        (
            "Active clients",
            clients
                .iter()
                .filter(|c| c.revoked_at.is_none())
                .count()
                .to_string(),
        ),
        (
            "Active grants",
            grants.iter().filter(|g| g.live).count().to_string(),
        ),
    ];
    let mut c = String::from("<dl class=\"facts\" id=\"overview\">");
    for (k, v) in facts {
        let _ = write!(c, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
    }
    c.push_str(
        "</dl><p class=\"muted\">Tool calls are counted from the audit trail (every call is \
         recorded before its result is sent).</p>",
    );
    frame.render(StatusCode::OK, "/admin", "Overview", &c)
}

/// `3d 4h 12m`.
fn uptime(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m}m {}s", secs % 60),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

fn client_status(c: &Client) -> String {
    match c.revoked_at {
        Some(t) => format!("revoked {}", when(Some(t))),
        None => "active".to_owned(),
    }
}

/// `GET /admin/clients`.
pub async fn clients(
    State(s): State<AdminState>,
    admin: Admin,
    headers: HeaderMap,
    Query(done): Query<Done>,
) -> Response {
    let frame = Frame::new(&s.auth, &headers, &admin);
    let clients = match s.auth.db.list_clients().await {
        Ok(c) => c,
        Err(e) => return view::internal(&e),
    };
    let rows: Vec<Vec<String>> = clients
        .iter()
        .map(|c| {
            let action = if c.revoked_at.is_none() {
                frame.button(
                    "/admin/clients/revoke",
                    &[("id", &c.id)],
                    "Revoke",
                    &format!("revoke-{}", c.id),
                )
            } else {
                String::new()
            };
            vec![
                format!("<code>{}</code>", escape(&c.id)),
                escape(&c.name),
                escape(c.origin.as_str()),
                escape(&c.grant_types.join(", ")),
                when(Some(c.created_at)),
                when(c.last_used_at),
                escape(&client_status(c)),
                action,
            ]
        })
        .collect();
    let mut c = done.notice();
    c.push_str(&table(
        &[
            "ID",
            "Name",
            "Origin",
            "Grants",
            "Created",
            "Last used",
            "Status",
            "",
        ],
        &rows,
        "No clients.",
    ));
    frame.render(StatusCode::OK, "/admin/clients", "Clients", &c)
}

/// `GET /admin/users`.
pub async fn users(
    State(s): State<AdminState>,
    admin: Admin,
    headers: HeaderMap,
    Query(done): Query<Done>,
) -> Response {
    let frame = Frame::new(&s.auth, &headers, &admin);
    let users = match s.auth.db.list_users().await {
        Ok(u) => u,
        Err(e) => return view::internal(&e),
    };
    let me = &admin.signed_in.user.id;
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            let action = match (u.disabled, &u.id == me) {
                // Disabling yourself would end this session mid-click.
                (false, true) => "<span class=\"muted\">you</span>".to_owned(),
                (false, false) => frame.button(
                    "/admin/users/disable",
                    &[("username", &u.username)],
                    "Disable",
                    &format!("disable-{}", u.username),
                ),
                (true, _) => frame.button(
                    "/admin/users/enable",
                    &[("username", &u.username)],
                    "Enable",
                    &format!("enable-{}", u.username),
                ),
            };
            vec![
                escape(&u.username),
                escape(u.source.as_str()),
                escape(&u.role),
                if u.disabled { "disabled" } else { "active" }.to_owned(),
                when(u.last_login_at),
                text(u.email.as_deref()),
                action,
            ]
        })
        .collect();
    let mut c = done.notice();
    c.push_str(&table(
        &[
            "Name",
            "Source",
            "Role",
            "Status",
            "Last login",
            "Email",
            "",
        ],
        &rows,
        "No users.",
    ));
    c.push_str(
        "<p class=\"muted\">Disabling a user refuses their logins and revokes every grant they \
         hold. Roles and passwords are changed with <code>mcp-connector user role</code> and \
         <code>user passwd</code>.</p>",
    );
    frame.render(StatusCode::OK, "/admin/users", "Users", &c)
}

/// `?user=NAME&client=ID` of the grants page, with the action notice.
#[derive(Debug, Default, Deserialize)]
pub struct GrantQuery {
    user: Option<String>,
    client: Option<String>,
    #[serde(flatten)]
    done: Done,
}

/// `GET /admin/grants`.
pub async fn grants(
    State(s): State<AdminState>,
    admin: Admin,
    headers: HeaderMap,
    Query(q): Query<GrantQuery>,
) -> Response {
    let frame = Frame::new(&s.auth, &headers, &admin);
    let user = q.user.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let client = q.client.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let mut c = q.done.notice();
    let _ = write!(
        c,
        "<form method=\"get\" action=\"/admin/grants\" class=\"filter\">\
         <label for=\"user\">User</label><input type=\"text\" id=\"user\" name=\"user\" value=\"{}\">\
         <label for=\"client\">Client id</label><input type=\"text\" id=\"client\" name=\"client\" value=\"{}\">\
         <button type=\"submit\" id=\"filter\">Filter</button></form>",
        escape(user.unwrap_or("")),
        escape(client.unwrap_or(""))
    );
    let db = &s.auth.db;
    let user_id = match user {
        None => None,
        Some(name) => match db.user_by_name(name).await {
            Ok(Some(u)) => Some(u.id),
            Ok(None) => {
                c.push_str(&notice(false, &format!("No user `{name}`.")));
                return frame.render(StatusCode::NOT_FOUND, "/admin/grants", "Grants", &c);
            }
            Err(e) => return view::internal(&e),
        },
    };
    let grants = match db.list_grants(user_id.as_deref(), client, unix_now()).await {
        Ok(g) => g,
        Err(e) => return view::internal(&e),
    };
    let rows: Vec<Vec<String>> = grants
        .iter()
        .map(|g| {
            let client = match &g.client_name {
                Some(n) => format!("{} (<code>{}</code>)", escape(n), escape(&g.client_id)),
                None => format!("<code>{}</code>", escape(&g.client_id)),
            };
            vec![
                format!("<code>{}</code>", escape(&g.id)),
                text(g.username.as_deref()),
                client,
                escape(&g.scopes),
                when(Some(g.created_at)),
                when(g.last_used_at),
                if g.live { "active" } else { "expired" }.to_owned(),
                frame.button(
                    "/admin/grants/revoke",
                    &[("id", &g.id)],
                    "Revoke",
                    &format!("revoke-{}", g.id),
                ),
            ]
        })
        .collect();
    c.push_str(&table(
        &[
            "ID",
            "User",
            "Client",
            "Scope",
            "Created",
            "Last used",
            "Status",
            "",
        ],
        &rows,
        "No grants.",
    ));
    frame.render(StatusCode::OK, "/admin/grants", "Grants", &c)
}

/// `GET /admin/tools`.
pub async fn tools(State(s): State<AdminState>, admin: Admin, headers: HeaderMap) -> Response {
    let frame = Frame::new(&s.auth, &headers, &admin);
    let served = s.live.load();
    let definitions: Vec<&rmcp::model::Tool> = served.catalog.tools().definitions().collect();
    let lock = crate::drift::ToolLock::of(
        definitions
            .iter()
            .copied()
            .filter(|t| served.policy.serves(t)),
    );
    let (report, lock_line) = match &s.config.safety.tools_lock {
        None => (
            None,
            "No tools lock is configured (<code>safety.tools_lock</code>): drift is not checked."
                .to_owned(),
        ),
        Some(path) => match crate::drift::check(path, crate::safety::DriftMode::Warn, &lock) {
            Ok(r) => {
                let line = format!(
                    "Lock <code>{}</code>: {}",
                    escape(&path.display().to_string()),
                    escape(&r.summary())
                );
                (Some(r), line)
            }
            Err(e) => (
                None,
                format!(
                    "<span class=\"error\">The lock could not be read: {}</span>",
                    escape(&e.to_string())
                ),
            ),
        },
    };
    let rows: Vec<Vec<String>> = definitions
        .iter()
        .map(|t| {
            let name = t.name.as_ref();
            let enabled = served.policy.serves(t);
            vec![
                format!("<code>{}</code>", escape(name)),
                escape(s.auth.scopes.for_tool(t)),
                escape(&hints(t)),
                if enabled { "yes" } else { "no" }.to_owned(),
                drift_cell(report.as_ref(), name, enabled),
            ]
        })
        .collect();
    let mut c = format!("<p id=\"lock\">{lock_line}</p>");
    c.push_str(&table(
        &["Name", "Scope", "Hints", "Enabled", "Drift"],
        &rows,
        "No tools.",
    ));
    if let Some(r) = report.as_ref().filter(|r| !r.removed.is_empty()) {
        let _ = write!(
            c,
            "<p class=\"error\">In the lock but not served: {}</p>",
            escape(&r.removed.join(", "))
        );
    }
    frame.render(StatusCode::OK, "/admin/tools", "Tools", &c)
}

/// The annotation hints a tool declares (`read-only`, `destructive`, …).
fn hints(t: &rmcp::model::Tool) -> String {
    let Some(a) = &t.annotations else {
        return "-".to_owned();
    };
    let mut out = Vec::new();
    for (hint, name) in [
        (a.read_only_hint, "read-only"),
        (a.destructive_hint, "destructive"),
        (a.idempotent_hint, "idempotent"),
        (a.open_world_hint, "open-world"),
    ] {
        if hint == Some(true) {
            out.push(name);
        }
    }
    if out.is_empty() {
        "-".to_owned()
    } else {
        out.join(", ")
    }
}

/// The drift of tool `name` against the lock.
fn drift_cell(report: Option<&crate::drift::DriftReport>, name: &str, enabled: bool) -> String {
    let Some(r) = report else {
        return "-".to_owned();
    };
    if !enabled {
        return "<span class=\"muted\">not served</span>".to_owned();
    }
    if r.added.iter().any(|a| a == name) {
        return "<span class=\"error\">not in the lock</span>".to_owned();
    }
    match r.changed.iter().find(|c| c.name == name) {
        Some(c) => format!(
            "<span class=\"error\">changed: {}</span>",
            escape(&c.fields.join(", "))
        ),
        None => "<span class=\"ok\">matches</span>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_reads_naturally() {
        assert_eq!(uptime(59), "0m 59s");
        assert_eq!(uptime(3 * 3600 + 120), "3h 2m");
        assert_eq!(uptime(2 * 86_400 + 3600 + 60), "2d 1h 1m");
    }

    #[test]
    fn unknown_done_codes_are_not_echoed() {
        let d = Done {
            done: Some("<script>".into()),
            id: Some("x".into()),
        };
        assert_eq!(d.notice(), "");
        let d = Done {
            done: Some("client_revoked".into()),
            id: Some("<c>".into()),
        };
        assert!(d.notice().contains("&lt;c&gt;"));
    }
}
