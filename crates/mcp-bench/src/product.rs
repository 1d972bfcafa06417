//! `mcp-bench product`: the whole product against bare rmcp (issue 16).
//!
//! The connector runs with its controls on (OAuth with a `client_credentials`
//! token, audit trail, IP allowlist containing loopback, rate limits on but
//! far above the load) and is measured against the bare rmcp baseline in the
//! same run, in the two shapes users meet: stateless JSON answers, and
//! `--sessions` with the SDK's default SSE answers. Every virtual client has
//! its own keep-alive connection. Per cell: calls/s, p50/p99 and the
//! server's CPU per call (`utime + stime` of `/proc/PID/stat` over the
//! measured window, divided by the calls). Then each control's own cost, by
//! turning it off one at a time, and memory: idle RSS, and RSS right after a
//! storm of short sessions (and of as many stateless connections).
//!
//! Our servers run one at a time on one port and one SQLite file, so one
//! token (bound to that public URL) serves every cell.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::load::{self, Limit, RunStats, Workload};
use crate::process::Server;
use crate::report::Meta;

/// Options of the `product` verb.
#[derive(Debug, clap::Args)]
pub(crate) struct ProductArgs {
    #[command(flatten)]
    load: crate::CompareArgs,
    /// Concurrency of the per-control runs.
    #[arg(long, default_value_t = 16)]
    controls_concurrency: usize,
    /// Sessions (and stateless connections) opened and closed by the memory storm.
    #[arg(long, default_value_t = 10_000)]
    storm: u64,
    /// Skip the per-control runs.
    #[arg(long)]
    no_controls: bool,
    /// Skip the memory storms.
    #[arg(long)]
    no_storm: bool,
}

/// Which controls a server runs with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Controls {
    auth: bool,
    audit: bool,
    allowlist: bool,
    limits: bool,
    hygiene_wrap: bool,
}

impl Controls {
    const ALL: Self = Self {
        auth: true,
        audit: true,
        allowlist: true,
        limits: true,
        hygiene_wrap: true,
    };

    /// The config file of these controls (auth is a flag of `serve`).
    fn config(self) -> String {
        let high = 60_000_000;
        let (rpm, burst) = if self.limits {
            (high, 1_000_000)
        } else {
            (0, 1)
        };
        let mut out = String::from("[server]\ndemo = \"company\"\n\n");
        if self.allowlist {
            out.push_str("[network]\nallow = [\"loopback\"]\n\n");
        }
        out.push_str(&format!(
            "[limits]\nrequests_per_minute = {rpm}\nburst = {burst}\n\
             tool_calls_per_minute = {rpm}\naddress_requests_per_minute = {rpm}\n\
             address_burst = {burst}\n\n[audit]\nenabled = {}\n\n\
             [safety]\nwrap_untrusted_output = {}\n",
            self.audit, self.hygiene_wrap
        ));
        out
    }

    /// Every control on but the one named, for the per-control table.
    fn variants() -> [(&'static str, Self); 6] {
        let all = Self::ALL;
        [
            ("all on", all),
            ("auth off (--auth none)", Self { auth: false, ..all }),
            (
                "audit off",
                Self {
                    audit: false,
                    ..all
                },
            ),
            (
                "allowlist off",
                Self {
                    allowlist: false,
                    ..all
                },
            ),
            (
                "rate limits off",
                Self {
                    limits: false,
                    ..all
                },
            ),
            (
                "output wrapping off",
                Self {
                    hygiene_wrap: false,
                    ..all
                },
            ),
        ]
    }
}

/// The two transport shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Stateless,
    Sessions,
}

impl Shape {
    const BOTH: [Self; 2] = [Self::Stateless, Self::Sessions];

    fn name(self) -> &'static str {
        match self {
            Self::Stateless => "stateless JSON",
            Self::Sessions => "--sessions SSE",
        }
    }

    fn calls(self) -> Workload {
        match self {
            Self::Stateless => Workload::StatelessCall,
            Self::Sessions => Workload::SessionCall,
        }
    }
}

/// Where our servers run and how they authenticate.
struct Ours {
    bin: PathBuf,
    dir: PathBuf,
    addr: SocketAddr,
    db_url: String,
    authorization: String,
    control: reqwest::Client,
}

impl Ours {
    fn public_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn auth_flags(&self, auth: bool) -> Vec<String> {
        if auth {
            ["--auth", "oauth", "--public-url", &self.public_url()]
                .map(str::to_owned)
                .to_vec()
        } else {
            vec!["--auth".to_owned(), "none".to_owned()]
        }
    }

    fn argv(&self, verb: &[&str], config: &Path, auth: bool) -> Vec<String> {
        let mut argv: Vec<String> = verb.iter().map(|s| (*s).to_owned()).collect();
        argv.extend(["--config".to_owned(), config.display().to_string()]);
        if verb == ["serve"] {
            argv.extend(["--listen".to_owned(), self.addr.to_string()]);
        }
        argv.extend(["--database-url".to_owned(), self.db_url.clone()]);
        argv.extend(self.auth_flags(auth));
        argv
    }

    async fn start(&self, name: &str, c: Controls, shape: Shape) -> anyhow::Result<Server> {
        let config = self.dir.join(format!("{}.toml", slug(name)));
        std::fs::write(&config, c.config()).context("writing a config")?;
        let mut argv = self.argv(&["serve"], &config, c.auth);
        if shape == Shape::Sessions {
            argv.push("--sessions".to_owned());
        }
        let log = self.dir.join(format!("{}.log", slug(name)));
        let server = Server::start(name, &self.bin, &argv, self.addr, log, &self.control)
            .await
            .with_context(|| format!("starting {name}"))?;
        // The check's calls are stateless; a sessions server refuses them
        // (400 without a session), and its cells check every answer anyway.
        if c.auth && shape == Shape::Stateless {
            crate::oauth::sanity_check(&self.control, &self.public_url(), &self.authorization)
                .await
                .with_context(|| format!("{name}: the token check"))?;
        }
        Ok(server)
    }

    fn authorization(&self, c: Controls) -> Option<&str> {
        c.auth.then_some(self.authorization.as_str())
    }
}

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

async fn baseline(dir: &Path, shape: Shape, control: &reqwest::Client) -> anyhow::Result<Server> {
    let addr = crate::process::free_loopback_addr()?;
    let exe = std::env::current_exe().context("locating mcp-bench")?;
    let mut argv = vec![
        "baseline-server".to_owned(),
        "--listen".to_owned(),
        addr.to_string(),
    ];
    if shape == Shape::Sessions {
        argv.push("--sessions".to_owned());
    }
    let name = format!("bare rmcp ({})", shape.name());
    let log = dir.join(format!("{}.log", slug(&name)));
    Server::start(&name, &exe, &argv, addr, log, control).await
}

/// Warm up, then measure one cell on pinned keep-alive connections, with
/// the server's CPU over the measured window.
async fn cell(
    server: &Server,
    shape: Shape,
    c: usize,
    warmup: Duration,
    duration: Duration,
    authorization: Option<&str>,
) -> anyhow::Result<RunStats> {
    eprintln!("{}: C={c} {}", server.name, shape.name());
    let clients = load::pinned(c, authorization, true)?;
    let url = server.base_url();
    let until = |d| Limit::Until(Instant::now() + d);
    load::run_on(&clients, &url, shape.calls(), c, until(warmup)).await;
    let cpu0 = server.cpu_time();
    let mut stats = load::run_on(&clients, &url, shape.calls(), c, until(duration)).await;
    stats.server_cpu = cpu0
        .zip(server.cpu_time())
        .map(|(a, b)| b.saturating_sub(a));
    eprintln!(
        "  {:.0}/s p99 {:.2} ms cpu {:.0} µs/call errors {}",
        stats.rate(),
        stats.quantile_ms(0.99),
        stats.cpu_per_op_us().unwrap_or(f64::NAN),
        stats.errors
    );
    Ok(stats)
}

/// RSS of a fresh server: idle, right after the storm, and 5 s later.
pub(crate) struct StormMemory {
    pub(crate) name: String,
    pub(crate) idle: Option<u64>,
    pub(crate) after: Option<u64>,
    pub(crate) settled: Option<u64>,
    pub(crate) stats: RunStats,
}

async fn storm(
    server: &Server,
    shape: Shape,
    total: u64,
    authorization: Option<&str>,
) -> anyhow::Result<StormMemory> {
    const C: usize = 16;
    tokio::time::sleep(crate::IDLE_SETTLE).await;
    let idle = server.rss_bytes();
    eprintln!("{}: storm of {total} ({})", server.name, shape.name());
    // Sessions: each one opened, used once and closed on a kept-alive
    // connection. Stateless: a new connection per call.
    let (workload, keep_alive) = match shape {
        Shape::Sessions => (Workload::Session, true),
        Shape::Stateless => (Workload::StatelessCall, false),
    };
    let clients = load::pinned(C, authorization, keep_alive)?;
    let per_task = total.div_ceil(C as u64);
    let stats = load::run_on(
        &clients,
        &server.base_url(),
        workload,
        C,
        Limit::Iterations(per_task),
    )
    .await;
    drop(clients);
    let after = server.rss_bytes();
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(StormMemory {
        name: server.name.clone(),
        idle,
        after,
        settled: server.rss_bytes(),
        stats,
    })
}

/// Everything one run measured.
pub(crate) struct Results {
    /// (shape, ours, baseline) per concurrency.
    pub(crate) matrix: Vec<(&'static str, RunStats, RunStats)>,
    /// (shape, variant, stats).
    pub(crate) controls: Vec<(&'static str, &'static str, RunStats)>,
    pub(crate) storms: Vec<(&'static str, StormMemory)>,
}

pub(crate) async fn run(args: &ProductArgs) -> anyhow::Result<()> {
    let (bin, warmup, duration) = args.load.check()?;
    let mut meta = Meta::collect(warmup, duration);
    let dir = tempfile::Builder::new()
        .prefix("mcp-bench-product-")
        .tempdir()?;
    let control = load::client(1)?;
    let mut ours = Ours {
        bin,
        dir: dir.path().to_owned(),
        addr: crate::process::free_loopback_addr()?,
        db_url: format!("sqlite://{}", dir.path().join("ours.db").display()),
        authorization: String::new(),
        control: control.clone(),
    };
    ours.authorization = token(&ours).await?;
    let mut results = Results {
        matrix: Vec::new(),
        controls: Vec::new(),
        storms: Vec::new(),
    };
    for shape in Shape::BOTH {
        let name = format!("mcp-connector ({})", shape.name());
        let server = ours.start(&name, Controls::ALL, shape).await?;
        let base = baseline(dir.path(), shape, &control).await?;
        let auth = ours.authorization(Controls::ALL);
        for &c in &args.load.concurrency {
            let o = cell(&server, shape, c, warmup, duration, auth).await?;
            let b = cell(&base, shape, c, warmup, duration, None).await?;
            results.matrix.push((shape.name(), o, b));
        }
    }
    if !args.no_controls {
        let c = args.controls_concurrency;
        for shape in Shape::BOTH {
            for (variant, controls) in Controls::variants() {
                let server = ours.start(variant, controls, shape).await?;
                let auth = ours.authorization(controls);
                let stats = cell(&server, shape, c, warmup, duration, auth).await?;
                results.controls.push((shape.name(), variant, stats));
            }
        }
    }
    if !args.no_storm {
        for shape in Shape::BOTH {
            let name = format!("mcp-connector ({})", shape.name());
            let server = ours.start(&name, Controls::ALL, shape).await?;
            let auth = ours.authorization(Controls::ALL);
            let mem = storm(&server, shape, args.storm, auth).await?;
            results.storms.push((shape.name(), mem));
            drop(server);
            let base = baseline(dir.path(), shape, &control).await?;
            let mem = storm(&base, shape, args.storm, None).await?;
            results.storms.push((shape.name(), mem));
        }
    }
    meta.compilers.1 = crate::process::busy_compilers();
    let out = crate::report::product(&meta, args.controls_concurrency, args.storm, &results);
    crate::report::emit(&out, args.load.out.as_deref())
}

/// A `client_credentials` token from the real path: `client add`, a server,
/// `POST /token`.
async fn token(ours: &Ours) -> anyhow::Result<String> {
    let config = ours.dir.join("token.toml");
    std::fs::write(&config, Controls::ALL.config()).context("writing a config")?;
    let mut add = ours.argv(&["client", "add"], &config, true);
    add.extend(
        [
            "--name",
            "mcp-bench",
            "--grant",
            "client_credentials",
            "--scope",
            crate::oauth::SCOPE,
            "--format",
            "json",
        ]
        .map(str::to_owned),
    );
    eprintln!(
        "creating a client_credentials client ({})",
        ours.bin.display()
    );
    let client = crate::oauth::create_client(&ours.bin, &add)?;
    let argv = ours.argv(&["serve"], &config, true);
    let log = ours.dir.join("token.log");
    let server = Server::start("token", &ours.bin, &argv, ours.addr, log, &ours.control).await?;
    let token = crate::oauth::access_token(&ours.control, &ours.public_url(), &client).await?;
    drop(server);
    Ok(format!("Bearer {token}"))
}
