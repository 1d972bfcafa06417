//! `mcp-connector check-config`

use std::time::Duration;

use clap::Args;

use super::ServeArgs;
use crate::declared::Declared;
use crate::declared::source::{SourceError, Sources};
use crate::declared::spec::{Action, SourceKind};

/// How long `--connect` waits for each source.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `check-config`
#[derive(Debug, Clone, Args)]
pub(super) struct CheckArgs {
    #[command(flatten)]
    config: ServeArgs,
    /// Also connect to every `[sources.NAME]` (one round trip each); exit 1
    /// if any does not answer.
    #[arg(long)]
    connect: bool,
}

pub(super) fn run(args: &CheckArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    if let Some(files) = &config.tls {
        crate::http::tls::load(files)?;
    }
    let serving = match (&config.declared, config.demo) {
        (Some(d), _) => format!(
            "{} declared tool{}",
            d.tools.len(),
            if d.tools.len() == 1 { "" } else { "s" }
        ),
        (None, crate::config::Demo::Company) => "company demo".to_owned(),
        (None, crate::config::Demo::Conformance) => "conformance fixtures".to_owned(),
    };
    println!(
        "configuration ok: {serving} on {} ({}, {})",
        config.mcp_url(),
        if config.sessions {
            "stateful sessions"
        } else {
            "stateless"
        },
        crate::store::Backend::of_url(&config.database_url)
            .map(|b| format!("{b:?}").to_lowercase())
            .unwrap_or_default(),
    );
    // After the summary: what `serve` refuses at start-up on top of loading.
    config.check_exposure()?;
    let Some(declared) = &config.declared else {
        if args.connect {
            println!("no [sources] declared: nothing to connect to");
        }
        return Ok(());
    };
    print_declared(declared);
    if args.connect {
        connect(declared)?;
    }
    Ok(())
}

/// The sources (engine and address, never credentials) and the tools.
fn print_declared(declared: &Declared) {
    println!("sources:");
    for (name, spec) in &declared.sources {
        match &spec.kind {
            SourceKind::Sql(s) => println!("  {name}: {} {}", s.engine.as_str(), s.display),
            // Validation refuses credentials and queries in an HTTP base URL.
            SourceKind::Http(h) => println!("  {name}: http {}", h.base_url),
        }
    }
    println!("tools:");
    for tool in &declared.tools {
        let kind = match tool.action {
            Action::Sql(_) => "sql",
            Action::Http(_) => "http",
        };
        let access = match (tool.read_only, tool.destructive) {
            (true, _) => "read-only",
            (false, true) => "writes, destructive",
            (false, false) => "writes",
        };
        println!(
            "  {}: {kind} on {}, {access}, {} parameter{}",
            tool.name,
            tool.source,
            tool.params.len(),
            if tool.params.len() == 1 { "" } else { "s" }
        );
    }
}

/// Open every source and ping it; an error naming those that failed.
fn connect(declared: &Declared) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        let sources = Sources::open(&declared.sources)?;
        let results = crate::http::health::ping_sources(&sources, CONNECT_TIMEOUT).await;
        let mut failed = Vec::new();
        for (name, result) in results {
            match result {
                Ok(()) => println!("source {name}: ok"),
                Err(e) => {
                    // SourceError messages never hold credentials, nor a
                    // SQLite file's path (they reach MCP clients too); the
                    // operator gets the path here.
                    let file = match declared.sources.get(&name).map(|s| &s.kind) {
                        Some(SourceKind::Sql(s))
                            if s.engine == crate::declared::spec::Engine::Sqlite =>
                        {
                            format!(" (file: {})", s.display.trim_start_matches("sqlite://"))
                        }
                        _ => String::new(),
                    };
                    // The line names the source already: not twice.
                    let text = match &e {
                        SourceError::Unavailable { reason, .. } => format!("unavailable: {reason}"),
                        SourceError::Timeout { secs, .. } => format!("no answer within {secs} s"),
                        other => other.to_string(),
                    };
                    println!("source {name}: error: {text}{file}");
                    failed.push(name);
                }
            }
        }
        let broken = prepare_statements(declared, &sources, &failed).await;
        sources.close().await;
        match (failed.is_empty(), broken.is_empty()) {
            (true, true) => Ok(()),
            (false, _) => anyhow::bail!("source(s) not reachable: {}", failed.join(", ")),
            (true, false) => {
                anyhow::bail!("statement(s) the database refused: {}", broken.join(", "))
            }
        }
    })
}

/// Prepare (never run) every SQL tool's statement on its source, so that a
/// misspelt table or column fails here rather than on the first call. Tools
/// of a source that did not answer are skipped. The names of the tools whose
/// statement the database refused.
async fn prepare_statements(
    declared: &Declared,
    sources: &Sources,
    down: &[String],
) -> Vec<String> {
    use crate::declared::source::Source;
    let mut broken = Vec::new();
    for tool in &declared.tools {
        let (Action::Sql(stmt), Some(Source::Sql(source))) =
            (&tool.action, sources.get(&tool.source))
        else {
            continue;
        };
        if down.contains(&tool.source) {
            continue;
        }
        match tokio::time::timeout(CONNECT_TIMEOUT, source.probe(&stmt.sql)).await {
            Ok(Ok(_)) => println!("tool {}: statement prepared", tool.name),
            Ok(Err(e)) => {
                println!("tool {}: error: {e}", tool.name);
                broken.push(tool.name.to_string());
            }
            Err(_) => {
                println!(
                    "tool {}: error: the database did not answer in time",
                    tool.name
                );
                broken.push(tool.name.to_string());
            }
        }
    }
    broken
}
