//! Requests waiting past the review SLA raise an alert: an `alert.exception_overdue`
//! audit event (so the audit sinks carry it to the SIEM, and the evidence pack lists
//! it), once per request and process, checked at start and every few minutes.

use super::ExceptionRules;
use crate::Clock;
use crate::audit::{AuditError, AuditLog};
use moat_audit::event::{Actor, Decision, EventBody, Outcome, Resources};
use moat_store::Store;
use moat_store::exceptions::PENDING;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

pub struct OverdueWatch {
    store: Arc<dyn Store>,
    audit: Arc<AuditLog>,
    clock: Arc<dyn Clock>,
    rules: ExceptionRules,
    policy_version: String,
    /// Requests already alerted on by this process.
    said: Mutex<HashSet<String>>,
}

impl OverdueWatch {
    pub fn new(
        store: Arc<dyn Store>,
        audit: Arc<AuditLog>,
        clock: Arc<dyn Clock>,
        rules: ExceptionRules,
        policy_version: String,
    ) -> OverdueWatch {
        OverdueWatch {
            store,
            audit,
            clock,
            rules,
            policy_version,
            said: Mutex::new(HashSet::new()),
        }
    }

    /// Records an alert for each request newly past the SLA; returns how many.
    pub async fn check(&self) -> Result<usize, AuditError> {
        let now = self.clock.now();
        let pending = self.store.exceptions(Some(PENDING)).await?;
        let mut recorded = 0;
        for exception in pending {
            let waited = now.0 - exception.requested_at.0;
            if waited <= self.rules.review_sla_seconds
                || self
                    .said
                    .lock()
                    .is_ok_and(|said| said.contains(&exception.id))
            {
                continue;
            }
            let event = EventBody {
                actor: Actor {
                    client: Some("moat".into()),
                    ..Actor::default()
                },
                action: "alert.exception_overdue".into(),
                resources: Resources {
                    objects: vec![exception.id.clone()],
                    ..Resources::default()
                },
                decision: Decision {
                    outcome: Outcome::Allow,
                    rule: Some("exceptions.review_sla".into()),
                    reason: Some(format!(
                        "exception `{}` ({} `{}` for {}) has waited {} hours for review; the SLA is {} hours",
                        exception.id,
                        exception.kind,
                        exception.target,
                        exception.requested_by,
                        waited / 3600,
                        self.rules.review_sla_seconds / 3600
                    )),
                },
                policy_version: self.policy_version.clone(),
                disclosed: Default::default(),
                redactions: Default::default(),
                egress: None,
                content_ref: None,
                details: serde_json::json!({
                    "exception": exception.id,
                    "kind": exception.kind,
                    "target": exception.target,
                    "user_id": exception.user_id,
                    "requested_at": exception.requested_at.to_rfc3339(),
                    "waited_seconds": waited,
                    "review_sla_seconds": self.rules.review_sla_seconds,
                }),
            };
            self.audit.record(event).await?;
            if let Ok(mut said) = self.said.lock() {
                said.insert(exception.id);
            }
            recorded += 1;
        }
        Ok(recorded)
    }

    /// Checks now and then every `every`.
    pub async fn keep(self: Arc<Self>, every: std::time::Duration) {
        loop {
            if let Err(error) = self.check().await {
                tracing::warn!(%error, "overdue exception requests could not be recorded; trying again later");
            }
            tokio::time::sleep(every).await;
        }
    }
}
