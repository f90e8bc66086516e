//! `moat incident list|show|open|ack|assign|contain|notify|resolve|note` over
//! `moat_service::incidents`.

use crate::cli::IncidentCommand;
use crate::context::{Context, UsageError};
use crate::output;
use anyhow::Result;
use moat_service::incidents::{IncidentError, IncidentRules, Incidents, Shown, Step};
use std::process::ExitCode;

fn said(error: IncidentError) -> anyhow::Error {
    match error {
        IncidentError::Invalid(message)
        | IncidentError::Conflict(message)
        | IncidentError::UnknownPerson(message) => UsageError(message).into(),
        IncidentError::NotFound(_) => UsageError(error.to_string()).into(),
        other => other.into(),
    }
}

pub async fn run(context: &Context, command: IncidentCommand, json: bool) -> Result<ExitCode> {
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
    let rules = IncidentRules::from_config(&context.config);
    let incidents = Incidents {
        access: &access,
        admin: &admin,
        rules: &rules,
    };
    let (operator, actor) = (context.operator(), context.actor());
    let step = |id: String, step: Step, note: Option<String>| {
        let (incidents, actor, operator) = (&incidents, &actor, &operator);
        async move { incidents.step(actor, operator, &id, step, note).await }
    };
    let now = access.now();
    let result = match command {
        IncidentCommand::List { status } => {
            let listed = incidents.list(&actor, &operator, status.as_deref()).await;
            audit.close().await?;
            let listed = listed.map_err(said)?;
            if json {
                output::json(&serde_json::json!({ "incidents": listed }))?;
            } else {
                print_list(&listed);
            }
            return Ok(ExitCode::SUCCESS);
        }
        IncidentCommand::Show { id } => {
            let one = incidents.show(&actor, &operator, &id).await;
            audit.close().await?;
            let one = one.map_err(said)?;
            if json {
                output::json(&serde_json::to_value(&one)?)?;
            } else {
                print_one(&one);
            }
            return Ok(ExitCode::SUCCESS);
        }
        IncidentCommand::Open {
            subject,
            title,
            note,
        } => {
            incidents
                .open(&actor, &operator, &subject, &title, note)
                .await
        }
        IncidentCommand::Ack { id, note } => step(id, Step::Acknowledge, note).await,
        IncidentCommand::Assign { id, owner, note } => step(id, Step::Assign(owner), note).await,
        IncidentCommand::Contain { id, note } => step(id, Step::Contain, note).await,
        IncidentCommand::Notify { id, meets, note } => step(id, Step::Notify(meets), note).await,
        IncidentCommand::Resolve { id, note } => step(id, Step::Resolve, note).await,
        IncidentCommand::Note { id, text } => step(id, Step::Note, Some(text)).await,
    };
    audit.close().await?;
    let incident = result.map_err(said)?;
    let shown = moat_service::incidents::shown(incident, &rules, now);
    if json {
        output::json(&serde_json::to_value(&shown)?)?;
    } else {
        let last = shown.incident.timeline.last();
        outln!(
            "incident {}: {} ({})",
            shown.incident.id,
            last.map_or("opened", |e| e.step.as_str()),
            shown.incident.status
        );
        print_deadlines(&shown);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_list(listed: &[Shown]) {
    if listed.is_empty() {
        outln!("no incident; detection opens one with its first alert about a person or vendor");
        return;
    }
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|s| {
            let i = &s.incident;
            vec![
                i.id.clone(),
                i.status.clone(),
                s.detected.clone(),
                i.subject.clone(),
                i.alerts.len().to_string(),
                i.owner.clone().unwrap_or_else(|| "-".into()),
                if s.overdue == 0 {
                    "-".into()
                } else {
                    format!("{} overdue", s.overdue)
                },
                i.title.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            "ID",
            "STATUS",
            "DETECTED",
            "SUBJECT",
            "ALERTS",
            "OWNER",
            "DEADLINES",
            "TITLE",
        ],
        &rows,
    );
}

fn print_one(shown: &Shown) {
    let i = &shown.incident;
    outln!("incident {} ({}): {}", i.id, i.status, i.title);
    outln!("subject:  {}", i.subject);
    outln!("owner:    {}", i.owner.as_deref().unwrap_or("-"));
    outln!("detected: {}", shown.detected);
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    outln!("repos:    {}", list(&i.repos));
    outln!("vendors:  {}", list(&i.vendors));
    outln!("classes:  {}", list(&i.classes));
    outln!("\nalerts:");
    for alert in &i.alerts {
        outln!("  seq {} {}: {}", alert.seq, alert.rule, alert.message);
    }
    outln!("\ntimeline:");
    for entry in &i.timeline {
        outln!(
            "  {} {} by {}{}",
            moat_domain::UnixTime(entry.at).to_rfc3339(),
            entry.step,
            entry.by,
            entry
                .note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        );
    }
    print_deadlines(shown);
}

fn print_deadlines(shown: &Shown) {
    outln!("\ndeadlines:");
    for d in &shown.deadlines {
        let state = match (&d.met_at, d.overdue) {
            (Some(at), _) => format!("met {at}"),
            (None, true) => "OVERDUE".to_string(),
            (None, false) => "open".to_string(),
        };
        outln!("  {:<28} due {}  {:<28} {}", d.key, d.due, state, d.why);
    }
}
