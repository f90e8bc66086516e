//! What one pass over the period's events gathers besides the extract itself: the
//! configuration versions that came into force, every change to who may reach what
//! (kept in a side file, not in memory), alerts, people joining and leaving, and the
//! DLP and egress statistics. Every event is read through a slim view (its action,
//! decision, redactions and egress); only the few kinds that matter here are read in
//! full.

use moat_audit::event::{Egress, Event, Outcome};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufWriter, Write};

/// The fields every event is read for.
#[derive(Deserialize)]
struct Slim {
    action: String,
    decision: SlimDecision,
    #[serde(default)]
    redactions: BTreeMap<String, u64>,
    #[serde(default)]
    egress: Option<Egress>,
}

#[derive(Deserialize)]
struct SlimDecision {
    outcome: Outcome,
    #[serde(default)]
    rule: Option<String>,
}

/// A configuration that came into force (`config.load`) or was published.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyLoad {
    pub seq: u64,
    pub time: String,
    pub operation: String,
    /// The file, or `published configuration version N`.
    pub source: String,
    pub sha256: String,
    pub policy_version: String,
    /// The vendor and model registers a loaded file had (recorded since session 39;
    /// a published version's are read from the store instead).
    #[serde(skip)]
    pub registers: Option<(serde_json::Value, serde_json::Value)>,
}

impl PolicyLoad {
    /// From a `config.load` or `config.publish` event; `None` for any other.
    pub fn from_event(event: &Event) -> Option<PolicyLoad> {
        let details = &event.body.details;
        let operation = details["operation"].as_str()?;
        if !matches!(operation, "config.load" | "config.publish")
            || details["phase"].as_str() != Some("applied")
        {
            return None;
        }
        let after = &details["after"];
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        Some(PolicyLoad {
            seq: event.seq,
            time: event.time.clone(),
            operation: operation.to_string(),
            source: after["file"]
                .as_str()
                .map(str::to_string)
                .or_else(|| event.body.resources.objects.first().cloned())
                .unwrap_or_default(),
            sha256: text(&after["sha256"]),
            policy_version: after["policy_version"]
                .as_str()
                .map_or_else(|| event.body.policy_version.clone(), str::to_string),
            registers: (after["vendors"].is_array() && after["models"].is_array())
                .then(|| (after["vendors"].clone(), after["models"].clone())),
        })
    }

    /// The published configuration version it names, if it was one.
    pub fn published_version(&self) -> Option<i64> {
        self.source
            .strip_prefix("published configuration version ")?
            .parse()
            .ok()
    }
}

/// Requests and bytes sent to one vendor's model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    pub requests: u64,
    pub bytes: u64,
}

pub struct Observer {
    /// Every change to access, identity, configuration or exceptions, as JSON lines.
    pub changes: BufWriter<std::fs::File>,
    pub changes_count: u64,
    /// Alerts (attestations expiring, detections), as JSON lines.
    pub alerts: BufWriter<std::fs::File>,
    pub alerts_count: u64,
    pub policy: Vec<PolicyLoad>,
    pub people: super::people::People,
    /// Redactions by rule or kind.
    pub redactions: BTreeMap<String, u64>,
    /// Refusals by action, rule and (for refused authentications) reason code.
    pub refusals: BTreeMap<(String, String, String), u64>,
    /// Egress by vendor and model.
    pub egress: BTreeMap<(String, String), Sent>,
    pub events: u64,
}

/// Actions whose events are kept whole in the changes file (a recorded access state
/// is not a change: it records what the changes made).
pub(super) fn is_change(action: &str) -> bool {
    action == "admin.change"
        || action.starts_with("exception.")
        || (action.starts_with("access.") && !matches!(action, "access.denied" | "access.snapshot"))
        || action.starts_with("oauth.")
}

fn is_alert(action: &str) -> bool {
    action == "vendor.attestation_expiring"
        || action.starts_with("alert.")
        || action.starts_with("incident.")
}

impl Observer {
    /// `tokens` maps each token id to its person, so refusals of a leaver's tokens are
    /// theirs.
    pub fn new(tokens: HashMap<String, String>) -> io::Result<Observer> {
        Ok(Observer {
            changes: BufWriter::new(tempfile::tempfile()?),
            changes_count: 0,
            alerts: BufWriter::new(tempfile::tempfile()?),
            alerts_count: 0,
            policy: Vec::new(),
            people: super::people::People::new(tokens),
            redactions: BTreeMap::new(),
            refusals: BTreeMap::new(),
            egress: BTreeMap::new(),
            events: 0,
        })
    }

    /// Takes one event's canonical bytes into account.
    pub fn observe(&mut self, canonical: &[u8]) -> io::Result<()> {
        self.events += 1;
        let corrupt =
            |e: serde_json::Error| io::Error::other(format!("an event cannot be read: {e}"));
        let slim: Slim = serde_json::from_slice(canonical).map_err(corrupt)?;
        for (rule, count) in slim.redactions {
            *self.redactions.entry(rule).or_default() += count;
        }
        let refused = slim.decision.outcome == Outcome::Deny;
        if refused && slim.action != "auth.refused" {
            let key = (
                slim.action.clone(),
                slim.decision.rule.unwrap_or_default(),
                String::new(),
            );
            *self.refusals.entry(key).or_default() += 1;
        }
        if slim.action == "gateway.request"
            && let Some(egress) = slim.egress
        {
            let sent = self
                .egress
                .entry((egress.vendor, egress.model))
                .or_default();
            sent.requests += 1;
            sent.bytes += egress.bytes;
        }
        let change = is_change(&slim.action);
        let alert = is_alert(&slim.action);
        if !(change || alert || slim.action == "auth.refused") {
            return Ok(());
        }
        let event = Event::from_canonical(canonical).map_err(corrupt)?;
        if refused && slim.action == "auth.refused" {
            // One event counts the refusals of a minute from one source for one reason.
            let details = &event.body.details;
            let key = (
                slim.action.clone(),
                event.body.decision.rule.clone().unwrap_or_default(),
                details["reason"].as_str().unwrap_or_default().to_string(),
            );
            *self.refusals.entry(key).or_default() += details["count"].as_u64().unwrap_or(1);
        }
        if change {
            self.changes.write_all(canonical)?;
            self.changes.write_all(b"\n")?;
            self.changes_count += 1;
            if let Some(load) = PolicyLoad::from_event(&event) {
                self.policy.push(load);
            }
        }
        if alert {
            self.alerts.write_all(canonical)?;
            self.alerts.write_all(b"\n")?;
            self.alerts_count += 1;
        }
        self.people.observe(&event);
        Ok(())
    }
}
