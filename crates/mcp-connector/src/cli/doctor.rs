//! `mcp-connector doctor URL`: replay what Claude does when a user pastes
//! URL, in Claude's order, and say for each step what is wrong and how to
//! fix it. The place a connector fails for real users is between Claude and
//! the binary (a proxy that buffers SSE, drops `/.well-known/`, forgets
//! `X-Forwarded-Proto`; a certificate Claude refuses; a wrong `public_url`;
//! an allowlist that blocks Anthropic), and Claude shows only "couldn't
//! connect". Any MCP server can be checked, not only this one.
//!
//! Exit 0 when Claude would connect, 1 when a check failed.

mod oauth;
mod probe;
mod report;
mod tls;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use url::Url;

use self::report::Report;

/// `doctor`
#[derive(Debug, Clone, Args)]
pub(super) struct DoctorArgs {
    /// The URL users paste into Claude, e.g. https://tools.example.com/mcp.
    url: String,
    /// An access token, to check what needs one (the SSE stream, tools/list).
    #[arg(long, env = "MCP_CONNECTOR_DOCTOR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM file of CA certificates to trust besides the system's (a private
    /// or test CA; Claude itself trusts only public CAs).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Connect to this address instead of resolving the host, like curl's
    /// --resolve: HOST:ADDRESS (e.g. tools.example.com:192.0.2.7).
    #[arg(long, value_name = "HOST:ADDRESS")]
    resolve: Option<String>,
    /// Call one read-only tool: NAME and its arguments as a JSON object.
    #[arg(long, num_args = 2, value_names = ["NAME", "ARGS"])]
    call: Option<Vec<String>>,
    /// How long the SSE stream may take to send its first bytes, in seconds.
    #[arg(long, default_value_t = 5)]
    sse_wait: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// The state of one run: the client every request goes through, and the
/// report being written.
pub(super) struct Doctor {
    client: reqwest::Client,
    url: Url,
    token: Option<String>,
    call_tool: Option<(String, serde_json::Value)>,
    sse_wait: Duration,
    anthropic_ranges: Vec<String>,
    report: Report,
}

pub(super) fn run(args: &DoctorArgs) -> anyhow::Result<()> {
    let url = Url::parse(&args.url).with_context(|| format!("`{}` is not a URL", args.url))?;
    let Some(host) = url.host_str().map(str::to_owned) else {
        bail!("`{url}` has no host");
    };
    let pinned = args
        .resolve
        .as_deref()
        .map(|r| parse_resolve(r, &host))
        .transpose()?;
    let call_tool = match args.call.as_deref() {
        Some([name, json]) => Some((
            name.clone(),
            serde_json::from_str(json).context("--call ARGS is not JSON")?,
        )),
        _ => None,
    };
    let roots = Arc::new(tls::roots(args.ca_file.as_deref())?);
    let mut builder = reqwest::Client::builder()
        .use_preconfigured_tls(tls::client_config(roots.clone())?)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .user_agent(concat!(
            "Claude-User (mcp-connector doctor ",
            env!("CARGO_PKG_VERSION"),
            ")"
        ));
    if let Some(ip) = pinned {
        builder = builder.resolve(&host, std::net::SocketAddr::new(ip, 0));
    }
    let doctor = Doctor {
        client: builder.build().context("building the HTTP client")?,
        token: args.token.clone(),
        call_tool,
        sse_wait: Duration::from_secs(args.sse_wait.max(1)),
        anthropic_ranges: crate::network::presets::builtin()
            .into_iter()
            .find(|p| p.name == "anthropic")
            .map(|p| p.cidrs.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        report: Report {
            url: url.to_string(),
            ..Report::default()
        },
        url,
    };
    let report =
        super::runtime()?.block_on(doctor.examine(host, pinned, roots, args.ca_file.is_some()));
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    if report.connects() {
        Ok(())
    } else {
        bail!("{} check(s) failed", report.failed())
    }
}

/// `HOST:ADDRESS` of `--resolve`, for the URL's host.
fn parse_resolve(text: &str, host: &str) -> anyhow::Result<IpAddr> {
    let (name, addr) = text
        .split_once(':')
        .context("--resolve takes HOST:ADDRESS")?;
    if !name.eq_ignore_ascii_case(host) {
        bail!("--resolve names {name}, but the URL's host is {host}");
    }
    addr.trim_matches(['[', ']'])
        .parse()
        .with_context(|| format!("--resolve: `{addr}` is not an IP address"))
}

impl Doctor {
    /// Every check, in Claude's order; stops where Claude would stop.
    async fn examine(
        mut self,
        host: String,
        pinned: Option<IpAddr>,
        roots: Arc<rustls::RootCertStore>,
        ca_file: bool,
    ) -> Report {
        let https = self.url.scheme() == "https";
        let loopback = crate::config::is_loopback_host(&host);
        match (https, loopback) {
            (true, _) => self
                .report
                .pass("url", format!("https, endpoint {}", self.url.path())),
            (false, true) => self.report.warn(
                "url",
                "plain http on loopback: fine for local testing",
                "Claude connects from Anthropic's cloud, only over https to a public name",
            ),
            (false, false) => {
                self.report.fail(
                    "url",
                    format!("plain http to {host}"),
                    "serve https (a TLS proxy in front, or [server.tls]); Claude refuses http",
                );
                return self.report;
            }
        }
        let port = self.url.port_or_known_default().unwrap_or(443);
        let Some(addr) = tls::resolve(&mut self.report, &host, port, pinned).await else {
            return self.report;
        };
        if https && !tls::check(&mut self.report, addr, &host, roots, ca_file).await {
            return self.report;
        }
        // Claude's first request carries no token.
        let Some(init) = self.initialize(false).await else {
            return self.report;
        };
        self.origin().await;
        if init.status != 401 {
            self.discover(false).await;
            self.authenticated(&init).await;
            return self.report;
        }
        self.oauth(&init).await;
        if self.token.is_none() {
            self.discover(false).await;
            self.report.skip(
                "stream",
                "the SSE stream and tools/list need a token: run again with --token",
            );
            return self.report;
        }
        // Authenticated from here on: the same steps with the token.
        let Some(init) = self.initialize(true).await.filter(|r| r.status == 200) else {
            return self.report;
        };
        self.discover(true).await;
        self.authenticated(&init).await;
        self.report
    }

    /// What sits behind authentication (or is open without it).
    async fn authenticated(&mut self, init: &probe::Reply) {
        let session = self.session(init).await;
        self.stream(session.as_deref()).await;
        if let Some(tools) = self.tools(session.as_deref()).await {
            self.call(&tools, session.as_deref()).await;
        }
    }
}
