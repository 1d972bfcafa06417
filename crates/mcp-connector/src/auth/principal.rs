//! Who is calling `/mcp`. A plain value read by audit, the catalogs and the
//! edge, so it lives below them in [`crate::config::principal`]; this path
//! is kept for callers.

pub use crate::config::principal::*;
