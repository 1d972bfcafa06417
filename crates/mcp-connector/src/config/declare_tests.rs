//! Loading `[sources]` and `[[tools]]`: every error names the tool, the key
//! and (from a file) the line.

use std::io::Write as _;

use super::super::{Config, ConfigError, Overrides};
use crate::config::spec::{Action, Engine, JsonType, SourceKind};

const HR: &str = r#"
[sources.hr]
url = "sqlite://hr.db"

[[tools]]
name = "count_by_title"
source = "hr"
title = "Count employees by title"
description = "Number of employees with a given job title."
statement = "SELECT count(*) AS n FROM employees WHERE title = :title"
read_only = true
[tools.parameters.title]
type = "string"
description = "Job title, exact match"
"#;

fn load(text: &str) -> Result<Config, ConfigError> {
    let file = Config::parse_file(text).map_err(|message| ConfigError::Parse {
        path: "test.toml".into(),
        message,
    })?;
    Config::from_parts(file, &Overrides::default())
}

/// Load through a real file, so that errors carry line numbers.
fn load_file(text: &str) -> Result<Config, ConfigError> {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(text.as_bytes()).expect("write");
    Config::load(Some(f.path()), &Overrides::default())
}

fn err(text: &str) -> String {
    load_file(text)
        .expect_err("config must be refused")
        .to_string()
}

#[test]
fn the_issue_example_loads() {
    let c = load(HR).expect("the issue's example is valid");
    let d = c.declared.expect("declared tools");
    let SourceKind::Sql(s) = &d.sources["hr"].kind else {
        panic!("sql source")
    };
    assert_eq!(s.engine, Engine::Sqlite);
    let t = &d.tools[0];
    assert_eq!(t.name, "count_by_title");
    assert!(t.read_only && !t.destructive && t.idempotent);
    assert_eq!(t.params[0].ty, JsonType::String);
    assert!(t.params[0].required);
    let Action::Sql(stmt) = &t.action else {
        panic!("sql action")
    };
    assert_eq!(
        stmt.sql,
        "SELECT count(*) AS n FROM employees WHERE title = ?"
    );
    assert!(c.tools["count_by_title"].enabled);
}

#[test]
fn builtin_tool_settings_still_load() {
    let c = load("[tools.remove_employee]\nenabled = false\n").expect("valid");
    assert!(!c.tools["remove_employee"].enabled);
    assert!(c.declared.is_none());
}

#[test]
fn placeholder_mismatch_names_tool_key_and_line() {
    let text = HR.replace(":title\"", ":titel\"");
    let msg = err(&text);
    assert!(msg.contains("tools[0] (count_by_title).statement"), "{msg}");
    assert!(msg.contains("(line 10)"), "{msg}");
    assert!(msg.contains(":titel"), "{msg}");

    let text = HR.replace("WHERE title = :title", "WHERE 1 = 1");
    let msg = err(&text);
    assert!(msg.contains("parameter `title` is declared"), "{msg}");
    assert!(msg.contains("(line 10)"), "{msg}");
}

#[test]
fn unknown_keys_and_malformed_files_are_refused_with_the_key() {
    let msg = err(&HR.replace("read_only = true", "readonly = true"));
    assert!(msg.contains("readonly"), "{msg}");
    let msg = err(&HR.replace("type = \"string\"", "type = \"string\"\nmax = 3"));
    assert!(msg.contains("max"), "{msg}");
    let msg = err(&HR.replace("[sources.hr]", "[sources.hr]\npassword = \"x\""));
    assert!(msg.contains("password"), "{msg}");
    let msg = err("[[tools]]\nname = \"x\"\n");
    assert!(msg.contains("missing field"), "{msg}");
    let msg = err("[[tools]\n");
    assert!(msg.contains("line 1"), "{msg}");
}

#[test]
fn sources_and_tools_must_refer_to_each_other() {
    let msg = err(&HR.replace("source = \"hr\"", "source = \"payroll\""));
    assert!(msg.contains("no [sources.payroll] (declared: hr)"), "{msg}");
    let msg = err("[sources.hr]\nurl = \"sqlite://x.db\"\n");
    assert!(msg.contains("no [[tools]] use it"), "{msg}");
    let msg = err(&HR.replace("sqlite://hr.db", "oracle://db/hr"));
    assert!(msg.contains("sources.hr.url"), "{msg}");
    let twice = format!("{HR}\n{}", &HR[HR.find("[[tools]]").expect("tools")..]);
    assert!(err(&twice).contains("declared twice"));
}

#[test]
fn write_tools_must_declare_destructive() {
    let msg = err(&HR.replace("read_only = true", "read_only = false"));
    assert!(msg.contains("(count_by_title).destructive"), "{msg}");
    let ok = load(&HR.replace("read_only = true", "read_only = false\ndestructive = true"))
        .expect("valid");
    let t = &ok.declared.expect("declared").tools[0];
    assert!(!t.read_only && t.destructive && !t.idempotent);
    let msg = err(&HR.replace("read_only = true", "destructive = true"));
    assert!(
        msg.contains("read_only tool cannot be destructive"),
        "{msg}"
    );
}

#[test]
fn parameters_are_typed_bounded_and_checked_at_load() {
    let with = |extra: &str| HR.replace("type = \"string\"", extra);
    assert!(err(&with("type = \"text\"")).contains("parameters.title.type"));
    assert!(err(&with("type = \"enum\"")).contains("needs enum"));
    assert!(err(&with("type = \"string\"\nenum = [1, 2]")).contains("parameters.title.enum"));
    assert!(err(&with("type = \"string\"\ndefault = 5")).contains("parameters.title.default"));
    assert!(
        err(&with("type = \"integer\"\nminimum = 5\nmaximum = 1")).contains("greater than maximum")
    );
    assert!(
        err(&with("type = \"integer\"\nminimum = 1\ndefault = 0")).contains("at least 1"),
        "default outside the bounds"
    );
    assert!(err(&with("type = \"string\"\nminimum = 1")).contains("min_length"));
    let c = load(&with(
        "type = \"enum\"\nenum = [\"a\", \"b\"]\ndefault = \"a\"",
    ))
    .expect("valid");
    let p = &c.declared.expect("declared").tools[0].params[0];
    assert!(!p.required, "a default makes a parameter optional");
    assert_eq!(p.allowed.as_ref().map(Vec::len), Some(2));
}

#[test]
fn context_names_are_reserved() {
    let msg = err(&HR.replace("[tools.parameters.title]", "[tools.parameters._user]"));
    assert!(msg.contains("parameters._user"), "{msg}");
    let msg = err(&HR.replace(":title", ":title AND owner = :_owner"));
    assert!(msg.contains("not a caller-context name"), "{msg}");
    let ok = load(&HR.replace(":title", ":title AND owner = :_user_email")).expect("valid");
    assert!(ok.declared.is_some());
    let msg = err(&HR
        .replace("[tools.parameters.title]", "[tools.parameters.cursor]")
        .replace(":title", ":cursor"));
    assert!(msg.contains("`cursor` is reserved"), "{msg}");
}

#[test]
fn env_expansion_and_secrets_stay_out_of_messages() {
    let home = std::env::var("HOME").unwrap_or_default();
    let c = load(&HR.replace("sqlite://hr.db", "sqlite://${HOME}/hr.db")).expect("valid");
    let d = c.declared.expect("declared");
    let SourceKind::Sql(s) = &d.sources["hr"].kind else {
        panic!("sql source")
    };
    assert_eq!(s.url.expose(), format!("sqlite://{home}/hr.db"));
    let msg = err(&HR.replace("sqlite://hr.db", "${MCPC_TEST_SURELY_UNSET}"));
    assert!(
        msg.contains("sources.hr.url: environment variable MCPC_TEST_SURELY_UNSET is not set"),
        "{msg}"
    );

    let pg = load(&HR.replace(
        "sqlite://hr.db",
        "postgres://reader:hunter2pw@db.internal:5433/hr",
    ))
    .expect("valid");
    let debug = format!("{pg:?}");
    assert!(
        !debug.contains("hunter2pw"),
        "the password leaks through Debug"
    );
    let d = pg.declared.expect("declared");
    let SourceKind::Sql(s) = &d.sources["hr"].kind else {
        panic!("sql source")
    };
    assert_eq!(s.display, "postgres://db.internal:5433/hr");
    assert_eq!(s.engine, Engine::Postgres);
    let maria =
        load(&HR.replace("sqlite://hr.db", "mariadb://root@127.0.0.1/test")).expect("valid");
    let d = maria.declared.expect("declared");
    let SourceKind::Sql(s) = &d.sources["hr"].kind else {
        panic!("sql source")
    };
    assert_eq!(
        (s.engine, s.url.expose()),
        (Engine::MySql, "mysql://root@127.0.0.1/test")
    );

    // An unescaped `/` in the password: the URL parses, with the password
    // in the path. It must not show.
    let slashed =
        load(&HR.replace("sqlite://hr.db", "postgres://app:20/24pw@db/hr")).expect("valid");
    let d = slashed.declared.expect("declared");
    let SourceKind::Sql(s) = &d.sources["hr"].kind else {
        panic!("sql source")
    };
    assert!(!s.display.contains("24pw"), "{}", s.display);

    let many = err(&HR.replace(
        "url = \"sqlite://hr.db\"",
        "url = \"sqlite://hr.db\"\nmax_connections = 4000000000",
    ));
    assert!(
        many.contains("sources.hr.max_connections") && many.contains("at most 1000"),
        "{many}"
    );
}

#[test]
fn http_sources_refuse_credentials_in_urls_and_database_keys() {
    let http = |src: &str| {
        format!(
            "[sources.api]\n{src}\n[[tools]]\nname = \"t\"\nsource = \"api\"\ndescription = \"d\"\npath = \"/x\"\n"
        )
    };
    assert!(load(&http("url = \"https://api.internal/v1\"")).is_ok());
    assert!(err(&http("url = \"https://u:p@api.internal/v1\"")).contains("credentials"));
    assert!(
        err(&http(
            "url = \"https://api.internal/v1\"\nstatement_timeout_secs = 3"
        ))
        .contains("only for databases")
    );
    assert!(
        err(&http(
            "url = \"https://api.internal\"\nallow_hosts = [\"other.internal\"]"
        ))
        .contains("own host")
    );
    let msg = err(&HR.replace("read_only = true", "read_only = true\nmethod = \"GET\""));
    assert!(msg.contains("only for kind = \"http\""), "{msg}");
}

#[test]
fn declared_tools_replace_the_demo_and_cannot_be_combined_with_it() {
    let msg = err(&format!("[server]\ndemo = \"company\"\n{HR}"));
    assert!(msg.contains("server.demo"), "{msg}");
}
