use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::auth::ScopeSet;
use crate::declared::spec::JsonType;

fn param(name: &str, ty: JsonType) -> ParamDef {
    ParamDef {
        name: name.to_owned(),
        ty,
        description: None,
        default: None,
        required: true,
        allowed: None,
        minimum: None,
        maximum: None,
        min_length: None,
        max_length: None,
    }
}

/// `age` integer in [18, 65]; `grp` enum a|b defaulting to a; `note`
/// optional string of 2 to 5 characters; `ratio` optional number.
fn params() -> Vec<ParamDef> {
    vec![
        ParamDef {
            description: Some("Age in years".into()),
            minimum: Some(18.0),
            maximum: Some(65.0),
            ..param("age", JsonType::Integer)
        },
        ParamDef {
            default: Some(json!("a")),
            required: false,
            allowed: Some(vec![json!("a"), json!("b")]),
            ..param("grp", JsonType::String)
        },
        ParamDef {
            required: false,
            min_length: Some(2),
            max_length: Some(5),
            ..param("note", JsonType::String)
        },
        ParamDef {
            required: false,
            minimum: Some(0.5),
            ..param("ratio", JsonType::Number)
        },
    ]
}

fn args(v: serde_json::Value) -> JsonObject {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn bind_err(v: serde_json::Value) -> (String, String) {
    match bind(&params(), args(v), &Caller::default()) {
        Err(ToolError::InvalidArgument { argument, message }) => (argument, message),
        other => panic!("expected an invalid argument, got {other:?}"),
    }
}

#[test]
fn input_schema_advertises_types_bounds_defaults_and_required() {
    let s = Value::Object(input_schema(&params()));
    assert_eq!(s["type"], "object");
    assert_eq!(s["additionalProperties"], false);
    assert_eq!(s["required"], json!(["age"]));
    let p = &s["properties"];
    assert_eq!(
        p["age"],
        json!({"type": "integer", "description": "Age in years", "minimum": 18, "maximum": 65})
    );
    assert_eq!(
        p["grp"],
        json!({"type": "string", "default": "a", "enum": ["a", "b"]})
    );
    assert_eq!(
        p["note"],
        json!({"type": "string", "minLength": 2, "maxLength": 5})
    );
    assert_eq!(p["ratio"], json!({"type": "number", "minimum": 0.5}));
    let empty = Value::Object(input_schema(&[]));
    assert!(empty.get("required").is_none());
    assert_eq!(empty["properties"], json!({}));
}

#[test]
fn defaults_and_optional_nulls_fill_missing_arguments() {
    let out = bind(&params(), args(json!({"age": 30})), &Caller::default()).expect("valid");
    assert_eq!(out["age"], Bound::Int(30));
    assert_eq!(out["grp"], Bound::Text("a".into()));
    assert_eq!(out["note"], Bound::Null);
    assert_eq!(out["ratio"], Bound::Null);
    let out = bind(
        &params(),
        args(json!({"age": 30, "note": null, "ratio": 2.5, "grp": "b"})),
        &Caller::default(),
    )
    .expect("valid");
    assert_eq!(out["note"], Bound::Null);
    assert_eq!(out["ratio"], Bound::Float(2.5));
    assert_eq!(out["grp"], Bound::Text("b".into()));
}

#[test]
fn required_arguments_must_be_given_and_not_null() {
    assert_eq!(bind_err(json!({})).0, "age");
    let (arg, msg) = bind_err(json!({"age": null}));
    assert_eq!(arg, "age");
    assert!(msg.contains("expected an integer, got null"), "{msg}");
}

#[test]
fn bounds_are_inclusive_at_both_edges() {
    for ok in [18, 65] {
        bind(&params(), args(json!({"age": ok})), &Caller::default()).expect("edge is allowed");
    }
    assert_eq!(
        bind_err(json!({"age": 17})),
        ("age".into(), "must be at least 18".into())
    );
    assert_eq!(
        bind_err(json!({"age": 66})),
        ("age".into(), "must be at most 65".into())
    );
    bind(
        &params(),
        args(json!({"age": 20, "ratio": 0.5})),
        &Caller::default(),
    )
    .expect("0.5 is the minimum");
    assert_eq!(bind_err(json!({"age": 20, "ratio": 0.49})).0, "ratio");
    for ok in ["ab", "abcde"] {
        bind(
            &params(),
            args(json!({"age": 20, "note": ok})),
            &Caller::default(),
        )
        .expect("length edge is allowed");
    }
    assert!(
        bind_err(json!({"age": 20, "note": "a"}))
            .1
            .contains("at least 2")
    );
    assert!(
        bind_err(json!({"age": 20, "note": "abcdef"}))
            .1
            .contains("at most 5")
    );
}

#[test]
fn types_are_checked_and_integers_are_numbers() {
    assert_eq!(
        bind_err(json!({"age": "30"})),
        ("age".into(), "expected an integer, got a string".into())
    );
    assert!(
        bind_err(json!({"age": 30.5}))
            .1
            .contains("got a fractional number")
    );
    assert!(bind_err(json!({"age": true})).1.contains("got a boolean"));
    let out = bind(
        &params(),
        args(json!({"age": 30, "ratio": 2})),
        &Caller::default(),
    )
    .expect("an integer is a number");
    assert_eq!(out["ratio"], Bound::Int(2));
    assert!(
        bind_err(json!({"age": 30, "note": "a\u{0}b"}))
            .1
            .contains("NUL")
    );
}

#[test]
fn enum_values_outside_the_list_are_refused() {
    let (arg, msg) = bind_err(json!({"age": 30, "grp": "c"}));
    assert_eq!(arg, "grp");
    assert_eq!(msg, r#"must be one of "a", "b""#);
}

#[test]
fn unknown_arguments_are_refused_and_context_cannot_be_overridden() {
    let (arg, msg) = bind_err(json!({"age": 30, "colour": "red"}));
    assert_eq!(arg, "colour");
    assert!(
        msg.contains("this tool takes: age, grp, note, ratio"),
        "{msg}"
    );
    for name in super::super::spec::CONTEXT_PARAMS {
        let (arg, msg) = bind_err(json!({"age": 30, *name: "mallory"}));
        assert_eq!(&arg, name);
        assert!(msg.starts_with("unknown argument"), "{msg}");
    }
    let e = bind(&[], args(json!({"x": 1})), &Caller::default());
    assert!(
        matches!(e, Err(ToolError::InvalidArgument { message, .. }) if message.contains("no arguments"))
    );
}

#[test]
fn context_values_come_from_the_caller_and_unknown_parts_are_null() {
    let out = bind(&params(), args(json!({"age": 30})), &Caller::default()).expect("valid");
    for name in ["_user", "_client", "_user_id", "_user_email"] {
        assert_eq!(out[name], Bound::Null, "{name}");
    }
    let principal = crate::auth::Principal {
        subject: Arc::from("user:7"),
        user_id: Some("7".into()),
        username: Some("alice".into()),
        email: Some("alice@example.com".into()),
        client_id: Arc::from("client-1"),
        scopes: ScopeSet::default(),
        ceiling: ScopeSet::default(),
        expires_at: 0,
    };
    let caller = Caller::from_principal(&principal);
    let out = bind(&params(), args(json!({"age": 30})), &caller).expect("valid");
    assert_eq!(out["_user"], Bound::Text("alice".into()));
    assert_eq!(out["_client"], Bound::Text("client-1".into()));
    assert_eq!(out["_user_id"], Bound::Text("7".into()));
    assert_eq!(out["_user_email"], Bound::Text("alice@example.com".into()));
    // A service client has no user: `_user` falls back to the user id, and
    // both are NULL without one.
    let service = Caller::from_principal(&crate::auth::Principal {
        username: None,
        user_id: None,
        email: None,
        ..principal
    });
    assert_eq!(service.user, None);
    assert_eq!(service.client.as_deref(), Some("client-1"));
}
