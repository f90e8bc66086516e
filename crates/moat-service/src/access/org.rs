//! The organisation as policy sees it, built from configuration, the people and the
//! permission mirror; and the digest that says when the authorizer must be rebuilt.

use super::AccessSettings;
use moat_domain::{UnixTime, User};
use moat_policy::{Authorizer, Org, OrgRepo, OrgUser, PermissionSource};
use moat_store::{HostLink, MirroredReaders};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Host logins to emails: the configured tables first, then the store's links.
pub(super) struct Links {
    by_login: HashMap<(String, String), String>,
}

impl Links {
    pub(super) fn new(settings: &AccessSettings, users: &[User], stored: &[HostLink]) -> Links {
        let emails: HashMap<&str, &str> = users
            .iter()
            .map(|u| (u.id.0.as_str(), u.email.as_str()))
            .collect();
        let mut by_login = HashMap::new();
        for link in stored {
            if let Some(email) = emails.get(link.user.0.as_str()) {
                by_login.insert(
                    (link.host.clone(), link.login.to_lowercase()),
                    email.to_lowercase(),
                );
            }
        }
        for (host, table) in &settings.logins {
            for (login, email) in table {
                by_login.insert((host.clone(), login.to_lowercase()), email.to_lowercase());
            }
        }
        Links { by_login }
    }

    pub(super) fn email_of(&self, host: &str, login: &str) -> Option<&str> {
        self.by_login
            .get(&(host.to_string(), login.to_lowercase()))
            .map(String::as_str)
    }

    /// Emails and links, sorted: equal keys map every login to the same person.
    pub(super) fn key(&self, users: &[User]) -> Vec<String> {
        let mut key: Vec<String> = users.iter().map(|u| u.email.to_lowercase()).collect();
        key.extend(
            self.by_login
                .iter()
                .map(|((host, login), email)| format!("{host}\0{login}\0{email}")),
        );
        key.sort();
        key
    }
}

/// The organisation as policy sees it, without exceptions or kill switches (the caller
/// adds those in force). With `reuse` (the previous authorizer and the
/// repositories whose mirror changed since), other mirrored repositories keep the
/// readers they had (the caller passes it only while the people's emails and the login
/// links are unchanged); their freshness is always recomputed. A login maps to a
/// person only through `links`.
pub(super) fn org(
    settings: &AccessSettings,
    users: &[User],
    links: &Links,
    mirror: &HashMap<String, Arc<MirroredReaders>>,
    now: UnixTime,
    reuse: Option<(&Authorizer, &HashSet<String>)>,
) -> Org {
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
                        .filter_map(|(login, _)| links.email_of(host, login).map(str::to_string))
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
        exceptions: Vec::new(),
        switches: Vec::new(),
    }
}

/// Changes whenever anything the authorizer is built from changes: people, the
/// mirrored permissions, the exceptions in force and the kill switches engaged
/// (configuration is fixed for the life of the service).
pub(super) fn digest(org: &Org) -> [u8; 32] {
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
    for exception in &org.exceptions {
        hasher.update(exception.id.as_bytes());
        hasher.update([0xfd]);
    }
    for switch in &org.switches {
        hasher.update(switch.rule().as_bytes());
        hasher.update([0]);
        hasher.update(switch.reason.as_bytes());
        hasher.update([0xfc]);
    }
    hasher.finalize().into()
}
