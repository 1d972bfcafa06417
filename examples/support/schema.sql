-- Support desk example, SQLite. Timestamps are text, 'YYYY-MM-DD HH:MM:SS' UTC.
-- PostgreSQL: schema.postgres.sql; MySQL/MariaDB: schema.mysql.sql. The seed
-- data (seed.sql) is the same for all three.
DROP TABLE IF EXISTS comments;
DROP TABLE IF EXISTS tickets;
DROP TABLE IF EXISTS customers;

CREATE TABLE customers (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL,
    email   TEXT NOT NULL UNIQUE,
    plan    TEXT NOT NULL CHECK (plan IN ('free', 'team', 'enterprise')),
    country TEXT NOT NULL
);

CREATE TABLE tickets (
    id          INTEGER PRIMARY KEY,    -- ticket number
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    priority    TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'closed')),
    assignee    TEXT,                   -- agent's login name (:_user), NULL = unassigned
    created_at  TEXT NOT NULL,
    closed_at   TEXT
);

CREATE TABLE comments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  INTEGER NOT NULL REFERENCES tickets (id),
    author     TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%S', 'now'))
);

CREATE INDEX tickets_open ON tickets (status, priority);
CREATE INDEX tickets_assignee ON tickets (assignee, status);
CREATE INDEX comments_ticket ON comments (ticket_id, id);
