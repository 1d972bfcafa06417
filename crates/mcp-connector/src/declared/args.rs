//! Arguments of a declared tool: the JSON Schema clients see, and the
//! checks that turn a call's arguments into bound values.
//!
//! The schema and the checks come from the same [`ParamDef`]s, so what is
//! advertised is what is enforced. Caller-context values are added after
//! the arguments and cannot be supplied by them.

use std::collections::BTreeMap;

use rmcp::model::JsonObject;
use serde_json::{Value, json};

use super::spec::{Bound, ParamDef, number};
use crate::auth::Principal;
use crate::catalog::ToolError;

/// Who is calling, for `:_user`, `:_client`, `:_user_id`, `:_user_email`.
/// Unknown parts are bound as NULL, so a row filter on them matches nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub user: Option<String>,
    pub client: Option<String>,
    pub user_id: Option<String>,
    pub user_email: Option<String>,
}

impl Caller {
    /// The caller a validated token stands for.
    pub fn from_principal(p: &Principal) -> Self {
        Self {
            user: p.username.clone().or_else(|| p.user_id.clone()),
            client: Some(p.client_id.to_string()),
            user_id: p.user_id.clone(),
            user_email: p.email.clone(),
        }
    }

    fn value(&self, name: &str) -> Option<Bound> {
        let v = match name {
            "_user" => &self.user,
            "_client" => &self.client,
            "_user_id" => &self.user_id,
            "_user_email" => &self.user_email,
            _ => return None,
        };
        Some(v.clone().map_or(Bound::Null, Bound::Text))
    }
}

/// The `inputSchema` of a tool with these parameters.
pub fn input_schema(params: &[ParamDef]) -> JsonObject {
    let mut props = serde_json::Map::new();
    let mut required = Vec::new();
    for p in params {
        let mut s = serde_json::Map::new();
        s.insert("type".into(), json!(p.ty.as_str()));
        if let Some(d) = &p.description {
            s.insert("description".into(), json!(d));
        }
        if let Some(d) = &p.default {
            s.insert("default".into(), d.clone());
        }
        if let Some(a) = &p.allowed {
            s.insert("enum".into(), Value::Array(a.clone()));
        }
        if let Some(m) = p.minimum {
            s.insert("minimum".into(), number(m));
        }
        if let Some(m) = p.maximum {
            s.insert("maximum".into(), number(m));
        }
        if let Some(m) = p.min_length {
            s.insert("minLength".into(), json!(m));
        }
        if let Some(m) = p.max_length {
            s.insert("maxLength".into(), json!(m));
        }
        if p.required {
            required.push(json!(p.name));
        }
        props.insert(p.name.clone(), Value::Object(s));
    }
    let mut schema = serde_json::Map::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), Value::Object(props));
    if !required.is_empty() {
        schema.insert("required".into(), Value::Array(required));
    }
    schema.insert("additionalProperties".into(), json!(false));
    schema
}

/// Check the arguments and return every value a statement may bind:
/// declared parameters (given, default or NULL) and the caller context.
pub fn bind(
    params: &[ParamDef],
    args: JsonObject,
    caller: &Caller,
) -> Result<BTreeMap<String, Bound>, ToolError> {
    for key in args.keys() {
        if !params.iter().any(|p| &p.name == key) {
            return Err(ToolError::invalid(
                key,
                format!(
                    "unknown argument `{key}` (this tool takes: {})",
                    names(params)
                ),
            ));
        }
    }
    let mut out = BTreeMap::new();
    for p in params {
        let value = match args.get(&p.name) {
            Some(Value::Null) if !p.required => Bound::Null,
            Some(v) => {
                check_value(p, v).map_err(|m| ToolError::invalid(&p.name, m))?;
                to_bound(v)
            }
            None => match &p.default {
                Some(d) => to_bound(d),
                None if p.required => {
                    return Err(ToolError::invalid(&p.name, "missing required argument"));
                }
                None => Bound::Null,
            },
        };
        out.insert(p.name.clone(), value);
    }
    for name in super::spec::CONTEXT_PARAMS {
        if let Some(v) = caller.value(name) {
            out.insert((*name).to_owned(), v);
        }
    }
    Ok(out)
}

fn names(params: &[ParamDef]) -> String {
    if params.is_empty() {
        return "no arguments".to_owned();
    }
    params
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checked when a default loads and when a call arrives: one rule.
pub use crate::config::spec::check_value;

fn to_bound(v: &Value) -> Bound {
    match v {
        Value::Bool(b) => Bound::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map(Bound::Int)
            .unwrap_or_else(|| Bound::Float(n.as_f64().unwrap_or(f64::NAN))),
        Value::String(s) => Bound::Text(s.clone()),
        // Checked types are scalars; anything else binds as its JSON text.
        Value::Null => Bound::Null,
        other => Bound::Text(other.to_string()),
    }
}

#[cfg(test)]
#[path = "args_tests.rs"]
mod tests;
