//! `moat policy check`.

use crate::cli::PolicyCommand;
use crate::context::Context;
use crate::output;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(context: &Context, command: PolicyCommand, json: bool) -> Result<ExitCode> {
    match command {
        PolicyCommand::Check => {
            // Loading the context already validated the file; invalid files never get here.
            // The organisation's Cedar policies are checked against the schema here.
            let settings = context.access_settings()?;
            moat_service::Access::check(&settings)
                .map_err(|e| crate::context::UsageError(format!("access policies: {e}")))?;
            // OAuth clients' redirect URIs, as `moat serve` checks them.
            super::oauth::configured_clients(context)?;
            let config = &context.config;
            let version = context.policy_version();
            if json {
                output::json(&serde_json::json!({
                    "valid": true,
                    "file": context.config_path.display().to_string(),
                    "policy_version": version,
                    "repos": config.repos.len(),
                    "vendors": config.vendors.len(),
                    "models": config.models.len(),
                }))?;
            } else {
                outln!("{}: valid", context.config_path.display());
                outln!("policy version: {version}");
                outln!(
                    "{} repositories, {} vendors, {} models",
                    config.repos.len(),
                    config.vendors.len(),
                    config.models.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
