//! Stub: replaced by the implementation.
pub const DEFAULT_CAPACITY: usize = 10_000;

pub struct TokenCache {}

impl TokenCache {
    pub fn new(_capacity: usize) -> Self {
        Self {}
    }
}
