//! Exceptions to the policy (`moat exception ...`): a person, what they may reach
//! beyond the rules, why, for how long, and where the request stands.

use moat_domain::UnixTime;

/// Where an exception stands.
pub const PENDING: &str = "pending";
pub const APPROVED: &str = "approved";
pub const DENIED: &str = "denied";
pub const REVOKED: &str = "revoked";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyException {
    /// `ex_` and 16 hexadecimal characters.
    pub id: String,
    /// The person it is for.
    pub user_id: String,
    /// `repo` (read a repository the rules do not let them read), `model` (use a
    /// model outside their teams' allowlist), `tier` (read every repository of a tier)
    /// or `vendor` (send code its attestations do not cover to a vendor).
    pub kind: String,
    /// The repository, model alias, tier or vendor.
    pub target: String,
    pub reason: String,
    /// How long it is asked for, in seconds.
    pub seconds: i64,
    /// [`PENDING`], [`APPROVED`], [`DENIED`] or [`REVOKED`].
    pub status: String,
    pub requested_at: UnixTime,
    /// Who asked (an email, or the local operator).
    pub requested_by: String,
    pub decided_at: Option<UnixTime>,
    pub decided_by: Option<String>,
    /// The reviewer's or the revoker's words.
    pub note: Option<String>,
    /// The window an approved exception holds in: `[starts_at, ends_at)`.
    pub starts_at: Option<UnixTime>,
    pub ends_at: Option<UnixTime>,
}

impl PolicyException {
    /// Whether it lets its person through at `now`: approved, and `now` in its window.
    pub fn in_force(&self, now: UnixTime) -> bool {
        self.status == APPROVED
            && self.starts_at.is_some_and(|at| at <= now)
            && self.ends_at.is_some_and(|at| now < at)
    }
}
