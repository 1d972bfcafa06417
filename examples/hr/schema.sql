-- HR example, SQLite. Dates are ISO-8601 text (SQLite has no DATE type).
-- PostgreSQL: schema.postgres.sql; MySQL/MariaDB: schema.mysql.sql. The
-- seed data (seed.sql) is the same for all three.
DROP TABLE IF EXISTS employees;
DROP TABLE IF EXISTS titles;
DROP TABLE IF EXISTS departments;

CREATE TABLE departments (
    code     TEXT PRIMARY KEY,          -- short key the tools take, e.g. 'eng'
    name     TEXT NOT NULL UNIQUE,
    location TEXT NOT NULL
);

CREATE TABLE titles (
    title       TEXT PRIMARY KEY,
    level       INTEGER NOT NULL,       -- 1 (entry) to 5 (director)
    description TEXT NOT NULL
);

CREATE TABLE employees (
    id         INTEGER PRIMARY KEY,     -- employee number, assigned by HR
    name       TEXT NOT NULL,
    email      TEXT NOT NULL UNIQUE,    -- also the login e-mail (my_profile)
    title      TEXT NOT NULL REFERENCES titles (title),
    department TEXT NOT NULL REFERENCES departments (code),
    manager_id INTEGER REFERENCES employees (id),
    hired_on   TEXT NOT NULL            -- YYYY-MM-DD
);

CREATE INDEX employees_title ON employees (title);
CREATE INDEX employees_department ON employees (department, name);
CREATE INDEX employees_manager ON employees (manager_id);
