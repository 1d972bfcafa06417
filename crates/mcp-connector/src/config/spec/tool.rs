//! Validation of a `[[tools]]` entry: the source it names, annotations,
//! parameters, and that placeholders and parameters match exactly.

use std::collections::{BTreeMap, BTreeSet};

use super::placeholder;
use super::source::valid_name;
use super::{
    Action, CONTEXT_PARAMS, DEFAULT_MAX_CHARS, DEFAULT_MAX_ROWS, HttpRequestSpec, JsonType,
    ParamDef, PathPiece, SourceKind, SourceSpec, SpecError, SqlStatement, ToolDef, type_matches,
};
use super::{CURSOR_ARG, check_value, valid_tool_name};
use crate::config::file::{ParamDecl, ToolDecl};

/// Validate the `i`-th `[[tools]]` entry against the sources.
pub fn tool(
    i: usize,
    mut d: ToolDecl,
    sources: &BTreeMap<String, SourceSpec>,
) -> Result<ToolDef, SpecError> {
    let name = d.name.get_ref().clone();
    let at = |k: &str| format!("tools[{i}] ({name}).{k}");
    if !valid_tool_name(&name) {
        return Err(SpecError::new(
            at("name"),
            "must match ^[a-zA-Z0-9_-]{1,64}$ (Claude drops every tool otherwise)",
        ));
    }
    if d.description.trim().is_empty() {
        return Err(SpecError::new(
            at("description"),
            "must not be empty: the model reads it to choose the tool",
        ));
    }
    let source = sources.get(&d.source).ok_or_else(|| {
        let known: Vec<&str> = sources.keys().map(String::as_str).collect();
        SpecError::new(
            at("source"),
            format!("no [sources.{}] (declared: {})", d.source, known.join(", ")),
        )
    })?;
    let kind = d.kind.as_deref().unwrap_or(match source.kind {
        SourceKind::Sql(_) => "sql",
        SourceKind::Http(_) => "http",
    });
    // Parsed before the read-only default, which depends on it (and so that
    // a bad method is reported as such).
    let method = match (kind, &source.kind) {
        ("http", SourceKind::Http(_)) => Some(http_method(&at, d.method.as_deref())?),
        _ => None,
    };
    let read_only = match (d.read_only, &method) {
        (Some(x), _) => x,
        // SQL tools run where the engine refuses writes, and a GET is safe by
        // HTTP's own rules. Nothing fences any other method: served as
        // read-only it would pass `--read-only`, need only the read scope
        // and skip confirmation, so the config must say what it does.
        (None, None) => true,
        (None, Some(m)) if *m == http::Method::GET => true,
        (None, Some(m)) => {
            return Err(SpecError::new(
                at("read_only"),
                format!(
                    "required for method {m}: say whether the call changes anything \
                     (read_only = false, with destructive = …) or not (read_only = true, \
                     e.g. a search)"
                ),
            ));
        }
    };
    let destructive = match (read_only, d.destructive) {
        (true, Some(true)) => {
            return Err(SpecError::new(
                at("destructive"),
                "a read_only tool cannot be destructive",
            ));
        }
        (true, _) => false,
        (false, Some(x)) => x,
        (false, None) => {
            return Err(SpecError::new(
                at("destructive"),
                "a tool with read_only = false must say destructive = true or false",
            ));
        }
    };
    let mut params = Vec::new();
    for (pname, p) in std::mem::take(&mut d.parameters) {
        params.push(param(&at(&format!("parameters.{pname}")), &pname, p)?);
    }
    let declared: BTreeSet<&str> = params.iter().map(|p| p.name.as_str()).collect();
    if kind == "sql" && read_only && declared.contains(CURSOR_ARG) {
        return Err(SpecError::new(
            at("parameters.cursor"),
            "`cursor` is reserved: read tools take it for the next page",
        ));
    }
    let action = match (kind, &source.kind) {
        ("sql", SourceKind::Sql(sql)) => {
            for k in [
                ("method", d.method.is_some()),
                ("path", d.path.is_some()),
                ("query", d.query.is_some()),
                ("body", d.body.is_some()),
            ] {
                if k.1 {
                    return Err(SpecError::new(at(k.0), "only for kind = \"http\""));
                }
            }
            let statement = d
                .statement
                .ok_or_else(|| SpecError::new(at("statement"), "is required for an SQL tool"))?;
            let span = statement.span();
            let text = statement.into_inner();
            if text.trim().is_empty() {
                return Err(SpecError::new(at("statement"), "is empty").with_span(span));
            }
            let segments = placeholder::scan(&text, sql.engine);
            check_placeholders(
                &at("statement"),
                placeholder::names(&segments).map(|(n, _)| n),
                &declared,
            )
            .map_err(|e| e.with_span(span.clone()))?;
            let (rendered, order) = placeholder::render(&segments, sql.engine);
            Action::Sql(SqlStatement {
                text,
                sql: rendered,
                order,
            })
        }
        ("http", SourceKind::Http(_)) => {
            if d.statement.is_some() {
                return Err(SpecError::new(at("statement"), "only for SQL tools"));
            }
            let method = method.unwrap_or(http::Method::GET);
            Action::Http(http_request(&at, method, &d, &params, &declared)?)
        }
        ("sql" | "http", _) => {
            return Err(SpecError::new(
                at("kind"),
                format!("`{kind}` does not match [sources.{}]", d.source),
            ));
        }
        (other, _) => {
            return Err(SpecError::new(
                at("kind"),
                format!("`{other}` is not one of: sql, http"),
            ));
        }
    };
    let columns = match d.columns {
        None => None,
        Some(map) => Some(
            map.into_iter()
                .map(|(c, t)| {
                    JsonType::parse(&t).map(|t| (c.clone(), t)).ok_or_else(|| {
                        SpecError::new(
                            at(&format!("columns.{c}")),
                            format!("`{t}` is not one of: string, integer, number, boolean, any"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(ToolDef {
        title: d.title.unwrap_or_else(|| name.replace('_', " ")),
        description: d.description,
        source: d.source,
        read_only,
        destructive,
        idempotent: d.idempotent.unwrap_or(read_only),
        params,
        action,
        max_rows: bounded(&at("max_rows"), d.max_rows, DEFAULT_MAX_ROWS, 1, 10_000)?,
        max_chars: bounded(
            &at("max_chars"),
            d.max_chars,
            DEFAULT_MAX_CHARS,
            1_000,
            1_000_000,
        )?,
        columns,
        name,
    })
}

fn bounded(
    at: &str,
    v: Option<usize>,
    default: usize,
    lo: usize,
    hi: usize,
) -> Result<usize, SpecError> {
    let v = v.unwrap_or(default);
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(SpecError::new(at, format!("must be between {lo} and {hi}")))
    }
}

/// Every placeholder is declared or a context name; every declared
/// parameter is used.
fn check_placeholders<'a>(
    at: &str,
    used: impl Iterator<Item = &'a str>,
    declared: &BTreeSet<&str>,
) -> Result<(), SpecError> {
    let used: BTreeSet<&str> = used.collect();
    for u in &used {
        if u.starts_with('_') {
            if !CONTEXT_PARAMS.contains(u) {
                return Err(SpecError::new(
                    at,
                    format!(
                        "`:{u}` is not a caller-context name (those are {})",
                        CONTEXT_PARAMS.join(", ")
                    ),
                ));
            }
        } else if !declared.contains(u) {
            return Err(SpecError::new(
                at,
                format!("placeholder `:{u}` has no [tools.parameters.{u}]"),
            ));
        }
    }
    if let Some(unused) = declared.iter().find(|p| !used.contains(*p)) {
        return Err(SpecError::new(
            at,
            format!("parameter `{unused}` is declared but the statement has no `:{unused}`"),
        ));
    }
    Ok(())
}

/// The tool's `method` (default GET).
fn http_method(
    at: &dyn Fn(&str) -> String,
    method: Option<&str>,
) -> Result<http::Method, SpecError> {
    match method.unwrap_or("GET").to_ascii_uppercase().as_str() {
        "GET" => Ok(http::Method::GET),
        "POST" => Ok(http::Method::POST),
        "PUT" => Ok(http::Method::PUT),
        "PATCH" => Ok(http::Method::PATCH),
        "DELETE" => Ok(http::Method::DELETE),
        other => Err(SpecError::new(
            at("method"),
            format!("`{other}` is not one of: GET, POST, PUT, PATCH, DELETE"),
        )),
    }
}

fn http_request(
    at: &dyn Fn(&str) -> String,
    method: http::Method,
    d: &ToolDecl,
    params: &[ParamDef],
    declared: &BTreeSet<&str>,
) -> Result<HttpRequestSpec, SpecError> {
    let (path_text, span) = match &d.path {
        Some(p) => (p.get_ref().clone(), Some(p.span())),
        None => (String::new(), None),
    };
    let path = parse_path(&path_text).map_err(|m| {
        let e = SpecError::new(at("path"), m);
        match &span {
            Some(s) => e.with_span(s.clone()),
            None => e,
        }
    })?;
    let in_path: BTreeSet<&str> = path
        .iter()
        .filter_map(|p| match p {
            PathPiece::Param(n) | PathPiece::Segments(n) => Some(n.as_str()),
            PathPiece::Text(_) => None,
        })
        .collect();
    for p in &in_path {
        if !declared.contains(p) && !CONTEXT_PARAMS.contains(p) {
            return Err(SpecError::new(
                at("path"),
                format!("`{{{p}}}` has no [tools.parameters.{p}]"),
            ));
        }
    }
    let rest: Vec<String> = params
        .iter()
        .map(|p| p.name.clone())
        .filter(|n| !in_path.contains(n.as_str()))
        .collect();
    let sends_body = matches!(
        method,
        http::Method::POST | http::Method::PUT | http::Method::PATCH
    );
    let query = d
        .query
        .clone()
        .unwrap_or_else(|| if sends_body { Vec::new() } else { rest.clone() });
    let body = d
        .body
        .clone()
        .unwrap_or_else(|| if sends_body { rest.clone() } else { Vec::new() });
    for (k, list) in [("query", &query), ("body", &body)] {
        if let Some(bad) = list.iter().find(|n| !declared.contains(n.as_str())) {
            return Err(SpecError::new(
                at(k),
                format!("`{bad}` is not a declared parameter"),
            ));
        }
    }
    if let Some(unused) = rest
        .iter()
        .find(|n| !query.contains(n) && !body.contains(n))
    {
        return Err(SpecError::new(
            at("parameters"),
            format!("parameter `{unused}` is not sent (not in path, query or body)"),
        ));
    }
    Ok(HttpRequestSpec {
        method,
        path,
        query,
        body,
    })
}

/// `/tickets/{id}/comments` → text and parameter pieces.
fn parse_path(text: &str) -> Result<Vec<PathPiece>, String> {
    if text.contains(['?', '#']) {
        return Err("no query or fragment in a path; use `query = [...]`".to_owned());
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(PathPiece::Text(rest[..open].to_owned()));
        }
        let close = rest[open..].find('}').ok_or("`{` without `}`")? + open;
        let name = &rest[open + 1..close];
        let (multi, name) = match name.strip_prefix('+') {
            Some(n) => (true, n),
            None => (false, name),
        };
        if !valid_name(name) {
            return Err(format!("`{{{name}}}` is not a parameter name"));
        }
        out.push(if multi {
            PathPiece::Segments(name.to_owned())
        } else {
            PathPiece::Param(name.to_owned())
        });
        rest = &rest[close + 1..];
    }
    if rest.contains('}') {
        return Err("`}` without `{`".to_owned());
    }
    if !rest.is_empty() {
        out.push(PathPiece::Text(rest.to_owned()));
    }
    Ok(out)
}

/// Validate one `[tools.parameters.NAME]`.
fn param(at: &str, name: &str, p: ParamDecl) -> Result<ParamDef, SpecError> {
    if name.starts_with('_') || !valid_name(name) || name.contains('-') {
        return Err(SpecError::new(
            at,
            "parameter names use letters, digits and `_`, and do not start with `_` (reserved for caller context)",
        ));
    }
    let (ty, is_enum) = match p.ty.as_str() {
        "enum" => (JsonType::String, true),
        t => match JsonType::parse(t) {
            Some(JsonType::Any) | None => {
                return Err(SpecError::new(
                    format!("{at}.type"),
                    format!("`{t}` is not one of: string, integer, number, boolean, enum"),
                ));
            }
            Some(t) => (t, false),
        },
    };
    let to_json = |key: &str, v: toml::Value| -> Result<serde_json::Value, SpecError> {
        let json = serde_json::to_value(&v)
            .map_err(|_| SpecError::new(format!("{at}.{key}"), "not a plain value"))?;
        if type_matches(ty, &json) {
            Ok(json)
        } else {
            Err(SpecError::new(
                format!("{at}.{key}"),
                format!("`{v}` is not a {}", ty.as_str()),
            ))
        }
    };
    let allowed = match p.allowed {
        Some(list) if list.is_empty() => {
            return Err(SpecError::new(format!("{at}.enum"), "must not be empty"));
        }
        Some(list) => Some(
            list.into_iter()
                .map(|v| to_json("enum", v))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None if is_enum => {
            return Err(SpecError::new(
                format!("{at}.enum"),
                "type = \"enum\" needs enum = [...]",
            ));
        }
        None => None,
    };
    let default = p.default.map(|v| to_json("default", v)).transpose()?;
    if ty == JsonType::Boolean && (p.minimum.is_some() || p.maximum.is_some()) {
        return Err(SpecError::new(
            format!("{at}.minimum"),
            "bounds need an integer or number",
        ));
    }
    if ty == JsonType::String && (p.minimum.is_some() || p.maximum.is_some()) {
        return Err(SpecError::new(
            format!("{at}.minimum"),
            "strings take min_length and max_length",
        ));
    }
    if ty != JsonType::String && (p.min_length.is_some() || p.max_length.is_some()) {
        return Err(SpecError::new(
            format!("{at}.min_length"),
            "only strings have a length",
        ));
    }
    if let (Some(lo), Some(hi)) = (p.minimum, p.maximum)
        && lo > hi
    {
        return Err(SpecError::new(
            format!("{at}.minimum"),
            "is greater than maximum",
        ));
    }
    if let (Some(lo), Some(hi)) = (p.min_length, p.max_length)
        && lo > hi
    {
        return Err(SpecError::new(
            format!("{at}.min_length"),
            "is greater than max_length",
        ));
    }
    let def = ParamDef {
        name: name.to_owned(),
        ty,
        description: p.description,
        required: p.required.unwrap_or(default.is_none()),
        default,
        allowed,
        minimum: p.minimum,
        maximum: p.maximum,
        min_length: p.min_length,
        max_length: p.max_length,
    };
    if let Some(v) = &def.default {
        check_value(&def, v).map_err(|m| SpecError::new(format!("{at}.default"), m))?;
    }
    Ok(def)
}
