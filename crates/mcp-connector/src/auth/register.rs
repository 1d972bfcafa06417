//! Stub: replaced by the implementation.
use axum::extract::State;
use axum::http::StatusCode;

use super::Auth;

pub async fn register(State(_auth): State<Auth>) -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}
