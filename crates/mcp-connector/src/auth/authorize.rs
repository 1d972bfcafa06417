//! Stub: replaced by the implementation.
use axum::extract::State;
use axum::http::StatusCode;

use super::Auth;

pub async fn start(State(_auth): State<Auth>) -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}

pub async fn submit(State(_auth): State<Auth>) -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}
