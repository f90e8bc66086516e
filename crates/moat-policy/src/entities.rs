//! The organisation as Cedar entities: users in teams and in the reader groups of the
//! repositories their host (or a static grant) lets them read.

use crate::{Org, PermissionSource, PolicyError};
use cedar_policy::{
    Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression, Schema,
};
use moat_domain::{Disclosure, Tier, UserStatus};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

pub(crate) fn uid(kind: &str, id: &str) -> EntityUid {
    // The type names are fixed strings of our schema; they always parse.
    let kind = EntityTypeName::from_str(kind).unwrap_or_else(|_| unreachable_type(kind));
    EntityUid::from_type_name_and_id(kind, EntityId::new(id))
}

fn unreachable_type(kind: &str) -> EntityTypeName {
    panic!("`{kind}` is not a valid Cedar type name; it is a constant of this crate")
}

pub(crate) const ORG_ID: &str = "org";

pub(crate) fn tier_level(tier: Tier) -> i64 {
    match tier {
        Tier::Public => 0,
        Tier::Internal => 1,
        Tier::Confidential => 2,
        Tier::Restricted => 3,
    }
}

pub(crate) fn disclosure_level(disclosure: Disclosure) -> i64 {
    match disclosure {
        Disclosure::Source => 0,
        Disclosure::RedactedSource => 1,
        Disclosure::Signatures => 2,
        Disclosure::Structure => 3,
    }
}

fn strings(values: impl IntoIterator<Item = String>) -> RestrictedExpression {
    RestrictedExpression::new_set(values.into_iter().map(RestrictedExpression::new_string))
}

/// Repositories each email and team may read, from static grants and host mirrors.
pub(crate) struct Readers {
    pub users: HashMap<String, HashSet<String>>,
    pub teams: HashMap<String, HashSet<String>>,
}

pub(crate) fn readers(org: &Org) -> Readers {
    let mut users: HashMap<String, HashSet<String>> = HashMap::new();
    let mut teams: HashMap<String, HashSet<String>> = HashMap::new();
    for repo in &org.repos {
        match &repo.source {
            PermissionSource::Static => {
                for grant in &org.grants {
                    if !grant.repos.iter().any(|r| r == "*" || r == &repo.name) {
                        continue;
                    }
                    for email in &grant.users {
                        users
                            .entry(email.to_lowercase())
                            .or_default()
                            .insert(repo.name.clone());
                    }
                    for team in &grant.teams {
                        teams
                            .entry(team.clone())
                            .or_default()
                            .insert(repo.name.clone());
                    }
                }
            }
            PermissionSource::Mirrored { .. } => {
                for email in &repo.host_readers {
                    users
                        .entry(email.to_lowercase())
                        .or_default()
                        .insert(repo.name.clone());
                }
            }
        }
    }
    Readers { users, teams }
}

pub(crate) fn build(org: &Org, schema: &Schema) -> Result<Entities, PolicyError> {
    let readers = readers(org);
    let org_uid = uid("Moat::Org", ORG_ID);
    let mut entities = vec![Entity::new_no_attrs(org_uid.clone(), HashSet::new())];
    let known_repos: HashSet<&str> = org.repos.iter().map(|r| r.name.as_str()).collect();
    for repo in &org.repos {
        entities.push(Entity::new_no_attrs(
            uid("Moat::Readers", &repo.name),
            HashSet::new(),
        ));
        let fresh = match &repo.source {
            PermissionSource::Static => true,
            PermissionSource::Mirrored { fresh, .. } => *fresh,
        };
        let attributes = HashMap::from([
            (
                "name".to_string(),
                RestrictedExpression::new_string(repo.name.clone()),
            ),
            (
                "tier".to_string(),
                RestrictedExpression::new_string(repo.tier.to_string()),
            ),
            (
                "tier_level".to_string(),
                RestrictedExpression::new_long(tier_level(repo.tier)),
            ),
            (
                "disclosure".to_string(),
                RestrictedExpression::new_string(repo.disclosure.to_string()),
            ),
            (
                "disclosure_level".to_string(),
                RestrictedExpression::new_long(disclosure_level(repo.disclosure)),
            ),
            ("tags".to_string(), strings(repo.tags.iter().cloned())),
            (
                "region".to_string(),
                RestrictedExpression::new_string(repo.region.clone().unwrap_or_default()),
            ),
            (
                "readers".to_string(),
                RestrictedExpression::new_entity_uid(uid("Moat::Readers", &repo.name)),
            ),
            (
                "permissions_fresh".to_string(),
                RestrictedExpression::new_bool(fresh),
            ),
        ]);
        entities.push(
            Entity::new(
                uid("Moat::Repository", &repo.name),
                attributes,
                HashSet::from([org_uid.clone()]),
            )
            .map_err(|e| PolicyError::Entities(e.to_string()))?,
        );
    }
    let mut team_names: HashSet<&str> = org
        .users
        .iter()
        .flat_map(|u| u.teams.iter().map(String::as_str))
        .collect();
    team_names.extend(readers.teams.keys().map(String::as_str));
    for team in team_names {
        let mut parents = HashSet::from([org_uid.clone()]);
        for repo in readers.teams.get(team).into_iter().flatten() {
            if known_repos.contains(repo.as_str()) {
                parents.insert(uid("Moat::Readers", repo));
            }
        }
        entities.push(Entity::new_no_attrs(uid("Moat::Team", team), parents));
    }
    for user in &org.users {
        let mut parents = HashSet::from([org_uid.clone()]);
        parents.extend(user.teams.iter().map(|t| uid("Moat::Team", t)));
        for repo in readers
            .users
            .get(&user.email.to_lowercase())
            .into_iter()
            .flatten()
        {
            parents.insert(uid("Moat::Readers", repo));
        }
        let attributes = HashMap::from([
            (
                "email".to_string(),
                RestrictedExpression::new_string(user.email.clone()),
            ),
            (
                "roles".to_string(),
                strings(user.roles.iter().map(|r| r.to_string())),
            ),
            (
                "active".to_string(),
                RestrictedExpression::new_bool(user.status == UserStatus::Active),
            ),
            (
                "training_current".to_string(),
                RestrictedExpression::new_bool(user.training_current),
            ),
        ]);
        entities.push(
            Entity::new(uid("Moat::User", &user.id), attributes, parents)
                .map_err(|e| PolicyError::Entities(e.to_string()))?,
        );
    }
    Entities::from_entities(entities, Some(schema))
        .map_err(|e| PolicyError::Entities(format!("{e}: {e:?}")))
}
