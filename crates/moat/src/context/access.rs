//! The policy version, the organisation's Cedar policies and who may read what.

use super::{Context, UsageError};
use anyhow::Result;
use moat_store::Store;
use std::path::Path;
use std::sync::Arc;

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
