//! Stub: replaced by the implementation.
pub struct Jwks {}

impl Jwks {
    pub fn new(_idp: crate::config::ExternalIdp, _audience: String) -> Self {
        Self {}
    }
}
