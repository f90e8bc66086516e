//! Moat as the OAuth 2.1 authorization server for its own resources (`/mcp`, `/v1`),
//! so AI tools connect with a browser sign-in instead of a pasted token.
//!
//! The flow, in the order a client meets it: the client is known (configured in
//! `moat.toml`, or registered dynamically by RFC 7591, see [`clients`]); the person
//! signs in at Moat (a one-time sign-in link, see [`sign_in`]) and consents; Moat
//! answers with an authorization code bound to the client, its redirect URI, a PKCE
//! S256 challenge and one resource (RFC 8707); the code is exchanged once for a
//! short-lived access token — an ordinary Moat token bound to the grant and that
//! resource, so the request path checks it exactly like any other — and a refresh
//! token. Each refresh replaces the refresh token; presenting a replaced one again
//! revokes the whole grant (reuse detection, see [`flow`]).
//!
//! Every grant, token issue, refresh, reuse and revocation is an `oauth.*` audit event,
//! durable before the answer that depends on it is given; what cannot be recorded is
//! not issued. Suspending or deprovisioning a person revokes their grants in the same
//! transaction as the status change (the store does it).

pub mod clients;
mod events;
pub mod flow;
pub mod idp;
pub mod metadata_document;
pub mod sign_in;
mod token;

pub use clients::{Client, ClientSource, ConfiguredClient, RegistrationError};
pub use flow::{AuthorizeError, AuthorizeRequest, Consent};
pub use idp::{IdentityProvider, IdpCallback, IdpError, IdpStart};
pub use moat_store::OAuthGrant;
pub use sign_in::{SignInError, SignInLink};
pub use token::{TokenError, TokenGrant, Tokens};

use crate::Clock;
use crate::access::TrainingRule;
use crate::audit::AuditLog;
use moat_store::Store;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// `[identity.oauth]`, as these use cases need it.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// Lifetime of an access token (short: refresh tokens renew it).
    pub access_ttl_seconds: i64,
    /// Lifetime of a refresh token; each refresh issues a new one with a new lifetime.
    pub refresh_ttl_seconds: i64,
    /// How long an authorization code may wait to be exchanged.
    pub code_ttl_seconds: i64,
    /// How long a browser stays signed in at Moat.
    pub session_ttl_seconds: i64,
    /// How long a sign-in link printed by `moat login-link` works (once).
    pub sign_in_link_ttl_seconds: i64,
    /// Clients configured in `moat.toml` (tried first).
    pub clients: Vec<ConfiguredClient>,
    /// Whether clients may register themselves (RFC 7591).
    pub dynamic_registration: bool,
    /// Registrations accepted per hour, from everyone together.
    pub registrations_per_hour: u32,
    /// Whether a `client_id` may be the https URL of a client metadata document.
    pub metadata_documents: bool,
    /// Whether such a document may be fetched from a private or loopback address.
    pub metadata_private_addresses: bool,
    /// The training a person must have current to sign in (also checked on every request).
    pub training: TrainingRule,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        OAuthSettings {
            access_ttl_seconds: 3600,
            refresh_ttl_seconds: 30 * 86_400,
            code_ttl_seconds: 60,
            session_ttl_seconds: 8 * 3600,
            sign_in_link_ttl_seconds: 15 * 60,
            clients: Vec::new(),
            dynamic_registration: true,
            registrations_per_hour: 60,
            metadata_documents: true,
            metadata_private_addresses: false,
            training: TrainingRule {
                required: false,
                current_version: None,
                renewal_seconds: i64::MAX / 4,
            },
        }
    }
}

/// The authorization server's use cases.
pub struct OAuthServer {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Arc<AuditLog>,
    settings: OAuthSettings,
    policy_version: String,
    registrations: clients::RegistrationLimit,
    documents: metadata_document::MetadataDocuments,
    /// The company's identity provider, when people sign in through it.
    idp: Option<idp::IdentityProvider>,
}

impl OAuthServer {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Arc<AuditLog>,
        settings: OAuthSettings,
        policy_version: String,
    ) -> OAuthServer {
        let registrations = clients::RegistrationLimit::new(settings.registrations_per_hour);
        let documents =
            metadata_document::MetadataDocuments::new(settings.metadata_private_addresses);
        OAuthServer {
            store,
            clock,
            audit,
            settings,
            policy_version,
            registrations,
            documents,
            idp: None,
        }
    }

    pub fn settings(&self) -> &OAuthSettings {
        &self.settings
    }
}

/// `prefix` and 32 random bytes in hex: a secret with full entropy, so a fast hash
/// stores it as safely as a slow one.
pub(crate) fn new_secret(prefix: &str) -> String {
    let mut raw = [0u8; 32];
    rand::fill(&mut raw);
    format!("{prefix}{}", hex::encode(raw))
}

pub(crate) fn sha256(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A public id: `prefix` and 8 random bytes in hex.
fn new_id(prefix: &str) -> String {
    let mut raw = [0u8; 8];
    rand::fill(&mut raw);
    format!("{prefix}{}", hex::encode(raw))
}
