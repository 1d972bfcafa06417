//! `mcp-connector ip-ranges`

use super::ConfigArgs;
use crate::network::presets::{STALE_AFTER_DAYS, age_in_days, today};

/// Print every preset with its ranges, source and check date; warn (on
/// stderr, exit 0) when a preset was checked more than 90 days ago, since
/// Anthropic changes its ranges occasionally.
pub(super) fn run(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    let today = today();
    for p in &config.presets {
        println!("{} (checked {}, source: {})", p.name, p.checked, p.source);
        for cidr in &p.cidrs {
            println!("  {cidr}");
        }
        match age_in_days(&p.checked, &today) {
            Some(age) if age > STALE_AFTER_DAYS => eprintln!(
                "warning: preset `{}` was checked {age} days ago; compare it with its source and update it \
                 with [network.presets.{}] in the config file",
                p.name, p.name
            ),
            _ => {}
        }
    }
    if config.allow_entries.is_empty() {
        println!("network.allow: not set (every address may connect)");
    } else {
        println!("network.allow: {}", config.allow_entries.join(", "));
    }
    Ok(())
}
