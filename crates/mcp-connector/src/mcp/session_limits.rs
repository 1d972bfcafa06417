//! Bounds on stateful sessions (`--sessions`): how many at once, and how old.
//!
//! Idle time is rmcp's own `SessionConfig::keep_alive` (its worker quits and
//! the session leaves `LocalSessionManager::sessions`). rmcp has no cap and
//! no lifetime, so this module adds them around the endpoint:
//!
//! * the cap counts the sessions in rmcp's map plus `initialize` requests in
//!   flight, and refuses a new `initialize` with 503 and `Retry-After` when
//!   full (503, not 429: the server is full, the caller did nothing wrong);
//! * the lifetime is measured from when this process first saw the session
//!   (its `initialize`, or its first request after a restore from the
//!   database); an older session is closed, removed from the store, and the
//!   request answered 404, which tells the client to initialize anew.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::transport::streamable_http_server::SessionManager as _;
use rmcp::transport::streamable_http_server::session::SessionStore;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

/// Seconds a client refused for a full server is asked to wait.
const FULL_RETRY_AFTER_SECS: u64 = 30;

/// The session bounds of one endpoint.
pub struct SessionLimits {
    manager: Arc<LocalSessionManager>,
    store: Option<Arc<dyn SessionStore>>,
    max_sessions: usize,
    max_lifetime: Duration,
    /// Serialises the cap check, so two `initialize`s cannot both take
    /// the last place.
    gate: tokio::sync::Mutex<()>,
    /// `initialize` requests admitted whose session is not in rmcp's map yet.
    pending: AtomicUsize,
    /// First sight of each session id.
    born: Mutex<HashMap<String, Instant>>,
}

/// A reserved place for a session being initialized; frees it on drop.
pub struct Reservation<'a> {
    limits: &'a SessionLimits,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.limits.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

impl SessionLimits {
    pub fn new(
        manager: Arc<LocalSessionManager>,
        store: Option<Arc<dyn SessionStore>>,
        max_sessions: usize,
        max_lifetime: Duration,
    ) -> Self {
        Self {
            manager,
            store,
            max_sessions,
            max_lifetime,
            gate: tokio::sync::Mutex::new(()),
            pending: AtomicUsize::new(0),
            born: Mutex::new(HashMap::new()),
        }
    }

    /// Sessions open now.
    pub async fn open(&self) -> usize {
        self.manager.sessions.read().await.len()
    }

    /// [`Self::open`] without waiting (for the metrics at scrape time);
    /// `None` while the session map is being written.
    pub fn open_now(&self) -> Option<usize> {
        self.manager.sessions.try_read().ok().map(|m| m.len())
    }

    /// Reserve a place for a new session, or the `Retry-After` seconds.
    pub async fn reserve(&self) -> Result<Reservation<'_>, u64> {
        let _gate = self.gate.lock().await;
        let open = self.open().await + self.pending.load(Ordering::Acquire);
        if open >= self.max_sessions {
            return Err(FULL_RETRY_AFTER_SECS);
        }
        self.pending.fetch_add(1, Ordering::AcqRel);
        Ok(Reservation { limits: self })
    }

    /// Whether session `id` is live here or restorable from the store.
    pub async fn exists(&self, id: &str) -> bool {
        let sid = id.to_owned().into();
        if self.manager.has_session(&sid).await.unwrap_or(false) {
            return true;
        }
        match &self.store {
            Some(store) => matches!(store.load(id).await, Ok(Some(_))),
            None => false,
        }
    }

    /// Note a session id the server handed out or was asked about.
    pub async fn touch(&self, id: &str) -> Freshness {
        let now = Instant::now();
        let born = {
            let mut born = self.born.lock().unwrap_or_else(|e| e.into_inner());
            *born.entry(id.to_owned()).or_insert(now)
        };
        if now.duration_since(born) < self.max_lifetime {
            return Freshness::Fresh;
        }
        self.end(id).await;
        Freshness::Expired
    }

    /// Forget `id` (closed by the client or expired), and prune ids rmcp no
    /// longer holds so the map stays bounded by the number of live sessions.
    pub async fn forget(&self, id: &str) {
        let live: Vec<String> = {
            let sessions = self.manager.sessions.read().await;
            sessions.keys().map(|k| k.to_string()).collect()
        };
        let mut born = self.born.lock().unwrap_or_else(|e| e.into_inner());
        born.remove(id);
        if born.len() > 2 * live.len() + 16 {
            let live: std::collections::HashSet<String> = live.into_iter().collect();
            born.retain(|k, _| live.contains(k));
        }
    }

    async fn end(&self, id: &str) {
        tracing::info!(
            session = id,
            "session reached its maximum lifetime; closing"
        );
        let sid = id.to_owned().into();
        if let Err(e) = self.manager.close_session(&sid).await {
            tracing::warn!(session = id, error = %e, "closing an expired session");
        }
        if let Some(store) = &self.store
            && let Err(e) = store.delete(id).await
        {
            tracing::warn!(session = id, error = %e, "removing an expired session from the store");
        }
        self.forget(id).await;
    }
}

/// Whether a session may still be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    Expired,
}
