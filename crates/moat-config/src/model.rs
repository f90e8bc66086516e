//! The typed shape of `moat.toml`. Every table refuses unknown keys, and every default
//! is written here, next to the field it fills.

use crate::Duration;
use moat_domain::{Disclosure, Tier};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub store: Store,
    pub org: Org,
    #[serde(default)]
    pub identity: Identity,
    #[serde(default)]
    pub audit: Audit,
    #[serde(default)]
    pub repos: Vec<Repo>,
    #[serde(default)]
    pub permissions: Permissions,
    #[serde(default)]
    pub tiers: Tiers,
    #[serde(default)]
    pub vendors: Vec<Vendor>,
    #[serde(default)]
    pub models: Vec<Model>,
    #[serde(default)]
    pub training: Training,
    #[serde(default)]
    pub alerts: Alerts,
    /// Sensitive-data detection: organisation rules and allowlists (issue #5 adds this
    /// section to SPEC.md's list).
    #[serde(default)]
    pub dlp: Dlp,
    /// LLM gateway limits and behaviour (issue #8 adds this section to SPEC.md's list).
    #[serde(default)]
    pub gateway: Gateway,
    /// The security team's console at `/console` (issue #21).
    #[serde(default)]
    pub console: Console,
    /// How long an exception to the policy may last, and how fast it is reviewed.
    #[serde(default)]
    pub exceptions: Exceptions,
    /// The anomaly rules over the audit stream.
    #[serde(default)]
    pub detect: crate::Detect,
    /// Deadlines of the incidents alerts open.
    #[serde(default)]
    pub incidents: crate::Incidents,
}

/// `[exceptions]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Exceptions {
    /// The longest an exception may be asked for.
    pub max_duration: Duration,
    /// How long a request may wait for review before it is overdue.
    pub review_sla: Duration,
}

impl Default for Exceptions {
    fn default() -> Self {
        Exceptions {
            max_duration: Duration::days(30),
            review_sla: Duration::days(2),
        }
    }
}

/// `[console]`: how long a console session lasts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Console {
    /// A session with no request for this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, however busy.
    pub session_lifetime: Duration,
}

impl Default for Console {
    fn default() -> Self {
        Console {
            idle_timeout: Duration::seconds(30 * 60),
            session_lifetime: Duration::seconds(8 * 3600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// Where `moat serve` listens; `--listen` overrides it.
    pub listen: SocketAddr,
    /// The URL clients use to reach this server, when it differs from `listen`
    /// (behind a load balancer). Used in OAuth metadata and printed client set-up.
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes; larger requests get 413.
    pub max_body_bytes: u64,
    /// Longest a request may take before it gets 408.
    pub request_timeout: Duration,
    /// An MCP session unused this long is parked: its worker is dropped and only what
    /// its `initialize` said is kept, so the next request restores it transparently.
    pub mcp_session_idle: Duration,
    /// Time a client has to send a request's headers; also the longest a connection
    /// may sit idle between requests. Slow or silent connections are closed after it.
    pub header_timeout: Duration,
    /// Connections open at once; past it new ones wait to be accepted.
    pub max_connections: usize,
    pub log_format: LogFormat,
    /// Where to send OpenTelemetry traces (OTLP over HTTP, the full URL with
    /// `/v1/traces`); none: no traces are sent.
    pub otlp_endpoint: Option<String>,
    /// How often `moat serve` brings this node's copy of the index up to date with every
    /// connected repository (it also does at start); `0s`: only `moat index` indexes.
    pub index_interval: Duration,
    /// Where the rest of the configuration comes from: `file` (this file), or `store`:
    /// the newest version published with `moat config publish`, polled and swapped in
    /// while serving, with this file's `[server]` and `[store]` kept (they are the
    /// node's own). Until something is published, this file.
    pub config_source: ConfigSource,
}

/// Where a node's configuration comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ConfigSource {
    #[default]
    File,
    Store,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: SocketAddr::from(([127, 0, 0, 1], 8480)),
            public_url: None,
            max_body_bytes: 2 * 1024 * 1024,
            request_timeout: Duration::seconds(30),
            mcp_session_idle: Duration::seconds(60),
            header_timeout: Duration::seconds(10),
            max_connections: 10_000,
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            index_interval: Duration::seconds(300),
            config_source: ConfigSource::File,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    #[default]
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Store {
    pub backend: StoreBackend,
    /// SQLite file, relative to the data directory. Default `moat.db`.
    pub path: Option<PathBuf>,
    /// PostgreSQL connection URL, by reference: an environment variable...
    pub url_env: Option<String>,
    /// ...or a file holding it.
    pub url_file: Option<PathBuf>,
    /// PEM file of the CA that signed the database server's certificate (PostgreSQL);
    /// the system's roots otherwise. Certificates are always checked.
    pub ca_file: Option<PathBuf>,
    /// Connections each node keeps to PostgreSQL at most. Default 16.
    pub max_connections: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Org {
    pub name: String,
    /// Email domains that belong to the organisation; empty allows any.
    #[serde(default)]
    pub email_domains: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Identity {
    /// Lifetime of a token issued without an explicit expiry.
    pub token_ttl: Duration,
    /// The longest lifetime any token may be issued with.
    pub token_max_ttl: Duration,
    /// How long a rotated token keeps working beside its replacement.
    pub rotation_grace: Duration,
    pub oidc: Option<Oidc>,
    /// Moat's own OAuth authorization server (MCP clients sign in with a browser).
    pub oauth: OAuth,
    /// Bearer token for the SCIM endpoint, by reference.
    pub scim_token_env: Option<String>,
    pub scim_token_file: Option<PathBuf>,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            token_ttl: Duration::days(90),
            token_max_ttl: Duration::days(365),
            rotation_grace: Duration::seconds(24 * 3600),
            oidc: None,
            oauth: OAuth::default(),
            scim_token_env: None,
            scim_token_file: None,
        }
    }
}

/// `[identity.oauth]`: how AI tools get tokens without anyone pasting one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuth {
    /// Lifetime of an OAuth access token; refresh tokens renew it.
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token (each refresh issues a new one).
    pub refresh_token_ttl: Duration,
    /// How long a browser stays signed in at Moat.
    pub session_ttl: Duration,
    /// How long a `moat login-link` link works (once).
    pub sign_in_link_ttl: Duration,
    /// Whether tools may register themselves (RFC 7591 dynamic client registration).
    pub dynamic_registration: bool,
    /// Registrations accepted per hour, from everyone together.
    pub registrations_per_hour: u32,
    /// Whether a client may be named by the https URL of its metadata document.
    pub metadata_documents: bool,
    /// Whether those documents may be fetched from private or loopback addresses
    /// (off: a client id must not make Moat reach inside the network).
    pub metadata_private_addresses: bool,
    /// Clients an administrator registers: tried before any other.
    pub clients: Vec<OAuthClient>,
}

impl Default for OAuth {
    fn default() -> Self {
        OAuth {
            access_token_ttl: Duration::seconds(3600),
            refresh_token_ttl: Duration::days(30),
            session_ttl: Duration::seconds(8 * 3600),
            sign_in_link_ttl: Duration::seconds(15 * 60),
            dynamic_registration: true,
            registrations_per_hour: 60,
            metadata_documents: true,
            metadata_private_addresses: false,
            clients: Vec::new(),
        }
    }
}

/// `[[identity.oauth.clients]]`: a client known in advance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthClient {
    pub id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Oidc {
    pub issuer: String,
    pub audience: String,
    /// Defaults to the issuer's discovery document.
    pub jwks_url: Option<String>,
    /// Claims carrying people's repository-host logins, by host (`github`, `gitlab`):
    /// an accepted token links that login to its person. Use an attribute people
    /// cannot edit themselves.
    #[serde(default)]
    pub login_claims: std::collections::BTreeMap<String, String>,
    /// Moat's client at the provider, for signing people in through it (redirect URI
    /// `{public_url}/oauth/idp/callback`); its secret by reference.
    pub client_id: Option<String>,
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// Obsolete: every group-commit batch is signed with its events. Still accepted (and
    /// checked) so that older files load.
    pub checkpoint_every_events: u64,
    /// Obsolete, like `checkpoint_every_events`.
    pub checkpoint_interval: Duration,
    /// Ed25519 signing key, by reference. Default: a key generated in the data directory.
    pub signing_key_file: Option<PathBuf>,
    pub signing_key_env: Option<String>,
    /// How long event metadata is kept.
    pub retention: Duration,
    /// How long stored request and response bodies are kept.
    pub body_retention: Duration,
    /// Files outside the data directory that hold the newest checkpoint (updated at most
    /// 500 ms apart); `moat audit verify` checks each by default.
    pub witness_files: Vec<PathBuf>,
    /// HTTP endpoints that receive the newest checkpoint (at most 500 ms apart).
    pub witness_urls: Vec<String>,
    /// Where events are forwarded as they become durable (`[[audit.sinks]]`), each
    /// with its own cursor: a SIEM over syslog or HTTP, or a file.
    pub sinks: Vec<AuditSink>,
}

/// One `[[audit.sinks]]` or `[[alerts.sinks]]` entry. Which keys apply depends on `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSink {
    /// Names the sink's cursor and its metrics; renaming starts it over.
    pub name: String,
    pub kind: SinkKind,
    /// syslog: `host:port` of a receiver of RFC 5424 messages over TLS (RFC 5425).
    pub address: Option<String>,
    /// syslog: PEM certificates of the CAs to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// syslog: the name the receiver's certificate must carry; default: the host of
    /// `address`.
    pub server_name: Option<String>,
    /// syslog: `false` sends plain TCP, allowed only to a receiver on loopback.
    #[serde(default = "default_true")]
    pub tls: bool,
    /// http: where batches are POSTed; webhook: where each alert is POSTed.
    pub url: Option<String>,
    /// webhook: the URL by reference instead (Slack's and Teams' URLs embed a secret).
    pub url_env: Option<String>,
    pub url_file: Option<PathBuf>,
    /// http: `json` (a JSON array of events), `hec` (Splunk HTTP Event Collector) or
    /// `ocsf` (a JSON array of OCSF events); file: `json` or `ocsf` lines; webhook:
    /// `slack`, `teams` or `json` (the event itself).
    #[serde(default)]
    pub format: SinkFormat,
    /// http: the token sent with each batch (`Authorization: Splunk` for `hec`,
    /// `Bearer` otherwise), by reference.
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    /// file: the JSON Lines file events are appended to.
    pub path: Option<PathBuf>,
    /// Most events per delivery.
    #[serde(default = "default_sink_batch")]
    pub batch: usize,
    /// Where a new sink starts: `beginning` (every event) or `end` (new events only).
    /// Default: `beginning` for an audit sink, `end` for an alert sink.
    pub start: Option<SinkStart>,
}

fn default_true() -> bool {
    true
}

fn default_sink_batch() -> usize {
    500
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    Syslog,
    Http,
    File,
    /// One POST per alert (alert sinks only).
    Webhook,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SinkFormat {
    #[default]
    Json,
    Hec,
    Ocsf,
    /// A Slack incoming-webhook message.
    Slack,
    /// A Microsoft Teams message carrying an Adaptive Card (Workflows webhooks).
    Teams,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SinkStart {
    #[default]
    Beginning,
    End,
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            checkpoint_every_events: 1000,
            checkpoint_interval: Duration::seconds(60),
            signing_key_file: None,
            signing_key_env: None,
            retention: Duration::days(7 * 365),
            body_retention: Duration::days(30),
            witness_files: Vec::new(),
            witness_urls: Vec::new(),
            sinks: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PermissionSource {
    #[default]
    Static,
    Github,
    Gitlab,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repo {
    pub name: String,
    /// A local path to a git repository or a git URL.
    pub source: String,
    /// Branch to follow; default: the repository's HEAD.
    pub branch: Option<String>,
    /// Pin to a tag or commit instead of following a branch.
    #[serde(rename = "ref")]
    pub pinned_ref: Option<String>,
    #[serde(default = "default_repo_tier")]
    pub tier: Tier,
    /// Overrides what the tier lets MCP disclose for this repository.
    pub disclosure: Option<Disclosure>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub region: Option<String>,
    /// Globs of paths that never enter the index.
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub permissions: PermissionSource,
    /// The repository's path on its host (`owner/name` on GitHub, `group/project` on
    /// GitLab); default: `[permissions.github] org` + `/` + name, or the source URL's path.
    pub host_path: Option<String>,
}

fn default_repo_tier() -> Tier {
    Tier::Internal
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// The organisation's own Cedar policies, checked against Moat's schema at start
    /// (relative to the configuration file's directory).
    pub policies_file: Option<PathBuf>,
    #[serde(rename = "static")]
    pub static_grants: Option<StaticPermissions>,
    pub github: Option<GithubPermissions>,
    pub gitlab: Option<GitlabPermissions>,
    /// At a sign-in through the identity provider, ask the hosts again about each
    /// mirrored repository the person can read, and drop what they no longer grant.
    #[serde(default = "default_refresh_on_sign_in")]
    pub refresh_on_sign_in: bool,
}

impl Default for Permissions {
    fn default() -> Self {
        Permissions {
            policies_file: None,
            static_grants: None,
            github: None,
            gitlab: None,
            refresh_on_sign_in: default_refresh_on_sign_in(),
        }
    }
}

fn default_refresh_on_sign_in() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StaticPermissions {
    #[serde(default)]
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Repository names, or `"*"` for every repository using static permissions.
    pub repos: Vec<String>,
    #[serde(default)]
    pub teams: Vec<String>,
    /// User emails.
    #[serde(default)]
    pub users: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubPermissions {
    #[serde(default = "default_github_api")]
    pub api_url: String,
    pub org: String,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub webhook_secret_env: Option<String>,
    pub webhook_secret_file: Option<PathBuf>,
    /// GitHub logins to Moat emails. A login maps to a person only through this table
    /// or a stored link (identity provider, SAML); never by looking like an email.
    #[serde(default)]
    pub users: std::collections::BTreeMap<String, String>,
    /// Link logins through the organisation's SAML single sign-on identities
    /// (GraphQL `externalIdentities`) at every sync.
    #[serde(default = "default_saml_links")]
    pub saml_links: bool,
    /// The organisation's GitHub OAuth app: people link their GitHub login by signing
    /// in to GitHub at `/oauth/host/github/start` (callback
    /// `{public_url}/oauth/host/github/callback`); its secret by reference.
    pub oauth_client_id: Option<String>,
    pub oauth_client_secret_env: Option<String>,
    pub oauth_client_secret_file: Option<PathBuf>,
    #[serde(default = "default_sync_interval")]
    pub sync_interval: Duration,
    /// Past this age without a successful sync the mirror denies everything.
    #[serde(default = "default_max_staleness")]
    pub max_staleness: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabPermissions {
    #[serde(default = "default_gitlab_api")]
    pub api_url: String,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub webhook_token_env: Option<String>,
    pub webhook_token_file: Option<PathBuf>,
    /// GitLab usernames to Moat emails; a username maps to a person only through this
    /// table or a stored link, never by looking like an email.
    #[serde(default)]
    pub users: std::collections::BTreeMap<String, String>,
    /// The organisation's GitLab OAuth application: people link their GitLab username by
    /// signing in to GitLab at `/oauth/host/gitlab/start` (callback
    /// `{public_url}/oauth/host/gitlab/callback`); its secret by reference.
    pub oauth_client_id: Option<String>,
    pub oauth_client_secret_env: Option<String>,
    pub oauth_client_secret_file: Option<PathBuf>,
    #[serde(default = "default_sync_interval")]
    pub sync_interval: Duration,
    #[serde(default = "default_max_staleness")]
    pub max_staleness: Duration,
}

fn default_saml_links() -> bool {
    true
}

fn default_github_api() -> String {
    "https://api.github.com".to_string()
}

fn default_gitlab_api() -> String {
    "https://gitlab.com/api/v4".to_string()
}

fn default_sync_interval() -> Duration {
    Duration::seconds(15 * 60)
}

fn default_max_staleness() -> Duration {
    Duration::seconds(3600)
}

/// Vendor attestations a tier can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attestation {
    Soc2Type2,
    Iso27001,
    Baa,
    Dpa,
    ZeroRetention,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Tiers {
    pub public: Option<TierPolicy>,
    pub internal: Option<TierPolicy>,
    pub confidential: Option<TierPolicy>,
    pub restricted: Option<TierPolicy>,
}

/// What one tier allows. Omitted keys keep the defaults of SPEC.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TierPolicy {
    /// What MCP may disclose from repositories of this tier.
    pub mcp: Option<Disclosure>,
    /// Attestations a vendor must hold to receive code of this tier.
    pub require: Option<Vec<Attestation>>,
    /// Only vendors inside the organisation's trust boundary may receive this code.
    pub on_prem_only: Option<bool>,
}

/// A tier's policy with every default filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveTierPolicy {
    pub mcp: Disclosure,
    pub require: Vec<Attestation>,
    pub on_prem_only: bool,
}

impl Tiers {
    pub fn effective(&self, tier: Tier) -> EffectiveTierPolicy {
        use Attestation::*;
        let (configured, require, on_prem_only) = match tier {
            Tier::Public => (&self.public, vec![], false),
            Tier::Internal => (&self.internal, vec![Soc2Type2, Dpa], false),
            Tier::Confidential => (
                &self.confidential,
                vec![Soc2Type2, Dpa, ZeroRetention],
                false,
            ),
            Tier::Restricted => (&self.restricted, vec![], true),
        };
        let configured = configured.clone().unwrap_or_default();
        EffectiveTierPolicy {
            mcp: configured.mcp.unwrap_or(tier.default_disclosure()),
            require: configured.require.unwrap_or(require),
            on_prem_only: configured.on_prem_only.unwrap_or(on_prem_only),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VendorKind {
    Openai,
    Anthropic,
    OpenaiCompatible,
    /// Azure OpenAI: a model's `version` is the deployment's name.
    AzureOpenai,
    /// Amazon Bedrock: a model's `version` is its Bedrock model id; requests are signed
    /// with AWS credentials, not a key.
    Bedrock,
    /// Google Vertex AI (Anthropic's models): a model's `version` is its Vertex model
    /// id; requests carry an access token for a service account, not a key.
    Vertex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vendor {
    pub name: String,
    pub kind: VendorKind,
    pub base_url: String,
    /// API key, by reference.
    pub key_env: Option<String>,
    pub key_file: Option<PathBuf>,
    /// Azure OpenAI: a Microsoft Entra ID access token kept in this file by whatever
    /// refreshes it (a managed-identity agent), read again while Moat runs; instead of
    /// a key.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Azure OpenAI: the `api-version` query parameter, e.g. `"2024-10-21"`.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Bedrock: the AWS region requests are signed for, e.g. `"us-east-1"`.
    #[serde(default)]
    pub aws_region: Option<String>,
    /// Bedrock: the profile of the shared credentials file to use when the environment
    /// holds no keys (`AWS_PROFILE` or `default` unless set).
    #[serde(default)]
    pub aws_profile: Option<String>,
    /// Vertex: the Google Cloud project the models are used in.
    #[serde(default)]
    pub gcp_project: Option<String>,
    /// Vertex: the location (region, or `global`) the models run in, e.g. `"us-east5"`.
    #[serde(default)]
    pub gcp_location: Option<String>,
    /// Vertex: the service account's JSON key file (`GOOGLE_APPLICATION_CREDENTIALS`
    /// unless set).
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// `openai-compatible`: more base URLs serving the same models (other GPU hosts);
    /// each request goes to the healthy one with the fewest requests in progress.
    #[serde(default)]
    pub replicas: Vec<String>,
    /// The path each host's health check GETs (`/v1/models` unless set).
    #[serde(default)]
    pub health_path: Option<String>,
    /// How often each host is checked (10 s unless set).
    #[serde(default)]
    pub health_interval: Option<Duration>,
    pub region: String,
    /// Inside the organisation's trust boundary.
    #[serde(default)]
    pub on_prem: bool,
    #[serde(default)]
    pub attestations: Attestations,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Attestations {
    pub soc2_type2: bool,
    pub iso27001: bool,
    pub baa: bool,
    pub dpa: bool,
    pub zero_retention: bool,
    pub retention_days: Option<u32>,
    pub breach_notice_hours: Option<u32>,
    pub subprocessors: Vec<String>,
    /// The last day each attestation holds (`"YYYY-MM-DD"`, UTC): from the next day on
    /// the vendor no longer receives code that requires it.
    pub expires: std::collections::BTreeMap<Attestation, String>,
    /// When each document was signed (`"YYYY-MM-DD"`), for the register.
    pub signed: std::collections::BTreeMap<Attestation, String>,
    /// The period the SOC 2 report covers: `["YYYY-MM-DD", "YYYY-MM-DD"]`.
    pub soc2_period: Option<[String; 2]>,
}

impl Attestations {
    pub fn holds(&self, attestation: Attestation) -> bool {
        match attestation {
            Attestation::Soc2Type2 => self.soc2_type2,
            Attestation::Iso27001 => self.iso27001,
            Attestation::Baa => self.baa,
            Attestation::Dpa => self.dpa,
            Attestation::ZeroRetention => self.zero_retention,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// The name clients ask for.
    pub alias: String,
    pub vendor: String,
    /// The exact, pinned model version the vendor receives.
    pub version: String,
    /// Teams allowed to use it; `["*"]` for everyone.
    #[serde(default = "everyone")]
    pub teams: Vec<String>,
    /// Alias of another model to use when this one's vendor fails.
    pub fallback: Option<String>,
    /// Request options that change what the vendor does or keeps and that this
    /// model may be sent: `store`, `n`, `service_tier`, `modalities`, `audio`,
    /// `web_search_options` (OpenAI format); `service_tier`, `container`,
    /// `mcp_servers`, `context_management` (Anthropic format); `store`,
    /// `service_tier`, `previous_response_id` (with `store`), `prompt_cache_retention`
    /// and the vendor's own tools `web_search`, `file_search`, `code_interpreter`,
    /// `mcp`, `image_generation`, `computer_use` (Responses API). Others are refused.
    #[serde(default)]
    pub options: Vec<String>,
    /// The API an OpenAI-format model is called through: `chat` (Chat Completions, the
    /// default) or `responses`, for a model served only by the Responses API (the Codex
    /// models): Chat Completions and Messages clients are translated into it.
    #[serde(default)]
    pub api: ModelApi,
}

/// The API an OpenAI-format model is called through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelApi {
    #[default]
    Chat,
    Responses,
}

fn everyone() -> Vec<String> {
    vec!["*".to_string()]
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Training {
    /// Whether a current attestation is needed for context and models.
    pub required: bool,
    /// The training version an attestation must name.
    pub current_version: Option<String>,
    /// How long an attestation stays current.
    pub renewal: Duration,
}

impl Default for Training {
    fn default() -> Self {
        Training {
            required: false,
            current_version: None,
            renewal: Duration::days(365),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Alerts {
    /// Shorthand for one `slack` webhook sink named `webhook`, by reference.
    pub webhook_url_env: Option<String>,
    pub webhook_url_file: Option<PathBuf>,
    /// Event actions delivered as alerts besides detection's `alert.*`, e.g.
    /// `access.denied`.
    pub on: Vec<String>,
    /// Where alerts go (`[[alerts.sinks]]`), each with its own cursor: a chat
    /// webhook, or a syslog, HTTP or file sink as for the audit log.
    pub sinks: Vec<AuditSink>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DlpKind {
    Secret,
    Pii,
    Phi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DlpSeverity {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Dlp {
    /// Built-in rule ids not to run.
    pub disabled: Vec<String>,
    /// Path globs whose findings are accepted (test fixtures, documentation).
    pub allow_paths: Vec<String>,
    /// The organisation's own rules.
    pub rules: Vec<DlpRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlpRule {
    pub id: String,
    pub kind: DlpKind,
    #[serde(default = "default_dlp_severity")]
    pub severity: DlpSeverity,
    /// Words one of which must appear for the rule to run (case-insensitive).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// A regular expression; its first capture group (or the whole match) is the value.
    pub pattern: String,
}

fn default_dlp_severity() -> DlpSeverity {
    DlpSeverity::High
}

/// How the LLM gateway treats requests; models and vendors have their own sections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Gateway {
    /// Requests per minute for each user; `None`: unlimited.
    pub requests_per_minute: Option<u32>,
    /// Tokens (in and out, as the vendor counts them) per UTC day for each user.
    pub tokens_per_day: Option<u64>,
    /// Limits shared by all members of a team, by team name.
    pub teams: std::collections::BTreeMap<String, GatewayLimits>,
    /// The largest prompt (request body) accepted, in bytes; `[server] max_body_bytes`
    /// applies too.
    pub max_prompt_bytes: usize,
    /// Put redacted values back into responses (only ever to the caller who sent them).
    pub restore_placeholders: bool,
    /// Redact secrets and personal data that a model writes (or echoes) in its answers,
    /// streams included, before the client sees them.
    pub redact_answers: bool,
    /// `anthropic-beta` values passed on to Anthropic vendors; others are dropped.
    pub anthropic_beta: Vec<String>,
    /// Fingerprints a prompt must share with a repository for its code to count as
    /// present (each fingerprint stands for a run of about a dozen tokens).
    pub detect_min_matches: u32,
    /// How long a vendor may take to send the first byte of its answer.
    pub first_byte_timeout: Duration,
    /// Attempts per vendor before the first byte (1: no retry).
    pub attempts: u32,
    /// Requests (streams included) in progress at once; past it, new ones are
    /// answered "overloaded" at once instead of queueing without bound.
    pub max_in_flight: usize,
    /// Let base64 images and files, which cannot be checked for code, go to vendors
    /// from people who may read repositories above `internal`.
    pub allow_binary: bool,
    /// Model requests one person may have in progress at once (streams included).
    pub max_in_flight_per_user: usize,
    /// How long a client may take to send a request body.
    pub body_timeout: Duration,
    /// The longest one model request may take, streams included.
    pub request_deadline: Duration,
    /// Tokens held against a day budget for the answer of a request that names no
    /// `max_tokens` (a request that names one holds that).
    pub output_hold_tokens: u64,
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway {
            requests_per_minute: None,
            tokens_per_day: None,
            teams: Default::default(),
            max_prompt_bytes: 1 << 20,
            restore_placeholders: false,
            redact_answers: false,
            anthropic_beta: Vec::new(),
            detect_min_matches: 3,
            first_byte_timeout: Duration::seconds(60),
            attempts: 2,
            max_in_flight: 4096,
            allow_binary: false,
            max_in_flight_per_user: 64,
            body_timeout: Duration::seconds(10),
            request_deadline: Duration::seconds(900),
            output_hold_tokens: 4096,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayLimits {
    pub requests_per_minute: Option<u32>,
    pub tokens_per_day: Option<u64>,
}
