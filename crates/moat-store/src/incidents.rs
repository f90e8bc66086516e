//! Incidents (`moat incident ...`): alerts grouped under one subject, with an owner
//! and a timeline. The store keeps each as a row whose body the service writes (the
//! timeline and the alerts change shape more often than a schema should); the columns
//! it filters on stand beside it, and `version` makes every change conditional on the
//! one it was made from.

use moat_domain::UnixTime;

/// Where an incident stands.
pub const OPEN: &str = "open";
pub const RESOLVED: &str = "resolved";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIncident {
    /// `inc_` and 16 hexadecimal characters.
    pub id: String,
    /// Whom or what it is about: a person's email or id, or `vendor:<name>`.
    pub subject: String,
    /// [`OPEN`] or [`RESOLVED`].
    pub status: String,
    pub opened_at: UnixTime,
    /// 1 when opened, one more with each change.
    pub version: i64,
    /// The incident as the service writes it (JSON).
    pub body: String,
}
