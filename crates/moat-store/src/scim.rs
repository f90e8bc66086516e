//! What SCIM provisioning stores: people with their SCIM view, and teams (SCIM groups).

use moat_domain::{UnixTime, User, UserId};

/// A person as SCIM sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimUser {
    pub user: User,
    /// Unique, compared case-insensitively; the email unless the identity provider
    /// says otherwise.
    pub user_name: String,
    /// The SCIM attributes Moat keeps as the identity provider sent them (name,
    /// emails, the enterprise extension...), a JSON object.
    pub attributes: serde_json::Value,
    /// Moves with every write of the person (the SCIM ETag).
    pub version: u64,
    pub updated_at: UnixTime,
}

/// A team: a SCIM group. Its members carry its name in `User::teams`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// `team_` followed by hex.
    pub id: String,
    /// Unique, compared case-insensitively.
    pub name: String,
    pub external_id: Option<String>,
    /// Ordered by user id.
    pub members: Vec<UserId>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
    pub version: u64,
}
