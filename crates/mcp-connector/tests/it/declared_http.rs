//! HTTP tools (`kind = "http"`) against a local API started by each test:
//! path parameters stay one segment, query and JSON body, headers from the
//! environment, the host allowlist (after resolution, metadata addresses
//! never), same-host redirects only, size cap, timeout, error statuses, an
//! API that is down, and the caller's token never forwarded.
//!
//! The header secret comes from `${HOME}` (plus a literal suffix): the
//! crate forbids `unsafe`, so a test cannot `set_var` its own variable, and
//! HOME is set wherever tests run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mcp_connector::config::{AuthMode, Config, Overrides};
use serde_json::{Value, json};

use crate::common::{Backend, Opts, TestServer, first_text};
use crate::oauth_flow::{add_token_user, mint, test_client};
use crate::oauth_resource;

const SUFFIX: &str = "-sekret-8f3a17";

/// What the API received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query exactly as sent (percent-encoding intact).
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

#[derive(Clone, Default)]
struct Api {
    seen: Arc<Mutex<Vec<Seen>>>,
    port: u16,
}

impl Api {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

/// The "internal API": records every request, answers by path.
async fn handle(State(api): State<Api>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("?").to_owned()))
        .collect();
    api.seen.lock().expect("lock").push(Seen {
        method: parts.method.to_string(),
        target: target.clone(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let json = |v: Value| ([("content-type", "application/json")], v.to_string()).into_response();
    let redirect = |to: String| (StatusCode::FOUND, [("location", to)]).into_response();
    let path = parts.uri.path();
    match path {
        "/v1/big" => {
            // No Content-Length: the cap must hold while streaming.
            let chunks = (0..40).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 512]));
            Body::from_stream(futures::stream::iter(chunks)).into_response()
        }
        "/v1/slow" => {
            tokio::time::sleep(Duration::from_secs(8)).await;
            json(json!({"late": true}))
        }
        "/v1/fail" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "kaputt: the database is on fire",
        )
            .into_response(),
        "/v1/echo" => {
            // An error page that echoes the request's Authorization header.
            let auth = parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            (StatusCode::BAD_REQUEST, format!("bad request with {auth}")).into_response()
        }
        "/v1/token" => {
            // A 401 that quotes only the token, without `Bearer `.
            let auth = parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let token = auth.strip_prefix("Bearer ").unwrap_or(auth);
            let body = json!({"error": "invalid_token", "token": token});
            (StatusCode::UNAUTHORIZED, body.to_string()).into_response()
        }
        "/v1/text" => "plain words".into_response(),
        "/v1/headers" => {
            // A 2xx that echoes every request header (a debug endpoint).
            let all: serde_json::Map<String, Value> = parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        Value::from(v.to_str().unwrap_or("?")),
                    )
                })
                .collect();
            json(json!({"headers": all, "echo": format!("{:?}", parts.headers)}))
        }
        "/v1/headers-text" => {
            let auth = parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            format!("you sent {auth}").into_response()
        }
        "/v1/same" => redirect("/v1/items/landed".into()),
        "/v1/other" => redirect(format!("http://localhost:{}/v1/items/x", api.port)),
        "/v1/loop" => redirect("/v1/loop".into()),
        _ => json(json!({
            "method": parts.method.as_str(),
            "target": target,
            "body": serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
        })),
    }
}

async fn start_api() -> Api {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let api = Api {
        port,
        ..Api::default()
    };
    let app = Router::new().fallback(handle).with_state(api.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    api
}

fn secret() -> String {
    format!(
        "Bearer {}{SUFFIX}",
        std::env::var("HOME").expect("HOME is set")
    )
}

/// Sources and tools for an API at `base`, with `extra_source` lines in
/// `[sources.api]`.
fn toml(base: &str, extra_source: &str) -> String {
    format!(
        r#"
[sources.api]
url = "{base}"
timeout_secs = 2
max_response_bytes = 4096
{extra_source}
[sources.api.headers]
authorization = "Bearer ${{HOME}}{SUFFIX}"
x-team = "blue"

[[tools]]
name = "get_item"
source = "api"
description = "One item by id."
path = "/items/{{id}}"
[tools.parameters.id]
type = "string"
[tools.parameters.verbose]
type = "boolean"
required = false
[tools.parameters.limit]
type = "integer"
default = 5

[[tools]]
name = "search"
source = "api"
description = "Search items (a POST that reads)."
method = "POST"
read_only = true
path = "/items/search"
[tools.parameters.name]
type = "string"
[tools.parameters.count]
type = "integer"
[tools.parameters.exact]
type = "boolean"
default = true
[tools.parameters.note]
type = "string"
required = false

[[tools]]
name = "fetch"
source = "api"
description = "A fixed endpoint of the test API."
path = "/{{what}}"
[tools.parameters.what]
type = "string"
"#
    )
}

async fn serve(api: &Api) -> TestServer {
    let text = toml(&format!("http://127.0.0.1:{}/v1", api.port), "");
    TestServer::try_spawn(Backend::Sqlite, Opts::declared(text))
        .await
        .expect("sqlite always runs")
}

/// A failed call's text; panics unless `isError`.
fn error_text(r: &Value) -> String {
    assert_eq!(r["isError"], true, "expected isError: {r}");
    first_text(r).to_owned()
}

fn header<'a>(s: &'a Seen, name: &str) -> Option<&'a str> {
    s.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_parameter_is_one_encoded_segment_and_query_is_sent() {
    let api = start_api().await;
    let srv = serve(&api).await;
    let r = srv
        .call("get_item", json!({"id": "a b?c#d%e", "verbose": true}))
        .await;
    assert_ne!(r["isError"], true, "{r}");
    let target = r["structuredContent"]["target"].as_str().expect("target");
    assert_eq!(
        target, "/v1/items/a%20b%3Fc%23d%25e?limit=5&verbose=true",
        "{r}"
    );
    // A `/` in a one-segment value is refused, not sent as `%2F` (an
    // upstream that decodes it would route `../../admin`); nothing is sent.
    for id in ["../../admin", "a/b"] {
        let r = srv.call("get_item", json!({"id": id})).await;
        assert!(error_text(&r).contains("may not contain `/`"), "{r}");
    }
    assert_eq!(api.seen()[0].method, "GET");
    assert_eq!(api.seen()[0].body, "");

    // `..` cannot climb out of /v1/items; nothing is sent.
    let r = srv.call("get_item", json!({"id": ".."})).await;
    assert!(error_text(&r).contains("may not be `.` or `..`"), "{r}");
    // An absent optional query parameter is left out.
    let r = srv.call("get_item", json!({"id": "7", "limit": 2})).await;
    assert_eq!(
        r["structuredContent"]["target"], "/v1/items/7?limit=2",
        "{r}"
    );
    assert_eq!(api.seen().len(), 2);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_sends_a_json_object_and_only_the_configured_headers() {
    let api = start_api().await;
    let srv = serve(&api).await;
    let r = srv
        .call("search", json!({"name": "Ada", "count": 3, "note": null}))
        .await;
    assert_ne!(r["isError"], true, "{r}");
    assert_eq!(
        r["structuredContent"]["body"],
        json!({"name": "Ada", "count": 3, "exact": true, "note": null}),
        "{r}"
    );
    let seen = &api.seen()[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.target, "/v1/items/search");
    assert_eq!(header(seen, "authorization"), Some(secret().as_str()));
    assert_eq!(header(seen, "x-team"), Some("blue"));
    assert_eq!(header(seen, "accept"), Some("application/json"));
    assert_eq!(header(seen, "content-type"), Some("application/json"));
    let ua = header(seen, "user-agent").expect("user agent");
    assert!(ua.starts_with("mcp-connector/"), "{ua}");
    let mut names: Vec<&str> = seen.headers.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "accept",
            "authorization",
            "content-length",
            "content-type",
            "host",
            "user-agent",
            "x-team"
        ],
        "nothing but the configured headers and the defaults"
    );
    // A non-JSON answer comes back as text.
    let r = srv.call("fetch", json!({"what": "text"})).await;
    assert_eq!(first_text(&r), "plain words", "{r}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_token_is_never_forwarded() {
    let api = start_api().await;
    let text = toml(&format!("http://127.0.0.1:{}/v1", api.port), "");
    let opts = Opts {
        auth: AuthMode::OAuth,
        ..Opts::declared(text)
    };
    let srv = TestServer::try_spawn(Backend::Sqlite, opts)
        .await
        .expect("sqlite always runs");
    let user = add_token_user(&srv, "viewer").await;
    let (client, _) = test_client(&srv, false).await;
    let (token, _) = mint(&srv, &client, Some(&user), "tools:read").await;
    assert!(token.starts_with("mcpat_"));
    let (status, reply) = oauth_resource::call(&srv, &token, "get_item", json!({"id": "1"})).await;
    assert_eq!(status, 200, "{reply}");
    assert_ne!(reply["result"]["isError"], true, "{reply}");
    let seen = api.seen();
    assert_eq!(seen.len(), 1);
    for (k, v) in &seen[0].headers {
        assert!(
            !v.contains("mcpat_") && !v.contains(&token),
            "{k} forwarded the token"
        );
    }
    assert_eq!(header(&seen[0], "authorization"), Some(secret().as_str()));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_stay_on_the_same_host() {
    let api = start_api().await;
    let srv = serve(&api).await;
    let r = srv.call("fetch", json!({"what": "same"})).await;
    assert_eq!(r["structuredContent"]["target"], "/v1/items/landed", "{r}");

    // localhost is the same machine but another host name, and not listed.
    let r = srv.call("fetch", json!({"what": "other"})).await;
    let text = error_text(&r);
    assert!(text.contains("redirect to another host"), "{text}");
    let r = srv.call("fetch", json!({"what": "loop"})).await;
    assert!(error_text(&r).contains("more than 3 redirects"), "{r}");
    let landed_elsewhere = api
        .seen()
        .iter()
        .filter(|s| s.target == "/v1/items/x")
        .count();
    assert_eq!(landed_elsewhere, 0, "the other host was never asked");
    srv.stop().await;

    // Even a listed host is refused as a redirect target: redirects are the
    // API's choice, not the operator's.
    let text = toml(
        &format!("http://127.0.0.1:{}/v1", api.port),
        r#"allow_hosts = ["127.0.0.1", "localhost"]"#,
    );
    let srv = TestServer::try_spawn(Backend::Sqlite, Opts::declared(text))
        .await
        .expect("sqlite");
    let r = srv.call("fetch", json!({"what": "other"})).await;
    assert!(error_text(&r).contains("redirect to another host"), "{r}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_cap_timeout_and_error_status() {
    let api = start_api().await;
    let srv = serve(&api).await;
    let r = srv.call("fetch", json!({"what": "big"})).await;
    assert!(error_text(&r).contains("larger than 4096 bytes"), "{r}");

    let started = Instant::now();
    let r = srv.call("fetch", json!({"what": "slow"})).await;
    assert!(error_text(&r).contains("did not answer within 2 s"), "{r}");
    assert!(started.elapsed() < Duration::from_secs(6), "timeout held");

    let r = srv.call("fetch", json!({"what": "fail"})).await;
    let text = error_text(&r);
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(text.contains("the database is on fire"), "{text}");

    // An error page echoing our Authorization header does not leak it.
    let r = srv.call("fetch", json!({"what": "echo"})).await;
    let text = error_text(&r);
    assert!(text.contains("HTTP 400"), "{text}");
    assert!(!text.contains(SUFFIX), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoed_token_without_bearer_is_redacted() {
    let api = start_api().await;
    let srv = serve(&api).await;
    let r = srv.call("fetch", json!({"what": "token"})).await;
    let text = error_text(&r);
    let token = secret().strip_prefix("Bearer ").expect("bearer").to_owned();
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(text.contains("invalid_token"), "{text}");
    assert!(!text.contains(&token), "{text}");
    assert!(!text.contains(SUFFIX), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successful_answer_echoing_the_headers_is_redacted() {
    let api = start_api().await;
    let srv = serve(&api).await;
    let token = secret().strip_prefix("Bearer ").expect("bearer").to_owned();
    for what in ["headers", "headers-text"] {
        let r = srv.call("fetch", json!({"what": what})).await;
        assert_ne!(r["isError"], true, "{r}");
        let all = r.to_string();
        assert!(!all.contains(&token), "{what}: {all}");
        assert!(!all.contains(SUFFIX), "{what}: {all}");
        assert!(all.contains("[redacted]"), "{what}: {all}");
    }
    // Every configured header value is a secret, short ones included;
    // headers the connector adds itself are not.
    let r = srv.call("fetch", json!({"what": "headers"})).await;
    assert_eq!(
        r["structuredContent"]["headers"]["x-team"], "[redacted]",
        "{r}"
    );
    assert!(
        r["structuredContent"]["headers"]["user-agent"].is_string(),
        "{r}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_tool_annotations_follow_the_method_and_config() {
    let api = start_api().await;
    let text = format!(
        "{}{}",
        toml(&format!("http://127.0.0.1:{}/v1", api.port), ""),
        r#"
[[tools]]
name = "create_item"
source = "api"
description = "Create an item."
method = "POST"
path = "/items"
read_only = false
destructive = true
[tools.parameters.name]
type = "string"
"#
    );
    let srv = TestServer::try_spawn(Backend::Sqlite, Opts::declared(text))
        .await
        .expect("sqlite always runs");
    let reply = srv.rpc("tools/list", json!({})).await;
    let tools = reply["result"]["tools"].as_array().expect("tools").clone();
    let ann = |n: &str| {
        tools
            .iter()
            .find(|t| t["name"] == n)
            .unwrap_or_else(|| panic!("no {n}: {reply}"))["annotations"]
            .clone()
    };
    // A GET without `read_only` is read-only.
    assert_eq!(ann("get_item")["readOnlyHint"], true);
    assert_eq!(ann("get_item")["destructiveHint"], false);
    // A POST that says it reads.
    assert_eq!(ann("search")["readOnlyHint"], true);
    // A POST that says it writes.
    assert_eq!(ann("create_item")["readOnlyHint"], false);
    assert_eq!(ann("create_item")["destructiveHint"], true);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_address_is_refused_even_when_listed() {
    // Refused at the address check: no connection is attempted, so the
    // refusal comes at once even though the source allows 10 s.
    for base in [
        "http://169.254.169.254/latest",
        "http://[fe80::a9fe:a9fe]/latest",
        "http://[::ffff:169.254.169.254]/latest",
        "http://0.0.0.0:1/latest",
    ] {
        let text = toml(base, "").replace("timeout_secs = 2", "timeout_secs = 10");
        let srv = TestServer::try_spawn(Backend::Sqlite, Opts::declared(text))
            .await
            .expect("sqlite");
        let started = Instant::now();
        let r = srv.call("get_item", json!({"id": "meta-data"})).await;
        let text = error_text(&r);
        assert!(text.starts_with("refused:"), "{base}: {text}");
        assert!(text.contains("link-local"), "{base}: {text}");
        assert!(started.elapsed() < Duration::from_secs(2), "{base}");
        srv.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_down_is_an_error_without_the_secret() {
    // A port that was free a moment ago: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let text = toml(&format!("http://127.0.0.1:{port}/v1"), "");
    let srv = TestServer::try_spawn(Backend::Sqlite, Opts::declared(text))
        .await
        .expect("sqlite");
    let r = srv.call("get_item", json!({"id": "1"})).await;
    let text = error_text(&r);
    assert!(text.contains("source `api` is unavailable"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains(SUFFIX) && !text.contains("Bearer"), "{text}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlisted_host_name_is_refused_at_resolution() {
    // The base URL's host must be listed; a tool cannot reach anything else,
    // and the resolver refuses names that are not listed.
    let api = start_api().await;
    let text = toml(
        &format!("http://localhost:{}/v1", api.port),
        r#"allow_hosts = ["localhost"]"#,
    );
    let srv = TestServer::try_spawn(Backend::Sqlite, Opts::declared(text))
        .await
        .expect("sqlite");
    // localhost resolves to loopback: allowed, because the operator listed it.
    let r = srv.call("get_item", json!({"id": "1"})).await;
    assert_eq!(
        r["structuredContent"]["target"], "/v1/items/1?limit=5",
        "{r}"
    );
    srv.stop().await;
}

fn load(text: &str) -> Result<Config, String> {
    let file = Config::parse_file(text)?;
    Config::from_parts(file, &Overrides::default()).map_err(|e| e.to_string())
}

#[test]
fn http_tool_config_errors_name_the_tool_and_key() {
    let base = toml("http://127.0.0.1:9/v1", "");
    assert!(load(&base).is_ok(), "{:?}", load(&base).err());

    let bad = base.replace("path = \"/items/{id}\"", "path = \"/items/{nope}\"");
    let msg = load(&bad).expect_err("unknown param in path");
    assert!(msg.contains("(get_item).path"), "{msg}");
    assert!(
        msg.contains("`{nope}` has no [tools.parameters.nope]"),
        "{msg}"
    );

    let bad = base.replace(
        "path = \"/items/{id}\"",
        "path = \"/items/{id}\"\nquery = [\"verbose\"]",
    );
    let msg = load(&bad).expect_err("limit is not sent");
    assert!(msg.contains("(get_item).parameters"), "{msg}");
    assert!(msg.contains("`limit` is not sent"), "{msg}");

    let bad = base.replace("method = \"POST\"", "method = \"TRACE\"");
    let msg = load(&bad).expect_err("method");
    assert!(msg.contains("(search).method"), "{msg}");

    let bad = base.replace("url = \"http", "allow_hosts = [\"other\"]\nurl = \"http");
    let msg = load(&bad).expect_err("own host not listed");
    assert!(msg.contains("sources.api.allow_hosts"), "{msg}");

    let bad = base.replace("${HOME}", "${MCPC_SURELY_UNSET_VAR}");
    let msg = load(&bad).expect_err("unset variable");
    assert!(msg.contains("MCPC_SURELY_UNSET_VAR is not set"), "{msg}");

    let bad = base.replace("path = \"/items/{id}\"", "path = \"/items/{id}?x=1\"");
    let msg = load(&bad).expect_err("query in path");
    assert!(msg.contains("no query or fragment in a path"), "{msg}");

    // Only a GET is read-only by default: any other method must say, or it
    // would be served as a read (read scope, `--read-only`, no confirmation).
    let delete = r#"
[[tools]]
name = "remove_item"
source = "api"
description = "Delete an item."
method = "DELETE"
path = "/items/{id}"
[tools.parameters.id]
type = "string"
"#;
    let msg = load(&format!("{base}{delete}")).expect_err("DELETE without read_only");
    assert!(msg.contains("(remove_item).read_only"), "{msg}");
    assert!(msg.contains("required for method DELETE"), "{msg}");
    let msg = load(&base.replace("read_only = true\n", "")).expect_err("POST without read_only");
    assert!(msg.contains("(search).read_only"), "{msg}");
    assert!(msg.contains("required for method POST"), "{msg}");
    // Saying it writes still needs `destructive`.
    let writes = delete.replace(
        "method = \"DELETE\"",
        "method = \"DELETE\"\nread_only = false",
    );
    let msg = load(&format!("{base}{writes}")).expect_err("no destructive");
    assert!(msg.contains("(remove_item).destructive"), "{msg}");
    let ok = writes.replace("read_only = false", "read_only = false\ndestructive = true");
    assert!(load(&format!("{base}{ok}")).is_ok(), "{ok}");
}
