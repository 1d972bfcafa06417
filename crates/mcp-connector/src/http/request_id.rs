//! Request ids: a random per-process prefix and a counter.
//!
//! A UUID per request costs a trip to the OS random source on the hot path;
//! a counter under a random prefix is just as unique across replicas and
//! restarts for log correlation, and costs one atomic increment.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

/// Makes `x-request-id` values like `k3Jq9xV2-000000000042`.
#[derive(Clone, Debug)]
pub struct RequestIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    pub fn new() -> Self {
        Self {
            prefix: mcp_connector_security::random_token(6).into(),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n:012}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_header_safe() {
        let mut ids = RequestIds::new();
        let req = Request::new(());
        let a = ids.make_request_id(&req).expect("id");
        let b = ids.make_request_id(&req).expect("id");
        assert_ne!(a.header_value(), b.header_value());
        assert!(a.header_value().to_str().is_ok_and(|s| s.len() == 21));
        assert_ne!(
            RequestIds::new().prefix,
            ids.prefix,
            "prefixes differ between processes"
        );
    }
}
