//! People and the credentials Moat issues to them.

use crate::{UnixTime, named_enum};
use serde::{Deserialize, Serialize};

/// Stable user id, `usr_` followed by hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub String);

/// Public token id, `tok_` followed by hex; safe to show, log and audit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenId(pub String);

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for TokenId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

named_enum! {
    /// What a person may do in Moat.
    pub enum Role ("role") {
        /// Configure Moat.
        Admin = "admin",
        /// Audit, alerts, exceptions, evidence.
        Security = "security",
        /// Read-only audit and evidence.
        Auditor = "auditor",
        /// Context and models.
        Developer = "developer",
    }
}

named_enum! {
    /// Whether a person's credentials work.
    pub enum UserStatus ("user status") {
        Active = "active",
        /// Temporarily blocked; tokens are refused but kept.
        Suspended = "suspended",
        /// Offboarded; every token is revoked.
        Deprovisioned = "deprovisioned",
    }
}

named_enum! {
    /// What a token may be used for.
    pub enum Scope ("scope") {
        Mcp = "mcp",
        Gateway = "gateway",
        Admin = "admin",
    }
}

named_enum! {
    /// The one resource an OAuth access token is for (RFC 8707 `resource`): a token
    /// bound to one is refused on every other.
    pub enum Audience ("audience") {
        /// The MCP endpoint, `/mcp`.
        Mcp = "mcp",
        /// The LLM gateway, `/v1`.
        Gateway = "gateway",
    }
}

impl Audience {
    /// The path of the resource under the public URL.
    pub fn path(self) -> &'static str {
        match self {
            Audience::Mcp => "/mcp",
            Audience::Gateway => "/v1",
        }
    }

    /// The scope this resource needs.
    pub fn scope(self) -> Scope {
        match self {
            Audience::Mcp => Scope::Mcp,
            Audience::Gateway => Scope::Gateway,
        }
    }
}

/// Identifiers of the same person in other systems.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalIds {
    pub oidc_subject: Option<String>,
    pub scim_id: Option<String>,
}

/// The security training a person last completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingAttestation {
    pub version: String,
    pub completed_at: UnixTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub status: UserStatus,
    pub roles: Vec<Role>,
    pub teams: Vec<String>,
    pub external: ExternalIds,
    pub training: Option<TrainingAttestation>,
    pub created_at: UnixTime,
}

/// The roles that may hold an admin-scoped token.
pub const ADMIN_SCOPE_ROLES: [Role; 3] = [Role::Admin, Role::Security, Role::Auditor];

impl User {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the person may hold (and use) a token of `scope`. The admin scope opens
    /// the admin API, where Cedar decides every call for the person (`Administer` for
    /// admins, `ViewAudit`, `Contain`, `ExportEvidence` for the security and audit
    /// roles too); a developer has nothing there and cannot hold one.
    pub fn may_hold(&self, scope: Scope) -> bool {
        match scope {
            Scope::Admin => ADMIN_SCOPE_ROLES.iter().any(|role| self.has_role(*role)),
            Scope::Mcp | Scope::Gateway => true,
        }
    }
}

/// An org-issued credential. The secret itself is never kept: only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub secret_sha256: [u8; 32],
    pub created_at: UnixTime,
    pub expires_at: Option<UnixTime>,
    pub last_used_at: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
    /// Set when this token was rotated: the token that replaced it.
    pub replaced_by: Option<TokenId>,
    /// For an OAuth access token: the grant it was issued under (revoking the grant
    /// revokes it) and the one resource it is for. `None` for tokens an admin issued.
    pub oauth: Option<OAuthBinding>,
}

/// What ties an OAuth access token to its grant and resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthBinding {
    pub grant: String,
    pub audience: Audience,
}

impl Token {
    pub fn is_expired_at(&self, now: UnixTime) -> bool {
        self.expires_at.is_some_and(|expiry| now >= expiry)
    }

    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}
