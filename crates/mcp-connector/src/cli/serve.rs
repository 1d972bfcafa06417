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
        // Read once, before anything starts: a bad file stops start-up.
        let tls = config.tls.as_ref().map(crate::http::tls::load).transpose()?;
        let state = AppState::build(config).await.context("starting the connector")?;
        crate::drift::on_start(&state).await.context("checking the tools against safety.tools_lock")?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let bound = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        install_signal_handlers(shutdown.clone()).context("installing signal handlers")?;
        tracing::info!(%bound, endpoint = %url, backend = ?state.db.backend(), sessions = state.config.sessions, "mcp-connector listening");
        if !bound.ip().is_loopback() {
            // No authentication exists yet: say so loudly rather than silently
            // exposing the tools.
            tracing::warn!(%bound, "listening beyond loopback without authentication: expose this only behind network controls");
        }
        match tls {
            Some(tls) => {
                tracing::info!("terminating TLS (server.tls)");
                crate::app::serve_tls(listener, tls, state, shutdown).await
            }
            None => serve(listener, state, shutdown).await,
        }
        .context("serving")?;
        tracing::info!("mcp-connector stopped");
        Ok(())
    })
}

/// Cancel `shutdown` on SIGTERM or Ctrl-C. The handlers are registered
/// before this returns, so a signal sent once the server says it is listening
/// is never lost to the default disposition (which would kill the process).
#[cfg(unix)]
fn install_signal_handlers(shutdown: CancellationToken) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutdown requested; finishing in-flight calls");
        shutdown.cancel();
    });
    Ok(())
}

#[cfg(not(unix))]
fn install_signal_handlers(shutdown: CancellationToken) -> std::io::Result<()> {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("shutdown requested; finishing in-flight calls");
            shutdown.cancel();
        }
    });
    Ok(())
}
