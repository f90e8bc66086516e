//! Incidents: the alerts about one person (or vendor) grouped, with an owner, a
//! timeline — detected, acknowledged, contained, notified, resolved — and deadlines:
//! acknowledging and containing within `[incidents]`' times, notifying within the
//! window of each vendor the code went to (its `breach_notice_hours`) and of each class
//! of data touched (`[[incidents.notify]]`: PHI 60 days under HIPAA, PII 72 hours
//! under GDPR, by default). A step not taken by its deadline is overdue: listed as such,
//! and raised once as an `alert.incident_overdue` that the alert sinks deliver.
//!
//! Detection opens them: each alert joins the open incident about its subject, or opens
//! one (`absorb`). People take the steps (`moat incident ...`, the admin API, the
//! console), decided by Cedar: reading takes `ViewAudit`, changing takes `Contain`
//! (the security and admin roles). Every change is an `admin.change` with before and
//! after, and is written only over the version it was made from.

mod absorb;
mod model;
mod overdue;

pub use absorb::Absorber;
pub use model::{AlertRef, Deadline, Entry, Incident, IncidentRules, MAX_ALERTS, STEPS, span};
pub use overdue::OverdueIncidents;

use crate::access::Access;
use crate::admin::{Admin, AdminActor, AdminError};
use crate::identity::IdentityError;
use crate::operator::{self, Operator, OperatorError};
use moat_domain::UnixTime;
use moat_policy::Action;
use moat_store::StoredIncident;
use moat_store::incidents::{OPEN, RESOLVED};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error("{0}")]
    Invalid(String),
    #[error("no incident `{0}`; `moat incident list` shows them")]
    NotFound(String),
    /// The person named (an owner) does not exist.
    #[error("{0}")]
    UnknownPerson(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("incident `{0}` cannot be read: {1}")]
    Corrupt(String, String),
    #[error("the incidents cannot be read: {0}")]
    Store(#[from] moat_store::StoreError),
}

/// A step someone takes on an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Acknowledge,
    Contain,
    /// Meets the notification deadlines named (`class:phi`, `vendor:acme`), or all.
    Notify(Vec<String>),
    Resolve,
    Assign(String),
    Note,
}

impl Step {
    /// The operation the audit record names, and the timeline entry's step.
    fn names(&self) -> (&'static str, &'static str) {
        match self {
            Step::Acknowledge => ("incident.acknowledge", "acknowledged"),
            Step::Contain => ("incident.contain", "contained"),
            Step::Notify(_) => ("incident.notify", "notified"),
            Step::Resolve => ("incident.resolve", "resolved"),
            Step::Assign(_) => ("incident.assign", "assigned"),
            Step::Note => ("incident.note", "note"),
        }
    }
}

/// An incident with its deadlines as of now, as listed and shown.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Shown {
    #[serde(flatten)]
    pub incident: Incident,
    pub detected: String,
    pub deadlines: Vec<Deadline>,
    /// Deadlines past due and not met.
    pub overdue: usize,
}

/// The longest title or note kept.
const MAX_TEXT: usize = 2_000;
/// The longest subject: an email address at most.
const MAX_SUBJECT: usize = 320;

pub fn shown(incident: Incident, rules: &IncidentRules, now: UnixTime) -> Shown {
    let deadlines = incident.deadlines(rules, now);
    Shown {
        detected: UnixTime(incident.detected_at).to_rfc3339(),
        overdue: deadlines.iter().filter(|d| d.overdue).count(),
        deadlines,
        incident,
    }
}

fn new_id() -> String {
    let mut bytes = [0u8; 8];
    rand::fill(&mut bytes[..]);
    format!("inc_{}", hex::encode(bytes))
}

fn parse(row: StoredIncident) -> Result<Incident, IncidentError> {
    let mut incident: Incident = serde_json::from_str(&row.body)
        .map_err(|e| IncidentError::Corrupt(row.id.clone(), e.to_string()))?;
    incident.version = row.version;
    Ok(incident)
}

fn row_of(incident: &Incident) -> StoredIncident {
    StoredIncident {
        id: incident.id.clone(),
        subject: incident.subject.clone(),
        status: incident.status.clone(),
        opened_at: UnixTime(incident.detected_at),
        version: incident.version,
        body: serde_json::to_string(incident).unwrap_or_default(),
    }
}

/// The incident as an audit record's before or after: its alerts by count and the
/// newest, so a noisy subject does not make each record longer than the last.
fn json_of(incident: &Incident) -> Value {
    json!({
        "id": incident.id, "title": incident.title, "subject": incident.subject,
        "status": incident.status, "owner": incident.owner,
        "alerts": incident.alerts.len() as u64 + incident.more_alerts,
        "newest_alert": incident.alerts.last().map(|a| a.seq),
        "repos": incident.repos, "vendors": incident.vendors, "classes": incident.classes,
        "steps": incident.timeline.iter().map(|e| &e.step).collect::<Vec<_>>(),
    })
}

/// Writes changes to incidents with their audit record: the part detection and people
/// share.
pub struct Recorder<'a> {
    pub store: &'a dyn moat_store::Store,
    pub admin: &'a Admin<'a>,
}

impl Recorder<'_> {
    pub async fn get(&self, id: &str) -> Result<Incident, IncidentError> {
        let row = self
            .store
            .incident_get(id)
            .await?
            .ok_or_else(|| IncidentError::NotFound(id.to_string()))?;
        parse(row)
    }

    /// Every incident (or those in `status`), newest first. A row that cannot be read
    /// is left out and logged, so one bad row does not hide the rest.
    pub async fn list(&self, status: Option<&str>) -> Result<Vec<Incident>, IncidentError> {
        Ok(self
            .store
            .incidents(status)
            .await?
            .into_iter()
            .filter_map(|row| match parse(row) {
                Ok(incident) => Some(incident),
                Err(error) => {
                    tracing::error!(%error, "an incident cannot be read; it is left out");
                    None
                }
            })
            .collect())
    }

    /// Stores a new incident, recorded as `incident.open`.
    pub async fn open(
        &self,
        actor: &AdminActor,
        incident: Incident,
        request: Value,
    ) -> Result<Incident, IncidentError> {
        let row = row_of(&incident);
        let store = self.store;
        self.admin
            .record_change(
                actor,
                "incident.open",
                incident.id.clone(),
                request,
                Value::Null,
                async {
                    store
                        .incident_insert(&row)
                        .await
                        .map_err(IdentityError::Store)
                },
                |_| (incident.id.clone(), json_of(&incident)),
            )
            .await?;
        Ok(incident)
    }

    /// Applies `change` to `before` and writes it over the version read, recorded as
    /// `operation`; a change made meanwhile by someone else refuses it.
    pub async fn write(
        &self,
        actor: &AdminActor,
        operation: &'static str,
        before: Incident,
        request: Value,
        change: impl FnOnce(&mut Incident),
    ) -> Result<Incident, IncidentError> {
        let mut after = before.clone();
        change(&mut after);
        after.version = before.version + 1;
        let row = row_of(&after);
        let store = self.store;
        let id = before.id.clone();
        self.admin
            .record_change(
                actor,
                operation,
                id.clone(),
                request,
                json_of(&before),
                async {
                    match store.incident_update(&row).await {
                        Ok(true) => Ok(()),
                        Ok(false) => Err(IdentityError::Conflict(format!(
                            "incident `{id}` was changed by someone else meanwhile; nothing was changed — look again (`moat incident show {id}`) and retry"
                        ))),
                        Err(e) => Err(IdentityError::Store(e)),
                    }
                },
                |_| (id.clone(), json_of(&after)),
            )
            .await?;
        Ok(after)
    }
}

/// The incident use cases for people: list, show, open by hand, take steps.
pub struct Incidents<'a> {
    pub access: &'a Access,
    pub admin: &'a Admin<'a>,
    pub rules: &'a IncidentRules,
}

impl Incidents<'_> {
    fn recorder(&self) -> Recorder<'_> {
        Recorder {
            store: self.access.store(),
            admin: self.admin,
        }
    }

    async fn authorize(
        &self,
        actor: &AdminActor,
        operator: &Operator,
        action: Action,
        what: &str,
    ) -> Result<(), IncidentError> {
        operator::authorize(
            self.access,
            self.admin.audit,
            self.admin.policy_version,
            actor,
            operator,
            action,
            what,
        )
        .await?;
        Ok(())
    }

    /// Every incident (or those in `status`), newest first, with deadlines as of now.
    pub async fn list(
        &self,
        actor: &AdminActor,
        operator: &Operator,
        status: Option<&str>,
    ) -> Result<Vec<Shown>, IncidentError> {
        if let Some(status) = status
            && status != OPEN
            && status != RESOLVED
        {
            return Err(IncidentError::Invalid(format!(
                "no status `{status}`: an incident is `open` or `resolved`"
            )));
        }
        self.authorize(actor, operator, Action::ViewAudit, "incidents")
            .await?;
        self.admin.record_read(actor, "incidents").await?;
        let now = self.access.now();
        Ok(self
            .recorder()
            .list(status)
            .await?
            .into_iter()
            .map(|i| shown(i, self.rules, now))
            .collect())
    }

    pub async fn show(
        &self,
        actor: &AdminActor,
        operator: &Operator,
        id: &str,
    ) -> Result<Shown, IncidentError> {
        self.authorize(actor, operator, Action::ViewAudit, id)
            .await?;
        let incident = self.recorder().get(id).await?;
        self.admin.record_read(actor, id).await?;
        Ok(shown(incident, self.rules, self.access.now()))
    }

    /// Opens an incident by hand (something detection did not see), about `subject`.
    pub async fn open(
        &self,
        actor: &AdminActor,
        operator: &Operator,
        subject: &str,
        title: &str,
        note: Option<String>,
    ) -> Result<Incident, IncidentError> {
        // Lengths as given (what the API document bounds), emptiness once trimmed.
        let too_long = subject.chars().count() > MAX_SUBJECT || title.chars().count() > MAX_TEXT;
        let (subject, title) = (trimmed(subject), trimmed(title));
        if subject.is_empty() || title.is_empty() || too_long {
            return Err(IncidentError::Invalid(format!(
                "name whom or what it is about (--subject, up to {MAX_SUBJECT} characters) and say what happened (--title, up to {MAX_TEXT} characters)"
            )));
        }
        let note = checked_note(note)?;
        self.authorize(actor, operator, Action::Contain, "incident.open")
            .await?;
        let now = self.access.now();
        let incident = Incident {
            id: new_id(),
            title: title.to_string(),
            subject: subject.to_string(),
            status: OPEN.into(),
            owner: None,
            detected_at: now.0,
            alerts: Vec::new(),
            repos: Vec::new(),
            vendors: Vec::new(),
            classes: Vec::new(),
            timeline: vec![Entry {
                step: "detected".into(),
                at: now.0,
                by: operator.name(),
                note,
                meets: Vec::new(),
            }],
            flagged: Vec::new(),
            since: Default::default(),
            more_alerts: 0,
            version: 1,
        };
        let request = json!({"subject": subject, "title": title});
        self.recorder().open(actor, incident, request).await
    }

    /// Takes `step` on incident `id` as `operator`, with an optional note (a note
    /// itself for [`Step::Note`]).
    pub async fn step(
        &self,
        actor: &AdminActor,
        operator: &Operator,
        id: &str,
        step: Step,
        note: Option<String>,
    ) -> Result<Incident, IncidentError> {
        let note = checked_note(note)?;
        self.authorize(actor, operator, Action::Contain, id).await?;
        let recorder = self.recorder();
        let before = recorder.get(id).await?;
        if step == Step::Note && note.is_none() {
            return Err(IncidentError::Invalid("write the note".into()));
        }
        let (operation, name) = step.names();
        if !before.is_open() && step != Step::Note {
            return Err(IncidentError::Conflict(format!(
                "incident `{id}` is resolved; only notes can be added"
            )));
        }
        let mut meets = Vec::new();
        match &step {
            Step::Acknowledge | Step::Contain | Step::Resolve => {
                if let Some(taken) = before.taken(name) {
                    return Err(IncidentError::Conflict(format!(
                        "incident `{id}` was {name} already, by {} at {}; nothing was changed",
                        taken.by,
                        UnixTime(taken.at).to_rfc3339()
                    )));
                }
            }
            Step::Notify(keys) => {
                let deadlines = before.deadlines(self.rules, self.access.now());
                let open: Vec<String> = deadlines
                    .iter()
                    .filter_map(|d| d.key.strip_prefix("notified:").map(String::from))
                    .collect();
                if open.is_empty() {
                    return Err(IncidentError::Conflict(format!(
                        "incident `{id}` has no notification deadline: it touched no data class or vendor that has one"
                    )));
                }
                if let Some(unknown) = keys.iter().find(|k| !open.contains(k)) {
                    return Err(IncidentError::Conflict(format!(
                        "incident `{id}` has no notification deadline `{unknown}`; it has: {}",
                        open.join(", ")
                    )));
                }
                // Naming none meets those that exist now, not those a later alert adds.
                meets = if keys.is_empty() { open } else { keys.clone() };
            }
            Step::Assign(owner) => {
                if trimmed(owner).is_empty() {
                    return Err(IncidentError::UnknownPerson(
                        "name the new owner: a person's email or id".into(),
                    ));
                }
                let person = self
                    .admin
                    .identity
                    .find_user(owner)
                    .await
                    .map_err(|e| IncidentError::UnknownPerson(e.to_string()))?;
                let owner = person.email;
                let request = json!({"owner": owner, "note": note});
                let at = self.access.now().0;
                let by = operator.name();
                return recorder
                    .write(actor, operation, before, request, |i| {
                        i.owner = Some(owner.clone());
                        i.timeline.push(Entry {
                            step: name.into(),
                            at,
                            by,
                            note: Some(note.unwrap_or_else(|| format!("owner: {owner}"))),
                            meets: Vec::new(),
                        });
                    })
                    .await;
            }
            Step::Note => {}
        }
        let request = json!({"step": name, "note": note, "meets": meets});
        let at = self.access.now().0;
        let by = operator.name();
        recorder
            .write(actor, operation, before, request, |i| {
                if step == Step::Resolve {
                    i.status = RESOLVED.into();
                }
                i.timeline.push(Entry {
                    step: name.into(),
                    at,
                    by,
                    note,
                    meets,
                });
            })
            .await
    }
}

use crate::text::trimmed;

fn checked_note(note: Option<String>) -> Result<Option<String>, IncidentError> {
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_TEXT) {
        return Err(IncidentError::Invalid(format!(
            "a note holds up to {MAX_TEXT} characters"
        )));
    }
    Ok(note
        .map(|n| trimmed(&n).to_string())
        .filter(|n| !n.is_empty()))
}

#[cfg(test)]
mod tests;
