//! Signing in at Moat's authorization server, without a password Moat would store.
//!
//! A person signs in with a one-time link an administrator prints (`moat login-link
//! USER`, or the demo's output): valid for minutes, once. (Sign-in through the
//! company's identity provider is the other way, where one is configured.) Either
//! gives a browser session, kept as a cookie whose SHA-256 is stored; suspension or
//! deprovisioning ends it with the person's grants. The training gate and the
//! person's status are checked at sign-in, at consent, and on every request.

use super::{OAuthServer, events, new_secret, sha256};
use crate::AdminActor;
use moat_domain::{User, UserStatus};
use moat_store::{OAuthSecret, SecretKind};

const LINK_PREFIX: &str = "moat_sl_";
const SESSION_PREFIX: &str = "moat_ss_";

/// A sign-in link's secret and when it stops working.
#[derive(Debug, Clone)]
pub struct SignInLink {
    pub secret: String,
    pub user: User,
    pub expires_at: moat_domain::UnixTime,
}

/// Why a sign-in was refused. Safe to show the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error(
        "this sign-in link is unknown, used or expired; ask an administrator for a new one (`moat login-link YOU`)"
    )]
    BadLink,
    #[error("your account is {0}; ask an administrator to restore access")]
    Inactive(UserStatus),
    #[error(
        "the security training ([training]) is not current for you; complete it, then sign in again"
    )]
    Training,
    #[error("no such person: {0}")]
    NoSuchUser(String),
    #[error("sign-in cannot be checked or recorded right now; try again shortly")]
    Unavailable,
}

fn unavailable(error: impl std::fmt::Display) -> SignInError {
    tracing::error!(%error, "sign-in failed");
    SignInError::Unavailable
}

impl OAuthServer {
    /// Whether `user` may sign in now: active, and trained if training is required.
    pub fn may_sign_in(&self, user: &User) -> Result<(), SignInError> {
        if user.status != UserStatus::Active {
            return Err(SignInError::Inactive(user.status));
        }
        if self.settings.training.required
            && !self.settings.training.is_current(user, self.clock.now())
        {
            return Err(SignInError::Training);
        }
        Ok(())
    }

    /// A one-time sign-in link for `who` (id or email), on the record.
    pub async fn sign_in_link(
        &self,
        actor: &AdminActor,
        who: &str,
    ) -> Result<SignInLink, SignInError> {
        let user = crate::identity::find_user_in(self.store.as_ref(), who)
            .await
            .map_err(|error| match error {
                crate::IdentityError::NotFound(_) => SignInError::NoSuchUser(who.to_string()),
                other => unavailable(other),
            })?;
        if user.status != UserStatus::Active {
            return Err(SignInError::Inactive(user.status));
        }
        let secret = new_secret(LINK_PREFIX);
        let now = self.clock.now();
        let expires_at = now.plus_seconds(self.settings.sign_in_link_ttl_seconds);
        events::sign_in_link_issued(self, actor, &user, expires_at)
            .await
            .map_err(unavailable)?;
        self.store
            .oauth_secret_insert(&OAuthSecret {
                sha256: sha256(&secret),
                kind: SecretKind::SignInLink,
                user: user.id.clone(),
                grant: None,
                data: "{}".into(),
                created_at: now,
                expires_at,
                used_at: None,
            })
            .await
            .map_err(unavailable)?;
        Ok(SignInLink {
            secret,
            user,
            expires_at,
        })
    }

    /// Redeems a sign-in link (once): a new browser session for its person. Returns
    /// the session secret (the cookie value) and the person.
    pub async fn redeem_sign_in_link(
        &self,
        secret: &str,
        actor: &AdminActor,
    ) -> Result<(String, User), SignInError> {
        let user = self.redeem_link(secret, actor, "sign-in-link").await?;
        let session = self.start_session(&user).await?;
        Ok((session, user))
    }

    /// Redeems a sign-in link (once) and records the sign-in (`method` names where);
    /// the person it signs in, who may sign in now. The caller starts its own session.
    pub async fn redeem_link(
        &self,
        secret: &str,
        actor: &AdminActor,
        method: &str,
    ) -> Result<User, SignInError> {
        let now = self.clock.now();
        if !secret.starts_with(LINK_PREFIX) || secret.len() > 200 {
            return Err(SignInError::BadLink);
        }
        let taken = self
            .store
            .oauth_secret_take(SecretKind::SignInLink, &sha256(secret), now)
            .await
            .map_err(unavailable)?
            .ok_or(SignInError::BadLink)?;
        if taken.used_at.is_some() || taken.expires_at <= now {
            return Err(SignInError::BadLink);
        }
        let user = self
            .store
            .user(&taken.user)
            .await
            .map_err(unavailable)?
            .ok_or(SignInError::BadLink)?;
        self.may_sign_in(&user)?;
        events::signed_in(self, actor, &user, method)
            .await
            .map_err(unavailable)?;
        Ok(user)
    }

    /// A browser session for `user` (after any sign-in); returns the cookie value.
    pub async fn start_session(&self, user: &User) -> Result<String, SignInError> {
        let session = new_secret(SESSION_PREFIX);
        let now = self.clock.now();
        self.store
            .oauth_secret_insert(&OAuthSecret {
                sha256: sha256(&session),
                kind: SecretKind::Session,
                user: user.id.clone(),
                grant: None,
                data: "{}".into(),
                created_at: now,
                expires_at: now.plus_seconds(self.settings.session_ttl_seconds),
                used_at: None,
            })
            .await
            .map_err(unavailable)?;
        Ok(session)
    }

    /// The person a session cookie belongs to, if it is live and they may still sign in.
    pub async fn session_user(&self, cookie: &str) -> Result<Option<User>, SignInError> {
        if !cookie.starts_with(SESSION_PREFIX) || cookie.len() > 200 {
            return Ok(None);
        }
        let Some(session) = self
            .store
            .oauth_secret(SecretKind::Session, &sha256(cookie))
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        if session.expires_at <= self.clock.now() {
            return Ok(None);
        }
        let user = self.store.user(&session.user).await.map_err(unavailable)?;
        Ok(user.filter(|u| u.status == UserStatus::Active))
    }
}
