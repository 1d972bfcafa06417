//! `:name` placeholders in SQL: checked when the configuration loads, so
//! they live in [`crate::config::spec::placeholder`]; this path is kept for callers.

pub use crate::config::spec::placeholder::*;
