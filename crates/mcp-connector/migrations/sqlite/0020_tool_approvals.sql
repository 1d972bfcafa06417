-- Out-of-band approval of destructive tool calls (issue 13). Kept in step
-- with migrations/postgres.
--
-- One row per approval request: 128 random bits as its id (the link the
-- person opens; knowing it approves nothing, the signed-in approver does),
-- bound to the caller (`subject`, and `user_id` for a user), the OAuth
-- client, the tool and the SHA-256 of the call's canonical arguments. The
-- arguments are kept as canonical JSON so that the page shows exactly what
-- will run. `status` moves once: pending → approved | rejected, then
-- approved → used (by exactly one call: a conditional UPDATE); pending or
-- approved past `expires_at` → expired (by the clean-up, audited).
CREATE TABLE tool_approvals (
    id          TEXT PRIMARY KEY,
    subject     TEXT NOT NULL,
    user_id     TEXT,
    client_id   TEXT NOT NULL,
    tool        TEXT NOT NULL,
    args_digest TEXT NOT NULL,
    arguments   TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'rejected', 'used', 'expired')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    decided_at  INTEGER,
    decided_by  TEXT,
    decided_ip  TEXT,
    used_at     INTEGER
);
CREATE INDEX tool_approvals_call ON tool_approvals (subject, client_id, tool, args_digest);
CREATE INDEX tool_approvals_expires ON tool_approvals (expires_at);
