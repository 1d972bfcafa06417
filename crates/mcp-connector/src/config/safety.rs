//! `[safety]`: validated into [`SafetyConfig`].

use std::path::PathBuf;

use super::ConfigError;
use super::file::SafetySection;

/// Claude's documented limit on the size of one tool result, in characters.
pub const DEFAULT_OUTPUT_MAX_CHARS: usize = 150_000;
/// The smallest cap an operator may set: below this the truncation notice
/// and a useful amount of data no longer fit.
pub const MIN_OUTPUT_MAX_CHARS: usize = 1_000;

/// What `serve` does when the live tools differ from the lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DriftMode {
    /// Log each difference and serve (the default: a lock file is opt-in,
    /// and a first deployment should not fail closed on a typo).
    #[default]
    Warn,
    /// Refuse to start, naming the changed tools.
    Refuse,
}

/// Validated `[safety]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyConfig {
    /// Cap on the characters of a tool result's text blocks.
    pub output_max_chars: usize,
    /// Wrap every text block as quoted data with a short preamble.
    pub wrap_untrusted_output: bool,
    /// Tool manifest written by `mcp-connector tools lock`; `None` skips
    /// the drift check.
    pub tools_lock: Option<PathBuf>,
    /// What a difference from `tools_lock` does at start-up.
    pub drift: DriftMode,
    /// Lifetime of an approval request, in seconds (`approval_ttl_secs`).
    pub approval_ttl_secs: u64,
    /// How long the first call waits for its approval (`0`: not at all).
    pub approval_wait_secs: u64,
}

/// Default lifetime of an approval request: time to open the link, sign
/// in and decide, not long enough to be forgotten.
pub const DEFAULT_APPROVAL_TTL_SECS: u64 = 600;
/// The longest a call may wait for its approval: a request held open
/// longer outlives proxies' idle timeouts.
pub const MAX_APPROVAL_WAIT_SECS: u64 = 300;

impl Default for SafetyConfig {
    fn default() -> Self {
        Self {
            output_max_chars: DEFAULT_OUTPUT_MAX_CHARS,
            // Off by default: wrapping changes the text clients receive (a
            // client parsing the text as JSON would break).
            wrap_untrusted_output: false,
            tools_lock: None,
            drift: DriftMode::Warn,
            approval_ttl_secs: DEFAULT_APPROVAL_TTL_SECS,
            approval_wait_secs: 0,
        }
    }
}

/// A call waiting for its approval must answer before the edge gives up on
/// the request.
pub(super) fn check_wait(
    safety: &SafetyConfig,
    request_timeout: std::time::Duration,
) -> Result<(), ConfigError> {
    if safety.approval_wait_secs > 0 && safety.approval_wait_secs >= request_timeout.as_secs() {
        return Err(ConfigError::invalid(
            "safety.approval_wait_secs",
            format!(
                "must be shorter than server.request_timeout_secs ({})",
                request_timeout.as_secs()
            ),
        ));
    }
    Ok(())
}

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
        Some(n) if n > MAX_APPROVAL_WAIT_SECS => {
            return Err(ConfigError::invalid(
                "safety.approval_wait_secs",
                format!("must be at most {}", MAX_APPROVAL_WAIT_SECS),
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
