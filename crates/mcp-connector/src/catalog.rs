//! What a connector serves: tools, resources, prompts and completions.
//!
//! A [`Catalog`] is the domain side of the server (the Company Tools demo, the
//! conformance fixtures, later tools declared in config). The MCP handler in
//! [`crate::mcp`] owns everything protocol-shaped around it: pagination,
//! argument validation, time limits, error mapping and version differences.

pub mod tools;

use futures::future::BoxFuture;
use rmcp::model::{
    CompleteRequestParams, CompletionInfo, GetPromptRequestParams, GetPromptResponse, Prompt,
    ReadResourceResult, Resource, ResourceTemplate,
};

pub use self::tools::{ToolCtx, ToolError, ToolSet, ToolSpec};

/// An error of a catalog operation other than a tool call, mapped to a
/// JSON-RPC error by the handler.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The resource URI names nothing.
    #[error("resource not found: {0}")]
    ResourceNotFound(String),
    /// The prompt name is unknown.
    #[error("unknown prompt: {0}")]
    UnknownPrompt(String),
    /// A prompt or completion argument is missing or malformed.
    #[error("invalid argument `{argument}`: {message}")]
    InvalidArgument { argument: String, message: String },
    /// The completion reference names nothing completable.
    #[error("unknown completion reference")]
    UnknownReference,
    /// Malformed request parameters (for example a tampered `requestState`).
    #[error("{0}")]
    InvalidParams(String),
    /// Something broke underneath; the details are logged, never sent.
    #[error("internal error")]
    Internal(#[from] crate::store::StoreError),
}

/// Who the server says it is.
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: &'static str,
    pub title: &'static str,
    pub instructions: &'static str,
}

/// The domain side of a connector. Object-safe so that `serve` can pick one at
/// run time.
pub trait Catalog: Send + Sync + 'static {
    /// Name, title and instructions for `initialize` and `server/discover`.
    fn identity(&self) -> Identity;

    /// The tools, fixed at start-up (so `tools/list` never varies per request).
    fn tools(&self) -> &ToolSet;

    /// Concrete resources.
    fn list_resources(&self) -> BoxFuture<'_, Result<Vec<Resource>, CatalogError>>;

    /// Resource templates.
    fn resource_templates(&self) -> Vec<ResourceTemplate>;

    /// Read one resource.
    fn read_resource<'a>(
        &'a self,
        uri: &'a str,
    ) -> BoxFuture<'a, Result<ReadResourceResult, CatalogError>>;

    /// Prompts.
    fn prompts(&self) -> Vec<Prompt>;

    /// Render one prompt (or, in 2026-07-28, ask the client for input first).
    fn get_prompt(
        &self,
        request: GetPromptRequestParams,
    ) -> BoxFuture<'_, Result<GetPromptResponse, CatalogError>>;

    /// Complete an argument of a prompt or resource template.
    fn complete(
        &self,
        request: CompleteRequestParams,
    ) -> BoxFuture<'_, Result<CompletionInfo, CatalogError>>;

    /// The OAuth scopes its tools need: read-only tools the read scope,
    /// every other tool the write scope.
    fn scopes(&self) -> crate::config::scope::ToolScopes {
        crate::config::scope::ToolScopes::default()
    }

    /// The catalog as its own type, for code above the catalogs that needs
    /// one kind (`declared` reads the config-declared catalog's sources this
    /// way, see `DeclaredCatalog`): the trait stays below its implementations.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }

    /// Whether `resources/subscribe` is offered (legacy revisions only).
    fn supports_subscriptions(&self) -> bool {
        false
    }
}
