//! Configuration: a TOML file, environment variables and flags, validated into
//! one [`Config`] at load time.
//!
//! Precedence is flag > environment > file > default (clap merges the first
//! two into [`Overrides`]). `serve` and `check-config` both call
//! [`Config::load`], so a config that checks is a config that starts.

mod auth;
mod declare;
pub mod file;
mod limits;
mod safety;
mod upstream;

pub use auth::{
    AuthConfig, AuthMode, ExternalIdp, MAX_ACCESS_TOKEN_TTL_SECS, is_loopback_host, is_scope_token,
};
pub use limits::{Limits, Rate};
pub use upstream::{CLIENT_SECRET_ENV, ClientAuth, IdJag, LEEWAY, UpstreamIdp, check_idp_url};

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use url::Url;

use crate::network::presets::{self, Preset};

use self::file::FileConfig;

/// Default database: a file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://mcp-connector.db";
/// The seed guide's address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8000";
/// `server.display_name` unless configured.
pub const DEFAULT_DISPLAY_NAME: &str = "mcp-connector";

/// A configuration error. Every variant names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
    /// A declared source or tool; `line` is filled in by [`Config::load`].
    #[error("{at}{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Tool {
        at: String,
        span: Option<std::ops::Range<usize>>,
        line: Option<usize>,
        message: String,
    },
}

impl ConfigError {
    fn invalid(key: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            key,
            message: message.into(),
        }
    }
}

/// The tool set `serve` exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Demo {
    /// The seed guide's Company Tools, on the database.
    Company,
    /// The fixtures the official MCP conformance suite expects.
    Conformance,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Values given as flags or environment variables; `None` means "not given".
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub database_url: Option<String>,
    pub sessions: Option<bool>,
    pub demo: Option<Demo>,
    pub allowed_hosts: Vec<String>,
    pub allow: Vec<String>,
    pub read_only: Option<bool>,
    pub log_format: Option<LogFormat>,
    pub auth: Option<AuthMode>,
    /// `--metrics-listen`; `Some("")` turns metrics off.
    pub metrics_listen: Option<String>,
}

/// The validated runtime configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// External origin (`scheme://host[:port]`, no path), if behind a proxy.
    pub public_origin: Option<Url>,
    /// What the sign-in and consent pages call this server.
    pub display_name: String,
    /// `Host` header values accepted (lower case, with or without port).
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted besides loopback ones (`scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
    pub sessions: bool,
    pub demo: Demo,
    pub database_url: String,
    pub max_connections: u32,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub tool_timeout: Duration,
    pub shutdown_grace: Duration,
    pub sse_keep_alive: Duration,
    pub log_format: LogFormat,
    /// `network.allow` resolved to ranges; empty allows everyone.
    pub allow: Vec<IpNet>,
    /// `network.allow` as written, for messages.
    pub allow_entries: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    /// Built-in presets with the config file's replacements applied.
    pub presets: Vec<Preset>,
    /// Serve only tools annotated read-only.
    pub read_only: bool,
    /// `server.allow_unauthenticated_public`: the operator accepts serving
    /// without authentication and allowlist beyond loopback.
    pub allow_unauthenticated_public: bool,
    /// `[tools.NAME]` settings; names are checked against the catalog at start-up.
    pub tools: std::collections::BTreeMap<String, ToolSettings>,
    /// `[sources]` and `[[tools]]`: when present, served instead of the demo.
    pub declared: Option<std::sync::Arc<crate::declared::Declared>>,
    /// Rate limits and session bounds (`[limits]`).
    pub limits: Limits,
    /// `[server.tls]`; `None` serves plain HTTP (TLS ends at a proxy).
    pub tls: Option<crate::http::tls::TlsFiles>,
    /// `[safety]`: tool output hygiene and the drift check.
    pub safety: crate::safety::SafetyConfig,
    /// `[audit]`: the audit trail.
    pub audit: crate::audit::AuditConfig,
    /// `[auth]`: how `/mcp` is authenticated.
    pub auth: AuthConfig,
    /// `telemetry.metrics_listen`: where `GET /metrics` is served; `None` = off.
    pub metrics_listen: Option<SocketAddr>,
}

/// Validated `[tools.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSettings {
    pub enabled: bool,
    pub unconfirmed: crate::mcp::guard::Unconfirmed,
}

impl Default for ToolSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            unconfirmed: crate::mcp::guard::Unconfirmed::Refuse,
        }
    }
}

impl Default for Config {
    /// Secure defaults: loopback only, stateless, 1 MiB bodies, bounded times.
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8000))),
            public_origin: None,
            display_name: DEFAULT_DISPLAY_NAME.to_owned(),
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            sessions: false,
            demo: Demo::Company,
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            max_connections: 8,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(120),
            // Claude gives a tool call 300 s; answer well before it gives up.
            tool_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
            sse_keep_alive: Duration::from_secs(15),
            log_format: LogFormat::Text,
            allow: Vec::new(),
            allow_entries: Vec::new(),
            trusted_proxies: Vec::new(),
            presets: presets::builtin(),
            read_only: false,
            allow_unauthenticated_public: false,
            tools: std::collections::BTreeMap::new(),
            declared: None,
            limits: Limits::default(),
            tls: None,
            safety: crate::safety::SafetyConfig::default(),
            audit: crate::audit::AuditConfig::default(),
            auth: AuthConfig::default(),
            metrics_listen: None,
        }
    }
}

impl Config {
    /// Read `path` (if any), apply `overrides`, validate.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let file = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                let file = Self::parse_file(&text).map_err(|message| ConfigError::Parse {
                    path: path.display().to_string(),
                    message,
                })?;
                return Self::from_parts(file, overrides).map_err(|e| match e {
                    ConfigError::Tool {
                        at,
                        span: Some(span),
                        message,
                        ..
                    } => ConfigError::Tool {
                        line: Some(
                            // A value's own span, else the line of its key.
                            Some(declare::line_of(&text, span.start))
                                .filter(|_| !is_name_span(&text, &span) || at.ends_with(").name"))
                                .or_else(|| declare::key_line(&text, &at, Some(span.start)))
                                .unwrap_or_else(|| declare::line_of(&text, span.start)),
                        ),
                        at: format!("{}: {at}", path.display()),
                        span: Some(span),
                        message,
                    },
                    ConfigError::Tool {
                        at,
                        span: None,
                        line: None,
                        message,
                    } => ConfigError::Tool {
                        line: declare::key_line(&text, &at, None),
                        at: format!("{}: {at}", path.display()),
                        span: None,
                        message,
                    },
                    e => e,
                });
            }
            None => FileConfig::default(),
        };
        Self::from_parts(file, overrides)
    }

    /// Parse TOML text into the file types. The error message carries the key
    /// path and the line (from the toml crate's span-aware errors).
    pub fn parse_file(text: &str) -> Result<FileConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    /// Validate a parsed file plus overrides into a runtime config.
    pub fn from_parts(file: FileConfig, o: &Overrides) -> Result<Self, ConfigError> {
        let d = Self::default();
        let s = file.server;

        let listen_text = o.listen.clone().or(s.listen);
        let listen = match listen_text {
            Some(text) => text.parse().map_err(|_| {
                ConfigError::invalid(
                    "server.listen",
                    format!("`{text}` is not a socket address like 127.0.0.1:8000"),
                )
            })?,
            None => d.listen,
        };

        let public_origin = match o.public_url.clone().or(s.public_url) {
            Some(text) => Some(parse_public_url(&text)?),
            None => None,
        };

        let mut allowed_hosts = s.allowed_hosts.unwrap_or_default();
        allowed_hosts.extend(o.allowed_hosts.iter().cloned());
        for h in &mut allowed_hosts {
            *h = h.trim().to_ascii_lowercase();
            if h.is_empty() || h.contains('/') || h.contains(char::is_whitespace) {
                return Err(ConfigError::invalid(
                    "server.allowed_hosts",
                    format!("`{h}` is not a host name or host:port"),
                ));
            }
        }
        if let Some(origin) = &public_origin
            && let Some(host) = origin.host_str()
        {
            allowed_hosts.push(host.to_ascii_lowercase());
        }

        let mut allowed_origins = Vec::new();
        for text in s.allowed_origins.unwrap_or_default() {
            let url = Url::parse(&text).map_err(|_| {
                ConfigError::invalid(
                    "server.allowed_origins",
                    format!("`{text}` is not an origin like https://app.example.com"),
                )
            })?;
            allowed_origins.push(url.origin().ascii_serialization());
        }
        if let Some(origin) = &public_origin {
            allowed_origins.push(origin.origin().ascii_serialization());
        }

        let demo = match (o.demo, s.demo.as_deref()) {
            (Some(demo), _) => demo,
            (None, None) => d.demo,
            (None, Some("company")) => Demo::Company,
            (None, Some("conformance")) => Demo::Conformance,
            (None, Some(other)) => {
                return Err(ConfigError::invalid(
                    "server.demo",
                    format!("`{other}` is not one of: company, conformance"),
                ));
            }
        };

        let log_format = match (o.log_format, file.log.format.as_deref()) {
            (Some(f), _) => f,
            (None, None) => d.log_format,
            (None, Some("text")) => LogFormat::Text,
            (None, Some("json")) => LogFormat::Json,
            (None, Some(other)) => {
                return Err(ConfigError::invalid(
                    "log.format",
                    format!("`{other}` is not one of: text, json"),
                ));
            }
        };

        let database_url = o
            .database_url
            .clone()
            .or(file.database.url)
            .unwrap_or(d.database_url);
        crate::store::Backend::of_url(&database_url).map_err(|_| {
            ConfigError::invalid(
                "database.url",
                "expected sqlite://PATH or postgres://USER@HOST/DB",
            )
        })?;
        let max_connections = positive(
            "database.max_connections",
            file.database.max_connections,
            d.max_connections,
        )?;

        let max_body_bytes = s.max_body_bytes.unwrap_or(d.max_body_bytes);
        if !(1024..=64 * 1024 * 1024).contains(&max_body_bytes) {
            return Err(ConfigError::invalid(
                "server.max_body_bytes",
                "must be between 1024 and 67108864",
            ));
        }

        let presets = merge_presets(file.network.presets)?;
        let mut allow_entries = file.network.allow.unwrap_or_default();
        allow_entries.extend(o.allow.iter().cloned());
        let mut allow = Vec::new();
        for entry in &allow_entries {
            allow.extend(resolve_allow(entry, &presets)?);
        }
        let trusted_proxies = file
            .network
            .trusted_proxies
            .unwrap_or_default()
            .iter()
            .map(|e| {
                parse_net(e).ok_or_else(|| {
                    ConfigError::invalid(
                        "network.trusted_proxies",
                        format!("`{e}` is not a CIDR or an address"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let auth = auth::auth(file.auth, o.auth, &|var| std::env::var(var).ok())?;
        let display_name = match s.display_name.as_deref().map(str::trim) {
            None => d.display_name.clone(),
            Some(n)
                if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) =>
            {
                return Err(ConfigError::invalid(
                    "server.display_name",
                    "must be 1 to 100 printable characters",
                ));
            }
            Some(n) => n.to_owned(),
        };
        let allow_unauthenticated_public = s.allow_unauthenticated_public.unwrap_or(false);
        match auth.mode {
            // Without authentication, the network is the only control: refuse
            // to listen beyond loopback unless an allowlist says who may connect.
            AuthMode::None
                if !listen.ip().is_loopback()
                    && allow.is_empty()
                    && !allow_unauthenticated_public =>
            {
                return Err(ConfigError::invalid(
                    "auth.mode",
                    format!(
                        "`none` on {listen} (not loopback) needs network.allow, e.g. allow = [\"anthropic\"], or auth.mode = \"oauth\" (or server.allow_unauthenticated_public = true to accept the risk)"
                    ),
                ));
            }
            AuthMode::None => {}
            // The issuer and the resource are derived from the public URL;
            // guessing them from the listen address would break on the first proxy.
            AuthMode::OAuth | AuthMode::External => match &public_origin {
                None => {
                    return Err(ConfigError::invalid(
                        "server.public_url",
                        format!(
                            "auth.mode = \"{}\" needs the URL users reach the server at, e.g. https://tools.example.com",
                            auth.mode.as_str()
                        ),
                    ));
                }
                Some(url)
                    if url.scheme() != "https" && !url.host_str().is_some_and(is_loopback_host) =>
                {
                    return Err(ConfigError::invalid(
                        "server.public_url",
                        "OAuth needs https (http only on a loopback address, for local testing)",
                    ));
                }
                Some(_) => {}
            },
        }

        let (tools, declared) = declare::tools(file.tools, file.sources)?;
        if declared.is_some() && (o.demo.is_some() || s.demo.is_some()) {
            return Err(ConfigError::invalid(
                "server.demo",
                "a config with [[tools]] serves those tools; remove server.demo (or --demo)",
            ));
        }

        let limits = limits::limits(file.limits)?;
        let tls = limits::tls(s.tls)?;
        let safety = safety::safety(file.safety)?;
        let audit = crate::audit::AuditConfig::from_file(file.audit)
            .map_err(|(key, message)| ConfigError::invalid(key, message))?;

        let metrics_listen = metrics_listen(
            o.metrics_listen.clone().or(file.telemetry.metrics_listen),
            listen,
        )?;

        Ok(Self {
            metrics_listen,
            audit,
            auth,
            safety,
            limits,
            tls,
            read_only: o.read_only.or(s.read_only).unwrap_or(false),
            allow_unauthenticated_public,
            tools,
            declared: declared.map(std::sync::Arc::new),
            allow,
            allow_entries,
            trusted_proxies,
            presets,
            listen,
            public_origin,
            display_name,
            allowed_hosts,
            allowed_origins,
            sessions: o.sessions.or(s.sessions).unwrap_or(d.sessions),
            demo,
            database_url,
            max_connections,
            max_body_bytes,
            request_timeout: secs(
                "server.request_timeout_secs",
                s.request_timeout_secs,
                d.request_timeout,
            )?,
            tool_timeout: secs(
                "server.tool_timeout_secs",
                s.tool_timeout_secs,
                d.tool_timeout,
            )?,
            shutdown_grace: secs(
                "server.shutdown_grace_secs",
                s.shutdown_grace_secs,
                d.shutdown_grace,
            )?,
            sse_keep_alive: secs(
                "server.sse_keep_alive_secs",
                s.sse_keep_alive_secs,
                d.sse_keep_alive,
            )?,
            log_format,
        })
    }

    /// The start-up refusal of the dangerous default: no authentication and
    /// no allowlist on a public URL. A listen address beyond loopback is
    /// refused by [`Config::from_parts`] already; this catches a loopback
    /// listener behind a proxy that publishes it (`server.public_url`).
    /// `serve` and `check-config` call it.
    pub fn check_exposure(&self) -> Result<(), ConfigError> {
        let public = self
            .public_origin
            .as_ref()
            .and_then(Url::host_str)
            .is_some_and(|h| !is_loopback_host(h));
        if self.auth.mode == AuthMode::None
            && public
            && self.allow.is_empty()
            && !self.allow_unauthenticated_public
        {
            return Err(ConfigError::invalid(
                "auth.mode",
                format!(
                    "`none` with server.public_url = {} serves every tool to anyone who finds the URL: \
                     set auth.mode = \"oauth\", or network.allow (e.g. allow = [\"anthropic\"]), \
                     or server.allow_unauthenticated_public = true to accept the risk",
                    self.mcp_url()
                ),
            ));
        }
        Ok(())
    }

    /// Whether the database needs the Company demo's rows: only when the
    /// Company demo is what is served.
    pub fn wants_demo_rows(&self) -> bool {
        self.declared.is_none() && self.demo == Demo::Company
    }

    /// The MCP endpoint URL clients should use, for messages to the operator.
    pub fn mcp_url(&self) -> String {
        match &self.public_origin {
            Some(origin) => format!("{}/mcp", origin.origin().ascii_serialization()),
            None if self.tls.is_some() => format!("https://{}/mcp", self.listen),
            None => format!("http://{}/mcp", self.listen),
        }
    }
}

/// Whether `span` is a tool's `name = …` value: the fallback location of
/// errors whose value has no span of its own.
fn is_name_span(text: &str, span: &std::ops::Range<usize>) -> bool {
    let line_start = text
        .get(..span.start.min(text.len()))
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |n| n + 1);
    text.get(line_start..span.start).is_some_and(|l| {
        l.trim_start()
            .strip_prefix("name")
            .is_some_and(|r| r.trim_start().starts_with('='))
    })
}

/// A CIDR (`10.0.0.0/8`) or a single address (`192.0.2.7`, as a /32 or /128).
fn parse_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
        .map(|n| n.trunc())
}

/// One `network.allow` entry: a preset name, a CIDR or an address.
fn resolve_allow(entry: &str, presets: &[Preset]) -> Result<Vec<IpNet>, ConfigError> {
    if let Some(p) = presets.iter().find(|p| p.name == entry.trim()) {
        return Ok(p.cidrs.clone());
    }
    parse_net(entry).map(|n| vec![n]).ok_or_else(|| {
        let names: Vec<&str> = presets.iter().map(|p| p.name.as_str()).collect();
        ConfigError::invalid(
            "network.allow",
            format!(
                "`{entry}` is neither a CIDR, an address nor a preset ({})",
                names.join(", ")
            ),
        )
    })
}

/// Built-in presets, replaced or extended by `[network.presets.NAME]`.
fn merge_presets(
    overrides: std::collections::BTreeMap<String, file::PresetSection>,
) -> Result<Vec<Preset>, ConfigError> {
    let mut presets = presets::builtin();
    for (name, section) in overrides {
        let cidrs = section
            .cidrs
            .iter()
            .map(|c| {
                parse_net(c).ok_or_else(|| {
                    ConfigError::invalid("network.presets", format!("{name}: `{c}` is not a CIDR"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(checked) = &section.checked
            && presets::age_in_days(checked, checked).is_none()
        {
            return Err(ConfigError::invalid(
                "network.presets",
                format!("{name}: checked = `{checked}` is not a YYYY-MM-DD date"),
            ));
        }
        let preset = Preset {
            name: name.clone(),
            cidrs,
            checked: section.checked.unwrap_or_else(presets::today),
            source: section.source.unwrap_or_else(|| "config file".into()),
        };
        match presets.iter_mut().find(|p| p.name == name) {
            Some(existing) => *existing = preset,
            None => presets.push(preset),
        }
    }
    Ok(presets)
}

/// `telemetry.metrics_listen`: empty is off; never the MCP listener's
/// address, so that metrics cannot be reached where the tools are.
fn metrics_listen(
    text: Option<String>,
    listen: SocketAddr,
) -> Result<Option<SocketAddr>, ConfigError> {
    const KEY: &str = "telemetry.metrics_listen";
    let Some(text) = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let addr: SocketAddr = text.parse().map_err(|_| {
        ConfigError::invalid(
            KEY,
            format!("`{text}` is not a socket address like 127.0.0.1:9464"),
        )
    })?;
    let clash = addr.port() == listen.port()
        && addr.port() != 0
        && (addr.ip() == listen.ip() || addr.ip().is_unspecified() || listen.ip().is_unspecified());
    if clash {
        return Err(ConfigError::invalid(
            KEY,
            format!(
                "`{text}` is the MCP listener (server.listen = {listen}); metrics need a port of their own"
            ),
        ));
    }
    Ok(Some(addr))
}

fn positive(key: &'static str, value: Option<u32>, default: u32) -> Result<u32, ConfigError> {
    match value {
        Some(0) => Err(ConfigError::invalid(key, "must be at least 1")),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

fn secs(key: &'static str, value: Option<u64>, default: Duration) -> Result<Duration, ConfigError> {
    match value {
        Some(0) => Err(ConfigError::invalid(key, "must be at least 1 second")),
        Some(v) if v > 24 * 3600 => Err(ConfigError::invalid(key, "must be at most 86400 seconds")),
        Some(v) => Ok(Duration::from_secs(v)),
        None => Ok(default),
    }
}

/// `--public-url` is the external origin. `https://host/mcp` is accepted too,
/// because that is what users paste into Claude; any other path is refused,
/// since the authorization endpoints live at the root of the origin.
fn parse_public_url(text: &str) -> Result<Url, ConfigError> {
    const KEY: &str = "server.public_url";
    let url = Url::parse(text)
        .map_err(|_| ConfigError::invalid(KEY, format!("`{text}` is not an absolute URL")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(ConfigError::invalid(
            KEY,
            "scheme must be https (or http for local testing)",
        ));
    }
    if url.host_str().is_none() {
        return Err(ConfigError::invalid(KEY, "must name a host"));
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(ConfigError::invalid(
            KEY,
            "must not carry credentials, a query or a fragment",
        ));
    }
    if !matches!(url.path(), "" | "/" | "/mcp" | "/mcp/") {
        return Err(ConfigError::invalid(
            KEY,
            "must be the origin (https://host) or the endpoint (https://host/mcp); the connector serves at the root",
        ));
    }
    Ok(url)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
