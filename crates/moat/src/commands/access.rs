//! `moat access explain` and `moat access matrix`: who can reach what, at which tier,
//! and the rule that decided, from the same authorisation service every query uses;
//! `moat access sync` (every mirror change on the record), `moat access unmapped` and
//! `moat access snapshot`.

use crate::cli::{AccessCommand, MatrixFormat};
use crate::context::Context;
use crate::output;
use anyhow::Result;
use moat_policy::Action;
use std::process::ExitCode;

use moat_http::api::views::{DecisionView, MatrixView};

pub async fn run(context: &Context, command: AccessCommand, json: bool) -> Result<ExitCode> {
    let store = context.open_store().await?;
    if let AccessCommand::Sync { repo } = &command {
        return sync(context, store, repo.as_deref(), json).await;
    }
    let identity = std::sync::Arc::new(context.identity(store.clone()));
    let access = context.access(identity, store.clone())?;
    if let AccessCommand::Snapshot = &command {
        return snapshot(context, access, store, json).await;
    }
    if let AccessCommand::Unmapped = &command {
        return unmapped(&access, json).await;
    }
    let authorizer = access.authorizer().await?;
    match command {
        AccessCommand::Explain {
            user,
            repo,
            read_source,
        } => {
            let action = if read_source {
                Action::ReadSource
            } else {
                Action::QueryContext
            };
            let decision = authorizer.decide(&user, action, &repo);
            let view = DecisionView::from(&decision);
            if json {
                output::json(&view)?;
            } else {
                output::say(&format!(
                    "{}: {} {} `{}`{}\nrules: {}\nreason: {}\n",
                    view.decision,
                    user,
                    if read_source {
                        "reading source of"
                    } else {
                        "querying"
                    },
                    repo,
                    match (&view.tier, &view.disclosure) {
                        (Some(tier), Some(disclosure)) => format!(" ({tier}: shows {disclosure})"),
                        _ => String::new(),
                    },
                    if view.rules.is_empty() {
                        "none permitted it (deny by default)".to_string()
                    } else {
                        view.rules.join(", ")
                    },
                    view.reason
                ));
            }
            Ok(if decision.allow {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        AccessCommand::Sync { .. } | AccessCommand::Unmapped | AccessCommand::Snapshot => {
            unreachable!("handled above")
        }
        AccessCommand::Matrix { format } => {
            let matrix = authorizer.matrix();
            let format = if json { MatrixFormat::Json } else { format };
            match format {
                MatrixFormat::Json => {
                    output::json(&MatrixView::from(matrix.as_slice()))?;
                }
                MatrixFormat::Csv => {
                    let mut text = String::from(moat_service::access::MATRIX_CSV_HEADER);
                    for cell in &matrix {
                        text.push_str(&moat_service::access::matrix_csv_row(cell));
                    }
                    output::say(&text);
                }
                MatrixFormat::Table => {
                    let rows: Vec<Vec<String>> = matrix
                        .iter()
                        .map(|cell| {
                            vec![
                                cell.email.clone(),
                                cell.repo.clone(),
                                if cell.decision.allow {
                                    format!(
                                        "allow: {}",
                                        cell.decision
                                            .disclosure
                                            .map_or(String::new(), |d| d.to_string())
                                    )
                                } else {
                                    "deny".to_string()
                                },
                                cell.decision.tier.map_or(String::new(), |t| t.to_string()),
                                if cell.decision.rules.is_empty() {
                                    "-".to_string()
                                } else {
                                    cell.decision.rules.join(",")
                                },
                            ]
                        })
                        .collect();
                    output::table(&["USER", "REPO", "ACCESS", "TIER", "RULES"], &rows);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn sync(
    context: &Context,
    store: std::sync::Arc<dyn moat_store::Store>,
    only: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let repos: Vec<_> = context
        .host_repos()?
        .into_iter()
        .filter(|r| only.is_none_or(|name| name == r.repo))
        .collect();
    if repos.is_empty() {
        output::say("no repository takes its permissions from GitHub or GitLab; nothing to sync\n");
        return Ok(ExitCode::SUCCESS);
    }
    let audit = std::sync::Arc::new(context.audit_log(store.clone()).await?);
    let sync = std::sync::Arc::new(moat_service::host_sync::HostSync::new(
        context.mirror_writer(store, audit.clone()),
        std::sync::Arc::new(moat_service::SystemClock),
    ));
    if only.is_none()
        && let Some((api_url, org, token)) = context.saml_links()?
        && let Err(error) = sync.link_saml_identities(&api_url, &org, &token).await
    {
        eprintln!("GitHub SAML identities could not be read ({error}); links stay as they were");
    }
    let results = sync.sync_all(&repos).await;
    audit.close().await?;
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    if json {
        let rows: Vec<serde_json::Value> = results
            .iter()
            .map(|(repo, result)| match result {
                Ok(report) => serde_json::json!({"repo": repo, "ok": true, "readers": report.readers, "pages": report.pages, "unchanged": report.unchanged}),
                Err(error) => serde_json::json!({"repo": repo, "ok": false, "error": error.to_string()}),
            })
            .collect();
        output::json(&serde_json::json!({ "synced": rows }))?;
    } else {
        for (repo, result) in &results {
            match result {
                Ok(report) => output::say(&format!(
                    "{repo}: {} readers ({} pages{})\n",
                    report.readers,
                    report.pages,
                    if report.unchanged { ", unchanged" } else { "" }
                )),
                Err(error) => eprintln!(
                    "{repo}: sync failed: {error}; access to it fails closed once the mirror is stale"
                ),
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn unmapped(access: &moat_service::Access, json: bool) -> Result<ExitCode> {
    let unmapped = access.unmapped().await?;
    if json {
        let rows: Vec<moat_http::api::views::UnmappedView> =
            unmapped.iter().map(Into::into).collect();
        output::json(&serde_json::json!({ "unmapped": rows }))?;
    } else if unmapped.is_empty() {
        output::say("every login the mirror lists is linked to a Moat user\n");
    } else {
        let rows: Vec<Vec<String>> = unmapped
            .iter()
            .map(|u| {
                vec![
                    u.host.clone(),
                    u.login.clone(),
                    u.repos.join(","),
                    u.linked_to
                        .as_ref()
                        .map_or("no link".to_string(), |e| format!("{e} is not a Moat user")),
                ]
            })
            .collect();
        output::table(&["HOST", "LOGIN", "REPOS", "WHY"], &rows);
        output::say(
            "these logins grant nothing: link them ([permissions.*] users, SAML, or a login claim)\n",
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn snapshot(
    context: &Context,
    access: moat_service::Access,
    store: std::sync::Arc<dyn moat_store::Store>,
    json: bool,
) -> Result<ExitCode> {
    let audit = std::sync::Arc::new(context.audit_log(store).await?);
    // Recording the organisation's access state is an administrator's act, on the
    // record with who did it (a state from an edited configuration would be evidence).
    let actor = context.actor();
    let decided = moat_service::operator::authorize(
        &access,
        &audit,
        &context.policy_version(),
        &actor,
        &context.operator(),
        Action::Administer,
        "access-state",
    )
    .await;
    let states = moat_service::access::states::AccessStates {
        access: std::sync::Arc::new(access),
        audit: audit.clone(),
        policy_version: context.policy_version(),
    };
    let taken = match decided {
        Ok(_) => states
            .take(actor.audit_actor())
            .await
            .map_err(anyhow::Error::from),
        Err(refused) => Err(anyhow::Error::from(refused)),
    };
    audit.close().await?;
    let taken = taken?;
    if json {
        output::json(&taken)?;
    } else if taken.new {
        output::say(&format!(
            "recorded who may reach what on {} ({} people, {} repositories; {} bytes kept): sha256 {}, audit event {}\n",
            taken.day,
            taken.people,
            taken.repos,
            taken.stored_bytes,
            taken.sha256,
            taken.recorded_seq.map_or("-".into(), |s| s.to_string()),
        ));
    } else {
        output::say(&format!(
            "{} has its record already (taken {}, sha256 {}): one a day\n",
            taken.day, taken.taken_at, taken.sha256
        ));
    }
    Ok(ExitCode::SUCCESS)
}
