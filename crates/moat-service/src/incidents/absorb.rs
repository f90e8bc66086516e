//! Detection's side: each alert joins the open incident about its subject, or opens
//! one. What the alert's triggering events touched — repositories (and so their tags),
//! vendors the code went to, kinds of data redacted — is read from the log and added,
//! since the deadlines follow it.

use super::{AlertRef, Entry, Incident, IncidentError, IncidentRules, Recorder, new_id};
use crate::admin::{Admin, AdminActor};
use crate::detect::Alert;
use moat_audit::event::Event;
use moat_store::Store;
use moat_store::incidents::OPEN;
use serde_json::json;

pub struct Absorber<'a> {
    pub store: &'a dyn Store,
    pub admin: &'a Admin<'a>,
    pub rules: &'a IncidentRules,
}

/// What the triggering events touched.
#[derive(Default)]
struct Touched {
    repos: Vec<String>,
    vendors: Vec<String>,
    classes: Vec<String>,
}

fn add(list: &mut Vec<String>, value: &str) {
    if !list.iter().any(|v| v == value) {
        list.push(value.to_string());
    }
}

impl Absorber<'_> {
    /// Adds the alert recorded at `seq` (at `at`, seconds) to its subject's open
    /// incident, or opens one; `contained` says how detection contained it, if it did.
    /// Returns the incident's id.
    pub async fn absorb(
        &self,
        alert: &Alert,
        seq: u64,
        at: i64,
        contained: Option<String>,
    ) -> Result<String, IncidentError> {
        let touched = self.touched(alert).await?;
        let actor = AdminActor {
            user: Some(format!("alert:{seq}")),
            client: "detect".into(),
            ..AdminActor::default()
        };
        let by = format!("alert:{seq}");
        let reference = AlertRef {
            seq,
            rule: alert.rule.to_string(),
            at,
            message: alert.message.clone(),
        };
        let recorder = Recorder {
            store: self.store,
            admin: self.admin,
        };
        let merge = |i: &mut Incident| {
            if i.alerts.len() < super::MAX_ALERTS {
                i.alerts.push(reference.clone());
            } else {
                i.more_alerts += 1;
            }
            for repo in &touched.repos {
                add(&mut i.repos, repo);
            }
            for vendor in &touched.vendors {
                add(&mut i.vendors, vendor);
                i.since.entry(format!("vendor:{vendor}")).or_insert(at);
            }
            for class in &touched.classes {
                add(&mut i.classes, class);
                i.since.entry(format!("class:{class}")).or_insert(at);
            }
            if let Some(how) = &contained
                && i.taken("contained").is_none()
            {
                i.timeline.push(Entry {
                    step: "contained".into(),
                    at,
                    by: by.clone(),
                    note: Some(how.clone()),
                    meets: Vec::new(),
                });
            }
        };
        let request = json!({"alert": seq, "rule": alert.rule, "subject": alert.subject});
        let open = recorder
            .list(Some(OPEN))
            .await?
            .into_iter()
            .find(|i| i.subject == alert.subject);
        if let Some(before) = open {
            let id = before.id.clone();
            // Tried again after a write that went through but whose record failed:
            // the alert is there already, once.
            if before.alerts.iter().any(|a| a.seq == seq) {
                return Ok(id);
            }
            recorder
                .write(&actor, "incident.alert", before, request, |i| {
                    merge(i);
                    i.timeline.push(Entry {
                        step: "alert".into(),
                        at,
                        by: by.clone(),
                        note: Some(format!("{}: {}", alert.rule, alert.message)),
                        meets: Vec::new(),
                    });
                })
                .await?;
            return Ok(id);
        }
        let mut incident = Incident {
            id: new_id(),
            title: format!("{} alert about {}", alert.rule, alert.subject),
            subject: alert.subject.clone(),
            status: OPEN.into(),
            owner: None,
            detected_at: at,
            alerts: Vec::new(),
            repos: Vec::new(),
            vendors: Vec::new(),
            classes: Vec::new(),
            timeline: vec![Entry {
                step: "detected".into(),
                at,
                by: by.clone(),
                note: Some(format!("{}: {}", alert.rule, alert.message)),
                meets: Vec::new(),
            }],
            flagged: Vec::new(),
            since: Default::default(),
            more_alerts: 0,
            version: 1,
        };
        merge(&mut incident);
        let id = incident.id.clone();
        recorder.open(&actor, incident, request).await?;
        Ok(id)
    }

    /// Reads the alert's triggering events (and, for an egress alert, its vendor).
    async fn touched(&self, alert: &Alert) -> Result<Touched, IncidentError> {
        let mut touched = Touched::default();
        if let Some(vendor) = alert.subject.strip_prefix("vendor:") {
            add(&mut touched.vendors, vendor);
        }
        for seq in &alert.seqs {
            let Some(leaf) = self.store.audit_leaves(*seq, 1).await?.into_iter().next() else {
                continue;
            };
            let Ok(event) = serde_json::from_slice::<Event>(&leaf.canonical) else {
                continue;
            };
            let body = &event.body;
            let mut repos: Vec<&String> = body.resources.repos.iter().collect();
            if let Some(egress) = &body.egress {
                add(&mut touched.vendors, &egress.vendor);
                repos.extend(&egress.repos);
            }
            for repo in repos {
                add(&mut touched.repos, repo);
                if let Some((_, tags)) = self.rules.repo_tags.iter().find(|(r, _)| r == repo) {
                    for tag in tags {
                        add(&mut touched.classes, tag);
                    }
                }
            }
            for rule in body.redactions.keys() {
                if let Some(kind) = self.rules.dlp_kinds.get(rule) {
                    add(&mut touched.classes, kind);
                }
            }
        }
        Ok(touched)
    }
}
