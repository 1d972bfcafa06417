//! A cheap structural check of a POST body before rmcp parses it.
//!
//! rmcp answers an unparsable body with a plain-text 400 that quotes the
//! parser's message, and cannot echo the id of a request it could not decode.
//! Checking the envelope here gives every malformed message a JSON-RPC error
//! (`-32700` or `-32600`, id echoed whenever the body has a usable one), bounds
//! bodies without a `Content-Length`, and leaves the fully-parsed dispatch to
//! rmcp. Later layers (scope checks) read the method and tool name from here.

use std::borrow::Cow;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, Limited};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

/// What the envelope says, for routing decisions.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    pub id: Option<Value>,
    pub method: Option<String>,
}

#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(default)]
    id: Option<Value>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(default)]
    params: Option<IgnoredAny>,
    #[serde(default)]
    result: Option<IgnoredAny>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

/// A JSON-RPC error response with an HTTP status. The one place where
/// transport-level JSON-RPC errors get their wire shape.
#[derive(Debug, Clone)]
pub struct RpcError {
    pub status: StatusCode,
    pub code: i64,
    pub message: Cow<'static, str>,
    pub id: Option<Value>,
}

impl IntoResponse for RpcError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "jsonrpc": "2.0",
            "id": self.id.unwrap_or(Value::Null),
            "error": { "code": self.code, "message": self.message },
        });
        let mut res = (self.status, body.to_string()).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        res
    }
}

fn bad(code: i64, message: &'static str, id: Option<Value>) -> RpcError {
    RpcError {
        status: StatusCode::BAD_REQUEST,
        code,
        message: Cow::Borrowed(message),
        id,
    }
}

/// Read at most `limit` bytes of `body`.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, RpcError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(RpcError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: -32600,
                message: Cow::Borrowed("Payload Too Large"),
                id: None,
            })
        }
        Err(_) => Err(bad(
            -32700,
            "Parse error: the request body could not be read",
            None,
        )),
    }
}

/// Check that `bytes` is one JSON-RPC 2.0 message.
pub fn check(bytes: &[u8]) -> Result<Envelope, RpcError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        // Batches were removed in 2025-06-18; rmcp does not execute them.
        return Err(bad(
            -32600,
            "Invalid Request: batch requests are not supported",
            None,
        ));
    }
    let raw: Raw<'_> = serde_json::from_slice(bytes).map_err(|_| {
        bad(
            -32700,
            "Parse error: the body is not a JSON-RPC message",
            None,
        )
    })?;
    let id = raw.id.filter(|id| id.is_string() || id.is_number());
    if raw.jsonrpc.as_deref() != Some("2.0") {
        return Err(bad(
            -32600,
            "Invalid Request: \"jsonrpc\" must be \"2.0\"",
            id,
        ));
    }
    let _ = raw.params;
    if raw.method.is_none() && raw.result.is_none() && raw.error.is_none() {
        return Err(bad(
            -32600,
            "Invalid Request: no method, result or error",
            id,
        ));
    }
    Ok(Envelope {
        id,
        method: raw.method.map(Cow::into_owned),
    })
}

/// Give a non-JSON 4xx from rmcp (missing session id, unknown session, wrong
/// media type) the JSON-RPC error shape, keeping its status.
pub async fn normalise_error(res: Response, id: Option<Value>) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/event-stream"));
    if !status.is_client_error() || is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = match Limited::new(body, 1024).collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() || text.len() > 200 {
        status
            .canonical_reason()
            .unwrap_or("Bad Request")
            .to_owned()
    } else {
        text
    };
    let code = if status == StatusCode::NOT_FOUND {
        -32001
    } else {
        -32600
    };
    let mut out = RpcError {
        status,
        code,
        message: Cow::Owned(message),
        id,
    }
    .into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_checks() {
        assert!(check(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).is_ok());
        assert!(check(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).is_ok());
        assert!(check(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#).is_ok());
        let e = check(b"{not json").unwrap_err();
        assert_eq!((e.code, e.id), (-32700, None));
        let e = check(br#"{"jsonrpc":"1.0","id":"x","method":"ping"}"#).unwrap_err();
        assert_eq!((e.code, e.id), (-32600, Some(Value::from("x"))));
        let e = check(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#).unwrap_err();
        assert_eq!(e.code, -32600);
        // An object id is not echoed; rmcp judges the rest of such a message.
        assert!(check(br#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#).is_ok());
        let e = check(br#"{"jsonrpc":"2.0","id":3}"#).unwrap_err();
        assert_eq!((e.code, e.id), (-32600, Some(Value::from(3))));
    }
}
