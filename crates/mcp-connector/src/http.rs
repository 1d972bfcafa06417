//! HTTP edge: checks that run before any MCP or OAuth code sees a request.
//!
//! Order (outermost first): request id → trace span → IP allowlist
//! ([`crate::network`]) → Host/Origin → body size → request timeout → rate
//! limit ([`rate_limit`]) → route. Authentication will go after the rate
//! limit. [`tls`] terminates TLS below all of this, when configured, and
//! [`conn`] times and caps every connection (request head, body, idle
//! keep-alive, connections per address) below that.

pub mod conn;
pub mod edge;
pub mod health;
pub mod metrics;
pub mod rate_limit;
pub mod rejection;
pub mod request_id;
pub mod stream;
pub mod tls;
