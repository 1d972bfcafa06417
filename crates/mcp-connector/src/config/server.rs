//! `[server]`, `[database]`, `[log]` and `[network]`: the parts of
//! [`Config::from_parts`](super::Config::from_parts) that validate them, one
//! function per setting, in the order `from_parts` calls them.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use url::Url;

use super::file::{DatabaseSection, NetworkSection};
use super::presets::Preset;
use super::{
    AuthMode, Backend, Config, ConfigError, Demo, LogFormat, Overrides, is_loopback_host,
    merge_presets, parse_net, positive, resolve_allow, secs,
};

/// `server.listen` (or `--listen`).
pub(super) fn listen(text: Option<String>, default: SocketAddr) -> Result<SocketAddr, ConfigError> {
    match text {
        Some(text) => text.parse().map_err(|_| {
            ConfigError::invalid(
                "server.listen",
                format!("`{text}` is not a socket address like 127.0.0.1:8000"),
            )
        }),
        None => Ok(default),
    }
}

/// `server.allowed_hosts` plus `--allowed-host`, lower-cased, and the public
/// URL's host.
pub(super) fn allowed_hosts(
    file: Option<Vec<String>>,
    o: &Overrides,
    public_origin: Option<&Url>,
) -> Result<Vec<String>, ConfigError> {
    let mut allowed_hosts = file.unwrap_or_default();
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
    if let Some(origin) = public_origin
        && let Some(host) = origin.host_str()
    {
        allowed_hosts.push(host.to_ascii_lowercase());
    }
    Ok(allowed_hosts)
}

/// `server.allowed_origins` as origins, and the public URL's.
pub(super) fn allowed_origins(
    file: Option<Vec<String>>,
    public_origin: Option<&Url>,
) -> Result<Vec<String>, ConfigError> {
    let mut allowed_origins = Vec::new();
    for text in file.unwrap_or_default() {
        let url = Url::parse(&text).map_err(|_| {
            ConfigError::invalid(
                "server.allowed_origins",
                format!("`{text}` is not an origin like https://app.example.com"),
            )
        })?;
        allowed_origins.push(url.origin().ascii_serialization());
    }
    if let Some(origin) = public_origin {
        allowed_origins.push(origin.origin().ascii_serialization());
    }
    Ok(allowed_origins)
}

/// `server.demo` (or `--demo`).
pub(super) fn demo(
    flag: Option<Demo>,
    file: Option<&str>,
    default: Demo,
) -> Result<Demo, ConfigError> {
    match (flag, file) {
        (Some(demo), _) => Ok(demo),
        (None, None) => Ok(default),
        (None, Some("company")) => Ok(Demo::Company),
        (None, Some("conformance")) => Ok(Demo::Conformance),
        (None, Some(other)) => Err(ConfigError::invalid(
            "server.demo",
            format!("`{other}` is not one of: company, conformance"),
        )),
    }
}

/// `log.format` (or `--log-format`).
pub(super) fn log_format(
    flag: Option<LogFormat>,
    file: Option<&str>,
    default: LogFormat,
) -> Result<LogFormat, ConfigError> {
    match (flag, file) {
        (Some(f), _) => Ok(f),
        (None, None) => Ok(default),
        (None, Some("text")) => Ok(LogFormat::Text),
        (None, Some("json")) => Ok(LogFormat::Json),
        (None, Some(other)) => Err(ConfigError::invalid(
            "log.format",
            format!("`{other}` is not one of: text, json"),
        )),
    }
}

/// `database.url` (or `--database-url`) and `database.max_connections`.
pub(super) fn database(
    o: &Overrides,
    file: DatabaseSection,
    d: &Config,
) -> Result<(String, u32), ConfigError> {
    let database_url = o
        .database_url
        .clone()
        .or(file.url)
        .unwrap_or_else(|| d.database_url.clone());
    Backend::from_url(&database_url).ok_or_else(|| {
        ConfigError::invalid(
            "database.url",
            "expected sqlite://PATH or postgres://USER@HOST/DB",
        )
    })?;
    let max_connections = positive(
        "database.max_connections",
        file.max_connections,
        d.max_connections,
    )?;
    Ok((database_url, max_connections))
}

/// `server.max_body_bytes`: 1 KiB to 64 MiB.
pub(super) fn max_body_bytes(value: Option<usize>, default: usize) -> Result<usize, ConfigError> {
    let max_body_bytes = value.unwrap_or(default);
    if !(1024..=64 * 1024 * 1024).contains(&max_body_bytes) {
        return Err(ConfigError::invalid(
            "server.max_body_bytes",
            "must be between 1024 and 67108864",
        ));
    }
    Ok(max_body_bytes)
}

/// `[network]`, validated.
pub(super) struct Network {
    pub presets: Vec<Preset>,
    pub allow_entries: Vec<String>,
    pub allow: Vec<IpNet>,
    pub trusted_proxies: Vec<IpNet>,
}

/// `[network]` plus `--allow`: presets with the file's replacements, the
/// allowlist resolved to ranges, the trusted proxies.
pub(super) fn network(file: NetworkSection, o: &Overrides) -> Result<Network, ConfigError> {
    let presets = merge_presets(file.presets)?;
    let mut allow_entries = file.allow.unwrap_or_default();
    allow_entries.extend(o.allow.iter().cloned());
    let mut allow = Vec::new();
    for entry in &allow_entries {
        allow.extend(resolve_allow(entry, &presets)?);
    }
    let trusted_proxies = file
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
    Ok(Network {
        presets,
        allow_entries,
        allow,
        trusted_proxies,
    })
}

/// `server.display_name`: 1 to 100 printable characters.
pub(super) fn display_name(value: Option<&str>, default: &str) -> Result<String, ConfigError> {
    match value.map(str::trim) {
        None => Ok(default.to_owned()),
        Some(n) if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) => {
            Err(ConfigError::invalid(
                "server.display_name",
                "must be 1 to 100 printable characters",
            ))
        }
        Some(n) => Ok(n.to_owned()),
    }
}

/// What `auth.mode` needs of the rest: without authentication, a listener
/// beyond loopback needs a network control (`controlled`: an allowlist or
/// `server.allow_unauthenticated_public`); with it, a public URL (https
/// unless on loopback).
pub(super) fn check_auth_mode(
    mode: AuthMode,
    listen: SocketAddr,
    controlled: bool,
    public_origin: Option<&Url>,
) -> Result<(), ConfigError> {
    match mode {
        // Without authentication, the network is the only control: refuse
        // to listen beyond loopback unless an allowlist says who may connect.
        AuthMode::None if !listen.ip().is_loopback() && !controlled => Err(ConfigError::invalid(
            "auth.mode",
            format!(
                "`none` on {listen} (not loopback) needs network.allow, e.g. allow = [\"anthropic\"], or auth.mode = \"oauth\" (or server.allow_unauthenticated_public = true to accept the risk)"
            ),
        )),
        AuthMode::None => Ok(()),
        // The issuer and the resource are derived from the public URL;
        // guessing them from the listen address would break on the first proxy.
        AuthMode::OAuth | AuthMode::External => match public_origin {
            None => Err(ConfigError::invalid(
                "server.public_url",
                format!(
                    "auth.mode = \"{}\" needs the URL users reach the server at, e.g. https://tools.example.com",
                    mode.as_str()
                ),
            )),
            Some(url)
                if url.scheme() != "https" && !url.host_str().is_some_and(is_loopback_host) =>
            {
                Err(ConfigError::invalid(
                    "server.public_url",
                    "OAuth needs https (http only on a loopback address, for local testing)",
                ))
            }
            Some(_) => Ok(()),
        },
    }
}

/// The `server.*_secs` settings.
pub(super) struct Times {
    pub request: Duration,
    pub tool: Duration,
    pub shutdown_grace: Duration,
    pub sse_keep_alive: Duration,
}

/// `server.request_timeout_secs`, `tool_timeout_secs`, `shutdown_grace_secs`
/// and `sse_keep_alive_secs`, in that order.
pub(super) fn times(values: [Option<u64>; 4], d: &Config) -> Result<Times, ConfigError> {
    let [request, tool, shutdown_grace, sse_keep_alive] = values;
    Ok(Times {
        request: secs("server.request_timeout_secs", request, d.request_timeout)?,
        tool: secs("server.tool_timeout_secs", tool, d.tool_timeout)?,
        shutdown_grace: secs(
            "server.shutdown_grace_secs",
            shutdown_grace,
            d.shutdown_grace,
        )?,
        sse_keep_alive: secs(
            "server.sse_keep_alive_secs",
            sse_keep_alive,
            d.sse_keep_alive,
        )?,
    })
}
