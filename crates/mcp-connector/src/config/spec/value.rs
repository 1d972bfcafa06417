//! One value against its declared parameter: used when a `default` loads
//! and when a call's argument arrives, so both say the same.

use serde_json::{Value, json};

use super::{JsonType, ParamDef, type_matches};

/// Check one value against its parameter; the message says what is wrong.
pub fn check_value(p: &ParamDef, v: &Value) -> Result<(), String> {
    if !type_matches(p.ty, v) {
        return Err(format!("expected {}, got {}", article(p.ty), kind(v)));
    }
    if let Some(allowed) = &p.allowed
        && !allowed.iter().any(|a| same(a, v))
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        return Err(format!("must be one of {}", list.join(", ")));
    }
    if let Some(x) = v.as_f64() {
        if let Some(lo) = p.minimum
            && x < lo
        {
            return Err(format!("must be at least {}", number(lo)));
        }
        if let Some(hi) = p.maximum
            && x > hi
        {
            return Err(format!("must be at most {}", number(hi)));
        }
        if p.ty == JsonType::Integer && v.as_i64().is_none() {
            return Err("is out of the 64-bit integer range".to_owned());
        }
    }
    if let Some(s) = v.as_str() {
        let len = s.chars().count() as u64;
        if let Some(lo) = p.min_length
            && len < lo
        {
            return Err(format!("must be at least {lo} characters long"));
        }
        if let Some(hi) = p.max_length
            && len > hi
        {
            return Err(format!("must be at most {hi} characters long"));
        }
        if s.contains('\0') {
            return Err("must not contain NUL characters".to_owned());
        }
    }
    Ok(())
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn article(ty: JsonType) -> &'static str {
    match ty {
        JsonType::String => "a string",
        JsonType::Integer => "an integer",
        JsonType::Number => "a number",
        JsonType::Boolean => "a boolean",
        JsonType::Any => "a value",
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A bound as an integer when it is one (`minimum = 1` reads as 1.0).
pub fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}
