//! Fixtures of the official MCP conformance suite (filled in below).

use futures::FutureExt as _;
use futures::future::BoxFuture;
use rmcp::model::{
    CompleteRequestParams, CompletionInfo, GetPromptRequestParams, GetPromptResult, Prompt,
    ReadResourceResult, Resource, ResourceTemplate,
};

use crate::catalog::tools::RegisterError;
use crate::catalog::{Catalog, CatalogError, Identity, ToolSet};

pub struct Conformance {
    tools: ToolSet,
}

impl Conformance {
    pub fn new() -> Result<Self, RegisterError> {
        Ok(Self { tools: ToolSet::new() })
    }
}

impl Catalog for Conformance {
    fn identity(&self) -> Identity {
        Identity { name: "mcp-connector-conformance", title: "mcp-connector conformance fixtures", instructions: "Conformance fixtures." }
    }
    fn tools(&self) -> &ToolSet {
        &self.tools
    }
    fn list_resources(&self) -> BoxFuture<'_, Result<Vec<Resource>, CatalogError>> {
        async { Ok(vec![]) }.boxed()
    }
    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        vec![]
    }
    fn read_resource<'a>(&'a self, uri: &'a str) -> BoxFuture<'a, Result<ReadResourceResult, CatalogError>> {
        async move { Err(CatalogError::ResourceNotFound(uri.to_owned())) }.boxed()
    }
    fn prompts(&self) -> Vec<Prompt> {
        vec![]
    }
    fn get_prompt(&self, request: GetPromptRequestParams) -> BoxFuture<'_, Result<GetPromptResult, CatalogError>> {
        async move { Err(CatalogError::UnknownPrompt(request.name)) }.boxed()
    }
    fn complete(&self, _request: CompleteRequestParams) -> BoxFuture<'_, Result<CompletionInfo, CatalogError>> {
        async { Err(CatalogError::UnknownReference) }.boxed()
    }
}
