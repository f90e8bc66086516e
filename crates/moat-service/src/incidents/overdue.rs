//! Deadlines passed without their step: each is raised as an `alert.incident_overdue`
//! audit event, which the alert sinks deliver, and then flagged on the incident (an
//! `admin.change` `incident.overdue`, written over the version read) so later checks
//! pass over it: at least once (a crash between the two, or nodes checking at the same
//! moment, can raise it twice), never lost.

use super::{IncidentError, IncidentRules, Recorder};
use crate::Clock;
use crate::admin::{Admin, AdminActor};
use moat_audit::event::{Actor, Decision, EventBody, Outcome, Resources};
use serde_json::json;
use std::sync::Arc;

pub struct OverdueIncidents {
    pub store: Arc<dyn moat_store::Store>,
    pub audit: Arc<crate::AuditLog>,
    pub identity: Arc<crate::Identity>,
    pub clock: Arc<dyn Clock>,
    pub rules: IncidentRules,
    pub policy_version: String,
}

impl OverdueIncidents {
    /// Flags and raises every deadline newly past; returns how many.
    pub async fn check(&self) -> Result<usize, IncidentError> {
        let admin = Admin {
            identity: &self.identity,
            audit: &self.audit,
            policy_version: &self.policy_version,
        };
        let recorder = Recorder {
            store: self.store.as_ref(),
            admin: &admin,
        };
        let actor = AdminActor {
            client: "moat".into(),
            ..AdminActor::default()
        };
        let now = self.clock.now();
        let mut raised = 0;
        for incident in recorder.list(None).await? {
            let late: Vec<_> = incident
                .deadlines(&self.rules, now)
                .into_iter()
                .filter(|d| d.overdue && !incident.flagged.contains(&d.key))
                .collect();
            if late.is_empty() {
                continue;
            }
            // The alert first, then the flag: a crash between the two raises it again
            // (at least once), never not at all. Nodes checking at once may each raise
            // it; the flag written over the version read stops the next checks.
            let mut raised_keys = Vec::new();
            for deadline in late {
                let event = EventBody {
                    actor: Actor {
                        client: Some("moat".into()),
                        ..Actor::default()
                    },
                    action: "alert.incident_overdue".into(),
                    resources: Resources {
                        objects: vec![incident.id.clone()],
                        ..Resources::default()
                    },
                    decision: Decision {
                        outcome: Outcome::Allow,
                        rule: Some(format!("incidents.{}", deadline.step)),
                        reason: Some(format!(
                            "incident `{}` ({}) is overdue: {} was due {}: {}",
                            incident.id, incident.title, deadline.key, deadline.due, deadline.why
                        )),
                    },
                    policy_version: self.policy_version.clone(),
                    disclosed: Default::default(),
                    redactions: Default::default(),
                    egress: None,
                    content_ref: None,
                    details: json!({
                        "incident": incident.id, "deadline": deadline.key,
                        "due": deadline.due, "subject": incident.subject,
                    }),
                };
                match self.audit.record(event).await {
                    Ok(_) => {
                        raised += 1;
                        raised_keys.push(deadline.key);
                    }
                    Err(error) => tracing::error!(
                        %error,
                        incident = %incident.id,
                        "an overdue alert could not be recorded; the next check tries again"
                    ),
                }
            }
            if raised_keys.is_empty() {
                continue;
            }
            let request = json!({"overdue": raised_keys});
            let flagged = recorder
                .write(&actor, "incident.overdue", incident.clone(), request, |i| {
                    i.flagged.extend(raised_keys.iter().cloned());
                })
                .await;
            if let Err(error) = flagged {
                // Another node flagged it first, or it changed: the next check sees.
                tracing::info!(%error, incident = %incident.id, "overdue flag not written");
            }
        }
        Ok(raised)
    }

    /// Checks every `every` until the process ends.
    pub async fn keep(self, every: std::time::Duration) {
        loop {
            match self.check().await {
                Ok(0) => {}
                Ok(raised) => tracing::warn!(raised, "incident deadlines passed"),
                Err(error) => tracing::warn!(%error, "incident deadlines could not be checked"),
            }
            tokio::time::sleep(every).await;
        }
    }
}
