//! Integration tests: one binary, a real server on 127.0.0.1:0 per test.

// `pub` in a test binary is crate-visible by construction.
#![allow(unreachable_pub)]

mod common;
mod idp;

mod admin_browser;
mod admin_console;
mod approval_view;
mod approvals;
mod approvals_url;
mod audit;
mod cli;
mod company_tools;
mod connections;
mod declared_guards;
mod declared_http;
mod declared_ops;
mod declared_sql;
mod deploy;
mod doctor;
mod drift;
mod durability;
mod edge;
mod examples;
mod first_run;
mod guarded_writes;
mod id_jag;
mod limits;
mod metrics;
mod negotiation;
mod network;
mod oauth_admin;
mod oauth_audit;
mod oauth_authorize;
mod oauth_cimd;
mod oauth_cli;
mod oauth_external;
mod oauth_flow;
mod oauth_lifetime;
mod oauth_login;
mod oauth_metadata;
mod oauth_refresh;
mod oauth_register;
mod oauth_resource;
mod oauth_session;
mod oauth_token;
mod op;
mod packaging;
mod protocol_legacy;
mod protocol_modern;
mod replicas;
mod resources_prompts;
mod safety;
mod sessions;
mod shutdown;
mod store;
mod tasks;
mod tls;
mod upstream_fake;
mod upstream_op;
