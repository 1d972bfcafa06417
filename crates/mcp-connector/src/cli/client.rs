//! `mcp-connector client …`: OAuth clients registered by the operator.
//!
//! Also the helpers the other OAuth verbs (`user`, `token`) share: opening
//! the database the way `serve` does, and the output format flag.

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use serde_json::json;
use url::Url;

use super::ConfigArgs;
use crate::app::AppState;
use crate::audit::AuditSink;
use crate::auth::events::{self, What};
use crate::auth::issue::{self, SECRET_PREFIX};
use crate::auth::{ScopePolicy, ScopeSet};
use crate::clock::unix_now;
use crate::config::{AuthMode, Config, is_loopback_host, is_scope_token};
use crate::store::Db;
use crate::store::oauth::{Client, ClientOrigin, NewClient};

/// Where Claude (claude.ai, the desktop and mobile apps) returns after login.
pub(super) const CLAUDE_REDIRECT_URIS: [&str; 2] = [
    "https://claude.ai/api/mcp/auth_callback",
    "https://claude.com/api/mcp/auth_callback",
];

/// Output of the OAuth verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Format {
    /// For people.
    Text,
    /// One JSON document, for scripts.
    Json,
}

/// The grant a client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum GrantKind {
    /// A person logs in and consents (Claude, MCP clients); with refresh tokens.
    #[value(name = "authorization_code")]
    AuthorizationCode,
    /// A service acting as itself, with fixed scopes and no user.
    #[value(name = "client_credentials")]
    ClientCredentials,
    /// Enterprise-Managed Authorization: ID-JAG assertions from the
    /// company's identity provider (`[auth.id_jag]`), no consent screen.
    #[value(name = "jwt-bearer")]
    JwtBearer,
}

/// `client add`
#[derive(Debug, Clone, Args)]
pub(super) struct AddArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Shown on the consent page, e.g. "Claude".
    #[arg(long)]
    name: String,
    /// Allowed redirect URI (repeatable) [default: Claude's two callback URLs].
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// Grant the client uses (repeatable): `authorization_code` (default),
    /// `client_credentials` for a service account (needs --scope),
    /// `jwt-bearer` for Enterprise-Managed Authorization.
    #[arg(long = "grant", value_enum)]
    grants: Vec<GrantKind>,
    /// Scopes of a client_credentials client (required) or the most a
    /// jwt-bearer client may get (default: all), space-separated.
    #[arg(long)]
    scope: Option<String>,
    /// Lifetime of this client's access tokens (`90s`, `45m`, `12h`, `30d`;
    /// at most 30 days) [default: auth.access_token_ttl_secs].
    #[arg(long, value_parser = parse_ttl)]
    access_token_ttl: Option<u64>,
    /// A public client (PKCE only, no secret), e.g. a desktop app.
    #[arg(long)]
    public: bool,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// `client list`
#[derive(Debug, Clone, Args)]
pub(super) struct ListArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// `client revoke`
#[derive(Debug, Clone, Args)]
pub(super) struct RevokeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The client id `client list` shows.
    id: String,
}

/// The database and scope policy, opened exactly as `serve` opens them:
/// same configuration, schema migrated, the configured catalog's scopes.
pub(super) struct Opened {
    pub config: Config,
    pub db: Db,
    pub policy: ScopePolicy,
    /// The audit trail `serve` writes to: administration is recorded too.
    pub audit: AuditSink,
}

impl Opened {
    /// Record an administration event (subject `operator`). The change is
    /// already committed, so a failure is reported, not undone.
    pub(super) async fn record(&self, what: What<'_>) -> anyhow::Result<()> {
        events::record_to(&self.audit, what.by_operator())
            .await
            .context("the change is made, but its audit record could not be written")
    }
}

pub(super) async fn open(args: &ConfigArgs) -> anyhow::Result<Opened> {
    let config = args.load()?;
    let state = AppState::build(config.clone())
        .await
        .context("opening the database")?;
    let policy = ScopePolicy::new(&state.mcp.live.load().catalog.scopes(), &config.auth.roles);
    Ok(Opened {
        config,
        db: state.db.clone(),
        policy,
        audit: state.mcp.audit.clone(),
    })
}

/// `2026-11-25 08:43Z`; `-` for none.
pub(super) fn when(secs: Option<i64>) -> String {
    crate::clock::minute_utc(secs)
}

/// Print `rows` as aligned columns under `header`.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Print `items` in `format`: a JSON array of `json(item)`, or a table of
/// `row(item)` under `header` (`empty` when there is nothing).
pub(super) fn print_list<T>(
    format: Format,
    items: &[T],
    empty: &str,
    header: &[&str],
    json: impl Fn(&T) -> serde_json::Value,
    row: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let rows: Vec<_> = items.iter().map(json).collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        Format::Text if items.is_empty() => println!("{empty}"),
        Format::Text => table(header, &items.iter().map(row).collect::<Vec<_>>()),
    }
    Ok(())
}

/// Warn when the configuration would not use what is being created.
pub(super) fn note_mode(config: &Config) {
    if config.auth.mode != AuthMode::OAuth {
        eprintln!(
            "note: auth.mode is `{}`; users and clients take effect with `--auth oauth` \
             (or `[auth] mode = \"oauth\"`).",
            config.auth.mode.as_str()
        );
    }
}

/// A redirect URI an operator may register: absolute, no fragment, https
/// (http only on a loopback address, for local clients).
fn check_redirect_uri(raw: &str) -> anyhow::Result<String> {
    let url = Url::parse(raw).with_context(|| format!("`{raw}` is not an absolute URL"))?;
    if url.fragment().is_some() {
        bail!("redirect URI `{raw}` must not have a #fragment");
    }
    match url.scheme() {
        "https" => {}
        "http" if url.host_str().is_some_and(is_loopback_host) => {}
        _ => {
            bail!("redirect URI `{raw}` must be https (http only on 127.0.0.1, [::1] or localhost)")
        }
    }
    Ok(raw.to_owned())
}

/// `90`, `90s`, `45m`, `12h` or `30d` as seconds, at most 30 days.
fn parse_ttl(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 12h, 45m or 30d"))?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(|| format!("`{text}` is not a duration like 12h, 45m or 30d"))?;
    if secs == 0 || secs > crate::config::MAX_ACCESS_TOKEN_TTL_SECS {
        return Err(format!("`{text}` must be between 1 second and 30 days"));
    }
    Ok(secs)
}

pub(super) fn add(args: &AddArgs) -> anyhow::Result<()> {
    let grants = if args.grants.is_empty() {
        vec![GrantKind::AuthorizationCode]
    } else {
        args.grants.clone()
    };
    let code = grants.contains(&GrantKind::AuthorizationCode);
    let credentials = grants.contains(&GrantKind::ClientCredentials);
    let jwt_bearer = grants.contains(&GrantKind::JwtBearer);
    if credentials && args.public {
        bail!("a client_credentials client needs a secret: drop --public");
    }
    if jwt_bearer && args.public {
        bail!("a jwt-bearer client authenticates with a secret: drop --public");
    }
    if !code && !args.redirect_uris.is_empty() {
        bail!("only an authorization_code client has redirect URIs: drop --redirect-uri");
    }
    if !credentials && !jwt_bearer && args.scope.is_some() {
        bail!(
            "--scope is for --grant client_credentials or jwt-bearer; the scopes of a user's client \
             are what the user grants on the consent page"
        );
    }
    let name = args.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        bail!("--name must be 1 to 100 printable characters");
    }
    let scopes = match &args.scope {
        Some(raw) => {
            let set = ScopeSet::parse(raw);
            if set.is_empty() {
                bail!("--scope is empty");
            }
            if let Some(bad) = set.iter().find(|s| !is_scope_token(s)) {
                bail!("`{bad}` is not a scope");
            }
            set
        }
        None if credentials => bail!(
            "--grant client_credentials needs --scope (for example --scope \"employees:read\")"
        ),
        None => ScopeSet::default(),
    };
    let redirect_uris: Vec<String> = if !code {
        Vec::new()
    } else if args.redirect_uris.is_empty() {
        CLAUDE_REDIRECT_URIS
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    } else {
        args.redirect_uris
            .iter()
            .map(|u| check_redirect_uri(u))
            .collect::<anyhow::Result<_>>()?
    };
    let mut grant_types: Vec<String> = Vec::new();
    if code {
        grant_types.extend(["authorization_code".to_owned(), "refresh_token".to_owned()]);
    }
    if credentials {
        grant_types.push("client_credentials".to_owned());
    }
    if jwt_bearer {
        grant_types.push(crate::auth::id_jag::GRANT_TYPE.to_owned());
    }
    let secret = (!args.public).then(|| issue::credential(SECRET_PREFIX));
    // The token endpoint accepts Basic or form credentials from any
    // confidential client; `client_secret_basic` is the registered default.
    let auth_method = if args.public {
        "none"
    } else {
        "client_secret_basic"
    };
    let id = format!("mcpc_{}", issue::id());

    super::runtime()?.block_on(async {
        let o = open(&args.config).await?;
        note_mode(&o.config);
        let unknown: Vec<&str> = scopes
            .iter()
            .filter(|s| !o.policy.supported.contains(s))
            .collect();
        if !unknown.is_empty() {
            o.db.close().await;
            bail!(
                "unknown scope {} (the served tools use: {})",
                unknown.join(", "),
                o.policy.supported
            );
        }
        if jwt_bearer && o.config.auth.id_jag.is_none() {
            eprintln!(
                "note: [auth.id_jag] is not configured; the jwt-bearer grant is refused until it is."
            );
        }
        let client = NewClient {
            id: id.clone(),
            secret_hash: secret.as_deref().map(issue::hash),
            name: name.to_owned(),
            redirect_uris: redirect_uris.clone(),
            grant_types: grant_types.clone(),
            scopes: scopes.to_string(),
            auth_method: auth_method.to_owned(),
            origin: ClientOrigin::Cli,
            now: unix_now(),
        };
        let mut stored = o.db.insert_client(&client).await.context("storing the client");
        if stored.is_ok()
            && let Some(ttl) = args.access_token_ttl
        {
            stored = o
                .db
                .set_client_access_ttl(&id, i64::try_from(ttl).ok())
                .await
                .context("storing the access token lifetime");
        }
        let audited = match &stored {
            Ok(()) => {
                let grant_type = grant_types.join(" ");
                o.record(What::ClientAdded {
                    client_id: &id,
                    name,
                    grant_type: &grant_type,
                })
                .await
            }
            Err(_) => Ok(()),
        };
        o.db.close().await;
        stored?;
        let mcp_url = o
            .config
            .public_origin
            .as_ref()
            .map(|u| format!("{}/mcp", u.origin().ascii_serialization()));
        match args.format {
            Format::Json => println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "client_id": id,
                    "client_secret": secret,
                    "client_name": name,
                    "redirect_uris": redirect_uris,
                    "grant_types": grant_types,
                    "scope": scopes.to_string(),
                    "token_endpoint_auth_method": auth_method,
                    "access_token_ttl_secs": args.access_token_ttl,
                }))?
            ),
            Format::Text => {
                println!("Created client \"{name}\".");
                println!();
                println!("  Client ID:      {id}");
                if let Some(s) = &secret {
                    println!("  Client secret:  {s}");
                }
                if !redirect_uris.is_empty() {
                    println!("  Redirect URIs:  {}", redirect_uris.join(" "));
                }
                if credentials || (jwt_bearer && !scopes.is_empty()) {
                    println!("  Scopes:         {scopes}");
                }
                if let Some(ttl) = args.access_token_ttl {
                    println!("  Token lifetime: {ttl} s");
                }
                println!();
                if secret.is_some() {
                    println!(
                        "The secret is shown only this once: it is stored hashed and cannot be \
                         recovered (revoke the client and add a new one if it is lost)."
                    );
                }
                if jwt_bearer {
                    println!(
                        "Enterprise-Managed Authorization: the identity provider issues ID-JAG \
                         assertions for this client id; the client exchanges them at {}/token \
                         (grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer).",
                        mcp_url
                            .as_deref()
                            .map_or("<public URL>", |u| u.trim_end_matches("/mcp"))
                    );
                }
                if credentials {
                    println!(
                        "Get a token with: POST {}/token, grant_type=client_credentials, \
                         HTTP Basic client id and secret.",
                        mcp_url
                            .as_deref()
                            .map_or("<public URL>", |u| u.trim_end_matches("/mcp"))
                    );
                } else if code {
                    println!(
                        "In Claude (Pro, Max): Customize → Connectors → \"+\" → Add custom connector. \
                         Enter the URL {}, open \"Advanced settings\" and paste the client ID and secret. \
                         (Team, Enterprise: an owner adds it under Organization settings → Connectors → \
                         Add → Custom → Web.)",
                        mcp_url.as_deref().unwrap_or("https://<your public URL>/mcp")
                    );
                }
                if let Some(warning) = unreachable_by_claude(o.config.public_origin.as_ref()) {
                    eprintln!("warning: {warning}");
                }
            }
        }
        // After the output: the client exists and its secret must not be lost.
        audited
    })
}

/// Why Claude, which connects from Anthropic's cloud, could not use the
/// public URL: loopback, plain http, or none set.
fn unreachable_by_claude(public: Option<&Url>) -> Option<String> {
    let Some(url) = public else {
        return Some(
            "no public URL is set (--public-url / server.public_url): Claude needs the https URL it reaches the server at"
                .to_owned(),
        );
    };
    let host = url.host_str().unwrap_or_default();
    if crate::config::is_loopback_host(host) {
        return Some(format!(
            "the public URL {url} is a loopback address: Claude connects from Anthropic's cloud and cannot reach it \
             (fine for local clients; for Claude, serve behind https on a public name)"
        ));
    }
    (url.scheme() != "https")
        .then(|| format!("the public URL {url} is plain http: Claude connects only over https"))
}

fn status(c: &Client) -> String {
    match c.revoked_at {
        Some(t) => format!("revoked {}", when(Some(t))),
        None => "active".to_owned(),
    }
}

pub(super) fn list(args: &ListArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        let o = open(&args.config).await?;
        let clients = o.db.list_clients().await.context("reading clients");
        o.db.close().await;
        let clients = clients?;
        // Never the secret hash: it is not needed to manage a client.
        print_list(
            args.format,
            &clients,
            "no clients",
            &[
                "ID",
                "NAME",
                "ORIGIN",
                "GRANTS",
                "CREATED",
                "LAST USED",
                "STATUS",
            ],
            |c| {
                json!({
                    "client_id": c.id,
                    "client_name": c.name,
                    "origin": c.origin.as_str(),
                    "confidential": c.secret_hash.is_some(),
                    "token_endpoint_auth_method": c.auth_method,
                    "redirect_uris": c.redirect_uris,
                    "grant_types": c.grant_types,
                    "scope": c.scopes,
                    "created_at": c.created_at,
                    "last_used_at": c.last_used_at,
                    "revoked_at": c.revoked_at,
                })
            },
            |c| {
                vec![
                    c.id.clone(),
                    c.name.clone(),
                    c.origin.as_str().to_owned(),
                    c.grant_types.join(","),
                    when(Some(c.created_at)),
                    when(c.last_used_at),
                    status(c),
                ]
            },
        )
    })
}

pub(super) fn revoke(args: &RevokeArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        let o = open(&args.config).await?;
        let revoked = o.db.revoke_client(&args.id, unix_now()).await;
        let audited = match revoked {
            Ok(true) => o.record(What::ClientRevoked { client_id: &args.id }).await,
            _ => Ok(()),
        };
        o.db.close().await;
        if !revoked.context("revoking the client")? {
            bail!("no active client with id `{}`", args.id);
        }
        println!(
            "revoked client {} and every grant issued to it; its tokens stop working within 5 seconds",
            args.id
        );
        audited
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("90"), Ok(90));
        assert_eq!(parse_ttl("45m"), Ok(2700));
        assert_eq!(parse_ttl("12h"), Ok(43_200));
        assert_eq!(parse_ttl("30d"), Ok(2_592_000));
        for bad in ["31d", "0", "0s", "h", "12x", "-1h", "1.5h", ""] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }
}
