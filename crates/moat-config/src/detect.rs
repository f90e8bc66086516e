//! `[detect]`: the thresholds of the anomaly rules run over the audit stream.

use crate::Duration;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Detect {
    /// Run the rules at all.
    pub enabled: bool,
    /// History replayed (without alerting) to rebuild baselines when a node starts
    /// evaluating.
    pub baseline: Duration,
    /// Bytes of code disclosed to one person in an hour: alert past this many standard
    /// deviations above their own hourly mean (an exponentially weighted one)...
    pub volume_z: f64,
    /// ...once this many of their active hours have been seen...
    pub volume_warmup_hours: u32,
    /// ...and the hour holds at least this many bytes.
    pub volume_min_bytes: u64,
    /// Past this many bytes in an hour, alert whatever the baseline.
    pub volume_ceiling_bytes: u64,
    /// Distinct repositories one person reads in an hour.
    pub breadth_repos_per_hour: u32,
    /// Distinct files one person reads in an hour.
    pub breadth_files_per_hour: u32,
    /// Distinct files of one repository walked with `read_source` or
    /// `get_file_outline` within `enumeration_window`.
    pub enumeration_files: u32,
    pub enumeration_window: Duration,
    /// Refusals (access, egress, DLP, authentication) of one person or token within
    /// `denials_window`.
    pub denials: u32,
    pub denials_window: Duration,
    /// Values redacted from one person's prompts in an hour.
    pub redactions_per_hour: u32,
    /// A token used from a client or address it never used, or a person active at an
    /// hour of the day they never were, once they have this many events on record.
    pub novelty_after_events: u32,
    /// Bytes sent to one vendor in an hour: standard deviations above its mean...
    pub egress_z: f64,
    /// ...once this many of its active hours have been seen...
    pub egress_warmup_hours: u32,
    /// ...and the hour holds at least this many bytes.
    pub egress_min_bytes: u64,
    /// Rules whose alert suspends the person it names at once (a kill switch engaged
    /// by detection); none by default. Reactivating is `moat user reactivate`.
    pub suspend_on: Vec<String>,
}

/// The rules an alert of which may suspend its person (`egress` names a vendor).
pub const PERSON_RULES: [&str; 7] = [
    "volume",
    "breadth",
    "enumeration",
    "denials",
    "secrets",
    "injection",
    "novelty",
];

impl Default for Detect {
    fn default() -> Self {
        Detect {
            enabled: true,
            baseline: Duration::days(14),
            volume_z: 4.0,
            volume_warmup_hours: 8,
            volume_min_bytes: 256 * 1024,
            volume_ceiling_bytes: 8 * 1024 * 1024,
            breadth_repos_per_hour: 15,
            breadth_files_per_hour: 300,
            enumeration_files: 40,
            enumeration_window: Duration::seconds(600),
            denials: 10,
            denials_window: Duration::seconds(600),
            redactions_per_hour: 25,
            novelty_after_events: 200,
            egress_z: 4.0,
            egress_warmup_hours: 24,
            egress_min_bytes: 1024 * 1024,
            suspend_on: Vec::new(),
        }
    }
}
