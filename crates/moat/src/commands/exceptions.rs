//! `moat exception request|list|approve|deny|revoke` over
//! `moat_service::exceptions`.

use crate::cli::ExceptionCommand;
use crate::context::{Context, UsageError};
use crate::output;
use anyhow::Result;
use moat_service::exceptions::{
    Asked, ExceptionError, ExceptionRules, Exceptions, NewException, Review,
};
use moat_service::operator::Operator;
use std::process::ExitCode;

fn said(error: ExceptionError) -> anyhow::Error {
    match error {
        ExceptionError::Invalid(message)
        | ExceptionError::Denied(message)
        | ExceptionError::Unknown(message) => UsageError(message).into(),
        ExceptionError::NotFound(_) | ExceptionError::Decided { .. } => {
            UsageError(error.to_string()).into()
        }
        other => other.into(),
    }
}

pub async fn run(context: &Context, command: ExceptionCommand, json: bool) -> Result<ExitCode> {
    let store = context.open_store().await?;
    let identity = std::sync::Arc::new(context.identity(store.clone()));
    let access = context.access(identity.clone(), store.clone())?;
    let audit = context.audit_log(store.clone()).await?;
    let policy_version = context.policy_version();
    let admin = moat_service::Admin {
        identity: &identity,
        audit: &audit,
        policy_version: &policy_version,
    };
    let (models, vendors) = context.models_and_vendors();
    let exceptions = Exceptions {
        access: &access,
        admin: &admin,
        rules: ExceptionRules::from_config(&context.config.exceptions),
        models,
        vendors,
    };
    let operator = context.operator();
    let actor = context.actor();
    let result = match command {
        ExceptionCommand::Request {
            user,
            repo,
            model,
            tier,
            vendor,
            reason,
            duration,
        } => {
            let seconds = duration
                .parse::<moat_config::Duration>()
                .map_err(|e| UsageError(format!("--for `{duration}`: {e}")))?
                .seconds;
            let user = user.or_else(|| context.operator.clone()).ok_or_else(|| {
                UsageError("say whom it is for with --user EMAIL (or ask as yourself with --operator EMAIL)".into())
            })?;
            let what = match (repo, model, tier, vendor) {
                (Some(repo), None, None, None) => Asked::Repo(repo),
                (None, Some(model), None, None) => Asked::Model(model),
                (None, None, Some(tier), None) => Asked::Tier(tier),
                (None, None, None, Some(vendor)) => Asked::Vendor(vendor),
                _ => {
                    return Err(UsageError(
                        "name one of --repo, --model, --tier and --vendor".into(),
                    )
                    .into());
                }
            };
            let asked = NewException {
                user,
                what,
                reason,
                seconds,
            };
            exceptions
                .request(&actor, &operator, asked)
                .await
                .map(|e| (e.id, e.status))
        }
        ExceptionCommand::Approve { id, note } => {
            review(&exceptions, &actor, &operator, &id, Review::Approve(note)).await
        }
        ExceptionCommand::Deny { id, note } => {
            review(&exceptions, &actor, &operator, &id, Review::Deny(note)).await
        }
        ExceptionCommand::Revoke { id, note } => {
            review(&exceptions, &actor, &operator, &id, Review::Revoke(note)).await
        }
        ExceptionCommand::List { status } => {
            let listed = exceptions.list(status.as_deref()).await;
            audit.close().await?;
            let listed = listed.map_err(said)?;
            if json {
                output::json(&serde_json::json!({ "exceptions": listed }))?;
            } else if listed.is_empty() {
                outln!("no exceptions");
            } else {
                let rows: Vec<Vec<String>> = listed
                    .iter()
                    .map(|e| {
                        let state = if e.overdue {
                            "pending, OVERDUE".to_string()
                        } else if e.status == "approved" && !e.in_force {
                            "approved, ended".to_string()
                        } else {
                            e.status.clone()
                        };
                        vec![
                            e.id.clone(),
                            e.email.clone(),
                            format!("{} {}", e.kind, e.target),
                            state,
                            e.ends_at.clone().unwrap_or_else(|| "-".into()),
                            e.reason.clone(),
                        ]
                    })
                    .collect();
                output::table(&["ID", "PERSON", "WHAT", "STATUS", "ENDS", "REASON"], &rows);
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    audit.close().await?;
    let (id, status) = result.map_err(said)?;
    if json {
        output::json(&serde_json::json!({"id": id, "status": status}))?;
    } else {
        outln!("exception {id}: {status}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn review(
    exceptions: &Exceptions<'_>,
    actor: &moat_service::AdminActor,
    operator: &Operator,
    id: &str,
    review: Review,
) -> Result<(String, String), ExceptionError> {
    exceptions
        .review(actor, operator, id, review)
        .await
        .map(|e| (e.id, e.status))
}
