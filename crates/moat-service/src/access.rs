//! The one authorisation service: the organisation as `moat-policy` sees it (people
//! from the store, repositories, grants, training rule and Cedar policies from
//! configuration) and the Cedar authorizer built from it. Every query path, the CLI's
//! `moat access` and the admin API ask this service.
//!
//! The authorizer is cached and rebuilt when the people change (a digest of their
//! status, roles, teams and training is compared on each call), so a suspension takes
//! effect on the next request.

use crate::identity::{Identity, IdentityError};
use moat_domain::{UnixTime, User};
use moat_policy::{Authorizer, Org, OrgGrant, OrgRepo, OrgUser, PolicyError};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

/// When a training attestation is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingRule {
    pub required: bool,
    /// The version an attestation must name; `None` accepts any.
    pub current_version: Option<String>,
    pub renewal_seconds: i64,
}

impl TrainingRule {
    pub fn is_current(&self, user: &User, now: UnixTime) -> bool {
        user.training.as_ref().is_some_and(|attestation| {
            self.current_version
                .as_deref()
                .is_none_or(|v| v == attestation.version)
                && attestation.completed_at.0 + self.renewal_seconds >= now.0
        })
    }
}

/// Everything but the people.
#[derive(Debug, Clone)]
pub struct AccessSettings {
    pub repos: Vec<OrgRepo>,
    pub grants: Vec<OrgGrant>,
    pub training: TrainingRule,
    pub custom_policies: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("access policies: {0}")]
    Policy(#[from] PolicyError),
}

pub struct Access {
    identity: Arc<Identity>,
    settings: AccessSettings,
    cached: Mutex<Option<([u8; 32], Arc<Authorizer>)>>,
}

impl Access {
    pub fn new(identity: Arc<Identity>, settings: AccessSettings) -> Access {
        Access {
            identity,
            settings,
            cached: Mutex::new(None),
        }
    }

    /// Checks the configuration part (schema, organisation policies) with nobody in it.
    pub fn check(settings: &AccessSettings) -> Result<(), PolicyError> {
        Authorizer::new(&org(settings, &[], UnixTime::now())).map(|_| ())
    }

    /// The authorizer for the people as they are now.
    pub async fn authorizer(&self) -> Result<Arc<Authorizer>, AccessError> {
        let users = self.identity.users().await?;
        let now = UnixTime::now();
        let org = org(&self.settings, &users, now);
        let digest = people_digest(&org.users);
        if let Ok(cached) = self.cached.lock()
            && let Some((seen, authorizer)) = cached.as_ref()
            && *seen == digest
        {
            return Ok(authorizer.clone());
        }
        let authorizer = Arc::new(Authorizer::new(&org)?);
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((digest, authorizer.clone()));
        }
        Ok(authorizer)
    }
}

fn org(settings: &AccessSettings, users: &[User], now: UnixTime) -> Org {
    Org {
        users: users
            .iter()
            .map(|u| OrgUser {
                id: u.id.0.clone(),
                email: u.email.clone(),
                status: u.status,
                roles: u.roles.clone(),
                teams: u.teams.clone(),
                training_current: settings.training.is_current(u, now),
            })
            .collect(),
        repos: settings.repos.clone(),
        grants: settings.grants.clone(),
        training_required: settings.training.required,
        custom_policies: settings.custom_policies.clone(),
    }
}

fn people_digest(users: &[OrgUser]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for user in users {
        hasher.update(user.id.as_bytes());
        hasher.update(user.email.as_bytes());
        hasher.update(user.status.as_str().as_bytes());
        for role in &user.roles {
            hasher.update(role.as_str().as_bytes());
        }
        for team in &user.teams {
            hasher.update(team.as_bytes());
            hasher.update([0]);
        }
        hasher.update([user.training_current as u8, 0xff]);
    }
    hasher.finalize().into()
}
