//! Bounded cache of validated access tokens, keyed by the SHA-256 of the
//! token (the token itself is never kept in memory longer than a request).
//!
//! Each entry is fresh until a deadline the caller chooses when inserting:
//! a few seconds for opaque tokens (so that revocation reaches every replica
//! quickly, see [`super::resource`]), up to a minute for JWTs. Unknown or
//! invalid tokens are remembered for about a second ([`NEGATIVE_TTL`]) so that
//! a flood of garbage tokens costs one database query (or signature check)
//! per distinct token per second, not one per request.
//!
//! Memory is bounded: each of the two tables holds at most `capacity`
//! entries. When a table is full, stale entries are dropped first; if it is
//! still full, an arbitrary half is dropped (hash order, which is random per
//! process). Losing a fresh entry only costs a revalidation, so this is
//! simpler and cheaper than tracking recency. Critical sections are short
//! and never await.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::principal::Principal;
use crate::clock::Clock;
#[cfg(test)]
use crate::clock::unix_now;

/// Entries per table unless configured otherwise.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// How long an unknown or invalid token is remembered as such.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(1);

/// SHA-256 of a presented token.
pub type Key = [u8; 32];

struct Entry {
    principal: Principal,
    fresh_until: Instant,
}

#[derive(Default)]
struct Tables {
    valid: HashMap<Key, Entry>,
    invalid: HashMap<Key, Instant>,
}

/// Validated tokens and recently refused ones.
pub struct TokenCache {
    capacity: usize,
    tables: Mutex<Tables>,
    clock: Clock,
}

/// What the cache knows about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Validated recently; still fresh.
    Valid(Principal),
    /// Refused less than [`NEGATIVE_TTL`] ago.
    Invalid,
    /// Not known (or no longer fresh): validate it.
    Miss,
}

impl TokenCache {
    pub fn new(capacity: usize) -> Self {
        Self::with_clock(capacity, Clock::system())
    }

    /// A cache that checks the tokens' own expiry by `clock`.
    pub fn with_clock(capacity: usize, clock: Clock) -> Self {
        Self {
            capacity: capacity.max(2),
            tables: Mutex::new(Tables::default()),
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A poisoned lock means a panic elsewhere mid-update of plain maps;
        // the worst case is a stale entry, which expires on its own.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Look `key` up at `now`.
    pub fn get(&self, key: &Key, now: Instant) -> Lookup {
        let mut t = self.lock();
        if let Some(e) = t.valid.get(key) {
            // The token's own expiry wins over the freshness deadline.
            if now < e.fresh_until && e.principal.expires_at > self.clock.unix_now() {
                return Lookup::Valid(e.principal.clone());
            }
            t.valid.remove(key);
        }
        match t.invalid.get(key) {
            Some(until) if now < *until => Lookup::Invalid,
            Some(_) => {
                t.invalid.remove(key);
                Lookup::Miss
            }
            None => Lookup::Miss,
        }
    }

    /// Remember `principal` for `key` until `now + fresh_for`.
    pub fn insert(&self, key: Key, principal: Principal, now: Instant, fresh_for: Duration) {
        let mut t = self.lock();
        t.invalid.remove(&key);
        if !t.valid.contains_key(&key) && t.valid.len() >= self.capacity {
            t.valid.retain(|_, e| e.fresh_until > now);
            halve(&mut t.valid, self.capacity);
        }
        t.valid.insert(
            key,
            Entry {
                principal,
                fresh_until: now + fresh_for,
            },
        );
    }

    /// Remember that `key` was refused.
    pub fn insert_invalid(&self, key: Key, now: Instant) {
        let mut t = self.lock();
        t.valid.remove(&key);
        if !t.invalid.contains_key(&key) && t.invalid.len() >= self.capacity {
            t.invalid.retain(|_, until| *until > now);
            halve(&mut t.invalid, self.capacity);
        }
        t.invalid.insert(key, now + NEGATIVE_TTL);
    }

    /// Forget `key` (for example after a revocation seen by this replica).
    pub fn remove(&self, key: &Key) {
        let mut t = self.lock();
        t.valid.remove(key);
        t.invalid.remove(key);
    }

    /// Forget every validated token whose principal matches `which` (a
    /// revoked client, a disabled user): this replica stops accepting them
    /// at once; other replicas follow at their next revalidation. The
    /// number forgotten.
    pub fn forget_where(&self, which: impl Fn(&Principal) -> bool) -> usize {
        let mut t = self.lock();
        let before = t.valid.len();
        t.valid.retain(|_, e| !which(&e.principal));
        before - t.valid.len()
    }

    /// Number of (valid, invalid) entries, fresh or not.
    pub fn len(&self) -> (usize, usize) {
        let t = self.lock();
        (t.valid.len(), t.invalid.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

/// If `map` is still at `capacity`, drop an arbitrary half of it.
fn halve<V>(map: &mut HashMap<Key, V>, capacity: usize) {
    if map.len() < capacity {
        return;
    }
    let drop: Vec<Key> = map.keys().take(map.len() / 2).copied().collect();
    for k in drop {
        map.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::auth::ScopeSet;

    fn principal(expires_at: i64) -> Principal {
        Principal {
            subject: Arc::from("user:1"),
            user_id: Some("1".into()),
            username: None,
            email: None,
            client_id: Arc::from("c"),
            scopes: ScopeSet::parse("a"),
            ceiling: ScopeSet::parse("a b"),
            expires_at,
        }
    }

    fn key(n: u32) -> Key {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&n.to_be_bytes());
        k
    }

    #[test]
    fn hit_until_fresh_deadline() {
        let c = TokenCache::new(10);
        let now = Instant::now();
        let p = principal(unix_now() + 3600);
        assert_eq!(c.get(&key(1), now), Lookup::Miss);
        c.insert(key(1), p.clone(), now, Duration::from_secs(4));
        assert_eq!(
            c.get(&key(1), now + Duration::from_secs(3)),
            Lookup::Valid(p)
        );
        assert_eq!(c.get(&key(1), now + Duration::from_secs(4)), Lookup::Miss);
        // The stale entry is gone.
        assert_eq!(c.len(), (0, 0));
    }

    #[test]
    fn expired_token_is_a_miss_even_when_fresh() {
        let c = TokenCache::new(10);
        let now = Instant::now();
        c.insert(
            key(1),
            principal(unix_now() - 1),
            now,
            Duration::from_secs(60),
        );
        assert_eq!(c.get(&key(1), now), Lookup::Miss);
    }

    #[test]
    fn negative_entries_last_about_a_second() {
        let c = TokenCache::new(10);
        let now = Instant::now();
        c.insert_invalid(key(7), now);
        assert_eq!(c.get(&key(7), now), Lookup::Invalid);
        assert_eq!(c.get(&key(7), now + NEGATIVE_TTL), Lookup::Miss);
        assert!(c.is_empty());
    }

    #[test]
    fn valid_insert_clears_negative_entry() {
        let c = TokenCache::new(10);
        let now = Instant::now();
        c.insert_invalid(key(1), now);
        let p = principal(unix_now() + 60);
        c.insert(key(1), p.clone(), now, Duration::from_secs(4));
        assert_eq!(c.get(&key(1), now), Lookup::Valid(p));
        c.remove(&key(1));
        assert_eq!(c.get(&key(1), now), Lookup::Miss);
    }

    #[test]
    fn forget_where_drops_only_matching_principals() {
        let c = TokenCache::new(10);
        let now = Instant::now();
        let p = principal(unix_now() + 3600);
        let mut other = p.clone();
        other.client_id = Arc::from("d");
        c.insert(key(1), p.clone(), now, Duration::from_secs(4));
        c.insert(key(2), other.clone(), now, Duration::from_secs(4));
        assert_eq!(c.forget_where(|q| &*q.client_id == "c"), 1);
        assert_eq!(c.get(&key(1), now), Lookup::Miss);
        assert_eq!(c.get(&key(2), now), Lookup::Valid(other));
        assert_eq!(c.forget_where(|q| q.user_id.as_deref() == Some("1")), 1);
        assert_eq!(c.len(), (0, 0));
    }

    #[test]
    fn bounded_and_evicts_stale_first() {
        let c = TokenCache::new(4);
        let now = Instant::now();
        let p = principal(unix_now() + 3600);
        c.insert(key(1), p.clone(), now, Duration::from_secs(1));
        for n in 2..=4 {
            c.insert(key(n), p.clone(), now, Duration::from_secs(100));
        }
        assert_eq!(c.len().0, 4);
        // Key 1 is stale at this point: it alone goes.
        let later = now + Duration::from_secs(2);
        c.insert(key(5), p.clone(), later, Duration::from_secs(100));
        assert_eq!(c.len().0, 4);
        for n in 2..=5 {
            assert_eq!(c.get(&key(n), later), Lookup::Valid(p.clone()));
        }
        // Everything fresh: half goes, and the table never exceeds capacity.
        c.insert(key(6), p.clone(), later, Duration::from_secs(100));
        assert!(c.len().0 <= 4);
        assert_eq!(c.get(&key(6), later), Lookup::Valid(p));
        for n in 0..1000 {
            c.insert_invalid(key(100 + n), later);
            assert!(c.len().1 <= 4);
        }
    }
}
