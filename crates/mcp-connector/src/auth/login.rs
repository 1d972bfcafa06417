//! Password checks for the login page and their throttling.
//!
//! Failed logins are counted per user name and per client address over a
//! sliding minute; at the limit further attempts are refused before any
//! password is checked (argon2 is deliberately expensive, so an unthrottled
//! login form is also a CPU exhaustion vector). Counting failures only
//! means a user who knows their password is never locked out by their own
//! successful logins. The counters are per process: with several replicas
//! the effective limit is multiplied by their number, which is acceptable
//! for an online-guessing brake.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mcp_connector_security::SecretString;
use mcp_connector_security::password::{verify_nobody, verify_password};

use super::Auth;
use crate::store::StoreError;
use crate::store::oauth::User;

const WINDOW: Duration = Duration::from_secs(60);
/// Above this many tracked keys, stale ones are swept on the next failure.
const SWEEP_ABOVE: usize = 10_000;

/// Counts failed logins per user name and per address.
pub struct LoginLimiter {
    per_minute: u32,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimiter")
            .field("per_minute", &self.per_minute)
            .finish_non_exhaustive()
    }
}

fn keys(username: &str, ip: Option<IpAddr>) -> Vec<String> {
    // User names compare case-insensitively here so that `Alice` and
    // `alice` share one budget whatever the store's collation does.
    let mut k = vec![format!("u:{}", username.to_lowercase())];
    if let Some(ip) = ip {
        k.push(format!("ip:{ip}"));
    }
    k
}

impl LoginLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds until a slot frees)` when `username` or `ip` used up
    /// its failures for the last minute.
    pub fn check(&self, username: &str, ip: Option<IpAddr>) -> Result<(), u64> {
        self.check_at(username, ip, Instant::now())
    }

    fn check_at(&self, username: &str, ip: Option<IpAddr>, now: Instant) -> Result<(), u64> {
        let Ok(mut map) = self.failures.lock() else {
            // A poisoned lock means a panic elsewhere; fail closed.
            return Err(WINDOW.as_secs());
        };
        let mut wait = None;
        for key in keys(username, ip) {
            if let Some(q) = map.get_mut(&key) {
                while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
                    q.pop_front();
                }
                if q.len() >= self.per_minute as usize
                    && let Some(oldest) = q.front()
                {
                    let left = WINDOW.saturating_sub(now.duration_since(*oldest));
                    let secs = left.as_secs().max(1);
                    wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
                }
            }
        }
        wait.map_or(Ok(()), Err)
    }

    /// Count a failed login.
    pub fn failed(&self, username: &str, ip: Option<IpAddr>) {
        self.failed_at(username, ip, Instant::now());
    }

    fn failed_at(&self, username: &str, ip: Option<IpAddr>, now: Instant) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        for key in keys(username, ip) {
            let q = map.entry(key).or_default();
            q.push_back(now);
            // Never more than the limit is needed to decide.
            while q.len() > self.per_minute as usize {
                q.pop_front();
            }
        }
    }
}

/// Check `password` for `username`. `Ok(None)` for an unknown user, a
/// wrong password and a disabled account alike (the caller shows one
/// message for all three); the argon2 work is done in every case so the
/// response time does not tell them apart.
pub async fn verify(
    auth: &Auth,
    username: &str,
    password: SecretString,
) -> Result<Option<User>, StoreError> {
    let user = if username.is_empty() || username.len() > 256 {
        None
    } else {
        auth.db.user_by_name(username).await?
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_password(&h, &password),
        None => {
            verify_nobody(&password);
            false
        }
    })
    .await
    .unwrap_or(false);
    Ok(user.filter(|u| ok && !u.disabled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_user_and_per_address() {
        let l = LoginLimiter::new(2);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(l.check_at("alice", Some(a), t0).is_ok());
        l.failed_at("alice", Some(a), t0);
        l.failed_at("Alice", Some(b), t0);
        // alice is out of attempts from any address...
        assert!(l.check_at("alice", Some(b), t0).is_err());
        // ...bob from address a is not (one failure there).
        assert!(l.check_at("bob", Some(a), t0).is_ok());
        l.failed_at("bob", Some(a), t0);
        // Now address a is out of attempts for anyone.
        assert!(l.check_at("carol", Some(a), t0).is_err());
        // A minute later all is forgotten.
        let later = t0 + WINDOW + Duration::from_secs(1);
        assert!(l.check_at("alice", Some(a), later).is_ok());
    }
}
