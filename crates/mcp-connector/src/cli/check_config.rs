//! `mcp-connector check-config`

use super::ConfigArgs;

pub(super) fn run(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    if let Some(files) = &config.tls {
        crate::http::tls::load(files)?;
    }
    println!(
        "configuration ok: {} on {} ({}, {})",
        match config.demo {
            crate::config::Demo::Company => "company demo",
            crate::config::Demo::Conformance => "conformance fixtures",
        },
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
    Ok(())
}
