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

pub use hygiene::{HygieneConfig, HygieneReport};

/// `[safety]` and its limits are configuration, validated at load.
pub use crate::config::{DEFAULT_OUTPUT_MAX_CHARS, DriftMode, MIN_OUTPUT_MAX_CHARS, SafetyConfig};

impl SafetyConfig {
    /// The settings the tool-output pass needs.
    pub fn hygiene(&self) -> HygieneConfig {
        HygieneConfig {
            max_chars: self.output_max_chars,
            wrap_untrusted: self.wrap_untrusted_output,
        }
    }
}
