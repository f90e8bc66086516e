//! Kill switches (`moat kill-switch ...`): a repository frozen, a model or a vendor
//! disabled, for every node at once, until someone releases it.

use moat_domain::UnixTime;

/// What a switch stops.
pub const REPO: &str = "repo";
pub const MODEL: &str = "model";
pub const VENDOR: &str = "vendor";

/// One engaged switch. Engaging and releasing move the access version, so every node's
/// authorizer takes the change at its next decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillSwitch {
    /// [`REPO`], [`MODEL`] or [`VENDOR`].
    pub kind: String,
    /// The repository, model alias or vendor name.
    pub target: String,
    pub reason: String,
    /// Who engaged it (an email, or the local operator).
    pub engaged_by: String,
    pub engaged_at: UnixTime,
}
