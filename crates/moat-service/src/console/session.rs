//! Console sessions. A one-time sign-in link (the same links `moat login-link` prints
//! for the authorization server) is redeemed once for a session: 32 random bytes the
//! browser keeps as an `HttpOnly` cookie, stored as their SHA-256 only
//! (`SecretKind::ConsoleSession`). A session ends after `absolute_seconds` whatever
//! happens, after `idle_seconds` without a request, at sign-out, and at once when its
//! person is suspended or deprovisioned (the store drops their secrets with the status
//! change; their status is also checked on every request).
//!
//! Changes carry a CSRF token: the SHA-256 of a fixed label and the session secret,
//! which only a page served to that browser knows (the cookie itself is never
//! readable by a script), compared in constant time.

use super::{Abilities, Console, ConsoleError};
use crate::AdminActor;
use crate::oauth::{SignInError, new_secret, sha256};
use moat_domain::{UnixTime, User};
use moat_store::{OAuthSecret, SecretKind};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const SESSION_PREFIX: &str = "moat_cs_";

/// How stale a session's "last seen" may get before a request writes it again: one
/// store write per session per minute, not per page.
pub const SESSION_SEEN_EVERY: i64 = 60;

/// A live console session and its person.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    pub abilities: Abilities,
    /// The token every change must carry.
    pub csrf: String,
    /// Names the session in the audit log without revealing it: the first 16 hex
    /// digits of its SHA-256, prefixed `cs_`.
    pub session_id: String,
}

impl SignedIn {
    /// Whether `given` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, given: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(given.as_bytes()))
    }

    /// The actor of this session's requests, for the audit log.
    pub fn actor(&self, address: Option<String>) -> AdminActor {
        AdminActor {
            user: Some(self.user.id.0.clone()),
            email: Some(self.user.email.clone()),
            token_id: Some(self.session_id.clone()),
            client: "console".into(),
            address,
        }
    }
}

fn csrf_of(secret: &str) -> String {
    hex::encode(Sha256::digest(
        format!("moat console csrf\0{secret}").as_bytes(),
    ))
}

fn session_id_of(secret: &str) -> String {
    format!("cs_{}", &hex::encode(sha256(secret))[..16])
}

fn unavailable(error: impl std::fmt::Display) -> ConsoleError {
    tracing::error!(%error, "console session store failed");
    ConsoleError::Unavailable(
        "sessions cannot be read or written right now; try again shortly".into(),
    )
}

impl Console {
    /// Redeems a one-time sign-in link (once) for a console session; returns the
    /// cookie value and the session.
    pub async fn sign_in(
        &self,
        link: &str,
        actor: &AdminActor,
    ) -> Result<(String, SignedIn), SignInError> {
        let user = self
            .oauth
            .redeem_link(link, actor, "console-sign-in-link")
            .await?;
        self.start_session(user).await
    }

    /// Whether people can sign in through the company's identity provider.
    pub fn has_identity_provider(&self) -> bool {
        self.oauth.has_identity_provider()
    }

    /// A console session for `user`, who signed in (by link, or at the identity
    /// provider, which records the sign-in); returns the cookie value and the session.
    pub async fn start_session(&self, user: User) -> Result<(String, SignedIn), SignInError> {
        self.oauth.may_sign_in(&user)?;
        let secret = new_secret(SESSION_PREFIX);
        let now = self.clock.now();
        self.store
            .oauth_secret_insert(&OAuthSecret {
                sha256: sha256(&secret),
                kind: SecretKind::ConsoleSession,
                user: user.id.clone(),
                grant: None,
                data: "{}".into(),
                created_at: now,
                expires_at: now.plus_seconds(self.settings.absolute_seconds),
                used_at: Some(now),
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "storing a console session failed");
                SignInError::Unavailable
            })?;
        let abilities = Abilities::of(&self.access, &user)
            .await
            .map_err(|_| SignInError::Unavailable)?;
        let signed = SignedIn {
            abilities,
            csrf: csrf_of(&secret),
            session_id: session_id_of(&secret),
            user,
        };
        Ok((secret, signed))
    }

    /// The live session a cookie names: `None` when it is unknown, ended, past either
    /// timeout, or its person may no longer sign in.
    pub async fn session(&self, cookie: &str) -> Result<Option<SignedIn>, ConsoleError> {
        if !cookie.starts_with(SESSION_PREFIX) || cookie.len() > 200 {
            return Ok(None);
        }
        let hash = sha256(cookie);
        let Some(session) = self
            .store
            .oauth_secret(SecretKind::ConsoleSession, &hash)
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let now = self.clock.now();
        let seen = session.used_at.unwrap_or(session.created_at);
        if session.expires_at <= now {
            return Ok(None);
        }
        if now.0 - seen.0 >= self.settings.idle_seconds {
            // Idle too long: ended for good, so a later request cannot revive it.
            self.end(&hash, now).await?;
            return Ok(None);
        }
        let Some(user) = self.store.user(&session.user).await.map_err(unavailable)? else {
            return Ok(None);
        };
        if self.oauth.may_sign_in(&user).is_err() {
            return Ok(None);
        }
        if now.0 - seen.0 >= SESSION_SEEN_EVERY {
            self.store
                .oauth_secret_mark(SecretKind::ConsoleSession, &hash, now, session.expires_at)
                .await
                .map_err(unavailable)?;
        }
        let abilities = Abilities::of(&self.access, &user).await?;
        Ok(Some(SignedIn {
            abilities,
            csrf: csrf_of(cookie),
            session_id: session_id_of(cookie),
            user,
        }))
    }

    /// Ends the session a cookie names (sign-out); nothing happens for an unknown one.
    pub async fn sign_out(&self, cookie: &str) -> Result<(), ConsoleError> {
        if !cookie.starts_with(SESSION_PREFIX) || cookie.len() > 200 {
            return Ok(());
        }
        self.end(&sha256(cookie), self.clock.now()).await
    }

    /// Ends a session for good: it expires at the epoch, so no clock (stepped back, or
    /// another node's) finds it live again; the expiry sweep drops it.
    async fn end(&self, hash: &[u8; 32], now: UnixTime) -> Result<(), ConsoleError> {
        self.store
            .oauth_secret_mark(SecretKind::ConsoleSession, hash, now, UnixTime(0))
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
