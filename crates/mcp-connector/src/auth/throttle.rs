//! Counting budgets per key (an address, a user name) over a fixed window,
//! for the brakes in front of authentication: registrations per address,
//! failed authentications per address.
//!
//! A fixed window is coarse (up to twice the budget across a window edge)
//! but needs one counter per key, and these budgets are brakes against
//! floods, not exact quotas. Memory is bounded: at most `max_keys` keys are
//! tracked; when the table is full of live windows, new keys are refused
//! (fail closed) rather than evicting someone's count.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked before new ones are refused.
pub const MAX_KEYS: usize = 100_000;

/// `limit` events per key per `window`.
pub struct Budget<K> {
    limit: u32,
    window: Duration,
    max_keys: usize,
    table: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K> std::fmt::Debug for Budget<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("limit", &self.limit)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone> Budget<K> {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self::with_max_keys(limit, window, MAX_KEYS)
    }

    pub fn with_max_keys(limit: u32, window: Duration, max_keys: usize) -> Self {
        Self {
            limit: limit.max(1),
            window,
            max_keys,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds until the window ends)` when `key` has used its budget.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), u64> {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        match table.get(key) {
            Some((start, n)) if now.duration_since(*start) < self.window && *n >= self.limit => {
                Err(self.wait(*start, now))
            }
            _ => Ok(()),
        }
    }

    /// Count one event of `key`, refusing it when the budget is used up:
    /// check and count in one step, so that concurrent callers cannot all
    /// pass a check before any of them counts.
    pub fn take(&self, key: &K, now: Instant) -> Result<(), u64> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if !table.contains_key(key) && table.len() >= self.max_keys {
            let window = self.window;
            table.retain(|_, (start, _)| now.duration_since(*start) < window);
            if table.len() >= self.max_keys {
                return Err(self.window.as_secs().max(1));
            }
        }
        let entry = table.entry(key.clone()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let start = entry.0;
            return Err(self.wait(start, now));
        }
        entry.1 += 1;
        Ok(())
    }

    /// Give back one event of `key` (a reserved attempt that succeeded).
    pub fn refund(&self, key: &K) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = table.get_mut(key) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }

    /// Events of `key` in its current window.
    pub fn count(&self, key: &K, now: Instant) -> u32 {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        match table.get(key) {
            Some((start, n)) if now.duration_since(*start) < self.window => *n,
            _ => 0,
        }
    }

    fn wait(&self, start: Instant, now: Instant) -> u64 {
        let left = self.window.saturating_sub(now.duration_since(start));
        left.as_secs() + u64::from(left.subsec_nanos() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_counts_and_refuses_and_resets() {
        let b = Budget::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(b.take(&"a", t0).is_ok());
        assert!(b.take(&"a", t0).is_ok());
        assert_eq!(b.take(&"a", t0), Err(60));
        assert!(b.check(&"a", t0).is_err());
        assert!(b.take(&"b", t0).is_ok(), "keys are independent");
        b.refund(&"a");
        assert!(b.take(&"a", t0).is_ok(), "a refund frees one event");
        let later = t0 + Duration::from_secs(61);
        assert!(b.check(&"a", later).is_ok());
        assert!(b.take(&"a", later).is_ok());
        assert_eq!(b.count(&"a", later), 1);
    }

    #[test]
    fn the_table_is_bounded() {
        let b = Budget::with_max_keys(5, Duration::from_secs(60), 2);
        let t0 = Instant::now();
        assert!(b.take(&1, t0).is_ok());
        assert!(b.take(&2, t0).is_ok());
        assert!(b.take(&3, t0).is_err(), "full of live windows: refused");
        assert!(b.take(&3, t0 + Duration::from_secs(61)).is_ok());
    }
}
