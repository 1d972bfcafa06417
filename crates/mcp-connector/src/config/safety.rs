//! `[safety]`: validated into [`SafetyConfig`].

use std::path::PathBuf;

use super::ConfigError;
use super::file::SafetySection;
use crate::safety::{DriftMode, MIN_OUTPUT_MAX_CHARS, SafetyConfig};

/// Validate `[safety]`.
pub(super) fn safety(s: SafetySection) -> Result<SafetyConfig, ConfigError> {
    let d = SafetyConfig::default();
    let output_max_chars = match s.output_max_chars {
        Some(n) if n < MIN_OUTPUT_MAX_CHARS => {
            return Err(ConfigError::invalid(
                "safety.output_max_chars",
                format!("must be at least {MIN_OUTPUT_MAX_CHARS}"),
            ));
        }
        Some(n) => n,
        None => d.output_max_chars,
    };
    let tools_lock = match s.tools_lock {
        Some(p) if p.trim().is_empty() => {
            return Err(ConfigError::invalid(
                "safety.tools_lock",
                "must be a file path (omit the key to skip the drift check)",
            ));
        }
        Some(p) => Some(PathBuf::from(p)),
        None => None,
    };
    let drift = match s.drift.as_deref() {
        None | Some("warn") => DriftMode::Warn,
        Some("refuse") => DriftMode::Refuse,
        Some(other) => {
            return Err(ConfigError::invalid(
                "safety.drift",
                format!("`{other}` is not one of: warn, refuse"),
            ));
        }
    };
    if s.drift.is_some() && tools_lock.is_none() {
        // A drift policy without a lock would silently check nothing.
        return Err(ConfigError::invalid(
            "safety.drift",
            "needs safety.tools_lock (write one with `mcp-connector tools lock`)",
        ));
    }
    let approval_ttl_secs = match s.approval_ttl_secs {
        None => d.approval_ttl_secs,
        Some(n) => super::declare::approval_ttl(n)
            .map_err(|m| ConfigError::invalid("safety.approval_ttl_secs", m))?,
    };
    let approval_wait_secs = match s.approval_wait_secs {
        Some(n) if n > crate::safety::MAX_APPROVAL_WAIT_SECS => {
            return Err(ConfigError::invalid(
                "safety.approval_wait_secs",
                format!("must be at most {}", crate::safety::MAX_APPROVAL_WAIT_SECS),
            ));
        }
        Some(n) => n,
        None => d.approval_wait_secs,
    };
    Ok(SafetyConfig {
        approval_ttl_secs,
        approval_wait_secs,
        output_max_chars,
        wrap_untrusted_output: s.wrap_untrusted_output.unwrap_or(d.wrap_untrusted_output),
        tools_lock,
        drift,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};

    fn load(text: &str) -> Result<Config, ConfigError> {
        let file = Config::parse_file(text).expect("parses");
        Config::from_parts(file, &Overrides::default())
    }

    #[test]
    fn defaults_are_claudes_limit_and_no_check() {
        let c = load("").expect("valid");
        assert_eq!(c.safety, SafetyConfig::default());
        assert_eq!(c.safety.output_max_chars, 150_000);
        assert!(!c.safety.wrap_untrusted_output);
        assert_eq!(c.safety.tools_lock, None);
    }

    #[test]
    fn values_are_read() {
        let c = load(
            "[safety]\noutput_max_chars = 5000\nwrap_untrusted_output = true\ntools_lock = \"x.lock\"\ndrift = \"refuse\"\n",
        )
        .expect("valid");
        assert_eq!(c.safety.output_max_chars, 5000);
        assert!(c.safety.wrap_untrusted_output);
        assert_eq!(c.safety.tools_lock, Some(PathBuf::from("x.lock")));
        assert_eq!(c.safety.drift, DriftMode::Refuse);
        let c =
            load("[safety]\napproval_ttl_secs = 120\napproval_wait_secs = 30\n").expect("valid");
        assert_eq!(
            (c.safety.approval_ttl_secs, c.safety.approval_wait_secs),
            (120, 30)
        );
        assert_eq!(load("").expect("valid").safety.approval_ttl_secs, 600);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key) in [
            (
                "[safety]\noutput_max_chars = 999\n",
                "safety.output_max_chars",
            ),
            (
                "[safety]\ntools_lock = \"x\"\ndrift = \"block\"\n",
                "safety.drift",
            ),
            ("[safety]\ndrift = \"refuse\"\n", "safety.drift"),
            ("[safety]\ntools_lock = \" \"\n", "safety.tools_lock"),
            (
                "[safety]\napproval_ttl_secs = 5\n",
                "safety.approval_ttl_secs",
            ),
            (
                "[safety]\napproval_wait_secs = 301\n",
                "safety.approval_wait_secs",
            ),
        ] {
            let err = load(text).expect_err(text).to_string();
            assert!(err.starts_with(key), "{text}: {err}");
        }
    }
}
