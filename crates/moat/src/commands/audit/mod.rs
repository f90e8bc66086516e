//! `moat audit tail/search/verify/prove/check-proof/checkpoint/export/check-export/prune`.

mod export;
mod verify;

use crate::cli::AuditCommand;
use crate::context::{Context, UsageError};
use crate::output;
use anyhow::Result;
use moat_audit::event::Event;
use moat_service::audit::read;
use moat_store::Store;
use std::process::ExitCode;

const PAGE: usize = 10_000;

pub async fn run(context: &Context, command: AuditCommand, json: bool) -> Result<ExitCode> {
    let store = context.open_store()?;
    match command {
        AuditCommand::Tail { lines, follow } => tail(store.as_ref(), lines, follow, json).await,
        AuditCommand::Search {
            actor,
            action,
            repo,
            since,
            until,
            limit,
        } => {
            let filter = Filter {
                actor,
                action,
                repo,
                since: since.map(|t| normalize_time(&t)).transpose()?,
                until: until.map(|t| normalize_time(&t)).transpose()?,
            };
            let found = search(store.as_ref(), &filter, limit).await?;
            print_events(&found, json)?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify { against, keys } => {
            verify::verify(context, store.clone(), &against, &keys, json).await
        }
        AuditCommand::Prove { seq, from_size } => {
            verify::prove(store.as_ref(), seq, from_size).await
        }
        AuditCommand::CheckProof { file, keys } => verify::check_proof(context, &file, &keys, json),
        AuditCommand::Checkpoint => {
            let log = context.audit_log(store).await?;
            let signed = log.checkpoint().await;
            log.close().await?;
            let (size, note) = signed?;
            if json {
                output::json(&serde_json::json!({"size": size, "checkpoint": note}))?;
            } else {
                output::say(&note);
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export {
            from,
            to,
            format,
            out,
            manifest,
        } => {
            let target = export::Target {
                format,
                out: &out,
                manifest: manifest.as_deref(),
            };
            export::export(context, store, from, to, target, json).await
        }
        AuditCommand::CheckExport {
            file,
            manifest,
            keys,
        } => export::check_export(context, &file, &manifest, &keys, json),
        AuditCommand::Prune => {
            let keep = context.config.audit.body_retention.seconds;
            let before = moat_domain::UnixTime::now().plus_seconds(-keep);
            let deleted = store.audit_delete_bodies_before(before).await?;
            if json {
                output::json(
                    &serde_json::json!({"deleted_bodies": deleted, "before": before.to_rfc3339()}),
                )?;
            } else {
                output::say(&format!(
                    "deleted {deleted} stored bodies older than {}\n",
                    before.to_rfc3339()
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn tail(store: &dyn Store, lines: usize, follow: bool, json: bool) -> Result<ExitCode> {
    let size = store.audit_size().await?;
    let start = size.saturating_sub(lines as u64);
    let events = read::events(store, start, lines).await?;
    if !follow {
        print_events(&events, json)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Following is a stream: one compact line per event from the first line on, so
    // `moat audit tail -f --json | <collector>` reads every line the same way.
    print_event_lines(&events, json)?;
    let mut next = size;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let events = read::events(store, next, PAGE).await?;
        if let Some(last) = events.last() {
            next = last.seq + 1;
            print_event_lines(&events, json)?;
        }
    }
}

pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub repo: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl Filter {
    fn matches(&self, event: &Event) -> bool {
        let body = &event.body;
        let actor_ok = self.actor.as_deref().is_none_or(|who| {
            [&body.actor.user, &body.actor.email, &body.actor.token_id]
                .iter()
                .any(|field| {
                    field
                        .as_deref()
                        .is_some_and(|v| v.eq_ignore_ascii_case(who))
                })
        });
        let action_ok =
            self.action
                .as_deref()
                .is_none_or(|wanted| match wanted.strip_suffix('*') {
                    Some(prefix) => body.action.starts_with(prefix),
                    None => body.action == wanted,
                });
        let repo_ok = self.repo.as_deref().is_none_or(|repo| {
            body.resources.repos.iter().any(|r| r == repo)
                || body
                    .egress
                    .as_ref()
                    .is_some_and(|e| e.repos.iter().any(|r| r == repo))
        });
        let since_ok = self
            .since
            .as_deref()
            .is_none_or(|t| event.time.as_str() >= t);
        let until_ok = self
            .until
            .as_deref()
            .is_none_or(|t| event.time.as_str() < t);
        actor_ok && action_ok && repo_ok && since_ok && until_ok
    }
}

pub async fn search(store: &dyn Store, filter: &Filter, limit: usize) -> Result<Vec<Event>> {
    let mut found = Vec::new();
    let mut next = 0;
    loop {
        let page = read::events(store, next, PAGE).await?;
        let Some(last) = page.last() else { break };
        next = last.seq + 1;
        // Times only grow with sequence numbers: past `until`, nothing more can match.
        let past_until = filter
            .until
            .as_deref()
            .is_some_and(|t| last.time.as_str() >= t);
        found.extend(page.into_iter().filter(|e| filter.matches(e)));
        if found.len() >= limit || past_until {
            break;
        }
    }
    found.truncate(limit);
    Ok(found)
}

/// RFC 3339 or a date, as the log writes times (UTC, milliseconds), for comparison.
pub fn normalize_time(text: &str) -> Result<String> {
    use time::format_description::well_known::Rfc3339;
    let parsed = time::OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| time::OffsetDateTime::parse(&format!("{text}T00:00:00Z"), &Rfc3339))
        .map_err(|_| {
            UsageError(format!(
                "`{text}` is not a time; write 2026-11-23 or 2026-11-23T12:00:00Z"
            ))
        })?;
    let utc = parsed.to_offset(time::UtcOffset::UTC);
    utc.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .map_err(|e| anyhow::anyhow!("formatting a time: {e}"))
}

fn print_events(events: &[Event], json: bool) -> Result<()> {
    if json {
        return output::json(&serde_json::json!({ "events": events }));
    }
    let rows: Vec<Vec<String>> = events.iter().map(row).collect();
    output::table(
        &["SEQ", "TIME", "ACTION", "ACTOR", "DECISION", "WHAT"],
        &rows,
    );
    Ok(())
}

/// One line per event, for `tail -f`.
fn print_event_lines(events: &[Event], json: bool) -> Result<()> {
    for event in events {
        if json {
            output::say(&format!("{}\n", serde_json::to_string(event)?));
        } else {
            output::say(&format!("{}\n", row(event).join("  ")));
        }
    }
    Ok(())
}

fn row(event: &Event) -> Vec<String> {
    let body = &event.body;
    let actor = body
        .actor
        .email
        .clone()
        .or_else(|| body.actor.user.clone())
        .unwrap_or_else(|| "-".into());
    let decision = match &body.decision.rule {
        Some(rule) => format!("{:?} ({rule})", body.decision.outcome).to_lowercase(),
        None => format!("{:?}", body.decision.outcome).to_lowercase(),
    };
    let operation = body.details.get("operation").and_then(|v| v.as_str());
    let mut what: Vec<String> = operation.map(String::from).into_iter().collect();
    what.extend(body.resources.repos.iter().cloned());
    what.extend(body.resources.objects.iter().cloned());
    vec![
        event.seq.to_string(),
        event.time.clone(),
        body.action.clone(),
        actor,
        decision,
        what.join(" "),
    ]
}
