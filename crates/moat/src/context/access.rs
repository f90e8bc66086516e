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
        Ok(moat_service::access_settings::from_config(
            &self.config,
            self.custom_policies()?,
        ))
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
