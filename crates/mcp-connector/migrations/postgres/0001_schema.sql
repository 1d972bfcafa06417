-- Company Tools schema (PostgreSQL). Kept in step with migrations/sqlite.
CREATE TABLE departments (
    id           BIGSERIAL PRIMARY KEY,
    -- Lower-case key used for lookups; tools match department names case-insensitively.
    name         TEXT NOT NULL UNIQUE CHECK (name = lower(name) AND length(name) BETWEEN 1 AND 64),
    display_name TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT ''
);

CREATE TABLE employees (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    title         TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    department_id BIGINT NOT NULL REFERENCES departments (id),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX employees_department_id ON employees (department_id, id);

-- Server-wide secrets shared by every replica (for example the key that seals
-- pagination cursors), created on first start.
CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

-- Stateful MCP sessions (`--sessions`), so that any replica can resume a
-- session another one created.
CREATE TABLE mcp_sessions (
    id         TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
