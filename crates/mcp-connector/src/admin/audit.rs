//! The audit trail in the console: the latest records with filters (user,
//! client, tool, time), one record in full, and the chain verification of
//! `mcp-connector audit verify`, with its result.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::actions::{checked_form, record};
use super::view::{self, Frame, notice, table, text};
use super::{Admin, AdminState};
use crate::audit::AuditRecord;
use crate::audit::store::{self, Filter};
use crate::auth::events::What;
use crate::auth::pages::escape;

/// Records per page.
const PAGE: i64 = 50;
/// Longest filter value accepted (ids and names are far shorter).
const MAX_VALUE: usize = 200;

/// The filter form's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    user: Option<String>,
    client: Option<String>,
    tool: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<i64>,
}

fn value(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// A time prefix as typed (`2026-12-04`, `2026-12-04T21:30`, a space for
/// the `T`) in the stored form, or `None` if it is not one.
fn time_prefix(raw: &str) -> Option<String> {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd";
    let t = raw.replacen(' ', "T", 1);
    let ok = t.len() >= 4
        && t.len() <= SHAPE.len()
        && t.bytes().zip(SHAPE).all(|(b, s)| match s {
            b'd' => b.is_ascii_digit(),
            s => b == *s,
        });
    ok.then_some(t)
}

impl AuditQuery {
    /// The store filter, or what is wrong with the form. A user name is
    /// looked up (`user:<id>` is the subject); `operator` and a raw subject
    /// (`client:…`) are taken as they are.
    async fn filter(&self, s: &AdminState) -> Result<Filter, String> {
        let too_long = [&self.user, &self.client, &self.tool, &self.from, &self.to]
            .iter()
            .any(|v| v.as_ref().is_some_and(|v| v.len() > MAX_VALUE));
        if too_long {
            return Err("A filter value is too long.".to_owned());
        }
        let subject = match value(&self.user) {
            None => None,
            Some(u) if u == crate::auth::events::OPERATOR || u.contains(':') => Some(u.to_owned()),
            Some(name) => match s.auth.db.user_by_name(name).await {
                Ok(Some(user)) => Some(format!("user:{}", user.id)),
                Ok(None) => return Err(format!("No user `{name}`.")),
                Err(e) => {
                    tracing::error!(error = %e, "admin console: reading users");
                    return Err("The users could not be read.".to_owned());
                }
            },
        };
        let time = |v: &Option<String>, name: &str| match value(v) {
            None => Ok(None),
            Some(raw) => time_prefix(raw).map(Some).ok_or_else(|| {
                format!("`{name}` must be a UTC time like 2026-12-04 or 2026-12-04T21:30.")
            }),
        };
        Ok(Filter {
            subject,
            client: value(&self.client).map(str::to_owned),
            tool: value(&self.tool).map(str::to_owned),
            from: time(&self.from, "from")?,
            to: time(&self.to, "to")?,
            before: self.before,
        })
    }

    fn form(&self) -> String {
        let field = |id: &str, label: &str, v: &Option<String>, hint: &str| {
            format!(
                "<label for=\"{id}\">{label}</label><input type=\"text\" id=\"{id}\" name=\"{id}\" \
                 value=\"{}\" placeholder=\"{hint}\">",
                escape(value(v).unwrap_or(""))
            )
        };
        format!(
            "<form method=\"get\" action=\"/admin/audit\" class=\"filter\">{}{}{}{}{}\
             <button type=\"submit\" id=\"filter\">Filter</button></form>",
            field("user", "User", &self.user, "name"),
            field("client", "Client", &self.client, "id or name"),
            field("tool", "Tool", &self.tool, "name"),
            field("from", "From", &self.from, "2026-12-04"),
            field("to", "To", &self.to, "2026-12-04T21:30"),
        )
    }

    /// This query's link to the page of records before `seq`.
    fn older(&self, seq: i64) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("user", &self.user),
            ("client", &self.client),
            ("tool", &self.tool),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if let Some(v) = value(v) {
                q.append_pair(k, v);
            }
        }
        q.append_pair("before", &seq.to_string());
        format!(
            "<p><a href=\"/admin/audit?{}\" id=\"older\">Older records</a></p>",
            escape(&q.finish())
        )
    }
}

/// `user:<id>` as the user's name where known.
fn subject_cell(subject: Option<&str>, names: &HashMap<String, String>) -> String {
    match subject
        .and_then(|s| s.strip_prefix("user:"))
        .and_then(|id| names.get(id))
    {
        Some(name) => format!("{} <span class=\"muted\">(user)</span>", escape(name)),
        None => text(subject),
    }
}

/// `arguments.event` of an `auth` record, else the tool.
fn what(r: &AuditRecord) -> String {
    let event = r
        .arguments
        .as_deref()
        .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
        .and_then(|a| a.get("event").and_then(|e| e.as_str()).map(str::to_owned));
    event.unwrap_or_else(|| r.tool.clone().unwrap_or_default())
}

async fn user_names(s: &AdminState) -> HashMap<String, String> {
    match s.auth.db.list_users().await {
        Ok(users) => users.into_iter().map(|u| (u.id, u.username)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "admin console: user names not shown");
            HashMap::new()
        }
    }
}

/// `GET /admin/audit`.
pub async fn list(
    State(s): State<AdminState>,
    admin: Admin,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let frame = Frame::new(&s.auth, &headers, &admin);
    let mut c = q.form();
    c.push_str(&frame.button("/admin/audit/verify", &[], "Verify chain", "verify"));
    let filter = match q.filter(&s).await {
        Ok(f) => f,
        Err(why) => {
            c.push_str(&notice(false, &why));
            return frame.render(StatusCode::BAD_REQUEST, "/admin/audit", "Audit trail", &c);
        }
    };
    let records = match store::search(&s.auth.db, &filter, PAGE).await {
        Ok(r) => r,
        Err(e) => return view::internal(&e),
    };
    let names = user_names(&s).await;
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                format!("<a href=\"/admin/audit/{0}\">{0}</a>", r.seq),
                escape(&r.time),
                escape(&r.kind),
                subject_cell(r.subject.as_deref(), &names),
                text(r.client.as_deref()),
                text(r.tool.as_deref()),
                escape(&what(r)),
                if r.is_error {
                    format!("<span class=\"error\">{}</span>", text(r.error.as_deref()))
                } else {
                    "ok".to_owned()
                },
            ]
        })
        .collect();
    c.push_str(&table(
        &[
            "Seq",
            "Time (UTC)",
            "Kind",
            "Subject",
            "Client",
            "Tool",
            "What",
            "Outcome",
        ],
        &rows,
        "No records match.",
    ));
    if let Some(last) = records.last().filter(|_| records.len() as i64 == PAGE) {
        c.push_str(&q.older(last.seq));
    }
    frame.render(StatusCode::OK, "/admin/audit", "Audit trail", &c)
}

/// `GET /admin/audit/{seq}`: one record, every column.
pub async fn one(
    State(s): State<AdminState>,
    admin: Admin,
    headers: HeaderMap,
    Path(seq): Path<i64>,
) -> Response {
    let frame = Frame::new(&s.auth, &headers, &admin);
    let r = match store::one(&s.auth.db, seq).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            let c = notice(false, &format!("There is no record {seq}."));
            return frame.render(StatusCode::NOT_FOUND, "/admin/audit", "Audit record", &c);
        }
        Err(e) => return view::internal(&e),
    };
    let json =
        |v: Option<&str>| match v.and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok()) {
            Some(v) => format!(
                "<pre>{}</pre>",
                escape(&serde_json::to_string_pretty(&v).unwrap_or_default())
            ),
            None => "-".to_owned(),
        };
    let fields: [(&str, String); 17] = [
        ("Seq", r.seq.to_string()),
        ("Time (UTC)", escape(&r.time)),
        ("Kind", escape(&r.kind)),
        ("Subject", text(r.subject.as_deref())),
        ("Client", text(r.client.as_deref())),
        ("Session", text(r.session_id.as_deref())),
        ("Source address", text(r.source_ip.as_deref())),
        ("Tool", text(r.tool.as_deref())),
        ("Arguments", json(r.arguments.as_deref())),
        ("Result SHA-256", text(r.result_sha256.as_deref())),
        (
            "Result bytes",
            text(r.result_size.map(|n| n.to_string()).as_deref()),
        ),
        ("Error", if r.is_error { "yes" } else { "no" }.to_owned()),
        ("Error message", text(r.error.as_deref())),
        (
            "Duration (ms)",
            text(r.duration_ms.map(|n| n.to_string()).as_deref()),
        ),
        ("Flags", json(r.flags.as_deref())),
        (
            "Previous hash",
            format!("<code>{}</code>", escape(&r.prev_hash)),
        ),
        ("Hash", format!("<code>{}</code>", escape(&r.hash))),
    ];
    let mut c = String::from("<dl class=\"facts\" id=\"record\">");
    for (k, v) in fields {
        let _ = write!(c, "<dt>{}</dt><dd>{v}</dd>", escape(k));
    }
    c.push_str("</dl><p><a href=\"/admin/audit\">Back to the audit trail</a></p>");
    frame.render(
        StatusCode::OK,
        "/admin/audit",
        &format!("Audit record {seq}"),
        &c,
    )
}

/// `POST /admin/audit/verify`: recompute the whole chain.
pub async fn verify(
    State(s): State<AdminState>,
    admin: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = checked_form(&s, &headers, &body) {
        return *refused;
    }
    let frame = Frame::new(&s.auth, &headers, &admin);
    let (line, ok, records) = match store::verify(&s.auth.db).await {
        Ok(Ok(v)) => (
            format!("{} records, chain intact (head {}).", v.count, v.head),
            true,
            v.count,
        ),
        Ok(Err(broken)) => (format!("The chain is broken: {broken}."), false, broken.seq),
        Err(e) => return view::internal(&e),
    };
    if let Err(r) = record(
        &s,
        &admin,
        What::AuditVerified {
            intact: ok,
            records,
        },
    )
    .await
    {
        return *r;
    }
    let mut c = notice(ok, &line);
    c.push_str("<p><a href=\"/admin/audit\">Back to the audit trail</a></p>");
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    frame.render(status, "/admin/audit", "Audit chain", &c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_prefixes() {
        assert_eq!(time_prefix("2026-12-04").as_deref(), Some("2026-12-04"));
        assert_eq!(
            time_prefix("2026-12-04 21:30").as_deref(),
            Some("2026-12-04T21:30")
        );
        assert_eq!(time_prefix("2026").as_deref(), Some("2026"));
        for bad in [
            "",
            "26",
            "2026/12/04",
            "2026-12-04T21:30:00.000Z1",
            "x' OR 1=1",
        ] {
            assert_eq!(time_prefix(bad), None, "{bad}");
        }
    }
}
