//! Table-driven configuration tests: each kind of mistake names its line and key.

use super::*;

const MINIMAL: &str = "[org]\nname = \"Example Health\"\n";

/// A complete, valid configuration using every section.
const FULL: &str = r#"
[server]
listen = "127.0.0.1:0"
public_url = "https://moat.example.com"
max_body_bytes = 1048576
request_timeout = "20s"
log_format = "json"

[store]
backend = "sqlite"
path = "state/moat.db"

[org]
name = "Example Health"
email_domains = ["example.com"]

[identity]
token_ttl = "30d"
token_max_ttl = "180d"
rotation_grace = "1h"
scim_token_env = "MOAT_SCIM_TOKEN"

[identity.oidc]
issuer = "https://login.example.com"
audience = "https://moat.example.com"
login_claims = { github = "github_login" }

[audit]
checkpoint_every_events = 500
checkpoint_interval = "30s"
signing_key_file = "/etc/moat/audit.key"
witness_files = ["/var/witness/moat.checkpoints"]

[[audit.sinks]]
name = "siem"
kind = "syslog"
address = "siem.example.com:6514"
ca_file = "/etc/moat/siem-ca.pem"

[[audit.sinks]]
name = "splunk"
kind = "http"
url = "https://splunk.example.com:8088/services/collector/event"
format = "hec"
token_env = "SPLUNK_HEC_TOKEN"
batch = 1000

[[audit.sinks]]
name = "archive"
kind = "file"
path = "/var/log/moat/audit.jsonl"
start = "end"

[[repos]]
name = "payments"
source = "/srv/git/payments.git"
branch = "main"
tier = "confidential"
tags = ["pci"]
region = "us"
exclude = ["**/fixtures/**"]
permissions = "github"

[[repos]]
name = "docs"
source = "https://git.example.com/docs.git"
tier = "public"

[permissions.static]
grants = [{ repos = ["docs"], teams = ["everyone"] }]

[permissions.github]
org = "example"
token_env = "GITHUB_TOKEN"
webhook_secret_env = "GITHUB_WEBHOOK_SECRET"

[tiers.confidential]
mcp = "redacted-source"
require = ["soc2_type2", "dpa", "zero_retention"]

[[vendors]]
name = "anthropic"
kind = "anthropic"
base_url = "https://api.anthropic.com"
key_env = "ANTHROPIC_API_KEY"
region = "us"
attestations = { soc2_type2 = true, dpa = true, zero_retention = true, retention_days = 0 }

[[vendors]]
name = "vllm"
kind = "openai-compatible"
base_url = "http://10.0.0.5:8000"
region = "us"
on_prem = true

[[models]]
alias = "claude-sonnet"
vendor = "anthropic"
version = "claude-sonnet-4-5-20250929"
teams = ["payments"]
fallback = "local"

[[models]]
alias = "local"
vendor = "vllm"
version = "qwen2.5-coder-32b-instruct"

[console]
idle_timeout = "15m"
session_lifetime = "4h"

[training]
required = true
current_version = "2026.1"
renewal = "365d"

[alerts]
webhook_url_env = "MOAT_ALERT_WEBHOOK"
on = ["access.denied"]

[gateway]
requests_per_minute = 60
tokens_per_day = 2000000
anthropic_beta = ["prompt-caching-2024-07-31"]
teams.payments = { requests_per_minute = 600 }
"#;

#[test]
fn a_minimal_config_gets_every_default() {
    let config = parse(MINIMAL, "moat.toml").unwrap();
    assert_eq!(config.org.name, "Example Health");
    assert_eq!(config.server.max_body_bytes, 2 * 1024 * 1024);
    assert_eq!(config.identity.rotation_grace, Duration::seconds(86_400));
    assert_eq!(config.store.backend, StoreBackend::Sqlite);
    let confidential = config.tiers.effective(moat_domain::Tier::Confidential);
    assert_eq!(confidential.mcp, moat_domain::Disclosure::Signatures);
    assert_eq!(
        confidential.require,
        vec![
            Attestation::Soc2Type2,
            Attestation::Dpa,
            Attestation::ZeroRetention
        ]
    );
    assert!(
        config
            .tiers
            .effective(moat_domain::Tier::Restricted)
            .on_prem_only
    );
}

#[test]
fn a_full_config_parses_with_every_section() {
    let config = parse(FULL, "moat.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.repos.len(), 2);
    assert_eq!(config.repos[0].tier, moat_domain::Tier::Confidential);
    assert_eq!(config.repos[1].permissions, PermissionSource::Static);
    let oidc = config.identity.oidc.as_ref().unwrap();
    assert_eq!(oidc.login_claims["github"], "github_login");
    assert!(config.permissions.github.as_ref().unwrap().saml_links);
    assert_eq!(config.models[0].fallback.as_deref(), Some("local"));
    assert_eq!(config.models[1].teams, vec!["*".to_string()]);
    assert!(config.vendors[1].on_prem);
    assert_eq!(config.gateway.requests_per_minute, Some(60));
    assert_eq!(
        (
            config.console.idle_timeout.seconds,
            config.console.session_lifetime.seconds
        ),
        (900, 14_400)
    );
    assert_eq!(
        config.gateway.teams["payments"].requests_per_minute,
        Some(600)
    );
    assert_eq!(config.gateway.teams["payments"].tokens_per_day, None);
    assert_eq!(config.gateway.max_prompt_bytes, 1 << 20);
    assert_eq!(config.server.log_format, LogFormat::Json);
    let sinks = &config.audit.sinks;
    assert_eq!(sinks.len(), 3);
    assert_eq!(
        (sinks[0].kind, sinks[0].tls, sinks[0].batch),
        (SinkKind::Syslog, true, 500)
    );
    assert_eq!((sinks[1].format, sinks[1].batch), (SinkFormat::Hec, 1000));
    assert_eq!(sinks[2].start, Some(SinkStart::End));
    assert_eq!(
        config.tiers.effective(moat_domain::Tier::Confidential).mcp,
        moat_domain::Disclosure::RedactedSource
    );
}

/// (what is wrong, the text, the line, the key, a phrase the message or hint must contain)
const MISTAKES: &[(&str, &str, usize, &str, &str)] = &[
    (
        "a webhook among the audit log's sinks",
        "[org]\nname = \"x\"\n[[audit.sinks]]\nname = \"chat\"\nkind = \"webhook\"\nurl_env = \"HOOK\"\n",
        5,
        "audit.sinks[0].kind",
        "[[alerts.sinks]]",
    ),
    (
        "a webhook sink without its URL",
        "[org]\nname = \"x\"\n[[alerts.sinks]]\nname = \"chat\"\nkind = \"webhook\"\nformat = \"slack\"\n",
        3,
        "alerts.sinks[0].url_env",
        "url_env = \"MOAT_SLACK_WEBHOOK\"",
    ),
    (
        "a token for a Slack webhook",
        "[org]\nname = \"x\"\n[[alerts.sinks]]\nname = \"chat\"\nkind = \"webhook\"\nformat = \"slack\"\nurl_env = \"HOOK\"\ntoken_env = \"TOKEN\"\n",
        8,
        "alerts.sinks[0].token_env",
        "the URL is the secret",
    ),
    (
        "a webhook over plain http to another machine",
        "[org]\nname = \"x\"\n[[alerts.sinks]]\nname = \"chat\"\nkind = \"webhook\"\nurl = \"http://hooks.example.com/x\"\n",
        6,
        "alerts.sinks[0].url",
        "an alert would cross the network",
    ),
    (
        "a Slack webhook's URL written in the file",
        "[org]\nname = \"x\"\n[[alerts.sinks]]\nname = \"chat\"\nkind = \"webhook\"\nformat = \"slack\"\nurl = \"https://hooks.slack.com/services/T0/B0/x\"\n",
        7,
        "alerts.sinks[0].url",
        "url_env",
    ),
    (
        "a Teams card sent to an HTTP collector",
        "[org]\nname = \"x\"\n[[alerts.sinks]]\nname = \"siem\"\nkind = \"http\"\nurl = \"https://siem.example.com/in\"\nformat = \"teams\"\n",
        7,
        "alerts.sinks[0].format",
        "`json`, `hec` or `ocsf`",
    ),
    (
        "an alert action that is not an action",
        "[org]\nname = \"x\"\n[alerts]\non = [\"Access Denied\"]\n",
        4,
        "alerts.on[0]",
        "as the audit log records it",
    ),
    (
        "an index interval of a week",
        "[org]\nname = \"x\"\n[server]\nindex_interval = \"7d\"\n",
        4,
        "server.index_interval",
        "\"0s\" to index only with `moat index`",
    ),
    (
        "no tokens held for answers of unknown length",
        "[org]\nname = \"x\"\n[gateway]\noutput_hold_tokens = 0\n",
        4,
        "gateway.output_hold_tokens",
        "could be overspent",
    ),
    (
        "a syslog sink sending the log in the clear off the machine",
        "[org]\nname = \"x\"\n[[audit.sinks]]\nname = \"siem\"\nkind = \"syslog\"\naddress = \"10.0.0.5:514\"\ntls = false\n",
        7,
        "audit.sinks[0].tls",
        "in the clear",
    ),
    (
        "an http sink over plain http to another machine",
        "[org]\nname = \"x\"\n[[audit.sinks]]\nname = \"siem\"\nkind = \"http\"\nurl = \"http://siem.example.com/ingest\"\n",
        6,
        "audit.sinks[0].url",
        "https://",
    ),
    (
        "a Splunk HEC sink without its token",
        "[org]\nname = \"x\"\n[[audit.sinks]]\nname = \"splunk\"\nkind = \"http\"\nurl = \"https://splunk.example.com/services/collector/event\"\nformat = \"hec\"\n",
        3,
        "audit.sinks[0].token_env",
        "token_env",
    ),
    (
        "a key of another kind of sink",
        "[org]\nname = \"x\"\n[[audit.sinks]]\nname = \"archive\"\nkind = \"file\"\npath = \"/var/log/moat.jsonl\"\nurl = \"https://x.example.com/\"\n",
        7,
        "audit.sinks[0].url",
        "applies to http sinks",
    ),
    (
        "two sinks with one name",
        "[org]\nname = \"x\"\n[[audit.sinks]]\nname = \"a\"\nkind = \"file\"\npath = \"/tmp/a\"\n[[audit.sinks]]\nname = \"a\"\nkind = \"file\"\npath = \"/tmp/b\"\n",
        8,
        "audit.sinks[1].name",
        "declared twice",
    ),
    (
        "a syslog sink without a port",
        "[org]\nname = \"x\"\n[[audit.sinks]]\nname = \"siem\"\nkind = \"syslog\"\naddress = \"siem.example.com\"\n",
        6,
        "audit.sinks[0].address",
        "host:port",
    ),
    (
        "a sink batch too large",
        "[org]\nname = \"x\"\n[[audit.sinks]]\nname = \"a\"\nkind = \"file\"\npath = \"/tmp/a\"\nbatch = 1000000\n",
        7,
        "audit.sinks[0].batch",
        "from 1 to",
    ),
    (
        "a login claim for a host Moat does not mirror",
        "[org]\nname = \"x\"\n[identity.oidc]\nissuer = \"https://idp.example.com\"\naudience = \"moat\"\nlogin_claims = { bitbucket = \"bb_login\" }\n",
        6,
        "identity.oidc.login_claims.bitbucket",
        "`github` or `gitlab`",
    ),
    (
        "a client id at the identity provider without its secret",
        "[org]\nname = \"x\"\n[identity.oidc]\nissuer = \"https://idp.example.com\"\naudience = \"moat\"\nclient_id = \"moat\"\n",
        3,
        "identity.oidc.client_secret_env",
        "client_secret_env",
    ),
    (
        "a client secret without a client id",
        "[org]\nname = \"x\"\n[identity.oidc]\nissuer = \"https://idp.example.com\"\naudience = \"moat\"\nclient_secret_env = \"IDP_SECRET\"\n",
        3,
        "identity.oidc.client_id",
        "client_id",
    ),
    (
        "a GitHub OAuth app without its secret",
        "[org]\nname = \"x\"\n[permissions.github]\norg = \"example\"\ntoken_env = \"GITHUB_TOKEN\"\noauth_client_id = \"Iv1.abc\"\n",
        3,
        "permissions.github.oauth_client_secret_env",
        "oauth_client_secret_env",
    ),
    (
        "syntax error",
        "[org]\nname = \"x\"\nlisten = \n",
        3,
        "",
        "fix the TOML syntax",
    ),
    (
        "missing org",
        "[server]\nlisten = \"127.0.0.1:1\"\n",
        1,
        "",
        "missing key `org`",
    ),
    (
        "unknown top-level key",
        "[org]\nname = \"x\"\n[sever]\nlisten = \"127.0.0.1:1\"\n",
        3,
        "sever",
        "unknown key",
    ),
    (
        "unknown nested key",
        "[org]\nname = \"x\"\n[server]\nlisen = \"127.0.0.1:1\"\n",
        4,
        "server.lisen",
        "unknown key",
    ),
    (
        "secret key name",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"a\"\nkind = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\napi_key = \"hunter2\"\nregion = \"us\"\n",
        7,
        "vendors[0].api_key",
        "api_key_env",
    ),
    (
        "secret in clear",
        "[org]\nname = \"x\"\n[alerts]\non = [\"sk-ant-api03-abcdefghijklmnop\"]\n",
        4,
        "alerts.on[0]",
        "credential written in clear",
    ),
    (
        "wrong type",
        "[org]\nname = \"x\"\n[server]\nmax_body_bytes = \"big\"\n",
        4,
        "server.max_body_bytes",
        "invalid type",
    ),
    (
        "MCP sessions parked after no time at all",
        "[org]\nname = \"x\"\n[server]\nmcp_session_idle = \"0s\"\n",
        4,
        "server.mcp_session_idle",
        "between \"1s\" and \"24h\"",
    ),
    (
        "MCP sessions parked while a request may still run",
        "[org]\nname = \"x\"\n[server]\nrequest_timeout = \"2m\"\nmcp_session_idle = \"1m\"\n",
        5,
        "server.mcp_session_idle",
        "at least as long as request_timeout",
    ),
    (
        "bad tier",
        "[org]\nname = \"x\"\n[[repos]]\nname = \"a\"\nsource = \"/a\"\ntier = \"secret\"\n",
        6,
        "repos[0].tier",
        "restricted",
    ),
    (
        "bad duration",
        "[org]\nname = \"x\"\n[identity]\ntoken_ttl = \"forever\"\n",
        4,
        "identity.token_ttl",
        "\"90d\"",
    ),
    (
        "bad address",
        "[org]\nname = \"x\"\n[server]\nlisten = \"localhost\"\n",
        4,
        "server.listen",
        "socket address",
    ),
    (
        "empty org name",
        "[org]\nname = \" \"\n",
        2,
        "org.name",
        "organisation name is empty",
    ),
    (
        "body limit out of range",
        "[org]\nname = \"x\"\n[server]\nmax_body_bytes = 10\n",
        4,
        "server.max_body_bytes",
        "1 KiB",
    ),
    (
        "duplicate repo",
        "[org]\nname = \"x\"\n[[repos]]\nname = \"a\"\nsource = \"/a\"\n[[repos]]\nname = \"a\"\nsource = \"/b\"\n",
        7,
        "repos[1].name",
        "declared twice",
    ),
    (
        "bad repo name",
        "[org]\nname = \"x\"\n[[repos]]\nname = \"My Repo\"\nsource = \"/a\"\n",
        4,
        "repos[0].name",
        "lowercase",
    ),
    (
        "branch and ref",
        "[org]\nname = \"x\"\n[[repos]]\nname = \"a\"\nsource = \"/a\"\nbranch = \"main\"\nref = \"v1\"\n",
        7,
        "repos[0].ref",
        "not both",
    ),
    (
        "github without section",
        "[org]\nname = \"x\"\n[[repos]]\nname = \"a\"\nsource = \"/a\"\npermissions = \"github\"\n",
        6,
        "repos[0].permissions",
        "[permissions.github]",
    ),
    (
        "grant to unknown repo",
        "[org]\nname = \"x\"\n[permissions.static]\ngrants = [{ repos = [\"nope\"], teams = [\"t\"] }]\n",
        4,
        "permissions.static.grants[0].repos[0]",
        "no repository named `nope`",
    ),
    (
        "github token missing",
        "[org]\nname = \"x\"\n[permissions.github]\norg = \"e\"\n",
        3,
        "permissions.github.token_env",
        "token_env",
    ),
    (
        "zero team budget",
        "[org]\nname = \"x\"\n[gateway.teams.ops]\ntokens_per_day = 0\n",
        4,
        "gateway.teams.ops.tokens_per_day",
        "refuses every request",
    ),
    (
        "vendor key missing",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"a\"\nkind = \"openai\"\nbase_url = \"https://api.openai.com\"\nregion = \"us\"\n",
        3,
        "vendors[0].key_env",
        "key_env",
    ),
    (
        "an Azure OpenAI vendor without its API version",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"az\"\nkind = \"azure-openai\"\nbase_url = \"https://acme.openai.azure.com\"\nkey_env = \"K\"\nregion = \"us\"\n",
        3,
        "vendors[0].api_version",
        "api_version = \"2024-10-21\"",
    ),
    (
        "an Azure OpenAI vendor with a key and a token file",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"az\"\nkind = \"azure-openai\"\nbase_url = \"https://acme.openai.azure.com\"\nkey_env = \"K\"\ntoken_file = \"/run/entra/token\"\napi_version = \"2024-10-21\"\nregion = \"us\"\n",
        8,
        "vendors[0].token_file",
        "not both",
    ),
    (
        "a token file on a vendor that is not Azure",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"a\"\nkind = \"openai\"\nbase_url = \"https://api.openai.com\"\nkey_env = \"K\"\ntoken_file = \"/t\"\nregion = \"us\"\n",
        8,
        "vendors[0].token_file",
        "azure-openai",
    ),
    (
        "an API version on a vendor that is not Azure",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"a\"\nkind = \"openai\"\nbase_url = \"https://api.openai.com\"\nkey_env = \"K\"\napi_version = \"2024-10-21\"\nregion = \"us\"\n",
        8,
        "vendors[0].api_version",
        "azure-openai",
    ),
    (
        "an API version that is not one",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"az\"\nkind = \"azure-openai\"\nbase_url = \"https://acme.openai.azure.com\"\nkey_env = \"K\"\napi_version = \"2024-10-21&x=1\"\nregion = \"us\"\n",
        8,
        "vendors[0].api_version",
        "is not an API version",
    ),
    (
        "replicas on a cloud vendor",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"a\"\nkind = \"openai\"\nbase_url = \"https://api.openai.com\"\nkey_env = \"K\"\nreplicas = [\"https://b.example.com\"]\nregion = \"us\"\n",
        8,
        "vendors[0].replicas",
        "openai-compatible",
    ),
    (
        "a host listed twice",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"gpus\"\nkind = \"openai-compatible\"\nbase_url = \"http://gpu1:8000/\"\nreplicas = [\"http://gpu1:8000\"]\nregion = \"us\"\non_prem = true\n",
        7,
        "vendors[0].replicas[0]",
        "listed twice",
    ),
    (
        "a health path that is not a path",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"gpus\"\nkind = \"openai-compatible\"\nbase_url = \"http://gpu1:8000\"\nreplicas = [\"http://gpu2:8000\"]\nhealth_path = \"health?x\"\nregion = \"us\"\n",
        8,
        "vendors[0].health_path",
        "is not a path",
    ),
    (
        "health checks without replicas",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"gpus\"\nkind = \"openai-compatible\"\nbase_url = \"http://gpu1:8000\"\nhealth_interval = \"5s\"\nregion = \"us\"\n",
        7,
        "vendors[0].health_interval",
        "with `replicas`",
    ),
    (
        "two references",
        "[org]\nname = \"x\"\n[audit]\nsigning_key_env = \"K\"\nsigning_key_file = \"/k\"\n",
        5,
        "audit.signing_key_file",
        "keep one",
    ),
    (
        "lowercase env name",
        "[org]\nname = \"x\"\n[identity]\nscim_token_env = \"scim token\"\n",
        4,
        "identity.scim_token_env",
        "environment variable name",
    ),
    (
        "model of unknown vendor",
        "[org]\nname = \"x\"\n[[models]]\nalias = \"m\"\nvendor = \"ghost\"\nversion = \"m-2025\"\n",
        5,
        "models[0].vendor",
        "no vendor named `ghost`",
    ),
    (
        "unpinned model",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"a\"\nkind = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\nkey_env = \"K\"\nregion = \"us\"\n[[models]]\nalias = \"m\"\nvendor = \"a\"\nversion = \"claude-latest\"\n",
        12,
        "models[0].version",
        "pinned",
    ),
    (
        "ungoverned model option",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"a\"\nkind = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\nkey_env = \"K\"\nregion = \"us\"\n[[models]]\nalias = \"m\"\nvendor = \"a\"\nversion = \"claude-2025\"\noptions = [\"store\", \"temperature\"]\n",
        13,
        "models[0].options",
        "`temperature` is not an option Moat governs",
    ),
    (
        "continuing responses the vendor does not keep",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"a\"\nkind = \"openai\"\nbase_url = \"https://api.openai.com\"\nkey_env = \"K\"\nregion = \"us\"\n[[models]]\nalias = \"m\"\nvendor = \"a\"\nversion = \"gpt-5-2025-08-07\"\noptions = [\"previous_response_id\", \"web_search\"]\n",
        13,
        "models[0].options",
        "without `store`",
    ),
    (
        "a Bedrock vendor without its AWS region",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"b\"\nkind = \"bedrock\"\nbase_url = \"https://bedrock-runtime.us-east-1.amazonaws.com\"\nregion = \"us\"\n",
        3,
        "vendors[0].aws_region",
        "needs its `aws_region`",
    ),
    (
        "a Bedrock vendor given a key",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"b\"\nkind = \"bedrock\"\nbase_url = \"https://bedrock-runtime.us-east-1.amazonaws.com\"\naws_region = \"us-east-1\"\nkey_env = \"K\"\nregion = \"us\"\n",
        8,
        "vendors[0].key_env",
        "takes no key",
    ),
    (
        "an AWS region on another vendor",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"a\"\nkind = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\nkey_env = \"K\"\naws_region = \"us-east-1\"\nregion = \"us\"\n",
        8,
        "vendors[0].aws_region",
        "for `kind = \"bedrock\"` only",
    ),
    (
        "a Responses-only model at an Anthropic-format vendor",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"a\"\nkind = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\nkey_env = \"K\"\nregion = \"us\"\n[[models]]\nalias = \"m\"\nvendor = \"a\"\nversion = \"claude-sonnet-4-5-20250929\"\napi = \"responses\"\n",
        13,
        "models[0].api",
        "for models of OpenAI-format vendors",
    ),
    (
        "a Vertex vendor without its project",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"v\"\nkind = \"vertex\"\nbase_url = \"https://us-east5-aiplatform.googleapis.com\"\ngcp_location = \"us-east5\"\nregion = \"us\"\n",
        3,
        "vendors[0].gcp_project",
        "needs its `gcp_project`",
    ),
    (
        "a Google Cloud location on another vendor",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"a\"\nkind = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\nkey_env = \"K\"\ngcp_location = \"us-east5\"\nregion = \"us\"\n",
        8,
        "vendors[0].gcp_location",
        "for `kind = \"vertex\"` only",
    ),
    (
        "a Bedrock vendor over plain http",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"b\"\nkind = \"bedrock\"\nbase_url = \"http://bedrock.example.com\"\naws_region = \"us-east-1\"\nregion = \"us\"\n",
        6,
        "vendors[0].base_url",
        "over https",
    ),
    (
        "a Bedrock vendor at a host that only looks like this machine",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"b\"\nkind = \"bedrock\"\nbase_url = \"http://localhost.evil.example\"\naws_region = \"us-east-1\"\nregion = \"us\"\n",
        6,
        "vendors[0].base_url",
        "over https",
    ),
    (
        "a Vertex vendor at a host hidden behind credentials",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"v\"\nkind = \"vertex\"\nbase_url = \"http://127.0.0.1@evil.example\"\ngcp_project = \"p\"\ngcp_location = \"us-east5\"\nregion = \"us\"\n",
        6,
        "vendors[0].base_url",
        "over https",
    ),
    (
        "training without version",
        "[org]\nname = \"x\"\n[training]\nrequired = true\n",
        3,
        "training.current_version",
        "current_version",
    ),
    (
        "ttl above max",
        "[org]\nname = \"x\"\n[identity]\ntoken_ttl = \"400d\"\n",
        4,
        "identity.token_ttl",
        "token_max_ttl",
    ),
    (
        "postgres without url",
        "[org]\nname = \"x\"\n[store]\nbackend = \"postgres\"\n",
        3,
        "store.url_env",
        "url_env",
    ),
    (
        "a CA file for the SQLite store",
        "[org]\nname = \"x\"\n[store]\nca_file = \"ca.pem\"\n",
        4,
        "store.ca_file",
        "only used with `backend = \"postgres\"`",
    ),
    (
        "no PostgreSQL connections",
        "[org]\nname = \"x\"\n[store]\nbackend = \"postgres\"\nurl_env = \"DB\"\nmax_connections = 0\n",
        6,
        "store.max_connections",
        "between 1 and 1000",
    ),
    (
        "unknown tier section",
        "[org]\nname = \"x\"\n[tiers.secret]\nmcp = \"source\"\n",
        3,
        "tiers.secret",
        "unknown key",
    ),
    (
        "bad disclosure",
        "[org]\nname = \"x\"\n[tiers.public]\nmcp = \"everything\"\n",
        4,
        "tiers.public.mcp",
        "redacted-source",
    ),
    (
        "console session for a month",
        "[org]\nname = \"x\"\n[console]\nsession_lifetime = \"30d\"\n",
        4,
        "console.session_lifetime",
        "between 300 s and 604800 s",
    ),
    (
        "console idle timeout past the lifetime",
        "[org]\nname = \"x\"\n[console]\nidle_timeout = \"2h\"\nsession_lifetime = \"1h\"\n",
        4,
        "console.idle_timeout",
        "never applies",
    ),
    (
        "console idle timeout of seconds",
        "[org]\nname = \"x\"\n[console]\nidle_timeout = \"5s\"\n",
        4,
        "console.idle_timeout",
        "between 60 s and 86400 s",
    ),
    (
        "exceptions for two years",
        "[org]\nname = \"x\"\n[exceptions]\nmax_duration = \"730d\"\n",
        4,
        "exceptions.max_duration",
        "between 1h and 365d",
    ),
    (
        "a z-score that would alert on everything",
        "[org]\nname = \"x\"\n[detect]\nvolume_z = 0.0\n",
        4,
        "detect.volume_z",
        "standard deviations",
    ),
    (
        "a denials threshold of zero",
        "[org]\nname = \"x\"\n[detect]\ndenials = 0\n",
        4,
        "detect.denials",
        "every event",
    ),
    (
        "suspension on a rule that names no person",
        "[org]\nname = \"x\"\n[detect]\nsuspend_on = [\"egress\"]\n",
        4,
        "detect.suspend_on[0]",
        "no rule whose alert names a person",
    ),
    (
        "an enumeration window of seconds",
        "[org]\nname = \"x\"\n[detect]\nenumeration_window = \"10s\"\n",
        4,
        "detect.enumeration_window",
        "between 1m and 1d",
    ),
    (
        "exception review within a minute",
        "[org]\nname = \"x\"\n[exceptions]\nreview_sla = \"1m\"\n",
        4,
        "exceptions.review_sla",
        "between 1h and 30d",
    ),
    (
        "attestation expiry that is not a date",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"v\"\nkind = \"openai-compatible\"\nbase_url = \"http://10.0.0.5:8000\"\nregion = \"us\"\n[vendors.attestations]\nsoc2_type2 = true\nbaa = true\nexpires = { baa = \"31/12/2026\" }\n",
        11,
        "vendors[0].attestations.expires.baa",
        "is not a date",
    ),
    (
        "expiry of an attestation not held",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"v\"\nkind = \"openai-compatible\"\nbase_url = \"http://10.0.0.5:8000\"\nregion = \"us\"\n[vendors.attestations]\nsoc2_type2 = true\nbaa = true\nexpires = { dpa = \"2026-12-31\" }\n",
        11,
        "vendors[0].attestations.expires.dpa",
        "which it does not hold",
    ),
    (
        "SOC 2 period backwards",
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"v\"\nkind = \"openai-compatible\"\nbase_url = \"http://10.0.0.5:8000\"\nregion = \"us\"\n[vendors.attestations]\nsoc2_type2 = true\nbaa = true\nsoc2_period = [\"2026-12-31\", \"2026-01-01\"]\n",
        11,
        "vendors[0].attestations.soc2_period",
        "ends before it starts",
    ),
];

#[test]
fn each_kind_of_mistake_names_its_line_and_key() {
    for (what, text, line, key, phrase) in MISTAKES {
        let err = match parse(text, "moat.toml") {
            Ok(_) => panic!("{what}: accepted"),
            Err(err) => err,
        };
        let rendered = err.to_string();
        let problem = err
            .problems()
            .iter()
            .find(|p| p.key == *key || (key.is_empty() && p.line == *line))
            .unwrap_or_else(|| panic!("{what}: no problem at key `{key}` in:\n{rendered}"));
        assert_eq!(problem.line, *line, "{what}: wrong line in:\n{rendered}");
        assert!(
            rendered.contains(phrase),
            "{what}: `{phrase}` not in:\n{rendered}"
        );
        assert!(
            rendered.contains(&format!("moat.toml:{line}:")),
            "{what}: {rendered}"
        );
    }
}

#[test]
fn every_unknown_key_and_unreadable_value_is_reported_at_once() {
    // Keys in three sections and an array of tables, values of the wrong type and form:
    // one run names them all, each at its line, instead of one per attempt.
    let text = "[org]\nname = \"x\"\ncolour = \"blue\"\n[server]\nlisten = \"nope\"\nfoo = 1\n[audit]\nretention = \"banana\"\n[[repos]]\nname = \"a\"\nsource = \"/srv/a\"\ntier = \"secret\"\n";
    let err = parse(text, "moat.toml").unwrap_err();
    let found: Vec<(usize, &str)> = err
        .problems()
        .iter()
        .map(|p| (p.line, p.key.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            (3, "org.colour"),
            (5, "server.listen"),
            (6, "server.foo"),
            (8, "audit.retention"),
            (12, "repos[0].tier"),
        ],
        "{err}"
    );
    // A missing key cannot be set aside: what was found up to it is still reported.
    let text = "[org]\nname = \"x\"\ncolour = 1\n[[vendors]]\nname = \"v\"\n";
    let err = parse(text, "moat.toml").unwrap_err();
    let keys: Vec<&str> = err.problems().iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"org.colour") && keys.len() >= 2, "{err}");
}

#[test]
fn several_problems_are_reported_together() {
    let text = "[org]\nname = \"\"\n[server]\nmax_body_bytes = 1\n";
    let err = parse(text, "moat.toml").unwrap_err();
    let keys: Vec<&str> = err.problems().iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, vec!["org.name", "server.max_body_bytes"]);
}

#[test]
fn a_missing_file_says_which_and_what_to_do() {
    let err = load(Path::new("/nonexistent/moat.toml")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/nonexistent/moat.toml") && text.contains("--config"),
        "{text}"
    );
}

#[test]
fn policy_version_follows_policy_not_deployment() {
    let base = parse(FULL, "moat.toml").unwrap().policy_version();
    assert!(
        base.0.starts_with("sha256:") && base.0.len() == 71,
        "{base}"
    );

    let moved = FULL.replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:9000\"");
    assert_eq!(parse(&moved, "moat.toml").unwrap().policy_version(), base);

    let reclassified = FULL.replace("tier = \"public\"", "tier = \"internal\"");
    assert_ne!(
        parse(&reclassified, "moat.toml").unwrap().policy_version(),
        base
    );

    // Writing a default explicitly is the same policy.
    let explicit = MINIMAL.to_string() + "[tiers.restricted]\nmcp = \"structure\"\n";
    assert_eq!(
        parse(&explicit, "moat.toml").unwrap().policy_version(),
        parse(MINIMAL, "moat.toml").unwrap().policy_version()
    );
}

#[test]
fn an_azure_vendor_with_an_entra_token_file_needs_no_key() {
    let config = parse(
        "[org]\nname = \"x\"\n[[vendors]]\nname = \"az\"\nkind = \"azure-openai\"\nbase_url = \"https://acme.openai.azure.com\"\ntoken_file = \"/run/entra/token\"\napi_version = \"2025-04-01-preview\"\nregion = \"eu\"\n",
        "moat.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.vendors[0].kind, VendorKind::AzureOpenai);
    assert_eq!(
        config.vendors[0].api_version.as_deref(),
        Some("2025-04-01-preview")
    );
}

#[test]
fn the_readme_example_configuration_is_valid() {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("```toml\n[server]")
        .expect("README has the annotated example")
        + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("the example block ends");
    let config = parse(&readme[start..end], "README.md").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.repos[0].name, "payments");
    assert_eq!(config.dlp.rules[0].id, "acme-employee-id");
}

#[test]
fn a_published_configuration_keeps_the_node_s_own_server_and_store() {
    let published = "[org]\nname = \"Published\"\n\n[server]\nlisten = \"0.0.0.0:1\"\nconfig_source = \"file\"\n\n[store]\nbackend = \"sqlite\"\npath = \"elsewhere.db\"\n";
    let local = "[org]\nname = \"Local\"\n\n[server]\nlisten = \"127.0.0.1:9\"\nconfig_source = \"store\"\n\n[store]\nbackend = \"postgres\"\nurl_env = \"DB\"\n";
    let config = for_this_node(published, local, "published configuration version 3").unwrap();
    assert_eq!(
        config.org.name, "Published",
        "the organisation's part is published"
    );
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:9");
    assert_eq!(config.server.config_source, ConfigSource::Store);
    assert_eq!(config.store.backend, StoreBackend::Postgres);
    assert_eq!(
        config.store.path, None,
        "nothing of the published [store] is kept"
    );

    // A node without its own [server] takes the defaults, not the published one.
    let config = for_this_node(published, "[org]\nname = \"L\"\n", "v").unwrap();
    assert_eq!(config.server, Server::default());

    // The merged text is validated as a whole; problems name the published version.
    let bad = "[org]\nname = \"P\"\n\n[[models]]\nalias = \"gpt\"\nvendor = \"nobody\"\nversion = \"x\"\n";
    let error = for_this_node(bad, local, "published configuration version 4").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("published configuration version 4"),
        "{error}"
    );
    let error = for_this_node("[org", local, "published configuration version 5").unwrap_err();
    assert!(error.to_string().contains("version 5"), "{error}");
}
