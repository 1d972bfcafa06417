//! Liveness and readiness probes.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;

use crate::declared::source::{SourceError, Sources};
use crate::store::Db;

/// How long readiness waits for the database and for each declared source.
/// Probes poll every few seconds: a slow answer is as bad as none.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/readyz` checks: the connector's database and the sources of the
/// tools served right now (after a reload, the new ones).
#[derive(Clone)]
pub struct Readiness {
    pub db: Db,
    /// The declared sources served now, read per probe (the MCP layer
    /// above hands in how: the probes sit below it).
    pub sources: Arc<dyn Fn() -> Option<Sources> + Send + Sync>,
}

/// `/healthz`: the process answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `/readyz`: the database and every declared source answer within two
/// seconds; otherwise 503 naming what is down (never how it is reached).
pub async fn readyz(State(ready): State<Readiness>) -> (StatusCode, String) {
    let sources = (ready.sources)();
    let db = async {
        match tokio::time::timeout(READY_TIMEOUT, ready.db.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness check failed");
                false
            }
            Err(_) => {
                tracing::warn!("readiness check timed out");
                false
            }
        }
    };
    let declared = async {
        match &sources {
            Some(s) => ping_sources(s, READY_TIMEOUT).await,
            None => Vec::new(),
        }
    };
    let (db_ok, pings) = tokio::join!(db, declared);
    if !db_ok {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable\n".into(),
        );
    }
    let down: Vec<String> = pings
        .into_iter()
        .filter_map(|(name, r)| {
            r.err().map(|e| {
                tracing::warn!(source = %name, "readiness: declared source down: {e}");
                format!("`{name}`")
            })
        })
        .collect();
    if down.is_empty() {
        (StatusCode::OK, "ready\n".into())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("source {} unavailable\n", down.join(", ")),
        )
    }
}

/// Ping every source at once, each bounded by `limit`, so that one hung
/// source neither delays nor hides the others. In name order.
pub async fn ping_sources(
    sources: &Sources,
    limit: Duration,
) -> Vec<(String, Result<(), SourceError>)> {
    let checks = sources.names().map(|name| async move {
        let result = match tokio::time::timeout(limit, sources.ping(name)).await {
            Ok(Some(r)) => r,
            Ok(None) => Ok(()),
            Err(_) => Err(SourceError::Timeout {
                source_name: name.to_owned(),
                secs: limit.as_secs().max(1),
            }),
        };
        (name.to_owned(), result)
    });
    futures::future::join_all(checks).await
}
