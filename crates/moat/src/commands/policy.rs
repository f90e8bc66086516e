//! `moat policy check|render|diff`.

use crate::cli::PolicyCommand;
use crate::context::{Context, UsageError};
use crate::output;
use anyhow::{Context as _, Result};
use moat_service::policy_document::{self, Change, Document, Format, Source};
use std::process::ExitCode;

pub async fn run(context: &Context, command: PolicyCommand, json: bool) -> Result<ExitCode> {
    match command {
        PolicyCommand::Check => check(context, json),
        PolicyCommand::Render {
            format,
            out,
            version,
        } => {
            let format: Format = format.parse().map_err(UsageError)?;
            if format == Format::Pdf && out.is_none() {
                return Err(UsageError(
                    "a PDF is not written to the terminal; give --out FILE".into(),
                )
                .into());
            }
            let document = document_of(context, version).await?;
            let text = policy_document::render(&document, format);
            match out {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    if json {
                        output::json(&serde_json::json!({
                            "out": path.display().to_string(),
                            "policy_version": document.policy_version,
                            "config_version": document.config_version,
                        }))?;
                    } else {
                        outln!(
                            "wrote the policy (policy version {}) to {}",
                            document.policy_version,
                            path.display()
                        );
                    }
                }
                None => output::say(&String::from_utf8_lossy(&text)),
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Diff { from, to } => {
            let before = document_of(context, version_arg(&from)?).await?;
            let after = document_of(context, version_arg(&to)?).await?;
            let changes = policy_document::diff(&before, &after);
            if json {
                output::json(&serde_json::json!({
                    "from": {"policy_version": before.policy_version, "config_version": before.config_version},
                    "to": {"policy_version": after.policy_version, "config_version": after.config_version},
                    "changes": changes,
                }))?;
            } else {
                print_changes(&before, &after, &changes);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check(context: &Context, json: bool) -> Result<ExitCode> {
    // Loading the context already validated the file; invalid files never get here.
    // The organisation's Cedar policies are checked against the schema here.
    let settings = context.access_settings()?;
    moat_service::Access::check(&settings)
        .map_err(|e| UsageError(format!("access policies: {e}")))?;
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

fn version_arg(text: &str) -> Result<Option<i64>> {
    if text == "current" {
        return Ok(None);
    }
    text.parse::<i64>().map(Some).map_err(|_| {
        UsageError(format!(
            "`{text}` is not a configuration version; give a number from `moat config history`, or `current`"
        ))
        .into()
    })
}

/// The policy of published configuration `version`, or of the configuration in force
/// here.
async fn document_of(context: &Context, version: Option<i64>) -> Result<Document> {
    let Some(version) = version else {
        let policies = context.custom_policies()?;
        let policy_version = context.policy_version();
        return Ok(policy_document::build(Source {
            config: &context.config,
            policies: policies.as_deref(),
            policy_version: &policy_version,
            config_version: context.published.as_ref().map(|p| p.version),
            now: moat_service::Clock::now(&moat_service::SystemClock),
        }));
    };
    let store = context.open_store().await?;
    let published = store
        .config_published(Some(version))
        .await?
        .ok_or_else(|| {
            UsageError(format!(
                "no published configuration version {version}; `moat config history` lists them"
            ))
        })?;
    let config = moat_config::parse(
        &published.text,
        &format!("published configuration version {version}"),
    )?;
    Ok(policy_document::build(Source {
        config: &config,
        policies: published.policies.as_deref(),
        policy_version: &published.policy_version,
        config_version: Some(published.version),
        now: moat_service::Clock::now(&moat_service::SystemClock),
    }))
}

fn label(document: &Document) -> String {
    match document.config_version {
        Some(version) => format!(
            "configuration version {version} (policy version {})",
            document.policy_version
        ),
        None => format!("policy version {}", document.policy_version),
    }
}

fn print_changes(before: &Document, after: &Document, changes: &[Change]) {
    outln!("from {} to {}:", label(before), label(after));
    if changes.is_empty() {
        outln!("the policy says the same");
        return;
    }
    for change in changes {
        match change {
            Change::Added { section, statement } => {
                outln!("\n+ {section} [{}]\n  {}", statement.key, statement.text);
            }
            Change::Removed { section, statement } => {
                outln!("\n- {section} [{}]\n  {}", statement.key, statement.text);
            }
            Change::Changed {
                section,
                key,
                before,
                after,
            } => {
                outln!("\n~ {section} [{key}]\n  was: {before}\n  now: {after}");
            }
        }
    }
}
