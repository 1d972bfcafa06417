//! Stub: replaced by the implementation.
pub struct LoginLimiter {}

impl LoginLimiter {
    pub fn new(_per_minute: u32) -> Self {
        Self {}
    }
}
