//! `mcp-connector serve`

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use super::ConfigArgs;
use crate::app::{AppState, serve};

pub(super) fn run(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    crate::telemetry::init(config.log_format);
    super::runtime()?.block_on(async move {
        let listen = config.listen;
        let url = config.mcp_url();
        let state = AppState::build(config).await.context("starting the connector")?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let bound = listener.local_addr()?;
        tracing::info!(%bound, endpoint = %url, backend = ?state.db.backend(), sessions = state.config.sessions, "mcp-connector listening");
        let shutdown = CancellationToken::new();
        tokio::spawn(wait_for_signal(shutdown.clone()));
        serve(listener, state, shutdown).await.context("serving")?;
        tracing::info!("mcp-connector stopped");
        Ok(())
    })
}

/// Cancel `shutdown` on SIGTERM or Ctrl-C.
async fn wait_for_signal(shutdown: CancellationToken) {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown requested; finishing in-flight calls");
    shutdown.cancel();
}
