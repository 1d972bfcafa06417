//! Stub: replaced by the implementation.
pub struct CimdFetcher {}

impl CimdFetcher {
    pub fn new(_config: &crate::config::AuthConfig) -> Self {
        Self {}
    }
}
