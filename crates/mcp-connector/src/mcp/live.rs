//! The served tool set, swappable at run time (config reload).
//!
//! Requests take a snapshot ([`Live::load`]) and use it to the end, so a
//! reload never changes the tools under a call in flight. Sessions that
//! listen are told through [`Live::subscribe`] and send
//! `notifications/tools/list_changed`.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::broadcast;

use super::guard::ToolPolicy;
use crate::catalog::Catalog;

/// What is served right now: the catalog and the policy over its tools.
pub struct Served {
    pub catalog: Arc<dyn Catalog>,
    pub policy: ToolPolicy,
}

/// The snapshot a request was decided with at the transport (scope check,
/// tool lookup), carried in the HTTP request's extensions to the handler so
/// that one request sees one snapshot and loads it once.
#[derive(Clone)]
pub struct Decided(pub Arc<Served>);

/// The current [`Served`]. Cheap to clone.
#[derive(Clone)]
pub struct Live {
    current: Arc<ArcSwap<Served>>,
    changed: broadcast::Sender<()>,
}

impl Live {
    pub fn new(served: Served) -> Self {
        let (changed, _) = broadcast::channel(4);
        Self {
            current: Arc::new(ArcSwap::from_pointee(served)),
            changed,
        }
    }

    /// A snapshot of what is served.
    pub fn load(&self) -> Arc<Served> {
        self.current.load_full()
    }

    /// Serve `served` from now on and tell listening sessions.
    pub fn replace(&self, served: Served) {
        self.current.store(Arc::new(served));
        // No receiver (no listening session) is not an error.
        let _ = self.changed.send(());
    }

    /// Notified after each [`Live::replace`].
    pub fn subscribe(&self) -> broadcast::Receiver<()> {
        self.changed.subscribe()
    }
}
