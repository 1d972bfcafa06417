//! The wire form of refusals at the transport level: the one place where a
//! JSON-RPC error body is written.
//!
//! MCP clients parse error bodies as JSON-RPC, so every refusal of `/mcp`
//! before the protocol handler (edge checks, the envelope check, scopes,
//! load) carries a JSON-RPC error with a short, fixed message: never request
//! data or internal detail. The id is echoed when the request had a usable
//! one, `null` otherwise (the transport spec allows an id-less error).
//!
//! Errors inside the protocol are rmcp's `ErrorData`, shaped by the MCP
//! handler; OAuth errors (RFC 6749 JSON and `WWW-Authenticate`) are shaped
//! in `auth::error`. This module sits below both, so any layer can answer in
//! these shapes.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// JSON-RPC 2.0 error codes used by the transport.
pub mod code {
    /// The body is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a valid request (also every edge and load refusal).
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method's parameters are wrong.
    pub const INVALID_PARAMS: i64 = -32602;
}

/// The body of a JSON-RPC error response.
pub fn error_body(code: i64, message: &str, id: Option<&Value>) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(&Value::Null),
        "error": { "code": code, "message": message },
    })
    .to_string()
}

/// A JSON-RPC error response with an HTTP status.
#[derive(Debug, Clone)]
pub struct RpcError {
    pub status: StatusCode,
    pub code: i64,
    pub message: Cow<'static, str>,
    pub id: Option<Value>,
}

impl IntoResponse for RpcError {
    fn into_response(self) -> Response {
        json_response(
            self.status,
            error_body(self.code, &self.message, self.id.as_ref()),
        )
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// Why the edge refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EdgeError {
    #[error("Forbidden: address not allowed")]
    AddressNotAllowed,
    #[error("Forbidden: Host not allowed")]
    HostNotAllowed,
    #[error("Bad Request: missing Host header")]
    MissingHost,
    #[error("Forbidden: Origin not allowed")]
    OriginNotAllowed,
    #[error("Payload Too Large")]
    BodyTooLarge,
    #[error("Request Timeout")]
    Timeout,
    #[error("Too Many Requests: retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
}

impl EdgeError {
    fn status(self) -> StatusCode {
        match self {
            Self::AddressNotAllowed | Self::HostNotAllowed | Self::OriginNotAllowed => {
                StatusCode::FORBIDDEN
            }
            Self::MissingHost => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

impl IntoResponse for EdgeError {
    fn into_response(self) -> Response {
        let body = error_body(code::INVALID_REQUEST, &self.to_string(), None);
        let mut res = json_response(self.status(), body);
        if let Self::RateLimited { retry_after_secs } = self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        res
    }
}

/// The body of the 503 a connection over the per-address cap gets, written
/// straight to the socket (there is no HTTP stack for it yet).
pub fn too_many_connections_body() -> String {
    error_body(
        code::INVALID_REQUEST,
        "Service Unavailable: too many connections from this address",
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_json_rpc_errors_with_the_id_echoed_or_null() {
        let v: Value =
            serde_json::from_str(&error_body(-32602, "bad", Some(&Value::from(7)))).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32602, "message": "bad"}})
        );
        let v: Value = serde_json::from_str(&too_many_connections_body()).unwrap();
        assert_eq!(v["id"], Value::Null);
        assert_eq!(v["error"]["code"], -32600);
    }
}
