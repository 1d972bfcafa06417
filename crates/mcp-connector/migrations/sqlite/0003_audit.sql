-- Audit trail (SQLite). Kept in step with migrations/postgres.
--
-- Append-only and hash-chained: `hash` is SHA-256 over the canonical form of
-- the row (see src/audit/chain.rs) including `prev_hash`, the hash of the row
-- before it. `seq` is assigned by the writer, so a gap is a deleted row.
-- `time` is stored as the exact RFC 3339 text that was hashed.
CREATE TABLE audit_log (
    seq           INTEGER PRIMARY KEY,
    time          TEXT NOT NULL,
    -- `tool_call` now; authentication events once OAuth exists.
    kind          TEXT NOT NULL,
    -- The authenticated user; NULL until authentication exists.
    subject       TEXT,
    client        TEXT,
    session_id    TEXT,
    source_ip     TEXT,
    tool          TEXT,
    -- JSON, with the configured fields (`audit.redact`) replaced.
    arguments     TEXT,
    result_sha256 TEXT,
    result_size   INTEGER,
    is_error      INTEGER NOT NULL CHECK (is_error IN (0, 1)),
    error         TEXT,
    duration_ms   INTEGER,
    -- JSON list of prompt-injection flags raised on the result, if any.
    flags         TEXT,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);

-- The store refuses to rewrite history. Someone with write access to the
-- file can drop these triggers; `mcp-connector audit verify` still detects
-- the edit through the hash chain.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused');
END;
