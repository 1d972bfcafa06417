-- Support desk example, MySQL and MariaDB (same tables as schema.sql).
DROP TABLE IF EXISTS comments;
DROP TABLE IF EXISTS tickets;
DROP TABLE IF EXISTS customers;

CREATE TABLE customers (
    id      INT PRIMARY KEY,
    name    VARCHAR(200) NOT NULL,
    email   VARCHAR(255) NOT NULL UNIQUE,
    plan    VARCHAR(16) NOT NULL CHECK (plan IN ('free', 'team', 'enterprise')),
    country VARCHAR(2) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE tickets (
    id          INT PRIMARY KEY,
    customer_id INT NOT NULL,
    subject     VARCHAR(200) NOT NULL,
    body        TEXT NOT NULL,
    priority    VARCHAR(8) NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    status      VARCHAR(8) NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'closed')),
    assignee    VARCHAR(64) NULL,
    created_at  DATETIME NOT NULL,
    closed_at   DATETIME NULL,
    FOREIGN KEY (customer_id) REFERENCES customers (id),
    INDEX tickets_open (status, priority),
    INDEX tickets_assignee (assignee, status)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE comments (
    id         INT AUTO_INCREMENT PRIMARY KEY,
    ticket_id  INT NOT NULL,
    author     VARCHAR(64) NOT NULL,
    body       TEXT NOT NULL,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (ticket_id) REFERENCES tickets (id),
    INDEX comments_ticket (ticket_id, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
