//! A search on the record: `moat search --as` answers only once its `context.search`
//! event (or the `access.denied` that refused it) is durable, so nothing is shown that
//! the log does not hold.

use super::{CodeContext, ContextError, ContextResults, SearchRequest};
use crate::audit::{AuditError, AuditLog};
use moat_audit::event::{Actor, Decision, EventBody, Outcome, Resources};
use moat_domain::User;

fn dedup(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = values.collect();
    out.sort();
    out.dedup();
    out
}

/// The event that records `outcome` of `request`.
pub fn search_event(
    actor: Actor,
    request: &SearchRequest,
    outcome: &Result<ContextResults, ContextError>,
    policy_version: &str,
) -> EventBody {
    let (action, resources, decision, disclosed, redactions, details) = match outcome {
        Ok(results) => (
            "context.search",
            Resources {
                repos: results.searched.clone(),
                commits: dedup(results.hits.iter().map(|h| h.commit.clone())),
                paths: dedup(results.hits.iter().map(|h| h.path.clone())),
                symbols: dedup(results.hits.iter().map(|h| h.qualified_name.clone())),
                objects: Vec::new(),
            },
            Decision {
                outcome: Outcome::Allow,
                rule: Some(results.rules.join(",")),
                reason: None,
            },
            results.disclosed.clone(),
            results.redactions.clone(),
            serde_json::json!({ "query": super::query_for_record(&request.query), "results": results.hits.len() }),
        ),
        Err(error) => {
            let denied = match error {
                ContextError::Denied(denial) => Some(denial.rule("access")),
                _ => None,
            };
            (
                if denied.is_some() {
                    "access.denied"
                } else {
                    "context.search"
                },
                Resources {
                    repos: request.repo.clone().into_iter().collect(),
                    ..Resources::default()
                },
                Decision {
                    outcome: Outcome::Deny,
                    rule: Some(denied.unwrap_or_else(|| "bad-request".into())),
                    reason: Some(error.to_string()),
                },
                Default::default(),
                Default::default(),
                serde_json::json!({ "query": super::query_for_record(&request.query) }),
            )
        }
    };
    EventBody {
        actor,
        action: action.into(),
        resources,
        decision,
        policy_version: policy_version.to_string(),
        disclosed,
        redactions,
        egress: None,
        content_ref: None,
        details,
    }
}

/// Searches as `user` and records the search (or its refusal); the outcome and the
/// event's sequence number once it is durable. If it cannot be recorded, nothing is
/// returned to show.
pub async fn search_recorded(
    context: &CodeContext,
    audit: &AuditLog,
    actor: Actor,
    user: &User,
    request: &SearchRequest,
    policy_version: &str,
) -> Result<(Result<ContextResults, ContextError>, u64), AuditError> {
    let outcome = context.search(user, request);
    let seq = audit
        .record(search_event(actor, request, &outcome, policy_version))
        .await?;
    Ok((outcome, seq))
}
