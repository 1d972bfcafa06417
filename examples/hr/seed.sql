-- HR example seed data, for SQLite, PostgreSQL and MySQL/MariaDB alike
-- (plain multi-row INSERTs, ISO dates, no engine-specific syntax).
-- 5 departments, 13 titles, 38 employees; 9 of them are Software Engineers
-- and Engineering has 17 people (the tests rely on both numbers).

INSERT INTO departments (code, name, location) VALUES
    ('eng', 'Engineering', 'Berlin'),
    ('sales', 'Sales', 'London'),
    ('support', 'Customer Support', 'Lisbon'),
    ('finance', 'Finance', 'London'),
    ('people', 'People Operations', 'Berlin');

INSERT INTO titles (title, level, description) VALUES
    ('Director', 5, 'Heads a department.'),
    ('Engineering Manager', 4, 'Manages an engineering team.'),
    ('Staff Engineer', 4, 'Sets technical direction across engineering teams.'),
    ('Senior Software Engineer', 3, 'Leads technical work within a team.'),
    ('Software Engineer', 2, 'Builds and maintains the product.'),
    ('Sales Manager', 4, 'Manages the account executives.'),
    ('Account Executive', 2, 'Sells to new customers.'),
    ('Support Lead', 3, 'Leads the support team and handles escalations.'),
    ('Support Specialist', 1, 'Answers customer tickets.'),
    ('Finance Manager', 4, 'Runs finance: budgets, payroll, reporting.'),
    ('Accountant', 2, 'Keeps the books.'),
    ('HR Business Partner', 3, 'Advises managers on people matters.'),
    ('Recruiter', 2, 'Finds and hires new employees.');

-- Managers come before their reports (MySQL checks foreign keys row by row).
INSERT INTO employees (id, name, email, title, department, manager_id, hired_on) VALUES
    (1001, 'Amara Okafor', 'amara.okafor@example.com', 'Director', 'eng', NULL, '2015-02-02'),
    (1002, 'Lukas Becker', 'lukas.becker@example.com', 'Director', 'sales', NULL, '2016-05-09'),
    (1003, 'Sofia Marques', 'sofia.marques@example.com', 'Director', 'support', NULL, '2017-01-16'),
    (1004, 'Hannah Schmidt', 'hannah.schmidt@example.com', 'Finance Manager', 'finance', NULL, '2016-09-05'),
    (1005, 'Priya Raman', 'priya.raman@example.com', 'HR Business Partner', 'people', NULL, '2018-03-12'),
    (1010, 'Jonas Weber', 'jonas.weber@example.com', 'Engineering Manager', 'eng', 1001, '2017-06-19'),
    (1011, 'Mei Lin', 'mei.lin@example.com', 'Engineering Manager', 'eng', 1001, '2018-10-01'),
    (1012, 'Tomasz Nowak', 'tomasz.nowak@example.com', 'Staff Engineer', 'eng', 1001, '2016-11-14'),
    (1013, 'Grace Mensah', 'grace.mensah@example.com', 'Senior Software Engineer', 'eng', 1010, '2019-01-07'),
    (1014, 'Diego Alvarez', 'diego.alvarez@example.com', 'Senior Software Engineer', 'eng', 1010, '2019-08-26'),
    (1015, 'Yuki Tanaka', 'yuki.tanaka@example.com', 'Senior Software Engineer', 'eng', 1011, '2020-02-17'),
    (1016, 'Fatima Zahra', 'fatima.zahra@example.com', 'Senior Software Engineer', 'eng', 1011, '2020-07-06'),
    (1017, 'Oliver Hughes', 'oliver.hughes@example.com', 'Software Engineer', 'eng', 1010, '2021-03-01'),
    (1018, 'Ana Costa', 'ana.costa@example.com', 'Software Engineer', 'eng', 1010, '2021-05-10'),
    (1019, 'Kwame Asante', 'kwame.asante@example.com', 'Software Engineer', 'eng', 1010, '2021-09-13'),
    (1020, 'Lena Fischer', 'lena.fischer@example.com', 'Software Engineer', 'eng', 1010, '2022-01-24'),
    (1021, 'Ravi Patel', 'ravi.patel@example.com', 'Software Engineer', 'eng', 1011, '2022-04-04'),
    (1022, 'Chloe Martin', 'chloe.martin@example.com', 'Software Engineer', 'eng', 1011, '2022-08-15'),
    (1023, 'Mateo Rossi', 'mateo.rossi@example.com', 'Software Engineer', 'eng', 1011, '2023-02-06'),
    (1024, 'Nora Berg', 'nora.berg@example.com', 'Software Engineer', 'eng', 1011, '2023-06-19'),
    (1025, 'Samuel Adeyemi', 'samuel.adeyemi@example.com', 'Software Engineer', 'eng', 1010, '2024-01-08'),
    (1030, 'Emily Clarke', 'emily.clarke@example.com', 'Sales Manager', 'sales', 1002, '2018-04-23'),
    (1031, 'Marco Bianchi', 'marco.bianchi@example.com', 'Account Executive', 'sales', 1030, '2019-10-14'),
    (1032, 'Aisha Khan', 'aisha.khan@example.com', 'Account Executive', 'sales', 1030, '2020-11-02'),
    (1033, 'Jack Murphy', 'jack.murphy@example.com', 'Account Executive', 'sales', 1030, '2021-07-19'),
    (1034, 'Ingrid Larsen', 'ingrid.larsen@example.com', 'Account Executive', 'sales', 1030, '2022-10-03'),
    (1035, 'Daniel Kim', 'daniel.kim@example.com', 'Account Executive', 'sales', 1030, '2023-09-11'),
    (1040, 'Beatriz Santos', 'beatriz.santos@example.com', 'Support Lead', 'support', 1003, '2018-12-03'),
    (1041, 'Alice Moreau', 'alice.moreau@example.com', 'Support Specialist', 'support', 1040, '2020-03-16'),
    (1042, 'Bob Jansen', 'bob.jansen@example.com', 'Support Specialist', 'support', 1040, '2020-09-28'),
    (1043, 'Chen Wei', 'chen.wei@example.com', 'Support Specialist', 'support', 1040, '2021-06-07'),
    (1044, 'Zanele Dlamini', 'zanele.dlamini@example.com', 'Support Specialist', 'support', 1040, '2022-02-21'),
    (1045, 'Pedro Lopes', 'pedro.lopes@example.com', 'Support Specialist', 'support', 1040, '2023-04-17'),
    (1046, 'Sara Lindqvist', 'sara.lindqvist@example.com', 'Support Specialist', 'support', 1040, '2024-05-13'),
    (1050, 'Noah Wright', 'noah.wright@example.com', 'Accountant', 'finance', 1004, '2019-05-20'),
    (1051, 'Elif Yilmaz', 'elif.yilmaz@example.com', 'Accountant', 'finance', 1004, '2022-11-07'),
    (1060, 'Lucia Romero', 'lucia.romero@example.com', 'Recruiter', 'people', 1005, '2021-01-11'),
    (1061, 'Arjun Mehta', 'arjun.mehta@example.com', 'Recruiter', 'people', 1005, '2023-08-28');
