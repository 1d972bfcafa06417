//! Edge rejections: their wire shape is in [`crate::wire`], the one place
//! where errors get their wire form; this path is kept for callers.

pub use crate::wire::EdgeError;
