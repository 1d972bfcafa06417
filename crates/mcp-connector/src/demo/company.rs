//! The seed guide's "Company Tools", answered from the database.
//!
//! `get_employee_count("engineering")` is 42 because the seed migration put 42
//! engineers in the `employees` table, not because a map in code says so.

use futures::FutureExt as _;
use futures::future::BoxFuture;
use mcp_connector_security::Sealer;
use rmcp::model::{
    ArgumentInfo, CompleteRequestParams, CompletionInfo, GetPromptRequestParams, GetPromptResponse,
    GetPromptResult, Prompt, PromptArgument, PromptMessage, ReadResourceResult, Reference,
    Resource, ResourceContents, ResourceTemplate, Role,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::tools::{RegisterError, structured};
use crate::catalog::{Catalog, CatalogError, Identity, ToolError, ToolSet, ToolSpec};
use crate::store::Db;
use crate::store::company::{Department, Employee, EmployeeQuery};

/// URI scheme prefix of department resources.
const DEPT_URI: &str = "company://departments/";
/// Longest accepted name, title or department argument.
const MAX_TEXT: usize = 200;

/// The Company Tools catalog.
pub struct Company {
    db: Db,
    tools: ToolSet,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CountArgs {
    /// Department name, e.g. "engineering" (case-insensitive).
    department: String,
}

#[derive(Serialize, JsonSchema)]
struct CountOut {
    /// The department as asked, normalised to lower case.
    department: String,
    /// Number of employees; 0 for a department that does not exist.
    count: i64,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Serialize, JsonSchema)]
struct DepartmentsOut {
    departments: Vec<Department>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FindArgs {
    /// Case-insensitive text to find in names and titles. Omit to list everyone.
    #[serde(default)]
    query: Option<String>,
    /// Only this department (case-insensitive).
    #[serde(default)]
    department: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
    /// `next_cursor` of the previous page, to continue.
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct FindOut {
    employees: Vec<Employee>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AddArgs {
    /// Full name.
    name: String,
    /// An existing department, e.g. "sales".
    department: String,
    /// Job title.
    title: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RemoveArgs {
    /// Employee id, as returned by find_employees.
    id: i64,
}

#[derive(Serialize, JsonSchema)]
struct RemoveOut {
    removed: Employee,
}

fn bounded(argument: &str, value: &str) -> Result<String, ToolError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ToolError::invalid(argument, "must not be empty"));
    }
    if v.chars().count() > MAX_TEXT {
        return Err(ToolError::invalid(
            argument,
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(ToolError::invalid(
            argument,
            "must not contain control characters",
        ));
    }
    Ok(v.to_owned())
}

/// The cursor of `find_employees`: the last id seen, sealed together with a
/// digest of the filter so a cursor cannot be replayed against another query.
fn cursor_context(query: Option<&str>, department: Option<&str>) -> String {
    let filter = format!(
        "{}\u{0}{}",
        query.unwrap_or(""),
        department.unwrap_or("").to_lowercase()
    );
    format!(
        "find_employees:{}",
        mcp_connector_security::sha256_hex(filter.as_bytes())
    )
}

impl Company {
    pub fn new(db: Db, sealer: Sealer) -> Result<Self, RegisterError> {
        let mut tools = ToolSet::new();

        let d = db.clone();
        tools.add_structured::<CountArgs, CountOut, _, _>(
            ToolSpec::read(
                "get_employee_count",
                "Employee count",
                "Return the current headcount of a department (0 if the department does not exist).",
            ),
            move |_ctx, a: CountArgs| {
                let db = d.clone();
                async move {
                    let department = bounded("department", &a.department)?.to_lowercase();
                    let count = db.employee_count(&department).await?;
                    Ok(structured(&CountOut { department, count }))
                }
            },
        )?;

        let d = db.clone();
        tools.add_structured::<NoArgs, DepartmentsOut, _, _>(
            ToolSpec::read(
                "list_departments",
                "List departments",
                "List every department with its headcount.",
            ),
            move |_ctx, _: NoArgs| {
                let db = d.clone();
                async move {
                    Ok(structured(&DepartmentsOut {
                        departments: db.departments().await?,
                    }))
                }
            },
        )?;

        let d = db.clone();
        tools.add_structured::<FindArgs, FindOut, _, _>(
            ToolSpec::read(
                "find_employees",
                "Find employees",
                "Find employees by name or title, optionally in one department. Results are paginated: pass next_cursor back as cursor for more.",
            ),
            move |_ctx, a: FindArgs| {
                let db = d.clone();
                let sealer = sealer.clone();
                async move {
                    let limit = a.limit.unwrap_or(20);
                    if !(1..=100).contains(&limit) {
                        return Err(ToolError::invalid("limit", "must be between 1 and 100"));
                    }
                    let text = a.query.as_deref().map(|q| bounded("query", q)).transpose()?;
                    let department = a.department.as_deref().map(|q| bounded("department", q)).transpose()?;
                    let context = cursor_context(text.as_deref(), department.as_deref());
                    let after_id = match a.cursor.as_deref() {
                        None => 0,
                        Some(c) => {
                            let bytes = sealer.open(&context, c).map_err(|_| {
                                ToolError::invalid("cursor", "is not a cursor returned by this query; start again without it")
                            })?;
                            let arr: [u8; 8] = bytes.try_into().map_err(|_| ToolError::invalid("cursor", "is malformed"))?;
                            i64::from_be_bytes(arr)
                        }
                    };
                    let page = db
                        .find_employees(&EmployeeQuery { text, department, after_id, limit })
                        .await?;
                    let next_cursor = page.more_after.map(|id| sealer.seal(&context, &id.to_be_bytes()));
                    Ok(structured(&FindOut { employees: page.employees, next_cursor }))
                }
            },
        )?;

        let d = db.clone();
        tools.add_structured::<AddArgs, Employee, _, _>(
            ToolSpec {
                name: "add_employee",
                title: "Add employee",
                description: "Add an employee to an existing department. This writes to the company database.",
                read_only: false,
                destructive: false,
                idempotent: false,
                open_world: false,
            },
            move |_ctx, a: AddArgs| {
                let db = d.clone();
                async move {
                    let name = bounded("name", &a.name)?;
                    let title = bounded("title", &a.title)?;
                    let department = bounded("department", &a.department)?;
                    match db.add_employee(&name, &department, &title).await? {
                        Some(e) => Ok(structured(&e)),
                        None => {
                            let known: Vec<String> = db.departments().await?.into_iter().map(|d| d.name).collect();
                            Err(ToolError::invalid(
                                "department",
                                format!("no department `{department}`; existing departments: {}", known.join(", ")),
                            ))
                        }
                    }
                }
            },
        )?;

        let d = db.clone();
        tools.add_structured::<RemoveArgs, RemoveOut, _, _>(
            ToolSpec {
                name: "remove_employee",
                title: "Remove employee",
                description: "Permanently remove an employee record by id. This deletes data.",
                read_only: false,
                destructive: true,
                idempotent: true,
                open_world: false,
            },
            move |_ctx, a: RemoveArgs| {
                let db = d.clone();
                async move {
                    match db.remove_employee(a.id).await? {
                        Some(removed) => Ok(structured(&RemoveOut { removed })),
                        None => Err(ToolError::NotFound(format!(
                            "No employee with id {}.",
                            a.id
                        ))),
                    }
                }
            },
        )?;

        Ok(Self { db, tools })
    }

    async fn department_resource(&self, uri: &str) -> Result<ReadResourceResult, CatalogError> {
        let not_found = || CatalogError::ResourceNotFound(uri.to_owned());
        let name = uri.strip_prefix(DEPT_URI).ok_or_else(not_found)?;
        let dept = self.db.department(name).await?.ok_or_else(not_found)?;
        let text = serde_json::to_string_pretty(&dept).unwrap_or_default();
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, uri).with_mime_type("application/json"),
        ]))
    }
}

fn department_names(depts: &[Department]) -> String {
    depts
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Catalog for Company {
    fn scopes(&self) -> crate::auth::ToolScopes {
        crate::auth::ToolScopes {
            read: "employees:read",
            write: "employees:write",
        }
    }

    fn identity(&self) -> Identity {
        Identity {
            name: "company-tools",
            title: "Company Tools",
            instructions: "Answers questions about the company's departments and employees from the company database. \
                Use get_employee_count for headcounts, list_departments to see department names, find_employees to look people up. \
                add_employee and remove_employee change data: only call them when the user asked for that change.",
        }
    }

    fn tools(&self) -> &ToolSet {
        &self.tools
    }

    fn list_resources(&self) -> BoxFuture<'_, Result<Vec<Resource>, CatalogError>> {
        async move {
            Ok(self
                .db
                .departments()
                .await?
                .into_iter()
                .map(|d| {
                    Resource::new(format!("{DEPT_URI}{}", d.name), d.name.clone())
                        .with_title(d.display_name.clone())
                        .with_description(format!(
                            "{} ({} employees)",
                            d.description, d.employee_count
                        ))
                        .with_mime_type("application/json")
                })
                .collect())
        }
        .boxed()
    }

    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        vec![
            ResourceTemplate::new(format!("{DEPT_URI}{{name}}"), "department")
                .with_title("Department")
                .with_description("A department with its headcount, by name (e.g. engineering).")
                .with_mime_type("application/json"),
        ]
    }

    fn read_resource<'a>(
        &'a self,
        uri: &'a str,
    ) -> BoxFuture<'a, Result<ReadResourceResult, CatalogError>> {
        self.department_resource(uri).boxed()
    }

    fn prompts(&self) -> Vec<Prompt> {
        vec![Prompt::new(
            "headcount_report",
            Some("Write a short headcount report from live numbers, for one department or the whole company."),
            Some(vec![{
                let mut a = PromptArgument::new("department");
                a.description = Some("Department name; omit for the whole company.".into());
                a.required = Some(false);
                a
            }]),
        )
        .with_title("Headcount report")]
    }

    fn get_prompt(
        &self,
        request: GetPromptRequestParams,
    ) -> BoxFuture<'_, Result<GetPromptResponse, CatalogError>> {
        async move {
            if request.name != "headcount_report" {
                return Err(CatalogError::UnknownPrompt(request.name));
            }
            let depts = self.db.departments().await?;
            let wanted = request
                .arguments
                .as_ref()
                .and_then(|a| a.get("department"))
                .and_then(|v| v.as_str())
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty());
            let rows: Vec<&Department> = match &wanted {
                Some(name) => {
                    let Some(d) = depts.iter().find(|d| &d.name == name) else {
                        return Err(CatalogError::InvalidArgument {
                            argument: "department".into(),
                            message: format!("no department `{name}`; existing departments: {}", department_names(&depts)),
                        });
                    };
                    vec![d]
                }
                None => depts.iter().collect(),
            };
            let table = rows
                .iter()
                .map(|d| format!("- {}: {} employees", d.display_name, d.employee_count))
                .collect::<Vec<_>>()
                .join("\n");
            let scope = wanted.as_deref().map_or("the whole company".to_owned(), |n| format!("the {n} department"));
            let text = format!(
                "Write a short headcount report for {scope}. Use only these figures from the company database:\n{table}"
            );
            Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
                .with_description(format!("Headcount report for {scope}"))
                .into())
        }
        .boxed()
    }

    fn complete(
        &self,
        request: CompleteRequestParams,
    ) -> BoxFuture<'_, Result<CompletionInfo, CatalogError>> {
        async move {
            let ArgumentInfo { name, value, .. } = request.argument;
            let target = match &request.r#ref {
                Reference::Prompt(p) => p.name == "headcount_report" && name == "department",
                Reference::Resource(r) => r.uri == format!("{DEPT_URI}{{name}}") && name == "name",
                _ => false,
            };
            if !target {
                return Err(CatalogError::UnknownReference);
            }
            let values = self.db.department_names_with_prefix(&value).await?;
            Ok(CompletionInfo::with_all_values(values).unwrap_or_default())
        }
        .boxed()
    }
}
