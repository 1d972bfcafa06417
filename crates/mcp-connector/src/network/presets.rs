//! Named address ranges for `network.allow`: they are configuration, so they
//! live in [`crate::config::presets`]; this path is kept for callers.

pub use crate::config::presets::*;
