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

/// Render `out` (a window starting at row `offset`). `next_cursor` makes
/// the cursor for a given row offset; `None` (write tools, which cannot be
/// called again for their next rows) says the rest is not shown instead.
pub fn rows(
    out: &QueryOutput,
    offset: u64,
    max_chars: usize,
    next_cursor: Option<&dyn Fn(u64) -> String>,
) -> Page {
    let names: Vec<&str> = out.columns.iter().map(|c| c.name.as_str()).collect();
    let mut text = names.join("\t");
    text.push('\n');
    let budget = max_chars.saturating_sub(NOTICE_ROOM);
    // Running counts: measuring the whole text per row would be quadratic.
    let mut text_chars = text.chars().count();
    let mut json_chars = 0usize;
    let mut objects = Vec::with_capacity(out.rows.len());
    let mut cut_by_size = false;
    for row in &out.rows {
        let (mut line, mut object) = render_row(&names, row);
        let (mut line_len, mut object_len) = (line.chars().count() + 1, json_len(&object));
        if text_chars + line_len > budget || json_chars + object_len > budget {
            cut_by_size = true;
            if !objects.is_empty() {
                break;
            }
            // One row alone is over the cap: show it with its long values
            // cut (and marked), rather than nothing or everything.
            let per_value = budget / (2 * names.len().max(1));
            let shortened: Vec<Value> = row.iter().map(|v| shorten(v, per_value)).collect();
            (line, object) = render_row(&names, &shortened);
            (line_len, object_len) = (line.chars().count() + 1, json_len(&object));
        }
        text.push_str(&line);
        text.push('\n');
        text_chars += line_len;
        json_chars += object_len;
        objects.push(Value::Object(object));
        if cut_by_size {
            break;
        }
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
        let reason = if cut_by_size {
            format!("Output truncated at {max_chars} characters")
        } else {
            "More rows exist".to_owned()
        };
        let notice = match next_cursor {
            Some(next) => {
                let cursor = next(last);
                structured.insert("next_cursor".into(), json!(cursor));
                format!(
                    "{reason}: showing rows {first}-{last}. Call the tool again with the same arguments and \"cursor\": \"{cursor}\" for the next rows."
                )
            }
            None => format!("{reason}: showing rows {first}-{last}; the rest are not shown."),
        };
        text.push('\n');
        text.push_str(&notice);
        structured.insert("truncated".into(), json!(cut_by_size));
        structured.insert("notice".into(), json!(notice));
    }
    let mut result = CallToolResult::structured(Value::Object(structured));
    result.content = vec![ContentBlock::text(text)];
    Page { result, shown }
}

/// An HTTP answer: a JSON object becomes `structuredContent` as it is,
/// anything else `{status, body}`; the body is also the text. Over
/// `max_chars` the text is cut with a notice and the structured body is
/// left out (a client cannot read half an object).
pub fn http_body(status: u16, body: Value, max_chars: usize) -> CallToolResult {
    let text = match &body {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let total = text.chars().count();
    if total > max_chars {
        let kept =
            crate::safety::hygiene::prefix_chars(&text, max_chars.saturating_sub(NOTICE_ROOM));
        let notice = format!(
            "Output truncated at {max_chars} characters: the answer has {total}; ask the API for less (a narrower query or a smaller page)."
        );
        let mut result = CallToolResult::structured(json!({
            "status": status,
            "truncated": true,
            "notice": notice,
        }));
        result.content = vec![ContentBlock::text(format!("{kept}\n{notice}"))];
        return result;
    }
    let mut result = match body {
        Value::Object(o) => CallToolResult::structured(Value::Object(o)),
        other => CallToolResult::structured(json!({"status": status, "body": other})),
    };
    result.content = vec![ContentBlock::text(text)];
    result
}

/// A row as a text-table line and as an object keyed by column name.
fn render_row(names: &[&str], row: &[Value]) -> (String, Map<String, Value>) {
    let line = row.iter().map(cell).collect::<Vec<_>>().join("\t");
    let object = names
        .iter()
        .zip(row)
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect();
    (line, object)
}

fn json_len(object: &Map<String, Value>) -> usize {
    serde_json::to_string(object).map_or(0, |s| s.chars().count())
}

/// `v` with a string (or a JSON value's text) longer than `max` characters
/// cut to `max` and marked as cut.
fn shorten(v: &Value, max: usize) -> Value {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => v.to_string(),
        other => return other.clone(),
    };
    let total = text.chars().count();
    if total <= max {
        return v.clone();
    }
    let kept: String = text.chars().take(max).collect();
    Value::String(format!(
        "{kept}… [{} of {total} characters cut]",
        total - max
    ))
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
        let page = rows(&out(2, false), 0, 150_000, Some(&|o| format!("c{o}")));
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
        let page = rows(&out(3, true), 10, 150_000, Some(&|o| format!("c{o}")));
        let s = page.result.structured_content.clone().expect("structured");
        assert_eq!(s["next_cursor"], "c13");
        assert_eq!(s["truncated"], false);
        assert!(text(&page.result).contains("showing rows 11-13"));
    }

    #[test]
    fn size_cap_cuts_rows_with_a_visible_notice_and_keeps_the_rest_reachable() {
        let page = rows(&out(1000, false), 0, 2_000, Some(&|o| format!("c{o}")));
        let t = text(&page.result);
        assert!(t.chars().count() <= 2_000, "{}", t.len());
        assert!(t.contains("Output truncated at 2000 characters"), "{t}");
        let s = page.result.structured_content.clone().expect("structured");
        assert!(page.shown > 0 && page.shown < 1000);
        assert_eq!(s["next_cursor"], format!("c{}", page.shown));
        assert_eq!(s["truncated"], true);
    }

    #[test]
    fn one_row_over_the_cap_is_shown_with_its_long_values_cut() {
        let mut big = out(2, false);
        big.rows[0][1] = json!("x".repeat(50_000));
        let page = rows(&big, 0, 2_000, Some(&|o| format!("c{o}")));
        let s = page.result.structured_content.clone().expect("structured");
        assert_eq!(page.shown, 1);
        let value = s["rows"][0]["name"].as_str().expect("name");
        assert!(value.chars().count() < 2_000, "{}", value.len());
        assert!(value.ends_with("characters cut]"), "{value}");
        assert_eq!(s["next_cursor"], "c1");
        assert!(text(&page.result).chars().count() <= 2_000);
    }

    #[test]
    fn write_results_say_more_rows_exist_without_a_cursor() {
        let page = rows(&out(3, true), 0, 150_000, None);
        let s = page.result.structured_content.clone().expect("structured");
        assert!(s.get("next_cursor").is_none(), "{s}");
        assert!(text(&page.result).contains("the rest are not shown"));
    }

    #[test]
    fn http_bodies_over_the_cap_are_cut_with_a_notice() {
        let small = http_body(200, json!({"id": 1}), 1_000);
        assert_eq!(small.structured_content, Some(json!({"id": 1})));
        let big = http_body(200, json!({"blob": "y".repeat(5_000)}), 1_000);
        let s = big.structured_content.clone().expect("structured");
        assert_eq!(s["truncated"], true);
        assert!(s.get("blob").is_none());
        let t = text(&big);
        assert!(t.chars().count() <= 1_000, "{}", t.len());
        assert!(t.contains("Output truncated at 1000 characters"), "{t}");
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
