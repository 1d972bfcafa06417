//! Authentication events in the audit trail (kind `auth`).
//!
//! Each event is one row whose `arguments` is a small JSON object naming
//! what happened (`{"event": "login_failed", "user": "alice"}`), with the
//! subject (`user:<id>`, `client:<id>` or `operator`), the OAuth client id
//! and the client address in their own columns.
//!
//! An [`AuthEvent`] can only be built from identifiers (user ids and names,
//! client ids and names, scopes, grant types): there is no field a token,
//! code, secret or password could be put in, so none can reach the log.
//!
//! Fail closed or open is the caller's choice, by what the event protects:
//! anything that hands out access (a token, a code, a client secret) is not
//! handed out unless its record is committed, the same rule as tool calls;
//! a refusal or a revocation has already happened or happens anyway, so a
//! record that cannot be written is logged ([`record_or_log`]) and the
//! outcome stands.

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use super::Auth;
use crate::audit::{AuditError, AuditEvent, AuditKind, AuditSink};
use crate::telemetry::metrics::AuthRefusal;

/// The subject of the administration verbs run from the command line.
pub const OPERATOR: &str = "operator";

/// What happened.
#[derive(Debug, Clone, Copy)]
pub enum What<'a> {
    /// The login form accepted a user name and password.
    LoginSucceeded {
        user_id: &'a str,
        username: &'a str,
        client_id: &'a str,
    },
    /// Unknown user, wrong password or disabled account (not told apart
    /// here either). `username` is what was typed: an identifier, and the
    /// only way to see a guessing attack on one account.
    LoginFailed {
        username: &'a str,
        client_id: &'a str,
    },
    /// The right password for a disabled account (or a disabled account
    /// proved by the identity provider): told so, and recorded.
    LoginDisabled {
        username: &'a str,
        client_id: &'a str,
    },
    /// The company sign-in was refused: no mapped group, or the identity
    /// provider did not complete it. `client_id` is empty for the
    /// standalone sign-in.
    UpstreamLoginRefused {
        client_id: &'a str,
        reason: &'static str,
    },
    /// The consent page was skipped (`auth.skip_consent_for`).
    ConsentSkipped {
        user_id: &'a str,
        client_id: &'a str,
        scopes: &'a str,
    },
    /// An ID-JAG assertion was refused at `/token`.
    AssertionRefused {
        client_id: &'a str,
        reason: &'static str,
    },
    /// The identity provider refused a user at a re-check: every grant of
    /// the user was revoked.
    UpstreamRecheckRefused {
        user_id: &'a str,
        username: &'a str,
        grants_revoked: u64,
    },
    /// A re-check changed the user's role (the groups mapping).
    UpstreamRoleChanged {
        user_id: &'a str,
        role: &'a str,
    },
    /// Refused before any password check: too many recent failures.
    LoginThrottled {
        username: &'a str,
        client_id: &'a str,
    },
    ConsentGranted {
        user_id: &'a str,
        client_id: &'a str,
        scopes: &'a str,
    },
    /// The user pressed deny, or granted nothing.
    ConsentDenied {
        user_id: &'a str,
        client_id: &'a str,
        reason: &'static str,
    },
    TokenIssued {
        grant_type: &'a str,
        client_id: &'a str,
        /// `None` for `client_credentials` (the client acts as itself).
        user_id: Option<&'a str>,
        scopes: &'a str,
        refresh: bool,
    },
    /// A rotated refresh token came back after the grace window: its whole
    /// grant (token family) was revoked.
    RefreshReuse {
        client_id: &'a str,
        user_id: Option<&'a str>,
    },
    /// A spent authorization code came back: its grant was revoked.
    CodeReplay {
        client_id: &'a str,
    },
    /// A client revoked one of its tokens at `/revoke` (the grant ended).
    TokenRevoked {
        client_id: &'a str,
    },
    /// Dynamic client registration (`/register`).
    ClientRegistered {
        client_id: &'a str,
        name: &'a str,
        auth_method: &'a str,
    },
    // The command-line administration verbs; the subject is the operator.
    ClientAdded {
        client_id: &'a str,
        name: &'a str,
        grant_type: &'a str,
    },
    ClientRevoked {
        client_id: &'a str,
    },
    UserAdded {
        user_id: &'a str,
        username: &'a str,
        role: &'a str,
    },
    UserDisabled {
        username: &'a str,
    },
    UserEnabled {
        username: &'a str,
    },
    PasswordChanged {
        username: &'a str,
    },
    RoleChanged {
        username: &'a str,
        role: &'a str,
    },
    UserDeleted {
        username: &'a str,
    },
    /// `grant revoke`.
    GrantRevokedByOperator {
        grant_id: &'a str,
    },
    /// `token revoke`: the grant of a token ended by the operator.
    TokenRevokedByOperator,
    /// The chain of the audit trail was checked (admin console).
    AuditVerified {
        intact: bool,
        records: i64,
    },
}

/// One authentication event and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct AuthEvent<'a> {
    pub what: What<'a>,
    pub source_ip: Option<IpAddr>,
    /// The administrator (user id) who did it in the admin console: the
    /// subject is then `user:<id>`, not `operator`.
    pub admin: Option<&'a str>,
}

impl<'a> What<'a> {
    /// This event, from `ip` (the request's [`crate::network::ClientIp`]).
    pub fn from_ip(self, ip: Option<IpAddr>) -> AuthEvent<'a> {
        AuthEvent {
            what: self,
            source_ip: ip,
            admin: None,
        }
    }

    /// This event, done by the administrator `user_id` in the admin
    /// console from `ip`.
    pub fn by_admin(self, user_id: &'a str, ip: Option<IpAddr>) -> AuthEvent<'a> {
        AuthEvent {
            what: self,
            source_ip: ip,
            admin: Some(user_id),
        }
    }

    /// This event, run by the operator on the command line.
    pub fn by_operator(self) -> AuthEvent<'a> {
        self.from_ip(None)
    }
}

fn user(id: &str) -> String {
    format!("user:{id}")
}

/// `None` for an empty client id (the standalone sign-in has no client).
fn nonempty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

impl AuthEvent<'_> {
    /// The audit row this event becomes.
    pub fn to_audit(&self) -> AuditEvent {
        let mut e = AuditEvent::now(AuditKind::Auth);
        e.source_ip = self.source_ip;
        let mut args = Map::new();
        let mut put = |k: &str, v: Value| {
            args.insert(k.to_owned(), v);
        };
        let (name, subject, client, error): (&str, Option<String>, Option<&str>, Option<&str>) =
            match self.what {
                What::LoginSucceeded {
                    user_id,
                    username,
                    client_id,
                } => {
                    put("user", json!(username));
                    (
                        "login_succeeded",
                        Some(user(user_id)),
                        nonempty(client_id),
                        None,
                    )
                }
                What::LoginFailed {
                    username,
                    client_id,
                } => {
                    put("user", json!(username));
                    (
                        "login_failed",
                        None,
                        nonempty(client_id),
                        Some("invalid user name or password"),
                    )
                }
                What::LoginDisabled {
                    username,
                    client_id,
                } => {
                    put("user", json!(username));
                    (
                        "login_disabled",
                        None,
                        nonempty(client_id),
                        Some("the account is disabled"),
                    )
                }
                What::UpstreamLoginRefused { client_id, reason } => (
                    "upstream_login_refused",
                    None,
                    nonempty(client_id),
                    Some(reason),
                ),
                What::ConsentSkipped {
                    user_id,
                    client_id,
                    scopes,
                } => {
                    put("scope", json!(scopes));
                    (
                        "consent_skipped",
                        Some(user(user_id)),
                        Some(client_id),
                        None,
                    )
                }
                What::AssertionRefused { client_id, reason } => {
                    put("grant_type", json!("jwt-bearer"));
                    ("assertion_refused", None, Some(client_id), Some(reason))
                }
                What::UpstreamRecheckRefused {
                    user_id,
                    username,
                    grants_revoked,
                } => {
                    put("user", json!(username));
                    put("grants_revoked", json!(grants_revoked));
                    (
                        "upstream_recheck_refused",
                        Some(user(user_id)),
                        None,
                        Some("the identity provider refused the user"),
                    )
                }
                What::UpstreamRoleChanged { user_id, role } => {
                    put("role", json!(role));
                    ("upstream_role_changed", Some(user(user_id)), None, None)
                }
                What::LoginThrottled {
                    username,
                    client_id,
                } => {
                    put("user", json!(username));
                    (
                        "login_throttled",
                        None,
                        nonempty(client_id),
                        Some("too many failed logins"),
                    )
                }
                What::ConsentGranted {
                    user_id,
                    client_id,
                    scopes,
                } => {
                    put("scope", json!(scopes));
                    (
                        "consent_granted",
                        Some(user(user_id)),
                        Some(client_id),
                        None,
                    )
                }
                What::ConsentDenied {
                    user_id,
                    client_id,
                    reason,
                } => (
                    "consent_denied",
                    Some(user(user_id)),
                    Some(client_id),
                    Some(reason),
                ),
                What::TokenIssued {
                    grant_type,
                    client_id,
                    user_id,
                    scopes,
                    refresh,
                } => {
                    put("grant_type", json!(grant_type));
                    put("scope", json!(scopes));
                    put("refresh_token", json!(refresh));
                    let subject = match user_id {
                        Some(id) => user(id),
                        None => format!("client:{client_id}"),
                    };
                    ("token_issued", Some(subject), Some(client_id), None)
                }
                What::RefreshReuse { client_id, user_id } => {
                    put("grant_revoked", json!(true));
                    (
                        "refresh_reuse",
                        user_id.map(user),
                        Some(client_id),
                        Some("rotated refresh token reused"),
                    )
                }
                What::CodeReplay { client_id } => {
                    put("grant_revoked", json!(true));
                    (
                        "code_replay",
                        None,
                        Some(client_id),
                        Some("authorization code replayed"),
                    )
                }
                What::TokenRevoked { client_id } => (
                    "token_revoked",
                    Some(format!("client:{client_id}")),
                    Some(client_id),
                    None,
                ),
                What::ClientRegistered {
                    client_id,
                    name,
                    auth_method,
                } => {
                    put("name", json!(name));
                    put("auth_method", json!(auth_method));
                    ("client_registered", None, Some(client_id), None)
                }
                What::ClientAdded {
                    client_id,
                    name,
                    grant_type,
                } => {
                    put("name", json!(name));
                    put("grant_type", json!(grant_type));
                    ("client_added", Some(OPERATOR.into()), Some(client_id), None)
                }
                What::ClientRevoked { client_id } => (
                    "client_revoked",
                    Some(OPERATOR.into()),
                    Some(client_id),
                    None,
                ),
                What::UserAdded {
                    user_id,
                    username,
                    role,
                } => {
                    put("user", json!(username));
                    put("user_id", json!(user_id));
                    put("role", json!(role));
                    ("user_added", Some(OPERATOR.into()), None, None)
                }
                What::UserDisabled { username } => {
                    put("user", json!(username));
                    ("user_disabled", Some(OPERATOR.into()), None, None)
                }
                What::UserEnabled { username } => {
                    put("user", json!(username));
                    ("user_enabled", Some(OPERATOR.into()), None, None)
                }
                What::PasswordChanged { username } => {
                    put("user", json!(username));
                    ("password_changed", Some(OPERATOR.into()), None, None)
                }
                What::RoleChanged { username, role } => {
                    put("user", json!(username));
                    put("role", json!(role));
                    ("role_changed", Some(OPERATOR.into()), None, None)
                }
                What::UserDeleted { username } => {
                    put("user", json!(username));
                    ("user_deleted", Some(OPERATOR.into()), None, None)
                }
                What::GrantRevokedByOperator { grant_id } => {
                    put("grant", json!(grant_id));
                    (
                        "grant_revoked_by_operator",
                        Some(OPERATOR.into()),
                        None,
                        None,
                    )
                }
                What::TokenRevokedByOperator => (
                    "token_revoked_by_operator",
                    Some(OPERATOR.into()),
                    None,
                    None,
                ),
                What::AuditVerified { intact, records } => {
                    put("intact", json!(intact));
                    put("records", json!(records));
                    let error = (!intact).then_some("the audit chain is broken");
                    ("audit_verified", Some(OPERATOR.into()), None, error)
                }
            };
        // An administrator in the console acts under their own name.
        let subject = match (self.admin, subject) {
            (Some(id), Some(s)) if s == OPERATOR => {
                args.insert("via".to_owned(), json!("admin_console"));
                Some(user(id))
            }
            (_, s) => s,
        };
        args.insert("event".to_owned(), json!(name));
        e.arguments = Some(Value::Object(args));
        e.subject = subject;
        e.client = client.map(str::to_owned);
        e.is_error = error.is_some();
        e.error = error.map(str::to_owned);
        e
    }
}

/// Record `event`; `Ok` once committed. For events that hand out access:
/// on `Err` the caller must not complete the action.
pub async fn record(auth: &Auth, event: AuthEvent<'_>) -> Result<(), AuditError> {
    count(auth, &event.what);
    record_to(&auth.audit, event).await
}

/// The refusals among the events, counted in
/// `mcp_connector_auth_refusals_total` (issued tokens are counted once
/// handed out, by `/token`).
fn count(auth: &Auth, what: &What<'_>) {
    let reason = match what {
        What::LoginFailed { .. } => AuthRefusal::LoginFailed,
        What::LoginDisabled { .. } => AuthRefusal::AccountDisabled,
        What::LoginThrottled { .. } => AuthRefusal::LoginThrottled,
        What::UpstreamLoginRefused { .. } => AuthRefusal::UpstreamRefused,
        What::AssertionRefused { .. } => AuthRefusal::AssertionRefused,
        What::RefreshReuse { .. } | What::CodeReplay { .. } => AuthRefusal::TokenReplay,
        _ => return,
    };
    auth.metrics.auth_refused(reason);
}

/// [`record`] on a bare sink (the command-line verbs have no [`Auth`]).
pub async fn record_to(sink: &AuditSink, event: AuthEvent<'_>) -> Result<(), AuditError> {
    sink.record(event.to_audit()).await
}

/// Record `event` where the outcome stands whether or not it is recorded
/// (a refusal, a revocation): a failure is logged, not returned.
pub async fn record_or_log(auth: &Auth, event: AuthEvent<'_>) {
    count(auth, &event.what);
    let row = event.to_audit();
    let name = row
        .arguments
        .as_ref()
        .and_then(|a| a["event"].as_str())
        .unwrap_or("?")
        .to_owned();
    if let Err(e) = auth.audit.record(row).await {
        tracing::error!(error = %e, event = %name, "authentication event not recorded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_administrator_acts_under_their_own_name() {
        let e = What::ClientRevoked { client_id: "c9" }
            .by_admin("u1", Some("192.0.2.8".parse().unwrap()))
            .to_audit();
        assert_eq!(e.subject.as_deref(), Some("user:u1"));
        assert_eq!(e.client.as_deref(), Some("c9"));
        let args = e.arguments.unwrap();
        assert_eq!(args["event"], "client_revoked");
        assert_eq!(args["via"], "admin_console");
        let e = What::ClientRevoked { client_id: "c9" }
            .by_operator()
            .to_audit();
        assert_eq!(e.subject.as_deref(), Some(OPERATOR));
        assert!(e.arguments.unwrap().get("via").is_none());
    }

    #[test]
    fn failed_login_names_the_user_and_is_an_error() {
        let e = What::LoginFailed {
            username: "alice",
            client_id: "c1",
        }
        .from_ip(Some("192.0.2.7".parse().unwrap()))
        .to_audit();
        assert_eq!(e.kind, AuditKind::Auth);
        assert!(e.is_error);
        assert_eq!(e.subject, None);
        assert_eq!(e.client.as_deref(), Some("c1"));
        assert_eq!(e.source_ip, Some("192.0.2.7".parse().unwrap()));
        let args = e.arguments.unwrap();
        assert_eq!(args["event"], "login_failed");
        assert_eq!(args["user"], "alice");
    }

    #[test]
    fn service_tokens_have_the_client_as_subject() {
        let e = What::TokenIssued {
            grant_type: "client_credentials",
            client_id: "svc",
            user_id: None,
            scopes: "tools:read",
            refresh: false,
        }
        .from_ip(None)
        .to_audit();
        assert_eq!(e.subject.as_deref(), Some("client:svc"));
        assert!(!e.is_error);
        assert_eq!(e.arguments.unwrap()["grant_type"], "client_credentials");
    }
}
