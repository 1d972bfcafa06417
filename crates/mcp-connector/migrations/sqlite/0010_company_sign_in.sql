-- Company sign-in (issue 12): accounts from an upstream OpenID provider,
-- browser sessions, the upstream login's pending state, per-client access
-- token lifetimes and the idle timeout of access tokens. Kept in step with
-- migrations/postgres.

-- Where an account comes from: `local` (user add, password) or `upstream`
-- (created at its first sign-in with the company's identity provider, keyed
-- by the provider's issuer and the user's `sub`). Upstream accounts have no
-- password; their `password_hash` is a value that never verifies.
ALTER TABLE oauth_users ADD COLUMN source TEXT NOT NULL DEFAULT 'local'
    CHECK (source IN ('local', 'upstream'));
ALTER TABLE oauth_users ADD COLUMN issuer TEXT;
ALTER TABLE oauth_users ADD COLUMN subject TEXT;
-- The provider's `name` claim, for display only.
ALTER TABLE oauth_users ADD COLUMN display_name TEXT;
ALTER TABLE oauth_users ADD COLUMN last_login_at INTEGER;
-- The provider's refresh token, encrypted (ChaCha20-Poly1305 under a key
-- derived from a server secret and the upstream client secret), used to
-- re-check the user at the provider; and when that is next due.
ALTER TABLE oauth_users ADD COLUMN upstream_refresh TEXT;
ALTER TABLE oauth_users ADD COLUMN recheck_at INTEGER;
CREATE UNIQUE INDEX oauth_users_subject ON oauth_users (issuer, subject);
CREATE INDEX oauth_users_recheck ON oauth_users (recheck_at);

-- `client add --access-token-ttl`: this client's access tokens live this
-- long instead of auth.access_token_ttl_secs.
ALTER TABLE oauth_clients ADD COLUMN access_token_ttl_secs INTEGER;

-- When an access token was last seen (to a granularity: see
-- auth/resource.rs): unused for auth.access_token_idle_secs, it is dead.
ALTER TABLE oauth_tokens ADD COLUMN last_used_at INTEGER;

-- Browser sessions after a sign-in: the cookie holds 256 random bits, the
-- table only their SHA-256, so any replica can check a session and a dump
-- holds nothing to replay.
CREATE TABLE auth_sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);
CREATE INDEX auth_sessions_expires ON auth_sessions (expires_at);

-- A sign-in sent to the upstream provider, by SHA-256 of its `state`: what
-- to do when the browser comes back. Used once (`used_at`), so a replayed
-- callback is refused; the PKCE verifier and nonce are derived from the
-- state under a server secret, so nothing secret is stored here.
CREATE TABLE oauth_upstream_states (
    state_hash TEXT PRIMARY KEY,
    payload    TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
