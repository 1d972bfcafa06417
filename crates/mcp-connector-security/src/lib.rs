//! Security kernel of mcp-connector.
//!
//! Policy: every cryptographic primitive the connector uses (random ids, digests,
//! MACs, constant-time comparison, secret handling) goes through this crate, so
//! that it can be reviewed and fuzzed on its own. It performs no IO and contains
//! no `unsafe`.
//!
//! # Layout
//! * [`secret`]: [`SecretString`], a string that never prints and compares in constant time.
//! * [`random`]: unguessable ids and tokens from the OS random generator.
//! * [`digest`]: SHA-256 digests for at-rest hashing of tokens and for audit chains.
//! * [`seal`]: [`Sealer`], HMAC-signed opaque blobs (pagination cursors, request state).
//! * [`password`]: argon2id password hashes.
//! * [`pkce`]: PKCE S256 verification.
//! * [`vault`]: [`Vault`], authenticated encryption of the few secrets kept at rest.
#![forbid(unsafe_code)]
// Tests may unwrap: a panic is the failure report there.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod digest;
pub mod password;
pub mod pkce;
pub mod random;
pub mod seal;
pub mod secret;
pub mod vault;

pub use digest::{sha256, sha256_hex};
pub use random::{random_bytes, random_token};
pub use seal::{SealError, Sealer};
pub use secret::{SecretString, ct_eq};
pub use vault::{Vault, VaultError};
