//! `moat config publish|show|history`: configuration published for every node that
//! follows the store (`moat_service::published`).

use crate::cli::ConfigCommand;
use crate::context::{Context, UsageError};
use crate::output;
use anyhow::{Context as _, Result};
use moat_service::published::{Draft, PublishError};
use std::process::ExitCode;

pub async fn run(context: &Context, command: ConfigCommand, json: bool) -> Result<ExitCode> {
    match command {
        ConfigCommand::Publish => publish(context, json).await,
        ConfigCommand::Show { version } => show(context, version, json).await,
        ConfigCommand::History => history(context, json).await,
    }
}

async fn publish(context: &Context, json: bool) -> Result<ExitCode> {
    // Loading the context validated the file; the Cedar policies and OAuth clients are
    // checked as `moat policy check` and `moat serve` check them, so nothing a node
    // would refuse is published.
    let settings = context.access_settings()?;
    moat_service::Access::check(&settings)
        .map_err(|e| UsageError(format!("access policies: {e}")))?;
    super::oauth::configured_clients(context)?;
    let text = std::fs::read_to_string(&context.config_path)
        .with_context(|| format!("reading {}", context.config_path.display()))?;
    let draft = Draft {
        sha256: {
            use sha2::Digest as _;
            hex::encode(sha2::Sha256::digest(text.as_bytes()))
        },
        text,
        policies: context.custom_policies()?,
        policy_version: context.policy_version(),
    };
    let store = context.open_store().await?;
    let identity = context.identity(store.clone());
    let audit = context.audit_log(store.clone()).await?;
    let policy_version = context.policy_version();
    let admin = moat_service::Admin {
        identity: &identity,
        audit: &audit,
        policy_version: &policy_version,
    };
    let published = moat_service::published::publish(
        &admin,
        store.as_ref(),
        &moat_service::SystemClock,
        &context.actor(),
        draft,
    )
    .await;
    audit.close().await?;
    let published = match published {
        Ok(published) => published,
        Err(PublishError::Unchanged(version)) => {
            if json {
                output::json(&serde_json::json!({"published": false, "version": version}))?;
            } else {
                outln!("version {version} already is this configuration; nothing published");
            }
            return Ok(ExitCode::SUCCESS);
        }
        Err(error) => return Err(error.into()),
    };
    if json {
        output::json(&serde_json::json!({
            "published": true,
            "version": published.version,
            "sha256": published.sha256,
            "policy_version": published.policy_version,
        }))?;
    } else {
        outln!(
            "published configuration version {} (policy version {})",
            published.version,
            published.policy_version
        );
        outln!(
            "nodes with [server] config_source = \"store\" apply it within a second; /readyz names the version each has"
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(context: &Context, version: Option<i64>, json: bool) -> Result<ExitCode> {
    let store = context.open_store().await?;
    let Some(published) = store.config_published(version).await? else {
        return Err(UsageError(match version {
            Some(v) => {
                format!("no published configuration version {v}; `moat config history` lists them")
            }
            None => {
                "nothing published yet; `moat config publish --config FILE` publishes one".into()
            }
        })
        .into());
    };
    if json {
        output::json(&serde_json::json!({
            "version": published.version,
            "published_at": published.published_at.to_rfc3339(),
            "published_by": published.published_by,
            "sha256": published.sha256,
            "policy_version": published.policy_version,
            "text": published.text,
            "policies": published.policies,
        }))?;
    } else {
        output::say(&published.text);
    }
    Ok(ExitCode::SUCCESS)
}

async fn history(context: &Context, json: bool) -> Result<ExitCode> {
    let store = context.open_store().await?;
    let versions = store.config_history().await?;
    if json {
        let rows: Vec<_> = versions
            .iter()
            .map(|p| {
                serde_json::json!({
                    "version": p.version,
                    "published_at": p.published_at.to_rfc3339(),
                    "published_by": p.published_by,
                    "sha256": p.sha256,
                    "policy_version": p.policy_version,
                })
            })
            .collect();
        output::json(&rows)?;
    } else {
        let rows: Vec<Vec<String>> = versions
            .iter()
            .map(|p| {
                vec![
                    p.version.to_string(),
                    p.published_at.to_rfc3339(),
                    p.published_by.clone(),
                    p.policy_version.clone(),
                    p.sha256[..p.sha256.len().min(12)].to_string(),
                ]
            })
            .collect();
        output::table(
            &["VERSION", "PUBLISHED", "BY", "POLICY VERSION", "SHA-256"],
            &rows,
        );
    }
    Ok(ExitCode::SUCCESS)
}
