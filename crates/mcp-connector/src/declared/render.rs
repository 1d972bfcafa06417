//! Rows to a tool result: `structuredContent` (an object with the rows), a
//! compact text table for clients that read only text, and the page limits.
//!
//! A page holds at most `max_rows` rows and at most `max_chars` characters
//! (of text, and of row JSON); rows cut by the size cap are not lost, the
//! cursor continues from the first row not shown and a notice says so.

use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use serde_json::{Map, Value, json};

use super::source::{Column, QueryOutput};
use super::spec::JsonType;

/// Room kept for the notice line under the size cap.
const NOTICE_ROOM: usize = 400;

/// A rendered page: the result and how many rows of the output it shows.
pub struct Page {
    pub result: CallToolResult,
    pub shown: usize,
}

/// Render `out` (a window starting at row `offset`); `next_cursor` makes the
/// cursor for a given row offset.
pub fn rows(
    out: &QueryOutput,
    offset: u64,
    max_chars: usize,
    next_cursor: &dyn Fn(u64) -> String,
) -> Page {
    let names: Vec<&str> = out.columns.iter().map(|c| c.name.as_str()).collect();
    let mut text = names.join("\t");
    text.push('\n');
    let budget = max_chars.saturating_sub(NOTICE_ROOM);
    let mut json_chars = 0usize;
    let mut objects = Vec::with_capacity(out.rows.len());
    let mut cut_by_size = false;
    for row in &out.rows {
        let line = row.iter().map(cell).collect::<Vec<_>>().join("\t");
        let object: Map<String, Value> = names
            .iter()
            .zip(row)
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect();
        let object_len = Value::Object(object.clone()).to_string().chars().count();
        let text_len = text.chars().count() + line.chars().count() + 1;
        if !objects.is_empty() && (text_len > budget || json_chars + object_len > budget) {
            cut_by_size = true;
            break;
        }
        text.push_str(&line);
        text.push('\n');
        json_chars += object_len;
        objects.push(Value::Object(object));
    }
    let shown = objects.len();
    let more = cut_by_size || out.more;
    let mut structured = Map::new();
    structured.insert("columns".into(), json!(names));
    structured.insert("rows".into(), Value::Array(objects));
    structured.insert("row_count".into(), json!(shown));
    if let Some(n) = out.rows_affected {
        structured.insert("rows_affected".into(), json!(n));
    }
    let first = offset + 1;
    let last = offset + shown as u64;
    let summary = if shown == 0 {
        "(no rows)".to_owned()
    } else {
        format!("(rows {first}-{last})")
    };
    text.push_str(&summary);
    if let Some(n) = out.rows_affected {
        text.push_str(&format!("\n{n} row(s) affected"));
    }
    if more {
        let cursor = next_cursor(last);
        let reason = if cut_by_size {
            format!("Output truncated at {max_chars} characters")
        } else {
            "More rows exist".to_owned()
        };
        let notice = format!(
            "{reason}: showing rows {first}-{last}. Call the tool again with the same arguments and \"cursor\": \"{cursor}\" for the next rows."
        );
        text.push('\n');
        text.push_str(&notice);
        structured.insert("truncated".into(), json!(cut_by_size));
        structured.insert("notice".into(), json!(notice));
        structured.insert("next_cursor".into(), json!(cursor));
    }
    let mut result = CallToolResult::structured(Value::Object(structured));
    result.content = vec![ContentBlock::text(text)];
    Page { result, shown }
}

/// A cell for the text table: strings as they are (tabs and newlines
/// escaped so a row stays one line), everything else as JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "NULL".to_owned(),
        Value::String(s) => s
            .replace('\\', "\\\\")
            .replace('\t', "\\t")
            .replace('\n', "\\n"),
        other => other.to_string(),
    }
}

/// The `outputSchema` of a tool returning `columns` (all nullable); `None`
/// columns (not declared, probe failed) give rows of any shape.
pub fn output_schema(columns: Option<&[Column]>, writes: bool) -> JsonObject {
    let item = match columns {
        Some(cols) => {
            let props: Map<String, Value> = cols
                .iter()
                .map(|c| {
                    let t = match c.ty {
                        JsonType::Any => json!({}),
                        t => json!({"type": [t.as_str(), "null"]}),
                    };
                    (c.name.clone(), t)
                })
                .collect();
            json!({"type": "object", "properties": props})
        }
        None => json!({"type": "object"}),
    };
    let mut props = json!({
        "columns": {"type": "array", "items": {"type": "string"}},
        "rows": {"type": "array", "items": item},
        "row_count": {"type": "integer", "minimum": 0},
        "truncated": {"type": "boolean"},
        "notice": {"type": "string"},
        "next_cursor": {"type": "string", "description": "Pass as `cursor` to get the next rows."}
    });
    if writes && let Some(p) = props.as_object_mut() {
        p.insert(
            "rows_affected".into(),
            json!({"type": "integer", "minimum": 0}),
        );
    }
    let schema = json!({
        "type": "object",
        "properties": props,
        "required": ["columns", "rows", "row_count"]
    });
    match schema {
        Value::Object(m) => m,
        _ => JsonObject::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(n: usize, more: bool) -> QueryOutput {
        QueryOutput {
            columns: vec![
                Column {
                    name: "id".into(),
                    ty: JsonType::Integer,
                },
                Column {
                    name: "name".into(),
                    ty: JsonType::String,
                },
            ],
            rows: (0..n)
                .map(|i| vec![json!(i), json!(format!("row\t{i}"))])
                .collect(),
            more,
            rows_affected: None,
        }
    }

    fn text(r: &CallToolResult) -> &str {
        r.content[0]
            .as_text()
            .map(|t| t.text.as_str())
            .unwrap_or("")
    }

    #[test]
    fn renders_rows_as_objects_and_a_table() {
        let page = rows(&out(2, false), 0, 150_000, &|o| format!("c{o}"));
        let s = page.result.structured_content.clone().expect("structured");
        assert_eq!(s["rows"][1], json!({"id": 1, "name": "row\t1"}));
        assert_eq!(s["row_count"], 2);
        assert!(s.get("next_cursor").is_none());
        let t = text(&page.result);
        assert!(t.starts_with("id\tname\n0\trow\\t0\n"), "{t}");
        assert!(t.ends_with("(rows 1-2)"), "{t}");
    }

    #[test]
    fn more_rows_give_a_cursor_from_the_next_row() {
        let page = rows(&out(3, true), 10, 150_000, &|o| format!("c{o}"));
        let s = page.result.structured_content.clone().expect("structured");
        assert_eq!(s["next_cursor"], "c13");
        assert_eq!(s["truncated"], false);
        assert!(text(&page.result).contains("showing rows 11-13"));
    }

    #[test]
    fn size_cap_cuts_rows_with_a_visible_notice_and_keeps_the_rest_reachable() {
        let page = rows(&out(1000, false), 0, 2_000, &|o| format!("c{o}"));
        let t = text(&page.result);
        assert!(t.chars().count() <= 2_000, "{}", t.len());
        assert!(t.contains("Output truncated at 2000 characters"), "{t}");
        let s = page.result.structured_content.clone().expect("structured");
        assert!(page.shown > 0 && page.shown < 1000);
        assert_eq!(s["next_cursor"], format!("c{}", page.shown));
        assert_eq!(s["truncated"], true);
    }

    #[test]
    fn output_schema_lists_columns_nullable() {
        let cols = out(0, false).columns;
        let s = output_schema(Some(&cols), false);
        assert_eq!(
            s["properties"]["rows"]["items"]["properties"]["id"]["type"],
            json!(["integer", "null"])
        );
        assert!(s["properties"].get("rows_affected").is_none());
        assert!(
            output_schema(None, true)["properties"]
                .get("rows_affected")
                .is_some()
        );
    }
}
