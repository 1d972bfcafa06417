//! Structured logging with `tracing` (`RUST_LOG` overrides the default
//! filter) and the Prometheus metrics ([`metrics`]).

pub mod gauges;
pub mod metrics;

pub use metrics::Metrics;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the global subscriber. Logs go to stderr so that commands whose
/// output is data (`tools list`) keep stdout clean.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,rmcp=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // A second init (tests starting several servers) is not an error.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
