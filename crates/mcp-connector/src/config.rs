//! Configuration: a TOML file, environment variables and flags, validated into
//! one [`Config`] at load time.
//!
//! Precedence is flag > environment > file > default (clap merges the first
//! two into [`Overrides`]). `serve` and `check-config` both call
//! [`Config::load`], so a config that checks is a config that starts.

mod audit;
mod auth;
mod declare;
pub mod file;
mod host;
mod limits;
pub mod presets;
pub mod principal;
mod safety;
pub mod scope;
mod server;
pub mod spec;
mod upstream;

pub use audit::AuditConfig;
pub use auth::{AuthConfig, AuthMode, ExternalIdp, MAX_ACCESS_TOKEN_TTL_SECS, PERMISSIONS};
pub use host::is_loopback_host;
pub use limits::{Limits, Rate, TlsFiles};
pub use safety::{
    DEFAULT_APPROVAL_TTL_SECS, DEFAULT_OUTPUT_MAX_CHARS, DriftMode, MAX_APPROVAL_WAIT_SECS,
    MIN_OUTPUT_MAX_CHARS, SafetyConfig,
};
pub use scope::is_scope_token;
pub use upstream::{CLIENT_SECRET_ENV, ClientAuth, IdJag, LEEWAY, UpstreamIdp, check_idp_url};

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use url::Url;

use self::presets::Preset;

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

/// The (read, write) scopes of the catalog a config serves: the Company
/// demo's own, `tools:*` for declared tools and the conformance fixtures
/// (what each `Catalog::scopes` answers; a test keeps them equal). Known
/// here so that `[auth.roles]` is checked at load, before any catalog.
fn tool_scope_names(declared: bool, demo: Demo) -> (&'static str, &'static str) {
    if !declared && demo == Demo::Company {
        ("employees:read", "employees:write")
    } else {
        ("tools:read", "tools:write")
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
    /// `[tools.NAME] approval_ttl_secs`: lifetimes of approval requests
    /// that differ from `safety.approval_ttl_secs`.
    pub approval_ttls: std::collections::BTreeMap<String, u64>,
    /// `[sources]` and `[[tools]]`: when present, served instead of the demo.
    pub declared: Option<std::sync::Arc<spec::Declared>>,
    /// Rate limits and session bounds (`[limits]`).
    pub limits: Limits,
    /// `[server.tls]`; `None` serves plain HTTP (TLS ends at a proxy).
    pub tls: Option<TlsFiles>,
    /// `[safety]`: tool output hygiene and the drift check.
    pub safety: SafetyConfig,
    /// `[audit]`: the audit trail.
    pub audit: AuditConfig,
    /// `[auth]`: how `/mcp` is authenticated.
    pub auth: AuthConfig,
    /// `telemetry.metrics_listen`: where `GET /metrics` is served; `None` = off.
    pub metrics_listen: Option<SocketAddr>,
}

/// Which database backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend `url` names; `None` for any other scheme.
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// Validated `[tools.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSettings {
    pub enabled: bool,
    pub unconfirmed: Unconfirmed,
}

/// What to do with a destructive tool when the user cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unconfirmed {
    /// Refuse, saying how an operator can allow it (secure default).
    #[default]
    Refuse,
    /// Run without confirmation: the operator decided deliberately.
    Allow,
    /// A person approves the exact call on the connector's approval page
    /// (out of band), then a repeat of the call runs once.
    Approve,
}

impl Default for ToolSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            unconfirmed: Unconfirmed::Refuse,
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
            approval_ttls: std::collections::BTreeMap::new(),
            declared: None,
            limits: Limits::default(),
            tls: None,
            safety: SafetyConfig::default(),
            audit: AuditConfig::default(),
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

    /// Validate a parsed file plus overrides into a runtime config. The
    /// sections are checked in this order, so the first error reported for
    /// a file with several is always the same.
    pub fn from_parts(file: FileConfig, o: &Overrides) -> Result<Self, ConfigError> {
        let d = Self::default();
        let s = file.server;
        let listen = server::listen(o.listen.clone().or(s.listen), d.listen)?;
        let public_origin = match o.public_url.clone().or(s.public_url) {
            Some(text) => Some(parse_public_url(&text)?),
            None => None,
        };
        let allowed_hosts = server::allowed_hosts(s.allowed_hosts, o, public_origin.as_ref())?;
        let allowed_origins = server::allowed_origins(s.allowed_origins, public_origin.as_ref())?;
        let demo = server::demo(o.demo, s.demo.as_deref(), d.demo)?;
        let log_format =
            server::log_format(o.log_format, file.log.format.as_deref(), d.log_format)?;
        let (database_url, max_connections) = server::database(o, file.database, &d)?;
        let max_body_bytes = server::max_body_bytes(s.max_body_bytes, d.max_body_bytes)?;
        let network = server::network(file.network, o)?;
        let auth = auth::auth(file.auth, o.auth, &|var| std::env::var(var).ok())?;
        let display_name = server::display_name(s.display_name.as_deref(), &d.display_name)?;
        let allow_unauthenticated_public = s.allow_unauthenticated_public.unwrap_or(false);
        server::check_auth_mode(
            auth.mode,
            listen,
            !network.allow.is_empty() || allow_unauthenticated_public,
            public_origin.as_ref(),
        )?;

        let (tools, approval_ttls, declared) = declare::tools(file.tools, file.sources, auth.mode)?;
        if declared.is_some() && (o.demo.is_some() || s.demo.is_some()) {
            return Err(ConfigError::invalid(
                "server.demo",
                "a config with [[tools]] serves those tools; remove server.demo (or --demo)",
            ));
        }

        let (read, write) = tool_scope_names(declared.is_some(), demo);
        auth::check_role_entries(&auth.roles, read, write)?;

        let limits = limits::limits(file.limits)?;
        let tls = limits::tls(s.tls)?;
        let safety = safety::safety(file.safety)?;
        let audit = AuditConfig::from_file(file.audit)
            .map_err(|(key, message)| ConfigError::invalid(key, message))?;
        let times = server::times(
            [
                s.request_timeout_secs,
                s.tool_timeout_secs,
                s.shutdown_grace_secs,
                s.sse_keep_alive_secs,
            ],
            &d,
        )?;
        safety::check_wait(&safety, times.request)?;

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
            approval_ttls,
            declared: declared.map(std::sync::Arc::new),
            allow: network.allow,
            allow_entries: network.allow_entries,
            trusted_proxies: network.trusted_proxies,
            presets: network.presets,
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
            request_timeout: times.request,
            tool_timeout: times.tool,
            shutdown_grace: times.shutdown_grace,
            sse_keep_alive: times.sse_keep_alive,
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

    /// The (read, write) scope names of the tools this config serves.
    pub fn tool_scope_names(&self) -> (&'static str, &'static str) {
        tool_scope_names(self.declared.is_some(), self.demo)
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
