//! `POST /revoke`: token revocation (RFC 7009). Revoking either token of a
//! grant ends the whole grant: a refresh token's access tokens must not
//! outlive it, and an access token's family is what the user means to end.
//! The resource layer's validation cache rechecks within seconds.

use std::net::IpAddr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::client_auth::{self, Form};
use super::events::{self, What};
use super::metadata::endpoint_answer;
use super::{Auth, OAuthError, issue};
use crate::network::ClientIp;

/// `POST /revoke`.
pub async fn revoke(
    State(auth): State<Auth>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ip = ip.map(|Extension(ClientIp(ip))| ip);
    let res = run(&auth, &headers, &body, ip).await;
    endpoint_answer(
        res.map(|()| StatusCode::OK.into_response()),
        "revocation refused",
    )
}

async fn run(
    auth: &Auth,
    headers: &HeaderMap,
    body: &[u8],
    ip: Option<IpAddr>,
) -> Result<(), OAuthError> {
    let form = Form::from_form_body(headers, body)?;
    let client = client_auth::authenticate(auth, headers, &form).await?;
    let token = form.require("token")?;
    // `token_type_hint` is optional and both kinds share one table. A token
    // that is unknown, already revoked or another client's is answered like
    // a success (RFC 7009 §2.2): the caller learns nothing about it.
    let revoked = auth
        .db
        .revoke_token(
            &issue::hash(token),
            Some(&client.client.id),
            auth.clock.unix_now(),
        )
        .await?;
    if revoked {
        tracing::info!(client_id = %client.client.id, "grant revoked by its client");
        // Fail open: the grant has ended whether or not this is recorded,
        // and an error would tell the client its token might still work.
        let what = What::TokenRevoked {
            client_id: &client.client.id,
        };
        events::record_or_log(auth, what.from_ip(ip)).await;
    }
    Ok(())
}
