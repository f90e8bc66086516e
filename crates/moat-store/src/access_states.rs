//! Recorded states of who may reach what (`moat access snapshot`, one a day while
//! Moat serves): what the authorizer was built from at a moment, so an evidence pack
//! can show the access matrix as it stood at the start of a period. The store keeps
//! the body as the service gives it (compressed JSON), once per distinct content: a
//! day on which nothing changed adds one row naming the body already kept.

use moat_domain::UnixTime;

/// One recorded state, without its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessState {
    /// The UTC day it stands for (`YYYY-MM-DD`): one state per day.
    pub day: String,
    pub taken_at: UnixTime,
    /// The audit log's size when it was taken: every change recorded before this
    /// sequence number is in the state.
    pub log_size: u64,
    /// SHA-256 (hex) of the state's JSON, as the `access.snapshot` audit event names it.
    pub sha256: String,
    /// That event, recorded before the state is kept (a state is never kept unnamed).
    pub recorded_seq: u64,
}
