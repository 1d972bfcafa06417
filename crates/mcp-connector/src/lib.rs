//! mcp-connector: a Claude custom remote connector.
//!
//! An MCP server over Streamable HTTP that puts a company's database in front
//! of Claude. This crate is the whole server as a library; `main.rs` only
//! calls [`cli::run`].
//!
//! # Layout
//! * [`cli`]: operator verbs (`serve`, `check-config`, `migrate`, `tools`, `audit`).
//! * [`config`]: file, environment and flags, validated into [`config::Config`].
//! * [`app`]: [`AppState`], [`router`] and [`serve`].
//! * [`admin`]: the admin console at `/admin`.
//! * [`auth`]: OAuth 2.1 protected resource and authorization server.
//! * [`network`]: IP allowlist with presets, client address behind trusted proxies.
//! * [`http`]: the edge: Host/Origin checks, body limit, probes, idle streams.
//! * [`mcp`]: the `/mcp` endpoint on rmcp and the protocol handler.
//! * [`catalog`]: what a connector serves (tools, resources, prompts).
//! * [`demo`]: the Company Tools demo and the conformance fixtures.
//! * [`safety`]: tool output hygiene; [`drift`]: the tool lock file.
//! * [`audit`]: the hash-chained audit trail of tool calls.
//! * [`store`]: SQLite and PostgreSQL, with parallel migrations.
//! * [`telemetry`]: structured logging and the Prometheus metrics registry
//!   (a leaf: it imports nothing from the domain, so every layer may count).
//! * [`wire`]: the wire form of every refusal (JSON-RPC error bodies).

// Tests may unwrap: a panic is the failure report there.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod declared;
pub mod demo;
pub mod drift;
pub mod http;
pub mod mcp;
pub mod network;
pub mod safety;
pub mod store;
pub mod telemetry;
pub mod wire;

#[cfg(test)]
mod proptests;

pub use app::{AppState, router, serve, serve_tls};
