//! `mcp-bench oauth`: the cost of bearer-token authentication on `/mcp`.
//!
//! Starts the connector twice on separate SQLite files with the same config
//! (`controls-off.toml`: no allowlist, no rate limit, audit off), once with
//! `--auth none` and once with `--auth oauth`, and measures stateless
//! `tools/call` throughput of both at each concurrency, back to back. The
//! token comes from the real path: a `client_credentials` client created
//! with `mcp-connector client add`, then `POST /token`. Every request of
//! the oauth run carries it, so the run measures the validation cache hit
//! path plus one database revalidation per 4 s.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::load::Workload;
use crate::process::Server;
use crate::report::Meta;

/// Options of the `oauth` verb.
#[derive(Debug, clap::Args)]
pub(crate) struct OAuthArgs {
    /// Config of both servers (only `--auth` differs).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/controls-off.toml"))]
    config: PathBuf,
    #[command(flatten)]
    load: crate::CompareArgs,
}

pub(crate) const SCOPE: &str = "employees:read";

pub(crate) async fn run(args: &OAuthArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.config.is_file(), "{} not found", args.config.display());
    let (bin, warmup, duration) = args.load.check()?;
    let mut meta = Meta::collect(warmup, duration);
    let dir = tempfile::Builder::new()
        .prefix("mcp-bench-oauth-")
        .tempdir()?;
    let control = crate::load::client(1)?;
    let config = args.config.display().to_string();

    let none_addr = crate::process::free_loopback_addr()?;
    let none_db = format!("sqlite://{}", dir.path().join("none.db").display());
    let oauth_addr = crate::process::free_loopback_addr()?;
    let oauth_db = format!("sqlite://{}", dir.path().join("oauth.db").display());
    let public_url = format!("http://{oauth_addr}");
    let common = |addr: std::net::SocketAddr, db: &str| {
        vec![
            "--config".to_owned(),
            config.clone(),
            "--listen".to_owned(),
            addr.to_string(),
            "--database-url".to_owned(),
            db.to_owned(),
        ]
    };
    let oauth_flags = [
        "--auth".to_owned(),
        "oauth".to_owned(),
        "--public-url".to_owned(),
        public_url.clone(),
    ];

    eprintln!("creating a client_credentials client ({})", bin.display());
    let mut add = vec!["client".to_owned(), "add".to_owned()];
    // `client add` takes no --listen.
    add.extend([
        "--config".to_owned(),
        config.clone(),
        "--database-url".to_owned(),
        oauth_db.clone(),
    ]);
    add.extend(oauth_flags.iter().cloned());
    add.extend(
        [
            "--name",
            "mcp-bench",
            "--grant",
            "client_credentials",
            "--scope",
            SCOPE,
            "--format",
            "json",
        ]
        .map(str::to_owned),
    );
    let client = create_client(&bin, &add)?;

    eprintln!("starting servers");
    let mut argv = vec!["serve".to_owned()];
    argv.extend(common(none_addr, &none_db));
    argv.extend(["--auth".to_owned(), "none".to_owned()]);
    let none = Server::start(
        "auth none",
        &bin,
        &argv,
        none_addr,
        dir.path().join("none.log"),
        &control,
    )
    .await
    .context("starting the auth none server")?;
    let mut argv = vec!["serve".to_owned()];
    argv.extend(common(oauth_addr, &oauth_db));
    argv.extend(oauth_flags.iter().cloned());
    let oauth = Server::start(
        "auth oauth",
        &bin,
        &argv,
        oauth_addr,
        dir.path().join("oauth.log"),
        &control,
    )
    .await
    .context("starting the auth oauth server")?;

    let token = access_token(&control, &public_url, &client).await?;
    let authorization = format!("Bearer {token}");
    sanity_check(&control, &public_url, &authorization).await?;

    let mut rows = Vec::new();
    for &c in &args.load.concurrency {
        let (o, _) =
            crate::measure_with(&none, Workload::StatelessCall, c, warmup, duration, None).await?;
        let (n, _) = crate::measure_with(
            &oauth,
            Workload::StatelessCall,
            c,
            warmup,
            duration,
            Some(&authorization),
        )
        .await?;
        rows.push((c, o, n));
    }
    meta.compilers.1 = crate::process::busy_compilers();

    let out = crate::report::comparison(
        &meta,
        "mcp-connector: cost of OAuth bearer tokens on /mcp",
        &format!(
            "- Config: `{}`, `--auth none` vs `--auth oauth` (client_credentials token, scope {SCOPE})",
            args.config.display()
        ),
        "| C | none req/s | none p50 ms | none p99 ms | oauth req/s | oauth p50 ms | oauth p99 ms | errors | ratio oauth/none |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        &rows,
        |o, n, ratio| {
            format!(
                "{:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {} | {ratio:.2}",
                o.rate(),
                o.quantile_ms(0.5),
                o.quantile_ms(0.99),
                n.rate(),
                n.quantile_ms(0.5),
                n.quantile_ms(0.99),
                n.errors + o.errors,
            )
        },
    );
    crate::report::emit(&out, args.load.out.as_deref())?;
    drop((none, oauth));
    Ok(())
}

/// A client created by `mcp-connector client add --format json`.
pub(crate) struct Client {
    id: String,
    secret: String,
    basic: bool,
}

pub(crate) fn create_client(bin: &Path, argv: &[String]) -> anyhow::Result<Client> {
    let mut cmd = std::process::Command::new(bin);
    for (k, _) in std::env::vars() {
        if k.starts_with("MCP_CONNECTOR_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(argv)
        .env("RUST_LOG", "warn")
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "client add failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let doc: Value = serde_json::from_slice(&out.stdout).context("client add printed no JSON")?;
    let field = |k: &str| {
        doc[k]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("client add output lacks {k}"))
    };
    Ok(Client {
        id: field("client_id")?,
        secret: field("client_secret")?,
        basic: doc["token_endpoint_auth_method"] == "client_secret_basic",
    })
}

pub(crate) async fn access_token(
    http: &reqwest::Client,
    base: &str,
    client: &Client,
) -> anyhow::Result<String> {
    let mut form = vec![("grant_type", "client_credentials"), ("scope", SCOPE)];
    let mut req = http.post(format!("{base}/token"));
    if client.basic {
        req = req.basic_auth(&client.id, Some(&client.secret));
    } else {
        form.push(("client_id", &client.id));
        form.push(("client_secret", &client.secret));
    }
    let res = req.form(&form).send().await.context("POST /token")?;
    let status = res.status();
    let body: Value = res.json().await.context("/token answered no JSON")?;
    match body["access_token"].as_str() {
        Some(t) if status.is_success() => Ok(t.to_owned()),
        _ => bail!("/token answered {status}: {}", body["error"]),
    }
}

/// One call with the token succeeds and one without is refused, so that the
/// run measures authenticated calls and not a stream of 401s.
pub(crate) async fn sanity_check(
    http: &reqwest::Client,
    base: &str,
    authorization: &str,
) -> anyhow::Result<()> {
    let url = format!("{base}/mcp");
    let with = crate::mcp::post(http, &url, crate::mcp::call_body(1), None)
        .header(reqwest::header::AUTHORIZATION, authorization)
        .send()
        .await?;
    anyhow::ensure!(
        with.status().is_success(),
        "an authenticated call got {}",
        with.status()
    );
    let msg = crate::mcp::read_response(with, 1).await?;
    crate::mcp::check_count(&msg)?;
    let without = crate::mcp::post(http, &url, crate::mcp::call_body(2), None)
        .send()
        .await?;
    anyhow::ensure!(
        without.status() == reqwest::StatusCode::UNAUTHORIZED,
        "a call without a token got {}, not 401",
        without.status()
    );
    Ok(())
}
