-- HR example, PostgreSQL (same tables as schema.sql).
DROP TABLE IF EXISTS employees;
DROP TABLE IF EXISTS titles;
DROP TABLE IF EXISTS departments;

CREATE TABLE departments (
    code     TEXT PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    location TEXT NOT NULL
);

CREATE TABLE titles (
    title       TEXT PRIMARY KEY,
    level       INTEGER NOT NULL,
    description TEXT NOT NULL
);

CREATE TABLE employees (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL UNIQUE,
    title      TEXT NOT NULL REFERENCES titles (title),
    department TEXT NOT NULL REFERENCES departments (code),
    manager_id INTEGER REFERENCES employees (id),
    hired_on   DATE NOT NULL
);

CREATE INDEX employees_title ON employees (title);
CREATE INDEX employees_department ON employees (department, name);
CREATE INDEX employees_manager ON employees (manager_id);
