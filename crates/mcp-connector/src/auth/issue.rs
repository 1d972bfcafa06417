//! Minting authorization codes and tokens. Every credential is 256 random
//! bits behind a prefix (so secret scanners can spot a leaked one) and is
//! stored only as its SHA-256.

use std::time::Duration;

use mcp_connector_security::{random_token, sha256_hex};
use serde::Serialize;

use super::Auth;
use super::scope::ScopeSet;
use crate::store::StoreError;
use crate::store::oauth::{self, Client, NewCode, NewToken, TokenKind};

pub const ACCESS_PREFIX: &str = "mcpat_";
pub const REFRESH_PREFIX: &str = "mcprt_";
pub const CODE_PREFIX: &str = "mcpac_";
pub const SECRET_PREFIX: &str = "mcpcs_";

/// A fresh random credential with `prefix`.
pub fn credential(prefix: &str) -> String {
    format!("{prefix}{}", random_token(32))
}

/// The at-rest form of a token, code or client secret.
pub fn hash(credential: &str) -> String {
    sha256_hex(credential.as_bytes())
}

/// A fresh random id for grants, users and clients.
pub fn id() -> String {
    random_token(16)
}

/// The successful `/token` response body (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// What an authorization code is issued for.
#[derive(Debug, Clone)]
pub struct CodeRequest {
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scopes: ScopeSet,
    pub resource: String,
}

/// Create a grant and its authorization code; returns the code.
pub async fn code(auth: &Auth, req: &CodeRequest) -> Result<String, StoreError> {
    let now = auth.clock.unix_now();
    let grant = oauth::Grant {
        id: id(),
        client_id: req.client_id.clone(),
        user_id: Some(req.user_id.clone()),
        scopes: req.scopes.to_string(),
        resource: req.resource.clone(),
        now,
    };
    auth.db.insert_grant(&grant).await?;
    let code = credential(CODE_PREFIX);
    auth.db
        .insert_code(&NewCode {
            code_hash: hash(&code),
            grant_id: grant.id,
            client_id: req.client_id.clone(),
            user_id: req.user_id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            code_challenge: req.code_challenge.clone(),
            scopes: req.scopes.to_string(),
            resource: req.resource.clone(),
            expires_at: now + secs(auth.config.code_ttl),
        })
        .await?;
    Ok(code)
}

/// Who a set of tokens is for.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub grant_id: String,
    pub client_id: String,
    pub user_id: Option<String>,
    pub scopes: ScopeSet,
    pub resource: String,
    /// Issue a refresh token too (not for `client_credentials`).
    pub refresh: bool,
}

/// The access token lifetime for `client`: its own (`client add
/// --access-token-ttl`), else `auth.access_token_ttl_secs`.
pub fn access_ttl(auth: &Auth, client: &Client) -> Duration {
    client
        .access_token_ttl_secs
        .and_then(|s| u64::try_from(s).ok())
        .filter(|s| *s > 0)
        .map_or(auth.config.access_token_ttl, Duration::from_secs)
}

/// Issue an access token (and a refresh token) from an existing grant,
/// with the configured access token lifetime.
pub async fn tokens(auth: &Auth, req: &TokenRequest) -> Result<TokenResponse, StoreError> {
    tokens_for(auth, req, auth.config.access_token_ttl).await
}

/// [`tokens`] with an access token lifetime of `ttl`.
pub async fn tokens_for(
    auth: &Auth,
    req: &TokenRequest,
    ttl: Duration,
) -> Result<TokenResponse, StoreError> {
    let now = auth.clock.unix_now();
    let access = credential(ACCESS_PREFIX);
    let ttl = secs(ttl);
    let mut rows = vec![NewToken {
        token_hash: hash(&access),
        kind: TokenKind::Access,
        grant_id: req.grant_id.clone(),
        client_id: req.client_id.clone(),
        user_id: req.user_id.clone(),
        scopes: req.scopes.to_string(),
        resource: req.resource.clone(),
        now,
        expires_at: now + ttl,
    }];
    let refresh = req.refresh.then(|| credential(REFRESH_PREFIX));
    if let Some(r) = &refresh {
        rows.push(NewToken {
            token_hash: hash(r),
            kind: TokenKind::Refresh,
            expires_at: now + secs(auth.config.refresh_token_ttl),
            ..rows[0].clone()
        });
    }
    auth.db.insert_tokens(&rows).await?;
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: ttl.unsigned_abs(),
        refresh_token: refresh,
        scope: req.scopes.to_string(),
    })
}

/// Create a grant (for `client_credentials`) and issue an access token.
pub async fn grant_and_tokens(
    auth: &Auth,
    client_id: &str,
    user_id: Option<&str>,
    scopes: &ScopeSet,
    refresh: bool,
) -> Result<TokenResponse, StoreError> {
    let grant = Grant {
        client_id: client_id.to_owned(),
        user_id: user_id.map(str::to_owned),
        scopes: scopes.clone(),
    };
    new_grant_tokens(auth, &grant, auth.config.access_token_ttl, refresh).await
}

/// Who a grant without a code is for (`client_credentials`, `jwt-bearer`).
#[derive(Debug, Clone)]
pub struct Grant {
    pub client_id: String,
    pub user_id: Option<String>,
    pub scopes: ScopeSet,
}

/// Create the grant `g` and issue its tokens, the access token living `ttl`.
pub async fn new_grant_tokens(
    auth: &Auth,
    g: &Grant,
    ttl: Duration,
    refresh: bool,
) -> Result<TokenResponse, StoreError> {
    let grant = oauth::Grant {
        id: id(),
        client_id: g.client_id.clone(),
        user_id: g.user_id.clone(),
        scopes: g.scopes.to_string(),
        resource: auth.resource.to_string(),
        now: auth.clock.unix_now(),
    };
    auth.db.insert_grant(&grant).await?;
    tokens_for(
        auth,
        &TokenRequest {
            grant_id: grant.id,
            client_id: g.client_id.clone(),
            user_id: g.user_id.clone(),
            scopes: g.scopes.clone(),
            resource: auth.resource.to_string(),
            refresh,
        },
        ttl,
    )
    .await
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)
}
