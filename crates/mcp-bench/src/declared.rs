//! `mcp-bench declared`: a tool declared in the config file against the
//! built-in one doing the same query.
//!
//! Starts the connector twice over one SQLite company database: first the
//! Company demo (`get_employee_count`), which creates and seeds the file,
//! then a config that declares `count_by_department` with the built-in's
//! statement on a `[sources.company]` pointing at that same file. Both have
//! the controls off (`controls-off.toml`'s settings: no rate limit, no audit)
//! and 8 read connections, so the difference is the declared-tool path:
//! argument checks against the declared parameters, the engine-enforced
//! read-only transaction, and rendering rows to `structuredContent` and text.

use std::path::Path;

use anyhow::Context as _;

use crate::load::Workload;
use crate::process::Server;
use crate::report::Meta;

/// Options of the `declared` verb.
#[derive(Debug, clap::Args)]
pub(crate) struct DeclaredArgs {
    #[command(flatten)]
    load: crate::CompareArgs,
}

/// Target from issue 6: a declared read tool keeps ≥ 0.9 of the built-in
/// tool's throughput at concurrency 16.
const TARGET: f64 = 0.9;

/// Settings both servers share: every control off, as in `controls-off.toml`.
const COMMON: &str = "[limits]\nrequests_per_minute = 0\n\n[audit]\nenabled = false\n";

/// The built-in query of `get_employee_count` (store/company.rs), with the
/// key normalisation it does in Rust (trim, lower case) done in SQL.
const STATEMENT: &str = "SELECT count(*) AS count FROM employees e \
     JOIN departments d ON d.id = e.department_id \
     WHERE d.name = lower(trim(:department))";

/// The declared server's config: the same company file as its source.
fn declared_config(company_db: &Path) -> anyhow::Result<String> {
    let url = serde_json::to_string(&format!("sqlite://{}", company_db.display()))?;
    let statement = serde_json::to_string(STATEMENT)?;
    Ok(format!(
        "{COMMON}
[sources.company]
url = {url}
max_connections = 8           # the built-in read pool's size

[[tools]]
name = \"{tool}\"
source = \"company\"
title = \"Headcount of a department\"
description = \"Number of employees in a department (case-insensitive name, e.g. engineering).\"
statement = {statement}
columns = {{ count = \"integer\" }}
[tools.parameters.department]
type = \"string\"
description = \"Department name, e.g. engineering\"
min_length = 1
max_length = 100
",
        tool = crate::mcp::DECLARED_TOOL,
    ))
}

pub(crate) async fn run(args: &DeclaredArgs) -> anyhow::Result<()> {
    let (bin, warmup, duration) = args.load.check()?;
    let mut meta = Meta::collect(warmup, duration);
    let dir = tempfile::Builder::new()
        .prefix("mcp-bench-declared-")
        .tempdir()?;
    let control = crate::load::client(1)?;
    let company_db = dir.path().join("company.db");
    let builtin_config = dir.path().join("builtin.toml");
    std::fs::write(
        &builtin_config,
        format!("[server]\ndemo = \"company\"\n\n{COMMON}"),
    )
    .context("writing the built-in config")?;
    let declared_toml = dir.path().join("declared.toml");
    std::fs::write(&declared_toml, declared_config(&company_db)?)
        .context("writing the declared config")?;

    let start = |name: &'static str, config: &Path, store: &Path| {
        let db_url = format!("sqlite://{}", store.display());
        let log = dir.path().join(format!("{}.log", name.replace(' ', "-")));
        let (bin, config, control) = (bin.clone(), config.to_owned(), control.clone());
        async move { Server::serve_config(name, &bin, &config, &db_url, log, &control).await }
    };
    eprintln!("starting servers ({})", bin.display());
    // The built-in server first: it creates, migrates and seeds company.db.
    let builtin = start("built-in get_employee_count", &builtin_config, &company_db).await?;
    // The declared server keeps its own store (sessions, audit) apart; only
    // the company data is shared.
    let declared = start(
        "declared count_by_department",
        &declared_toml,
        &dir.path().join("declared-store.db"),
    )
    .await?;
    sanity_check(&control, &builtin, &declared).await?;

    let mut rows = Vec::new();
    for &c in &args.load.concurrency {
        let (b, _) = crate::measure(&builtin, Workload::StatelessCall, c, warmup, duration).await?;
        let (d, _) = crate::measure(&declared, Workload::DeclaredCall, c, warmup, duration).await?;
        rows.push((c, b, d));
    }
    meta.compilers.1 = crate::process::busy_compilers();

    let mut out = crate::report::comparison(
        &meta,
        "mcp-connector: config-declared SQL tool vs the built-in tool",
        &format!(
            "- Same SQLite company database; built-in `get_employee_count` vs `[[tools]] {}` with the \
             same query (`{STATEMENT}`); controls off, 8 read connections each",
            crate::mcp::DECLARED_TOOL
        ),
        &format!(
            "| C | built-in req/s | built-in p50 ms | built-in p99 ms | declared req/s | declared p50 ms | declared p99 ms | errors | ratio declared/built-in | target ≥ {TARGET} |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        &rows,
        |b, d, ratio| {
            format!(
                "{:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {} | {ratio:.2} | {}",
                b.rate(),
                b.quantile_ms(0.5),
                b.quantile_ms(0.99),
                d.rate(),
                d.quantile_ms(0.5),
                d.quantile_ms(0.99),
                b.errors + d.errors,
                if ratio >= TARGET { "met" } else { "**missed**" }
            )
        },
    );
    let errors: Vec<&String> = rows
        .iter()
        .flat_map(|(_, b, d)| [b, d])
        .filter_map(|r| r.first_error.as_ref())
        .collect();
    if !errors.is_empty() {
        out.push_str("\nFirst errors seen:\n\n");
        for e in errors {
            out.push_str(&format!("- `{e}`\n"));
        }
    }
    crate::report::emit(&out, args.load.out.as_deref())?;
    drop((builtin, declared));
    Ok(())
}

/// One call to each answers the seed data's headcount, so that the run
/// measures correct answers and not a stream of errors.
async fn sanity_check(
    http: &reqwest::Client,
    builtin: &Server,
    declared: &Server,
) -> anyhow::Result<()> {
    let url = format!("{}/mcp", builtin.base_url());
    let res = crate::mcp::post(http, &url, crate::mcp::call_body(1), None)
        .send()
        .await?;
    crate::mcp::check_count(&crate::mcp::read_response(res, 1).await?)
        .context("the built-in tool")?;
    let url = format!("{}/mcp", declared.base_url());
    let res = crate::mcp::post(http, &url, crate::mcp::declared_call_body(2), None)
        .send()
        .await?;
    crate::mcp::check_row_count(&crate::mcp::read_response(res, 2).await?)
        .context("the declared tool")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_config_is_valid_toml_with_the_statement_intact() {
        let text = declared_config(Path::new("/tmp/a \"b\"/company.db")).expect("config");
        let doc: toml::Value = toml::from_str(&text).expect("TOML");
        assert_eq!(doc["tools"][0]["statement"].as_str(), Some(STATEMENT));
        assert_eq!(
            doc["sources"]["company"]["url"].as_str(),
            Some("sqlite:///tmp/a \"b\"/company.db")
        );
    }
}
