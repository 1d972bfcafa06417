//! Storage of the OAuth authorization server: clients, users, grants, codes
//! and tokens. Secrets arrive here already hashed; nothing in this module
//! sees a plaintext token, code, client secret or password.
//!
//! Times are Unix seconds. Every query is written once with `$n`
//! placeholders and run on either backend through `on_read!`/`on_write!` (see `store.rs`).

pub mod clients;
pub mod signins;
pub mod tokens;
pub mod upstream;
pub mod users;

pub use clients::{Client, ClientOrigin, NewClient};
pub use signins::StateClaim;
pub use tokens::{
    AccessToken, CodeRedemption, Grant, GrantRow, NewCode, NewToken, RefreshToken, TokenKind,
};
pub use upstream::DueRecheck;
pub use users::{NO_PASSWORD, NewUser, UpstreamLogin, User, UserSource};

use super::StoreError;

/// Map a unique-key violation to [`StoreError::Conflict`].
fn conflict(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(e),
    }
}

/// `0`/`1` flag columns as `bool`.
fn flag(v: i64) -> bool {
    v != 0
}
