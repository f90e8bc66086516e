//! What every command needs: the configuration, the data directory, the store and the
//! services built on it. Also the mapping from errors to exit codes. How the configuration
//! becomes each service's settings is split by concern: `index.rs` (the code index and the
//! detector), `access.rs` (policies and who may read what), `gateway.rs` (vendors, models,
//! limits), `hosts.rs` (repository hosts, SCIM, webhooks).

use anyhow::{Context as _, Result};
use moat_config::{Config, StoreBackend};
use moat_service::audit::{FileWitness, Witness};
use moat_service::{AdminActor, AuditLog, AuditSettings, Identity, IdentitySettings, SystemClock};
use moat_store::{PostgresOptions, PostgresStore, SqliteStore, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod access;
mod gateway;
mod hosts;
mod index;

pub use index::is_remote;

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

    /// Who operates: the person `--operator` names, or the local operator.
    pub fn operator(&self) -> moat_service::operator::Operator {
        match &self.operator {
            Some(person) => moat_service::operator::Operator::Person(person.clone()),
            None => moat_service::operator::Operator::Local(os_user()),
        }
    }

    /// The aliases of `[[models]]` and the names of `[[vendors]]`, which exceptions and
    /// kill switches may name.
    pub fn models_and_vendors(&self) -> (Vec<String>, Vec<String>) {
        (
            self.config.models.iter().map(|m| m.alias.clone()).collect(),
            self.config.vendors.iter().map(|v| v.name.clone()).collect(),
        )
    }
}

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

/// Reads a secret given by reference: an environment variable or a file.
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
