//! `moat repo add/list/sync/remove/classify`. Repositories are declared in `moat.toml`
//! (policy as code, reviewed in git), so the commands that change them edit that file
//! in place, keeping its comments and layout, after checking that the result is still
//! a valid configuration. Each change is on the audit record before the file changes.

use crate::cli::RepoCommand;
use crate::context::{Context, UsageError, is_remote};
use crate::output;
use anyhow::{Context as _, Result};
use moat_audit::event::{Actor, Decision, EventBody, Outcome, Resources};
use serde::Serialize;
use std::process::{Command, ExitCode};

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
                    mirror(context, config)?;
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
            edit(context, "repo.add", &name, |document| {
                let mut table = toml_edit::Table::new();
                table.insert("name", toml_edit::value(name.as_str()));
                table.insert("source", toml_edit::value(source.as_str()));
                if let Some(branch) = &branch {
                    table.insert("branch", toml_edit::value(branch.as_str()));
                }
                if let Some(pinned) = &pinned_ref {
                    table.insert("ref", toml_edit::value(pinned.as_str()));
                }
                table.insert("tier", toml_edit::value(tier.as_str()));
                if !tags.is_empty() {
                    table.insert("tags", toml_edit::value(string_array(&tags)));
                }
                if !exclude.is_empty() {
                    table.insert("exclude", toml_edit::value(string_array(&exclude)));
                }
                let repos = document
                    .entry("repos")
                    .or_insert(toml_edit::Item::ArrayOfTables(Default::default()));
                let Some(array) = repos.as_array_of_tables_mut() else {
                    return Err(UsageError(
                        "`repos` in the configuration is not an array of tables ([[repos]])".into(),
                    )
                    .into());
                };
                array.push(table);
                Ok(())
            })
            .await?;
            output::say(&format!(
                "connected `{name}`; run `moat index {name}` to index it\n"
            ));
            Ok(ExitCode::SUCCESS)
        }
        RepoCommand::Remove { name } => {
            require(context, &name)?;
            edit(context, "repo.remove", &name, |document| {
                let Some(array) = document
                    .get_mut("repos")
                    .and_then(|r| r.as_array_of_tables_mut())
                else {
                    return Ok(());
                };
                array.retain(|t| t.get("name").and_then(|n| n.as_str()) != Some(name.as_str()));
                Ok(())
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
            edit(context, "repo.classify", &name, |document| {
                if let Some(array) = document
                    .get_mut("repos")
                    .and_then(|r| r.as_array_of_tables_mut())
                {
                    for table in array.iter_mut() {
                        if table.get("name").and_then(|n| n.as_str()) == Some(name.as_str()) {
                            table.insert("tier", toml_edit::value(tier.as_str()));
                        }
                    }
                }
                Ok(())
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

fn string_array(values: &[String]) -> toml_edit::Array {
    values.iter().map(String::as_str).collect()
}

/// Edits `moat.toml`: the edited text must load as a valid configuration, the change
/// is recorded (requested, then applied) and only then written.
async fn edit(
    context: &Context,
    action: &str,
    repo: &str,
    change: impl FnOnce(&mut toml_edit::DocumentMut) -> Result<()>,
) -> Result<()> {
    let path = &context.config_path;
    let before =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut document: toml_edit::DocumentMut = before
        .parse()
        .with_context(|| format!("parsing {}", path.display()))?;
    change(&mut document)?;
    let after = document.to_string();
    // Validate by loading the new text from a file beside the real one.
    let candidate = path.with_extension("toml.new");
    std::fs::write(&candidate, &after)
        .with_context(|| format!("writing {}", candidate.display()))?;
    let loaded = moat_config::load(&candidate);
    if let Err(error) = loaded {
        let _ = std::fs::remove_file(&candidate);
        return Err(UsageError(format!(
            "the change would make the configuration invalid: {error}"
        ))
        .into());
    }
    let policies = context.custom_policies().ok().flatten();
    let new_version = loaded
        .map(|c| c.policy_version_with(policies.as_deref()).0)
        .unwrap_or_default();
    let store = context.open_store().await?;
    let audit = context.audit_log(store).await?;
    let actor = {
        let cli = context.actor();
        Actor {
            user: cli.user,
            email: cli.email,
            client: Some(cli.client),
            ..Actor::default()
        }
    };
    let event = |phase: &str| EventBody {
        actor: actor.clone(),
        action: "admin.change".into(),
        resources: Resources {
            repos: vec![repo.to_string()],
            objects: vec![path.display().to_string()],
            ..Resources::default()
        },
        decision: Decision {
            outcome: Outcome::Allow,
            rule: Some("local-admin".into()),
            reason: None,
        },
        policy_version: context.policy_version(),
        disclosed: Default::default(),
        redactions: Default::default(),
        egress: None,
        content_ref: None,
        details: serde_json::json!({
            "change": action,
            "phase": phase,
            "new_policy_version": new_version,
        }),
    };
    audit.record(event("requested")).await?;
    std::fs::rename(&candidate, path).with_context(|| format!("replacing {}", path.display()))?;
    audit.record(event("applied")).await?;
    audit.close().await?;
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

/// Keeps a bare mirror of a remote repository under `<data>/git/` with the system git.
fn mirror(context: &Context, repo: &moat_config::Repo) -> Result<()> {
    let target = context.repo_source(repo);
    let status = if target.exists() {
        Command::new("git")
            .args(["--git-dir"])
            .arg(&target)
            .args(["fetch", "--prune", "--quiet", "origin"])
            .status()
    } else {
        std::fs::create_dir_all(target.parent().unwrap_or(&context.data_dir))?;
        Command::new("git")
            .args(["clone", "--mirror", "--quiet", &repo.source])
            .arg(&target)
            .status()
    }
    .map_err(|e| {
        anyhow::anyhow!(
            "running git to fetch `{}`: {e}; is git installed?",
            repo.name
        )
    })?;
    if !status.success() {
        anyhow::bail!(
            "fetching `{}` from {} failed; check the URL and the machine's credentials for it",
            repo.name,
            repo.source
        );
    }
    Ok(())
}
