//! `moat kill-switch engage|release|list` over `moat_service::kill_switches`.

use crate::cli::KillSwitchCommand;
use crate::context::{Context, UsageError};
use crate::output;
use anyhow::Result;
use moat_service::kill_switches::{KillSwitchError, KillSwitches, json_of};
use std::process::ExitCode;

fn said(error: KillSwitchError) -> anyhow::Error {
    match error {
        KillSwitchError::Invalid(message) | KillSwitchError::Unknown(message) => {
            UsageError(message).into()
        }
        KillSwitchError::Engaged { .. } | KillSwitchError::NotEngaged { .. } => {
            UsageError(error.to_string()).into()
        }
        other => other.into(),
    }
}

pub async fn run(context: &Context, command: KillSwitchCommand, json: bool) -> Result<ExitCode> {
    let store = context.open_store().await?;
    if let KillSwitchCommand::List = command {
        // Reading them needs no authorizer and records nothing: they are the state
        // every refusal already names.
        let engaged = store.kill_switches().await?;
        if json {
            let engaged: Vec<_> = engaged.iter().map(json_of).collect();
            output::json(&serde_json::json!({ "switches": engaged }))?;
        } else if engaged.is_empty() {
            outln!("no kill switch is engaged");
        } else {
            let rows: Vec<Vec<String>> = engaged
                .iter()
                .map(|s| {
                    vec![
                        s.kind.clone(),
                        s.target.clone(),
                        s.engaged_at.to_rfc3339(),
                        s.engaged_by.clone(),
                        s.reason.clone(),
                    ]
                })
                .collect();
            output::table(&["KIND", "TARGET", "SINCE", "BY", "REASON"], &rows);
        }
        return Ok(ExitCode::SUCCESS);
    }
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
    let switches = KillSwitches {
        access: &access,
        admin: &admin,
        models,
        vendors,
    };
    let operator = context.operator();
    let actor = context.actor();
    let (result, state) = match command {
        KillSwitchCommand::Engage {
            kind,
            target,
            reason,
        } => (
            switches
                .engage(&actor, &operator, kind.kind(), &target, &reason)
                .await,
            "engaged",
        ),
        KillSwitchCommand::Release { kind, target, note } => (
            switches
                .release(&actor, &operator, kind.kind(), &target, note)
                .await,
            "released",
        ),
        KillSwitchCommand::List => unreachable!("answered above"),
    };
    audit.close().await?;
    let switch = result.map_err(said)?;
    if json {
        let mut body = json_of(&switch);
        body["state"] = state.into();
        output::json(&body)?;
    } else {
        let effect = match state {
            "engaged" => "every node refuses from its next request on",
            _ => "every node serves it again from its next request on",
        };
        outln!(
            "kill switch {} {}: {state} ({effect})",
            switch.kind,
            switch.target
        );
    }
    Ok(ExitCode::SUCCESS)
}
