//! The Company Tools demo on a real database.

use serde_json::json;

use crate::common::first_text;
use crate::db_test;

db_test!(employee_count_comes_from_the_database, |srv| {
    assert_eq!(srv.count("engineering").await, 42);
    assert_eq!(srv.count("sales").await, 18);
    assert_eq!(srv.count("operations").await, 11);
    // Case-insensitive, as the guide's `department.lower()`.
    assert_eq!(srv.count("Engineering").await, 42);
    assert_eq!(srv.count("  SALES ").await, 18);
    // Unknown department: 0, not an error.
    assert_eq!(srv.count("marketing").await, 0);
});

db_test!(count_returns_text_and_structured_content, |srv| {
    let r = srv
        .call("get_employee_count", json!({"department": "engineering"}))
        .await;
    assert_eq!(r["isError"], json!(false));
    assert_eq!(
        r["structuredContent"],
        json!({"department": "engineering", "count": 42})
    );
    let text: serde_json::Value =
        serde_json::from_str(first_text(&r)).expect("text is the same JSON");
    assert_eq!(text, r["structuredContent"]);
});

db_test!(tools_list_is_claude_compatible_and_stable, |srv| {
    let first = srv.rpc("tools/list", json!({})).await;
    let second = srv.rpc("tools/list", json!({})).await;
    assert_eq!(first, second, "tools/list is deterministic");
    let tools = first["result"]["tools"].as_array().expect("tools").clone();
    let names: Vec<&str> = tools
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "get_employee_count",
            "list_departments",
            "find_employees",
            "add_employee",
            "remove_employee"
        ]
    );
    for t in &tools {
        let name = t["name"].as_str().expect("name");
        assert!(
            !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        );
        assert_eq!(t["inputSchema"]["type"], "object", "{name}");
        assert!(t["title"].is_string(), "{name} has a title");
        assert!(t["annotations"]["readOnlyHint"].is_boolean(), "{name}");
        assert!(t["annotations"]["destructiveHint"].is_boolean(), "{name}");
        assert_eq!(
            t["outputSchema"]["type"], "object",
            "{name} has an object outputSchema"
        );
    }
    let ann = |n: &str| tools.iter().find(|t| t["name"] == n).expect("tool")["annotations"].clone();
    assert_eq!(ann("get_employee_count")["readOnlyHint"], true);
    assert_eq!(ann("find_employees")["readOnlyHint"], true);
    assert_eq!(ann("add_employee")["readOnlyHint"], false);
    assert_eq!(ann("add_employee")["destructiveHint"], false);
    assert_eq!(ann("remove_employee")["readOnlyHint"], false);
    assert_eq!(ann("remove_employee")["destructiveHint"], true);
    assert_eq!(ann("remove_employee")["idempotentHint"], true);
});

db_test!(list_departments_with_counts, |srv| {
    let r = srv.call("list_departments", json!({})).await;
    let depts = r["structuredContent"]["departments"]
        .as_array()
        .expect("departments");
    let pairs: Vec<(String, i64)> = depts
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap_or_default().to_owned(),
                d["employee_count"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("engineering".into(), 42),
            ("operations".into(), 11),
            ("sales".into(), 18)
        ]
    );
});

db_test!(find_employees_pages_with_an_opaque_cursor, |srv| {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = json!({"department": "engineering", "limit": 10});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let r = srv.call("find_employees", args).await;
        assert_eq!(r["isError"], false, "{r}");
        let page = r["structuredContent"]["employees"]
            .as_array()
            .expect("employees");
        assert!(page.len() <= 10);
        seen.extend(page.iter().map(|e| e["id"].as_i64().expect("id")));
        pages += 1;
        match r["structuredContent"]["next_cursor"].as_str() {
            Some(c) => {
                assert!(
                    !c.chars().all(|ch| ch.is_ascii_digit()),
                    "cursor is opaque, not an id"
                );
                cursor = Some(c.to_owned());
            }
            None => break,
        }
        assert!(pages < 10, "pagination terminates");
    }
    assert_eq!(pages, 5);
    assert_eq!(seen.len(), 42);
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 42, "no employee twice");

    // A cursor only works for the query that produced it.
    let r = srv
        .call(
            "find_employees",
            json!({"department": "engineering", "limit": 10}),
        )
        .await;
    let c = r["structuredContent"]["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let other = srv
        .call(
            "find_employees",
            json!({"department": "sales", "cursor": c}),
        )
        .await;
    assert_eq!(other["isError"], true);
    assert!(first_text(&other).contains("`cursor`"), "{other}");
    let forged = srv
        .call("find_employees", json!({"cursor": "AAAAAAAAAAE"}))
        .await;
    assert_eq!(forged["isError"], true);
    assert!(first_text(&forged).contains("`cursor`"));
});

db_test!(find_employees_matches_text_literally, |srv| {
    let r = srv
        .call("find_employees", json!({"query": "ENGINEER", "limit": 100}))
        .await;
    let found = r["structuredContent"]["employees"]
        .as_array()
        .expect("employees");
    assert!(!found.is_empty());
    for e in found {
        let hay = format!("{} {}", e["name"], e["title"]).to_lowercase();
        assert!(hay.contains("engineer"), "{e}");
    }
    // `%` is matched literally, not as a wildcard.
    let r = srv.call("find_employees", json!({"query": "%"})).await;
    assert_eq!(r["structuredContent"]["employees"], json!([]));
});

/// Removal needs confirmation by default; these tests allow it, as an operator may.
fn allow_remove(c: &mut mcp_connector::config::Config) {
    c.tools.insert(
        "remove_employee".into(),
        mcp_connector::config::ToolSettings {
            enabled: true,
            unconfirmed: mcp_connector::mcp::guard::Unconfirmed::Allow,
        },
    );
}

db_test!(
    add_and_remove_employee_change_the_count,
    crate::common::Opts {
        tweak: Some(allow_remove),
        ..crate::common::Opts::default()
    },
    |srv| {
        let added = srv
            .call(
                "add_employee",
                json!({"name": "Grace Hopper", "department": "Sales", "title": "Rear Admiral"}),
            )
            .await;
        assert_eq!(added["isError"], false, "{added}");
        assert_eq!(added["structuredContent"]["department"], "sales");
        let id = added["structuredContent"]["id"].as_i64().expect("id");
        assert_eq!(srv.count("sales").await, 19);

        let removed = srv.call("remove_employee", json!({"id": id})).await;
        assert_eq!(
            removed["structuredContent"]["removed"]["name"],
            "Grace Hopper"
        );
        assert_eq!(srv.count("sales").await, 18);

        let again = srv.call("remove_employee", json!({"id": id})).await;
        assert_eq!(again["isError"], true);
        assert!(first_text(&again).contains(&id.to_string()));
    }
);

db_test!(
    add_employee_to_unknown_department_names_the_argument,
    |srv| {
        let r = srv
            .call(
                "add_employee",
                json!({"name": "X", "department": "marketing", "title": "Y"}),
            )
            .await;
        assert_eq!(r["isError"], true);
        let text = first_text(&r);
        assert!(
            text.contains("`department`") && text.contains("engineering"),
            "{text}"
        );
        assert_eq!(srv.count("marketing").await, 0);
    }
);

db_test!(
    bad_arguments_are_tool_errors_naming_the_argument,
    crate::common::Opts {
        tweak: Some(allow_remove),
        ..crate::common::Opts::default()
    },
    |srv| {
        for (tool, args, argument) in [
            ("get_employee_count", json!({}), "department"),
            ("get_employee_count", json!({"department": 5}), "department"),
            (
                "get_employee_count",
                json!({"department": ""}),
                "department",
            ),
            (
                "get_employee_count",
                json!({"department": "x", "extra": 1}),
                "extra",
            ),
            ("find_employees", json!({"limit": 0}), "limit"),
            ("find_employees", json!({"limit": 1000}), "limit"),
            ("find_employees", json!({"limit": "ten"}), "limit"),
            (
                "add_employee",
                json!({"name": "A", "department": "sales"}),
                "title",
            ),
            (
                "add_employee",
                json!({"name": "x".repeat(500), "department": "sales", "title": "t"}),
                "name",
            ),
            ("remove_employee", json!({"id": "one"}), "id"),
        ] {
            let r = srv.call(tool, args.clone()).await;
            assert_eq!(r["isError"], true, "{tool} {args}: {r}");
            let text = first_text(&r);
            assert!(
                text.contains(&format!("`{argument}`")),
                "{tool} {args}: {text}"
            );
        }
        // Nothing was written by the refused calls.
        assert_eq!(srv.count("sales").await, 18);
    }
);

db_test!(unknown_tool_is_invalid_params, |srv| {
    let r = srv
        .rpc(
            "tools/call",
            json!({"name": "drop_tables", "arguments": {}}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32602);
    assert_eq!(r["id"], 1);
});
