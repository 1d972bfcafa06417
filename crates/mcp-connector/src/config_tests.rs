use super::*;

fn load(text: &str) -> Result<Config, ConfigError> {
    let file = Config::parse_file(text).map_err(|message| ConfigError::Parse {
        path: "test.toml".into(),
        message,
    })?;
    Config::from_parts(file, &Overrides::default())
}

#[test]
fn defaults_are_loopback_stateless_sqlite() {
    let c = load("").expect("empty config is valid");
    assert_eq!(c.listen.to_string(), "127.0.0.1:8000");
    assert!(!c.sessions);
    assert_eq!(c.demo, Demo::Company);
    assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
    assert_eq!(c.mcp_url(), "http://127.0.0.1:8000/mcp");
}

#[test]
fn unknown_key_is_named() {
    let err = load("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("lisen"), "{msg}");
}

#[test]
fn bad_values_name_their_key() {
    for (text, key) in [
        ("[server]\nlisten = \"nope\"", "server.listen"),
        ("[server]\npublic_url = \"ftp://x\"", "server.public_url"),
        (
            "[server]\npublic_url = \"https://x.example/tools\"",
            "server.public_url",
        ),
        ("[server]\ndemo = \"other\"", "server.demo"),
        ("[database]\nurl = \"mysql://x\"", "database.url"),
        (
            "[database]\nmax_connections = 0",
            "database.max_connections",
        ),
        ("[server]\nmax_body_bytes = 1", "server.max_body_bytes"),
        (
            "[server]\ntool_timeout_secs = 0",
            "server.tool_timeout_secs",
        ),
        ("[log]\nformat = \"xml\"", "log.format"),
    ] {
        let msg = load(text).unwrap_err().to_string();
        assert!(msg.starts_with(key), "{text}: {msg}");
    }
}

#[test]
fn public_url_adds_host_and_origin() {
    let c = load("[server]\npublic_url = \"https://Tools.Example.com/mcp\"").expect("valid");
    assert!(c.allowed_hosts.iter().any(|h| h == "tools.example.com"));
    assert!(
        c.allowed_origins
            .iter()
            .any(|o| o == "https://tools.example.com")
    );
    assert_eq!(c.mcp_url(), "https://tools.example.com/mcp");
}

#[test]
fn flags_override_file() {
    let file =
        Config::parse_file("[server]\nlisten = \"127.0.0.1:1\"\nsessions = false").expect("parses");
    let o = Overrides {
        listen: Some("127.0.0.1:2".into()),
        sessions: Some(true),
        ..Overrides::default()
    };
    let c = Config::from_parts(file, &o).expect("valid");
    assert_eq!(c.listen.port(), 2);
    assert!(c.sessions);
}

#[test]
fn committed_json_schema_matches_the_types() {
    let committed = include_str!("../../../config.schema.json");
    assert!(
        committed == super::file::json_schema(),
        "config.schema.json is out of date: run `mcp-connector config-schema > config.schema.json`"
    );
}

#[test]
fn json_schema_refuses_unknown_keys_everywhere() {
    let schema: serde_json::Value =
        serde_json::from_str(&super::file::json_schema()).expect("JSON");
    assert_eq!(schema["additionalProperties"], false);
    let defs = schema["$defs"].as_object().expect("$defs");
    for (name, def) in defs {
        if def.get("properties").is_some() {
            assert_eq!(def["additionalProperties"], false, "{name}");
        }
    }
    assert!(defs.contains_key("AuthSection"));
}

#[test]
fn role_entries_are_tool_scopes_or_permissions() {
    let c = load(
        "[auth.roles]\nops = [\"employees:read\", \"admin\", \"approve\"]\nviewer = [\"employees:read\"]",
    )
    .expect("scopes of the Company demo and permissions are valid");
    assert_eq!(c.auth.roles["ops"].len(), 3);
    for (text, bad) in [
        ("[auth.roles]\nops = [\"employee:read\"]", "employee:read"),
        ("[auth.roles]\nops = [\"admins\"]", "admins"),
        // The Company demo's scopes are not those of declared tools.
        ("[auth.roles]\nops = [\"tools:read\"]", "tools:read"),
    ] {
        let msg = load(text).unwrap_err().to_string();
        assert!(
            msg.starts_with("auth.roles") && msg.contains("role `ops`") && msg.contains(bad),
            "{text}: {msg}"
        );
    }
    let c =
        load("[server]\ndemo = \"conformance\"\n[auth.roles]\nops = [\"tools:write\", \"admin\"]")
            .expect("conformance tools use tools:*");
    assert_eq!(c.tool_scope_names(), ("tools:read", "tools:write"));
}

#[test]
fn unconfirmed_defaults_to_approve_when_users_sign_in() {
    use crate::config::Unconfirmed;
    const OAUTH: &str =
        "[server]\npublic_url = \"https://tools.example.com\"\n[auth]\nmode = \"oauth\"\n";
    let tool = "[tools.remove_employee]\nenabled = true\n";
    let c = load(&format!("{OAUTH}{tool}")).expect("valid");
    assert_eq!(c.tools["remove_employee"].unconfirmed, Unconfirmed::Approve);
    let c = load(tool).expect("valid");
    assert_eq!(c.tools["remove_employee"].unconfirmed, Unconfirmed::Refuse);
    for (word, want) in [
        ("refuse", Unconfirmed::Refuse),
        ("allow", Unconfirmed::Allow),
        ("approve", Unconfirmed::Approve),
    ] {
        let text = format!(
            "{OAUTH}[tools.remove_employee]\nunconfirmed = \"{word}\"\napproval_ttl_secs = 120\n"
        );
        let c = load(&text).expect("valid");
        assert_eq!(c.tools["remove_employee"].unconfirmed, want);
        assert_eq!(c.approval_ttls["remove_employee"], 120);
    }
    // Nobody can sign in to approve without OAuth.
    let err = load("[tools.remove_employee]\nunconfirmed = \"approve\"\n").unwrap_err();
    assert!(err.to_string().starts_with("tools.*.unconfirmed"), "{err}");
    assert!(err.to_string().contains("auth.mode"), "{err}");
    for (text, key) in [
        (
            "[tools.remove_employee]\nunconfirmed = \"maybe\"\n",
            "tools.*.unconfirmed",
        ),
        (
            "[tools.remove_employee]\napproval_ttl_secs = 10\n",
            "tools.*.approval_ttl_secs",
        ),
        (
            "[server]\nrequest_timeout_secs = 30\n[safety]\napproval_wait_secs = 30\n",
            "safety.approval_wait_secs",
        ),
    ] {
        let err = load(text).unwrap_err().to_string();
        assert!(err.starts_with(key), "{text}: {err}");
    }
}

#[test]
fn metrics_listen_is_off_unless_set_and_never_the_mcp_listener() {
    assert_eq!(load("").unwrap().metrics_listen, None);
    assert_eq!(
        load("[telemetry]\nmetrics_listen = \"\"")
            .unwrap()
            .metrics_listen,
        None
    );
    let on = load("[telemetry]\nmetrics_listen = \"127.0.0.1:9464\"").unwrap();
    assert_eq!(on.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
    for bad in [
        "[telemetry]\nmetrics_listen = \"nine\"",
        "[telemetry]\nmetrics_listen = \"127.0.0.1:8000\"",
        "[server]\nlisten = \"0.0.0.0:9000\"\nallow_unauthenticated_public = true\n[telemetry]\nmetrics_listen = \"127.0.0.1:9000\"",
    ] {
        let e = load(bad).unwrap_err().to_string();
        assert!(e.contains("telemetry.metrics_listen"), "{bad}: {e}");
    }
    // The flag wins over the file, and "" turns metrics off.
    let file = Config::parse_file("[telemetry]\nmetrics_listen = \"127.0.0.1:9464\"").unwrap();
    let o = Overrides {
        metrics_listen: Some(String::new()),
        ..Overrides::default()
    };
    assert_eq!(Config::from_parts(file, &o).unwrap().metrics_listen, None);
}
