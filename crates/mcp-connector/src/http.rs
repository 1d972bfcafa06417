//! HTTP edge: checks that run before any MCP or OAuth code sees a request.
//!
//! Order (outermost first): request id → trace span → Host/Origin → body size
//! → request timeout → route. Later issues insert the IP allowlist before
//! Host/Origin and rate limits and authentication after the size check.

pub mod edge;
pub mod health;
pub mod rejection;
pub mod request_id;
pub mod stream;
