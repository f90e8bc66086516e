//! Feeds the [`Detector`] from the log, on one node, and records its alerts.
//!
//! Exactly one node evaluates each event: the node whose audit writer is the elected
//! sequencer on PostgreSQL (it appends every node's events anyway), or the embedded
//! store's single writer. It reads from a cursor in the store (`moat:detector`, beside
//! the audit sinks' cursors), so a node that takes the role over resumes where the last
//! one stopped. When a node starts evaluating it first replays `[detect] baseline` of
//! history before the cursor, without alerting, so baselines survive restarts and
//! hand-overs. Alerts are recorded before the cursor moves past the events that raised
//! them: a node that dies between the two raises them again (at least once). Each
//! alert then joins its subject's incident (`incidents::Absorber`); one that cannot
//! (the store refuses the write) is recorded as `incident.ungrouped` and tried again
//! at every pass until it joins.

use super::{Alert, DetectSettings, Detector};
use crate::Clock;
use crate::audit::{AuditError, AuditLog, Sequencer};
use moat_audit::event::{Actor, Decision, Event, EventBody, Outcome, Resources};
use moat_store::Store;
use std::sync::Arc;

/// The detector's cursor among the sinks' (a sink name cannot contain `:`).
pub const CURSOR: &str = "moat:detector";
/// Events read per page.
const PAGE: usize = 4096;

pub struct Watch {
    store: Arc<dyn Store>,
    audit: Arc<AuditLog>,
    clock: Arc<dyn Clock>,
    settings: DetectSettings,
    baseline_seconds: i64,
    policy_version: String,
    running: Option<Running>,
    /// Rules whose alert suspends its person, with the identity service to do it.
    suspend_on: Vec<String>,
    identity: Option<Arc<crate::Identity>>,
    /// Groups alerts into incidents, when set (with `identity`).
    incidents: Option<crate::incidents::IncidentRules>,
    /// Alerts whose incident could not be written yet, oldest first.
    ungrouped: Vec<Ungrouped>,
}

struct Ungrouped {
    alert: Alert,
    seq: u64,
    contained: Option<String>,
}

/// Alerts kept to be grouped again; past it the oldest is dropped.
const MAX_UNGROUPED: usize = 10_000;

struct Running {
    detector: Detector,
    next: u64,
}

impl Watch {
    pub fn new(
        store: Arc<dyn Store>,
        audit: Arc<AuditLog>,
        clock: Arc<dyn Clock>,
        config: &moat_config::Detect,
        policy_version: String,
    ) -> Watch {
        Watch {
            store,
            audit,
            clock,
            settings: DetectSettings::from_config(config),
            baseline_seconds: config.baseline.seconds,
            policy_version,
            running: None,
            suspend_on: config.suspend_on.clone(),
            identity: None,
            incidents: None,
            ungrouped: Vec::new(),
        }
    }

    /// Lets alerts of the `[detect] suspend_on` rules suspend the person they name.
    pub fn with_containment(mut self, identity: Arc<crate::Identity>) -> Watch {
        self.identity = Some(identity);
        self
    }

    /// Groups alerts into incidents with `[incidents]`' deadlines.
    pub fn with_incidents(
        mut self,
        identity: Arc<crate::Identity>,
        rules: crate::incidents::IncidentRules,
    ) -> Watch {
        self.identity = Some(identity);
        self.incidents = Some(rules);
        self
    }

    /// Adds the alert to its subject's incident; a change made meanwhile by a person
    /// is read again, up to three times. An alert that still cannot join is put on the
    /// record as `incident.ungrouped` and tried again at every pass.
    async fn absorb(&mut self, alert: Alert, seq: u64, contained: Option<String>) {
        let mut error = String::new();
        for attempt in 1..=3 {
            match self.absorb_once(&alert, seq, contained.clone()).await {
                Ok(()) => return,
                Err(why) => {
                    tracing::warn!(seq, attempt, error = %why, "alert could not join an incident");
                    error = why;
                }
            }
            if attempt < 3 {
                tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
            }
        }
        if let Err(why) = self
            .audit
            .record(self.ungrouped_event(&alert, seq, &error))
            .await
        {
            tracing::error!(seq, error = %why, "could not record that an alert joined no incident");
        }
        if self.ungrouped.len() >= MAX_UNGROUPED {
            // The oldest is still named by its `incident.ungrouped` event.
            self.ungrouped.remove(0);
        }
        self.ungrouped.push(Ungrouped {
            alert,
            seq,
            contained,
        });
    }

    /// Tries again every alert that has not joined an incident yet.
    async fn absorb_ungrouped(&mut self) {
        for pending in std::mem::take(&mut self.ungrouped) {
            match self
                .absorb_once(&pending.alert, pending.seq, pending.contained.clone())
                .await
            {
                Ok(()) => {}
                Err(_) => self.ungrouped.push(pending),
            }
        }
    }

    async fn absorb_once(
        &self,
        alert: &Alert,
        seq: u64,
        contained: Option<String>,
    ) -> Result<(), String> {
        let (Some(identity), Some(rules)) = (&self.identity, &self.incidents) else {
            return Ok(());
        };
        let admin = crate::Admin {
            identity,
            audit: &self.audit,
            policy_version: &self.policy_version,
        };
        let absorber = crate::incidents::Absorber {
            store: self.store.as_ref(),
            admin: &admin,
            rules,
        };
        let at = self.clock.now().0;
        let id = absorber
            .absorb(alert, seq, at, contained)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(seq, incident = %id, "alert joined an incident");
        Ok(())
    }

    /// The record that the alert at `seq` joined no incident yet, and why.
    fn ungrouped_event(&self, alert: &Alert, seq: u64, error: &str) -> EventBody {
        let mut event = self.event(alert);
        event.action = "incident.ungrouped".into();
        event.decision = Decision {
            outcome: Outcome::Deny,
            rule: Some(format!("detect.{}", alert.rule)),
            reason: Some(format!(
                "alert {seq} could not join an incident ({error}); detection tries again every pass, and `moat incident open` can group it by hand"
            )),
        };
        event.details =
            serde_json::json!({"alert": seq, "rule": alert.rule, "subject": alert.subject});
        event
    }

    /// Suspends the person an alert names when its rule says so, as an `admin.change`
    /// whose actor is the alert (`alert:<seq>`, client `detect`); says how, if it did.
    async fn contain(&self, alert: &Alert, seq: u64) -> Option<String> {
        let (Some(identity), Some(user)) = (&self.identity, &alert.user) else {
            return None;
        };
        if !self.suspend_on.iter().any(|r| r == alert.rule) {
            return None;
        }
        let admin = crate::Admin {
            identity,
            audit: &self.audit,
            policy_version: &self.policy_version,
        };
        let actor = crate::AdminActor {
            user: Some(format!("alert:{seq}")),
            client: "detect".into(),
            ..crate::AdminActor::default()
        };
        match admin.suspend_user(&actor, user).await {
            Ok(_) => {
                tracing::warn!(user, rule = alert.rule, seq, "detection suspended a person");
                Some(format!(
                    "{} suspended by detection (`detect.suspend_on` lists `{}`)",
                    alert.subject, alert.rule
                ))
            }
            Err(error) => {
                tracing::warn!(user, %error, "detection could not suspend a person");
                None
            }
        }
    }

    /// Evaluates every event appended since the last pass, if this node evaluates;
    /// the number of alerts recorded.
    pub async fn pass(&mut self) -> Result<usize, AuditError> {
        self.absorb_ungrouped().await;
        if self.audit.snapshot().sequencer == Sequencer::Follower {
            // Another node evaluates; start afresh if this one takes over.
            self.running = None;
            return Ok(0);
        }
        let size = self.store.audit_size().await?;
        if self.running.is_none() {
            self.running = Some(self.start(size).await?);
        }
        let mut recorded = 0;
        while let Some(running) = self.running.as_mut() {
            if running.next >= size {
                break;
            }
            let leaves = self.store.audit_leaves(running.next, PAGE).await?;
            if leaves.is_empty() {
                break;
            }
            let mut alerts = Vec::new();
            for leaf in leaves.iter().take_while(|l| l.seq < size) {
                if leaf.seq != running.next {
                    return Err(AuditError::Corrupt(format!(
                        "event {} is missing",
                        running.next
                    )));
                }
                let event: Event = serde_json::from_slice(&leaf.canonical).map_err(|e| {
                    AuditError::Corrupt(format!("event {} cannot be read: {e}", leaf.seq))
                })?;
                alerts.extend(running.detector.observe(&event));
                running.next = leaf.seq + 1;
            }
            let next = running.next;
            for alert in alerts {
                let seq = self.audit.record(self.event(&alert)).await?;
                let contained = self.contain(&alert, seq).await;
                self.absorb(alert, seq, contained).await;
                recorded += 1;
            }
            self.store
                .audit_sink_advance(CURSOR, next, self.clock.now())
                .await?;
        }
        Ok(recorded)
    }

    /// A detector whose baselines hold `[detect] baseline` of history before the
    /// cursor (a deployment's first evaluation starts at the end of the log).
    async fn start(&self, size: u64) -> Result<Running, AuditError> {
        let cursor = match self.store.audit_sink_cursor(CURSOR).await? {
            Some(cursor) => cursor.min(size),
            None => {
                self.store
                    .audit_sink_advance(CURSOR, size, self.clock.now())
                    .await?;
                size
            }
        };
        let since = self.clock.now().plus_seconds(-self.baseline_seconds);
        let from = crate::evidence::extract::first_at_or_after(
            self.store.as_ref(),
            cursor,
            &since.to_rfc3339(),
        )
        .await?;
        let mut detector = Detector::new(self.settings.clone());
        let mut seq = from;
        while seq < cursor {
            let leaves = self.store.audit_leaves(seq, PAGE).await?;
            if leaves.is_empty() {
                break;
            }
            for leaf in leaves.iter().take_while(|l| l.seq < cursor) {
                if let Ok(event) = serde_json::from_slice::<Event>(&leaf.canonical) {
                    // History: it rebuilds what the rules remember; its alerts were
                    // raised when it happened.
                    let _ = detector.observe(&event);
                }
                seq = leaf.seq + 1;
            }
        }
        tracing::info!(
            from,
            cursor,
            people = detector.people(),
            "detection: baselines rebuilt from history; evaluating from the cursor"
        );
        Ok(Running {
            detector,
            next: cursor,
        })
    }

    fn event(&self, alert: &Alert) -> EventBody {
        let email = alert.subject.contains('@').then(|| alert.subject.clone());
        EventBody {
            actor: Actor {
                user: alert.user.clone(),
                email,
                client: Some("moat-detect".into()),
                ..Actor::default()
            },
            action: format!("alert.{}", alert.rule),
            resources: Resources {
                objects: vec![alert.subject.clone()],
                ..Resources::default()
            },
            decision: Decision {
                outcome: Outcome::Allow,
                rule: Some(format!("detect.{}", alert.rule)),
                reason: Some(alert.message.clone()),
            },
            policy_version: self.policy_version.clone(),
            disclosed: Default::default(),
            redactions: Default::default(),
            egress: None,
            content_ref: None,
            details: serde_json::json!({
                "rule": alert.rule,
                "subject": alert.subject,
                "seqs": alert.seqs,
                "value": alert.value,
                "threshold": alert.threshold,
            }),
        }
    }

    /// Passes every `every` until the process ends.
    pub async fn keep(mut self, every: std::time::Duration) {
        loop {
            match self.pass().await {
                Ok(0) => {}
                Ok(alerts) => tracing::warn!(alerts, "detection raised alerts"),
                Err(error) => {
                    tracing::warn!(%error, "detection could not read or record; trying again");
                    self.running = None;
                }
            }
            tokio::time::sleep(every).await;
        }
    }
}
