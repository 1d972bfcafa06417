//! Scopes: which tool needs which and what each role may grant. They are
//! named by the configuration, so they live in [`crate::config::scope`];
//! this path is kept for callers.

pub use crate::config::scope::*;
