//! Content negotiation of a POST to `/mcp`: never answer with a media type
//! the client did not accept.
//!
//! rmcp itself answers 406 unless a POST lists both `application/json` and
//! `text/event-stream`, and once it has chosen JSON it still switches to an
//! event stream when the call sends a notification first (progress, a log
//! line). Real clients vary: Anthropic's relay has been seen sending only
//! `text/event-stream`, others `*/*` or only `application/json`. So the
//! transport classifies `Accept` here, routes to the rmcp service whose
//! format the client takes, and for a client that takes only JSON folds an
//! event stream into its final message ([`fold_into_json`]): the
//! notifications are dropped (that client cannot receive them), the answer is
//! kept whole.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use futures::StreamExt as _;
use serde_json::Value;

use super::envelope::RpcError;

/// The largest answer folded from an event stream into one JSON body.
pub const MAX_FOLDED_BYTES: usize = 32 * 1024 * 1024;

/// What a POST's `Accept` header allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepts {
    /// Both, by listing them, by a wildcard, or by sending no `Accept`.
    Both,
    JsonOnly,
    SseOnly,
    /// Neither: `406`.
    Neither,
}

/// Classify an `Accept` header (RFC 9110 §12.5.1; a range with `q=0` is a
/// refusal, other weights only order, which does not matter here).
pub fn classify(value: Option<&HeaderValue>) -> Accepts {
    let Some(text) = value.and_then(|v| v.to_str().ok()) else {
        return Accepts::Both;
    };
    if text.trim().is_empty() {
        return Accepts::Both;
    }
    let (mut json, mut sse) = (false, false);
    for range in text.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.len() > 2
                && p[..2].eq_ignore_ascii_case("q=")
                && p[2..].trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
        });
        if refused {
            continue;
        }
        match media.as_str() {
            "*/*" => (json, sse) = (true, true),
            "application/json" | "application/*" => json = true,
            "text/event-stream" | "text/*" => sse = true,
            _ => {}
        }
    }
    match (json, sse) {
        (true, true) => Accepts::Both,
        (true, false) => Accepts::JsonOnly,
        (false, true) => Accepts::SseOnly,
        (false, false) => Accepts::Neither,
    }
}

/// `406` for a client that accepts neither JSON nor an event stream.
pub fn not_acceptable(id: Option<Value>) -> Response {
    RpcError {
        status: StatusCode::NOT_ACCEPTABLE,
        code: -32600,
        message: "Not Acceptable: accept application/json or text/event-stream".into(),
        id,
    }
    .into_response()
}

/// For a client that accepts only JSON: an event-stream answer becomes the
/// one JSON message that answers request `id`. Anything else passes.
pub async fn fold_into_json(res: Response, id: Option<&Value>) -> Response {
    let is_sse = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let Some(id) = id.filter(|_| is_sse && res.status() == StatusCode::OK) else {
        return res;
    };
    let (parts, body) = res.into_parts();
    match answer_in(body, id).await {
        Ok(message) => {
            let mut res = Response::new(Body::from(message));
            *res.status_mut() = StatusCode::OK;
            for name in [
                header::CACHE_CONTROL,
                HeaderName::from_static("mcp-session-id"),
            ] {
                if let Some(v) = parts.headers.get(&name) {
                    res.headers_mut().insert(name, v.clone());
                }
            }
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res
        }
        Err(why) => {
            tracing::warn!(why, "an event stream could not be answered as JSON");
            RpcError {
                status: StatusCode::OK,
                code: -32603,
                message: format!("Internal error: {why}").into(),
                id: Some(id.clone()),
            }
            .into_response()
        }
    }
}

/// Read the stream up to the message answering `id`.
async fn answer_in(body: Body, id: &Value) -> Result<String, &'static str> {
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut read = 0usize;
    loop {
        while let Some(end) = event_end(&buf) {
            let event: Vec<u8> = buf.drain(..end.1).collect();
            if let Some(message) = answer_of(&event[..end.0], id) {
                return Ok(message);
            }
        }
        let Some(chunk) = stream.next().await else {
            return Err("the answer ended before the result");
        };
        let chunk = chunk.map_err(|_| "the answer broke off")?;
        read += chunk.len();
        if read > MAX_FOLDED_BYTES {
            return Err("the answer is too large for one JSON body");
        }
        buf.extend_from_slice(&chunk);
    }
}

/// `(end of the event, end of its terminator)` of the first complete event.
fn event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The event's data, if it is the response (or error) to `id`.
fn answer_of(event: &[u8], id: &Value) -> Option<String> {
    let text = std::str::from_utf8(event).ok()?;
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    if data.is_empty() {
        return None;
    }
    let data = data.join("\n");
    let message: Value = serde_json::from_str(&data).ok()?;
    let answers = message.get("id") == Some(id)
        && message.get("method").is_none()
        && (message.get("result").is_some() || message.get("error").is_some());
    answers.then_some(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""))
    }

    #[test]
    fn accept_classification() {
        assert_eq!(classify(None), Accepts::Both);
        assert_eq!(classify(Some(&v(""))), Accepts::Both);
        assert_eq!(classify(Some(&v("*/*"))), Accepts::Both);
        assert_eq!(
            classify(Some(&v("application/json, text/event-stream"))),
            Accepts::Both
        );
        assert_eq!(classify(Some(&v("application/json"))), Accepts::JsonOnly);
        assert_eq!(classify(Some(&v("Application/*"))), Accepts::JsonOnly);
        assert_eq!(classify(Some(&v("text/event-stream"))), Accepts::SseOnly);
        assert_eq!(
            classify(Some(&v("text/event-stream;q=1, application/json;q=0.5"))),
            Accepts::Both
        );
        assert_eq!(
            classify(Some(&v("text/event-stream, application/json;q=0"))),
            Accepts::SseOnly
        );
        assert_eq!(
            classify(Some(&v("*/*;q=0, application/json"))),
            Accepts::JsonOnly
        );
        assert_eq!(classify(Some(&v("text/html"))), Accepts::Neither);
        assert_eq!(
            classify(Some(&v("image/png, text/plain"))),
            Accepts::Neither
        );
    }

    #[tokio::test]
    async fn an_event_stream_folds_into_its_answer() {
        let id = serde_json::json!(7);
        let sse = "id: 0\ndata:\n\n: keep-alive\n\n\
            event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n\
            data: {\"jsonrpc\":\"2.0\",\"id\":8,\"result\":{}}\r\n\r\n\
            event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"ok\":true}}\r\n\r\n";
        let res = Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::from(sse))
            .unwrap_or_default();
        let res = fold_into_json(res, Some(&id)).await;
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        let m: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(m["id"], 7);
        assert_eq!(m["result"]["ok"], true);

        let cut = Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::from(
                "data: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n\n",
            ))
            .unwrap_or_default();
        let res = fold_into_json(cut, Some(&id)).await;
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        let m: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(m["error"]["code"], -32603, "{m}");
        assert_eq!(m["id"], 7);
    }
}
