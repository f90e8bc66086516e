//! The vendor register: every vendor that may receive code, with the posture a
//! security review asks for (attestations and their dates, SOC 2 period, retention,
//! breach-notification period, subprocessors, region, the models it serves), judged at
//! a moment: an attestation past its last day has stopped counting at the gateway
//! (`gateway::egress_refusal`), and one within 30 or 7 days of it is flagged.
//!
//! [`Watch`] is what `moat serve` runs: at start and every few hours it records a
//! `vendor.attestation_expiring` audit event for each attestation that has entered the
//! 30-day or the 7-day notice, or expired, since this process last said so (so a SIEM
//! reading the log, or the audit sinks, alerts on it).

use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::gateway::from_config;
use moat_audit::event::{Actor, Decision, EventBody, Outcome, Resources};
use moat_domain::UnixTime;
use serde::Serialize;
use serde_json::json;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// Days before an attestation's last day at which it is flagged.
pub const NOTICES: [i64; 2] = [30, 7];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub name: String,
    pub kind: String,
    pub region: String,
    pub on_prem: bool,
    pub attestations: Vec<Attestation>,
    /// `[first day, last day]` of the SOC 2 report.
    pub soc2_period: Option<[String; 2]>,
    pub retention_days: Option<u32>,
    pub breach_notice_hours: Option<u32>,
    pub subprocessors: Vec<String>,
    /// Model aliases served by this vendor.
    pub models: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attestation {
    pub name: String,
    pub signed: Option<String>,
    /// The last day it holds, when the register has one.
    pub last_day: Option<String>,
    pub state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum State {
    /// No last day on record: it holds until the configuration says otherwise.
    NoExpiry,
    Current {
        days_left: i64,
    },
    /// Within a notice period (30 or 7 days) of its last day.
    Expiring {
        days_left: i64,
        notice: i64,
    },
    /// Past its last day: code that requires it no longer goes to this vendor.
    Expired,
}

impl State {
    pub fn describe(&self, last_day: Option<&str>) -> String {
        let day = last_day.unwrap_or("?");
        match self {
            State::NoExpiry => "no last day on record".into(),
            State::Current { days_left } => format!("until {day} ({days_left} days)"),
            State::Expiring { days_left, .. } => {
                format!("EXPIRING: last day {day}, {days_left} days left")
            }
            State::Expired => format!("EXPIRED on {day}: code that requires it is refused"),
        }
    }
}

/// Whole days from `now` to the end of `last_day`, rounded up (the last day itself is
/// day 1).
fn state(until: UnixTime, now: UnixTime) -> State {
    if until <= now {
        return State::Expired;
    }
    let days_left = (until.0 - now.0 + 86_399) / 86_400;
    match NOTICES.iter().rev().find(|&&notice| days_left <= notice) {
        Some(&notice) => State::Expiring { days_left, notice },
        None => State::Current { days_left },
    }
}

/// The register of `config`'s vendors at `now`.
pub fn register(config: &moat_config::Config, now: UnixTime) -> Vec<Entry> {
    config
        .vendors
        .iter()
        .map(|vendor| {
            let expires = from_config::expiries(&vendor.attestations);
            let held = &vendor.attestations;
            let attestations = from_config::attestations(held)
                .into_iter()
                .map(|name| {
                    let by_name =
                        |dates: &std::collections::BTreeMap<moat_config::Attestation, String>| {
                            dates
                                .iter()
                                .find(|(a, _)| from_config::attestation_name(**a) == name)
                                .map(|(_, d)| d.clone())
                        };
                    let until = expires.get(&name).copied();
                    Attestation {
                        signed: by_name(&held.signed),
                        last_day: by_name(&held.expires),
                        state: until.map_or(State::NoExpiry, |until| state(until, now)),
                        name,
                    }
                })
                .collect();
            Entry {
                name: vendor.name.clone(),
                kind: serde_json::to_value(vendor.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                region: vendor.region.clone(),
                on_prem: vendor.on_prem,
                attestations,
                soc2_period: held.soc2_period.clone(),
                retention_days: held.retention_days,
                breach_notice_hours: held.breach_notice_hours,
                subprocessors: held.subprocessors.clone(),
                models: config
                    .models
                    .iter()
                    .filter(|m| m.vendor == vendor.name)
                    .map(|m| m.alias.clone())
                    .collect(),
            }
        })
        .collect()
}

/// Records each attestation entering a notice period, or expiring, once per process.
pub struct Watch {
    config: Arc<moat_config::Config>,
    audit: Arc<AuditLog>,
    clock: Arc<dyn Clock>,
    policy_version: String,
    said: Mutex<HashSet<(String, String, String, &'static str)>>,
}

impl Watch {
    pub fn new(
        config: Arc<moat_config::Config>,
        audit: Arc<AuditLog>,
        clock: Arc<dyn Clock>,
        policy_version: String,
    ) -> Watch {
        Watch {
            config,
            audit,
            clock,
            policy_version,
            said: Mutex::new(HashSet::new()),
        }
    }

    /// Records what is new since the last check; returns how many events it recorded.
    pub async fn check(&self) -> Result<usize, crate::audit::AuditError> {
        let mut recorded = 0;
        for entry in register(&self.config, self.clock.now()) {
            for attestation in &entry.attestations {
                let (label, days_left) = match attestation.state {
                    State::Expiring { days_left, notice } => {
                        (if notice == 7 { "7 days" } else { "30 days" }, days_left)
                    }
                    State::Expired => ("expired", 0),
                    _ => continue,
                };
                let key = (
                    entry.name.clone(),
                    attestation.name.clone(),
                    attestation.last_day.clone().unwrap_or_default(),
                    label,
                );
                if self.said.lock().is_ok_and(|said| said.contains(&key)) {
                    continue;
                }
                self.audit
                    .record(self.event(&entry, attestation, label, days_left))
                    .await?;
                if let Ok(mut said) = self.said.lock() {
                    said.insert(key);
                }
                recorded += 1;
            }
        }
        Ok(recorded)
    }

    fn event(
        &self,
        entry: &Entry,
        attestation: &Attestation,
        notice: &str,
        days_left: i64,
    ) -> EventBody {
        EventBody {
            actor: Actor {
                client: Some("moat".into()),
                ..Actor::default()
            },
            action: "vendor.attestation_expiring".into(),
            resources: Resources {
                objects: vec![format!("vendor:{}", entry.name)],
                ..Resources::default()
            },
            decision: Decision {
                outcome: Outcome::Allow,
                rule: Some(format!("vendors[name={}].attestations.expires", entry.name)),
                reason: Some(format!(
                    "vendor `{}`'s `{}` {}",
                    entry.name,
                    attestation.name,
                    attestation.state.describe(attestation.last_day.as_deref())
                )),
            },
            policy_version: self.policy_version.clone(),
            disclosed: Default::default(),
            redactions: Default::default(),
            egress: None,
            content_ref: None,
            details: json!({
                "vendor": entry.name,
                "attestation": attestation.name,
                "last_day": attestation.last_day,
                "notice": notice,
                "days_left": days_left,
                "models": entry.models,
            }),
        }
    }

    /// Checks now and then every `every`.
    pub async fn keep(self: Arc<Self>, every: std::time::Duration) {
        loop {
            if let Err(error) = self.check().await {
                tracing::warn!(%error, "vendor attestation notices could not be recorded; trying again later");
            }
            tokio::time::sleep(every).await;
        }
    }
}
