//! The one authorisation service: the organisation as `moat-policy` sees it (people
//! from the store, repositories, grants, training rule and Cedar policies from
//! configuration) and the Cedar authorizer built from it. Every query path, the CLI's
//! `moat access` and the admin API ask this service.
//!
//! The authorizer is cached and updated when the people or the mirror change (the
//! store's access version is read on each call, then a digest of what the authorizer is
//! built from is compared), so a suspension or a webhook's revocation takes effect on
//! the next request. An update patches only the changed Cedar entities
//! ([`Authorizer::updated`]).

use crate::identity::{Identity, IdentityError};
use moat_domain::{UnixTime, User};
use moat_policy::{Authorizer, Org, OrgGrant, OrgRepo, OrgUser, PermissionSource, PolicyError};
use moat_store::{MirroredReaders, Store, StoreError};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
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

/// Everything but the people and the mirrored permissions.
#[derive(Debug, Clone)]
pub struct AccessSettings {
    /// Mirrored repositories are given with `fresh: false` and no readers; the
    /// service fills both from the permission mirror on every call.
    pub repos: Vec<OrgRepo>,
    pub grants: Vec<OrgGrant>,
    pub training: TrainingRule,
    pub custom_policies: Option<String>,
    /// Past this many seconds without a full sync a host's mirror fails closed, by host.
    pub max_staleness: HashMap<String, i64>,
    /// Host logins to Moat emails (lowercase login); without an entry, a login matches
    /// the user whose email's local part it is.
    pub logins: HashMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("access policies: {0}")]
    Policy(#[from] PolicyError),
    #[error("the permission mirror cannot be read: {0}")]
    Store(#[from] StoreError),
}

pub struct Access {
    identity: Arc<Identity>,
    store: Arc<dyn Store>,
    settings: AccessSettings,
    cached: Mutex<Option<Cached>>,
}

/// The authorizer last built, the store's access version it saw and, for freshness
/// that changes with time alone, when a mirror will go stale.
#[derive(Clone)]
struct Cached {
    version: u64,
    digest: [u8; 32],
    stale_at: Option<i64>,
    authorizer: Arc<Authorizer>,
    /// The mirror as of `version`, by repository, so the next update reads only what
    /// changed (`Store::mirror_changed_since`).
    mirror: Arc<HashMap<String, Arc<MirroredReaders>>>,
    /// The people's emails (sorted): while they stay the same, logins map to the same
    /// people, and unchanged repositories keep their readers.
    emails: Arc<Vec<String>>,
}

impl Access {
    pub fn new(identity: Arc<Identity>, store: Arc<dyn Store>, settings: AccessSettings) -> Access {
        Access {
            identity,
            store,
            settings,
            cached: Mutex::new(None),
        }
    }

    /// Checks the configuration part (schema, organisation policies) with nobody in it.
    pub fn check(settings: &AccessSettings) -> Result<(), PolicyError> {
        Authorizer::new(&org(settings, &[], &HashMap::new(), UnixTime::now(), None)).map(|_| ())
    }

    /// Every login a repository host may know `email` by, as the mirror maps logins
    /// to people: the `logins` table's entries for it, and the email's local part
    /// unless the table gives that login to someone else.
    pub fn host_logins(&self, email: &str) -> Vec<String> {
        let mut logins: Vec<String> = self
            .settings
            .logins
            .iter()
            .filter(|(_, mapped)| mapped.eq_ignore_ascii_case(email))
            .map(|(login, _)| login.to_lowercase())
            .collect();
        if let Some((local, _)) = email.split_once('@') {
            let local = local.to_lowercase();
            if !self.settings.logins.contains_key(&local) {
                logins.push(local);
            }
        }
        logins.sort();
        logins.dedup();
        logins
    }

    /// The authorizer for the people and mirror as they are now. When nothing changed
    /// (one indexed read of the store's access version) the cached one is returned;
    /// after a change only the repositories whose mirror moved are read again and only
    /// the Cedar entities that changed are replaced, so a webhook's revocation applies
    /// to the next request in well under a second at 10,000 people.
    pub async fn authorizer(&self) -> Result<Arc<Authorizer>, AccessError> {
        let version = self.store.access_version().await?;
        let now = UnixTime::now();
        let previous: Option<Cached> = self.cached.lock().ok().and_then(|c| c.clone());
        if let Some(cached) = &previous
            && cached.version == version
            && cached.stale_at.is_none_or(|at| now.0 < at)
        {
            return Ok(cached.authorizer.clone());
        }
        let users = self.identity.users().await?;
        let mut emails: Vec<String> = users.iter().map(|u| u.email.to_lowercase()).collect();
        emails.sort();
        let (mirror, reuse) = match &previous {
            Some(cached) => {
                let changed = self.store.mirror_changed_since(cached.version).await?;
                let names: HashSet<String> = changed.iter().map(|m| m.repo.clone()).collect();
                let mirror = if changed.is_empty() {
                    cached.mirror.clone()
                } else {
                    let mut mirror = (*cached.mirror).clone();
                    for m in changed {
                        mirror.insert(m.repo.clone(), Arc::new(m));
                    }
                    Arc::new(mirror)
                };
                let reuse = (*cached.emails == emails).then(|| (cached.authorizer.clone(), names));
                (mirror, reuse)
            }
            None => {
                let all = self.store.mirror_all().await?;
                let mirror = all
                    .into_iter()
                    .map(|m| (m.repo.clone(), Arc::new(m)))
                    .collect();
                (Arc::new(mirror), None)
            }
        };
        let org = org(
            &self.settings,
            &users,
            &mirror,
            now,
            reuse.as_ref().map(|(a, names)| (a.as_ref(), names)),
        );
        let digest = digest(&org);
        // Training renewals and the staleness bound change decisions with time alone:
        // note the first moment a mirror goes stale and rebuild then.
        let stale_at = mirror
            .values()
            .filter_map(|m| {
                let bound = self
                    .settings
                    .max_staleness
                    .get(&m.host)
                    .copied()
                    .unwrap_or(3600);
                m.synced_at.map(|at| at.0 + bound + 1)
            })
            .chain(users.iter().filter_map(|u| {
                u.training
                    .as_ref()
                    .map(|t| t.completed_at.0 + self.settings.training.renewal_seconds + 1)
            }))
            .filter(|at| *at > now.0)
            .min();
        let authorizer = match &previous {
            Some(cached) if cached.digest == digest => cached.authorizer.clone(),
            // A change to a few people or readers (a webhook, a suspension) patches the
            // previous authorizer's entities; anything larger is rebuilt in `updated`.
            Some(cached) => Arc::new(cached.authorizer.updated(&org)?),
            None => Arc::new(Authorizer::new(&org)?),
        };
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some(Cached {
                version,
                digest,
                stale_at,
                authorizer: authorizer.clone(),
                mirror,
                emails: Arc::new(emails),
            });
        }
        Ok(authorizer)
    }
}

/// The organisation as policy sees it. With `reuse` (the previous authorizer and the
/// repositories whose mirror changed since), other mirrored repositories keep the
/// readers they had (the caller passes it only while the people's emails, which logins
/// map to, are unchanged); their freshness is always recomputed.
fn org(
    settings: &AccessSettings,
    users: &[User],
    mirror: &HashMap<String, Arc<MirroredReaders>>,
    now: UnixTime,
    reuse: Option<(&Authorizer, &HashSet<String>)>,
) -> Org {
    // Host logins to emails: the configured table, else the email's local part.
    let by_local_part: HashMap<String, &str> = users
        .iter()
        .filter_map(|u| {
            u.email
                .split_once('@')
                .map(|(local, _)| (local.to_lowercase(), u.email.as_str()))
        })
        .collect();
    let email_of = |login: &str| -> Option<String> {
        let login = login.to_lowercase();
        settings
            .logins
            .get(&login)
            .cloned()
            .or_else(|| by_local_part.get(&login).map(|e| e.to_string()))
    };
    let repos = settings
        .repos
        .iter()
        .map(|repo| {
            let PermissionSource::Mirrored { host, .. } = &repo.source else {
                return repo.clone();
            };
            let mirrored = mirror.get(&repo.name);
            let bound = settings.max_staleness.get(host).copied().unwrap_or(3600);
            let fresh = mirrored
                .and_then(|m| m.synced_at)
                .is_some_and(|at| at.0 + bound >= now.0);
            let source = PermissionSource::Mirrored {
                host: host.clone(),
                fresh,
            };
            if let Some((previous, changed)) = reuse
                && !changed.contains(&repo.name)
                && let Some(old) = previous.repo(&repo.name)
            {
                return OrgRepo {
                    source,
                    ..old.clone()
                };
            }
            let mut readers: Vec<String> = mirrored
                .map(|m| {
                    m.readers
                        .iter()
                        .filter_map(|(login, _)| email_of(login))
                        .collect()
                })
                .unwrap_or_default();
            readers.sort();
            readers.dedup();
            OrgRepo {
                source,
                host_readers: readers,
                ..repo.clone()
            }
        })
        .collect();
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
        repos,
        grants: settings.grants.clone(),
        training_required: settings.training.required,
        custom_policies: settings.custom_policies.clone(),
    }
}

/// Changes whenever anything the authorizer is built from changes: people and the
/// mirrored permissions (configuration is fixed for the life of the service).
fn digest(org: &Org) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for repo in &org.repos {
        if let PermissionSource::Mirrored { fresh, .. } = &repo.source {
            hasher.update(repo.name.as_bytes());
            hasher.update([*fresh as u8, 0xfe]);
            for reader in &repo.host_readers {
                hasher.update(reader.as_bytes());
                hasher.update([0]);
            }
        }
    }
    for user in &org.users {
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
