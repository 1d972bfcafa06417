//! Validated sources and tools: built from the config file at load time, so
//! they live in [`crate::config::spec`]; this path is kept for callers.

pub use crate::config::spec::*;
