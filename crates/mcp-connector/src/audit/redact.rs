//! Argument redaction: configured field names never reach the log.

use serde_json::Value;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// `value` with every object member whose name matches one of `fields`
/// (ASCII case-insensitive) replaced by [`REDACTED`], at any depth: a secret
/// nested in an object or a list is still a secret.
pub fn redact(value: &Value, fields: &[String]) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if fields.iter().any(|f| f.eq_ignore_ascii_case(k)) {
                        Value::String(REDACTED.to_owned())
                    } else {
                        redact(v, fields)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| redact(v, fields)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn redacts_at_any_depth_case_insensitively() {
        let fields = vec!["password".to_owned(), "token".to_owned()];
        let v = json!({
            "name": "Ada",
            "Password": "hunter2",
            "nested": {"token": {"deep": 1}, "keep": [ {"TOKEN": "x"}, 3 ]},
        });
        assert_eq!(
            redact(&v, &fields),
            json!({
                "name": "Ada",
                "Password": REDACTED,
                "nested": {"token": REDACTED, "keep": [ {"TOKEN": REDACTED}, 3 ]},
            })
        );
    }

    #[test]
    fn no_fields_changes_nothing() {
        let v = json!({"password": "x"});
        assert_eq!(redact(&v, &[]), v);
    }
}
