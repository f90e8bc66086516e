//! The LLM gateway end to end over HTTP: the real server on port 0 with real git
//! repositories indexed (fingerprints), Cedar access, DLP and the audit log, in front
//! of `standin-vendor`, a local server speaking OpenAI's and Anthropic's documented
//! wire formats (no machine here can reach the real vendors) that records what it
//! receives.

use moat_audit::checkpoint::SigningKey;
use moat_domain::{Disclosure, Role, Scope, Tier};
use moat_http::{AppState, HttpSettings};
use moat_index::{CodeIndex, IndexOptions, IndexSettings, NoProgress, RepoSpec};
use moat_policy::{OrgGrant, OrgRepo, PermissionSource};
use moat_service::gateway::aws::{AwsKeys, AwsSigner, AwsSource, ContainerToken, WebIdentity};
use moat_service::gateway::{
    Gateway, GatewaySettings, Limits, ModelSpec, TierEgress, VendorKind, VendorSpec,
};
use moat_service::{
    Access, AccessSettings, AuditLog, AuditSettings, Identity, IdentitySettings, IssueToken,
    NewUser, SystemClock, TrainingRule,
};
use moat_store::{SqliteStore, Store};
use serde_json::{Value, json};
use standin_vendor::StandIn;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// Code of the `claims` repository (internal, tagged `phi`): pasting it into a prompt
/// must be recognised.
const CLAIMS: &str = r#"/// Decides whether a claim is payable under the member's plan.
pub fn adjudicate(claim: &Claim, plan: &Plan) -> Result<Payable, Denial> {
    let member = plan.member(claim.member_id).ok_or(Denial::UnknownMember)?;
    if !member.active_on(claim.service_date) {
        return Err(Denial::NotCovered { reason: "inactive".into() });
    }
    let allowed = plan.fee_schedule.allowed(claim.procedure_code, claim.units);
    let copay = member.copay_for(claim.procedure_code).min(allowed);
    Ok(Payable { amount: allowed - copay, copay, deductible_applied: false })
}
"#;

const VAULT: &str = r#"/// Derives the tenant master key from the hardware root.
pub fn derive_master_key(root: &HsmHandle, tenant: TenantId) -> Result<MasterKey, HsmError> {
    let label = format!("tenant/{}/master", tenant.as_uuid());
    let wrapped = root.derive(KeyDerivation::HkdfSha384 { label: label.as_bytes(), length: 48 })?;
    let key = MasterKey::unwrap_from(&wrapped, root.attestation()?)?;
    audit_key_event(tenant, KeyEvent::Derived { fingerprint: key.fingerprint() });
    Ok(key)
}
"#;

const SECRET: &str = "AKIAQ3EGRBJXZ7KLMN4P";

fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(output.status.success());
}

fn repo(root: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("src/lib.rs"), body).unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "first"]);
    dir
}

struct Server {
    url: String,
    /// A developer in no team.
    dev: String,
    /// A developer in team `payments`, whose team may send 2 requests a minute.
    payer: String,
    /// A developer who may read the restricted `vault`.
    keeper: String,
    /// A developer in team `metered`, whose team may spend 5,000 tokens a day.
    metered: String,
    /// A token without the `gateway` scope.
    mcp_only: String,
    vendor: StandIn,
    /// The hosts of the on-premises vendor `gpus` (a third listed host has nothing
    /// listening).
    hosts: Vec<Option<StandIn>>,
    gpus: Arc<moat_service::gateway::replicas::Replicas>,
    store: Arc<dyn Store>,
    audit: Arc<AuditLog>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn token(identity: &Identity, email: &str, scopes: Vec<Scope>) -> String {
    identity
        .issue_token(IssueToken {
            user: email.into(),
            name: "t".into(),
            scopes,
            ttl_seconds: None,
        })
        .await
        .unwrap()
        .secret
}

async fn start(restore_placeholders: bool) -> Server {
    start_with_per_user(restore_placeholders, 64).await
}

/// The server, letting one person have `per_user` requests in progress at once.
async fn start_with_per_user(restore_placeholders: bool, per_user: usize) -> Server {
    start_with(restore_placeholders, per_user, false).await
}

/// The server, redacting what models write when `redact_answers`.
async fn start_with(restore_placeholders: bool, per_user: usize, redact_answers: bool) -> Server {
    let vendor = StandIn::spawn().await.unwrap();
    let hosts = vec![
        StandIn::spawn().await.unwrap(),
        StandIn::spawn().await.unwrap(),
    ];
    let gpus = Arc::new(moat_service::gateway::replicas::Replicas::new(
        vec![
            hosts[0].url.clone(),
            hosts[1].url.clone(),
            "http://127.0.0.1:9".to_string(),
        ],
        "/v1/models".into(),
        Duration::from_millis(100),
    ));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let claims = repo(root, "claims", CLAIMS);
    let vault = repo(root, "vault", VAULT);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&root.join("moat.db")).unwrap());
    let identity = Arc::new(Identity::new(
        store.clone(),
        Arc::new(SystemClock),
        IdentitySettings::default(),
    ));
    for (email, teams) in [
        ("dev@example.com", vec![]),
        ("payer@example.com", vec!["payments".to_string()]),
        ("keeper@example.com", vec![]),
        ("metered@example.com", vec!["metered".to_string()]),
    ] {
        identity
            .add_user(NewUser {
                email: email.into(),
                name: String::new(),
                roles: vec![Role::Developer],
                teams,
            })
            .await
            .unwrap();
    }
    let dev = token(&identity, "dev@example.com", vec![Scope::Gateway]).await;
    let payer = token(&identity, "payer@example.com", vec![Scope::Gateway]).await;
    let keeper = token(&identity, "keeper@example.com", vec![Scope::Gateway]).await;
    let metered = token(&identity, "metered@example.com", vec![Scope::Gateway]).await;
    let mcp_only = token(&identity, "dev@example.com", vec![Scope::Mcp]).await;
    let audit = Arc::new(
        AuditLog::open(
            store.clone(),
            SigningKey::from_seed("moat-test", [1; 32]).unwrap(),
            AuditSettings {
                origin: "test/moat".into(),
                max_batch: 256,
            },
            vec![],
            Arc::new(SystemClock),
        )
        .await
        .unwrap(),
    );
    let index = Arc::new(
        CodeIndex::open(
            &root.join("index"),
            IndexSettings {
                options: IndexOptions::default(),
                detector: moat_dlp::Detector::builtin(),
                fingerprint_key: vec![1; 32],
                dlp_version: "t".into(),
            },
        )
        .unwrap(),
    );
    for (name, source) in [("claims", &claims), ("vault", &vault)] {
        index
            .index_repo(
                &RepoSpec {
                    name,
                    source,
                    reference: None,
                    exclude: &[],
                },
                &NoProgress,
            )
            .unwrap();
    }
    let access = Arc::new(Access::new(
        identity.clone(),
        store.clone(),
        AccessSettings {
            repos: vec![
                OrgRepo {
                    name: "claims".into(),
                    tier: Tier::Internal,
                    disclosure: Disclosure::Source,
                    tags: vec!["phi".into()],
                    region: None,
                    source: PermissionSource::Static,
                    host_readers: vec![],
                },
                OrgRepo {
                    name: "vault".into(),
                    tier: Tier::Restricted,
                    disclosure: Disclosure::Structure,
                    tags: vec![],
                    region: None,
                    source: PermissionSource::Static,
                    host_readers: vec![],
                },
            ],
            grants: vec![
                OrgGrant {
                    repos: vec!["claims".into()],
                    teams: vec![],
                    users: vec!["dev@example.com".into()],
                },
                OrgGrant {
                    repos: vec!["vault".into()],
                    teams: vec![],
                    users: vec!["keeper@example.com".into()],
                },
            ],
            training: TrainingRule {
                required: false,
                current_version: None,
                renewal_seconds: 0,
            },
            custom_policies: None,
            max_staleness: Default::default(),
            logins: Default::default(),
        },
    ));
    let vendor_spec = |name: &str, kind, url: &str, on_prem, attestations: &[&str]| VendorSpec {
        name: name.into(),
        kind,
        base_url: url.into(),
        api_key: format!("vendor-key-{name}"),
        api_version: None,
        token_file: None,
        replicas: None,
        aws: None,
        vertex: None,
        region: "us".into(),
        on_prem,
        attestations: attestations.iter().map(|a| a.to_string()).collect(),
        expires: Default::default(),
    };
    let model =
        |alias: &str, vendor: &str, version: &str, teams: &[&str], fallback: Option<&str>| {
            ModelSpec {
                alias: alias.into(),
                vendor: vendor.into(),
                version: version.into(),
                teams: teams.iter().map(|t| t.to_string()).collect(),
                fallback: fallback.map(String::from),
                options: if alias == "gpt-store" {
                    ["store", "n", "previous_response_id", "web_search"]
                        .map(String::from)
                        .to_vec()
                } else {
                    vec![]
                },
                // Served only through the Responses API.
                responses_api: alias == "codex",
            }
        };
    let url = vendor.url.clone();
    let settings = GatewaySettings {
        vendors: vec![
            vendor_spec(
                "anthropic",
                VendorKind::Anthropic,
                &url,
                false,
                &["soc2_type2", "dpa"],
            ),
            vendor_spec(
                "anthropic-hipaa",
                VendorKind::Anthropic,
                &url,
                false,
                &["soc2_type2", "dpa", "baa"],
            ),
            vendor_spec(
                "openai",
                VendorKind::OpenAi,
                &url,
                false,
                &["soc2_type2", "dpa"],
            ),
            vendor_spec(
                "local",
                VendorKind::OpenAiCompatible,
                &url,
                true,
                &["soc2_type2", "dpa", "baa"],
            ),
            // Nothing listens here: a vendor that is down.
            vendor_spec(
                "down",
                VendorKind::Anthropic,
                "http://127.0.0.1:9",
                false,
                &["soc2_type2", "dpa", "baa"],
            ),
            // Azure OpenAI with a key, and with an Entra ID token from a file read
            // afresh at each request.
            VendorSpec {
                api_version: Some("2024-10-21".into()),
                ..vendor_spec(
                    "azure",
                    VendorKind::AzureOpenAi,
                    &url,
                    false,
                    &["soc2_type2", "dpa", "baa"],
                )
            },
            VendorSpec {
                api_version: Some("2025-04-01-preview".into()),
                token_file: Some(moat_service::gateway::credential::TokenFile::reread_after(
                    &root.join("entra-token"),
                    Duration::ZERO,
                )),
                ..vendor_spec(
                    "azure-entra",
                    VendorKind::AzureOpenAi,
                    &url,
                    false,
                    &["soc2_type2", "dpa"],
                )
            },
            // On premises, on three hosts.
            VendorSpec {
                replicas: Some(gpus.clone()),
                ..vendor_spec(
                    "gpus",
                    VendorKind::OpenAiCompatible,
                    &url,
                    true,
                    &["soc2_type2", "dpa", "baa"],
                )
            },
            // Amazon Bedrock, signing with the keys the stand-in knows; with a wrong
            // secret; with no credentials anywhere.
            VendorSpec {
                aws: Some(bedrock_signer(standin_vendor::AWS_SECRET_ACCESS_KEY)),
                ..vendor_spec(
                    "bedrock",
                    VendorKind::Bedrock,
                    &url,
                    false,
                    &["soc2_type2", "dpa", "baa"],
                )
            },
            VendorSpec {
                aws: Some(bedrock_signer("not-the-secret")),
                ..vendor_spec(
                    "bedrock-wrong-key",
                    VendorKind::Bedrock,
                    &url,
                    false,
                    &["soc2_type2", "dpa"],
                )
            },
            VendorSpec {
                aws: Some(Arc::new(AwsSigner::new(
                    "us-east-1",
                    vec![AwsSource::SharedFile {
                        path: root.join("no-aws-credentials"),
                        profile: "default".into(),
                        required: false,
                    }],
                ))),
                ..vendor_spec(
                    "bedrock-no-keys",
                    VendorKind::Bedrock,
                    &url,
                    false,
                    &["soc2_type2", "dpa"],
                )
            },
            // Bedrock as a pod or task would call it: a role assumed with the pod's web
            // identity token at STS; the container credentials endpoint; a token STS
            // does not take (the instance role after it must not be asked).
            VendorSpec {
                aws: Some(role_signer(AwsSource::WebIdentity(WebIdentity {
                    token_file: token_file(
                        &root.join("web-identity-token"),
                        standin_vendor::WEB_IDENTITY_TOKEN,
                    ),
                    role_arn: "arn:aws:iam::123456789012:role/moat-gateway".into(),
                    session_name: "moat-gateway".into(),
                    sts: format!("{url}/_aws/sts"),
                }))),
                ..vendor_spec(
                    "bedrock-irsa",
                    VendorKind::Bedrock,
                    &url,
                    false,
                    &["soc2_type2", "dpa"],
                )
            },
            VendorSpec {
                aws: Some(role_signer(AwsSource::Container {
                    url: format!("{url}/_aws/container-credentials"),
                    token: Some(ContainerToken::File(token_file(
                        &root.join("pod-identity-token"),
                        standin_vendor::CONTAINER_AUTHORIZATION_TOKEN,
                    ))),
                })),
                ..vendor_spec(
                    "bedrock-pod",
                    VendorKind::Bedrock,
                    &url,
                    false,
                    &["soc2_type2", "dpa"],
                )
            },
            VendorSpec {
                aws: Some(role_signer(AwsSource::WebIdentity(WebIdentity {
                    token_file: token_file(
                        &root.join("stale-web-identity-token"),
                        "eyJ.stale.token",
                    ),
                    role_arn: "arn:aws:iam::123456789012:role/moat-gateway".into(),
                    session_name: "moat-gateway".into(),
                    sts: format!("{url}/_aws/sts"),
                }))),
                ..vendor_spec(
                    "bedrock-irsa-stale",
                    VendorKind::Bedrock,
                    &url,
                    false,
                    &["soc2_type2", "dpa"],
                )
            },
            // Vertex with the machine's service account, from the metadata server.
            VendorSpec {
                vertex: Some(Arc::new(moat_service::gateway::gcp::Vertex {
                    project: "standin-project".into(),
                    location: "us-east5".into(),
                    tokens: moat_service::gateway::gcp::GcpTokens::metadata_server(&url),
                })),
                ..vendor_spec(
                    "vertex-gke",
                    VendorKind::Vertex,
                    &url,
                    false,
                    &["soc2_type2", "dpa"],
                )
            },
            // Google Vertex AI with the stand-in's test service account; with a key
            // Google does not know.
            VendorSpec {
                vertex: Some(vertex_with(
                    &root.join("vertex-key.json"),
                    &standin_vendor::service_account_key(&format!("{url}/token")),
                )),
                ..vendor_spec(
                    "vertex",
                    VendorKind::Vertex,
                    &url,
                    false,
                    &["soc2_type2", "dpa", "baa"],
                )
            },
            VendorSpec {
                vertex: Some(vertex_with(&root.join("vertex-other-key.json"), &{
                    let mut key: Value = serde_json::from_str(
                        &standin_vendor::service_account_key(&format!("{url}/token")),
                    )
                    .unwrap();
                    key["private_key"] = json!(
                        std::fs::read_to_string(concat!(
                            env!("CARGO_MANIFEST_DIR"),
                            "/../moat-service/tests/fixtures/oidc/rsa.pem"
                        ))
                        .unwrap()
                    );
                    key.to_string()
                })),
                ..vendor_spec(
                    "vertex-other-key",
                    VendorKind::Vertex,
                    &url,
                    false,
                    &["soc2_type2", "dpa"],
                )
            },
            // Its BAA's last day was yesterday: it has lapsed.
            VendorSpec {
                expires: [("baa".to_string(), lapsed_at())].into(),
                ..vendor_spec(
                    "anthropic-lapsed",
                    VendorKind::Anthropic,
                    &url,
                    false,
                    &["soc2_type2", "dpa", "baa"],
                )
            },
        ],
        models: vec![
            model(
                "claude",
                "anthropic",
                "claude-sonnet-4-5-20250929",
                &["*"],
                None,
            ),
            model(
                "claude-hipaa",
                "anthropic-hipaa",
                "claude-sonnet-4-5-20250929",
                &["*"],
                None,
            ),
            model("gpt", "openai", "gpt-4.1-2025-04-14", &["*"], None),
            model("local", "local", "qwen2.5-coder-32b-instruct", &["*"], None),
            model(
                "flaky",
                "down",
                "claude-opus-4-1-20250805",
                &["*"],
                Some("claude-hipaa"),
            ),
            model("gpt-store", "openai", "gpt-4.1-2025-04-14", &["*"], None),
            // Its fallback is for the payments team only.
            model(
                "flaky-for-payments",
                "down",
                "claude-opus-4-1-20250805",
                &["*"],
                Some("payments-only"),
            ),
            model(
                "payments-only",
                "anthropic",
                "claude-haiku-4-5-20251001",
                &["payments"],
                None,
            ),
            model(
                "claude-lapsed",
                "anthropic-lapsed",
                "claude-sonnet-4-5-20250929",
                &["*"],
                None,
            ),
            model("azure-gpt", "azure", "gpt-4o-prod", &["*"], None),
            model("azure-entra-gpt", "azure-entra", "gpt-4o-eu", &["*"], None),
            model("gpu", "gpus", "qwen2.5-coder-32b-instruct", &["*"], None),
            model(
                "claude-vertex",
                "vertex",
                "claude-sonnet-4-5@20250929",
                &["*"],
                None,
            ),
            model("gemini", "vertex", "gemini-2.5-pro", &["*"], None),
            model(
                "claude-vertex-other-key",
                "vertex-other-key",
                "claude-sonnet-4-5@20250929",
                &["*"],
                None,
            ),
            model(
                "claude-bedrock",
                "bedrock",
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &["*"],
                None,
            ),
            model(
                "llama-bedrock",
                "bedrock",
                "meta.llama3-1-70b-instruct-v1:0",
                &["*"],
                None,
            ),
            model(
                "claude-bedrock-wrong-key",
                "bedrock-wrong-key",
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &["*"],
                None,
            ),
            model(
                "claude-bedrock-no-keys",
                "bedrock-no-keys",
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &["*"],
                None,
            ),
            model(
                "claude-bedrock-irsa",
                "bedrock-irsa",
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &["*"],
                None,
            ),
            model(
                "claude-bedrock-pod",
                "bedrock-pod",
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &["*"],
                None,
            ),
            model(
                "claude-bedrock-irsa-stale",
                "bedrock-irsa-stale",
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &["*"],
                None,
            ),
            model(
                "claude-vertex-gke",
                "vertex-gke",
                "claude-sonnet-4-5@20250929",
                &["*"],
                None,
            ),
            model("codex", "openai", "gpt-5-codex", &["*"], None),
        ],
        tiers: BTreeMap::from([
            (Tier::Public, TierEgress::default()),
            (
                Tier::Internal,
                TierEgress {
                    require: vec!["soc2_type2".into(), "dpa".into()],
                    on_prem_only: false,
                },
            ),
            (
                Tier::Confidential,
                TierEgress {
                    require: vec!["soc2_type2".into(), "dpa".into(), "zero_retention".into()],
                    on_prem_only: false,
                },
            ),
            (
                Tier::Restricted,
                TierEgress {
                    require: vec![],
                    on_prem_only: true,
                },
            ),
        ]),
        per_user: Limits::default(),
        per_team: BTreeMap::from([
            (
                "payments".to_string(),
                Limits {
                    requests_per_minute: Some(2),
                    tokens_per_day: None,
                },
            ),
            (
                "metered".to_string(),
                Limits {
                    requests_per_minute: None,
                    tokens_per_day: Some(5_000),
                },
            ),
        ]),
        max_prompt_bytes: 64 * 1024,
        restore_placeholders,
        redact_answers,
        anthropic_beta: vec!["prompt-caching-2024-07-31".into()],
        detect_min_matches: 3,
        first_byte_timeout: Duration::from_secs(10),
        attempts: 2,
        policy_version: "sha256:test".into(),
        keep_bodies: true,
        max_in_flight: 64,
        allow_binary: false,
        max_in_flight_per_user: per_user,
        body_timeout: Duration::from_secs(2),
        request_deadline: Duration::from_secs(60),
        output_hold_tokens: 4096,
    };
    let gateway = Gateway::new(
        settings,
        access.clone(),
        audit.clone(),
        Arc::new(moat_dlp::Detector::builtin()),
        Some(index),
    );
    let gateway = moat_http::gateway::GatewayContext::new(Arc::new(gateway)).unwrap();
    let settings = HttpSettings {
        public_url: None,
        oidc_issuer: None,
        mcp_allowed_hosts: vec!["127.0.0.1".into()],
        mcp_allowed_origins: vec![],
        mcp_session_idle: std::time::Duration::from_secs(60),
        max_body_bytes: 256 * 1024,
        request_timeout: Duration::from_secs(30),
        policy_version: "sha256:test".into(),
    };
    let app = moat_http::router(
        AppState::new(identity, audit.clone(), settings)
            .with_access(access)
            .with_gateway(Arc::new(gateway)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(moat_http::serve(listener, app, async {
        let _ = stopped.await;
    }));
    Server {
        url,
        dev,
        payer,
        keeper,
        metered,
        mcp_only,
        vendor,
        hosts: hosts.into_iter().map(Some).collect(),
        gpus,
        store,
        audit,
        http: reqwest::Client::new(),
        _dir: dir,
        _shutdown: shutdown,
    }
}

impl Server {
    async fn anthropic(
        &self,
        token: &str,
        body: Value,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let response = self
            .http
            .post(format!("{}/v1/messages", self.url))
            .header("x-api-key", token)
            .header("anthropic-version", "2023-06-01")
            .header(
                "anthropic-beta",
                "prompt-caching-2024-07-31, secret-beta-2099",
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap_or_default())
    }

    /// Asks `model` in Anthropic's format to echo a key: the answer, whose text must
    /// show the key redacted.
    async fn anthropic_echo_of_a_key(&self, model: &str) -> Value {
        let (status, _, body) = self
            .anthropic(&self.dev, ask(model, &format!("key {SECRET}")))
            .await;
        assert_eq!(status, 200, "{body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert!(
            answer["content"][0]["text"]
                .as_str()
                .unwrap()
                .starts_with("echo: key [REDACTED:aws-access-key-id:"),
            "{answer}"
        );
        answer
    }

    async fn openai(&self, token: &str, body: Value) -> (u16, String) {
        self.post_bearer("/v1/chat/completions", token, body).await
    }

    /// A POST of `body` to `path` with `token` as a bearer token: status and text.
    async fn post_bearer(&self, path: &str, token: &str, body: Value) -> (u16, String) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    async fn events(&self) -> Vec<moat_audit::event::Event> {
        self.events_of("gateway.request").await
    }

    /// The body an outcome event keeps by reference.
    async fn kept_body(&self, event: &moat_audit::event::Event) -> Vec<u8> {
        let digest = event.body.content_ref.as_deref().expect("content_ref");
        self.store
            .audit_body(digest.strip_prefix("sha256:").unwrap())
            .await
            .unwrap()
            .expect("kept body")
    }

    async fn events_of(&self, action: &str) -> Vec<moat_audit::event::Event> {
        moat_service::audit::read::events(self.store.as_ref(), 0, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.body.action == action)
            .collect()
    }
}

/// A Vertex vendor in the stand-in's project whose service account key is `key`,
/// written to `path`.
fn vertex_with(path: &Path, key: &str) -> Arc<moat_service::gateway::gcp::Vertex> {
    std::fs::write(path, key).unwrap();
    Arc::new(moat_service::gateway::gcp::Vertex {
        project: "standin-project".into(),
        location: "us-east5".into(),
        tokens: moat_service::gateway::gcp::GcpTokens::new(path),
    })
}

/// A Bedrock signer for `us-east-1` with the keys of one role `source`.
fn role_signer(source: AwsSource) -> Arc<AwsSigner> {
    Arc::new(AwsSigner::new("us-east-1", vec![source]))
}

/// `path`, holding `token`.
fn token_file(path: &Path, token: &str) -> std::path::PathBuf {
    std::fs::write(path, token).unwrap();
    path.to_path_buf()
}

/// A Bedrock signer for `us-east-1` with the stand-in's key id and `secret`.
fn bedrock_signer(secret: &str) -> Arc<AwsSigner> {
    Arc::new(AwsSigner::new(
        "us-east-1",
        vec![AwsSource::Fixed(AwsKeys {
            access_key_id: standin_vendor::AWS_ACCESS_KEY_ID.into(),
            secret_access_key: secret.into(),
            session_token: None,
        })],
    ))
}

/// Each SSE event's name and data (parsed; data that is not JSON, `[DONE]`, as a string).
fn sse_events(body: &str) -> Vec<(Option<String>, Value)> {
    body.split("\n\n")
        .filter(|event| !event.trim().is_empty())
        .map(|event| {
            let name = event
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .map(String::from);
            let data = event
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or_default();
            let value = serde_json::from_str(data).unwrap_or(Value::String(data.into()));
            (name, value)
        })
        .collect()
}

fn ask(model: &str, text: &str) -> Value {
    json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn a_request_reaches_the_vendor_as_the_pinned_version_with_secrets_redacted() {
    let server = start(false).await;
    let (status, _, body) = server
        .anthropic(
            &server.dev,
            ask("claude", &format!("deploy with key {SECRET} please")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let text = answer["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("echo: deploy with key [REDACTED:aws-access-key-id:"),
        "{text}"
    );

    let received = server.vendor.requests();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.body["model"], "claude-sonnet-4-5-20250929");
    assert!(!request.raw_body.contains(SECRET));
    // The vendor gets the organisation's key, never the caller's token; only
    // allowlisted betas pass.
    assert_eq!(request.headers["x-api-key"], "vendor-key-anthropic");
    assert!(!request.raw_body.contains(&server.dev));
    assert!(request.headers.values().all(|v| !v.contains(&server.dev)));
    assert_eq!(
        request.headers["anthropic-beta"],
        "prompt-caching-2024-07-31"
    );

    let events = server.events().await;
    assert_eq!(events.len(), 1);
    let event = &events[0].body;
    assert_eq!(event.decision.outcome, moat_audit::event::Outcome::Allow);
    let egress = event.egress.as_ref().unwrap();
    assert_eq!(
        (egress.vendor.as_str(), egress.model.as_str()),
        ("anthropic", "claude-sonnet-4-5-20250929")
    );
    assert_eq!(egress.bytes, request.raw_body.len() as u64);
    assert_eq!(event.redactions.get("aws-access-key-id"), Some(&1));
    assert_eq!(event.details["alias"], "claude");
    assert!(event.details["tokens_in"].as_u64().unwrap() > 0);
    assert!(event.details["tokens_out"].as_u64().unwrap() > 0);
    assert_eq!(event.actor.email.as_deref(), Some("dev@example.com"));
}

#[tokio::test]
async fn placeholders_are_restored_when_policy_allows_even_split_across_stream_deltas() {
    let server = start(true).await;
    let prompt = format!("my key is {SECRET}, keep it");
    let (status, _, body) = server.anthropic(&server.dev, ask("claude", &prompt)).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["content"][0]["text"], format!("echo: {prompt}"));

    // Streamed in pieces: the stand-in cuts the echo wherever, placeholders included.
    let mut streamed = ask("claude", &prompt);
    streamed["stream"] = json!(true);
    let (status, _, body) = server.anthropic(&server.dev, streamed).await;
    assert_eq!(status, 200, "{body}");
    let text: String = body
        .split("\n\n")
        .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .filter_map(|v| v["delta"]["text"].as_str().map(String::from))
        .collect();
    assert_eq!(text, format!("echo: {prompt}"));
    assert!(body.contains("event: message_stop"));
    for request in server.vendor.requests() {
        assert!(!request.raw_body.contains(SECRET));
    }
}

#[tokio::test]
async fn openai_streams_end_with_usage_and_done_and_tool_calls_pass_through() {
    let server = start(false).await;
    let body = json!({
        "model": "gpt",
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "hello there"}],
    });
    let (status, text) = server.openai(&server.dev, body).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(text.contains("\"usage\""));
    let tools = json!({
        "model": "gpt",
        "messages": [{"role": "user", "content": "STANDIN_TOOL weather in Paris"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    });
    let (status, text) = server.openai(&server.dev, tools).await;
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    assert_eq!(
        server.vendor.requests()[1].body["model"],
        "gpt-4.1-2025-04-14"
    );
    let events = server.events().await;
    assert_eq!(events.len(), 2);
    assert!(
        events[0].body.details["tokens_in"].as_u64().unwrap() > 0,
        "usage from the stream"
    );
}

#[tokio::test]
async fn code_from_a_phi_or_restricted_repository_goes_only_where_attested() {
    let server = start(false).await;
    let prompt = format!("Why is the copay wrong here?\n```rust\n{CLAIMS}```");
    // `claims` is tagged phi: a vendor without a BAA is refused, naming what is missing.
    let (status, _, body) = server.anthropic(&server.dev, ask("claude", &prompt)).await;
    assert_eq!(status, 403, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "permission_error");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`claims`")
            && message.contains("internal tier")
            && message.contains("baa"),
        "{message}"
    );
    assert!(
        server.vendor.requests().is_empty(),
        "nothing reached the vendor"
    );
    // The same prompt to a vendor with a BAA goes through.
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude-hipaa", &prompt))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.vendor.requests().len(), 1);

    // Restricted code: only the on-premises vendor.
    let prompt = format!("refactor this\n{VAULT}");
    let (status, body) = server
        .openai(
            &server.dev,
            json!({"model": "gpt", "messages": [{"role": "user", "content": prompt}]}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("only on-premises vendors"), "{body}");
    assert!(body.contains("\"code\":\"egress_denied\""), "{body}");
    let (status, body) = server
        .openai(
            &server.dev,
            json!({"model": "local", "messages": [{"role": "user", "content": prompt}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let events = server.events().await;
    let denied: Vec<_> = events
        .iter()
        .filter(|e| e.body.decision.outcome == moat_audit::event::Outcome::Deny)
        .collect();
    assert_eq!(denied.len(), 2);
    assert_eq!(
        denied[0].body.decision.rule.as_deref(),
        Some("gateway.egress")
    );
    assert_eq!(denied[0].body.resources.repos, vec!["claims".to_string()]);
    assert_eq!(
        denied[0].body.details["tiers_detected"]["claims"],
        "internal"
    );
    let allowed_vault = events.last().unwrap();
    assert_eq!(
        allowed_vault.body.egress.as_ref().unwrap().repos,
        vec!["vault".to_string()]
    );
}

/// The start of today (UTC): the expiry of an attestation whose last day was
/// yesterday.
fn lapsed_at() -> moat_domain::UnixTime {
    let now = moat_service::Clock::now(&SystemClock);
    moat_domain::UnixTime::from_date(&now.to_date()).unwrap()
}

/// A vendor whose BAA lapsed yesterday no longer receives PHI-tagged code: the
/// refusal names the document and its last day, nothing reaches the vendor, and the
/// refusal is on the record; code that needs no BAA still goes to it.
#[tokio::test]
async fn a_lapsed_attestation_stops_the_code_that_needs_it() {
    let server = start(false).await;
    let prompt = format!("Why is the copay wrong here?\n```rust\n{CLAIMS}```");
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude-lapsed", &prompt))
        .await;
    assert_eq!(status, 403, "{body}");
    let yesterday = lapsed_at().plus_seconds(-86_400).to_date();
    assert!(
        body.contains("`claims`")
            && body.contains(&format!("`baa` expired on {yesterday}"))
            && body.contains("anthropic-lapsed"),
        "{body}"
    );
    assert!(
        server.vendor.requests().is_empty(),
        "nothing reached the vendor"
    );
    let (status, _, body) = server
        .anthropic(
            &server.dev,
            ask("claude-lapsed", "What does HTTP 418 mean?"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let events = server.events().await;
    let denied = events
        .iter()
        .find(|e| e.body.decision.outcome == moat_audit::event::Outcome::Deny)
        .expect("the refusal is on the record");
    assert_eq!(denied.body.decision.rule.as_deref(), Some("gateway.egress"));
}

/// An approved exception for `email`, of `kind` on `target`, in force for an hour, as
/// a security reviewer's approval writes it.
async fn approved(
    server: &Server,
    email: &str,
    kind: &str,
    target: &str,
    id: &str,
) -> moat_store::PolicyException {
    let person = server.store.user_by_email(email).await.unwrap().unwrap();
    let now = moat_domain::UnixTime::now();
    let mut exception = moat_store::PolicyException {
        id: id.into(),
        user_id: person.id.0.clone(),
        kind: kind.into(),
        target: target.into(),
        reason: "incident 4711".into(),
        seconds: 3_600,
        status: "pending".into(),
        requested_at: now,
        requested_by: email.into(),
        decided_at: None,
        decided_by: None,
        note: None,
        starts_at: None,
        ends_at: None,
    };
    server.store.exception_insert(&exception).await.unwrap();
    exception.status = "approved".into();
    exception.decided_at = Some(now);
    exception.decided_by = Some("sec@example.com".into());
    exception.starts_at = Some(now);
    exception.ends_at = Some(now.plus_seconds(3_600));
    assert!(
        server
            .store
            .exception_update(&exception, "pending")
            .await
            .unwrap()
    );
    exception
}

/// A vendor exception sets aside the refusal of code the vendor's attestations do not
/// cover, for its one person and that vendor, named as the rule on the record.
#[tokio::test]
async fn a_vendor_exception_sets_aside_a_lapsed_attestation_for_one_person() {
    let server = start(false).await;
    let prompt = format!("Why is the copay wrong here?\n```rust\n{CLAIMS}```");
    let (status, _, _) = server
        .anthropic(&server.dev, ask("claude-lapsed", &prompt))
        .await;
    assert_eq!(status, 403);
    approved(
        &server,
        "dev@example.com",
        "vendor",
        "anthropic",
        "ex_00000000000000a1",
    )
    .await;
    let (status, _, _) = server
        .anthropic(&server.dev, ask("claude-lapsed", &prompt))
        .await;
    assert_eq!(
        status, 403,
        "an exception for another vendor sets nothing aside"
    );
    approved(
        &server,
        "dev@example.com",
        "vendor",
        "anthropic-lapsed",
        "ex_00000000000000a2",
    )
    .await;
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude-lapsed", &prompt))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.vendor.requests().len(), 1, "the code went, once");
    let answered = server.events().await;
    assert_eq!(
        answered.last().unwrap().body.decision.rule.as_deref(),
        Some("exception:ex_00000000000000a2")
    );
    // Code that needs no exception is sent under the allowlist, naming none.
    let (status, _, _) = server
        .anthropic(
            &server.dev,
            ask("claude-lapsed", "What does HTTP 418 mean?"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        server
            .events()
            .await
            .last()
            .unwrap()
            .body
            .decision
            .rule
            .as_deref(),
        Some("gateway.allowlist")
    );
}

/// An approved model exception lets one person use a model their teams may not, names
/// itself as the rule of the request's audit events, and ends when revoked; every other
/// check still applies to them.
#[tokio::test]
async fn a_model_exception_lets_one_person_use_a_teams_model_on_the_record() {
    let server = start(false).await;
    let (status, _, body) = server
        .anthropic(&server.dev, ask("payments-only", "hi"))
        .await;
    assert_eq!(status, 403, "{body}");
    let mut exception = approved(
        &server,
        "dev@example.com",
        "model",
        "payments-only",
        "ex_0123456789abcdef",
    )
    .await;
    let (status, _, body) = server
        .anthropic(&server.dev, ask("payments-only", "hi"))
        .await;
    assert_eq!(status, 200, "{body}");
    let answered = server.events().await;
    let last = answered.last().unwrap();
    assert_eq!(
        last.body.decision.rule.as_deref(),
        Some("exception:ex_0123456789abcdef"),
        "the request names the exception that allowed it"
    );
    let requested = server.events_of("gateway.requested").await;
    assert_eq!(
        requested.last().unwrap().body.decision.rule.as_deref(),
        Some("exception:ex_0123456789abcdef")
    );
    // Another person is not covered.
    let (status, _, _) = server
        .anthropic(&server.keeper, ask("payments-only", "hi"))
        .await;
    assert_eq!(status, 403);
    // Revoked: refused at the next request.
    exception.status = "revoked".into();
    exception.ends_at = Some(moat_domain::UnixTime::now());
    assert!(
        server
            .store
            .exception_update(&exception, "approved")
            .await
            .unwrap()
    );
    let (status, _, _) = server
        .anthropic(&server.dev, ask("payments-only", "hi"))
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn unlisted_models_tokens_and_malformed_bodies_get_the_callers_error_format() {
    let server = start(false).await;
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude-latest", "hi"))
        .await;
    assert_eq!(status, 403);
    assert!(
        body.contains("not on this organisation's allowlist")
            && body.contains("claude, claude-hipaa, gpt, local, flaky"),
        "{body}"
    );
    let (status, _, body) = server
        .anthropic(&server.dev, ask("payments-only", "hi"))
        .await;
    assert_eq!(status, 403);
    assert!(body.contains("for teams payments"), "{body}");
    // An embeddings request is not translated to a Messages model: said so, naming
    // where to send it.
    let (status, body) = server
        .post_bearer(
            "/v1/embeddings",
            &server.dev,
            json!({"model": "claude", "input": "hi"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("/v1/messages"), "{body}");

    let (status, headers, body) = server
        .anthropic("moat_not-a-real-token", ask("claude", "hi"))
        .await;
    assert_eq!(status, 401, "{body}");
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/v1\"",
            server.url
        )) && challenge.contains("scope=\"gateway\"")
            && challenge.contains("error=\"invalid_token\""),
        "a 401 tells an OAuth client where to sign in for the gateway: {challenge}"
    );
    assert!(body.contains("authentication_error"));
    let (status, _, body) = server
        .anthropic(&server.mcp_only, ask("claude", "hi"))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("`gateway` scope"), "{body}");

    // Malformed JSON, a field of the wrong type, an oversized prompt.
    let response = server
        .http
        .post(format!("{}/v1/chat/completions", server.url))
        .bearer_auth(&server.dev)
        .header("content-type", "application/json")
        .body("{\"model\": \"gpt\", \"messages\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let (status, body) = server
        .openai(&server.dev, json!({"model": "gpt", "messages": [{"role": "user", "content": "x"}], "max_tokens": "lots"}))
        .await;
    assert_eq!(status, 400);
    assert!(
        body.contains("`max_tokens` must be a positive integer"),
        "{body}"
    );
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude", &"x".repeat(100 * 1024)))
        .await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("request_too_large"), "{body}");
    let response = server
        .http
        .post(format!("{}/v1/messages", server.url))
        .header("x-api-key", &server.dev)
        .header("content-type", "application/json")
        .body("x".repeat(300 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["type"], "error",
        "the server-wide limit answers in the caller's format too"
    );

    assert!(
        server.vendor.requests().is_empty(),
        "nothing reached the vendor"
    );
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let server = start(false).await;
    for _ in 0..2 {
        let (status, _, body) = server.anthropic(&server.payer, ask("claude", "hi")).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, headers, body) = server.anthropic(&server.payer, ask("claude", "hi")).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body.contains("rate_limit_error") && body.contains("team payments"),
        "{body}"
    );
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Someone outside the team is not affected.
    let (status, _, _) = server.anthropic(&server.dev, ask("claude", "hi")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_vendor_failure_mid_stream_ends_the_stream_with_an_error_event() {
    let server = start(false).await;
    let mut body = ask("claude", "STANDIN_FAIL_MIDSTREAM please");
    body["stream"] = json!(true);
    let (status, _, text) = server.anthropic(&server.dev, body).await;
    assert_eq!(status, 200);
    assert!(text.contains("event: message_start"), "{text}");
    assert!(!text.contains("event: message_stop"), "{text}");
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    assert!(last.starts_with("event: error\ndata: "), "{last}");
    let error: Value =
        serde_json::from_str(last.lines().nth(1).unwrap().strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(error["error"]["type"], "api_error");

    let body = json!({"model": "gpt", "stream": true, "messages": [{"role": "user", "content": "STANDIN_FAIL_MIDSTREAM"}]});
    let (status, text) = server.openai(&server.dev, body).await;
    assert_eq!(status, 200);
    assert!(!text.contains("[DONE]"), "{text}");
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    let error: Value = serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(error["error"]["code"], "vendor_stream_failed");

    let events = server.events().await;
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.body.details["status"] == 502));
}

#[tokio::test]
async fn a_vendor_that_is_down_or_failing_falls_back_before_the_first_byte() {
    let server = start(false).await;
    // `flaky`'s vendor is down; its fallback answers.
    let (status, _, body) = server.anthropic(&server.dev, ask("flaky", "hi")).await;
    assert_eq!(status, 200, "{body}");
    let events = server.events().await;
    let event = &events.last().unwrap().body;
    assert_eq!(event.egress.as_ref().unwrap().vendor, "anthropic-hipaa");
    assert_eq!(event.details["attempts"], 3);
    // A vendor answering 500 before streaming: retried, then the error in our format.
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude", "STANDIN_FAIL_BEFORE"))
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("vendor `anthropic` answered 500"), "{body}");
    assert_eq!(
        server.vendor.requests().len(),
        3,
        "one for flaky's fallback, two attempts"
    );
}

#[tokio::test]
async fn models_lists_only_what_the_caller_may_use_in_both_shapes_and_count_tokens_works() {
    let server = start(false).await;
    let list: Value = server
        .http
        .get(format!("{}/v1/models", server.url))
        .bearer_auth(&server.dev)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "claude",
            "claude-hipaa",
            "gpt",
            "local",
            "flaky",
            "gpt-store",
            "flaky-for-payments",
            "claude-lapsed",
            "azure-gpt",
            "azure-entra-gpt",
            "gpu",
            "claude-vertex",
            "gemini",
            "claude-vertex-other-key",
            "claude-bedrock",
            "llama-bedrock",
            "claude-bedrock-wrong-key",
            "claude-bedrock-no-keys",
            "claude-bedrock-irsa",
            "claude-bedrock-pod",
            "claude-bedrock-irsa-stale",
            "claude-vertex-gke",
            "codex"
        ]
    );
    let list: Value = server
        .http
        .get(format!("{}/v1/models", server.url))
        .header("x-api-key", &server.payer)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["has_more"], false);
    assert_eq!(list["data"].as_array().unwrap().len(), 24);
    assert_eq!(list["data"][0]["type"], "model");

    let response = server
        .http
        .post(format!("{}/v1/messages/count_tokens", server.url))
        .header("x-api-key", &server.dev)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude", "messages": [{"role": "user", "content": format!("count {SECRET}")}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let counted: Value = response.json().await.unwrap();
    assert!(counted["input_tokens"].as_u64().unwrap() > 0);
    let received = server.vendor.requests();
    assert_eq!(received[0].path, "/v1/messages/count_tokens");
    assert!(!received[0].raw_body.contains(SECRET));
}

#[tokio::test]
async fn bodies_are_kept_by_reference_and_answered_code_is_remembered_for_provenance() {
    let server = start(false).await;
    let prompt = format!("token {SECRET}: STANDIN_WRITE_CODE");
    let (status, _, body) = server.anthropic(&server.dev, ask("claude", &prompt)).await;
    assert_eq!(status, 200, "{body}");
    let events = server.events().await;
    let event = &events[0];
    let content_ref = event.body.content_ref.as_deref().expect("content_ref");
    let digest = content_ref.strip_prefix("sha256:").unwrap();
    let kept = server
        .store
        .audit_body(digest)
        .await
        .unwrap()
        .expect("kept body");
    let kept = String::from_utf8(kept).unwrap();
    assert!(kept.contains("backoff_schedule") && kept.contains("[REDACTED:aws-access-key-id:"));
    assert!(
        !kept.contains(SECRET),
        "what is kept is what left: redacted"
    );

    let written = moat_index::fingerprint::fingerprints(standin_vendor::WRITTEN_CODE);
    let found = server.store.provenance_matches(&written, 3).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0.seq, event.seq);
    assert_eq!(found[0].0.model, "claude-sonnet-4-5-20250929");

    // Code the model only repeats from the prompt is not counted as the model's.
    let pasted = "def settle(ledger, amount):\n    if amount <= 0:\n        raise ValueError('amount must be positive')\n    ledger.append(('debit', amount))\n    return sum(x for _, x in ledger)\n";
    let mut streamed = ask("claude", &format!("like this:\n```python\n{pasted}```"));
    streamed["stream"] = json!(true);
    let (status, _, body) = server.anthropic(&server.dev, streamed).await;
    assert_eq!(status, 200, "{body}");
    let found = server
        .store
        .provenance_matches(&moat_index::fingerprint::fingerprints(pasted), 1)
        .await
        .unwrap();
    assert!(found.is_empty(), "{found:?}");

    // Streamed answers are remembered too.
    let mut streamed = ask("claude", "STANDIN_WRITE_CODE");
    streamed["stream"] = json!(true);
    let (status, _, body) = server.anthropic(&server.dev, streamed).await;
    assert_eq!(status, 200, "{body}");
    let found = server.store.provenance_matches(&written, 3).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[1].0.seq, server.events().await[2].seq);
}

#[tokio::test]
async fn a_repository_without_a_usable_index_closes_the_gateway_until_reindexed() {
    let server = start(false).await;
    let graphs = server._dir.path().join("index").join("repos");
    for entry in std::fs::read_dir(&graphs).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("vault")
        {
            // Corrupt: the checksum no longer matches, so the graph is not used.
            let mut bytes = std::fs::read(&path).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
            std::fs::write(&path, bytes).unwrap();
        }
    }
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude", &format!("look:\n{CLAIMS}")))
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("`vault` has no usable index") && body.contains("moat index vault"),
        "{body}"
    );
    assert!(server.vendor.requests().is_empty());
    // Prose has no fingerprints to check: it still goes through.
    let (status, _, body) = server.anthropic(&server.dev, ask("claude", "hello")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn past_max_in_flight_new_requests_are_told_to_retry_instead_of_queueing() {
    let server = Arc::new(start(false).await);
    let mut slow = ask("claude", "STANDIN_SLOW_STREAM keep this open");
    slow["stream"] = json!(true);
    // Fill every slot (max_in_flight = 64) with streams the stand-in paces slowly.
    let held: Vec<_> = (0..64)
        .map(|_| {
            let server = server.clone();
            let slow = slow.clone();
            tokio::spawn(async move {
                let response = server
                    .http
                    .post(format!("{}/v1/messages", server.url))
                    .header("x-api-key", &server.dev)
                    .header("anthropic-version", "2023-06-01")
                    .json(&slow)
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                (status, response.text().await.unwrap())
            })
        })
        .collect();
    // Wait until the stand-in has all 64 (each a slot held in the gateway).
    for _ in 0..200 {
        if server.vendor.requests().len() >= 64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(server.vendor.requests().len(), 64);
    // Another person (the developer's own allowance is spent too).
    let (status, headers, body) = server
        .anthropic(&server.keeper, ask("claude", "one more"))
        .await;
    assert_eq!(status, 529, "{body}");
    assert!(body.contains("overloaded_error"), "{body}");
    assert_eq!(headers["retry-after"], "1");
    for task in held {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("event: message_stop"), "{body}");
    }
    // Slots are given back when the streams end.
    let (status, _, body) = server.anthropic(&server.dev, ask("claude", "now")).await;
    assert_eq!(status, 200, "{body}");
}

mod answers;
mod azure;
mod bedrock;
mod edges;
mod embeddings;
mod kill_switches;
mod replicas;
mod responses;
mod responses_only;
mod translate;
mod vertex;
