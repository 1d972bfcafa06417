//! Resources, resource templates, prompts, completion and list pagination.

use serde_json::{Value, json};

use crate::common::LEGACY;
use crate::db_test;

db_test!(department_resources_and_template, |srv| {
    let r = srv.rpc("resources/list", json!({})).await;
    let uris: Vec<&str> = r["result"]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|x| x["uri"].as_str())
        .collect();
    assert_eq!(
        uris,
        [
            "company://departments/engineering",
            "company://departments/operations",
            "company://departments/sales"
        ]
    );
    let r = srv.rpc("resources/templates/list", json!({})).await;
    assert_eq!(
        r["result"]["resourceTemplates"][0]["uriTemplate"],
        "company://departments/{name}"
    );
    let r = srv
        .rpc(
            "resources/read",
            json!({"uri": "company://departments/engineering"}),
        )
        .await;
    let content = &r["result"]["contents"][0];
    assert_eq!(content["mimeType"], "application/json");
    let dept: Value = serde_json::from_str(content["text"].as_str().expect("text")).expect("json");
    assert_eq!(dept["employee_count"], 42);
});

db_test!(unknown_resource_is_not_found_in_each_era, |srv| {
    let r = srv
        .rpc(
            "resources/read",
            json!({"uri": "company://departments/marketing"}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32002, "legacy resource-not-found: {r}");
    let (status, r) = srv
        .modern(
            "resources/read",
            json!({"uri": "company://departments/marketing"}),
            Some("company://departments/marketing"),
        )
        .await;
    assert_eq!(
        r["error"]["code"], -32602,
        "2026-07-28 folds it into invalid params: {r}"
    );
    assert!(status == 200 || status == 400, "{status}");
});

db_test!(headcount_report_prompt_uses_live_numbers, |srv| {
    let r = srv.rpc("prompts/list", json!({})).await;
    assert_eq!(r["result"]["prompts"][0]["name"], "headcount_report");
    let r = srv
        .rpc(
            "prompts/get",
            json!({"name": "headcount_report", "arguments": {"department": "Engineering"}}),
        )
        .await;
    let text = r["result"]["messages"][0]["content"]["text"]
        .as_str()
        .expect("text");
    assert!(text.contains("Engineering: 42 employees"), "{text}");
    let r = srv
        .rpc("prompts/get", json!({"name": "headcount_report"}))
        .await;
    let text = r["result"]["messages"][0]["content"]["text"]
        .as_str()
        .expect("text");
    assert!(
        text.contains("Sales: 18") && text.contains("Operations: 11"),
        "{text}"
    );
    let r = srv
        .rpc(
            "prompts/get",
            json!({"name": "headcount_report", "arguments": {"department": "nope"}}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32602);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("department")
    );
    let r = srv
        .rpc("prompts/get", json!({"name": "no_such_prompt"}))
        .await;
    assert_eq!(r["error"]["code"], -32602);
});

db_test!(department_names_complete, |srv| {
    let r = srv
        .rpc("completion/complete", json!({"ref": {"type": "ref/prompt", "name": "headcount_report"}, "argument": {"name": "department", "value": "en"}}))
        .await;
    assert_eq!(
        r["result"]["completion"]["values"],
        json!(["engineering"]),
        "{r}"
    );
    let r = srv
        .rpc("completion/complete", json!({"ref": {"type": "ref/resource", "uri": "company://departments/{name}"}, "argument": {"name": "name", "value": "S"}}))
        .await;
    assert_eq!(r["result"]["completion"]["values"], json!(["sales"]));
    let r = srv
        .rpc("completion/complete", json!({"ref": {"type": "ref/prompt", "name": "other"}, "argument": {"name": "x", "value": ""}}))
        .await;
    assert_eq!(r["error"]["code"], -32602);
});

db_test!(invalid_list_cursor_is_32602, |srv| {
    for method in [
        "tools/list",
        "resources/list",
        "prompts/list",
        "resources/templates/list",
    ] {
        let r = srv.rpc(method, json!({"cursor": "not-a-cursor"})).await;
        assert_eq!(r["error"]["code"], -32602, "{method}: {r}");
    }
    let _ = LEGACY;
});
