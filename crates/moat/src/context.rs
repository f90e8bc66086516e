//! What every command needs: the configuration, the data directory, the store and the
//! services built on it. Also the mapping from errors to exit codes.

use anyhow::{Context as _, Result};
use moat_config::{Config, StoreBackend};
use moat_service::audit::{FileWitness, Witness};
use moat_service::{AdminActor, AuditLog, AuditSettings, Identity, IdentitySettings, SystemClock};
use moat_store::{PostgresOptions, PostgresStore, SqliteStore, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A mistake in how Moat was invoked or configured: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn exit_code_for(error: &anyhow::Error) -> u8 {
    let usage = error
        .chain()
        .any(|cause| cause.is::<UsageError>() || cause.is::<moat_config::ConfigError>());
    if usage { 2 } else { 1 }
}

#[derive(Clone)]
pub struct Context {
    pub config: Config,
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    /// The person `--operator` names, whom Cedar decides organisation-wide actions
    /// for; `None`: the local operator (see `moat_service::operator`).
    pub operator: Option<String>,
    /// The published configuration in force, when it replaced the file's (`[server]
    /// config_source = "store"`); it carries the Cedar policies with it.
    pub published: Option<moat_store::PublishedConfig>,
}

impl Context {
    /// Loads the configuration: `--config` (`MOAT_CONFIG`), else `moat.toml` in
    /// `--data-dir` (`MOAT_DATA_DIR`), else `./moat.toml`, else the demo's
    /// `./moat-demo/moat.toml`.
    pub fn load(config: Option<&Path>, data_dir: Option<&Path>) -> Result<Context> {
        let config_path = crate::references::find_config(config, data_dir).map_err(|looked| {
            let looked: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
            UsageError(format!(
                "no configuration (looked for {}): pass --config FILE or --data-dir DIR, or run `moat demo`, which writes one",
                looked.join(", ")
            ))
        })?;
        let config = moat_config::load(&config_path)?;
        let data_dir = match data_dir {
            Some(dir) => dir.to_path_buf(),
            None => config_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        };
        Ok(Context {
            config,
            config_path,
            data_dir,
            operator: None,
            published: None,
        })
    }

    /// This node's context under a published configuration: the published text with this
    /// file's own `[server]` and `[store]`, validated again here.
    pub fn with_published(&self, published: &moat_store::PublishedConfig) -> Result<Context> {
        let local = std::fs::read_to_string(&self.config_path)
            .with_context(|| format!("reading {}", self.config_path.display()))?;
        let name = format!("published configuration version {}", published.version);
        let config = moat_config::for_this_node(&published.text, &local, &name)?;
        Ok(Context {
            config,
            config_path: self.config_path.clone(),
            data_dir: self.data_dir.clone(),
            operator: self.operator.clone(),
            published: Some(published.clone()),
        })
    }

    pub async fn open_store(&self) -> Result<Arc<dyn Store>> {
        match self.config.store.backend {
            StoreBackend::Sqlite => {
                let path = moat_config::resolve(&self.data_dir, &self.config.store.path, "moat.db");
                let store = SqliteStore::open(&path)
                    .with_context(|| format!("opening the SQLite store at {}", path.display()))?;
                Ok(Arc::new(store))
            }
            StoreBackend::Postgres => {
                let store = &self.config.store;
                let options = self.postgres_options(
                    store.url_env.as_deref(),
                    store.url_file.as_deref(),
                    store.ca_file.as_deref(),
                )?;
                Ok(Arc::new(open_postgres(&options).await?))
            }
        }
    }

    /// How to reach a PostgreSQL database whose URL is in the variable `url_env` or
    /// the file `url_file` (relative paths from the data directory).
    pub fn postgres_options(
        &self,
        url_env: Option<&str>,
        url_file: Option<&Path>,
        ca_file: Option<&Path>,
    ) -> Result<PostgresOptions> {
        let in_data_dir =
            |p: &Path| moat_config::resolve(&self.data_dir, &Some(p.to_path_buf()), "");
        let url = secret(url_env, url_file.map(in_data_dir).as_deref(), "[store] url")?
            .ok_or_else(|| UsageError("the PostgreSQL store needs url_env or url_file".into()))?;
        Ok(PostgresOptions {
            url,
            ca_file: ca_file.map(in_data_dir),
            max_connections: self.config.store.max_connections.unwrap_or(16) as usize,
        })
    }

    pub fn identity(&self, store: Arc<dyn Store>) -> Identity {
        let identity = &self.config.identity;
        let settings = IdentitySettings {
            token_ttl_seconds: identity.token_ttl.seconds,
            token_max_ttl_seconds: identity.token_max_ttl.seconds,
            rotation_grace_seconds: identity.rotation_grace.seconds,
            email_domains: self.config.org.email_domains.clone(),
        };
        let base = Identity::new(store, Arc::new(SystemClock), settings);
        match &identity.oidc {
            Some(oidc) => base.with_oidc(Arc::new(moat_service::OidcVerifier::new(
                moat_service::OidcSettings {
                    issuer: oidc.issuer.clone(),
                    audience: oidc.audience.clone(),
                    jwks_url: oidc.jwks_url.clone(),
                    min_refresh: std::time::Duration::from_secs(30),
                    max_key_age: moat_service::identity::MAX_KEY_AGE,
                    login_claims: oidc
                        .login_claims
                        .iter()
                        .map(|(host, claim)| (host.clone(), claim.clone()))
                        .collect(),
                },
            ))),
            None => base,
        }
    }
}

impl Context {
    /// Opens the audit log's writer for this deployment.
    pub async fn audit_log(&self, store: Arc<dyn Store>) -> Result<AuditLog> {
        let signer = crate::audit_keys::signing_key(self)?;
        let origin = match store.audit_latest_checkpoint().await? {
            Some((_, note)) => moat_audit::checkpoint::parse_unverified(&note)
                .map(|c| c.origin)
                .unwrap_or_else(|_| self.default_origin()),
            None => self.default_origin(),
        };
        let audit = &self.config.audit;
        let mut witnesses: Vec<Arc<dyn Witness>> = audit
            .witness_files
            .iter()
            .map(|path| Arc::new(FileWitness { path: path.clone() }) as Arc<dyn Witness>)
            .collect();
        for url in &audit.witness_urls {
            witnesses.push(Arc::new(crate::witness::HttpWitness::new(url)?));
        }
        let settings = AuditSettings {
            origin,
            max_batch: 1024,
        };
        let detector = Arc::new(self.detector()?);
        Ok(
            AuditLog::open(store, signer, settings, witnesses, Arc::new(SystemClock))
                .await?
                .redacting_with(detector),
        )
    }

    /// `moat/<org name as a slug>`: the checkpoint origin of a new log.
    fn default_origin(&self) -> String {
        let slug: String = self
            .config
            .org
            .name
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        format!("moat/{}", slug.trim_matches('-'))
    }
}

/// What a command that changes people or tokens needs: the services and the policy
/// version its audit events carry. Close it to sign the final checkpoint.
pub struct AdminTools {
    pub identity: Identity,
    pub audit: AuditLog,
    pub policy_version: String,
}

impl AdminTools {
    pub async fn open(context: &Context, store: Arc<dyn Store>) -> Result<AdminTools> {
        Ok(AdminTools {
            identity: context.identity(store.clone()),
            audit: context.audit_log(store).await?,
            policy_version: context.policy_version(),
        })
    }

    pub fn admin(&self) -> moat_service::Admin<'_> {
        moat_service::Admin {
            identity: &self.identity,
            audit: &self.audit,
            policy_version: &self.policy_version,
        }
    }

    pub async fn close(&self) -> Result<()> {
        Ok(self.audit.close().await?)
    }
}

/// The OS user at the terminal.
pub fn os_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The person at the terminal, as the audit log names a CLI change.
pub fn cli_actor() -> AdminActor {
    AdminActor {
        user: Some(format!("local:{}", os_user())),
        client: "cli".to_string(),
        ..AdminActor::default()
    }
}

impl Context {
    /// The person at the terminal, with the operator `--operator` named.
    pub fn actor(&self) -> AdminActor {
        AdminActor {
            email: self.operator.clone(),
            ..cli_actor()
        }
    }
}

impl Context {
    /// The index directory of this node: derived data, rebuilt from git when missing.
    pub fn open_index(&self) -> Result<Arc<moat_index::CodeIndex>> {
        let settings = self.index_settings()?;
        let directory = self.data_dir.join("index");
        let index = moat_index::CodeIndex::open(&directory, settings)
            .with_context(|| format!("opening the index at {}", directory.display()))?;
        Ok(Arc::new(index))
    }

    /// How this configuration indexes: its detection rules and fingerprint key.
    pub fn index_settings(&self) -> Result<moat_index::IndexSettings> {
        Ok(moat_index::IndexSettings {
            options: moat_index::IndexOptions::default(),
            detector: self.detector()?,
            fingerprint_key: crate::commands::scan::fingerprint_key(Some(self))?,
            dlp_version: self.dlp_version(),
        })
    }

    /// The sensitive-data detector with the organisation's `[dlp]` rules.
    pub fn detector(&self) -> Result<moat_dlp::Detector> {
        moat_dlp::Detector::new(&crate::commands::scan::detector_config(&self.config.dlp))
            .map_err(|e| UsageError(format!("[dlp] rules: {e}")).into())
    }

    /// Changes when the `[dlp]` section changes, so repositories are re-scrubbed.
    pub fn dlp_version(&self) -> String {
        use sha2::Digest;
        let section = serde_json::to_vec(&self.config.dlp).unwrap_or_default();
        hex::encode(&sha2::Sha256::digest(&section)[..8])
    }

    /// Repositories with their tier policy, as the context service needs them.
    pub fn repo_policies(&self) -> Vec<moat_service::RepoPolicy> {
        self.config
            .repos
            .iter()
            .map(|repo| moat_service::RepoPolicy {
                name: repo.name.clone(),
                source: self.repo_source(repo),
                tier: repo.tier,
                disclosure: repo
                    .disclosure
                    .unwrap_or_else(|| self.config.tiers.effective(repo.tier).mcp),
            })
            .collect()
    }

    /// Every connected repository as this node's index replica indexes it.
    pub fn replica_repos(&self) -> Vec<moat_service::index_replica::ReplicaRepo> {
        self.config
            .repos
            .iter()
            .map(|repo| moat_service::index_replica::ReplicaRepo {
                name: repo.name.clone(),
                source: self.repo_source(repo),
                reference: repo.pinned_ref.clone().or_else(|| repo.branch.clone()),
                exclude: repo.exclude.clone(),
            })
            .collect()
    }

    /// Where a repository's git objects are read: its local path, or the mirror that
    /// `moat repo sync` keeps of a remote one.
    pub fn repo_source(&self, repo: &moat_config::Repo) -> PathBuf {
        if is_remote(&repo.source) {
            self.data_dir.join("git").join(format!("{}.git", repo.name))
        } else {
            let path = PathBuf::from(&repo.source);
            if path.is_absolute() {
                path
            } else {
                self.config_path
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join(path)
            }
        }
    }
}

/// A git URL rather than a path on this machine.
pub fn is_remote(source: &str) -> bool {
    source.contains("://") || (source.contains('@') && source.contains(':'))
}

impl Context {
    /// The policy version in force: the configuration and the organisation's Cedar
    /// policies file, so changing either changes what audit events record.
    pub fn policy_version(&self) -> String {
        let policies = self.custom_policies().ok().flatten();
        self.config.policy_version_with(policies.as_deref()).0
    }

    /// The organisation's own Cedar policies, if `[permissions] policies_file` names them.
    /// Under a published configuration, the policies published with it.
    pub fn custom_policies(&self) -> Result<Option<String>> {
        if let Some(published) = &self.published {
            return Ok(published.policies.clone());
        }
        let Some(file) = &self.config.permissions.policies_file else {
            return Ok(None);
        };
        let path = if file.is_absolute() {
            file.clone()
        } else {
            self.config_path
                .parent()
                .unwrap_or(Path::new("."))
                .join(file)
        };
        std::fs::read_to_string(&path).map(Some).map_err(|e| {
            UsageError(format!(
                "[permissions] policies_file {}: {e}",
                path.display()
            ))
            .into()
        })
    }

    /// Repositories, grants, the training rule and Cedar policies from configuration.
    pub fn access_settings(&self) -> Result<moat_service::AccessSettings> {
        use moat_config::PermissionSource as Source;
        let training = &self.config.training;
        Ok(moat_service::AccessSettings {
            repos: self
                .config
                .repos
                .iter()
                .map(|r| moat_policy::OrgRepo {
                    name: r.name.clone(),
                    tier: r.tier,
                    disclosure: r
                        .disclosure
                        .unwrap_or_else(|| self.config.tiers.effective(r.tier).mcp),
                    tags: r.tags.clone(),
                    region: r.region.clone(),
                    // Host mirrors are not synced by this build: they fail closed.
                    source: match r.permissions {
                        Source::Static => moat_policy::PermissionSource::Static,
                        Source::Github => moat_policy::PermissionSource::Mirrored {
                            host: "github".into(),
                            fresh: false,
                        },
                        Source::Gitlab => moat_policy::PermissionSource::Mirrored {
                            host: "gitlab".into(),
                            fresh: false,
                        },
                    },
                    host_readers: Vec::new(),
                })
                .collect(),
            grants: self
                .config
                .permissions
                .static_grants
                .iter()
                .flat_map(|s| s.grants.iter())
                .map(|g| moat_policy::OrgGrant {
                    repos: g.repos.clone(),
                    teams: g.teams.clone(),
                    users: g.users.clone(),
                })
                .collect(),
            training: moat_service::TrainingRule {
                required: training.required,
                current_version: training.current_version.clone(),
                renewal_seconds: training.renewal.seconds,
            },
            custom_policies: self.custom_policies()?,
            max_staleness: {
                let permissions = &self.config.permissions;
                let mut bounds = std::collections::HashMap::new();
                if let Some(github) = &permissions.github {
                    bounds.insert("github".to_string(), github.max_staleness.seconds);
                }
                if let Some(gitlab) = &permissions.gitlab {
                    bounds.insert("gitlab".to_string(), gitlab.max_staleness.seconds);
                }
                bounds
            },
            logins: {
                let permissions = &self.config.permissions;
                let table = |users: &std::collections::BTreeMap<String, String>| {
                    users
                        .iter()
                        .map(|(login, email)| (login.to_lowercase(), email.clone()))
                        .collect()
                };
                let mut logins = std::collections::HashMap::new();
                if let Some(github) = &permissions.github {
                    logins.insert("github".to_string(), table(&github.users));
                }
                if let Some(gitlab) = &permissions.gitlab {
                    logins.insert("gitlab".to_string(), table(&gitlab.users));
                }
                logins
            },
        })
    }

    /// The authorisation service over this deployment's people and permission mirror.
    pub fn access(
        &self,
        identity: Arc<moat_service::Identity>,
        store: Arc<dyn Store>,
    ) -> Result<moat_service::Access> {
        let settings = self.access_settings()?;
        moat_service::Access::check(&settings)
            .map_err(|e| UsageError(format!("access policies: {e}")))?;
        Ok(moat_service::Access::new(identity, store, settings))
    }
}

impl Context {
    /// The gateway's vendors (credentials resolved now: a missing one stops the
    /// start), models, tier requirements and limits; `None` without `[[models]]`.
    pub fn gateway_settings(&self) -> Result<Option<moat_service::gateway::GatewaySettings>> {
        use moat_service::gateway::{
            GatewaySettings, Limits, ModelSpec, TierEgress, VendorKind, VendorSpec,
        };
        let config = &self.config;
        if config.models.is_empty() {
            return Ok(None);
        }
        let mut vendors = Vec::new();
        for vendor in &config.vendors {
            let what = format!("vendor `{}` credential", vendor.name);
            let api_key = secret(vendor.key_env.as_deref(), vendor.key_file.as_deref(), &what)?
                .unwrap_or_default();
            let a = &vendor.attestations;
            let attestations = [
                ("soc2_type2", a.soc2_type2),
                ("iso27001", a.iso27001),
                ("baa", a.baa),
                ("dpa", a.dpa),
                ("zero_retention", a.zero_retention),
            ]
            .into_iter()
            .filter(|(_, held)| *held)
            .map(|(name, _)| name.to_string())
            .collect();
            vendors.push(VendorSpec {
                name: vendor.name.clone(),
                kind: match vendor.kind {
                    moat_config::VendorKind::Openai => VendorKind::OpenAi,
                    moat_config::VendorKind::Anthropic => VendorKind::Anthropic,
                    moat_config::VendorKind::OpenaiCompatible => VendorKind::OpenAiCompatible,
                },
                base_url: vendor.base_url.trim_end_matches('/').to_string(),
                api_key,
                region: vendor.region.clone(),
                on_prem: vendor.on_prem,
                attestations,
            });
        }
        let models = config
            .models
            .iter()
            .map(|m| ModelSpec {
                alias: m.alias.clone(),
                vendor: m.vendor.clone(),
                version: m.version.clone(),
                teams: m.teams.clone(),
                fallback: m.fallback.clone(),
                options: m.options.clone(),
            })
            .collect();
        let tiers = moat_domain::Tier::ALL
            .iter()
            .map(|&tier| {
                let effective = config.tiers.effective(tier);
                let require = effective
                    .require
                    .iter()
                    .map(|a| {
                        serde_json::to_value(a)
                            .ok()
                            .and_then(|v| v.as_str().map(String::from))
                            .unwrap_or_default()
                    })
                    .collect();
                (
                    tier,
                    TierEgress {
                        require,
                        on_prem_only: effective.on_prem_only,
                    },
                )
            })
            .collect();
        let g = &config.gateway;
        Ok(Some(GatewaySettings {
            vendors,
            models,
            tiers,
            per_user: Limits {
                requests_per_minute: g.requests_per_minute,
                tokens_per_day: g.tokens_per_day,
            },
            per_team: g
                .teams
                .iter()
                .map(|(team, l)| {
                    (
                        team.clone(),
                        Limits {
                            requests_per_minute: l.requests_per_minute,
                            tokens_per_day: l.tokens_per_day,
                        },
                    )
                })
                .collect(),
            max_prompt_bytes: g
                .max_prompt_bytes
                .min(usize::try_from(config.server.max_body_bytes).unwrap_or(usize::MAX)),
            restore_placeholders: g.restore_placeholders,
            anthropic_beta: g.anthropic_beta.clone(),
            detect_min_matches: g.detect_min_matches,
            first_byte_timeout: g.first_byte_timeout.as_std(),
            attempts: g.attempts,
            policy_version: self.policy_version(),
            keep_bodies: config.audit.body_retention.seconds > 0,
            max_in_flight: g.max_in_flight,
            allow_binary: g.allow_binary,
            max_in_flight_per_user: g.max_in_flight_per_user,
            body_timeout: g.body_timeout.as_std(),
            request_deadline: g.request_deadline.as_std(),
            output_hold_tokens: g.output_hold_tokens,
        }))
    }
}

/// Reads a secret given by reference: an environment variable or a file.
/// Connects to PostgreSQL; a refused certificate says which setting to fix.
pub async fn open_postgres(options: &PostgresOptions) -> Result<PostgresStore> {
    PostgresStore::connect(options).await.map_err(|e| {
        let message = e.to_string();
        if message.contains("certificate") && options.ca_file.is_none() {
            anyhow::anyhow!(
                "{message}\nset `[store] ca_file` to the CA (PEM) that signed the database server's certificate"
            )
        } else {
            anyhow::Error::new(e).context("opening the PostgreSQL store")
        }
    })
}

pub(crate) fn secret(env: Option<&str>, file: Option<&Path>, what: &str) -> Result<Option<String>> {
    if let Some(name) = env {
        return match std::env::var(name) {
            Ok(value) if !value.trim().is_empty() => Ok(Some(value.trim().to_string())),
            _ => Err(UsageError(format!(
                "{what}: the environment variable {name} is not set"
            ))
            .into()),
        };
    }
    if let Some(path) = file {
        return std::fs::read_to_string(path)
            .map(|v| Some(v.trim().to_string()))
            .map_err(|e| UsageError(format!("{what}: {}: {e}", path.display())).into());
    }
    Ok(None)
}

impl Context {
    /// Linking host logins by signing in to the host, for each of `[permissions.github]`
    /// and `[permissions.gitlab]` that names the organisation's OAuth app there.
    pub fn host_sign_in(
        &self,
        store: Arc<dyn moat_store::Store>,
        writer: Arc<moat_service::mirror::MirrorWriter>,
    ) -> Result<Option<moat_service::host_sign_in::HostSignIn>> {
        use moat_service::host_sign_in::{
            HostApp, HostKind, HostSignIn, github_web_url, gitlab_web_url,
        };
        let permissions = &self.config.permissions;
        let configured = [
            permissions.github.as_ref().map(|g| {
                (
                    HostKind::Github,
                    g.api_url.clone(),
                    github_web_url(&g.api_url),
                    &g.oauth_client_id,
                    &g.oauth_client_secret_env,
                    &g.oauth_client_secret_file,
                )
            }),
            permissions.gitlab.as_ref().map(|g| {
                (
                    HostKind::Gitlab,
                    g.api_url.clone(),
                    gitlab_web_url(&g.api_url),
                    &g.oauth_client_id,
                    &g.oauth_client_secret_env,
                    &g.oauth_client_secret_file,
                )
            }),
        ];
        let mut apps = Vec::new();
        for (host, api_url, web_url, id, env, file) in configured.into_iter().flatten() {
            let Some(client_id) = id else { continue };
            let what = format!("[permissions.{}] oauth_client_secret", host.name());
            let client_secret =
                secret(env.as_deref(), file.as_deref(), &what)?.ok_or_else(|| {
                    UsageError(format!(
                        "{what}: set oauth_client_secret_env or oauth_client_secret_file"
                    ))
                })?;
            apps.push(HostApp {
                host,
                web_url,
                api_url,
                client_id: client_id.clone(),
                client_secret,
            });
        }
        if apps.is_empty() {
            return Ok(None);
        }
        Ok(Some(HostSignIn::new(
            apps,
            store,
            writer,
            Arc::new(SystemClock),
        )))
    }

    /// The SCIM endpoint, when `[identity] scim_token_env` (or `_file`) names its token.
    pub fn scim(
        &self,
        store: Arc<dyn moat_store::Store>,
        identity: Arc<Identity>,
        audit: Arc<AuditLog>,
        links: Arc<moat_service::mirror::MirrorWriter>,
    ) -> Result<Option<moat_http::scim::ScimEndpoint>> {
        let i = &self.config.identity;
        let Some(token) = secret(
            i.scim_token_env.as_deref(),
            i.scim_token_file.as_deref(),
            "[identity] scim_token",
        )?
        else {
            return Ok(None);
        };
        if token.len() < 32 {
            return Err(UsageError(
                "[identity] scim_token: use at least 32 characters (for example `openssl rand -hex 32`)".into(),
            )
            .into());
        }
        let service = moat_service::scim::Scim::new(
            store,
            identity,
            audit,
            Arc::new(SystemClock),
            self.policy_version(),
        )
        .with_links(links);
        Ok(Some(moat_http::scim::ScimEndpoint {
            service: Arc::new(service),
            token: moat_service::scim::ScimToken::new(&token),
        }))
    }

    /// Repositories whose permissions are mirrored from GitHub or GitLab, with the
    /// host path and token to sync them.
    pub fn host_repos(&self) -> Result<Vec<moat_service::host_sync::HostRepo>> {
        use moat_config::PermissionSource as Source;
        use moat_service::host_sync::{HostKind, HostRepo};
        let permissions = &self.config.permissions;
        let mut out = Vec::new();
        for repo in &self.config.repos {
            let (kind, api_url, token) = match repo.permissions {
                Source::Static => continue,
                Source::Github => {
                    let github = permissions.github.as_ref().ok_or_else(|| {
                        UsageError(format!("repository `{}` uses GitHub permissions but [permissions.github] is missing", repo.name))
                    })?;
                    let token = secret(
                        github.token_env.as_deref(),
                        github.token_file.as_deref(),
                        "[permissions.github] token",
                    )?
                    .ok_or_else(|| {
                        UsageError("[permissions.github] needs token_env or token_file".into())
                    })?;
                    (HostKind::Github, github.api_url.clone(), token)
                }
                Source::Gitlab => {
                    let gitlab = permissions.gitlab.as_ref().ok_or_else(|| {
                        UsageError(format!("repository `{}` uses GitLab permissions but [permissions.gitlab] is missing", repo.name))
                    })?;
                    let token = secret(
                        gitlab.token_env.as_deref(),
                        gitlab.token_file.as_deref(),
                        "[permissions.gitlab] token",
                    )?
                    .ok_or_else(|| {
                        UsageError("[permissions.gitlab] needs token_env or token_file".into())
                    })?;
                    (HostKind::Gitlab, gitlab.api_url.clone(), token)
                }
            };
            let path = match (&repo.host_path, &kind) {
                (Some(path), _) => path.clone(),
                (None, HostKind::Github) => format!(
                    "{}/{}",
                    permissions
                        .github
                        .as_ref()
                        .map(|g| g.org.as_str())
                        .unwrap_or_default(),
                    repo.name
                ),
                (None, HostKind::Gitlab) => path_of_url(&repo.source).ok_or_else(|| {
                    UsageError(format!(
                        "repository `{}`: set host_path to its GitLab project path",
                        repo.name
                    ))
                })?,
            };
            out.push(HostRepo {
                repo: repo.name.clone(),
                kind,
                path,
                api_url,
                token,
            });
        }
        Ok(out)
    }

    /// The permission mirror's writer: every change on the record in `audit`.
    pub fn mirror_writer(
        &self,
        store: Arc<dyn Store>,
        audit: Arc<AuditLog>,
    ) -> Arc<moat_service::mirror::MirrorWriter> {
        Arc::new(moat_service::mirror::MirrorWriter::new(
            store,
            audit,
            self.policy_version(),
        ))
    }

    /// `(api_url, org, token)` for linking GitHub logins through SAML identities, when
    /// `[permissions.github] saml_links` is on.
    pub fn saml_links(&self) -> Result<Option<(String, String, String)>> {
        let Some(github) = &self.config.permissions.github else {
            return Ok(None);
        };
        if !github.saml_links {
            return Ok(None);
        }
        let Some(token) = secret(
            github.token_env.as_deref(),
            github.token_file.as_deref(),
            "[permissions.github] token",
        )?
        else {
            return Ok(None);
        };
        Ok(Some((github.api_url.clone(), github.org.clone(), token)))
    }

    /// The webhook receiver, if a webhook secret or token is configured.
    pub fn webhooks(
        &self,
        writer: Arc<moat_service::mirror::MirrorWriter>,
        sync: Arc<moat_service::host_sync::HostSync>,
    ) -> Result<Option<moat_service::webhooks::Webhooks>> {
        let permissions = &self.config.permissions;
        let github_secret = match &permissions.github {
            Some(g) => secret(
                g.webhook_secret_env.as_deref(),
                g.webhook_secret_file.as_deref(),
                "[permissions.github] webhook secret",
            )?,
            None => None,
        };
        let gitlab_token = match &permissions.gitlab {
            Some(g) => secret(
                g.webhook_token_env.as_deref(),
                g.webhook_token_file.as_deref(),
                "[permissions.gitlab] webhook token",
            )?,
            None => None,
        };
        if github_secret.is_none() && gitlab_token.is_none() {
            return Ok(None);
        }
        Ok(Some(moat_service::webhooks::Webhooks {
            writer,
            clock: Arc::new(SystemClock),
            sync,
            repos: self.host_repos()?,
            github_secret: github_secret.map(String::into_bytes),
            gitlab_token,
        }))
    }
}

/// `https://gitlab.example.com/group/project.git` → `group/project`.
fn path_of_url(url: &str) -> Option<String> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .or_else(|| url.split_once(':').map(|(_, r)| r))?;
    let path = rest.split_once('/').map(|(_, p)| p).unwrap_or(rest);
    let path = path.trim_end_matches(".git").trim_matches('/');
    (!path.is_empty()).then(|| path.to_string())
}
