//! People and credentials: adding and offboarding users, issuing, rotating and revoking
//! tokens, and the one token check every request goes through.
//!
//! A token secret is `moat_` followed by 64 hex digits (256 random bits). Only its
//! SHA-256 is stored: the secret has full entropy, so a fast hash is as strong as a slow
//! one, and the check stays a single indexed lookup.

mod auth;
mod oidc;
mod tokens;
mod users;

pub use auth::{AuthError, Principal, Refused, RefusedSubject};
pub use oidc::{MAX_KEY_AGE, OidcIdentity, OidcSettings, OidcVerifier, looks_like_jwt};
pub use tokens::{IssueToken, IssuedToken, SECRET_PREFIX};
pub use users::NewUser;
pub(crate) use users::find_user_in;

use crate::Clock;
use moat_store::{Store, StoreError};
use std::sync::Arc;

/// The part of `[identity]` and `[org]` these use cases need.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    pub token_ttl_seconds: i64,
    pub token_max_ttl_seconds: i64,
    pub rotation_grace_seconds: i64,
    /// Allowed email domains; empty allows any.
    pub email_domains: Vec<String>,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        IdentitySettings {
            token_ttl_seconds: 90 * 86_400,
            token_max_ttl_seconds: 365 * 86_400,
            rotation_grace_seconds: 86_400,
            email_domains: Vec::new(),
        }
    }
}

/// Why an identity operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Users and tokens over a [`Store`].
pub struct Identity {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: IdentitySettings,
    /// JWTs from the organisation's identity provider, when `[identity.oidc]` is set.
    oidc: Option<Arc<OidcVerifier>>,
    /// Told of every request authenticated by a provider token (see [`SignInHook`]).
    sign_in: std::sync::OnceLock<Arc<dyn SignInHook>>,
    /// `(user id, host, login)` the provider's claims were already linked for.
    linked: std::sync::Mutex<std::collections::HashSet<(String, String, String)>>,
    /// Where links from the provider's login claims are recorded before they are made;
    /// unset, no such link is made (see [`Identity::record_links_with`]).
    links: std::sync::OnceLock<Arc<crate::mirror::MirrorWriter>>,
}

/// What should happen when someone signs in through the identity provider: called on
/// every request a provider token authenticates, with the token's id; the hook decides
/// which of those start a sign-in. It must not block (spawn the work).
pub trait SignInHook: Send + Sync {
    fn signed_in(self: Arc<Self>, user: &moat_domain::User, token: &str);
}

impl Identity {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: IdentitySettings) -> Self {
        Identity {
            store,
            clock,
            settings,
            oidc: None,
            sign_in: std::sync::OnceLock::new(),
            linked: Default::default(),
            links: std::sync::OnceLock::new(),
        }
    }

    /// Records each link made from the provider's login claims (an `access.link` event,
    /// durable first) through `writer`. Without it such links are not made at all: a
    /// link decides whose access a host login carries.
    pub fn record_links_with(&self, writer: Arc<crate::mirror::MirrorWriter>) {
        if self.links.set(writer).is_err() {
            tracing::warn!("links are already recorded through a writer; the new one is ignored");
        }
    }

    /// Sets what runs at sign-in (once; a second hook is ignored and reported).
    pub fn on_sign_in(&self, hook: Arc<dyn SignInHook>) {
        if self.sign_in.set(hook).is_err() {
            tracing::warn!("a sign-in hook is already set; the new one is ignored");
        }
    }

    /// Also accepts bearer JWTs from this identity provider.
    pub fn with_oidc(mut self, verifier: Arc<OidcVerifier>) -> Self {
        self.oidc = Some(verifier);
        self
    }

    /// The identity provider's JWT verifier, when one is configured.
    pub fn oidc(&self) -> Option<&Arc<OidcVerifier>> {
        self.oidc.as_ref()
    }

    pub fn settings(&self) -> &IdentitySettings {
        &self.settings
    }

    /// The time by this service's clock, which the services built on it use too.
    pub fn now(&self) -> moat_domain::UnixTime {
        self.clock.now()
    }

    /// The store behind these use cases, for tests that inspect it.
    #[cfg(test)]
    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }
}

/// `prefix` followed by `bytes` random bytes in hex.
pub(crate) fn random_id(prefix: &str, bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::fill(&mut raw[..]);
    format!("{prefix}{}", hex::encode(raw))
}

#[cfg(test)]
mod tests;
