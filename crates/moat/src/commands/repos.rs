//! `moat repo add/list/sync/remove/classify`. Repositories are declared in `moat.toml`
//! (policy as code, reviewed in git), so the commands that change them edit that file
//! in place, keeping its comments and layout, after checking that the result is still
//! a valid configuration. Each change is on the audit record before the file changes.

use crate::cli::RepoCommand;
use crate::context::{Context, UsageError, is_remote};
use crate::output;
use anyhow::{Context as _, Result};
use serde::Serialize;
use std::process::ExitCode;

#[derive(Serialize)]
struct RepoView {
    name: String,
    source: String,
    tier: String,
    disclosure: String,
    tags: Vec<String>,
    indexed_commit: Option<String>,
    files: u64,
    symbols: u64,
    languages: Vec<String>,
}

pub async fn run(context: &Context, command: RepoCommand, json: bool) -> Result<ExitCode> {
    match command {
        RepoCommand::List => list(context, json),
        RepoCommand::Sync { repo } => {
            for config in context
                .config
                .repos
                .iter()
                .filter(|r| repo.as_deref().is_none_or(|name| name == r.name))
            {
                if is_remote(&config.source) {
                    mirror(context, config).await?;
                }
            }
            super::index::run_index(context, crate::cli::IndexArgs { repo, full: false }, json)
                .await
        }
        RepoCommand::Add {
            name,
            source,
            tier,
            branch,
            pinned_ref,
            tags,
            exclude,
        } => {
            if context.config.repos.iter().any(|r| r.name == name) {
                return Err(UsageError(format!(
                    "a repository named `{name}` is already connected; pick another name or `moat repo remove {name}` first"
                ))
                .into());
            }
            let new = moat_config::edit::NewRepo {
                name: name.clone(),
                source,
                tier: Some(tier),
                branch,
                pinned_ref,
                tags,
                exclude,
            };
            edit(context, "repo.add", &name, |text, file| {
                moat_config::edit::add_repo(text, file, &new)
            })
            .await?;
            output::say(&format!(
                "connected `{name}`; run `moat index {name}` to index it\n"
            ));
            Ok(ExitCode::SUCCESS)
        }
        RepoCommand::Remove { name } => {
            require(context, &name)?;
            edit(context, "repo.remove", &name, |text, file| {
                moat_config::edit::remove_repo(text, file, &name)
            })
            .await?;
            let removed = context.open_index()?.remove_repo(&name)?;
            output::say(&format!(
                "removed `{name}` from the configuration{}\n",
                if removed { " and the index" } else { "" }
            ));
            Ok(ExitCode::SUCCESS)
        }
        RepoCommand::Classify { name, tier } => {
            require(context, &name)?;
            edit(context, "repo.classify", &name, |text, file| {
                moat_config::edit::set_repo_tier(text, file, &name, tier)
            })
            .await?;
            output::say(&format!("`{name}` is now {tier}\n"));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn require(context: &Context, name: &str) -> Result<()> {
    if context.config.repos.iter().any(|r| r.name == name) {
        Ok(())
    } else {
        Err(UsageError(format!(
            "no repository named `{name}`; `moat repo list` shows the connected ones"
        ))
        .into())
    }
}

/// Edits `moat.toml`: the edited text must load as a valid configuration; the change
/// is on the record (requested, then applied) around the file's replacement.
async fn edit(
    context: &Context,
    operation: &'static str,
    repo: &str,
    change: impl FnOnce(
        &str,
        &str,
    ) -> Result<(String, moat_config::Config), moat_config::edit::EditError>,
) -> Result<()> {
    let path = &context.config_path;
    let before =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (after, config) = change(&before, &path.display().to_string()).map_err(|error| {
        UsageError(match error {
            moat_config::edit::EditError::Invalid(invalid) => {
                format!("the change would make the configuration invalid: {invalid}")
            }
            other => other.to_string(),
        })
    })?;
    let policies = context.custom_policies().ok().flatten();
    let new_version = config.policy_version_with(policies.as_deref()).0;
    let store = context.open_store().await?;
    let identity = context.identity(store.clone());
    let audit = context.audit_log(store).await?;
    let policy_version = context.policy_version();
    let admin = moat_service::Admin {
        identity: &identity,
        audit: &audit,
        policy_version: &policy_version,
    };
    let replaced = moat_service::config_file::replace(
        &admin,
        &context.actor(),
        operation,
        repo,
        path,
        &after,
        &new_version,
    )
    .await;
    audit.close().await?;
    replaced?;
    Ok(())
}

fn list(context: &Context, json: bool) -> Result<ExitCode> {
    let index = context.open_index()?;
    let mut views = Vec::new();
    for repo in &context.config.repos {
        let graph = index.graph(&repo.name)?;
        views.push(RepoView {
            name: repo.name.clone(),
            source: repo.source.clone(),
            tier: repo.tier.to_string(),
            disclosure: repo
                .disclosure
                .unwrap_or_else(|| context.config.tiers.effective(repo.tier).mcp)
                .to_string(),
            tags: repo.tags.clone(),
            indexed_commit: graph.as_ref().map(|g| g.commit.clone()),
            files: graph.as_ref().map_or(0, |g| g.files.len() as u64),
            symbols: graph.as_ref().map_or(0, |g| {
                g.files
                    .values()
                    .map(|f| f.parsed.symbols.len() as u64)
                    .sum()
            }),
            languages: graph
                .as_ref()
                .map(|g| {
                    g.overview
                        .languages
                        .keys()
                        .filter(|l| *l != "other")
                        .cloned()
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    if json {
        output::json(&serde_json::json!({ "repos": views }))?;
    } else {
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|v| {
                vec![
                    v.name.clone(),
                    v.tier.clone(),
                    v.disclosure.clone(),
                    v.indexed_commit
                        .as_deref()
                        .map_or("not indexed".to_string(), |c| {
                            c[..c.len().min(12)].to_string()
                        }),
                    v.symbols.to_string(),
                    v.languages.join(","),
                    v.source.clone(),
                ]
            })
            .collect();
        output::table(
            &[
                "NAME",
                "TIER",
                "MCP SHOWS",
                "INDEXED",
                "SYMBOLS",
                "LANGUAGES",
                "SOURCE",
            ],
            &rows,
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Keeps a bare mirror of a remote repository under `<data>/git/`.
async fn mirror(context: &Context, repo: &moat_config::Repo) -> Result<()> {
    let (name, url, target) = (
        repo.name.clone(),
        repo.source.clone(),
        context.repo_source(repo),
    );
    tokio::task::spawn_blocking(move || moat_service::git_mirror::sync(&name, &url, &target))
        .await??;
    Ok(())
}
