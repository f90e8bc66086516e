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

mod org;
pub mod states;

use crate::identity::{Identity, IdentityError};
use moat_domain::{UnixTime, User};
use moat_policy::{
    Authorizer, ExceptionTarget, Org, OrgException, OrgGrant, OrgRepo, OrgSwitch, PermissionSource,
    PolicyError, SwitchKind,
};
use moat_store::{MirroredReaders, Store, StoreError};
use org::{Links, digest, org};
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
    /// Host logins to Moat emails, by host (`github`, `gitlab`; logins lowercase): the
    /// configured `users` tables. With the links in the store (identity provider,
    /// SCIM, SAML, a sign-in to the host) these are the only way a login maps to a
    /// person: a login without a link grants nothing, whatever it looks like.
    pub logins: HashMap<String, HashMap<String, String>>,
}

/// A login the mirror lists that maps to nobody, so it grants nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmappedLogin {
    pub host: String,
    pub login: String,
    /// Mirrored repositories that list it.
    pub repos: Vec<String>,
    /// Set when a link names an email that is no Moat user.
    pub linked_to: Option<String>,
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
    /// Held while the authorizer is rebuilt: concurrent requests that find it out of
    /// date wait for the one rebuild instead of each starting their own.
    rebuilding: tokio::sync::Mutex<()>,
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
    /// The people's emails and the login links (sorted): while they stay the same,
    /// logins map to the same people, and unchanged repositories keep their readers.
    people: Arc<Vec<String>>,
}

/// One host's permission mirror, for operators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFreshness {
    pub host: String,
    /// Repositories whose readers come from this host's mirror.
    pub repos: u64,
    /// Seconds since the least recently synced of them was synced (none synced yet:
    /// `None`).
    pub oldest_sync_age_seconds: Option<i64>,
    /// Past `max_staleness`: their mirrored readers are not trusted (access refused).
    pub stale: u64,
    pub never_synced: u64,
    pub max_staleness_seconds: i64,
}

impl Access {
    pub fn new(identity: Arc<Identity>, store: Arc<dyn Store>, settings: AccessSettings) -> Access {
        Access {
            identity,
            store,
            settings,
            cached: Mutex::new(None),
            rebuilding: tokio::sync::Mutex::new(()),
        }
    }

    /// The store decisions are read from.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The same store, to hand to a task of its own.
    pub fn shared_store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    pub fn settings(&self) -> &AccessSettings {
        &self.settings
    }

    /// The time by the identity service's clock.
    pub fn now(&self) -> UnixTime {
        self.identity.now()
    }

    /// Checks the configuration part (schema, organisation policies) with nobody in it.
    pub fn check(settings: &AccessSettings) -> Result<(), PolicyError> {
        let links = Links::new(settings, &[], &[]);
        // Whether the policies parse does not depend on the time.
        Authorizer::new(&org(
            settings,
            &[],
            &links,
            &HashMap::new(),
            UnixTime(0),
            None,
        ))
        .map(|_| ())
    }

    /// Every `(host, login)` linked to `user`: the configured tables' entries for
    /// their email and the store's links to them. Nothing is inferred from the email.
    pub async fn linked_logins(&self, user: &User) -> Result<Vec<(String, String)>, AccessError> {
        let mut logins: Vec<(String, String)> = self
            .settings
            .logins
            .iter()
            .flat_map(|(host, table)| {
                table
                    .iter()
                    .filter(|(_, email)| email.eq_ignore_ascii_case(&user.email))
                    .map(|(login, _)| (host.clone(), login.to_lowercase()))
            })
            .collect();
        for link in self.store.host_links().await? {
            let configured = self
                .settings
                .logins
                .get(&link.host)
                .is_some_and(|table| table.keys().any(|l| l.eq_ignore_ascii_case(&link.login)));
            if link.user == user.id && !configured {
                logins.push((link.host, link.login.to_lowercase()));
            }
        }
        logins.sort();
        logins.dedup();
        Ok(logins)
    }

    /// Logins the mirror lists for configured mirrored repositories that map to no
    /// Moat user: they grant nothing until someone links them.
    pub async fn unmapped(&self) -> Result<Vec<UnmappedLogin>, AccessError> {
        let users = self.identity.users().await?;
        let links = Links::new(&self.settings, &users, &self.store.host_links().await?);
        let known: HashSet<String> = users.iter().map(|u| u.email.to_lowercase()).collect();
        let hosts: HashMap<&str, &str> = self
            .settings
            .repos
            .iter()
            .filter_map(|repo| match &repo.source {
                PermissionSource::Mirrored { host, .. } => {
                    Some((repo.name.as_str(), host.as_str()))
                }
                PermissionSource::Static => None,
            })
            .collect();
        let mut found: std::collections::BTreeMap<(String, String), UnmappedLogin> =
            Default::default();
        for mirrored in self.store.mirror_all().await? {
            let Some(host) = hosts.get(mirrored.repo.as_str()) else {
                continue;
            };
            for (login, _) in &mirrored.readers {
                let email = links.email_of(host, login);
                if email.is_some_and(|e| known.contains(e)) {
                    continue;
                }
                let entry = found
                    .entry((host.to_string(), login.to_lowercase()))
                    .or_insert_with(|| UnmappedLogin {
                        host: host.to_string(),
                        login: login.to_lowercase(),
                        repos: Vec::new(),
                        linked_to: email.map(str::to_string),
                    });
                entry.repos.push(mirrored.repo.clone());
            }
        }
        Ok(found.into_values().collect())
    }

    /// The authorizer for the people and mirror as they are now. When nothing changed
    /// (one indexed read of the store's access version) the cached one is returned;
    /// after a change only the repositories whose mirror moved are read again and only
    /// the Cedar entities that changed are replaced, so a webhook's revocation applies
    /// to the next request in well under a second at 10,000 people.
    ///
    /// A rebuild is single-flight and runs off the async workers (reading the whole
    /// mirror and building Cedar entities for 10,000 people takes seconds).
    pub async fn authorizer(&self) -> Result<Arc<Authorizer>, AccessError> {
        if let Some(current) = self.current().await? {
            return Ok(current);
        }
        let _rebuilding = self.rebuilding.lock().await;
        // Another request may have rebuilt it while this one waited.
        if let Some(current) = self.current().await? {
            return Ok(current);
        }
        crate::blocking::off_the_worker(self.rebuild()).await
    }

    /// How fresh each host's permission mirror is, as decisions now see it (the cached
    /// authorizer is brought up to date first): for `/metrics`.
    pub async fn mirror_freshness(&self) -> Result<Vec<HostFreshness>, AccessError> {
        self.authorizer().await?;
        let mirror = self
            .cached
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.mirror.clone()))
            .unwrap_or_default();
        let now = self.identity.now().0;
        let mut hosts: std::collections::BTreeMap<&str, HostFreshness> = Default::default();
        for repo in &self.settings.repos {
            let PermissionSource::Mirrored { host, .. } = &repo.source else {
                continue;
            };
            let bound = self
                .settings
                .max_staleness
                .get(host)
                .copied()
                .unwrap_or(3600);
            let entry = hosts.entry(host).or_insert_with(|| HostFreshness {
                host: host.clone(),
                max_staleness_seconds: bound,
                ..HostFreshness::default()
            });
            entry.repos += 1;
            match mirror.get(&repo.name).and_then(|m| m.synced_at) {
                Some(at) => {
                    let age = (now - at.0).max(0);
                    entry.oldest_sync_age_seconds =
                        Some(entry.oldest_sync_age_seconds.map_or(age, |a| a.max(age)));
                    if age > bound {
                        entry.stale += 1;
                    }
                }
                None => entry.never_synced += 1,
            }
        }
        Ok(hosts.into_values().collect())
    }

    /// The organisation as policy sees it now (people, repositories with their
    /// readers, grants, exceptions in force, engaged switches), built afresh from the
    /// store: what a recorded access state holds. Runs off the async workers.
    pub async fn state(&self) -> Result<Org, AccessError> {
        crate::blocking::off_the_worker(async {
            let now = self.identity.now();
            let users = self.identity.users().await?;
            let links = Links::new(&self.settings, &users, &self.store.host_links().await?);
            let mirror: HashMap<String, Arc<MirroredReaders>> = self
                .store
                .mirror_all()
                .await?
                .into_iter()
                .map(|m| (m.repo.clone(), Arc::new(m)))
                .collect();
            let (exceptions, _, switches) = self.in_force(now).await?;
            Ok(Org {
                exceptions,
                switches,
                ..org(&self.settings, &users, &links, &mirror, now, None)
            })
        })
        .await
    }

    /// The approved exceptions whose window holds at `now` (and when the first of them
    /// ends), and the engaged kill switches.
    async fn in_force(
        &self,
        now: UnixTime,
    ) -> Result<(Vec<OrgException>, Option<i64>, Vec<OrgSwitch>), AccessError> {
        // Approved exceptions whose window holds now; the authorizer goes stale at the
        // first one's end, so an exception ends by itself at the next decision after it.
        let approved = self
            .store
            .exceptions(Some(moat_store::exceptions::APPROVED))
            .await?;
        let in_force: Vec<&moat_store::PolicyException> =
            approved.iter().filter(|e| e.in_force(now)).collect();
        let exceptions_end = in_force
            .iter()
            .filter_map(|e| e.ends_at.map(|at| at.0))
            .min();
        let exceptions: Vec<OrgException> = in_force
            .iter()
            .filter_map(|e| {
                let target = match e.kind.as_str() {
                    "repo" => ExceptionTarget::Repo(e.target.clone()),
                    "model" => ExceptionTarget::Model(e.target.clone()),
                    "tier" => ExceptionTarget::Tier(e.target.clone()),
                    "vendor" => ExceptionTarget::Vendor(e.target.clone()),
                    _ => return None,
                };
                Some(OrgException {
                    id: e.id.clone(),
                    user: e.user_id.clone(),
                    target,
                })
            })
            .collect();
        // Engaged kill switches: a frozen repository's forbid, the models and vendors
        // the gateway refuses. Engaging one moves the access version, so every node
        // takes it at its next decision.
        let switches: Vec<OrgSwitch> = self
            .store
            .kill_switches()
            .await?
            .into_iter()
            .filter_map(|s| {
                Some(OrgSwitch {
                    kind: SwitchKind::parse(&s.kind)?,
                    target: s.target,
                    reason: s.reason,
                })
            })
            .collect();
        Ok((exceptions, exceptions_end, switches))
    }

    /// The cached authorizer, if it is still current.
    async fn current(&self) -> Result<Option<Arc<Authorizer>>, AccessError> {
        let version = self.store.access_version().await?;
        let now = self.identity.now();
        let cached = self.cached.lock().ok().and_then(|c| c.clone());
        Ok(cached
            .filter(|c| c.version == version && c.stale_at.is_none_or(|at| now.0 < at))
            .map(|c| c.authorizer))
    }

    async fn rebuild(&self) -> Result<Arc<Authorizer>, AccessError> {
        let version = self.store.access_version().await?;
        let now = self.identity.now();
        let previous: Option<Cached> = self.cached.lock().ok().and_then(|c| c.clone());
        let users = self.identity.users().await?;
        let links = Links::new(&self.settings, &users, &self.store.host_links().await?);
        let people = links.key(&users);
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
                let reuse = (*cached.people == people).then(|| (cached.authorizer.clone(), names));
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
        let (exceptions, exceptions_end, switches) = self.in_force(now).await?;
        let org = Org {
            exceptions,
            switches,
            ..org(
                &self.settings,
                &users,
                &links,
                &mirror,
                now,
                reuse.as_ref().map(|(a, names)| (a.as_ref(), names)),
            )
        };
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
            .chain(exceptions_end)
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
                people: Arc::new(people),
            });
        }
        Ok(authorizer)
    }
}

/// The header of the access matrix as CSV (`moat access matrix`, the evidence pack).
pub const MATRIX_CSV_HEADER: &str =
    "email,repo,decision,tier,disclosure,read_source,rules,reason\n";

/// One cell of the access matrix as a CSV line under [`MATRIX_CSV_HEADER`].
pub fn matrix_csv_row(cell: &moat_policy::MatrixEntry) -> String {
    let decision = &cell.decision;
    let mut line = crate::csv::row(&[
        cell.email.clone(),
        cell.repo.clone(),
        if decision.allow { "allow" } else { "deny" }.to_string(),
        decision.tier.map(|t| t.to_string()).unwrap_or_default(),
        decision
            .disclosure
            .map(|d| d.to_string())
            .unwrap_or_default(),
        cell.read_source.to_string(),
        decision.rules.join(" "),
        decision.reason.clone(),
    ]);
    line.push('\n');
    line
}
