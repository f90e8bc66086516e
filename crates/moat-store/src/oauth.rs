//! What Moat keeps as an OAuth authorization server: clients, grants, and the secrets
//! around them. Secrets are stored by SHA-256 only, like tokens.

use moat_domain::{Audience, Scope, UnixTime, UserId};

/// A client that may ask for authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClientRow {
    pub id: String,
    /// `config`, `metadata-document` or `registered` (RFC 7591).
    pub source: String,
    /// The client's metadata as registered or fetched (JSON object).
    pub metadata: String,
    pub created_at: UnixTime,
}

/// A person's consent to a client: the scopes and the one resource it may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthGrant {
    pub id: String,
    pub user: UserId,
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<Scope>,
    pub audience: Audience,
    pub created_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
    /// Why it was revoked: `revoked`, `refresh token reused`, `user suspended`, ...
    pub revoked_reason: Option<String>,
}

/// What a stored secret is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// An authorization code (one use, about a minute).
    Code,
    /// A refresh token (one use: each refresh replaces it).
    Refresh,
    /// A sign-in link printed by `moat login-link` (one use).
    SignInLink,
    /// A browser session at the authorization server.
    Session,
    /// An authorization request waiting for the person's consent (one use).
    Consent,
    /// A browser session at the console (`used_at`: when it was last seen).
    ConsoleSession,
}

impl SecretKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::Code => "code",
            SecretKind::Refresh => "refresh",
            SecretKind::SignInLink => "sign-in-link",
            SecretKind::Session => "session",
            SecretKind::Consent => "consent",
            SecretKind::ConsoleSession => "console-session",
        }
    }
}

/// A secret handed out once, stored by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSecret {
    pub sha256: [u8; 32],
    pub kind: SecretKind,
    pub user: UserId,
    pub grant: Option<String>,
    /// What the secret stands for (JSON), e.g. a code's redirect URI and PKCE challenge.
    pub data: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// When it was taken; a second take finds it set (a replay).
    pub used_at: Option<UnixTime>,
}

/// Which grants to revoke.
#[derive(Debug, Clone, Copy)]
pub enum GrantsOf<'a> {
    Grant(&'a str),
    User(&'a UserId),
}
