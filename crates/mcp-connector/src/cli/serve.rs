//! `mcp-connector serve`

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use super::ServeArgs;
use crate::app::{AppState, serve};

pub(super) fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    config.check_exposure()?;
    crate::telemetry::init(config.log_format);
    super::runtime()?.block_on(async move {
        let listen = config.listen;
        // Read once, before anything starts: a bad file stops start-up.
        let tls = config
            .tls
            .as_ref()
            .map(crate::http::tls::load)
            .transpose()?;
        let state = AppState::build(config)
            .await
            .context("starting the connector")?;
        let live = crate::app::served_lock(&state.mcp.live.load());
        crate::drift::on_start(&state.config.safety, &live, &state.mcp.audit)
            .await
            .context("checking the tools against safety.tools_lock")?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let bound = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let metrics = match state.config.metrics_listen {
            Some(addr) => {
                let l = tokio::net::TcpListener::bind(addr).await.with_context(|| {
                    format!("telemetry.metrics_listen: cannot listen on {addr}")
                })?;
                let at = l.local_addr()?;
                let task = crate::http::metrics::serve(l, state.metrics.clone(), shutdown.clone());
                tokio::spawn(async move {
                    if let Err(e) = task.await {
                        tracing::error!(error = %e, "the metrics listener stopped");
                    }
                });
                Some(at)
            }
            None => None,
        };
        install_signal_handlers(shutdown.clone()).context("installing signal handlers")?;
        install_reload(args.clone(), state.clone(), shutdown.clone())
            .context("installing the SIGHUP handler")?;
        // Warnings (no authentication beyond loopback, …) come with it.
        super::banner::Banner::of(&state, bound, metrics).show();
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

/// Reload the tools on SIGHUP: read the config file again with the same
/// flags and environment, and serve its `[sources]`, `[[tools]]` and
/// `[tools.NAME]`. A config that does not load leaves the served tools as
/// they are. Registered before the server listens, like the other signals:
/// SIGHUP's default disposition would end the process.
#[cfg(unix)]
fn install_reload(
    args: ServeArgs,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                got = hup.recv() => if got.is_none() { return },
            }
            reload(&args, &state).await;
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn install_reload(
    _args: ServeArgs,
    _state: AppState,
    _shutdown: CancellationToken,
) -> std::io::Result<()> {
    Ok(())
}

/// One reload; logs the outcome and what changed (tool names only).
async fn reload(args: &ServeArgs, state: &AppState) {
    tracing::info!("SIGHUP: reloading the tools from the configuration");
    let config = match args.load() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("config reload failed, still serving the previous tools: {e}");
            return;
        }
    };
    let before = served_tools(state);
    if let Err(e) = state.reload_tools(&config).await {
        tracing::error!("config reload failed, still serving the previous tools: {e}");
        return;
    }
    let after = served_tools(state);
    let added: Vec<&str> = after
        .keys()
        .filter(|n| !before.contains_key(*n))
        .map(String::as_str)
        .collect();
    let removed: Vec<&str> = before
        .keys()
        .filter(|n| !after.contains_key(*n))
        .map(String::as_str)
        .collect();
    let changed: Vec<&str> = after
        .iter()
        .filter(|(n, def)| before.get(*n).is_some_and(|old| old != *def))
        .map(|(n, _)| n.as_str())
        .collect();
    tracing::info!(
        tools = after.len(),
        ?added,
        ?removed,
        ?changed,
        "tools reloaded (other settings take effect on restart)"
    );
}

/// The served tools (as `tools/list` shows them, by policy), by name, with
/// their definitions as JSON for comparison.
fn served_tools(state: &AppState) -> std::collections::BTreeMap<String, serde_json::Value> {
    let served = state.mcp.live.load();
    served
        .catalog
        .tools()
        .definitions()
        .filter(|t| served.policy.serves(t))
        .map(|t| {
            (
                t.name.to_string(),
                serde_json::to_value(t).unwrap_or_default(),
            )
        })
        .collect()
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
