//! MCP over Streamable HTTP.
//!
//! * [`handler`]: the rmcp `ServerHandler` that serves a [`crate::catalog::Catalog`].
//! * [`transport`]: the `/mcp` endpoint: rmcp's Streamable HTTP service for
//!   both protocol eras, plus the held-open GET stream of stateless mode and
//!   the `Accept` leniency real clients need.
//! * [`pagination`]: sealed list cursors.
//! * [`guard`], [`approval`]: which tools are served, and the confirmation
//!   or out-of-band approval of destructive ones; [`approval_view`] is the
//!   `ui://` view MCP Apps hosts show beside a pending approval.
//!
//! Design notes are in `README.md` beside this file.

pub mod approval;
pub mod approval_view;
pub mod call_report;
pub mod envelope;
pub mod gate;
pub mod guard;
pub mod handler;
pub mod live;
pub mod negotiate;
pub mod pagination;
pub mod session_limits;
pub mod transport;

/// The `_meta` key that marks a 2026-07-28 (stateless, per-request) request.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// The `_meta` key carrying a 2026-07-28 client's log threshold.
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
