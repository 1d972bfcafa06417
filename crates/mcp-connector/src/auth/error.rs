//! Errors of the authorization server, mapped to the RFC 6749 §5.2 wire
//! shape in exactly one place ([`IntoResponse`]). Descriptions are fixed,
//! human-readable sentences chosen by the caller: never internal details,
//! never a token, secret or code. Internal failures are logged with the
//! request's correlation id and answered with a bare `server_error`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::audit::AuditError;
use crate::store::StoreError;

/// An OAuth error response of `/token`, `/register` or `/revoke`.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// Unknown, revoked or unauthenticated client: 401, which makes Claude
    /// register again.
    #[error("invalid_client")]
    InvalidClient,
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(&'static str),
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// RFC 8707: the `resource` is not this server.
    #[error("invalid_target")]
    InvalidTarget,
    /// RFC 7591 §3.2.2.
    #[error("invalid_redirect_uri: {0}")]
    InvalidRedirectUri(String),
    #[error("invalid_client_metadata: {0}")]
    InvalidClientMetadata(String),
    /// The feature is switched off (for example registration).
    #[error("access_denied: {0}")]
    AccessDenied(&'static str),
    #[error("temporarily_unavailable: too many attempts")]
    TooManyAttempts { retry_after_secs: u64 },
    /// Something this request depends on (the identity provider's keys)
    /// cannot be reached: 503, the client tries again.
    #[error("temporarily_unavailable")]
    Unavailable,
    #[error("server_error")]
    Internal(#[from] StoreError),
    /// What was about to be issued could not be recorded in the audit
    /// trail, so it is not issued (`server_error`).
    #[error("server_error: {0}")]
    Audit(#[from] AuditError),
}

impl OAuthError {
    /// The `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Self::InvalidClientMetadata(_) => "invalid_client_metadata",
            Self::AccessDenied(_) => "access_denied",
            Self::TooManyAttempts { .. } | Self::Unavailable => "temporarily_unavailable",
            Self::Internal(_) | Self::Audit(_) => "server_error",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidClient => StatusCode::UNAUTHORIZED,
            Self::AccessDenied(_) => StatusCode::FORBIDDEN,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) | Self::Audit(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The `error_description`.
    pub fn description(&self) -> String {
        match self {
            Self::InvalidRequest(m)
            | Self::InvalidScope(m)
            | Self::InvalidRedirectUri(m)
            | Self::InvalidClientMetadata(m) => m.clone(),
            Self::InvalidClient => {
                "client authentication failed (unknown client, revoked client or wrong secret)"
                    .into()
            }
            Self::InvalidGrant(m) | Self::UnauthorizedClient(m) | Self::AccessDenied(m) => {
                (*m).into()
            }
            Self::UnsupportedGrantType => {
                "grant_type must be authorization_code, refresh_token, client_credentials or \
                 urn:ietf:params:oauth:grant-type:jwt-bearer (when enabled)"
                    .into()
            }
            Self::InvalidTarget => "resource must be this server's MCP endpoint".into(),
            Self::TooManyAttempts { .. } => "too many attempts; try again later".into(),
            Self::Unavailable => {
                "a service this request depends on is unavailable; try again".into()
            }
            Self::Internal(_) | Self::Audit(_) => {
                "the server could not complete the request".into()
            }
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        match &self {
            // The request id is on the surrounding span.
            Self::Internal(e) => tracing::error!(error = %e, "authorization server failure"),
            Self::Audit(e) => tracing::error!(error = %e, "authorization server failure"),
            _ => {}
        }
        let body = serde_json::json!({
            "error": self.code(),
            "error_description": self.description(),
        });
        let mut res = (self.status(), Json(body)).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        match self {
            Self::InvalidClient => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"mcp-connector\""),
                );
            }
            Self::TooManyAttempts { retry_after_secs } => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Self::Unavailable => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
            }
            _ => {}
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wire_shape() {
        let res = OAuthError::InvalidClient.into_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        assert!(res.headers().contains_key(header::WWW_AUTHENTICATE));
        let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"], "invalid_client");

        let res = OAuthError::Internal(StoreError::Corrupt("secret detail")).into_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("secret detail"));
    }
}
