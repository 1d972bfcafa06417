//! Network controls: who may connect at all.
//!
//! * [`presets`]: named address ranges (Anthropic's published egress ranges),
//!   defined in [`crate::config::presets`].
//! * [`allowlist`]: `network.allow`, checked before anything else runs.
//! * [`client_ip`]: the client's address behind trusted reverse proxies.

pub mod allowlist;
pub mod client_ip;
pub mod presets;

pub use allowlist::{Allowlist, NetworkPolicy, enforce};
pub use client_ip::{ClientIp, Subject, TrustedProxies};
