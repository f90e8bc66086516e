//! The console as this node serves it: what it shows of the configuration in force.

use crate::context::Context;
use anyhow::Result;
use moat_config::ConfigSource;
use moat_policy::PermissionSource;
use moat_service::console::{
    Console, ConsoleParts, ConsoleSettings, Deployment, ModelRow, RepoRow, VendorRow,
};
use moat_service::gateway::GatewaySettings;
use moat_service::policy_document;
use std::sync::Arc;

/// What the console is built from that `routes` already has.
pub struct Parts {
    pub store: Arc<dyn moat_store::Store>,
    pub identity: Arc<moat_service::Identity>,
    pub access: Arc<moat_service::Access>,
    pub audit: Arc<moat_service::AuditLog>,
    pub oauth: Arc<moat_service::oauth::OAuthServer>,
}

pub fn console(
    context: &Context,
    parts: Parts,
    gateway: Option<&GatewaySettings>,
) -> Result<Arc<Console>> {
    let repos = parts
        .access
        .settings()
        .repos
        .iter()
        .map(|repo| RepoRow {
            name: repo.name.clone(),
            tier: repo.tier,
            disclosure: repo.disclosure.to_string(),
            tags: repo.tags.clone(),
            region: repo.region.clone(),
            permissions: match &repo.source {
                PermissionSource::Static => "static (moat.toml)".into(),
                PermissionSource::Mirrored { host, .. } => format!("mirrored from {host}"),
            },
        })
        .collect();
    let (models, vendors) = match gateway {
        Some(settings) => (
            settings
                .models
                .iter()
                .map(|m| ModelRow {
                    alias: m.alias.clone(),
                    vendor: m.vendor.clone(),
                    version: m.version.clone(),
                    teams: m.teams.clone(),
                })
                .collect(),
            settings
                .vendors
                .iter()
                .map(|v| VendorRow {
                    name: v.name.clone(),
                    kind: format!("{:?}", v.kind),
                    region: v.region.clone(),
                    on_prem: v.on_prem,
                    attestations: v.attestations.iter().cloned().collect(),
                })
                .collect(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let policies = context.custom_policies()?;
    Ok(Arc::new(Console::new(ConsoleParts {
        store: parts.store,
        clock: Arc::new(moat_service::SystemClock),
        identity: parts.identity,
        access: parts.access,
        audit: parts.audit,
        oauth: parts.oauth,
        policy_version: context.policy_version(),
        settings: ConsoleSettings {
            idle_seconds: context.config.console.idle_timeout.seconds,
            absolute_seconds: context.config.console.session_lifetime.seconds,
        },
        deployment: Deployment {
            repos,
            models,
            vendors,
            follows_published: context.config.server.config_source == ConfigSource::Store,
            policy: Some(policy_document::Inputs {
                config: Arc::new(context.config.clone()),
                policies,
                policy_version: context.policy_version(),
                config_version: context.published.as_ref().map(|p| p.version),
            }),
            evidence: Some(moat_service::console::EvidenceKeys {
                signing: Arc::new(crate::audit_keys::signing_key(context)?),
                keys: crate::audit_keys::trusted_keys(context, &[])?,
                witness_files: context.config.audit.witness_files.clone(),
            }),
        },
    })))
}
