//! The console's page frame and the small pieces its pages are made of.
//! Every value from the database or the request goes through
//! [`escape`] here or in the caller; cells passed to [`table`] are HTML.

use std::fmt::Write as _;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::Admin;
use crate::auth::Auth;
use crate::auth::pages::{self, escape, hidden};
use crate::auth::session;

/// The pages of the navigation bar: (path, label).
const NAV: [(&str, &str); 6] = [
    ("/admin", "Overview"),
    ("/admin/clients", "Clients"),
    ("/admin/users", "Users"),
    ("/admin/grants", "Grants"),
    ("/admin/tools", "Tools"),
    ("/admin/audit", "Audit"),
];

/// A page without the frame (refusals, errors): no form, nothing to post.
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let body = pages::wide_document(
        title,
        &format!("<h1>{}</h1><p>{}</p>", escape(title), escape(text)),
    );
    pages::html(status, body, None, None)
}

/// A bad form post: nothing was changed.
pub fn refused(text: &str) -> Response {
    message(StatusCode::FORBIDDEN, "Request refused", text)
}

/// A failure of the database or the audit trail: logged, not shown.
pub fn internal(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "admin console request failed");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The server could not complete the request; the details are in its log.",
    )
}

/// The frame of one console page: the browser's CSRF value for the page's
/// forms, and the cookie that carries it.
pub struct Frame<'a> {
    pub csrf: String,
    cookie: String,
    admin: &'a Admin,
    server_name: &'a str,
}

impl<'a> Frame<'a> {
    pub fn new(auth: &'a Auth, headers: &HeaderMap, admin: &'a Admin) -> Self {
        let (csrf, cookie) = session::csrf(auth, headers);
        Self {
            csrf,
            cookie,
            admin,
            server_name: &auth.display_name,
        }
    }

    /// The page at `here` titled `title` around `content` (HTML).
    pub fn render(&self, status: StatusCode, here: &str, title: &str, content: &str) -> Response {
        let mut c = String::from("<nav>");
        for (path, label) in NAV {
            let class = if path == here { " class=\"here\"" } else { "" };
            let _ = write!(c, "<a href=\"{path}\"{class}>{label}</a>");
        }
        c.push_str("</nav>");
        let _ = write!(
            c,
            "<form method=\"post\" action=\"/signout\" class=\"inline\"><p class=\"muted\">{} admin console · \
             signed in as <strong id=\"signed-in\">{}</strong> ",
            escape(self.server_name),
            escape(&self.admin.signed_in.user.username)
        );
        hidden(&mut c, "csrf", &self.csrf);
        hidden(&mut c, "return_to", "/admin");
        c.push_str(
            "<button type=\"submit\" class=\"link\" id=\"signout\">Sign out</button></p></form>",
        );
        let _ = write!(c, "<h1>{}</h1>{content}", escape(title));
        let body = pages::wide_document(&format!("{title} · admin"), &c);
        pages::html(status, body, None, Some(&self.cookie))
    }

    /// A one-button form posting `fields` (and the CSRF token) to `action`.
    pub fn button(&self, action: &str, fields: &[(&str, &str)], label: &str, id: &str) -> String {
        let mut f = format!("<form method=\"post\" action=\"{}\">", escape(action));
        hidden(&mut f, "csrf", &self.csrf);
        for (k, v) in fields {
            hidden(&mut f, k, v);
        }
        let _ = write!(
            f,
            "<button type=\"submit\" id=\"{}\">{}</button></form>",
            escape(id),
            escape(label)
        );
        f
    }
}

/// A table: `header` is text, `rows` are HTML cells.
pub fn table(header: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"muted\">{}</p>", escape(empty));
    }
    let mut t = String::from("<table><thead><tr>");
    for h in header {
        let _ = write!(t, "<th>{}</th>", escape(h));
    }
    t.push_str("</tr></thead><tbody>");
    for row in rows {
        t.push_str("<tr>");
        for cell in row {
            let _ = write!(t, "<td>{cell}</td>");
        }
        t.push_str("</tr>");
    }
    t.push_str("</tbody></table>");
    t
}

/// `s` escaped, `-` when empty or absent.
pub fn text(s: Option<&str>) -> String {
    match s.filter(|s| !s.is_empty()) {
        Some(s) => escape(s),
        None => "-".to_owned(),
    }
}

/// Unix seconds as the CLI shows them.
pub fn when(secs: Option<i64>) -> String {
    crate::clock::minute_utc(secs)
}

/// A result line after an action: `ok` in green, else as an error.
pub fn notice(ok: bool, text: &str) -> String {
    let (class, role) = if ok {
        ("ok", "status")
    } else {
        ("error", "alert")
    };
    format!(
        "<p class=\"{class}\" role=\"{role}\" id=\"notice\">{}</p>",
        escape(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_escape_headers_and_say_when_empty() {
        assert!(table(&["<a>"], &[], "none <here>").contains("none &lt;here&gt;"));
        let t = table(&["<a>"], &[vec!["<b>x</b>".into()]], "");
        assert!(t.contains("<th>&lt;a&gt;</th>") && t.contains("<td><b>x</b></td>"));
        assert_eq!(text(Some("<x>")), "&lt;x&gt;");
        assert_eq!(text(Some("")), "-");
        assert!(notice(false, "<no>").contains("&lt;no&gt;"));
    }
}
