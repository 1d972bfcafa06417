//! The command line: operator verbs. `anyhow` lives here and nowhere else.

mod audit;
mod backup;
mod banner;
mod check_config;
mod client;
mod doctor;
mod grant;
mod ip_ranges;
mod migrate;
mod serve;
mod terminal;
mod token;
mod tools;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Demo, LogFormat, Overrides};

/// A Claude custom remote connector: MCP over Streamable HTTP, backed by a real database.
#[derive(Debug, Parser)]
#[command(name = "mcp-connector", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the connector (the Company Tools demo by default) on http://127.0.0.1:8000/mcp.
    Serve(ServeArgs),
    /// Validate a configuration exactly as `serve` would, without starting;
    /// --connect also checks that every declared source answers.
    CheckConfig(check_config::CheckArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(StoreArgs),
    /// Print the JSON Schema of the config file (for editors and CI).
    ConfigSchema,
    /// Check a URL the way Claude connects to it (DNS, TLS, MCP, OAuth discovery, the SSE
    /// stream, the tools) and say what is wrong; exit 1 if Claude would not connect.
    Doctor(doctor::DoctorArgs),
    /// Print the address presets for network.allow and warn when one may be out of date.
    IpRanges(ConfigArgs),
    /// Inspect the tools the connector serves.
    Tools {
        #[command(subcommand)]
        command: ToolsCommand,
    },
    /// Read and check the audit trail of tool calls.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Write a consistent copy of the SQLite database, while it serves (--out FILE).
    Backup(backup::BackupArgs),
    /// Replace the SQLite database with a backup (servers stopped; --from FILE).
    Restore(backup::RestoreArgs),
    /// Manage the OAuth clients allowed to connect (Claude, services).
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Manage the accounts that sign in (local, and from the identity provider).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// List and revoke the grants users and services hold.
    Grant {
        #[command(subcommand)]
        command: GrantCommand,
    },
    /// Revoke issued tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

/// `client …`
#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Register a client; prints its id and (once) its secret.
    Add(client::AddArgs),
    /// List clients (never their secrets).
    List(client::ListArgs),
    /// Revoke a client and every token issued to it.
    Revoke(client::RevokeArgs),
}

/// `user …`
#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a local user; asks for the password twice (or reads --password-stdin).
    Add(user::AddArgs),
    /// List users: name, source, role, status, last login (never password hashes).
    List(user::ListArgs),
    /// Give a user another role; its live tokens follow within 5 seconds.
    Role(user::RoleArgs),
    /// Delete a user with its grants and tokens.
    Delete(user::NameArgs),
    /// Refuse the user's logins and revoke every grant the user made.
    Disable(user::NameArgs),
    /// Allow a disabled user to log in again.
    Enable(user::NameArgs),
    /// Set a new password (asked twice, or --password-stdin); revokes the user's grants.
    Passwd(user::PasswdArgs),
}

/// `grant …`
#[derive(Debug, Subcommand)]
enum GrantCommand {
    /// List unrevoked grants, newest first.
    List(grant::ListArgs),
    /// Revoke a grant and every token issued from it.
    Revoke(grant::RevokeArgs),
}

/// `token …`
#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Revoke the grant of an access or refresh token (all its tokens).
    Revoke(token::RevokeArgs),
}

/// `audit …`
#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Print the latest records as JSON Lines; --follow keeps printing new ones.
    Tail(audit::TailArgs),
    /// Recompute the hash chain; exit 1 naming the first row that does not verify.
    Verify(StoreArgs),
    /// Print records as JSON Lines (the format `verify` checks), oldest first.
    Export(audit::ExportArgs),
    /// Print the latest records about one tool (--tool NAME): its calls and
    /// their approvals, oldest first, as JSON Lines.
    List(audit::ListArgs),
}

#[derive(Debug, Subcommand)]
enum ToolsCommand {
    /// Print the tool definitions (as `tools/list` returns them) as JSON.
    List(ToolsArgs),
    /// Run a declared tool (the `tools/call` path, audited) and print its result.
    Call(tools::CallArgs),
    /// Write a manifest of the served tools, with digests, for review and drift checks.
    Lock(tools::LockArgs),
    /// Compare the served tools with a lock file; exit 1 when they differ.
    Diff(tools::DiffArgs),
}

/// Options of every verb that reads the configuration: the file, the
/// database and what decides the tools, scopes and URLs an operator verb
/// works with. Each can also be set by the environment variable shown, and
/// in the config file.
#[derive(Debug, Clone, Args)]
struct ConfigArgs {
    /// TOML config file.
    #[arg(long, short = 'c', env = "MCP_CONNECTOR_CONFIG")]
    config: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://mcp-connector.db].
    #[arg(long, env = "MCP_CONNECTOR_DATABASE_URL")]
    database_url: Option<String>,
    /// External URL clients use behind a TLS proxy, e.g. https://tools.example.com.
    #[arg(long, env = "MCP_CONNECTOR_PUBLIC_URL")]
    public_url: Option<String>,
    /// How /mcp is authenticated [default: none; oauth needs --public-url].
    #[arg(long, value_enum, env = "MCP_CONNECTOR_AUTH")]
    auth: Option<crate::config::AuthMode>,
    /// Tool set to serve [default: company].
    #[arg(long, value_enum, env = "MCP_CONNECTOR_DEMO")]
    demo: Option<Demo>,
}

impl ConfigArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            public_url: self.public_url.clone(),
            database_url: self.database_url.clone(),
            demo: self.demo,
            auth: self.auth,
            ..Overrides::default()
        }
    }

    fn load(&self) -> Result<Config, crate::config::ConfigError> {
        Config::load(self.config.as_deref(), &self.overrides())
    }
}

/// `serve` and `check-config`: [`ConfigArgs`] and how the server listens.
#[derive(Debug, Clone, Args)]
struct ServeArgs {
    #[command(flatten)]
    base: ConfigArgs,
    /// Address to listen on [default: 127.0.0.1:8000].
    #[arg(long, env = "MCP_CONNECTOR_LISTEN")]
    listen: Option<String>,
    /// Stateful sessions (Mcp-Session-Id, resumable streams) instead of stateless requests.
    #[arg(long, env = "MCP_CONNECTOR_SESSIONS", num_args = 0..=1, default_missing_value = "true")]
    sessions: Option<bool>,
    /// Serve only tools annotated read-only; refuse every other tool.
    #[arg(long, env = "MCP_CONNECTOR_READ_ONLY", num_args = 0..=1, default_missing_value = "true")]
    read_only: Option<bool>,
    /// Address, CIDR or preset allowed to connect (repeatable; e.g. anthropic).
    #[arg(long = "allow", env = "MCP_CONNECTOR_ALLOW", value_delimiter = ',')]
    allow: Vec<String>,
    /// Extra Host header value to accept (repeatable).
    #[arg(
        long = "allowed-host",
        env = "MCP_CONNECTOR_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
    /// Log format [default: text].
    #[arg(long, value_enum, env = "MCP_CONNECTOR_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    /// Serve Prometheus metrics at GET /metrics on this separate address, e.g. 127.0.0.1:9464
    /// ("" turns them off) [default: off].
    #[arg(long, env = "MCP_CONNECTOR_METRICS_LISTEN")]
    metrics_listen: Option<String>,
}

impl ServeArgs {
    fn load(&self) -> Result<Config, crate::config::ConfigError> {
        let overrides = Overrides {
            listen: self.listen.clone(),
            sessions: self.sessions,
            allowed_hosts: self.allowed_hosts.clone(),
            allow: self.allow.clone(),
            read_only: self.read_only,
            log_format: self.log_format,
            metrics_listen: self.metrics_listen.clone(),
            ..self.base.overrides()
        };
        Config::load(self.base.config.as_deref(), &overrides)
    }
}

/// `tools …`: [`ConfigArgs`] and read-only mode (it decides what is served).
#[derive(Debug, Clone, Args)]
struct ToolsArgs {
    #[command(flatten)]
    base: ConfigArgs,
    /// Only tools annotated read-only, as `serve --read-only` serves them.
    #[arg(long, env = "MCP_CONNECTOR_READ_ONLY", num_args = 0..=1, default_missing_value = "true")]
    read_only: Option<bool>,
}

impl ToolsArgs {
    fn load(&self) -> Result<Config, crate::config::ConfigError> {
        let overrides = Overrides {
            read_only: self.read_only,
            ..self.base.overrides()
        };
        Config::load(self.base.config.as_deref(), &overrides)
    }
}

/// Verbs that only open the database (`migrate`, `audit …`, `backup`).
#[derive(Debug, Clone, Args)]
struct StoreArgs {
    /// TOML config file.
    #[arg(long, short = 'c', env = "MCP_CONNECTOR_CONFIG")]
    config: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://mcp-connector.db].
    #[arg(long, env = "MCP_CONNECTOR_DATABASE_URL")]
    database_url: Option<String>,
}

impl StoreArgs {
    fn load(&self) -> Result<Config, crate::config::ConfigError> {
        let overrides = Overrides {
            database_url: self.database_url.clone(),
            ..Overrides::default()
        };
        Config::load(self.config.as_deref(), &overrides)
    }
}

/// Parse the command line and run the verb. Errors are printed with their
/// context chain; the exit code is 1 for failures and 2 for usage errors.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(&args),
        Command::CheckConfig(args) => check_config::run(&args),
        Command::Migrate(args) => migrate::run(&args),
        Command::ConfigSchema => {
            print!("{}", crate::config::file::json_schema());
            Ok(())
        }
        Command::IpRanges(args) => ip_ranges::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Backup(args) => backup::backup(&args),
        Command::Restore(args) => backup::restore(&args),
        Command::Tools {
            command: ToolsCommand::List(args),
        } => tools::list(&args),
        Command::Tools {
            command: ToolsCommand::Call(args),
        } => tools::call(&args),
        Command::Tools {
            command: ToolsCommand::Lock(args),
        } => tools::lock(&args),
        Command::Tools {
            command: ToolsCommand::Diff(args),
        } => tools::diff(&args),
        Command::Audit { command } => match command {
            AuditCommand::Tail(args) => audit::tail(&args),
            AuditCommand::Verify(args) => audit::verify(&args),
            AuditCommand::Export(args) => audit::export(&args),
            AuditCommand::List(args) => audit::list(&args),
        },
        Command::Client { command } => match command {
            ClientCommand::Add(args) => client::add(&args),
            ClientCommand::List(args) => client::list(&args),
            ClientCommand::Revoke(args) => client::revoke(&args),
        },
        Command::User { command } => match command {
            UserCommand::Add(args) => user::add(&args),
            UserCommand::List(args) => user::list(&args),
            UserCommand::Disable(args) => user::set_disabled(&args, true),
            UserCommand::Enable(args) => user::set_disabled(&args, false),
            UserCommand::Passwd(args) => user::passwd(&args),
            UserCommand::Role(args) => user::role(&args),
            UserCommand::Delete(args) => user::delete(&args),
        },
        Command::Grant { command } => match command {
            GrantCommand::List(args) => grant::list(&args),
            GrantCommand::Revoke(args) => grant::revoke(&args),
        },
        Command::Token { command } => match command {
            TokenCommand::Revoke(args) => token::revoke(&args),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, `outer: inner`, without saying a
/// cause twice: many messages already embed their source (`database: {0}`),
/// and anyhow's `{:#}` would repeat it.
fn chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
