-- Audit trail (PostgreSQL). Kept in step with migrations/sqlite.
--
-- Append-only and hash-chained: `hash` is SHA-256 over the canonical form of
-- the row (see src/audit/chain.rs) including `prev_hash`, the hash of the row
-- before it. `seq` is assigned by the writer, so a gap is a deleted row.
-- `time` is stored as the exact RFC 3339 text that was hashed.
CREATE TABLE audit_log (
    seq           BIGINT PRIMARY KEY,
    time          TEXT NOT NULL,
    -- `tool_call` now; authentication events once OAuth exists.
    kind          TEXT NOT NULL,
    -- The authenticated user; NULL until authentication exists.
    subject       TEXT,
    client        TEXT,
    session_id    TEXT,
    source_ip     TEXT,
    tool          TEXT,
    -- JSON text (not JSONB: the stored bytes are the hashed bytes), with the
    -- configured fields (`audit.redact`) replaced.
    arguments     TEXT,
    result_sha256 TEXT,
    result_size   BIGINT,
    is_error      BOOLEAN NOT NULL,
    error         TEXT,
    duration_ms   BIGINT,
    -- JSON list of prompt-injection flags raised on the result, if any.
    flags         TEXT,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);

-- The store refuses to rewrite history. A superuser can drop these
-- triggers; `mcp-connector audit verify` still detects the edit through the
-- hash chain.
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$;

CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
