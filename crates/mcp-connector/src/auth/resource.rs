//! Stub: replaced by the implementation.
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::Auth;

pub async fn require_token(State(_auth): State<Auth>, req: Request, next: Next) -> Response {
    next.run(req).await
}
