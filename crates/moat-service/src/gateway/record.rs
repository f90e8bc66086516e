//! The gateway's two audit events per request. `gateway.requested` is made durable
//! before the first byte goes to a vendor (one per route tried: a fallback to another
//! vendor is a second send, recorded first); if it cannot be, nothing is sent. The
//! outcome, `gateway.request`, follows and names the requested events it closes
//! (`details.requested_seq`): answered, refused, failed, or aborted when the client
//! went away.

use super::{Gateway, RequestRecord, Route};
use crate::audit::AuditError;
use crate::identity::Principal;
use moat_audit::event::{Actor, Decision, Egress, EventBody, Outcome, Resources};
use std::collections::BTreeMap;

impl Gateway {
    /// Records that this request is about to go to `route`, with what it carries;
    /// returns the event's sequence number once it is durable. Nothing may be sent to
    /// the vendor before this returns `Ok`.
    pub async fn record_requested(
        &self,
        principal: &Principal,
        record: &RequestRecord,
        route: &Route,
    ) -> Result<u64, AuditError> {
        let repos: Vec<String> = record.detected.iter().map(|d| d.repo.clone()).collect();
        let tiers: BTreeMap<&str, &str> = record
            .detected
            .iter()
            .map(|d| (d.repo.as_str(), d.tier.as_str()))
            .collect();
        let event = EventBody {
            actor: actor(Some(principal), record),
            action: "gateway.requested".to_string(),
            resources: Resources {
                repos: repos.clone(),
                ..Resources::default()
            },
            decision: Decision {
                outcome: Outcome::Allow,
                rule: Some(route.rule()),
                reason: None,
            },
            policy_version: self.settings.policy_version.clone(),
            disclosed: BTreeMap::new(),
            redactions: record.redactions.clone(),
            egress: Some(Egress {
                vendor: route.vendor.name.clone(),
                model: route.model.version.clone(),
                region: route.vendor.region.clone(),
                bytes: record.bytes_sent,
                repos,
            }),
            content_ref: None,
            details: serde_json::json!({
                "endpoint": record.endpoint,
                "alias": record.alias,
                "route": route.model.alias,
                "stream": record.stream,
                "tiers_detected": tiers,
                "binary_parts": record.binary_parts,
            }),
        };
        self.audit.record(event).await
    }

    /// Records the request's audit event; returns its sequence number once durable.
    /// The bodies and the fingerprints of code in the answer (what the model wrote,
    /// not what the prompt already held) go in the event's own transaction.
    pub async fn record(
        &self,
        principal: Option<&Principal>,
        mut record: RequestRecord,
    ) -> Result<u64, AuditError> {
        let code = code_blocks(&record.answer_text);
        let prompt_text = std::mem::take(&mut record.prompt_text);
        let provenance = match (principal, record.route.as_ref()) {
            (Some(principal), Some(route)) if !code.trim().is_empty() => {
                let prompt = moat_index::fingerprint::fingerprints(&prompt_text);
                let mut fingerprints = moat_index::fingerprint::fingerprints(&code);
                fingerprints.retain(|h| prompt.binary_search(h).is_err());
                (!fingerprints.is_empty()).then(|| moat_store::AuditProvenance {
                    user: principal.user.id.0.clone(),
                    model: route.model.version.clone(),
                    fingerprints,
                })
            }
            _ => None,
        };
        self.record_event(principal, record, provenance).await
    }

    async fn record_event(
        &self,
        principal: Option<&Principal>,
        mut record: RequestRecord,
        provenance: Option<moat_store::AuditProvenance>,
    ) -> Result<u64, AuditError> {
        let content = record.body.take().filter(|_| self.settings.keep_bodies);
        let actor = actor(principal, &record);
        let decision = match &record.refusal {
            Some(refusal) => Decision {
                outcome: Outcome::Deny,
                rule: Some(refusal.audit_rule()),
                reason: Some(refusal.message.clone()),
            },
            None => Decision {
                outcome: Outcome::Allow,
                rule: Some(
                    record
                        .route
                        .as_ref()
                        .map_or_else(|| "gateway.allowlist".to_string(), Route::rule),
                ),
                reason: None,
            },
        };
        let repos: Vec<String> = record.detected.iter().map(|d| d.repo.clone()).collect();
        let egress = record.route.as_ref().map(|route| Egress {
            vendor: route.vendor.name.clone(),
            model: route.model.version.clone(),
            region: route.vendor.region.clone(),
            bytes: record.bytes_sent,
            repos: repos.clone(),
        });
        let tiers: BTreeMap<&str, &str> = record
            .detected
            .iter()
            .map(|d| (d.repo.as_str(), d.tier.as_str()))
            .collect();
        let outcome = if record.aborted {
            "aborted"
        } else if record.refusal.is_some() {
            "refused"
        } else if (200..300).contains(&record.status) && record.error.is_none() {
            "answered"
        } else {
            "failed"
        };
        // A label names a configured model, never whatever a caller asked for.
        let requested = record
            .alias
            .as_deref()
            .filter(|alias| self.models.contains_key(*alias))
            .unwrap_or("other");
        self.telemetry.gateway_request(&record, outcome, requested);
        let details = serde_json::json!({
            "endpoint": record.endpoint,
            "alias": record.alias,
            "status": record.status,
            "outcome": outcome,
            "requested_seq": record.requested,
            "stream": record.stream,
            "latency_ms": record.latency.as_secs_f64() * 1000.0,
            "tokens_in": record.tokens_in,
            "tokens_out": record.tokens_out,
            "attempts": record.attempts,
            "tiers_detected": tiers,
            "binary_parts": record.binary_parts,
            "answer_redactions": record.answer_redactions,
            "replica": record.replica,
            "error": record.error,
        });
        let event = EventBody {
            actor,
            action: "gateway.request".to_string(),
            resources: Resources {
                repos,
                ..Resources::default()
            },
            decision,
            policy_version: self.settings.policy_version.clone(),
            disclosed: BTreeMap::new(),
            redactions: record.redactions,
            egress,
            content_ref: None,
            details,
        };
        self.audit.record_exchange(event, content, provenance).await
    }
}

fn actor(principal: Option<&Principal>, record: &RequestRecord) -> Actor {
    Actor {
        user: principal.map(|p| p.user.id.0.clone()),
        email: principal.map(|p| p.user.email.clone()),
        token_id: principal.map(|p| p.token_id.0.clone()),
        client: record.client.clone(),
        client_version: None,
        address: record.address.clone(),
    }
}

/// The fenced code blocks of a model's answer (their lines, fences dropped).
pub fn code_blocks(answer: &str) -> String {
    let mut code = String::new();
    let mut inside = false;
    for line in answer.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside;
        } else if inside {
            code.push_str(line);
            code.push('\n');
        }
    }
    code
}
