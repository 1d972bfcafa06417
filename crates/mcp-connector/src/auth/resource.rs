//! `/mcp` as an OAuth 2.1 protected resource: every request (POST, GET and
//! DELETE) carries `Authorization: Bearer <token>` or gets 401 with a
//! `WWW-Authenticate` challenge naming the protected resource metadata
//! (RFC 6750 §3, RFC 9728 §5.1). Tokens in the query string or a form body
//! are never read (OAuth 2.1 §5.2.1: header only).
//!
//! # Validation and revocation
//! Opaque tokens (`mcpat_…`, mode `oauth`) are looked up by SHA-256 in the
//! database with one join that also checks the grant, the client and the
//! user ([`crate::store::Db::access_token`]); the token's stored resource
//! must be this server's MCP URL (audience binding, RFC 8707), and it must
//! have been used within `auth.access_token_idle_secs` (the idle timeout
//! that bounds long-lived tokens for clients that never refresh). A validated
//! token is cached in memory and revalidated once it is more than
//! [`REVALIDATE_AFTER`] old. So a revocation, a disabled user or a changed
//! role takes effect within about five seconds on every replica, without a
//! database round trip per request and without replicas telling each other.
//! Concurrent requests with the same stale token may each revalidate once
//! (no single-flight): bounded by the request concurrency of one client for
//! one round trip every four seconds, which is cheaper than coordination.
//!
//! JWTs (mode `external`) are checked by [`super::external`]; the decoded
//! principal is cached until the token expires or for a minute at most.
//!
//! Unknown and refused tokens are remembered for a second (see
//! [`super::cache`]), so that garbage tokens cannot turn every request into
//! a database query. Nothing here logs or returns a token.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use mcp_connector_security::sha256;

use super::Auth;
use super::cache::{Key, Lookup};
use super::external::JwtError;
use super::issue::ACCESS_PREFIX;
use super::principal::Principal;
use super::scope::ScopeSet;
use crate::network::{ClientIp, Subject};
use crate::telemetry::metrics::{AuthRefusal, Limit};
use crate::wire::EdgeError;

/// A validated opaque token is checked against the database again after this.
pub const REVALIDATE_AFTER: Duration = Duration::from_secs(4);
/// A decoded JWT is trusted for at most this long before it is decoded again.
const JWT_CACHE_MAX: Duration = Duration::from_secs(60);
/// Longer "tokens" are refused unread (JWTs are a few KiB at most).
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a request was not admitted.
#[derive(Debug)]
enum Refusal {
    /// No bearer credentials at all: a challenge without an error code.
    Missing,
    /// Several `Authorization` headers: 400 `invalid_request`.
    Ambiguous,
    /// A token was sent but is not acceptable: 401 `invalid_token`.
    Invalid(&'static str),
    /// The token could not be checked (database or JWKS down): 503.
    Unavailable,
}

impl Refusal {
    /// The `reason` label of the refusal. Opaque tokens that are unknown,
    /// expired, revoked or idle are one reason: the lookup does not tell
    /// them apart, by design.
    fn reason(&self) -> AuthRefusal {
        match self {
            Self::Missing => AuthRefusal::MissingToken,
            Self::Ambiguous => AuthRefusal::MalformedToken,
            Self::Unavailable => AuthRefusal::Unavailable,
            Self::Invalid(why) if why.contains("malformed") => AuthRefusal::MalformedToken,
            Self::Invalid(why) if why.contains("another resource") => AuthRefusal::WrongAudience,
            Self::Invalid(why) if why.contains("has expired") => AuthRefusal::Expired,
            Self::Invalid(_) => AuthRefusal::BadToken,
        }
    }
}

/// Middleware on `/mcp`: admit requests with a valid bearer token, and
/// attach the [`Principal`] and the rate-limit [`Subject`] to them.
///
/// Failed checks are counted per client address: an address that used up
/// `limits.auth_failures_per_minute` gets 429 before its token is even
/// looked at, so a flood of made-up tokens costs neither lookups nor
/// cache churn. This runs before the per-subject rate limit, which needs
/// the checked token to know the subject.
pub async fn require_token(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    let ip = req.extensions().get::<ClientIp>().map(|c| c.0);
    if let Some(ip) = ip
        && let Err(wait) = auth.failures.check(&ip, Instant::now())
    {
        auth.metrics.rate_limited(Limit::AuthFailures);
        tracing::info!(%ip, "request refused: too many failed token checks from this address");
        return EdgeError::RateLimited {
            retry_after_secs: wait,
        }
        .into_response();
    }
    let result = match bearer(req.headers()) {
        Ok(token) => authenticate(&auth, token).await,
        Err(refusal) => Err(refusal),
    };
    match result {
        Ok(principal) => {
            let ext = req.extensions_mut();
            ext.insert(Subject::User(principal.subject.clone()));
            ext.insert(principal);
            next.run(req).await
        }
        Err(refusal) => {
            auth.metrics.auth_refused(refusal.reason());
            if !matches!(refusal, Refusal::Unavailable)
                && let Some(ip) = ip
            {
                let _ = auth.failures.take(&ip, Instant::now());
            }
            refuse(&auth, &refusal)
        }
    }
}

/// The token of the request's single `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Result<&str, Refusal> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Refusal::Missing);
    };
    if values.next().is_some() {
        return Err(Refusal::Ambiguous);
    }
    let Ok(value) = value.to_str() else {
        return Err(Refusal::Invalid("the Authorization header is malformed"));
    };
    let value = value.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme (Basic, ...) is "no bearer credentials" (RFC 6750 §3.1).
        return Err(Refusal::Missing);
    }
    let token = token.trim_start();
    if !is_b64token(token) {
        return Err(Refusal::Invalid("the bearer token is malformed"));
    }
    Ok(token)
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && token.len() <= MAX_TOKEN_BYTES
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

async fn authenticate(auth: &Auth, token: &str) -> Result<Principal, Refusal> {
    let key: Key = sha256(token.as_bytes());
    let now = Instant::now();
    match auth.cache.get(&key, now) {
        Lookup::Valid(p) => return Ok(p),
        Lookup::Invalid => return Err(Refusal::Invalid(UNKNOWN)),
        Lookup::Miss => {}
    }
    let outcome = match &auth.jwks {
        Some(jwks) => match jwks.validate(token, &auth.scopes).await {
            Ok(p) => {
                let left = u64::try_from(p.expires_at - auth.clock.unix_now()).unwrap_or(0);
                Ok((p, JWT_CACHE_MAX.min(Duration::from_secs(left))))
            }
            Err(JwtError::Invalid(why)) => Err(Refusal::Invalid(why)),
            Err(JwtError::Unavailable(e)) => {
                tracing::warn!(error = %e, "bearer token not checked: identity provider keys unavailable");
                Err(Refusal::Unavailable)
            }
        },
        None => opaque(auth, token, &key)
            .await
            .map(|p| (p, REVALIDATE_AFTER)),
    };
    match outcome {
        Ok((principal, fresh_for)) => {
            auth.cache.insert(key, principal.clone(), now, fresh_for);
            Ok(principal)
        }
        Err(refusal) => {
            if matches!(refusal, Refusal::Invalid(_)) {
                auth.cache.insert_invalid(key, now);
            }
            tracing::info!(?refusal, "bearer token refused");
            Err(refusal)
        }
    }
}

const UNKNOWN: &str = "the access token is unknown, expired or revoked";

/// Whether `token` has the shape of one this server mints: the prefix and
/// 43 base64url characters (256 bits). Anything else is refused without a
/// database lookup.
fn is_access_token_shaped(token: &str) -> bool {
    token.strip_prefix(ACCESS_PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// How stale a token's stored last use may get before it is written
/// again: a tenth of the idle timeout, between a second and an hour. The
/// idle timeout is exact to this much, and a busy token costs one write per
/// this interval instead of one per revalidation.
fn touch_granularity(idle: i64) -> i64 {
    (idle / 10).clamp(1, 3600)
}

/// Validate an opaque access token against the database: unexpired,
/// unrevoked, used within the idle timeout, its user enabled (and its role
/// read now).
async fn opaque(auth: &Auth, token: &str, key: &Key) -> Result<Principal, Refusal> {
    if !is_access_token_shaped(token) {
        return Err(Refusal::Invalid(UNKNOWN));
    }
    let now = auth.clock.unix_now();
    let hash = hex(key);
    let row = match auth.db.access_token(&hash, now).await {
        Ok(Some(row)) => row,
        Ok(None) => return Err(Refusal::Invalid(UNKNOWN)),
        Err(e) => {
            tracing::error!(error = %e, "access token lookup failed");
            return Err(Refusal::Unavailable);
        }
    };
    let idle = i64::try_from(auth.config.access_token_idle.as_secs()).unwrap_or(i64::MAX / 4);
    if now - row.last_seen >= idle {
        return Err(Refusal::Invalid(UNKNOWN));
    }
    if now - row.last_seen >= touch_granularity(idle) {
        // Off the request path: a lost touch only makes the token look
        // idle a little earlier.
        let db = auth.db.clone();
        tokio::spawn(async move {
            if let Err(e) = db.touch_access_token(&hash, now).await {
                tracing::warn!(error = %e, "could not record an access token's use");
            }
        });
    }
    if !auth.is_this_resource(&row.resource) {
        return Err(Refusal::Invalid(
            "the access token was issued for another resource",
        ));
    }
    let granted = ScopeSet::parse(&row.scopes);
    let (subject, ceiling) = match &row.user_id {
        // A user's role may have changed since the grant: the role's
        // current ceiling bounds what the token can still do.
        Some(id) => (
            format!("user:{id}"),
            auth.scopes.ceiling(row.role.as_deref().unwrap_or("")),
        ),
        // A service client's token carries the client's fixed scopes.
        None => (format!("client:{}", row.client_id), granted.clone()),
    };
    Ok(Principal {
        subject: subject.into(),
        user_id: row.user_id,
        username: row.username,
        email: row.email,
        client_id: row.client_id.into(),
        scopes: granted.intersect(&ceiling),
        ceiling,
        expires_at: row.expires_at,
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn refuse(auth: &Auth, refusal: &Refusal) -> Response {
    let base = format!(
        "Bearer resource_metadata=\"{}\", scope=\"{}\"",
        auth.resource_metadata_url(),
        auth.scopes.read
    );
    let (status, challenge, error, description) = match refusal {
        Refusal::Missing => (
            StatusCode::UNAUTHORIZED,
            base,
            "invalid_token",
            "this endpoint requires an OAuth bearer token",
        ),
        Refusal::Ambiguous => {
            let d = "send exactly one Authorization header";
            (
                StatusCode::BAD_REQUEST,
                format!("{base}, error=\"invalid_request\", error_description=\"{d}\""),
                "invalid_request",
                d,
            )
        }
        Refusal::Invalid(d) => (
            StatusCode::UNAUTHORIZED,
            format!("{base}, error=\"invalid_token\", error_description=\"{d}\""),
            "invalid_token",
            *d,
        ),
        Refusal::Unavailable => {
            let body = serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": "the access token could not be checked; try again",
            });
            let mut res = (StatusCode::SERVICE_UNAVAILABLE, body.to_string()).into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return res;
        }
    };
    let body = serde_json::json!({"error": error, "error_description": description});
    let mut res = (status, body.to_string()).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        h.insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

/// The scope `principal` lacks for a request with JSON-RPC `method` (and,
/// for `tools/call`, the served `tool` it names), if any. Tools outside the
/// principal's ceiling are not judged here: the handler hides them and
/// answers "Unknown tool", so that their existence does not leak.
pub fn missing_scope(
    auth: &Auth,
    principal: &Principal,
    method: &str,
    tool: Option<&rmcp::model::Tool>,
) -> Option<String> {
    let needed = match method {
        "tools/call" => {
            let needed = auth.scopes.for_tool(tool?);
            if !principal.ceiling.contains(needed) {
                return None;
            }
            needed
        }
        m if m.starts_with("resources/")
            || m.starts_with("prompts/")
            || m.starts_with("completion/")
            || m == "subscriptions/listen" =>
        {
            auth.scopes.read.as_str()
        }
        _ => return None,
    };
    (!principal.scopes.contains(needed)).then(|| needed.to_owned())
}

/// The `WWW-Authenticate` value of a 403 for a call needing `scope`
/// (RFC 6750 §3.1; every scope the operation needs).
pub fn insufficient_scope(auth: &Auth, scope: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "Bearer error=\"insufficient_scope\", scope=\"{scope}\", resource_metadata=\"{}\", \
         error_description=\"the access token lacks a scope this operation needs\"",
        auth.resource_metadata_url()
    ))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                header::AUTHORIZATION,
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn bearer_parsing() {
        assert!(matches!(bearer(&headers(&[])), Err(Refusal::Missing)));
        assert_eq!(bearer(&headers(&["Bearer abc"])).ok(), Some("abc"));
        assert_eq!(bearer(&headers(&["bearer  abc=="])).ok(), Some("abc=="));
        assert_eq!(
            bearer(&headers(&["BEARER a.b-c_d~e+f/g"])).ok(),
            Some("a.b-c_d~e+f/g")
        );
        assert!(matches!(
            bearer(&headers(&["Basic dXNlcjpwdw=="])),
            Err(Refusal::Missing)
        ));
        assert!(matches!(
            bearer(&headers(&["Bearer"])),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            bearer(&headers(&["Bearer a b"])),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            bearer(&headers(&["Bearer ==="])),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            bearer(&headers(&["Bearer a\"b"])),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            bearer(&headers(&["Bearer a", "Bearer b"])),
            Err(Refusal::Ambiguous)
        ));
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES + 1));
        assert!(matches!(
            bearer(&headers(&[&long])),
            Err(Refusal::Invalid(_))
        ));
    }

    #[test]
    fn only_well_formed_access_tokens_reach_the_database() {
        let minted = super::super::issue::credential(ACCESS_PREFIX);
        assert!(is_access_token_shaped(&minted));
        for bad in [
            "mcpat_",
            "mcpat_short",
            &format!("{minted}x"),
            &minted.replace("mcpat_", "mcprt_"),
            &format!("mcpat_{}", "a".repeat(42) + "+"),
            "eyJhbGciOiJIUzI1NiJ9.e30.x",
        ] {
            assert!(!is_access_token_shaped(bad), "{bad}");
        }
    }

    #[test]
    fn touch_granularity_is_a_tenth_of_idle_within_bounds() {
        assert_eq!(touch_granularity(7 * 24 * 3600), 3600);
        assert_eq!(touch_granularity(600), 60);
        assert_eq!(touch_granularity(3), 1);
    }

    #[test]
    fn hex_matches_sha256_hex() {
        let t = b"mcpat_example";
        assert_eq!(hex(&sha256(t)), mcp_connector_security::sha256_hex(t));
    }
}
