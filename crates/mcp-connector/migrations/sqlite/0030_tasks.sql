-- Tasks of the tasks extension (SEP-2663, io.modelcontextprotocol/tasks):
-- kept here rather than in memory so that any replica can answer tasks/get,
-- tasks/update and tasks/cancel for a task another replica runs. A task
-- belongs to the subject and OAuth client that created it ('' when /mcp is
-- open); anyone else sees an unknown id. Arguments, input responses and the
-- result are JSON text, deleted with the row when the task expires. The
-- replica running a task refreshes heartbeat_at; a working task whose
-- heartbeat stopped is reported failed. Rows are deleted after expires_at.
-- Times are Unix milliseconds. Kept in step with the other backend.
CREATE TABLE mcp_tasks (
    id              TEXT PRIMARY KEY,
    subject         TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    tool            TEXT NOT NULL,
    arguments       TEXT NOT NULL,
    status          TEXT NOT NULL,
    input_requests  TEXT,
    input_responses TEXT,
    result          TEXT,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    heartbeat_at    INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX mcp_tasks_expiry ON mcp_tasks (expires_at);
CREATE INDEX mcp_tasks_owner ON mcp_tasks (subject, client_id, status);
