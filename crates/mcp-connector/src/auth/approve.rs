//! `/approve/{id}`: the page where a person approves or rejects one
//! destructive tool call (out-of-band approval, see
//! [`crate::mcp::approval`]).
//!
//! The page needs the connector's browser session ([`SignedIn`]: without
//! one it sends the person to sign in and back). Only the user the call
//! was made for may decide it; a call of a service client (no user) may be
//! decided by any user whose role has the `approve` permission. Anyone
//! else gets 403, and an unknown id 404 (ids are 128 random bits). It shows
//! what will run, every argument whole and escaped, and posts the decision
//! with the double-submit CSRF of the sign-in: a post without the right
//! token is refused with 403 and changes nothing. Like the other pages it
//! has no scripts, works without JavaScript, refuses to be framed and is
//! never cached.

use std::fmt::Write as _;
use std::net::IpAddr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::Auth;
use super::pages::{self, escape};
use super::session::{self, SignedIn};
use crate::audit::{AuditEvent, AuditKind, AuditSink};
use crate::network::ClientIp;
use crate::store::approvals::{Approval, ApprovalStatus, Decision};
use crate::store::oauth::User;

/// The role permission that lets a user approve calls of service clients.
pub const APPROVE_PERMISSION: &str = "approve";

/// A step in an approval request's life, as the audit trail names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Requested,
    Approved,
    Rejected,
    /// Spent by the call it allowed (the call's own record follows).
    Used,
    Expired,
}

impl Step {
    fn event(self) -> &'static str {
        match self {
            Self::Requested => "approval_requested",
            Self::Approved => "approval_approved",
            Self::Rejected => "approval_rejected",
            Self::Used => "approval_used",
            Self::Expired => "approval_expired",
        }
    }
}

/// `{origin}/approve/{id}`.
pub fn url(origin: &str, id: &str) -> String {
    format!("{}/approve/{id}", origin.trim_end_matches('/'))
}

/// Unix seconds as RFC 3339 UTC (`2026-12-04T22:10:00Z`).
pub fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = crate::clock::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Record `step` of `a` in the audit trail (tool = the call's tool, so
/// `audit list --tool NAME` shows request → approval → use → call). `by`
/// is the deciding user's id. A record that cannot be written is logged:
/// the call that runs is audited on its own, fail-closed.
pub async fn record(
    audit: &AuditSink,
    a: &Approval,
    step: Step,
    by: Option<&str>,
    ip: Option<IpAddr>,
) {
    let mut event = AuditEvent::now(AuditKind::Approval);
    event.subject = Some(match (step, by) {
        (Step::Approved | Step::Rejected, Some(user)) => format!("user:{user}"),
        _ => a.key.subject.clone(),
    });
    event.client = Some(a.key.client_id.clone());
    event.tool = Some(a.key.tool.clone());
    event.source_ip = ip;
    let mut args = json!({
        "event": step.event(),
        "approval": a.id,
        "caller": a.key.subject,
        "arguments_sha256": a.key.args_digest,
        "expires_at": rfc3339(a.expires_at),
    });
    if let Some(user) = by {
        args["approved_by"] = Value::from(format!("user:{user}"));
    }
    event.arguments = Some(args);
    if let Err(e) = audit.record(event).await {
        tracing::error!(error = %e, event = step.event(), "approval event not recorded");
    }
}

/// Whether `user` may decide `a`.
fn may_decide(auth: &Auth, user: &User, a: &Approval) -> bool {
    match &a.key.user_id {
        Some(owner) => mcp_connector_security::ct_eq(owner.as_bytes(), user.id.as_bytes()),
        // A service client's call: a user whose role may approve.
        None => auth.scopes.allows(&user.role, APPROVE_PERMISSION),
    }
}

fn plain(status: StatusCode, title: &str, message: &str) -> Response {
    pages::html(status, pages::error(title, message), None, None)
}

fn forbidden() -> Response {
    plain(
        StatusCode::FORBIDDEN,
        "Not yours to approve",
        "This approval request belongs to another account. Sign in as the person who made the request.",
    )
}

fn not_found() -> Response {
    plain(
        StatusCode::NOT_FOUND,
        "No such approval request",
        "The link is not one this server issued. Copy it again from the conversation.",
    )
}

/// The request `id` if `user` may see it, else the page to answer with.
async fn load(auth: &Auth, user: &User, id: &str) -> Result<Approval, Response> {
    if id.len() > 64 {
        return Err(not_found());
    }
    let found = auth
        .db
        .approval(id)
        .await
        .map_err(|e| super::flow::internal(&e))?;
    let Some(a) = found else {
        return Err(not_found());
    };
    if !may_decide(auth, user, &a) {
        tracing::warn!(tool = %a.key.tool, "approval page refused: another user");
        return Err(forbidden());
    }
    Ok(a)
}

/// `GET /approve/{id}`.
pub async fn show(
    State(auth): State<Auth>,
    signed: SignedIn,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let a = match load(&auth, &signed.user, &id).await {
        Ok(a) => a,
        Err(res) => return res,
    };
    let (csrf, cookie) = session::csrf(&auth, &headers);
    let body = render(&auth, &a, &signed.user, &csrf).await;
    pages::html(StatusCode::OK, body, None, Some(&cookie))
}

/// `POST /approve/{id}`: Approve or Reject.
pub async fn decide(
    State(auth): State<Auth>,
    signed: SignedIn,
    Path(id): Path<String>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = super::params::Params::parse(&body);
    // CSRF first: a forged post learns nothing and changes nothing.
    // A repeated field is refused like a wrong one.
    if form.is_repeated("csrf")
        || form.is_repeated("decision")
        || !session::csrf_matches(&auth, &headers, form.get("csrf"))
    {
        return plain(
            StatusCode::FORBIDDEN,
            "Form expired",
            "The form was not sent from this server's page. Open the approval link again.",
        );
    }
    let decision = match form.get("decision") {
        Some("approve") => Decision::Approve,
        Some("reject") => Decision::Reject,
        _ => {
            return plain(
                StatusCode::BAD_REQUEST,
                "No decision",
                "Choose Approve or Reject.",
            );
        }
    };
    let a = match load(&auth, &signed.user, &id).await {
        Ok(a) => a,
        Err(res) => return res,
    };
    let ip = ip.map(|Extension(ClientIp(ip))| ip);
    let now = auth.clock.unix_now();
    let ip_text = ip.map(|i| i.to_string());
    let changed = auth
        .db
        .decide_approval(&a.id, decision, &signed.user.id, ip_text.as_deref(), now)
        .await;
    match changed {
        Ok(true) => {
            let step = match decision {
                Decision::Approve => Step::Approved,
                Decision::Reject => Step::Rejected,
            };
            record(&auth.audit, &a, step, Some(&signed.user.id), ip).await;
            tracing::info!(tool = %a.key.tool, decision = step.event(), "approval decided");
        }
        Ok(false) => {}
        Err(e) => return super::flow::internal(&e),
    }
    // Post/redirect/get: the page now says what happened.
    session::see_other(&format!("/approve/{}", a.id))
}

/// What the page says about a request that can no longer be decided.
fn settled(a: &Approval, now: i64) -> Option<&'static str> {
    let live = a.expires_at > now;
    match a.status {
        ApprovalStatus::Pending if live => None,
        ApprovalStatus::Approved if live => Some(
            "Approved. Go back to the conversation and ask for the action to be repeated: it runs once.",
        ),
        ApprovalStatus::Used => {
            Some("Approved and done: the action has run. This link cannot be used again.")
        }
        ApprovalStatus::Rejected => {
            Some("Rejected: the action did not run and cannot run with this link.")
        }
        _ => Some("Expired: the action did not run. Ask for it again to get a new link."),
    }
}

async fn render(auth: &Auth, a: &Approval, user: &User, csrf: &str) -> String {
    let client = auth.db.client(&a.key.client_id).await.ok().flatten();
    let client_name = client
        .as_ref()
        .map_or("an unknown client", |c| c.name.as_str());
    let tool = auth
        .tools
        .served_tools()
        .into_iter()
        .find(|t| t.name == a.key.tool);
    let title = tool
        .as_ref()
        .and_then(|t| t.annotations.as_ref().and_then(|x| x.title.clone()))
        .unwrap_or_else(|| a.key.tool.clone());
    let description = tool
        .as_ref()
        .and_then(|t| t.description.as_deref().map(str::to_owned))
        .unwrap_or_default();
    let mut c = String::from("<h1>Approve this action?</h1>");
    let _ = write!(
        c,
        "<p class=\"muted\">Signed in as <strong id=\"signed-in\">{}</strong>.</p>\
         <p><strong id=\"client\">{}</strong> <span class=\"muted\">(client <code id=\"client-id\">{}</code>)</span> \
         asks to run an action on <strong id=\"server\">{}</strong>:</p>\
         <p><strong id=\"tool\">{}</strong> <code>{}</code></p><p id=\"description\">{}</p>",
        escape(&user.username),
        escape(client_name),
        escape(&a.key.client_id),
        escape(&auth.display_name),
        escape(&title),
        escape(&a.key.tool),
        escape(&description),
    );
    if a.key.user_id.is_none() {
        let _ = write!(
            c,
            "<p class=\"muted\">The call comes from the service client itself (<code>{}</code>), not from a person.</p>",
            escape(&a.key.subject)
        );
    }
    c.push_str(&arguments(&a.arguments));
    let now = auth.clock.unix_now();
    if let Some(text) = settled(a, now) {
        let _ = write!(c, "<p class=\"error\" id=\"status\">{}</p>", escape(text));
        return page_document(&c);
    }
    let _ = write!(
        c,
        "<p class=\"muted\">Only approve what you asked for. The request expires at {}.</p>\
         <form method=\"post\" action=\"/approve/{}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\">Approve</button>\
         <button type=\"submit\" name=\"decision\" value=\"reject\" id=\"reject\" class=\"secondary\">Reject</button></form>",
        escape(&rfc3339(a.expires_at)),
        escape(&a.id),
        escape(csrf)
    );
    page_document(&c)
}

/// Every argument, whole: its name and its JSON value, escaped, wrapping
/// rather than cut.
fn arguments(canonical: &str) -> String {
    let parsed: Value = serde_json::from_str(canonical).unwrap_or(Value::Null);
    let Value::Object(map) = parsed else {
        return format!("<pre id=\"arguments\">{}</pre>", escape(canonical));
    };
    if map.is_empty() {
        return "<p class=\"muted\" id=\"arguments\">No arguments.</p>".to_owned();
    }
    let mut out = String::from("<dl id=\"arguments\">");
    for (k, v) in &map {
        let shown = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = write!(
            out,
            "<dt><code>{}</code></dt><dd><pre class=\"arg\">{}</pre></dd>",
            escape(k),
            escape(&shown)
        );
    }
    out.push_str("</dl>");
    out
}

fn page_document(content: &str) -> String {
    pages::document_with_style(
        "Approve this action?",
        content,
        "pre.arg{white-space:pre-wrap;word-break:break-all;background:#f0f1f4;padding:.4rem;border-radius:4px;margin:.2rem 0 .6rem}\
         dt{font-weight:600;margin-top:.4rem}dd{margin:0}",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_060_183), "2025-11-25T08:43:03Z");
    }

    #[test]
    fn arguments_are_escaped_and_whole() {
        let long = "x".repeat(5000);
        let canonical = json!({"id": 3, "note": format!("<script>{long}</script>")}).to_string();
        let html = arguments(&canonical);
        assert!(!html.contains("<script>"));
        assert!(html.contains(&format!("&lt;script&gt;{long}&lt;/script&gt;")));
        assert!(html.contains("<code>id</code></dt><dd><pre class=\"arg\">3</pre>"));
        assert_eq!(
            url("https://a.example/", "abc"),
            "https://a.example/approve/abc"
        );
    }
}
