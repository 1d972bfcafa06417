-- HR example, MySQL and MariaDB (same tables as schema.sql). InnoDB for the
-- foreign keys and for READ ONLY transactions.
DROP TABLE IF EXISTS employees;
DROP TABLE IF EXISTS titles;
DROP TABLE IF EXISTS departments;

CREATE TABLE departments (
    code     VARCHAR(16) PRIMARY KEY,
    name     VARCHAR(100) NOT NULL UNIQUE,
    location VARCHAR(100) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE titles (
    title       VARCHAR(100) PRIMARY KEY,
    level       INT NOT NULL,
    description VARCHAR(255) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE employees (
    id         INT PRIMARY KEY,
    name       VARCHAR(100) NOT NULL,
    email      VARCHAR(255) NOT NULL UNIQUE,
    title      VARCHAR(100) NOT NULL,
    department VARCHAR(16) NOT NULL,
    manager_id INT NULL,
    hired_on   DATE NOT NULL,
    FOREIGN KEY (title) REFERENCES titles (title),
    FOREIGN KEY (department) REFERENCES departments (code),
    FOREIGN KEY (manager_id) REFERENCES employees (id),
    INDEX employees_title (title),
    INDEX employees_department (department, name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
