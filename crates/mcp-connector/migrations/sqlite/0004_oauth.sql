-- OAuth 2.1 authorization server and protected resource (SQLite). Kept in
-- step with migrations/postgres; every column has the same name and a type
-- that decodes to the same Rust type on both (times are Unix seconds,
-- flags 0/1, lists space-separated or JSON text).
--
-- Secrets are never stored: client secrets, codes and tokens are kept as
-- SHA-256 hex of a 256-bit random value; passwords as argon2id PHC strings.

-- Clients: pre-registered from the CLI (`cli`), dynamically registered
-- (`dcr`) or a fetched Client ID Metadata Document (`cimd`, id = its URL).
CREATE TABLE oauth_clients (
    id            TEXT PRIMARY KEY,
    secret_hash   TEXT,
    name          TEXT NOT NULL,
    -- JSON array of exact redirect URIs.
    redirect_uris TEXT NOT NULL,
    -- Space-separated grant types.
    grant_types   TEXT NOT NULL,
    -- Space-separated scopes of a client_credentials client; '' otherwise.
    scopes        TEXT NOT NULL DEFAULT '',
    -- none | client_secret_basic | client_secret_post
    auth_method   TEXT NOT NULL,
    origin        TEXT NOT NULL CHECK (origin IN ('cli', 'dcr', 'cimd')),
    created_at    INTEGER NOT NULL,
    -- When a token was last issued to it: unused registrations are removed.
    last_used_at  INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX oauth_clients_unused ON oauth_clients (origin, last_used_at, created_at);

CREATE TABLE oauth_users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    email         TEXT,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- One authorization (a code or a client_credentials request) and every
-- token issued from it: revoking the grant revokes the whole family.
CREATE TABLE oauth_grants (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    user_id    TEXT,
    scopes     TEXT NOT NULL,
    resource   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX oauth_grants_client ON oauth_grants (client_id);
CREATE INDEX oauth_grants_user ON oauth_grants (user_id);

CREATE TABLE oauth_codes (
    code_hash      TEXT PRIMARY KEY,
    grant_id       TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    resource       TEXT NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
);

CREATE TABLE oauth_tokens (
    token_hash TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    grant_id   TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT,
    scopes     TEXT NOT NULL,
    resource   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    -- Refresh tokens: when it was exchanged (rotation); reuse after the
    -- grace window revokes the grant.
    used_at    INTEGER,
    revoked_at INTEGER
);
CREATE INDEX oauth_tokens_grant ON oauth_tokens (grant_id);
CREATE INDEX oauth_tokens_expires ON oauth_tokens (expires_at);
