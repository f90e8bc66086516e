//! An incident as the service keeps it (the store's row body), its timeline, and the
//! deadlines `[incidents]` and the vendor register set on it.

use moat_domain::UnixTime;
use serde::{Deserialize, Serialize};

/// The most alerts an incident lists; later ones are counted.
pub const MAX_ALERTS: usize = 1_000;

/// The steps of an incident's timeline that deadlines can name, in the order a
/// response usually takes them.
pub const STEPS: [&str; 5] = [
    "detected",
    "acknowledged",
    "contained",
    "notified",
    "resolved",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub title: String,
    /// Whom or what it is about: a person (their email as recorded, else their id),
    /// or `vendor:<name>`.
    pub subject: String,
    /// `open` or `resolved`.
    pub status: String,
    pub owner: Option<String>,
    /// Seconds since the epoch.
    pub detected_at: i64,
    pub alerts: Vec<AlertRef>,
    /// What the alerts' triggering events touched.
    pub repos: Vec<String>,
    pub vendors: Vec<String>,
    /// Repository tags and DLP kinds seen; the notification deadlines follow them.
    pub classes: Vec<String>,
    pub timeline: Vec<Entry>,
    /// Deadlines already raised as overdue (`alert.incident_overdue`), by key.
    #[serde(default)]
    pub flagged: Vec<String>,
    /// When each class and vendor (`class:phi`, `vendor:acme`) was first seen in the
    /// incident: its notification clock starts then, not at detection.
    #[serde(default)]
    pub since: std::collections::BTreeMap<String, i64>,
    /// Alerts beyond [`MAX_ALERTS`], counted but not listed.
    #[serde(default)]
    pub more_alerts: u64,
    /// The stored row's version this was read at (not part of the body).
    #[serde(skip)]
    pub version: i64,
}

/// One alert grouped under an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRef {
    /// The alert's own sequence number in the audit log.
    pub seq: u64,
    pub rule: String,
    pub at: i64,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// One of [`STEPS`], or `alert`, `assigned`, `note`.
    pub step: String,
    pub at: i64,
    /// Who took the step: an email, `local:<user>`, or `alert:<seq>` for detection.
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// `notified`: the deadline keys it meets (`class:phi`, `vendor:acme`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meets: Vec<String>,
}

/// A step due by a time, and whether it was taken.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deadline {
    /// `acknowledged`, `contained`, or `notified:class:<class>` /
    /// `notified:vendor:<name>`.
    pub key: String,
    pub step: &'static str,
    pub due: String,
    /// Why it is due then, with the configuration key that says so.
    pub why: String,
    pub met_at: Option<String>,
    /// Not met and past due.
    pub overdue: bool,
}

/// `[incidents]` and the vendor register, as deadlines need them.
#[derive(Debug, Clone, Default)]
pub struct IncidentRules {
    pub acknowledge_seconds: i64,
    pub contain_seconds: i64,
    /// `(class, seconds, whom)`.
    pub notify: Vec<(String, i64, String)>,
    /// `(vendor, breach-notification hours)` of vendors that declare one.
    pub vendor_notice_hours: Vec<(String, u32)>,
    /// `(repository, tags)`.
    pub repo_tags: Vec<(String, Vec<String>)>,
    /// DLP rule id → kind (`secret`, `pii`, `phi`), built-in and the organisation's.
    pub dlp_kinds: std::collections::HashMap<String, String>,
}

impl IncidentRules {
    /// `[incidents]`' defaults, with no vendor or repository known.
    pub fn standard() -> IncidentRules {
        let mut rules = IncidentRules::with(&moat_config::Incidents::default());
        rules.dlp_kinds = builtin_kinds();
        rules
    }

    fn with(incidents: &moat_config::Incidents) -> IncidentRules {
        IncidentRules {
            acknowledge_seconds: incidents.acknowledge_within.seconds,
            contain_seconds: incidents.contain_within.seconds,
            notify: incidents
                .notify
                .iter()
                .map(|n| (n.class.clone(), n.within.seconds, n.who.clone()))
                .collect(),
            ..IncidentRules::default()
        }
    }

    pub fn from_config(config: &moat_config::Config) -> IncidentRules {
        let mut dlp_kinds = builtin_kinds();
        for rule in &config.dlp.rules {
            let kind = match rule.kind {
                moat_config::DlpKind::Secret => "secret",
                moat_config::DlpKind::Pii => "pii",
                moat_config::DlpKind::Phi => "phi",
            };
            dlp_kinds.insert(rule.id.clone(), kind.into());
        }
        IncidentRules {
            vendor_notice_hours: config
                .vendors
                .iter()
                .filter_map(|v| Some((v.name.clone(), v.attestations.breach_notice_hours?)))
                .collect(),
            repo_tags: config
                .repos
                .iter()
                .map(|r| (r.name.clone(), r.tags.clone()))
                .collect(),
            dlp_kinds,
            ..IncidentRules::with(&config.incidents)
        }
    }
}

fn builtin_kinds() -> std::collections::HashMap<String, String> {
    moat_dlp::rules::RULES
        .iter()
        .map(|r| (r.id.to_string(), r.kind.as_str().to_string()))
        .collect()
}

impl Incident {
    /// The first entry of `step`, if it was taken.
    pub fn taken(&self, step: &str) -> Option<&Entry> {
        self.timeline.iter().find(|e| e.step == step)
    }

    pub fn is_open(&self) -> bool {
        self.status == moat_store::incidents::OPEN
    }

    /// Every deadline of this incident as of `now`.
    pub fn deadlines(&self, rules: &IncidentRules, now: UnixTime) -> Vec<Deadline> {
        let detected = self.detected_at;
        let mut out = Vec::new();
        let resolved = self.taken("resolved").map(|e| e.at);
        let mut push =
            |key: String, step: &'static str, seconds: i64, why: String, met: Option<i64>| {
                // A class or vendor first seen with a later alert starts its clock then.
                let from = key
                    .strip_prefix("notified:")
                    .and_then(|k| self.since.get(k))
                    .copied()
                    .unwrap_or(detected);
                let due = UnixTime(from).plus_seconds(seconds);
                // Resolving ends the clock on acknowledging and containing, not on telling
                // those the law or a contract says must be told.
                let moot = step != "notified" && resolved.is_some();
                out.push(Deadline {
                    key,
                    step,
                    due: due.to_rfc3339(),
                    why,
                    met_at: met
                        .or(if moot { resolved } else { None })
                        .map(|at| UnixTime(at).to_rfc3339()),
                    overdue: met.is_none() && !moot && now.0 > due.0,
                });
            };
        push(
            "acknowledged".into(),
            "acknowledged",
            rules.acknowledge_seconds,
            format!(
                "acknowledge within {} (`incidents.acknowledge_within`)",
                span(rules.acknowledge_seconds)
            ),
            self.taken("acknowledged").map(|e| e.at),
        );
        push(
            "contained".into(),
            "contained",
            rules.contain_seconds,
            format!(
                "contain within {} (`incidents.contain_within`)",
                span(rules.contain_seconds)
            ),
            self.taken("contained").map(|e| e.at),
        );
        for (class, seconds, who) in &rules.notify {
            if self.classes.contains(class) {
                let key = format!("class:{class}");
                push(
                    format!("notified:{key}"),
                    "notified",
                    *seconds,
                    format!(
                        "{class} data: notify {who} within {} (`incidents.notify[class={class}]`)",
                        span(*seconds)
                    ),
                    self.met(&key),
                );
            }
        }
        for (vendor, hours) in &rules.vendor_notice_hours {
            if self.vendors.contains(vendor) {
                let key = format!("vendor:{vendor}");
                push(
                    format!("notified:{key}"),
                    "notified",
                    i64::from(*hours) * 3_600,
                    format!(
                        "code went to vendor `{vendor}`, whose breach-notification window is {hours} h (`vendors[name={vendor}].attestations.breach_notice_hours`): notify them within it"
                    ),
                    self.met(&key),
                );
            }
        }
        out
    }

    /// When a `notified` entry met the deadline of `key` (each names those it met).
    fn met(&self, key: &str) -> Option<i64> {
        self.timeline
            .iter()
            .find(|e| e.step == "notified" && e.meets.iter().any(|m| m == key))
            .map(|e| e.at)
    }
}

/// `90d`, `72h`, `45m`: the largest unit that divides it.
pub fn span(seconds: i64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
