//! HTTP sources.
//!
//! CONTRACT (implemented by the HTTP helper; signatures fixed).

use std::collections::BTreeMap;

use super::source::SourceError;
use super::spec::{Bound, HttpRequestSpec, HttpSourceSpec};

/// An HTTP API source.
pub struct HttpSource {
    name: String,
}

/// What an API answered (2xx only; other statuses are errors).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOutput {
    pub status: u16,
    /// The body as JSON when it is JSON, else as a string.
    pub body: serde_json::Value,
}

impl HttpSource {
    pub fn open(name: &str, spec: &HttpSourceSpec) -> Result<Self, SourceError> {
        let _ = spec;
        Ok(Self {
            name: name.to_owned(),
        })
    }

    /// Call `req` with `values` (declared parameters and caller context).
    pub async fn call(
        &self,
        req: &HttpRequestSpec,
        values: &BTreeMap<String, Bound>,
    ) -> Result<HttpOutput, SourceError> {
        let _ = (req, values);
        Err(SourceError::Blocked(format!(
            "{}: not implemented",
            self.name
        )))
    }

    pub async fn ping(&self) -> Result<(), SourceError> {
        Ok(())
    }
}
