//! The command-line grammar (clap). Names follow SPEC.md.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

mod compliance;
pub use compliance::*;

#[derive(Debug, Parser)]
#[command(
    name = "moat",
    version,
    about = "Governed AI coding for regulated teams: code context over MCP, a model gateway, a tamper-evident audit log",
    after_help = "Start with `moat demo`. Exit codes: 0 success, 1 the operation failed, 2 bad usage or configuration."
)]
pub struct Cli {
    /// Configuration file [default: ./moat.toml if present]
    #[arg(long, global = true, env = "MOAT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory [default: the configuration file's directory]
    #[arg(long, global = true, env = "MOAT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Machine-readable output
    #[arg(long, global = true)]
    pub json: bool,
    /// Who is acting: a person (email) whom Cedar decides organisation-wide commands for
    /// [default: the local operator, who holds the data directory]
    #[arg(long, global = true, env = "MOAT_OPERATOR", value_name = "EMAIL")]
    pub operator: Option<String>,
    /// Log format on stderr [default: [server] log_format, else text]
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a data directory, connect a repository, create users and serve
    Demo(DemoArgs),
    /// Run the server: MCP, the LLM gateway, OAuth sign-in, SCIM, the admin API, webhooks, health and metrics
    ///
    /// One listener serves `/mcp` (AI tools' code context), `/v1` (the LLM gateway, when
    /// `[[vendors]]` and `[[models]]` are set), `/oauth` and `/.well-known` (sign-in and
    /// metadata for tools), `/scim/v2` (provisioning, when `[identity] scim_token_env`
    /// is set), `/api/v1` (the admin API), `/webhooks` (repository hosts), `/healthz`
    /// and `/metrics`. It stops on Ctrl-C or SIGTERM after draining connections and
    /// signing the audit log's final checkpoint.
    Serve(ServeArgs),
    /// Manage people
    #[command(subcommand)]
    User(UserCommand),
    /// Manage tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print a one-time link that signs a person in to connect an AI tool (OAuth), or
    /// to the console with --console
    LoginLink {
        /// User id or email
        user: String,
        /// A link to the console's sign-in page (`/console`) instead
        #[arg(long)]
        console: bool,
    },
    /// Validate the configuration; write the policy it enforces, and what changed in it
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Configuration published for every node (those with `[server] config_source = "store"`)
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The vendor register: attestations with their dates, retention, breach notice
    #[command(subcommand)]
    Vendor(VendorCommand),
    /// Exceptions to the policy: asked with a reason and a duration, reviewed by the
    /// security team, ending by themselves
    #[command(subcommand)]
    Exception(ExceptionCommand),
    /// Kill switches: freeze a repository, disable a model or a vendor, on every node
    /// from the next request on, until released
    #[command(subcommand)]
    KillSwitch(KillSwitchCommand),
    /// Incidents: the alerts about one person or vendor, with an owner, a timeline and
    /// deadlines to acknowledge, contain and notify
    #[command(subcommand)]
    Incident(IncidentCommand),
    /// The tamper-evident audit log
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The evidence pack for a review: policy, access, people, registers, exceptions,
    /// the audit extract with its proof, a control mapping, all signed
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// Find secrets, personal and health data in a repository or a directory
    Scan(ScanArgs),
    /// Manage connected repositories (edits moat.toml)
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Index connected repositories from git (incremental by default)
    Index(IndexArgs),
    /// What a person's AI tool would get for a query
    Search(SearchArgs),
    /// Who can reach which repository, and why
    #[command(subcommand)]
    Access(AccessCommand),
    /// Bridge a stdio-only MCP client to a Moat server (token from MOAT_TOKEN)
    Mcp(McpArgs),
    /// Where Moat keeps its state
    #[command(subcommand)]
    Store(StoreCommand),
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy this deployment's SQLite store, audit log included, into an empty PostgreSQL database
    ///
    /// Every table is copied row for row in one PostgreSQL transaction from one
    /// snapshot of the SQLite file, so a failure leaves the destination empty and the
    /// copy verifies against the same signed checkpoints. Then set `[store] backend =
    /// "postgres"` with the same `url_env` or `url_file` and run `moat audit verify`.
    Migrate(MigrateArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StoreTarget {
    Postgres,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The backend to copy into
    #[arg(long, value_enum)]
    pub to: StoreTarget,
    /// Environment variable holding the destination's connection URL
    #[arg(
        long,
        value_name = "VAR",
        required_unless_present = "url_file",
        conflicts_with = "url_file"
    )]
    pub url_env: Option<String>,
    /// File holding the destination's connection URL
    #[arg(long, value_name = "FILE")]
    pub url_file: Option<PathBuf>,
    /// PEM file of the CA that signed the database server's certificate
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Speak MCP on stdin/stdout
    #[arg(long, required = true)]
    pub stdio: bool,
    /// The Moat server, e.g. https://moat.example.com
    #[arg(long)]
    pub server: String,
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Allow or deny, the tier, and the rule that decided; exit 0 on allow, 1 on deny
    Explain {
        /// User id or email
        #[arg(long)]
        user: String,
        #[arg(long)]
        repo: String,
        /// Ask about reading raw source instead of querying context
        #[arg(long)]
        read_source: bool,
    },
    /// Every person against every repository
    Matrix {
        #[arg(long, value_enum, default_value = "table")]
        format: MatrixFormat,
    },
    /// Mirror who may read each GitHub/GitLab repository now; exit 1 if any sync failed
    Sync {
        /// Only this repository
        repo: Option<String>,
    },
    /// Host logins the mirror lists that are linked to nobody, so grant nothing
    Unmapped,
    /// Record who may reach what now, unless today (UTC) has a record; `moat serve`
    /// records one a day. Evidence packs decide the matrix at a period's start from these
    Snapshot,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MatrixFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Clone, Args)]
pub struct IndexArgs {
    /// A connected repository; default: all
    pub repo: Option<String>,
    /// Drop what is indexed and start over
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// A question or an identifier
    pub query: String,
    /// Whose view: user id or email
    #[arg(long = "as", value_name = "USER")]
    pub as_user: String,
    /// Only this repository
    #[arg(long)]
    pub repo: Option<String>,
    /// Only this language (rust, python, go, ...)
    #[arg(long)]
    pub language: Option<String>,
    /// Only this kind of symbol (function, class, file, ...)
    #[arg(long)]
    pub kind: Option<String>,
    /// Only paths starting with this
    #[arg(long)]
    pub path: Option<String>,
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Connect a repository (a local git repository or a git URL)
    Add {
        name: String,
        source: String,
        #[arg(long, default_value = "internal")]
        tier: moat_domain::Tier,
        /// Branch to follow [default: HEAD]
        #[arg(long, conflicts_with = "pinned_ref")]
        branch: Option<String>,
        /// Pin to a tag or commit
        #[arg(long = "ref")]
        pinned_ref: Option<String>,
        /// phi, pci, pii, export-controlled...; repeat or separate with commas
        #[arg(long = "tag", value_delimiter = ',')]
        tags: Vec<String>,
        /// Path globs that never enter the index
        #[arg(long)]
        exclude: Vec<String>,
    },
    /// Connected repositories, their tier and indexed commit
    List,
    /// Fetch remote repositories and index every connected one
    Sync { repo: Option<String> },
    /// Disconnect a repository and drop its index
    Remove { name: String },
    /// Change a repository's classification tier
    Classify {
        name: String,
        #[arg(long)]
        tier: moat_domain::Tier,
    },
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// A connected repository (scanned at its branch head, from git); default: all
    pub repo: Option<String>,
    /// Scan a directory on disk instead (no configuration needed)
    #[arg(long, conflicts_with = "repo")]
    pub path: Option<PathBuf>,
    /// Output format (--json is the same as --format json)
    #[arg(long, value_enum, default_value = "table")]
    pub format: ScanFormat,
    /// Exit 1 when a finding at or above this severity exists
    #[arg(long, value_enum, default_value = "high")]
    pub fail_on: FailOn,
    /// Run the code security rules too (SQL built by concatenation, shell commands
    /// built from input, unsafe deserialization, TLS verification off, weak password
    /// hashes; Python, JavaScript/TypeScript, Java, Go)
    #[arg(long)]
    pub code: bool,
    /// Only files a model wrote through the gateway, with the code security rules
    /// (needs the deployment's provenance: a configuration, not --path alone)
    #[arg(long)]
    pub ai_only: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ScanFormat {
    Table,
    Json,
    Sarif,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FailOn {
    Low,
    Medium,
    High,
    Critical,
    /// Never fail on findings
    Never,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The latest events
    Tail {
        /// How many events
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        /// Keep printing new events as they are recorded
        #[arg(short, long)]
        follow: bool,
    },
    /// Events matching every filter given
    Search {
        /// User id, email or token id
        #[arg(long)]
        actor: Option<String>,
        /// Action, e.g. admin.change; a trailing * matches a prefix (auth.*)
        #[arg(long)]
        action: Option<String>,
        /// Repository name
        #[arg(long)]
        repo: Option<String>,
        /// From this time (RFC 3339 or YYYY-MM-DD), inclusive
        #[arg(long)]
        since: Option<String>,
        /// Until this time (RFC 3339 or YYYY-MM-DD), exclusive
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Recompute every leaf, rebuild the tree and check every checkpoint, the log's own and
    /// every configured witness file's; exit 1 on any failure
    Verify {
        /// Also a checkpoint held elsewhere (e.g. fetched from an HTTP witness), which the log
        /// must be consistent with; repeatable
        #[arg(long, value_name = "CHECKPOINT_FILE")]
        against: Vec<PathBuf>,
        /// Extra trusted public keys (name+id+base64), besides <data>/audit/keys
        #[arg(long = "key", value_name = "FILE")]
        keys: Vec<PathBuf>,
    },
    /// An inclusion proof of one event (--seq), or a consistency proof from an older
    /// checkpoint (--from-size), against the latest checkpoint, as JSON
    Prove {
        #[arg(
            long,
            conflicts_with = "from_size",
            required_unless_present = "from_size"
        )]
        seq: Option<u64>,
        /// Size of an older stored checkpoint that the latest must extend
        #[arg(long)]
        from_size: Option<u64>,
    },
    /// Check a proof made by `moat audit prove`; exit 1 if it does not hold
    CheckProof {
        file: PathBuf,
        /// Trusted public keys; default <data>/audit/keys
        #[arg(long = "key", value_name = "FILE")]
        keys: Vec<PathBuf>,
    },
    /// Sign a checkpoint of the log now and print it
    Checkpoint,
    /// Write events with the proofs needed to check them
    Export {
        /// First sequence number or time (RFC 3339 or YYYY-MM-DD)
        #[arg(long)]
        from: Option<String>,
        /// Last sequence number, or time (exclusive)
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Output file, or `-` for standard output
        #[arg(long)]
        out: PathBuf,
        /// Where the checkpoint and the proofs go [default: beside --out, as NAME.manifest.json; none for `-`]
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    /// Check an export against its manifest without the database; exit 1 if any event
    /// was changed, added or left out
    CheckExport {
        /// The JSONL export (`moat audit export --format jsonl`)
        file: PathBuf,
        #[arg(long)]
        manifest: PathBuf,
        /// Trusted public keys; default <data>/audit/keys (never the manifest's own list)
        #[arg(long = "key", value_name = "FILE")]
        keys: Vec<PathBuf>,
    },
    /// Delete stored request/response bodies older than [audit] body_retention
    Prune,
    /// Each [[audit.sinks]] entry: where it resumes and how many events it has yet to deliver
    Sinks,
    /// Write a new signing key for [audit] signing_key_file / signing_key_env (owner-only
    /// file) and print its public key; needs no configuration. Every node of a
    /// deployment signs with the same key.
    NewKey {
        /// Where to write the private key (refused if it exists)
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The key's name in checkpoints
        #[arg(long, default_value = "moat-audit")]
        name: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
    /// OCSF 1.5.0 events, one per line, each with the Moat event under `unmapped.moat`
    Ocsf,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// A git repository to connect instead of the bundled sample
    pub path: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8480]
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, overriding [server] listen; port 0 picks a free port
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a person
    Add {
        email: String,
        /// Display name [default: the email's local part]
        #[arg(long, default_value = "")]
        name: String,
        /// admin, security, auditor or developer; repeat or separate with commas
        #[arg(long = "role", value_delimiter = ',', default_value = "developer")]
        roles: Vec<moat_domain::Role>,
        /// Team names; repeat or separate with commas
        #[arg(long = "team", value_delimiter = ',')]
        teams: Vec<String>,
    },
    /// List people
    List,
    /// Refuse a person's tokens at once, keeping them for reactivation
    Suspend { user: String },
    /// Lift a suspension, or bring back a deprovisioned person (old tokens stay revoked)
    Reactivate { user: String },
    /// Offboard a person: every token revoked
    Deprovision { user: String },
    /// Record that a person completed the security training
    Attest {
        user: String,
        /// The training version completed [default: [training] current_version]
        #[arg(long)]
        version: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token; the secret is printed once
    Issue {
        /// User id or email
        #[arg(long)]
        user: String,
        /// What the token is for, e.g. laptop or ci
        #[arg(long, default_value = "cli")]
        name: String,
        /// mcp, gateway or admin; repeat or separate with commas
        #[arg(long = "scope", value_delimiter = ',', required = true)]
        scopes: Vec<moat_domain::Scope>,
        /// Lifetime such as 30d or 12h [default: [identity] token_ttl]
        #[arg(long)]
        ttl: Option<moat_config::Duration>,
    },
    /// List tokens (never their secrets)
    List {
        /// Only this user's tokens
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token at once
    Revoke { id: String },
    /// End one OAuth grant (a tool a person connected) with every token under it
    RevokeGrant {
        /// Grant id (grant_...), as `moat token list` shows it
        id: String,
    },
    /// Replace a token; the old one keeps working for the grace period
    Rotate {
        id: String,
        /// How long the old token keeps working [default: [identity] rotation_grace]
        #[arg(long)]
        grace: Option<moat_config::Duration>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate this configuration (--config) and publish it as the next version: every node following the store applies it within a second
    Publish,
    /// Print a published version's moat.toml (the newest by default)
    Show {
        /// Version number
        #[arg(long)]
        version: Option<i64>,
    },
    /// The published versions, newest first
    History,
}
