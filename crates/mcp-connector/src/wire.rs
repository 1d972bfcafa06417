//! The one place where edge rejections get their wire shape.
//!
//! MCP clients parse error bodies as JSON-RPC, so edge rejections carry an
//! id-less JSON-RPC error (the transport spec allows one) with a short,
//! fixed message: never request data or internal detail.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

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
        let body = serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": -32600, "message": self.to_string() },
        });
        let mut res = (self.status(), body.to_string()).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Self::RateLimited { retry_after_secs } = self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        res
    }
}
