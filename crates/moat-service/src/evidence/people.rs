//! Joiners and leavers of the period, read off the identity changes on the record, and
//! for each leaver the time from offboarding to the first refusal of their credentials
//! (`auth.refused` naming their token or account): what "access ends at once" looked
//! like in practice.

use crate::csv;
use moat_audit::event::Event;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joiner {
    pub seq: u64,
    pub time: String,
    pub user: String,
    pub email: String,
    pub operation: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaver {
    pub seq: u64,
    pub time: String,
    pub user: String,
    pub email: String,
    pub operation: String,
    /// `suspended`, `deprovisioned` or `deleted`.
    pub status: String,
    pub first_refusal: Option<Refusal>,
}

/// The first refused use of a leaver's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub seq: u64,
    /// When it was refused (the first of the counted refusals).
    pub time: String,
    pub reason: String,
}

impl Leaver {
    /// Seconds from offboarding to the first refusal.
    pub fn seconds_to_refusal(&self) -> Option<f64> {
        let refusal = self.first_refusal.as_ref()?;
        Some((millis(&refusal.time)? - millis(&self.time)?) as f64 / 1000.0)
    }
}

fn millis(rfc3339: &str) -> Option<i64> {
    let parsed =
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
            .ok()?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attested {
    pub seq: u64,
    pub time: String,
    pub user: String,
    pub email: String,
}

pub struct People {
    /// Token id → person.
    tokens: HashMap<String, String>,
    pub joiners: Vec<Joiner>,
    pub leavers: Vec<Leaver>,
    /// Leavers (index) whose first refusal is still to come, by person.
    waiting: HashMap<String, usize>,
    pub attested: Vec<Attested>,
}

const JOINING: [&str; 4] = [
    "user.add",
    "scim.user.create",
    "user.reactivate",
    "scim.user.reactivate",
];

impl People {
    pub fn new(tokens: HashMap<String, String>) -> People {
        People {
            tokens,
            joiners: Vec::new(),
            leavers: Vec::new(),
            waiting: HashMap::new(),
            attested: Vec::new(),
        }
    }

    pub fn observe(&mut self, event: &Event) {
        match event.body.action.as_str() {
            "admin.change" => self.change(event),
            "auth.refused" => self.refused(event),
            _ => {}
        }
    }

    fn change(&mut self, event: &Event) {
        let details = &event.body.details;
        if details["phase"].as_str() != Some("applied") {
            return;
        }
        let operation = details["operation"].as_str().unwrap_or_default();
        let (before, after) = (&details["before"], &details["after"]);
        let person = if after.is_object() { after } else { before };
        let (Some(user), email) = (
            person["id"].as_str(),
            person["email"].as_str().unwrap_or_default(),
        ) else {
            return;
        };
        let status = after["status"].as_str();
        if JOINING.contains(&operation) && status == Some("active") {
            self.waiting.remove(user);
            self.joiners.push(Joiner {
                seq: event.seq,
                time: event.time.clone(),
                user: user.to_string(),
                email: email.to_string(),
                operation: operation.to_string(),
            });
            return;
        }
        if operation == "user.attest" {
            self.attested.push(Attested {
                seq: event.seq,
                time: event.time.clone(),
                user: user.to_string(),
                email: email.to_string(),
            });
            return;
        }
        let was_active = before["status"].as_str().is_none_or(|s| s == "active");
        let left = match status {
            Some(s @ ("suspended" | "deprovisioned")) => Some(s),
            None if operation.ends_with(".delete") => Some("deleted"),
            _ => None,
        };
        if let Some(left) = left
            && was_active
            && (operation.starts_with("user.") || operation.starts_with("scim.user."))
        {
            self.waiting.insert(user.to_string(), self.leavers.len());
            self.leavers.push(Leaver {
                seq: event.seq,
                time: event.time.clone(),
                user: user.to_string(),
                email: email.to_string(),
                operation: operation.to_string(),
                status: left.to_string(),
                first_refusal: None,
            });
        }
    }

    fn refused(&mut self, event: &Event) {
        let actor = &event.body.actor;
        let user = actor.user.clone().or_else(|| {
            actor
                .token_id
                .as_ref()
                .and_then(|t| self.tokens.get(t).cloned())
        });
        let Some(user) = user else { return };
        let Some(&at) = self.waiting.get(&user) else {
            return;
        };
        let details = &event.body.details;
        let time = details["first"]
            .as_str()
            .filter(|t| !t.is_empty())
            .unwrap_or(&event.time)
            .to_string();
        if millis(&time) < millis(&self.leavers[at].time) {
            return;
        }
        self.waiting.remove(&user);
        self.leavers[at].first_refusal = Some(Refusal {
            seq: event.seq,
            time,
            reason: details["reason"].as_str().unwrap_or_default().to_string(),
        });
    }

    pub fn joiners_csv(&self) -> String {
        let mut out = String::from("seq,time,email,user,operation\n");
        for j in &self.joiners {
            out.push_str(&csv::row(&[
                j.seq.to_string(),
                j.time.clone(),
                j.email.clone(),
                j.user.clone(),
                j.operation.clone(),
            ]));
            out.push('\n');
        }
        out
    }

    pub fn leavers_csv(&self) -> String {
        let mut out = String::from(
            "seq,time,email,user,operation,status,first_refusal_seq,first_refusal_time,seconds_to_first_refusal,refusal_reason\n",
        );
        for l in &self.leavers {
            let refusal = l.first_refusal.as_ref();
            out.push_str(&csv::row(&[
                l.seq.to_string(),
                l.time.clone(),
                l.email.clone(),
                l.user.clone(),
                l.operation.clone(),
                l.status.clone(),
                refusal.map(|r| r.seq.to_string()).unwrap_or_default(),
                refusal.map(|r| r.time.clone()).unwrap_or_default(),
                l.seconds_to_refusal()
                    .map(|s| format!("{s:.3}"))
                    .unwrap_or_default(),
                refusal.map(|r| r.reason.clone()).unwrap_or_default(),
            ]));
            out.push('\n');
        }
        out
    }
}
