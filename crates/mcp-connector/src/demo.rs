//! Built-in catalogs.
//!
//! * [`company`]: the seed guide's Company Tools, on the real database.
//! * [`conformance`]: the fixtures of the official MCP conformance suite.

pub mod company;
pub mod conformance;
