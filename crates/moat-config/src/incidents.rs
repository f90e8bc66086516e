//! `[incidents]`: how fast an incident must be acknowledged and contained, and whom it
//! must be notified to, by when, for each class of data it touched.

use crate::Duration;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Incidents {
    /// An incident not acknowledged this long after it was detected is overdue.
    pub acknowledge_within: Duration,
    /// Nor contained this long after.
    pub contain_within: Duration,
    /// Notification deadlines by data class. Listing any replaces the defaults (PHI:
    /// 60 days, HIPAA; PII: 72 hours, GDPR).
    pub notify: Vec<Notify>,
}

/// One `[[incidents.notify]]`: an incident that touched data of `class` must be
/// notified to `who` within `within` of its detection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// A repository tag (`[[repos]] tags`) or a DLP kind (`pii`, `phi`, `secret`).
    pub class: String,
    pub within: Duration,
    /// Whom to notify, and under which rule, in words.
    pub who: String,
}

impl Default for Incidents {
    fn default() -> Self {
        Incidents {
            acknowledge_within: Duration::seconds(3_600),
            contain_within: Duration::seconds(4 * 3_600),
            notify: vec![
                Notify {
                    class: "phi".into(),
                    within: Duration::days(60),
                    who: "HHS and the affected individuals (HIPAA breach notification, 45 CFR 164.404-408)".into(),
                },
                Notify {
                    class: "pii".into(),
                    within: Duration::seconds(72 * 3_600),
                    who: "the supervisory authority (GDPR art. 33)".into(),
                },
            ],
        }
    }
}
