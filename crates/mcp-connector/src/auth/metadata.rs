//! Stub: replaced by the implementation.
use axum::extract::State;
use axum::http::StatusCode;

use super::Auth;

pub async fn protected_resource(State(_auth): State<Auth>) -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}

pub async fn authorization_server(State(_auth): State<Auth>) -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}
