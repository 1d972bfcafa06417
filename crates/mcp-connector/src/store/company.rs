//! Queries of the Company Tools demo. Reads use the read-only pool.

use serde::Serialize;
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{Db, StoreError};

/// A department with its headcount.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Department {
    /// Lower-case key, as tools accept it.
    pub name: String,
    /// Name for people.
    pub display_name: String,
    pub description: String,
    pub employee_count: i64,
}

/// One employee.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Employee {
    pub id: i64,
    pub name: String,
    pub title: String,
    pub department: String,
}

/// A page of [`Employee`]s in id order.
#[derive(Debug, Clone)]
pub struct EmployeePage {
    pub employees: Vec<Employee>,
    /// Id of the last row returned when more rows follow.
    pub more_after: Option<i64>,
}

/// Filter of [`Db::find_employees`].
#[derive(Debug, Clone, Default)]
pub struct EmployeeQuery {
    /// Case-insensitive substring of name or title.
    pub text: Option<String>,
    /// Department key (lower case).
    pub department: Option<String>,
    /// Return rows with id greater than this.
    pub after_id: i64,
    pub limit: u32,
}

/// Escape `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern, so that user
/// text is matched literally.
fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Decode an employee from `(id, name, title, department)` columns, on either backend.
fn employee<R: Row>(r: &R) -> Employee
where
    usize: ColumnIndex<R>,
    for<'a> i64: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> String: Decode<'a, R::Database> + Type<R::Database>,
{
    Employee {
        id: r.get(0),
        name: r.get(1),
        title: r.get(2),
        department: r.get(3),
    }
}

/// Decode a department from `(name, display_name, description, count)` columns.
fn department<R: Row>(r: &R) -> Department
where
    usize: ColumnIndex<R>,
    for<'a> i64: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> String: Decode<'a, R::Database> + Type<R::Database>,
{
    Department {
        name: r.get(0),
        display_name: r.get(1),
        description: r.get(2),
        employee_count: r.get(3),
    }
}

const COUNT_SQLITE: &str = "SELECT count(*) FROM employees e JOIN departments d ON d.id = e.department_id WHERE d.name = ?";
const COUNT_PG: &str = "SELECT count(*) FROM employees e JOIN departments d ON d.id = e.department_id WHERE d.name = $1";

const DEPTS: &str = "SELECT d.name, d.display_name, d.description, \
     (SELECT count(*) FROM employees e WHERE e.department_id = d.id) AS employee_count \
     FROM departments d ORDER BY d.name";

impl Db {
    /// Headcount of `department` (case-insensitive); 0 when it does not exist.
    pub async fn employee_count(&self, department: &str) -> Result<i64, StoreError> {
        let key = department.trim().to_lowercase();
        Ok(match self {
            Self::Sqlite { read, .. } => {
                sqlx::query_scalar(COUNT_SQLITE)
                    .bind(key)
                    .fetch_one(read)
                    .await?
            }
            Self::Postgres { read, .. } => {
                sqlx::query_scalar(COUNT_PG)
                    .bind(key)
                    .fetch_one(read)
                    .await?
            }
        })
    }

    /// Every department with its headcount, by name.
    pub async fn departments(&self) -> Result<Vec<Department>, StoreError> {
        Ok(match self {
            Self::Sqlite { read, .. } => sqlx::query(DEPTS)
                .fetch_all(read)
                .await?
                .iter()
                .map(department)
                .collect(),
            Self::Postgres { read, .. } => sqlx::query(DEPTS)
                .fetch_all(read)
                .await?
                .iter()
                .map(department)
                .collect(),
        })
    }

    /// One department by key (case-insensitive).
    pub async fn department(&self, name: &str) -> Result<Option<Department>, StoreError> {
        let key = name.trim().to_lowercase();
        Ok(self
            .departments()
            .await?
            .into_iter()
            .find(|d| d.name == key))
    }

    /// Department keys starting with `prefix` (case-insensitive), for completion.
    pub async fn department_names_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<String>, StoreError> {
        let prefix = prefix.to_lowercase();
        Ok(self
            .departments()
            .await?
            .into_iter()
            .map(|d| d.name)
            .filter(|n| n.starts_with(&prefix))
            .collect())
    }

    /// A page of employees matching `q`, in id order.
    pub async fn find_employees(&self, q: &EmployeeQuery) -> Result<EmployeePage, StoreError> {
        let pattern = q.text.as_deref().map(like_pattern);
        let dept = q.department.as_deref().map(|d| d.trim().to_lowercase());
        // One more than asked tells whether another page follows.
        let fetch = i64::from(q.limit) + 1;
        let rows = match self {
            Self::Sqlite { read, .. } => {
                sqlx::query(
                    "SELECT e.id, e.name, e.title, d.name FROM employees e \
                     JOIN departments d ON d.id = e.department_id \
                     WHERE e.id > ?1 \
                       AND (?2 IS NULL OR lower(e.name) LIKE ?2 ESCAPE '\\' OR lower(e.title) LIKE ?2 ESCAPE '\\') \
                       AND (?3 IS NULL OR d.name = ?3) \
                     ORDER BY e.id LIMIT ?4",
                )
                .bind(q.after_id)
                .bind(pattern)
                .bind(dept)
                .bind(fetch)
                .fetch_all(read)
                .await?
                .iter()
                .map(employee)
                .collect::<Vec<_>>()
            }
            Self::Postgres { read, .. } => sqlx::query(
                "SELECT e.id, e.name, e.title, d.name FROM employees e \
                 JOIN departments d ON d.id = e.department_id \
                 WHERE e.id > $1 \
                   AND ($2::text IS NULL OR lower(e.name) LIKE $2 ESCAPE '\\' OR lower(e.title) LIKE $2 ESCAPE '\\') \
                   AND ($3::text IS NULL OR d.name = $3) \
                 ORDER BY e.id LIMIT $4",
            )
            .bind(q.after_id)
            .bind(pattern)
            .bind(dept)
            .bind(fetch)
            .fetch_all(read)
            .await?
            .iter()
            .map(employee)
            .collect(),
        };
        let mut employees = rows;
        let more_after = if employees.len() > q.limit as usize {
            employees.truncate(q.limit as usize);
            employees.last().map(|e| e.id)
        } else {
            None
        };
        Ok(EmployeePage {
            employees,
            more_after,
        })
    }

    /// Add an employee to an existing department. `Ok(None)` when the
    /// department does not exist.
    pub async fn add_employee(
        &self,
        name: &str,
        department: &str,
        title: &str,
    ) -> Result<Option<Employee>, StoreError> {
        let key = department.trim().to_lowercase();
        let id: Option<i64> = match self {
            Self::Sqlite { write, .. } => {
                sqlx::query_scalar(
                    "INSERT INTO employees (name, title, department_id) \
                     SELECT ?, ?, id FROM departments WHERE name = ? RETURNING id",
                )
                .bind(name)
                .bind(title)
                .bind(&key)
                .fetch_optional(write)
                .await?
            }
            Self::Postgres { write, .. } => {
                sqlx::query_scalar(
                    "INSERT INTO employees (name, title, department_id) \
                     SELECT $1, $2, id FROM departments WHERE name = $3 RETURNING id",
                )
                .bind(name)
                .bind(title)
                .bind(&key)
                .fetch_optional(write)
                .await?
            }
        };
        Ok(id.map(|id| Employee {
            id,
            name: name.to_owned(),
            title: title.to_owned(),
            department: key,
        }))
    }

    /// Remove an employee; the removed row, or `None` if there was none.
    pub async fn remove_employee(&self, id: i64) -> Result<Option<Employee>, StoreError> {
        let row = match self {
            Self::Sqlite { write, .. } => sqlx::query(
                "DELETE FROM employees WHERE id = ? RETURNING id, name, title, \
                     (SELECT name FROM departments d WHERE d.id = department_id)",
            )
            .bind(id)
            .fetch_optional(write)
            .await?
            .as_ref()
            .map(employee),
            Self::Postgres { write, .. } => sqlx::query(
                "DELETE FROM employees e USING departments d \
                 WHERE e.id = $1 AND d.id = e.department_id \
                 RETURNING e.id, e.name, e.title, d.name",
            )
            .bind(id)
            .fetch_optional(write)
            .await?
            .as_ref()
            .map(employee),
        };
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
        assert_eq!(like_pattern("Eng"), "%eng%");
    }
}
