//! Named address ranges for `network.allow`.
//!
//! The `anthropic` preset is what Claude's connectors connect from. Anthropic
//! changes these ranges occasionally, so each preset carries the date it was
//! last checked against the source, `mcp-connector ip-ranges` warns when that
//! date is more than 90 days old, and a config file can replace a preset
//! (`[network.presets.anthropic]`) without waiting for a release.

use ipnet::IpNet;

/// A named set of ranges and where they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    pub name: String,
    pub cidrs: Vec<IpNet>,
    /// ISO date (YYYY-MM-DD) the ranges were last checked against `source`.
    pub checked: String,
    pub source: String,
}

/// Days after which `ip-ranges` warns that a preset may be out of date.
pub const STALE_AFTER_DAYS: i64 = 90;

fn nets(cidrs: &[&str]) -> Vec<IpNet> {
    cidrs.iter().filter_map(|c| c.parse().ok()).collect()
}

/// The presets this release ships.
pub fn builtin() -> Vec<Preset> {
    vec![
        Preset {
            name: "anthropic".into(),
            // 160.79.104.0/21 is the outbound range on the English page;
            // a newer localized edition of the page adds 153.61.208.0/20.
            cidrs: nets(&["160.79.104.0/21", "153.61.208.0/20"]),
            checked: "2026-10-31".into(),
            source: "https://platform.claude.com/docs/en/api/ip-addresses (outbound)".into(),
        },
        Preset {
            name: "loopback".into(),
            cidrs: nets(&["127.0.0.0/8", "::1/128"]),
            checked: "2026-10-31".into(),
            source: "RFC 1122, RFC 4291".into(),
        },
        Preset {
            name: "private".into(),
            cidrs: nets(&["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]),
            checked: "2026-10-31".into(),
            source: "RFC 1918, RFC 4193".into(),
        },
    ]
}

/// Days from `checked` (YYYY-MM-DD) to `today` (YYYY-MM-DD); `None` if either
/// is not a date.
pub fn age_in_days(checked: &str, today: &str) -> Option<i64> {
    Some(days_from_civil(today)? - days_from_civil(checked)?)
}

use crate::clock::days_from_civil;
pub use crate::clock::today;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_preset_has_the_published_ranges() {
        let a = builtin()
            .into_iter()
            .find(|p| p.name == "anthropic")
            .expect("preset");
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        assert!(a.cidrs.iter().any(|n| n.contains(&ip("160.79.106.7"))));
        assert!(a.cidrs.iter().any(|n| n.contains(&ip("153.61.210.1"))));
        assert!(!a.cidrs.iter().any(|n| n.contains(&ip("160.79.112.1"))));
    }

    #[test]
    fn date_arithmetic() {
        assert_eq!(age_in_days("2026-10-31", "2026-11-25"), Some(25));
        assert_eq!(age_in_days("2025-12-31", "2026-01-01"), Some(1));
        assert_eq!(age_in_days("2024-02-28", "2024-03-01"), Some(2));
        assert_eq!(age_in_days("nope", "2026-01-01"), None);
        assert_eq!(today().len(), 10);
    }
}
