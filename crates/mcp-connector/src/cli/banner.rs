//! The start-up banner of `serve`: what the operator needs to connect
//! Claude and to see what is exposed, once, when the server listens.
//!
//! On a terminal it is a short block of text on stderr; otherwise (a
//! service manager, a container) one structured log line with the same
//! facts, so that log pipelines get fields instead of a drawing. Warnings
//! are WARN log lines in both cases.

use std::net::SocketAddr;

use crate::app::AppState;
use crate::config::{AuthMode, Config, is_loopback_host};

/// Everything the banner says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Banner {
    pub version: &'static str,
    pub auth: &'static str,
    /// The URL to paste into Claude (Settings → Connectors → Add custom connector).
    pub url: String,
    pub listen: SocketAddr,
    pub database: String,
    /// `name (scope)` of each tool served.
    pub tools: Vec<String>,
    /// The network controls in force, in words.
    pub network: Vec<String>,
    pub metrics: Option<SocketAddr>,
    pub warnings: Vec<String>,
}

/// The database URL without credentials or parameters.
pub(super) fn database_shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.scheme().starts_with("postgres") => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.set_query(None);
            u.to_string()
        }
        // sqlite://PATH: a path, no credentials; parameters dropped.
        _ => url.split('?').next().unwrap_or(url).to_owned(),
    }
}

fn network_controls(c: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if c.allow_entries.is_empty() {
        out.push("network.allow: everyone may connect".to_owned());
    } else {
        out.push(format!("network.allow: {}", c.allow_entries.join(", ")));
    }
    if !c.trusted_proxies.is_empty() {
        let p: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
        out.push(format!("trusted proxies: {}", p.join(", ")));
    }
    let hosts = if c.allowed_hosts.is_empty() {
        "loopback names only".to_owned()
    } else {
        format!("loopback names and {}", c.allowed_hosts.join(", "))
    };
    out.push(format!("Host: {hosts}"));
    let rate = |r: &Option<crate::config::Rate>| {
        r.as_ref().map_or("off".to_owned(), |r| {
            format!("{}/{}s", r.limit, r.period.as_secs().max(1))
        })
    };
    out.push(format!(
        "rate limits: requests {}, tool calls {}, per address {}",
        rate(&c.limits.requests),
        rate(&c.limits.tool_calls),
        rate(&c.limits.address_requests)
    ));
    if c.read_only {
        out.push("read-only: only tools annotated read-only are served".to_owned());
    }
    out
}

fn warnings(c: &Config, bound: SocketAddr) -> Vec<String> {
    let mut out = Vec::new();
    let public_host = c
        .public_origin
        .as_ref()
        .and_then(|u| u.host_str())
        .is_some_and(|h| !is_loopback_host(h));
    if c.auth.mode == AuthMode::None {
        let exposed = !bound.ip().is_loopback() || public_host;
        match (exposed, c.allow.is_empty()) {
            (true, true) => out.push(format!(
                "auth.mode = \"none\" on {} with no network.allow: anyone who reaches it can call every tool",
                if public_host { c.mcp_url() } else { bound.to_string() }
            )),
            (true, false) => out.push(format!(
                "auth.mode = \"none\": only network.allow ({}) protects the tools",
                c.allow_entries.join(", ")
            )),
            _ => {}
        }
    }
    if let Some(m) = c.metrics_listen
        && !m.ip().is_loopback()
    {
        out.push(format!(
            "the metrics listener {m} is beyond loopback: it has no authentication, keep it on the monitoring network"
        ));
    }
    out
}

impl Banner {
    pub(super) fn of(state: &AppState, bound: SocketAddr, metrics: Option<SocketAddr>) -> Self {
        let c = &state.config;
        let served = state.mcp.live.load();
        let scopes = served.catalog.scopes();
        let tools = served
            .catalog
            .tools()
            .definitions()
            .filter(|t| served.policy.serves(t))
            .map(|t| {
                let scope = crate::auth::scope::needed_scope(scopes.read, scopes.write, t);
                format!("{} ({scope})", t.name)
            })
            .collect();
        Self {
            version: env!("CARGO_PKG_VERSION"),
            auth: c.auth.mode.as_str(),
            url: c.mcp_url(),
            listen: bound,
            database: database_shown(&c.database_url),
            tools,
            network: network_controls(c),
            metrics,
            warnings: warnings(c, bound),
        }
    }

    /// The block shown on a terminal.
    pub(super) fn text(&self) -> String {
        let mut s = format!(
            "mcp-connector {} listening on {}\n\n  Add to Claude:  {}\n  auth:           {}\n  database:       {}\n",
            self.version, self.listen, self.url, self.auth, self.database
        );
        s.push_str(&format!(
            "  metrics:        {}\n",
            self.metrics
                .map_or("off".to_owned(), |m| format!("http://{m}/metrics"))
        ));
        s.push_str(&format!("  tools ({}):\n", self.tools.len()));
        for t in &self.tools {
            s.push_str(&format!("    {t}\n"));
        }
        s.push_str("  network:\n");
        for n in &self.network {
            s.push_str(&format!("    {n}\n"));
        }
        s
    }

    /// Show the banner: text on a terminal, else one log line; then the warnings.
    pub(super) fn show(&self) {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprintln!("{}", self.text());
        } else {
            tracing::info!(
                version = self.version,
                bound = %self.listen,
                url = %self.url,
                auth = self.auth,
                database = %self.database,
                metrics = %self.metrics.map_or("off".to_owned(), |m| m.to_string()),
                tools = %self.tools.join(", "),
                network = %self.network.join("; "),
                "mcp-connector listening"
            );
        }
        for w in &self.warnings {
            tracing::warn!("{w}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_lose_their_credentials() {
        assert_eq!(
            database_shown("postgres://app:s3cret@db.internal:5432/hr?sslmode=require"),
            "postgres://db.internal:5432/hr"
        );
        assert_eq!(
            database_shown("sqlite://mcp-connector.db?mode=rwc"),
            "sqlite://mcp-connector.db"
        );
    }

    #[test]
    fn warnings_name_what_is_exposed() {
        let bound: SocketAddr = "0.0.0.0:8000".parse().unwrap();
        let mut c = Config {
            listen: bound,
            allow_unauthenticated_public: true,
            ..Config::default()
        };
        let w = warnings(&c, bound);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("no network.allow"), "{w:?}");
        c.allow_entries = vec!["anthropic".into()];
        c.allow = vec!["160.79.104.0/21".parse().unwrap()];
        let w = warnings(&c, bound);
        assert!(w[0].contains("only network.allow (anthropic)"), "{w:?}");
        // External tokens or OAuth: every call is authenticated, so no
        // warning claims otherwise.
        c.auth.mode = AuthMode::External;
        assert!(warnings(&c, bound).is_empty());
        c.auth.mode = AuthMode::OAuth;
        c.metrics_listen = Some("127.0.0.1:9464".parse().unwrap());
        assert!(warnings(&c, bound).is_empty());
        c.metrics_listen = Some("0.0.0.0:9464".parse().unwrap());
        let w = warnings(&c, bound);
        assert!(w[0].contains("metrics listener"), "{w:?}");
        // A loopback server with no public URL needs no warning.
        let lo: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        assert!(warnings(&Config::default(), lo).is_empty());
    }
}
