//! `moat access explain` and `moat access matrix`: who can reach what, at which tier,
//! and the rule that decided, from the same authorisation service every query uses.

use crate::cli::{AccessCommand, MatrixFormat};
use crate::context::Context;
use crate::output;
use anyhow::Result;
use moat_policy::{Action, Decision};
use serde::Serialize;
use std::process::ExitCode;

/// SPEC.md's decision shape.
#[derive(Serialize)]
pub struct DecisionView {
    pub decision: &'static str,
    pub tier: Option<String>,
    pub disclosure: Option<String>,
    pub rules: Vec<String>,
    pub reason: String,
}

impl From<&Decision> for DecisionView {
    fn from(decision: &Decision) -> Self {
        DecisionView {
            decision: if decision.allow { "allow" } else { "deny" },
            tier: decision.tier.map(|t| t.to_string()),
            disclosure: decision.disclosure.map(|d| d.to_string()),
            rules: decision.rules.clone(),
            reason: decision.reason.clone(),
        }
    }
}

pub async fn run(context: &Context, command: AccessCommand, json: bool) -> Result<ExitCode> {
    let store = context.open_store()?;
    let users = context.identity(store).users().await?;
    let authorizer = context.authorizer(&users)?;
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
        AccessCommand::Matrix { format } => {
            let matrix = authorizer.matrix();
            let format = if json { MatrixFormat::Json } else { format };
            match format {
                MatrixFormat::Json => {
                    let cells: Vec<serde_json::Value> = matrix
                        .iter()
                        .map(|cell| {
                            serde_json::json!({
                                "user": cell.user,
                                "email": cell.email,
                                "repo": cell.repo,
                                "read_source": cell.read_source,
                                "decision": DecisionView::from(&cell.decision),
                            })
                        })
                        .collect();
                    output::json(&serde_json::json!({ "matrix": cells }))?;
                }
                MatrixFormat::Csv => {
                    let mut text = String::from(
                        "email,repo,decision,tier,disclosure,read_source,rules,reason\n",
                    );
                    for cell in &matrix {
                        let view = DecisionView::from(&cell.decision);
                        let fields = [
                            cell.email.clone(),
                            cell.repo.clone(),
                            view.decision.to_string(),
                            view.tier.unwrap_or_default(),
                            view.disclosure.unwrap_or_default(),
                            cell.read_source.to_string(),
                            view.rules.join(" "),
                            view.reason,
                        ];
                        let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                        text.push_str(&quoted.join(","));
                        text.push('\n');
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

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}
