//! The server-rendered pages of `/authorize`: login, consent and error.
//!
//! Plain HTML with inline CSS: no scripts, no external assets, so the
//! Content-Security-Policy can forbid everything but inline styles and form
//! posts. Every interpolated value goes through [`escape`]. Every page is
//! `no-store` (it carries a CSRF token and sealed state) and refuses to be
//! framed (clickjacking of the consent button).

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// HTML-escape `s` for element content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An HTML response with the security headers every page carries.
/// `form_action` is the extra CSP `form-action` source (the redirect
/// origin: browsers apply `form-action` to the redirect that follows a form
/// post), `cookie` a `Set-Cookie` value.
pub fn html(
    status: StatusCode,
    body: String,
    form_action: Option<&str>,
    cookie: Option<&str>,
) -> Response {
    let form_action = match form_action {
        Some(src) => format!("'self' {src}"),
        None => "'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action {form_action}; frame-ancestors 'none'"
    );
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    // `same-origin`, not `no-referrer`: under `no-referrer` browsers send
    // `Origin: null` with the form posts, which the edge's Origin check
    // (rightly) refuses. Nothing leaks to other sites either way.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert(header::SET_COOKIE, c);
    }
    res
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;background:#f4f5f7;color:#1d1d1f;margin:0}\
main{max-width:26rem;margin:4rem auto;background:#fff;border-radius:10px;padding:2rem;box-shadow:0 2px 12px rgba(0,0,0,.08)}\
h1{font-size:1.3rem;margin:0 0 1rem}p{line-height:1.45}label{display:block;margin:.8rem 0 .3rem;font-weight:600}\
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #bbb;border-radius:6px;font-size:1rem}\
button{margin-top:1.2rem;padding:.6rem 1.2rem;border:0;border-radius:6px;font-size:1rem;cursor:pointer;background:#2457d6;color:#fff}\
button.secondary{background:#e3e5ea;color:#1d1d1f;margin-left:.5rem}.error{color:#b00020;font-weight:600}\
.muted{color:#666;font-size:.9rem}ul.scopes{list-style:none;padding:0}ul.scopes li{margin:.4rem 0}\
ul.scopes label{display:inline;font-weight:400}code{background:#f0f1f4;padding:0 .25rem;border-radius:3px}\
.unverified{background:#fff3cd;color:#7a5200;border-radius:3px;padding:0 .3rem;font-weight:600}\
button.link{background:none;color:#2457d6;padding:0;margin:0;font-size:.9rem;text-decoration:underline}\
form.inline{margin:0}";

fn document(title: &str, content: &str) -> String {
    document_with_style(title, content, "")
}

/// A page in the common frame, with `extra` CSS after the common style.
/// `content` must already be escaped HTML.
pub fn document_with_style(title: &str, content: &str, extra: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"same-origin\">\
         <title>{}</title><style>{STYLE}{extra}</style></head><body><main>{content}</main></body></html>",
        escape(title)
    )
}

/// Wider pages with tables and a navigation bar (the admin console).
const WIDE_STYLE: &str = "main.wide{max-width:72rem;margin:2rem auto}\
table{border-collapse:collapse;width:100%;font-size:.88rem;margin:.8rem 0}\
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e3e5ea;vertical-align:top}\
th{background:#f7f8fa}nav{margin:0 0 1.2rem;font-size:.95rem}nav a{margin-right:1rem;color:#2457d6}\
nav a.here{font-weight:700;color:#1d1d1f;text-decoration:none}td form{margin:0}td button{margin:0;padding:.25rem .7rem;font-size:.85rem}\
form.filter label{display:inline;margin:0 .3rem 0 .8rem;font-weight:400}form.filter input{width:auto;padding:.3rem}\
form.filter button{margin:.4rem 0 0 .8rem;padding:.35rem .9rem}.ok{color:#116329;font-weight:600}\
pre{background:#f0f1f4;padding:.8rem;border-radius:6px;overflow-x:auto;white-space:pre-wrap;word-break:break-all}\
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.3rem 1.2rem}dl.facts dt{font-weight:600}dl.facts dd{margin:0}";

/// A wide page (tables, a navigation bar) in the same frame and under the
/// same headers as the login and consent pages. `content` is HTML the
/// caller built with [`escape`].
pub fn wide_document(title: &str, content: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"same-origin\">\
         <title>{}</title><style>{STYLE}{WIDE_STYLE}</style></head><body><main class=\"wide\">{content}</main></body></html>",
        escape(title)
    )
}

/// A hidden form field, escaped.
pub fn hidden(out: &mut String, name: &str, value: &str) {
    let _ = write!(
        out,
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        escape(name),
        escape(value)
    );
}

fn scope_list(scopes: &[String]) -> String {
    if scopes.is_empty() {
        return "<p class=\"muted\">No specific permissions requested.</p>".to_owned();
    }
    let mut out = String::from("<ul class=\"scopes\">");
    for s in scopes {
        let _ = write!(out, "<li><code>{}</code></li>", escape(s));
    }
    out.push_str("</ul>");
    out
}

/// How the client came to be known to this server, as the consent page
/// says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance<'a> {
    /// `client add`: an administrator registered it.
    Admin,
    /// Dynamic registration: it registered itself; its redirect host.
    Registered(&'a str),
    /// A Client ID Metadata Document at this URL.
    MetadataDocument(&'a str),
}

/// What the login and consent pages show about the request.
#[derive(Debug, Clone)]
pub struct RequestInfo<'a> {
    pub client_name: &'a str,
    /// Host of the redirect URI: where the browser goes next.
    pub redirect_host: &'a str,
    /// `server.display_name`.
    pub server_name: &'a str,
    pub provenance: Provenance<'a>,
}

fn intro(info: &RequestInfo<'_>, next: &str) -> String {
    format!(
        "<p><strong>{}</strong> wants to access <strong>{}</strong> on your behalf. \
         {next} you will be sent to <strong>{}</strong>.</p>",
        escape(info.client_name),
        escape(info.server_name),
        escape(info.redirect_host)
    )
}

fn provenance(p: Provenance<'_>) -> String {
    const UNVERIFIED: &str = "<span class=\"unverified\">Unverified</span>";
    match p {
        Provenance::Admin => {
            "<p class=\"muted\" id=\"provenance\">Pre-registered by an administrator of this server.</p>"
                .to_owned()
        }
        Provenance::Registered(host) => format!(
            "<p class=\"muted\" id=\"provenance\">{UNVERIFIED} Registered itself at <strong>{}</strong>: \
             its name is its own claim.</p>",
            escape(host)
        ),
        Provenance::MetadataDocument(url) => format!(
            "<p class=\"muted\" id=\"provenance\">{UNVERIFIED} Described by its metadata document at \
             <code>{}</code>: its name is that document's claim.</p>",
            escape(url)
        ),
    }
}

/// How a person may sign in on a page.
#[derive(Debug, Clone, Copy)]
pub struct SignInChoice<'a> {
    /// A "Sign in with …" button for the company's identity provider, with
    /// this label (its host).
    pub upstream: Option<&'a str>,
    /// The user name and password form.
    pub local: bool,
}

/// The sign-in forms posting to `action` with `fields` (hidden).
fn sign_in_forms(
    c: &mut String,
    action: &str,
    fields: &[(&str, &str)],
    choice: &SignInChoice<'_>,
    username: &str,
) {
    if let Some(label) = choice.upstream {
        let _ = write!(c, "<form method=\"post\" action=\"{}\">", escape(action));
        hidden(c, "step", "upstream");
        for (k, v) in fields {
            hidden(c, k, v);
        }
        let _ = write!(
            c,
            "<button type=\"submit\" id=\"upstream\">Sign in with your company account</button>\
             <p class=\"muted\">at {}</p></form>",
            escape(label)
        );
        if choice.local {
            c.push_str("<p class=\"muted\">Or with a password of this server:</p>");
        }
    }
    if !choice.local {
        return;
    }
    let _ = write!(c, "<form method=\"post\" action=\"{}\">", escape(action));
    hidden(c, "step", "login");
    for (k, v) in fields {
        hidden(c, k, v);
    }
    let _ = write!(
        c,
        "<label for=\"username\">User name</label>\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{}\" autocomplete=\"username\" autocapitalize=\"none\" required autofocus>\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\" id=\"login\">Sign in</button></form>",
        escape(username)
    );
}

fn alert(c: &mut String, error: Option<&str>) {
    if let Some(e) = error {
        let _ = write!(c, "<p class=\"error\" role=\"alert\">{}</p>", escape(e));
    }
}

/// The login page of an authorization request.
pub fn login(
    info: &RequestInfo<'_>,
    requested: &[String],
    request: &str,
    csrf: &str,
    error: Option<&str>,
    username: &str,
    choice: &SignInChoice<'_>,
) -> String {
    let mut c = String::from("<h1>Sign in</h1>");
    c.push_str(&intro(info, "After you sign in"));
    c.push_str("<p class=\"muted\">Requested permissions:</p>");
    c.push_str(&scope_list(requested));
    alert(&mut c, error);
    sign_in_forms(
        &mut c,
        "/authorize",
        &[("request", request), ("csrf", csrf)],
        choice,
        username,
    );
    document("Sign in", &c)
}

/// The standalone sign-in page (`/signin`), which returns to `return_to`.
pub fn sign_in(
    server_name: &str,
    return_to: &str,
    csrf: &str,
    error: Option<&str>,
    username: &str,
    choice: &SignInChoice<'_>,
) -> String {
    let mut c = format!("<h1>Sign in to {}</h1>", escape(server_name));
    alert(&mut c, error);
    sign_in_forms(
        &mut c,
        "/signin",
        &[("return_to", return_to), ("csrf", csrf)],
        choice,
        username,
    );
    document("Sign in", &c)
}

/// `/signin` for a browser already signed in: who, and a sign-out button.
pub fn signed_in(server_name: &str, username: &str, csrf: &str) -> String {
    let mut c = format!(
        "<h1>{}</h1><p>Signed in as <strong id=\"signed-in\">{}</strong>.</p>\
         <form method=\"post\" action=\"/signout\">",
        escape(server_name),
        escape(username)
    );
    hidden(&mut c, "csrf", csrf);
    c.push_str("<button type=\"submit\" id=\"signout\">Sign out</button></form>");
    document("Signed in", &c)
}

/// One scope on the consent page.
#[derive(Debug, Clone)]
pub struct ScopeChoice {
    pub scope: String,
    pub checked: bool,
    pub write: bool,
    /// The served tools this scope unlocks (names).
    pub tools: Vec<String>,
}

/// The signed-in person as the consent page shows them.
#[derive(Debug, Clone)]
pub struct Person<'a> {
    pub username: &'a str,
    pub email: Option<&'a str>,
}

fn scope_item(c: &mut String, i: usize, s: &ScopeChoice) {
    let (what, detail) = if s.write {
        (
            "Change data",
            "add, update or delete records through the tools below",
        )
    } else {
        (
            "Read data",
            "look records up through the tools below; no changes",
        )
    };
    let _ = write!(
        c,
        "<li><input type=\"checkbox\" id=\"scope{i}\" name=\"scope\" value=\"{}\"{}> \
         <label for=\"scope{i}\"><strong>{what}</strong> <code>{}</code>{}</label>\
         <div class=\"muted\">{detail}.",
        escape(&s.scope),
        if s.checked { " checked" } else { "" },
        escape(&s.scope),
        if s.write {
            " (can change data)"
        } else {
            " (read only)"
        }
    );
    if s.tools.is_empty() {
        c.push_str(" No served tool uses it at the moment.");
    } else {
        c.push_str(" Tools: ");
        let names: Vec<String> = s
            .tools
            .iter()
            .map(|t| format!("<code>{}</code>", escape(t)))
            .collect();
        c.push_str(&names.join(", "));
    }
    c.push_str("</div></li>");
}

/// The consent page.
pub fn consent(
    info: &RequestInfo<'_>,
    person: &Person<'_>,
    choices: &[ScopeChoice],
    not_granted: &[String],
    ticket: &str,
    csrf: &str,
) -> String {
    let mut c = String::from("<h1>Allow access?</h1>");
    let email = person
        .email
        .filter(|e| *e != person.username)
        .map(|e| format!(" ({})", escape(e)))
        .unwrap_or_default();
    let _ = write!(
        c,
        "<p class=\"muted\">Signed in as <strong id=\"signed-in\">{}</strong>{email}.</p>",
        escape(person.username)
    );
    c.push_str(&intro(info, "If you allow,"));
    c.push_str(&provenance(info.provenance));
    c.push_str("<form method=\"post\" action=\"/authorize\">");
    hidden(&mut c, "step", "consent");
    hidden(&mut c, "ticket", ticket);
    hidden(&mut c, "csrf", csrf);
    if choices.is_empty() {
        c.push_str("<p>Your account cannot grant any of the requested permissions.</p>");
    } else {
        c.push_str("<p>Permissions to grant:</p><ul class=\"scopes\">");
        for (i, s) in choices.iter().enumerate() {
            scope_item(&mut c, i, s);
        }
        c.push_str("</ul>");
    }
    if !not_granted.is_empty() {
        c.push_str("<p class=\"muted\">Not granted (beyond what your account may allow):</p>");
        c.push_str(&scope_list(not_granted));
    }
    c.push_str(
        "<button type=\"submit\" name=\"decision\" value=\"allow\" id=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\" class=\"secondary\">Deny</button></form>",
    );
    // "Not you?" ends the session and shows the sign-in again. A form of
    // its own after the consent form: Enter in the consent form never
    // signs out, and the consent form stays the page's first.
    let _ = write!(
        c,
        "<form method=\"post\" action=\"/authorize\" class=\"inline\"><p class=\"muted\">Not {}? ",
        escape(person.username)
    );
    hidden(&mut c, "step", "switch");
    hidden(&mut c, "ticket", ticket);
    hidden(&mut c, "csrf", csrf);
    c.push_str(
        "<button type=\"submit\" id=\"switch\" class=\"link\">Sign in as someone else</button></p></form>",
    );
    document("Allow access?", &c)
}

/// An error page: no form, no redirect.
pub fn error(title: &str, message: &str) -> String {
    let c = format!(
        "<h1>{}</h1><p>{}</p><p class=\"muted\">Go back to the application and try to connect again.</p>",
        escape(title),
        escape(message)
    );
    document(title, &c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape("plain é"), "plain é");
    }

    #[test]
    fn pages_escape_every_value() {
        let info = RequestInfo {
            client_name: "<b>Evil</b>",
            redirect_host: "x\"y",
            server_name: "<i>srv",
            provenance: Provenance::MetadataDocument("https://e.example/<x>"),
        };
        let choice = SignInChoice {
            upstream: Some("<idp>"),
            local: true,
        };
        let page = login(
            &info,
            &["a<b".into()],
            "r\"",
            "c<",
            Some("<e>"),
            "u\"",
            &choice,
        );
        assert!(!page.contains("<idp>") && !page.contains("<i>srv"));
        assert!(page.contains("id=\"upstream\"") && page.contains("id=\"login\""));
        assert!(!page.contains("<b>Evil"));
        assert!(page.contains("&lt;b&gt;Evil"));
        assert!(!page.contains("a<b"));
        assert!(!page.contains("value=\"r\"\""));
        let choices = [ScopeChoice {
            scope: "s\"><script>".into(),
            checked: true,
            write: false,
            tools: vec!["<t>".into()],
        }];
        let person = Person {
            username: "<u>",
            email: Some("<m>"),
        };
        let page = consent(&info, &person, &choices, &["w<".into()], "t", "c");
        assert!(!page.contains("<script>"));
        assert!(!page.contains("<u>") && !page.contains("<m>") && !page.contains("<t>"));
        assert!(!page.contains("<x>"));
        assert!(page.contains("Unverified") && page.contains("id=\"switch\""));
        // The consent form is the page's first form (clients parse it so).
        let first = page.find("<form").unwrap();
        assert!(page[first..].starts_with("<form method=\"post\" action=\"/authorize\"><input type=\"hidden\" name=\"step\" value=\"consent\">"));
        assert!(page.contains("id=\"allow\"") && page.contains("id=\"deny\""));
    }

    #[test]
    fn headers() {
        let res = html(
            StatusCode::OK,
            String::new(),
            Some("https://a.example"),
            None,
        );
        let csp = res.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("form-action 'self' https://a.example"));
        assert_eq!(res.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    }
}
