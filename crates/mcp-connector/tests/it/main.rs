//! Integration tests: one binary, a real server on 127.0.0.1:0 per test.

// `pub` in a test binary is crate-visible by construction.
#![allow(unreachable_pub)]

mod common;

mod audit;
mod cli;
mod company_tools;
mod drift;
mod edge;
mod guarded_writes;
mod limits;
mod network;
mod protocol_legacy;
mod protocol_modern;
mod resources_prompts;
mod safety;
mod sessions;
mod shutdown;
mod store;
mod tls;
