//! Defences against the risks that come from what tools *say*, not what
//! they do: prompt injection carried in tool output ([`hygiene`],
//! [`injection`]) and tools whose definitions change under the user
//! ([`crate::drift`]).
//!
//! Everything here is defence in depth. Text that reaches the model is data
//! the model reads; no filter can prove that data is harmless. What this
//! module can do is remove characters a human reviewer cannot see, bound the
//! size of what is sent, and point out text that looks like instructions so
//! that an operator (and the audit trail) can notice it.

pub mod hygiene;
pub mod injection;

use std::path::PathBuf;

pub use hygiene::{HygieneConfig, HygieneReport};

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

impl SafetyConfig {
    /// The settings the tool-output pass needs.
    pub fn hygiene(&self) -> HygieneConfig {
        HygieneConfig {
            max_chars: self.output_max_chars,
            wrap_untrusted: self.wrap_untrusted_output,
        }
    }
}
