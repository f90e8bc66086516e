//! `moat audit tail/search/verify/prove/check-proof/checkpoint/export/check-export/prune`.

mod export;
mod verify;

use crate::cli::AuditCommand;
use crate::context::{Context, UsageError};
use crate::output;
use anyhow::Result;
use moat_audit::event::Event;
use moat_service::audit::read;
use moat_service::audit::search::{self, Filter};
use moat_store::Store;
use std::process::ExitCode;

const PAGE: usize = 10_000;

pub async fn run(context: &Context, command: AuditCommand, json: bool) -> Result<ExitCode> {
    let store = context.open_store().await?;
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
        AuditCommand::Sinks => sinks(context, store.as_ref(), json).await,
        AuditCommand::NewKey { out, name } => crate::audit_keys::new_key(&out, &name, json),
        AuditCommand::Prune => {
            let (deleted, before) = moat_service::housekeeping::prune_bodies(
                store.as_ref(),
                &moat_service::SystemClock,
                context.config.audit.body_retention.seconds,
            )
            .await?;
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

/// The configured sinks with their cursors: what a running server has delivered.
async fn sinks(context: &Context, store: &dyn Store, json: bool) -> Result<ExitCode> {
    let size = store.audit_size().await?;
    let cursors: std::collections::HashMap<String, (u64, moat_domain::UnixTime)> = store
        .audit_sink_cursors()
        .await?
        .into_iter()
        .map(|(name, next, at)| (name, (next, at)))
        .collect();
    // Alert sinks' cursors are apart (`alert:<name>`); the shorthand webhook is one.
    let config = &context.config;
    let shorthand =
        config.alerts.webhook_url_env.is_some() || config.alerts.webhook_url_file.is_some();
    let audit = config
        .audit
        .sinks
        .iter()
        .map(|s| (s.name.clone(), s.kind, "audit"));
    let alerts = config
        .alerts
        .sinks
        .iter()
        .map(|s| (s.name.clone(), s.kind, "alerts"));
    let webhook = shorthand.then(|| {
        (
            "webhook".to_string(),
            moat_config::SinkKind::Webhook,
            "alerts",
        )
    });
    let sinks: Vec<serde_json::Value> = audit
        .chain(alerts)
        .chain(webhook)
        .map(|(name, kind, carries)| {
            let cursor_name = match carries {
                "alerts" => format!("alert:{name}"),
                _ => name.clone(),
            };
            let cursor = cursors.get(&cursor_name);
            serde_json::json!({
                "name": name,
                "carries": carries,
                "kind": kind,
                "next_seq": cursor.map(|c| c.0),
                "lag_events": cursor.map(|c| size.saturating_sub(c.0)),
                "moved_at": cursor.map(|c| c.1.to_rfc3339()),
            })
        })
        .collect();
    if json {
        output::json(&serde_json::json!({"log_size": size, "sinks": sinks}))?;
        return Ok(ExitCode::SUCCESS);
    }
    if sinks.is_empty() {
        output::say(
            "no [[audit.sinks]] or [[alerts.sinks]] are configured; see the README's \"Forwarding the audit log\" and \"Alerts and incidents\"\n",
        );
        return Ok(ExitCode::SUCCESS);
    }
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let rows: Vec<Vec<String>> = sinks
        .iter()
        .map(|s| {
            let next = if s["next_seq"].is_null() {
                "not started".to_string()
            } else {
                text(&s["next_seq"])
            };
            vec![
                text(&s["name"]),
                text(&s["carries"]),
                text(&s["kind"]),
                next,
                text(&s["lag_events"]),
                text(&s["moved_at"]),
            ]
        })
        .collect();
    output::table(
        &["NAME", "CARRIES", "KIND", "NEXT SEQ", "LAG", "LAST MOVED"],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
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

/// Every match of `filter`, up to `limit`, from the start of the log.
pub async fn search(store: &dyn Store, filter: &Filter, limit: usize) -> Result<Vec<Event>> {
    Ok(search::search(store, filter, 0, limit, usize::MAX)
        .await?
        .events)
}

/// RFC 3339 or a date, as the log writes times; a usage error otherwise.
pub fn normalize_time(text: &str) -> Result<String> {
    search::normalize_time(text).map_err(|e| UsageError(e).into())
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
