//! The TOML file format. Every table denies unknown keys so that a typo is an
//! error naming the key, not a silently ignored setting. Every field is
//! optional here: defaults live in the validated [`super::Config`].

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use toml::Spanned;

/// The JSON Schema of the config file, pretty-printed with a trailing
/// newline (committed as `config.schema.json` for editors; a test fails
/// when the committed copy and the types drift apart).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(FileConfig);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// The whole config file (`mcp-connector config-schema` prints its JSON Schema).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub database: DatabaseSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub network: NetworkSection,
    #[serde(default)]
    pub auth: AuthSection,
    #[serde(default)]
    pub limits: LimitsSection,
    /// `[[tools]]` declared in this file, or `[tools.NAME]` settings of the
    /// built-in tools (TOML cannot hold both under one key).
    #[serde(default)]
    pub tools: ToolsSection,
    /// `[sources.NAME]`: databases and HTTP APIs that `[[tools]]` use.
    #[serde(default)]
    pub sources: std::collections::BTreeMap<String, SourceSection>,
    #[serde(default)]
    pub safety: SafetySection,
    #[serde(default)]
    pub audit: AuditSection,
    #[serde(default)]
    pub telemetry: TelemetrySection,
}

/// `[telemetry]`: metrics for Prometheus.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySection {
    /// Address of the separate listener serving `GET /metrics`, e.g.
    /// `127.0.0.1:9464`; absent or empty turns metrics off.
    pub metrics_listen: Option<String>,
}

/// `[audit]`: the audit trail of tool calls.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// Record every tool call (default true).
    pub enabled: Option<bool>,
    /// Argument field names whose values are replaced before storing
    /// (default `["password", "token", "secret"]`).
    pub redact: Option<Vec<String>>,
}

/// `[safety]`: tool output hygiene and behavioural drift.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SafetySection {
    /// Cap on the characters of a tool result's text (at least 1000).
    pub output_max_chars: Option<usize>,
    /// Wrap tool output text as quoted data.
    pub wrap_untrusted_output: Option<bool>,
    /// Manifest written by `mcp-connector tools lock`; checked at start-up.
    pub tools_lock: Option<String>,
    /// `warn` (default) or `refuse` when the live tools differ from the lock.
    pub drift: Option<String>,
    /// How long an approval request of a destructive call may be approved
    /// and used, in seconds (default 600; `[tools.NAME] approval_ttl_secs`
    /// overrides it per tool).
    pub approval_ttl_secs: Option<u64>,
    /// How long the first call of a write that needs approval waits for it,
    /// in seconds, sending progress meanwhile (default 0: answer with the
    /// link at once; at most 300).
    pub approval_wait_secs: Option<u64>,
}

/// `[limits]`: rate limits and session bounds. `0` turns a rate off.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Requests per minute per client (per user once authentication exists).
    pub requests_per_minute: Option<u32>,
    /// Requests a client may send at once after a quiet spell.
    pub burst: Option<u32>,
    /// Calls per minute per client to each tool.
    pub tool_calls_per_minute: Option<u32>,
    /// Concurrent stateful sessions.
    pub max_sessions: Option<usize>,
    /// A session without traffic for this long is closed, in seconds.
    pub session_idle_secs: Option<u64>,
    /// A session older than this is closed, in seconds.
    pub session_max_lifetime_secs: Option<u64>,
    /// Requests per minute per client address before authentication
    /// (`/token`, `/register`, login, `/mcp` without a token, every request
    /// when `auth.mode = "none"`).
    pub address_requests_per_minute: Option<u32>,
    /// Requests one address may send at once after a quiet spell.
    pub address_burst: Option<u32>,
    /// Failed bearer-token checks per client address per minute before
    /// further requests with a token are refused unchecked (429).
    pub auth_failures_per_minute: Option<u32>,
    /// Open connections per client address (trusted proxies are exempt).
    pub max_connections_per_address: Option<usize>,
    /// Seconds a client has to send a request's headers.
    pub request_head_timeout_secs: Option<u64>,
    /// Seconds a client has to send a request's body.
    pub request_body_timeout_secs: Option<u64>,
    /// Seconds a kept-alive connection may sit idle between requests.
    pub keep_alive_idle_secs: Option<u64>,
}

/// `[server.tls]`: terminate TLS in the server (PEM files, both or neither).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
}

/// `[network]`
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// CIDRs, addresses and preset names allowed to connect; absent or empty
    /// means everyone.
    pub allow: Option<Vec<String>>,
    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` headers count.
    pub trusted_proxies: Option<Vec<String>>,
    /// Replace a built-in preset or define a new one.
    #[serde(default)]
    pub presets: std::collections::BTreeMap<String, PresetSection>,
}

/// `[network.presets.NAME]`
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PresetSection {
    pub cidrs: Vec<String>,
    /// When the ranges were last checked (YYYY-MM-DD).
    pub checked: Option<String>,
    /// Where they come from.
    pub source: Option<String>,
}

/// `[auth]`
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// `none` (network controls only), `oauth` (built-in authorization
    /// server) or `external` (tokens from an identity provider).
    pub mode: Option<String>,
    pub access_token_ttl_secs: Option<u64>,
    pub refresh_token_ttl_secs: Option<u64>,
    pub code_ttl_secs: Option<u64>,
    /// Window in which a just-rotated refresh token still works (concurrent refreshes).
    pub refresh_grace_secs: Option<u64>,
    /// Refuse authorization requests without `resource` (default true).
    pub require_resource: Option<bool>,
    /// Dynamic Client Registration at `/register` (default true).
    pub registration: Option<bool>,
    /// Accept https URLs as client ids (Client ID Metadata Documents; default true).
    pub client_metadata_documents: Option<bool>,
    /// Let metadata document URLs resolve to private addresses (default false).
    pub cimd_allow_private_networks: Option<bool>,
    /// Pre-tick write scopes on the consent page when a client asks for none.
    pub preselect_write_scopes: Option<bool>,
    /// Delete dynamically registered clients unused for this long.
    pub unused_client_ttl_secs: Option<u64>,
    /// Failed logins allowed per user name and per address per minute.
    pub login_attempts_per_minute: Option<u32>,
    /// Registrations at `/register` per client address per hour.
    pub registrations_per_hour: Option<u32>,
    /// Registrations never used yet, above which `/register` refuses new
    /// ones until the unused ones expire.
    pub max_unused_registrations: Option<u64>,
    /// Role name → what its users may do: scopes of the served tools they may
    /// grant, and the permissions `admin` (the admin console) and `approve`.
    pub roles: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// `[auth.external]`, for `mode = "external"`.
    pub external: Option<ExternalSection>,
    /// An access token unused for this long stops working (default 7 days).
    pub access_token_idle_secs: Option<u64>,
    /// Clients (`mcpc_…` ids from `client add`) whose users are not asked
    /// to consent: they get what the consent page would have pre-selected.
    pub skip_consent_for: Option<Vec<String>>,
    /// Lifetime of the connector's browser session after a sign-in
    /// (default 12 hours).
    pub session_ttl_secs: Option<u64>,
    /// `[auth.upstream]`: sign in with the company's OpenID Connect provider.
    pub upstream: Option<UpstreamSection>,
    /// `[auth.id_jag]`: Enterprise-Managed Authorization (ID-JAG assertions
    /// at `/token`).
    pub id_jag: Option<IdJagSection>,
}

/// `[auth.upstream]`
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSection {
    /// The provider's issuer, exactly as in its discovery document and its
    /// ID tokens (`{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    /// The connector's client id at the provider.
    pub client_id: String,
    /// Its client secret; the environment variable
    /// `MCP_CONNECTOR_UPSTREAM_CLIENT_SECRET` takes precedence.
    pub client_secret: Option<String>,
    /// `client_secret_basic` (default) or `client_secret_post`.
    pub client_auth: Option<String>,
    /// Scopes requested at the provider (default `["openid", "email", "profile"]`).
    pub scopes: Option<Vec<String>>,
    /// The ID token claim holding the user's groups (default `groups`).
    pub groups_claim: Option<String>,
    /// Role of a user in no mapped group; `""` (default) refuses the login.
    pub default_role: Option<String>,
    /// Keep the connector's own password logins too (default true).
    pub local_logins: Option<bool>,
    /// Re-check each signed-in user at the provider this often, in seconds
    /// (default 3600; 0 turns it off).
    pub recheck_secs: Option<u64>,
    /// Group name → role of `[auth.roles]`.
    pub roles: Option<std::collections::BTreeMap<String, String>>,
}

/// `[auth.id_jag]`
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdJagSection {
    /// The `iss` of the assertions (default: `auth.upstream.issuer`).
    pub issuer: Option<String>,
    /// Where the issuer's keys are (default: its discovery document's `jwks_uri`).
    pub jwks_url: Option<String>,
}

/// `[auth.external]`
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalSection {
    /// The provider's issuer, exactly as in the tokens' `iss`.
    pub issuer: String,
    /// URL of its JSON Web Key Set.
    pub jwks_url: String,
    /// Required `aud`; defaults to the MCP endpoint URL.
    pub audience: Option<String>,
    /// Clock skew allowed on `exp`/`nbf`, in seconds (default 30).
    pub leeway_secs: Option<u64>,
}

/// `[server]`
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Socket address to listen on, e.g. `127.0.0.1:8000`.
    pub listen: Option<String>,
    /// The external origin clients use, e.g. `https://tools.example.com`.
    pub public_url: Option<String>,
    /// The name the sign-in and consent pages give this server.
    pub display_name: Option<String>,
    /// Extra `Host` values to accept (names or `name:port`).
    pub allowed_hosts: Option<Vec<String>>,
    /// Extra browser origins to accept, e.g. `https://inspector.example.com`.
    pub allowed_origins: Option<Vec<String>>,
    /// Stateful MCP sessions (`Mcp-Session-Id`) instead of stateless requests.
    pub sessions: Option<bool>,
    /// Which tool set to serve: `company` or `conformance`.
    pub demo: Option<String>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: Option<usize>,
    /// Time limit for one request until its response starts, in seconds.
    pub request_timeout_secs: Option<u64>,
    /// Time limit for one tool call, in seconds.
    pub tool_timeout_secs: Option<u64>,
    /// How long shutdown waits for in-flight calls, in seconds.
    pub shutdown_grace_secs: Option<u64>,
    /// Interval of SSE keep-alive comments, in seconds.
    pub sse_keep_alive_secs: Option<u64>,
    /// Serve only tools annotated read-only.
    pub read_only: Option<bool>,
    /// Native TLS instead of a terminating reverse proxy.
    pub tls: Option<TlsSection>,
    /// Serve without authentication and without `network.allow` on a public
    /// URL or a non-loopback address (default false: `serve` refuses).
    pub allow_unauthenticated_public: Option<bool>,
}

/// `[database]`
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// `sqlite://PATH` or `postgres://…`.
    pub url: Option<String>,
    /// Connections per pool.
    pub max_connections: Option<u32>,
}

/// `[log]`
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `text` or `json`.
    pub format: Option<String>,
}

// `[sources.NAME]` and `[[tools]]`. `tools` is either an array of tables
// (tools declared here) or a table of tables (`[tools.NAME]` settings of the
// built-in demo tools); TOML cannot hold both under one key, so the
// deserializer looks at which one it got.

/// `tools` in the file.
#[derive(Debug, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ToolsSection {
    /// `[[tools]]`: tools served from `[sources.NAME]`.
    Declared(Vec<ToolDecl>),
    /// `[tools.NAME]`: settings of the built-in tools.
    Settings(BTreeMap<String, ToolSection>),
}

impl Default for ToolsSection {
    fn default() -> Self {
        Self::Settings(BTreeMap::new())
    }
}

impl<'de> Deserialize<'de> for ToolsSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ToolsSection;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[[tools]] entries or [tools.NAME] tables")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Self::Value, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(ToolsSection::Declared)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                BTreeMap::deserialize(MapAccessDeserializer::new(map)).map(ToolsSection::Settings)
            }
        }
        d.deserialize_any(V)
    }
}

/// `[tools.NAME]`: settings of a built-in tool.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolSection {
    /// `false` hides the tool and refuses calls to it.
    pub enabled: Option<bool>,
    /// For destructive tools when the client cannot ask the user to
    /// confirm: `approve` (a person approves the call in the browser; the
    /// default with `auth.mode = "oauth"`), `refuse` (the default otherwise)
    /// or `allow`.
    pub unconfirmed: Option<String>,
    /// How long an approval request of this tool may be approved and used,
    /// in seconds (default `safety.approval_ttl_secs`).
    pub approval_ttl_secs: Option<u64>,
}

/// `[sources.NAME]`: a database (`sqlite://`, `postgres://`, `mysql://`,
/// `mariadb://`) or an HTTP API (`http://`, `https://`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    /// Connection URL or API base URL; `${ENV_VAR}` is replaced by the
    /// variable's value (keep passwords out of the file).
    pub url: String,
    /// Database: connections in this source's pool (default 4).
    pub max_connections: Option<u32>,
    /// Database: statement time limit in seconds (default 10).
    pub statement_timeout_secs: Option<u64>,
    /// HTTP: hosts tools may reach (default: the URL's host). Checked again
    /// on the resolved address, and on every redirect.
    pub allow_hosts: Option<Vec<String>>,
    /// HTTP: headers sent with every request; values may use `${ENV_VAR}`.
    pub headers: Option<BTreeMap<String, String>>,
    /// HTTP: time limit for one request in seconds (default 10).
    pub timeout_secs: Option<u64>,
    /// HTTP: largest response body read, in bytes (default 1 MiB).
    pub max_response_bytes: Option<usize>,
}

/// `[[tools]]`: a tool declared in the config file.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolDecl {
    /// Tool name, `^[a-zA-Z0-9_-]{1,64}$`.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// `sql` (default) or `http`.
    pub kind: Option<String>,
    /// The `[sources.NAME]` it runs against.
    pub source: String,
    pub title: Option<String>,
    /// What the tool does, for the model: say what it returns and when to use it.
    pub description: String,
    /// SQL with `:name` placeholders (bound, never spliced).
    #[schemars(with = "Option<String>")]
    pub statement: Option<Spanned<String>>,
    /// Whether the tool changes nothing. Default `true` for SQL tools (run on
    /// a connection that cannot write) and HTTP GET; required for other HTTP
    /// methods.
    pub read_only: Option<bool>,
    /// Required when `read_only = false`: whether the tool deletes or overwrites.
    pub destructive: Option<bool>,
    /// Whether repeating a call has no further effect (default: `read_only`).
    pub idempotent: Option<bool>,
    /// `false` hides the tool.
    pub enabled: Option<bool>,
    /// Destructive tools when the user cannot confirm: `approve` (default
    /// with `auth.mode = "oauth"`), `refuse` (default otherwise) or `allow`.
    pub unconfirmed: Option<String>,
    /// Lifetime of this tool's approval requests in seconds (default
    /// `safety.approval_ttl_secs`).
    pub approval_ttl_secs: Option<u64>,
    /// Rows per page (default 100); further rows come with a cursor.
    pub max_rows: Option<usize>,
    /// Characters of rendered output per page (default 150000).
    pub max_chars: Option<usize>,
    /// Result columns and their JSON types (`string`, `integer`, `number`,
    /// `boolean`, `any`); probed from the database when absent.
    pub columns: Option<BTreeMap<String, String>>,
    /// HTTP: method (default GET).
    pub method: Option<String>,
    /// HTTP: path under the source URL, `{param}` segments percent-encoded.
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// HTTP: parameters sent as the query string (default: the ones not in
    /// the path, for GET and DELETE).
    pub query: Option<Vec<String>>,
    /// HTTP: parameters sent as a JSON object body (default: the ones not in
    /// the path, for POST, PUT and PATCH).
    pub body: Option<Vec<String>>,
    /// Parameters, `[tools.parameters.NAME]`.
    #[serde(default)]
    pub parameters: BTreeMap<String, ParamDecl>,
}

/// `[tools.parameters.NAME]`
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamDecl {
    /// `string`, `integer`, `number`, `boolean` or `enum` (a string from `enum`).
    #[serde(rename = "type")]
    pub ty: String,
    pub description: Option<String>,
    /// Used when the argument is absent (which makes it optional).
    #[schemars(with = "Option<serde_json::Value>")]
    pub default: Option<toml::Value>,
    /// `false` makes it optional without a default (bound as NULL).
    pub required: Option<bool>,
    /// Allowed values.
    #[serde(rename = "enum")]
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub allowed: Option<Vec<toml::Value>>,
    /// Inclusive bounds of a number or integer.
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    /// Length bounds of a string, in characters.
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
}
