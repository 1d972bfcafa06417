//! Rate limits per subject and per tool (GCRA, in memory).
//!
//! Each key holds one number, its *theoretical arrival time* (TAT): the
//! instant at which its bucket would be full again. A request is admitted
//! when the TAT is less than `burst - 1` emission intervals ahead of now, and
//! then pushes the TAT one interval further. This is a token bucket without
//! a refill timer, so the hot path is one hash lookup under a short
//! `std::sync::Mutex` (no IO and no `.await` while it is held).
//!
//! Memory is bounded: a key whose TAT has passed is indistinguishable from a
//! key never seen, so such keys are swept out; and at most `max_keys` keys are
//! tracked. When every tracked key is busy and the table is full, new keys
//! are refused (fail closed) rather than evicting someone's live budget.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::rejection::EdgeError;
use crate::config::Rate;
use crate::telemetry::Metrics;
use crate::telemetry::metrics::Limit;

/// Keys tracked per table before new keys are refused.
const MAX_KEYS: usize = 100_000;
/// How often a table is swept of idle keys even when it is not full.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Who a request is attributed to (set by the network and auth layers).
pub use crate::network::Subject;

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// When a retry can succeed, rounded up to whole seconds (at least 1).
    pub retry_after_secs: u64,
}

/// One GCRA table.
struct Gcra<K> {
    /// Time between two admitted requests at the sustained rate.
    interval: Duration,
    /// How far the TAT may run ahead of now: `(burst - 1) * interval`.
    tolerance: Duration,
    max_keys: usize,
    inner: Mutex<Table<K>>,
}

struct Table<K> {
    tats: HashMap<K, Instant>,
    last_sweep: Instant,
}

impl<K: Hash + Eq> Gcra<K> {
    fn new(rate: Rate, max_keys: usize) -> Self {
        let per_request = rate.period / rate.limit.max(1);
        let interval = per_request.max(Duration::from_nanos(1));
        let burst = rate.burst.max(1);
        Self {
            interval,
            tolerance: interval * (burst - 1),
            max_keys,
            inner: Mutex::new(Table {
                tats: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    fn check(&self, key: K, now: Instant) -> Result<(), Limited> {
        // A poisoned lock only means another request panicked mid-update of
        // a plain map of instants; the data is still usable.
        let mut table = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if now.duration_since(table.last_sweep) >= SWEEP_EVERY {
            table.tats.retain(|_, tat| *tat > now);
            table.last_sweep = now;
        }
        if !table.tats.contains_key(&key) && table.tats.len() >= self.max_keys {
            table.tats.retain(|_, tat| *tat > now);
            table.last_sweep = now;
            if table.tats.len() >= self.max_keys {
                return Err(Limited {
                    retry_after_secs: self.interval.as_secs().max(1),
                });
            }
        }
        let tat = table.tats.get(&key).copied().unwrap_or(now).max(now);
        let ahead = tat.duration_since(now);
        if ahead > self.tolerance {
            let wait = ahead - self.tolerance;
            return Err(Limited {
                retry_after_secs: ceil_secs(wait),
            });
        }
        table.tats.insert(key, tat + self.interval);
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map(|t| t.tats.len()).unwrap_or(0)
    }
}

fn ceil_secs(d: Duration) -> u64 {
    let whole = d.as_secs();
    if d.subsec_nanos() > 0 {
        whole + 1
    } else {
        whole.max(1)
    }
}

/// The configured limits, shared by the edge middleware and the endpoint.
pub struct RateLimiter {
    requests: Option<Gcra<Subject>>,
    tool_calls: Option<Gcra<(Subject, Arc<str>)>>,
    /// Per address before authentication, when authentication is on.
    addresses: Option<Gcra<IpAddr>>,
    /// Whether requests can carry an authenticated subject at all; without
    /// authentication the address is the subject.
    authenticated: bool,
}

impl RateLimiter {
    /// `None` when neither limit is on.
    pub fn new(requests: Option<Rate>, tool_calls: Option<Rate>) -> Option<Arc<Self>> {
        Self::with_max_keys(requests, tool_calls, None, false, MAX_KEYS)
    }

    /// Limits for a server with authentication: `requests` per token
    /// subject, `addresses` per address for what comes before it.
    pub fn authenticated(
        requests: Option<Rate>,
        tool_calls: Option<Rate>,
        addresses: Option<Rate>,
    ) -> Option<Arc<Self>> {
        Self::with_max_keys(requests, tool_calls, addresses, true, MAX_KEYS)
    }

    fn with_max_keys(
        requests: Option<Rate>,
        tool_calls: Option<Rate>,
        addresses: Option<Rate>,
        authenticated: bool,
        max_keys: usize,
    ) -> Option<Arc<Self>> {
        if requests.is_none() && tool_calls.is_none() && addresses.is_none() {
            return None;
        }
        Some(Arc::new(Self {
            requests: requests.map(|r| Gcra::new(r, max_keys)),
            tool_calls: tool_calls.map(|r| Gcra::new(r, max_keys)),
            addresses: addresses
                .filter(|_| authenticated)
                .map(|r| Gcra::new(r, max_keys)),
            authenticated,
        }))
    }

    /// Admit one request of `subject`.
    pub fn check_request(&self, subject: &Subject) -> Result<(), Limited> {
        let now = Instant::now();
        match (subject, self.authenticated) {
            (Subject::Client(ip), true) => match &self.addresses {
                Some(g) => g.check(*ip, now),
                None => Ok(()),
            },
            _ => match &self.requests {
                Some(g) => g.check(subject.clone(), now),
                None => Ok(()),
            },
        }
    }

    /// Which limit [`Self::check_request`] applies to `subject`.
    fn limit_of(&self, subject: &Subject) -> Limit {
        match (subject, self.authenticated) {
            (Subject::Client(_), true) => Limit::Addresses,
            _ => Limit::Requests,
        }
    }

    /// Admit one call of `tool` by `subject`.
    pub fn check_tool(&self, subject: &Subject, tool: &str) -> Result<(), Limited> {
        match &self.tool_calls {
            Some(g) => g.check((subject.clone(), Arc::from(tool)), Instant::now()),
            None => Ok(()),
        }
    }
}

/// Edge middleware: the per-subject request limit. Runs after the body
/// limit and before authentication and MCP.
pub async fn enforce(
    State((limiter, metrics)): State<(Arc<RateLimiter>, Metrics)>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(subject) = Subject::of(req.extensions())
        && let Err(limited) = limiter.check_request(&subject)
    {
        metrics.rate_limited(limiter.limit_of(&subject));
        tracing::info!(
            ?subject,
            retry_after = limited.retry_after_secs,
            "request refused: rate limit"
        );
        return EdgeError::RateLimited {
            retry_after_secs: limited.retry_after_secs,
        }
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(limit: u32, period_ms: u64, burst: u32) -> Rate {
        Rate {
            limit,
            period: Duration::from_millis(period_ms),
            burst,
        }
    }

    #[test]
    fn admits_burst_then_refuses_then_recovers() {
        let g = Gcra::new(rate(3, 1000, 3), 10);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(g.check("a", t0).is_ok());
        }
        let refused = g.check("a", t0).unwrap_err();
        assert_eq!(refused.retry_after_secs, 1);
        // Another key has its own budget.
        assert!(g.check("b", t0).is_ok());
        // One interval later, one more request fits.
        let t1 = t0 + Duration::from_millis(334);
        assert!(g.check("a", t1).is_ok());
        assert!(g.check("a", t1).is_err());
    }

    #[test]
    fn table_is_bounded_and_idle_keys_are_evicted() {
        let g = Gcra::new(rate(1, 1000, 1), 2);
        let t0 = Instant::now();
        assert!(g.check(1, t0).is_ok());
        assert!(g.check(2, t0).is_ok());
        // Full of busy keys: a new key is refused.
        assert!(g.check(3, t0).is_err());
        // Once the old keys are idle they are swept and the new key fits.
        let later = t0 + Duration::from_secs(2);
        assert!(g.check(3, later).is_ok());
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn tool_limit_is_per_tool() {
        let l = RateLimiter::new(None, Some(rate(1, 60_000, 1))).unwrap();
        let s = Subject::Client("192.0.2.1".parse().unwrap());
        assert!(l.check_tool(&s, "a").is_ok());
        assert!(l.check_tool(&s, "a").is_err());
        assert!(l.check_tool(&s, "b").is_ok());
        assert!(l.check_request(&s).is_ok());
        assert!(RateLimiter::with_max_keys(None, None, None, false, 1).is_none());
    }
}
