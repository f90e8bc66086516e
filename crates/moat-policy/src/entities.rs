//! The organisation as Cedar entities: users in teams in the organisation, and
//! repositories whose attributes list who their host (or a static grant) lets read them.

use crate::{Org, OrgRepo, OrgUser, PermissionSource, PolicyError};
use cedar_policy::{
    Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression, Schema,
};
use moat_domain::{Disclosure, Tier, UserStatus};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

pub(crate) fn uid(kind: &str, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(type_name(kind), EntityId::new(id))
}

/// The schema's type names, parsed once: parsing one is a run of Cedar's parser, which
/// would otherwise be paid for every entity of every request.
fn type_name(kind: &str) -> EntityTypeName {
    static PARSED: std::sync::LazyLock<HashMap<&'static str, EntityTypeName>> =
        std::sync::LazyLock::new(|| {
            [
                "Moat::Org",
                "Moat::Team",
                "Moat::User",
                "Moat::Repository",
                "Moat::Path",
                "Moat::Action",
            ]
            .into_iter()
            .map(|kind| {
                let parsed =
                    EntityTypeName::from_str(kind).unwrap_or_else(|_| unreachable_type(kind));
                (kind, parsed)
            })
            .collect()
        });
    match PARSED.get(kind) {
        Some(parsed) => parsed.clone(),
        // The type names are fixed strings of our schema; they always parse.
        None => EntityTypeName::from_str(kind).unwrap_or_else(|_| unreachable_type(kind)),
    }
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

/// Who a repository's permission source lists: lowercase emails and, for static grants,
/// teams.
pub(crate) fn repo_readers(org: &Org, repo: &OrgRepo) -> (Vec<String>, Vec<String>) {
    match &repo.source {
        PermissionSource::Static => {
            let mut emails = Vec::new();
            let mut teams = Vec::new();
            for grant in &org.grants {
                if grant.repos.iter().any(|r| r == "*" || r == &repo.name) {
                    emails.extend(grant.users.iter().map(|e| e.to_lowercase()));
                    teams.extend(grant.teams.iter().cloned());
                }
            }
            (emails, teams)
        }
        PermissionSource::Mirrored { .. } => (
            repo.host_readers.iter().map(|e| e.to_lowercase()).collect(),
            Vec::new(),
        ),
    }
}

/// Repositories each team may read through static grants (for explanations).
pub(crate) fn team_repos(org: &Org) -> HashMap<String, HashSet<String>> {
    let mut teams: HashMap<String, HashSet<String>> = HashMap::new();
    for repo in &org.repos {
        for team in repo_readers(org, repo).1 {
            teams.entry(team).or_default().insert(repo.name.clone());
        }
    }
    teams
}

fn org_uid() -> EntityUid {
    uid("Moat::Org", ORG_ID)
}

/// A repository with its attributes and readers. Readers are attributes, not edges of
/// the hierarchy: a revocation replaces one repository entity, and people keep a
/// handful of ancestors (their teams and the organisation).
pub(crate) fn repo_entity(org: &Org, repo: &OrgRepo) -> Result<Entity, PolicyError> {
    let fresh = match &repo.source {
        PermissionSource::Static => true,
        PermissionSource::Mirrored { fresh, .. } => *fresh,
    };
    let (emails, teams) = repo_readers(org, repo);
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
        ("readers".to_string(), strings(emails)),
        (
            "reader_teams".to_string(),
            RestrictedExpression::new_set(
                teams
                    .iter()
                    .map(|t| RestrictedExpression::new_entity_uid(uid("Moat::Team", t))),
            ),
        ),
        (
            "permissions_fresh".to_string(),
            RestrictedExpression::new_bool(fresh),
        ),
    ]);
    Entity::new(
        uid("Moat::Repository", &repo.name),
        attributes,
        HashSet::from([org_uid()]),
    )
    .map_err(|e| PolicyError::Entities(e.to_string()))
}

pub(crate) fn team_entity(team: &str) -> Entity {
    Entity::new_no_attrs(uid("Moat::Team", team), HashSet::from([org_uid()]))
}

pub(crate) fn user_entity(user: &OrgUser) -> Result<Entity, PolicyError> {
    let mut parents = HashSet::from([org_uid()]);
    parents.extend(user.teams.iter().map(|t| uid("Moat::Team", t)));
    let attributes = HashMap::from([
        (
            "email".to_string(),
            RestrictedExpression::new_string(user.email.to_lowercase()),
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
    Entity::new(uid("Moat::User", &user.id), attributes, parents)
        .map_err(|e| PolicyError::Entities(e.to_string()))
}

/// Every team named by a person or a static grant.
pub(crate) fn team_names(org: &Org) -> HashSet<&str> {
    let mut names: HashSet<&str> = org
        .users
        .iter()
        .flat_map(|u| u.teams.iter().map(String::as_str))
        .collect();
    names.extend(
        org.grants
            .iter()
            .flat_map(|g| g.teams.iter().map(String::as_str)),
    );
    names
}

pub(crate) fn build(org: &Org, schema: &Schema) -> Result<Entities, PolicyError> {
    let mut entities = vec![Entity::new_no_attrs(org_uid(), HashSet::new())];
    for repo in &org.repos {
        entities.push(repo_entity(org, repo)?);
    }
    for team in team_names(org) {
        entities.push(team_entity(team));
    }
    for user in &org.users {
        entities.push(user_entity(user)?);
    }
    Entities::from_entities(entities, Some(schema))
        .map_err(|e| PolicyError::Entities(format!("{e}: {e:?}")))
}
