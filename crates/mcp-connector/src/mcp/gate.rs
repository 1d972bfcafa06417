//! What the confirmation step decides about a destructive call, and the
//! answers that change nothing (shared by the in-band confirmation in
//! [`super::guard`] and the out-of-band approval in [`super::approval`]).

use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};

/// The outcome of the confirmation step.
pub enum Gate {
    /// Run the tool.
    Proceed,
    /// Answer with this instead of running the tool (a refusal or a request
    /// for the user's input).
    Answer(CallToolResponse),
    /// Answer with this and run nothing yet: the call waits for a person
    /// (an approval link, or a request for the user's confirmation).
    Pending(CallToolResponse),
    /// The request is malformed (a tampered `requestState`): `-32602`.
    Invalid(String),
}

pub(super) fn refusal(tool: &str) -> Gate {
    Gate::Answer(CallToolResponse::Complete(CallToolResult::error(vec![
        ContentBlock::text(format!(
            "`{tool}` is a destructive action and needs the user's confirmation, which this client cannot ask for. \
             Nothing was changed. An operator can allow it without confirmation with \
             `[tools.{tool}] unconfirmed = \"allow\"` in the connector's config file."
        )),
    ])))
}

pub(super) fn declined(tool: &str) -> Gate {
    Gate::Answer(CallToolResponse::Complete(CallToolResult::error(vec![
        ContentBlock::text(format!(
            "The user did not confirm `{tool}`. Nothing was changed."
        )),
    ])))
}
