//! Password checks for the login page and their throttling.
//!
//! Failed logins are limited per (user name, address) and per address over
//! a minute, plus a slower backoff per user name across all addresses:
//!
//! * An attempt is *reserved* before its password is checked and counts as
//!   a failure unless it succeeds, so parallel guesses cannot all pass the
//!   check before any of them is counted (the limit holds under
//!   concurrency, not just in sequence).
//! * The per-(name, address) limit stops guessing one account from one
//!   place; the per-address limit stops spraying many names from one place.
//!   Neither can lock a user out from elsewhere: an attacker's failures at
//!   their address do not count against the user's own address.
//! * Guessing one name from many addresses meets the per-name backoff: once
//!   a name has many recent failures, every attempt on it waits a little
//!   before its password is checked. It slows a distributed guesser and
//!   never refuses the user.
//!
//! A successful login gives its reservation back, so a user who knows their
//! password is never throttled by their own logins. The counters are per
//! process: with several replicas the effective limit is multiplied by
//! their number, which is acceptable for an online-guessing brake. argon2's
//! cost is bounded separately (see [`super::hashing`]).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use mcp_connector_security::SecretString;

use super::Auth;
use super::hashing::HashError;
use super::throttle::Budget;
use crate::store::StoreError;
use crate::store::oauth::{User, UserSource};

const WINDOW: Duration = Duration::from_secs(60);
/// The window of the per-name backoff.
const NAME_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Limits failed logins; see the module documentation.
#[derive(Debug)]
pub struct LoginLimiter {
    per_minute: u32,
    pairs: Budget<(String, Option<IpAddr>)>,
    addresses: Budget<IpAddr>,
    names: Budget<String>,
}

/// A reserved login attempt: counted as a failure unless
/// [`Attempt::succeeded`] is called.
#[must_use = "an attempt that is dropped counts as a failure"]
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    name: String,
    ip: Option<IpAddr>,
}

impl Attempt<'_> {
    /// The password was right: the attempt does not count.
    pub fn succeeded(self) {
        let l = self.limiter;
        l.pairs.refund(&(self.name.clone(), self.ip));
        if let Some(ip) = self.ip {
            l.addresses.refund(&ip);
        }
        l.names.refund(&self.name);
    }
}

/// User names compare case-insensitively here so that `Alice` and `alice`
/// share one budget whatever the store's collation does.
fn fold(username: &str) -> String {
    username.to_lowercase()
}

impl LoginLimiter {
    pub fn new(per_minute: u32) -> Self {
        let per_minute = per_minute.max(1);
        Self {
            per_minute,
            pairs: Budget::new(per_minute, WINDOW),
            addresses: Budget::new(per_minute, WINDOW),
            // Never refuses (the limit is out of reach): it only counts.
            names: Budget::new(u32::MAX, NAME_WINDOW),
        }
    }

    /// Reserve one attempt for `username` from `ip`, or `Err(seconds until
    /// a slot frees)` when that pair or that address used up its failures.
    pub fn reserve(&self, username: &str, ip: Option<IpAddr>) -> Result<Attempt<'_>, u64> {
        self.reserve_at(username, ip, Instant::now())
    }

    fn reserve_at(
        &self,
        username: &str,
        ip: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt<'_>, u64> {
        let name = fold(username);
        let pair = (name.clone(), ip);
        self.pairs.take(&pair, now)?;
        if let Some(ip) = ip
            && let Err(wait) = self.addresses.take(&ip, now)
        {
            self.pairs.refund(&pair);
            return Err(wait);
        }
        let _ = self.names.take(&name, now);
        Ok(Attempt {
            limiter: self,
            name,
            ip,
        })
    }

    /// How long an attempt on `username` waits before its password is
    /// checked: nothing normally, seconds once the name has had many
    /// failures from anywhere in the last quarter hour.
    pub fn backoff(&self, username: &str) -> Duration {
        self.backoff_at(username, Instant::now())
    }

    fn backoff_at(&self, username: &str, now: Instant) -> Duration {
        let recent = self.names.count(&fold(username), now);
        if recent >= self.per_minute.saturating_mul(10) {
            Duration::from_secs(3)
        } else if recent >= self.per_minute.saturating_mul(3) {
            Duration::from_secs(1)
        } else {
            Duration::ZERO
        }
    }
}

/// The outcome of a password check.
#[derive(Debug)]
pub enum Verified {
    /// The right password of an enabled local account.
    Ok(User),
    /// The right password of a disabled account: the person proved who
    /// they are, so they are told why they cannot sign in.
    Disabled(User),
    /// An unknown user, a wrong password, or an account without a password
    /// here (signs in with the identity provider): one answer for all.
    Refused,
}

/// Check `password` for `username`. The argon2 work is done in every case
/// (unknown users included) so the response time does not tell an unknown
/// user from a wrong password.
pub async fn verify(
    auth: &Auth,
    username: &str,
    password: SecretString,
) -> Result<Verified, VerifyError> {
    let user = if username.is_empty() || username.len() > 256 {
        None
    } else {
        auth.db.user_by_name(username).await?
    };
    // Upstream accounts have no password here: checked like an unknown user.
    let user = user.filter(|u| u.source == UserSource::Local);
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let ok = auth.hasher.verify(hash, password).await?;
    Ok(match user {
        Some(u) if ok && u.disabled => Verified::Disabled(u),
        Some(u) if ok => Verified::Ok(u),
        _ => Verified::Refused,
    })
}

/// Why a password could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Too many checks are running or queued: 503, try again.
    #[error(transparent)]
    Busy(#[from] HashError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_name_and_address_pair_and_per_address() {
        let l = LoginLimiter::new(2);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let c: IpAddr = "192.0.2.3".parse().unwrap();
        drop(l.reserve_at("alice", Some(a), t0).unwrap());
        drop(l.reserve_at("Alice", Some(a), t0).unwrap());
        // alice is out of attempts from a...
        assert!(l.reserve_at("alice", Some(a), t0).is_err());
        // ...but not from b: an attacker at a cannot lock her out.
        l.reserve_at("alice", Some(b), t0).unwrap().succeeded();
        // Address a is out of attempts for anyone (spraying names).
        assert!(l.reserve_at("carol", Some(a), t0).is_err());
        // A success gives its reservation back.
        for _ in 0..3 {
            l.reserve_at("bob", Some(c), t0).unwrap().succeeded();
        }
        // A minute later all is forgotten.
        let later = t0 + WINDOW + Duration::from_secs(1);
        assert!(l.reserve_at("alice", Some(a), later).is_ok());
    }

    #[test]
    fn reservations_hold_under_concurrency() {
        let l = std::sync::Arc::new(LoginLimiter::new(10));
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let admitted: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..60)
                .map(|_| {
                    let l = l.clone();
                    s.spawn(move || match l.reserve("alice", Some(ip)) {
                        // Held while the (slow) password check would run.
                        Ok(attempt) => {
                            std::thread::sleep(Duration::from_millis(20));
                            drop(attempt);
                            1
                        }
                        Err(_) => 0,
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        assert_eq!(admitted, 10);
    }

    #[test]
    fn many_failures_on_a_name_slow_it_down_without_refusing() {
        let l = LoginLimiter::new(2);
        let t0 = Instant::now();
        for i in 0..20u8 {
            let ip = IpAddr::from([198, 51, 100, i]);
            drop(l.reserve_at("alice", Some(ip), t0).unwrap());
        }
        assert_eq!(l.backoff_at("alice", t0), Duration::from_secs(3));
        assert_eq!(l.backoff_at("bob", t0), Duration::ZERO);
        // The user at a fresh address still gets in, after the wait.
        let home = IpAddr::from([203, 0, 113, 7]);
        assert!(l.reserve_at("alice", Some(home), t0).is_ok());
    }
}
