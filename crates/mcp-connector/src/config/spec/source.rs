//! Validation of `[sources.NAME]`: URL schemes, `${ENV}` expansion, and
//! the keys that belong to databases or to HTTP APIs only.

use std::time::Duration;

use mcp_connector_security::SecretString;
use url::Url;

use super::{Engine, HttpSourceSpec, SourceKind, SourceSpec, SpecError, SqlSourceSpec};
use crate::config::file::SourceSection;

/// Replace `${VAR}` with the variable's value.
pub fn expand_env(
    at: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, SpecError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| SpecError::new(at, "`${` without a closing `}`"))?;
        let var = &after[..end];
        if var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(SpecError::new(
                at,
                format!("`${{{var}}}` is not a variable name"),
            ));
        }
        let value = env(var)
            .ok_or_else(|| SpecError::new(at, format!("environment variable {var} is not set")))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Validate `[sources.NAME]`.
pub fn source(
    name: &str,
    s: SourceSection,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SourceSpec, SpecError> {
    let key = |k: &str| format!("sources.{name}.{k}");
    if !valid_name(name) {
        return Err(SpecError::new(
            format!("sources.{name}"),
            "source names use letters, digits, `_` and `-`",
        ));
    }
    let url = expand_env(&key("url"), &s.url, env)?;
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    let kind = match scheme.as_deref() {
        Some(scheme @ ("sqlite" | "postgres" | "postgresql" | "mysql" | "mariadb")) => {
            let engine = match scheme {
                "sqlite" => Engine::Sqlite,
                "postgres" | "postgresql" => Engine::Postgres,
                _ => Engine::MySql,
            };
            // sqlx speaks MariaDB through its mysql driver.
            let url = match url.strip_prefix("mariadb:") {
                Some(rest) => format!("mysql:{rest}"),
                None => url,
            };
            let display = display_url(&url);
            for k in [
                "allow_hosts",
                "headers",
                "timeout_secs",
                "max_response_bytes",
            ] {
                let given = match k {
                    "allow_hosts" => s.allow_hosts.is_some(),
                    "headers" => s.headers.is_some(),
                    "timeout_secs" => s.timeout_secs.is_some(),
                    _ => s.max_response_bytes.is_some(),
                };
                if given {
                    return Err(SpecError::new(key(k), "only for http sources"));
                }
            }
            SourceKind::Sql(SqlSourceSpec {
                engine,
                url: SecretString::new(url),
                display,
                max_connections: match s.max_connections.unwrap_or(4) {
                    0 => return Err(SpecError::new(key("max_connections"), "must be at least 1")),
                    n if n > MAX_CONNECTIONS => {
                        return Err(SpecError::new(
                            key("max_connections"),
                            format!("must be at most {MAX_CONNECTIONS}"),
                        ));
                    }
                    n => n,
                },
                statement_timeout: positive_secs(
                    &key("statement_timeout_secs"),
                    s.statement_timeout_secs,
                    10,
                )?,
            })
        }
        Some("http" | "https") => {
            let base_url = Url::parse(&url)
                .map_err(|e| SpecError::new(key("url"), format!("not a URL: {e}")))?;
            if !base_url.username().is_empty() || base_url.password().is_some() {
                return Err(SpecError::new(
                    key("url"),
                    "put credentials in [sources.NAME.headers], not in the URL",
                ));
            }
            if base_url.query().is_some() || base_url.fragment().is_some() {
                return Err(SpecError::new(
                    key("url"),
                    "no query or fragment in a base URL",
                ));
            }
            let host = base_url
                .host_str()
                .ok_or_else(|| SpecError::new(key("url"), "has no host"))?
                .trim_matches(['[', ']'])
                .to_ascii_lowercase();
            let allow_hosts = match s.allow_hosts {
                Some(list) if list.is_empty() => {
                    return Err(SpecError::new(key("allow_hosts"), "must not be empty"));
                }
                Some(list) => list
                    .into_iter()
                    .map(|h| h.trim().trim_matches(['[', ']']).to_ascii_lowercase())
                    .collect(),
                None => vec![host.clone()],
            };
            if !allow_hosts.contains(&host) {
                return Err(SpecError::new(
                    key("allow_hosts"),
                    format!("does not list the URL's own host `{host}`"),
                ));
            }
            let mut headers = Vec::new();
            for (h, v) in s.headers.unwrap_or_default() {
                let at = key(&format!("headers.{h}"));
                let hn = http::HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| SpecError::new(&at, "not a header name"))?;
                let value = expand_env(&at, &v, env)?;
                if http::HeaderValue::from_str(&value).is_err() {
                    return Err(SpecError::new(&at, "the value is not a valid header value"));
                }
                headers.push((hn, SecretString::new(value)));
            }
            if s.max_connections.is_some() || s.statement_timeout_secs.is_some() {
                return Err(SpecError::new(
                    key("max_connections"),
                    "max_connections and statement_timeout_secs are only for databases",
                ));
            }
            SourceKind::Http(HttpSourceSpec {
                base_url,
                allow_hosts,
                headers,
                timeout: positive_secs(&key("timeout_secs"), s.timeout_secs, 10)?,
                max_response_bytes: match s.max_response_bytes.unwrap_or(1024 * 1024) {
                    n @ 1..=67_108_864 => n,
                    _ => {
                        return Err(SpecError::new(
                            key("max_response_bytes"),
                            "must be between 1 and 67108864",
                        ));
                    }
                },
            })
        }
        _ => {
            return Err(SpecError::new(
                key("url"),
                "expected sqlite://PATH, postgres://…, mysql://…, mariadb://…, http(s)://…",
            ));
        }
    };
    Ok(SourceSpec {
        name: name.to_owned(),
        kind,
    })
}

/// `scheme://host[:port]/path` of a URL, without user, password or query.
/// More connections than any database serves well; the bound also keeps a
/// typo from reserving memory for billions.
const MAX_CONNECTIONS: u32 = 1000;

fn display_url(url: &str) -> String {
    match Url::parse(url) {
        // An unescaped `/` in a password ends the authority early
        // (`postgres://app:20/24@db/hr` reads as port 20): the rest, the
        // password included, would show as the path.
        Ok(u) if u.scheme() != "sqlite" && u.path().contains('@') => {
            format!("{}://(user info not shown: escape it)", u.scheme())
        }
        Ok(u) if u.scheme() == "sqlite" => {
            let rest = url.split_once('?').map_or(url, |(a, _)| a);
            rest.to_owned()
        }
        Ok(u) => format!(
            "{}://{}{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path()
        ),
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

pub(super) fn positive_secs(
    at: &str,
    value: Option<u64>,
    default: u64,
) -> Result<Duration, SpecError> {
    match value.unwrap_or(default) {
        0 => Err(SpecError::new(at, "must be at least 1 second")),
        n if n > 3600 => Err(SpecError::new(at, "must be at most 3600 seconds")),
        n => Ok(Duration::from_secs(n)),
    }
}

pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
