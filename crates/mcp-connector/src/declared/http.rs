//! HTTP sources: one `reqwest::Client` per `[sources.NAME]` with an `http(s)`
//! URL, built once when the source opens.
//!
//! A call is fenced the whole way: the URL is the base URL plus the tool's
//! path with every parameter percent-encoded as part of a single segment
//! (a value can add neither `/` nor `?` nor a `.`/`..` segment); only hosts
//! in `allow_hosts` are reachable, checked after DNS resolution by
//! `guard::ListedResolver`; redirects are followed (at most
//! [`MAX_REDIRECTS`]) only within the same scheme, host and port; the
//! whole exchange has the source's timeout and the body is read up to
//! `max_response_bytes`. The only headers sent are the configured ones,
//! `User-Agent` and `Accept`: the caller's access token is never seen here,
//! so it cannot be forwarded. Header values are secrets: they are never
//! logged and are blanked out of any error text: each whole value and
//! each part of one that looks like a credential (the token after
//! `Bearer `), as written and JSON- or percent-encoded, since an API may
//! echo just the token.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::redirect::{Attempt, Policy};
use url::Url;

use super::query::SourceError;
use super::spec::{Bound, HttpRequestSpec, HttpSourceSpec, PathPiece};

mod guard;

use guard::{AllowList, ListedResolver, Refused};

/// Redirects followed per call (all to the same origin).
pub const MAX_REDIRECTS: usize = 3;
/// Connecting may take at most this long (or the source's timeout if shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Characters of an error body quoted in [`SourceError::HttpStatus`].
const ERROR_BODY_CHARS: usize = 500;
/// Parts of a header value this long or longer are redacted on their own:
/// long enough to spare words like `Bearer`, short enough for any token.
const MIN_SECRET_PART: usize = 8;
/// A quote ending in this many characters of a secret (cut off by the
/// quote's limit) loses them.
const MIN_SECRET_TAIL: usize = 4;
/// What a secret is replaced with.
const REDACTED: &str = "[redacted]";

/// An HTTP API source.
pub struct HttpSource {
    name: String,
    base: Url,
    allow: Arc<AllowList>,
    timeout: Duration,
    max_response_bytes: usize,
    /// Configured header values, their secret parts and the encoded forms
    /// of both, longest first, to blank out of error texts.
    secrets: Vec<String>,
    client: reqwest::Client,
}

/// What an API answered (2xx only; other statuses are errors).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOutput {
    pub status: u16,
    /// The body as JSON when it is JSON, else as a string.
    pub body: serde_json::Value,
}

impl HttpSource {
    pub fn open(name: &str, spec: &HttpSourceSpec) -> Result<Self, SourceError> {
        let allow = Arc::new(AllowList::new(&spec.allow_hosts));
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let mut secrets = Vec::new();
        for (hn, value) in &spec.headers {
            let mut hv = HeaderValue::from_str(value.expose())
                .map_err(|_| unavailable(name, format!("header `{hn}` has an invalid value")))?;
            // Sensitive values are left out of reqwest's and hyper's Debug output.
            hv.set_sensitive(true);
            headers.insert(hn.clone(), hv);
            secrets.extend(secret_forms(value.expose()));
        }
        // Longest first: a whole value goes before the token inside it.
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("mcp-connector/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(ListedResolver(allow.clone())))
            // A proxy would resolve names itself, past the resolver's check.
            .no_proxy()
            .redirect(Policy::custom(same_origin_only))
            // No Referer: it would carry the previous URL's query to the next hop.
            .referer(false)
            .timeout(spec.timeout)
            .connect_timeout(spec.timeout.min(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| unavailable(name, format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            base: spec.base_url.clone(),
            allow,
            timeout: spec.timeout,
            max_response_bytes: spec.max_response_bytes,
            secrets,
            client,
        })
    }

    /// Call `req` with `values` (declared parameters and caller context).
    pub async fn call(
        &self,
        req: &HttpRequestSpec,
        values: &BTreeMap<String, Bound>,
    ) -> Result<HttpOutput, SourceError> {
        let mut url = build_url(&self.base, &req.path, values)?;
        for name in &req.query {
            match values.get(name) {
                None | Some(Bound::Null) => {}
                Some(v) => {
                    url.query_pairs_mut().append_pair(name, &v.to_string());
                }
            }
        }
        self.allow
            .check_url(&url)
            .map_err(|e| SourceError::Blocked(e.0))?;
        let mut request = self.client.request(req.method.clone(), url);
        let sends_body = matches!(
            req.method,
            http::Method::POST | http::Method::PUT | http::Method::PATCH
        );
        if sends_body || !req.body.is_empty() {
            let body: serde_json::Map<String, serde_json::Value> = req
                .body
                .iter()
                .map(|n| (n.clone(), to_json(values.get(n).unwrap_or(&Bound::Null))))
                .collect();
            request = request.json(&body);
        }
        // reqwest's own timeout covers the exchange; this one also bounds
        // reading the body chunk by chunk.
        match tokio::time::timeout(self.timeout, self.exchange(request)).await {
            Ok(r) => r,
            Err(_) => Err(self.timed_out()),
        }
    }

    async fn exchange(&self, request: reqwest::RequestBuilder) -> Result<HttpOutput, SourceError> {
        let mut res = request.send().await.map_err(|e| self.failed(&e))?;
        let status = res.status().as_u16();
        if !res.status().is_success() {
            // Enough bytes for the quoted characters; the rest is not read.
            let (bytes, _) = self
                .read_capped(
                    &mut res,
                    (ERROR_BODY_CHARS * 4).min(self.max_response_bytes),
                )
                .await?;
            let text = String::from_utf8_lossy(&bytes);
            return Err(SourceError::HttpStatus {
                status,
                body: self.quote(&text, ERROR_BODY_CHARS),
            });
        }
        let json = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
        if res
            .content_length()
            .is_some_and(|n| n > self.max_response_bytes as u64)
        {
            return Err(SourceError::TooLarge(self.max_response_bytes));
        }
        let (bytes, over) = self.read_capped(&mut res, self.max_response_bytes).await?;
        if over {
            return Err(SourceError::TooLarge(self.max_response_bytes));
        }
        let mut body = match json.then(|| serde_json::from_slice(&bytes)) {
            Some(Ok(v)) => v,
            _ => serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()),
        };
        // An API that echoes the request (a debug endpoint, `httpbin`-style
        // answers, an error body sent with 200) would hand the configured
        // token to the MCP client: successful answers are redacted too.
        self.redact_json(&mut body);
        Ok(HttpOutput { status, body })
    }

    /// At most `cap` bytes of the body, and whether there were more (the
    /// rest is never read: a huge or endless body costs `cap` bytes).
    async fn read_capped(
        &self,
        res: &mut reqwest::Response,
        cap: usize,
    ) -> Result<(Vec<u8>, bool), SourceError> {
        let mut out = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| self.failed(&e))? {
            let room = cap - out.len();
            if chunk.len() > room {
                out.extend_from_slice(&chunk[..room]);
                return Ok((out, true));
            }
            out.extend_from_slice(&chunk);
        }
        Ok((out, false))
    }

    /// Check that the base URL's host is allowed and resolves only to
    /// allowed addresses. No request is sent: an API need not answer `/`
    /// or `HEAD`, and a probe must not have side effects; whether the API
    /// is up shows on the first call.
    pub async fn ping(&self) -> Result<(), SourceError> {
        self.allow
            .check_url(&self.base)
            .map_err(|e| SourceError::Blocked(e.0))?;
        let Some(url::Host::Domain(host)) = self.base.host() else {
            return Ok(()); // an address, checked above
        };
        let port = self.base.port_or_known_default().unwrap_or(443);
        let lookup = tokio::net::lookup_host((host, port));
        let addrs: Vec<_> = match tokio::time::timeout(self.timeout, lookup).await {
            Ok(Ok(addrs)) => addrs.collect(),
            Ok(Err(e)) => {
                return Err(unavailable(
                    &self.name,
                    format!("cannot resolve `{host}`: {e}"),
                ));
            }
            Err(_) => return Err(self.timed_out()),
        };
        guard::check_addrs(host, &addrs).map_err(|e| SourceError::Blocked(e.0))
    }

    fn timed_out(&self) -> SourceError {
        SourceError::Timeout {
            source_name: self.name.clone(),
            secs: self.timeout.as_secs(),
        }
    }

    /// A reqwest error as a [`SourceError`] whose text names the host and
    /// the cause, never a header value.
    fn failed(&self, e: &reqwest::Error) -> SourceError {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        let mut innermost = String::new();
        while let Some(c) = cause {
            if let Some(r) = c.downcast_ref::<Refused>() {
                return SourceError::Blocked(r.0.clone());
            }
            innermost = c.to_string();
            cause = c.source();
        }
        if e.is_timeout() {
            return self.timed_out();
        }
        let host = e
            .url()
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
            .unwrap_or_else(|| "the API".to_owned());
        let reason = if e.is_connect() {
            format!("cannot connect to {host}: {innermost}")
        } else if e.is_body() || e.is_decode() {
            format!("reading the answer of {host} failed: {innermost}")
        } else {
            format!("the request to {host} failed: {innermost}")
        };
        unavailable(&self.name, self.redact(&reason))
    }

    /// `text` with every configured header value and secret part blanked
    /// out (an API may echo request headers, or just the token, in an
    /// error page).
    fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            out = out.replace(s.as_str(), REDACTED);
        }
        out
    }

    /// `value` with [`Self::redact`] applied to every string in it, object
    /// keys included.
    fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => {
                if self
                    .secrets
                    .iter()
                    .any(|secret| s.contains(secret.as_str()))
                {
                    *s = self.redact(s);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                let hit = map.keys().any(|k| {
                    self.secrets
                        .iter()
                        .any(|secret| k.contains(secret.as_str()))
                });
                if hit {
                    *map = std::mem::take(map)
                        .into_iter()
                        .map(|(k, v)| (self.redact(&k), v))
                        .collect();
                }
                map.values_mut().for_each(|v| self.redact_json(v));
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// At most `max_chars` characters of `text`, redacted. Redacting before
    /// cutting keeps a secret across the limit from surviving in part; a
    /// secret already cut off when the body was read (or by the limit)
    /// ends the quote as a prefix, which is dropped as well.
    fn quote(&self, text: &str, max_chars: usize) -> String {
        let redacted = self.redact(text.trim());
        let cut: String = redacted.chars().take(max_chars).collect();
        // A byte cap can split a character; lossy decoding leaves U+FFFD.
        let mut out = cut
            .trim_end_matches([' ', '\t', '\n', '\r', '\u{FFFD}'])
            .to_owned();
        let tail = self
            .secrets
            .iter()
            .map(String::as_str)
            // A cut-off marker is made whole again.
            .chain([REDACTED])
            .filter_map(|s| secret_tail(&out, s))
            .max()
            .unwrap_or(0);
        if tail > 0 {
            out.truncate(out.len() - tail);
            out.push_str(REDACTED);
        }
        out.trim().to_owned()
    }
}

/// The strings to blank out for one header value: the value, each
/// whitespace-, `,`- or `;`-separated part of at least [`MIN_SECRET_PART`]
/// characters (and the value after `=` in a `key=value` part), each also
/// JSON-escaped and percent-encoded where that differs. An `${ENV}` value
/// that fills a part of its own, as in `Bearer ${TOKEN}`, is such a part.
fn secret_forms(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    if !value.is_empty() {
        parts.push(value.to_owned());
    }
    for piece in value.split(|c: char| c.is_whitespace() || c == ',' || c == ';') {
        let piece = piece.trim_matches(['"', '\'']);
        parts.push(piece.to_owned());
        // `abc==` base64 padding is not a `key=value`.
        if let Some((_, v)) = piece.trim_end_matches('=').split_once('=') {
            parts.push(v.to_owned());
        }
    }
    parts.retain(|p| p == value || p.chars().count() >= MIN_SECRET_PART);
    let mut out = Vec::new();
    for p in parts {
        let json = serde_json::to_string(&p).unwrap_or_default();
        let json = json.trim_matches('"').to_owned();
        // Some JSON writers escape `/` too.
        let json_slash = json.replace('/', "\\/");
        let mut pct = String::new();
        encode_segment(&p, &mut pct);
        // `%2f` is the other spelling of `%2F`; a value's own `%` is `%25`.
        let pct_lower: String = pct
            .split('%')
            .enumerate()
            .map(|(i, s)| match (i, s.get(..2), s.get(2..)) {
                (1.., Some(hex), Some(rest)) => format!("%{}{rest}", hex.to_ascii_lowercase()),
                _ => s.to_owned(),
            })
            .collect();
        let form: String = url::form_urlencoded::byte_serialize(p.as_bytes()).collect();
        out.extend([json, json_slash, pct, pct_lower, form]);
        out.push(p);
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Bytes at the end of `text` that are the start of `secret` (at least
/// [`MIN_SECRET_TAIL`] characters, short of the whole), if any.
fn secret_tail(text: &str, secret: &str) -> Option<usize> {
    (1..secret.len())
        .rev()
        .filter(|&k| secret.is_char_boundary(k))
        .take_while(|&k| secret[..k].chars().count() >= MIN_SECRET_TAIL)
        .find(|&k| text.ends_with(&secret[..k]))
}

fn unavailable(name: &str, reason: String) -> SourceError {
    SourceError::Unavailable {
        source_name: name.to_owned(),
        reason,
    }
}

/// The redirect policy: same scheme, host and port as the first URL, at
/// most [`MAX_REDIRECTS`] times. Another host is refused even if it is in
/// `allow_hosts`: a redirect is the API's choice, not the operator's.
fn same_origin_only(attempt: Attempt<'_>) -> reqwest::redirect::Action {
    let first = attempt.previous().first();
    let next = attempt.url();
    if attempt.previous().len() > MAX_REDIRECTS {
        let msg = format!("more than {MAX_REDIRECTS} redirects");
        return attempt.error(Refused(msg));
    }
    match first {
        Some(f) if f.origin() == next.origin() => attempt.follow(),
        _ => {
            let to = match (next.host_str(), next.port_or_known_default()) {
                (Some(h), Some(p)) => format!("{}://{h}:{p}", next.scheme()),
                _ => next.scheme().to_owned(),
            };
            let msg =
                format!("redirect to another host ({to}); only same-host redirects are followed");
            attempt.error(Refused(msg))
        }
    }
}

/// `base` plus the path template with `values` filled in.
fn build_url(
    base: &Url,
    path: &[PathPiece],
    values: &BTreeMap<String, Bound>,
) -> Result<Url, SourceError> {
    let mut tail = String::new();
    for piece in path {
        match piece {
            PathPiece::Text(t) => tail.push_str(t),
            PathPiece::Param(name) | PathPiece::Segments(name) => {
                let value = values.get(name).map(Bound::to_string).unwrap_or_default();
                if value.is_empty() {
                    return Err(SourceError::Blocked(format!(
                        "path parameter `{name}` is empty"
                    )));
                }
                if matches!(piece, PathPiece::Segments(_)) {
                    for (i, segment) in value.split('/').enumerate() {
                        if segment.is_empty() {
                            return Err(SourceError::Blocked(format!(
                                "path parameter `{name}` has an empty segment"
                            )));
                        }
                        if i > 0 {
                            tail.push('/');
                        }
                        encode_segment(segment, &mut tail);
                    }
                } else if value.contains('/') {
                    // Encoded as `%2F` it stays one segment only for an
                    // upstream that does not decode it before routing;
                    // many do, and `../admin` would then climb out.
                    return Err(SourceError::Blocked(format!(
                        "path parameter `{name}` may not contain `/` (the tool's path takes one segment there)"
                    )));
                } else {
                    encode_segment(&value, &mut tail);
                }
            }
        }
    }
    // `.` and `..` would climb out of the base path, however they were
    // formed; `url` reads `%2e` as a dot too.
    if tail
        .split('/')
        .map(|s| s.to_ascii_lowercase().replace("%2e", "."))
        .any(|s| s == "." || s == "..")
    {
        return Err(SourceError::Blocked(
            "a path parameter may not be `.` or `..`".to_owned(),
        ));
    }
    let mut full = base.path().trim_end_matches('/').to_owned();
    if !tail.is_empty() && !tail.starts_with('/') {
        full.push('/');
    }
    full.push_str(&tail);
    if full.is_empty() {
        full.push('/');
    }
    let mut url = base.clone();
    // Never `Url::join`: a path starting `//host` would change the host.
    url.set_path(&full);
    Ok(url)
}

/// Percent-encode everything but RFC 3986 unreserved characters, so that
/// the value stays inside one path segment.
fn encode_segment(value: &str, out: &mut String) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// A bound value as JSON (a non-finite float, which JSON lacks, as null).
fn to_json(v: &Bound) -> serde_json::Value {
    match v {
        Bound::Null => serde_json::Value::Null,
        Bound::Bool(b) => (*b).into(),
        Bound::Int(i) => (*i).into(),
        Bound::Float(x) => {
            serde_json::Number::from_f64(*x).map_or(serde_json::Value::Null, Into::into)
        }
        Bound::Text(s) => s.clone().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pairs: &[(&str, Bound)]) -> BTreeMap<String, Bound> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn path(pieces: &[&str]) -> Vec<PathPiece> {
        pieces
            .iter()
            .map(
                |p| match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(n) => match n.strip_prefix('+') {
                        Some(n) => PathPiece::Segments(n.to_owned()),
                        None => PathPiece::Param(n.to_owned()),
                    },
                    None => PathPiece::Text((*p).to_owned()),
                },
            )
            .collect()
    }

    #[test]
    fn parameters_stay_in_one_segment() {
        let base = Url::parse("http://api.internal/v1/").expect("url");
        let p = path(&["/items/", "{id}", "/notes"]);
        let u =
            build_url(&base, &p, &vals(&[("id", Bound::Text("a b?c#d%e".into()))])).expect("url");
        assert_eq!(
            u.as_str(),
            "http://api.internal/v1/items/a%20b%3Fc%23d%25e/notes"
        );
        // A `/` in a one-segment value is refused, encoded or not.
        for bad in ["a/b", "../../admin", "/"] {
            let r = build_url(&base, &p, &vals(&[("id", Bound::Text(bad.into()))]));
            assert!(matches!(r, Err(SourceError::Blocked(_))), "{bad}");
        }
        // `{+id}` takes a path: each segment encoded, `..` still refused.
        let multi = path(&["/files/", "{+id}"]);
        let u =
            build_url(&base, &multi, &vals(&[("id", Bound::Text("a b/c".into()))])).expect("url");
        assert_eq!(u.path(), "/v1/files/a%20b/c");
        for bad in ["../../admin", "a/../../b", "a//b", "/a", "a/."] {
            let r = build_url(&base, &multi, &vals(&[("id", Bound::Text(bad.into()))]));
            assert!(matches!(r, Err(SourceError::Blocked(_))), "{bad}");
        }
        assert_eq!(u.host_str(), Some("api.internal"));
        let u = build_url(&base, &p, &vals(&[("id", Bound::Int(-7))])).expect("url");
        assert_eq!(u.path(), "/v1/items/-7/notes");
        for bad in ["..", ".", ""] {
            let r = build_url(&base, &p, &vals(&[("id", Bound::Text(bad.into()))]));
            assert!(matches!(r, Err(SourceError::Blocked(_))), "{bad}");
        }
        // Two values that together spell `..` are refused as well.
        let two = path(&["/", "{a}", "{b}"]);
        let v = vals(&[
            ("a", Bound::Text(".".into())),
            ("b", Bound::Text(".".into())),
        ]);
        assert!(build_url(&base, &two, &v).is_err());
        // `%2e` in a value is encoded (`%252e`), not a dot.
        let u = build_url(&base, &p, &vals(&[("id", Bound::Text("%2e%2e".into()))])).expect("url");
        assert_eq!(u.path(), "/v1/items/%252e%252e/notes");
        // A path starting `//` cannot change the host.
        let u = build_url(&base, &path(&["//evil.example/x"]), &vals(&[])).expect("url");
        assert_eq!(u.host_str(), Some("api.internal"));
        let root = Url::parse("http://api.internal").expect("url");
        assert_eq!(build_url(&root, &[], &vals(&[])).expect("url").path(), "/");
    }

    fn source(base: &str, allow: &[&str]) -> HttpSource {
        let spec = HttpSourceSpec {
            base_url: Url::parse(base).expect("url"),
            allow_hosts: allow.iter().map(|h| (*h).to_owned()).collect(),
            headers: vec![(
                http::HeaderName::from_static("x-key"),
                mcp_connector_security::SecretString::new("k3y-value"),
            )],
            timeout: Duration::from_secs(2),
            max_response_bytes: 100,
        };
        HttpSource::open("api", &spec).expect("opens")
    }

    #[tokio::test]
    async fn ping_checks_the_resolved_addresses_without_a_request() {
        // Nothing listens on port 9: ping sends no request.
        assert!(
            source("http://127.0.0.1:9/", &["127.0.0.1"])
                .ping()
                .await
                .is_ok()
        );
        assert!(
            source("http://localhost:9/", &["localhost"])
                .ping()
                .await
                .is_ok()
        );
        let metadata = source("http://169.254.169.254/", &["169.254.169.254"]);
        assert!(matches!(
            metadata.ping().await,
            Err(SourceError::Blocked(_))
        ));
        let s = source("http://127.0.0.1:9/", &["127.0.0.1"]);
        assert_eq!(s.redact("echo k3y-value"), "echo [redacted]");
    }

    #[test]
    fn secret_parts_and_their_encodings_are_redacted() {
        let forms = secret_forms("Bearer tok/en+1234");
        for f in [
            "tok/en+1234",
            "tok\\/en+1234",
            "tok%2Fen%2B1234",
            "tok%2fen%2b1234",
        ] {
            assert!(forms.iter().any(|s| s == f), "{f}: {forms:?}");
        }
        // Short words are not parts of their own; a key=value part's value is.
        assert!(!forms.iter().any(|s| s == "Bearer"), "{forms:?}");
        assert!(secret_forms("t=abcdefgh12; r=x").contains(&"abcdefgh12".to_owned()));

        let mut s = source("http://127.0.0.1:9/", &["127.0.0.1"]);
        s.secrets = secret_forms("Bearer s3cr3t-t0ken");
        s.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let text = "no s3cr3t-t0ken (Bearer s3cr3t-t0ken)";
        assert_eq!(s.redact(text), "no [redacted] ([redacted])");
        // Cut by the quote's limit, or when the body was read: no prefix stays.
        assert_eq!(s.quote("0123 s3cr3t-t0ken", 10), "0123 [redacted]");
        assert_eq!(s.quote("no s3cr3t\u{FFFD}", 99), "no [redacted]");
        assert_eq!(s.quote("no s3c", 99), "no s3c");
    }

    #[test]
    fn bound_values_as_json() {
        assert_eq!(to_json(&Bound::Null), serde_json::Value::Null);
        assert_eq!(to_json(&Bound::Int(3)), serde_json::json!(3));
        assert_eq!(to_json(&Bound::Float(1.5)), serde_json::json!(1.5));
        assert_eq!(to_json(&Bound::Float(f64::NAN)), serde_json::Value::Null);
        assert_eq!(to_json(&Bound::Bool(true)), serde_json::json!(true));
        assert_eq!(to_json(&Bound::Text("x".into())), serde_json::json!("x"));
    }
}
