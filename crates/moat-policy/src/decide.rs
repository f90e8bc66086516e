//! Decisions: Cedar decides; this module names the rules that decided and says, in
//! words a person can act on, why a request was denied.

use crate::entities::{self, ORG_ID, uid};
use crate::{
    ExceptionTarget, Org, OrgException, OrgGrant, OrgRepo, OrgSwitch, OrgUser, PermissionSource,
    PolicyError, SwitchKind,
};
use cedar_policy::{
    Context, Entities, Policy, PolicyId, PolicySet, Request, Schema, ValidationMode, Validator,
};
use moat_domain::{Disclosure, Role, Tier, UserStatus};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    QueryContext,
    ReadSource,
    SendToModel,
    Administer,
    ViewAudit,
    ExportEvidence,
    /// Approve or deny an exception to the policy.
    ReviewException,
    /// Engage or release a kill switch.
    Contain,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::QueryContext => "QueryContext",
            Action::ReadSource => "ReadSource",
            Action::SendToModel => "SendToModel",
            Action::Administer => "Administer",
            Action::ViewAudit => "ViewAudit",
            Action::ExportEvidence => "ExportEvidence",
            Action::ReviewException => "ReviewException",
            Action::Contain => "Contain",
        }
    }
}

/// The answer, with the rules that decided it and a reason a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allow: bool,
    /// The repository's tier and what it lets MCP disclose (repository actions).
    pub tier: Option<Tier>,
    pub disclosure: Option<Disclosure>,
    /// Ids of the policies that decided: the permits that allowed it, or the forbids
    /// that denied it (empty when nothing permitted: deny by default).
    pub rules: Vec<String>,
    pub reason: String,
}

/// One cell of `moat access matrix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixEntry {
    pub user: String,
    pub email: String,
    pub repo: String,
    pub decision: Decision,
    /// Whether raw source may be read (ReadSource), beside querying context.
    pub read_source: bool,
}

pub struct Authorizer {
    schema: Schema,
    /// For each action, the validated policies whose scope can match it. Cedar
    /// evaluates every policy it is given; one whose action scope excludes the request's
    /// action can only be false, so leaving it out changes no decision and no
    /// diagnostic, and saves its evaluation on every request.
    by_action: HashMap<Action, Arc<PolicySet>>,
    entities: Entities,
    engine: cedar_policy::Authorizer,
    users: HashMap<String, OrgUser>,
    ids_by_email: HashMap<String, String>,
    /// Shared with the authorizers [`Authorizer::updated`] makes from this one.
    repos: HashMap<String, Arc<OrgRepo>>,
    repo_order: Vec<String>,
    /// Repositories each team may read by static grant (for explanations).
    team_repos: HashMap<String, HashSet<String>>,
    base_ids: HashSet<&'static str>,
    /// [`Authorizer::readable`]'s answers, by user id: indexes into `repo_order`.
    readable_kept: std::sync::Mutex<Kept>,
    /// What [`Authorizer::updated`] needs unchanged to patch entities in place.
    training_required: bool,
    custom_policies: Option<String>,
    grants: Vec<OrgGrant>,
    exceptions: Vec<OrgException>,
    switches: Vec<OrgSwitch>,
}

/// The repositories one person may query: indexes into `repo_order`, each with the
/// rules that allowed it (one shared list per distinct set of rules).
type Readable = Arc<[(u32, Arc<[String]>)]>;

/// Allowed (person, repository) pairs an authorizer keeps at most, ~24 bytes each;
/// past it, it starts over.
const MAX_KEPT_ENTRIES: usize = 2_000_000;

/// [`Authorizer::readable`]'s answers.
#[derive(Default)]
struct Kept {
    by_user: HashMap<String, Readable>,
    entries: usize,
    rules: HashSet<Arc<[String]>>,
}

impl Kept {
    fn insert(&mut self, user: String, decided: Vec<(u32, Vec<String>)>) -> Readable {
        if self.entries + decided.len() > MAX_KEPT_ENTRIES {
            *self = Kept::default();
        }
        let allowed: Readable = decided
            .into_iter()
            .map(|(at, rules)| {
                let shared = match self.rules.get(rules.as_slice()) {
                    Some(shared) => shared.clone(),
                    None => {
                        let shared: Arc<[String]> = rules.into();
                        self.rules.insert(shared.clone());
                        shared
                    }
                };
                (at, shared)
            })
            .collect();
        self.entries += allowed.len();
        if let Some(old) = self.by_user.insert(user, allowed.clone()) {
            self.entries -= old.len();
        }
        allowed
    }
}

/// Past this many changed entities a full rebuild is cheaper than patching in place.
const MAX_PATCHED_ENTITIES: usize = 1024;

impl Authorizer {
    /// Builds the schema, the base policies, the organisation's policies (validated
    /// against the schema) and the entities.
    pub fn new(org: &Org) -> Result<Authorizer, PolicyError> {
        let (schema, _warnings) = Schema::from_cedarschema_str(crate::SCHEMA)
            .map_err(|e| PolicyError::Internal(format!("schema: {e}")))?;
        let (policies, base_ids) = policy_set(org, &schema)?;
        let team_repos = entities::team_repos(org);
        let entities = entities::build(org, &schema)?;
        let by_action = by_action(&policies)?;
        let (users, ids_by_email) = people(org);
        Ok(Authorizer {
            schema,
            by_action,
            entities,
            engine: cedar_policy::Authorizer::new(),
            users,
            ids_by_email,
            repos: org
                .repos
                .iter()
                .map(|r| (r.name.clone(), Arc::new(r.clone())))
                .collect(),
            repo_order: org.repos.iter().map(|r| r.name.clone()).collect(),
            team_repos,
            base_ids,
            readable_kept: Default::default(),
            training_required: org.training_required,
            custom_policies: org.custom_policies.clone(),
            grants: org.grants.clone(),
            exceptions: org.exceptions.clone(),
            switches: org.switches.clone(),
        })
    }

    /// The authorizer for `org`, which differs from this one's organisation only in
    /// people and mirrored readers (a webhook's revocation, a sync, a suspension).
    ///
    /// Only the Cedar entities that changed are replaced (`Entities::upsert_entities`
    /// repairs the hierarchy around them); the schema and the validated policies are
    /// reused. A revocation replaces one repository entity (readers are its
    /// attributes); a suspension, one user. Anything else (configuration, removed people
    /// or repositories, many changes at once) falls back to a full build, so the result
    /// always decides as `Authorizer::new(org)` would.
    pub fn updated(&self, org: &Org) -> Result<Authorizer, PolicyError> {
        let same_repo_shape = org.repos.len() == self.repo_order.len()
            && org.repos.iter().zip(&self.repo_order).all(|(new, name)| {
                new.name == *name
                    && self.repos.get(name).is_some_and(|old| {
                        std::mem::discriminant(&old.source) == std::mem::discriminant(&new.source)
                    })
            });
        let ids: HashSet<&str> = org.users.iter().map(|u| u.id.as_str()).collect();
        let nobody_removed =
            ids.len() == org.users.len() && self.users.keys().all(|id| ids.contains(id.as_str()));
        if !same_repo_shape
            || !nobody_removed
            || org.training_required != self.training_required
            || org.custom_policies != self.custom_policies
            || org.grants != self.grants
            || org.exceptions != self.exceptions
        {
            return Authorizer::new(org);
        }
        // A switch engaged or released changes policies only: the entities are patched
        // as usual and the policy set is made again (a few policies; not the people).
        let policies_changed = org.switches != self.switches;
        let (by_action, base_ids) = if policies_changed {
            let (policies, base_ids) = policy_set(org, &self.schema)?;
            (by_action(&policies)?, base_ids)
        } else {
            (self.by_action.clone(), self.base_ids.clone())
        };
        let mut changed: Vec<cedar_policy::Entity> = Vec::new();
        let mut repos: HashMap<String, Arc<OrgRepo>> = HashMap::with_capacity(org.repos.len());
        let mut changed_repos: Vec<usize> = Vec::new();
        for (at, new) in org.repos.iter().enumerate() {
            match self.repos.get(&new.name) {
                Some(old) if **old == *new => {
                    repos.insert(new.name.clone(), old.clone());
                }
                _ => {
                    changed.push(entities::repo_entity(org, new)?);
                    repos.insert(new.name.clone(), Arc::new(new.clone()));
                    changed_repos.push(at);
                }
            }
        }
        let mut new_teams: HashSet<&str> = HashSet::new();
        let mut changed_users: HashSet<&str> = HashSet::new();
        for user in &org.users {
            if self.users.get(&user.id) == Some(user) {
                continue;
            }
            changed_users.insert(&user.id);
            for team in &user.teams {
                if self.entities.get(&uid("Moat::Team", team)).is_none() && new_teams.insert(team) {
                    changed.push(entities::team_entity(team));
                }
            }
            changed.push(entities::user_entity(user)?);
        }
        if changed.len() > MAX_PATCHED_ENTITIES {
            return Authorizer::new(org);
        }
        let entities = if changed.is_empty() {
            self.entities.clone()
        } else {
            self.entities
                .clone()
                .upsert_entities(changed, Some(&self.schema))
                .map_err(|e| PolicyError::Entities(format!("{e}: {e:?}")))?
        };
        let (users, ids_by_email) = people(org);
        let updated = Authorizer {
            schema: self.schema.clone(),
            by_action,
            entities,
            engine: cedar_policy::Authorizer::new(),
            users,
            ids_by_email,
            repos,
            repo_order: self.repo_order.clone(),
            team_repos: self.team_repos.clone(),
            base_ids,
            readable_kept: Default::default(),
            training_required: self.training_required,
            custom_policies: self.custom_policies.clone(),
            grants: self.grants.clone(),
            exceptions: self.exceptions.clone(),
            switches: org.switches.clone(),
        };
        if !policies_changed {
            updated.carry_readable(self, &changed_users, &changed_repos);
        }
        Ok(updated)
    }

    /// Keeps what `previous` knew of people's readable repositories where the change
    /// cannot have moved it: with Moat's base policies a decision depends only on the
    /// person (and their teams, which change only with them) and the repository, so for
    /// a person who did not change only the changed repositories are decided again.
    /// Organisation policies may name other entities (`Moat::Repository::"x".tier`),
    /// so with them nothing is carried. Past a budget of decisions nothing is carried
    /// either (each person's next search decides afresh).
    fn carry_readable(
        &self,
        previous: &Authorizer,
        changed_users: &HashSet<&str>,
        changed_repos: &[usize],
    ) {
        const MAX_DECISIONS: usize = 5_000;
        if self.custom_policies.is_some() {
            return;
        }
        // Copied out, so searches on the previous authorizer never wait for the
        // decisions below.
        let kept: Vec<(String, Readable)> = match previous.readable_kept.lock() {
            Ok(kept) if kept.by_user.len() * changed_repos.len() <= MAX_DECISIONS => kept
                .by_user
                .iter()
                .map(|(user, allowed)| (user.clone(), allowed.clone()))
                .collect(),
            _ => return,
        };
        let mut carried = Kept::default();
        for (user, allowed) in kept {
            if changed_users.contains(user.as_str()) || !self.users.contains_key(&user) {
                continue;
            }
            let mut next: Vec<(u32, Vec<String>)> = allowed
                .iter()
                .filter(|(at, _)| !changed_repos.contains(&(*at as usize)))
                .map(|(at, rules)| (*at, rules.to_vec()))
                .collect();
            for at in changed_repos {
                let decision = self.decide(&user, Action::QueryContext, &self.repo_order[*at]);
                if decision.allow {
                    next.push((*at as u32, decision.rules));
                }
            }
            next.sort_by_key(|(at, _)| *at);
            carried.insert(user, next);
        }
        if let Ok(mut kept) = self.readable_kept.lock() {
            *kept = carried;
        }
    }

    /// The user id for an id or an email.
    pub fn user_id(&self, id_or_email: &str) -> Option<&str> {
        if let Some((id, _)) = self.users.get_key_value(id_or_email) {
            return Some(id);
        }
        self.ids_by_email
            .get(&id_or_email.to_lowercase())
            .map(String::as_str)
    }

    /// A connected repository as policy sees it (tier, tags, region).
    pub fn repo(&self, name: &str) -> Option<&OrgRepo> {
        self.repos.get(name).map(|r| &**r)
    }

    /// Every connected repository, in configuration order.
    pub fn repos(&self) -> impl Iterator<Item = &OrgRepo> {
        self.repo_order
            .iter()
            .filter_map(|name| self.repos.get(name).map(|r| &**r))
    }

    /// May `user` do `action` on repository `repo`?
    pub fn decide(&self, user: &str, action: Action, repo: &str) -> Decision {
        let Some(user) = self.user_id(user).and_then(|id| self.users.get(id)) else {
            return deny(None, format!("no user `{user}`"));
        };
        let Some(repository) = self.repos.get(repo) else {
            return deny(None, format!("no repository `{repo}` is connected"));
        };
        let resource = uid("Moat::Repository", &repository.name);
        let mut decision = self.evaluate(user, action, resource);
        decision.tier = Some(repository.tier);
        decision.disclosure = Some(repository.disclosure);
        if !decision.allow && decision.reason.is_empty() {
            decision.reason = self.explain_denial(user, action, Some(repository), &decision.rules);
        }
        decision
    }

    /// May `user` do an organisation-wide `action` (administer, view audit, use models)?
    pub fn decide_org(&self, user: &str, action: Action) -> Decision {
        let Some(user) = self.user_id(user).and_then(|id| self.users.get(id)) else {
            return deny(None, format!("no user `{user}`"));
        };
        let mut decision = self.evaluate(user, action, uid("Moat::Org", ORG_ID));
        if !decision.allow && decision.reason.is_empty() {
            decision.reason = self.explain_denial(user, action, None, &decision.rules);
        }
        decision
    }

    /// An organisation-wide decision for someone who is not (or not necessarily) one of
    /// the organisation's people: the local operator of the command line, who acts
    /// with the data directory in hand. They are decided as the entity `principal`
    /// describes, so base and organisation policies apply to them as to anyone.
    pub fn decide_org_as(&self, principal: &OrgUser, action: Action) -> Decision {
        if self.users.contains_key(&principal.id) {
            return self.decide_org(&principal.id, action);
        }
        let entities = entities::user_entity(principal).and_then(|entity| {
            self.entities
                .clone()
                .upsert_entities([entity], Some(&self.schema))
                .map_err(|e| PolicyError::Entities(e.to_string()))
        });
        let entities = match entities {
            Ok(entities) => entities,
            Err(e) => {
                return deny(
                    None,
                    format!("{} cannot be decided ({e}); denied", principal.email),
                );
            }
        };
        let mut decision =
            self.evaluate_with(principal, action, uid("Moat::Org", ORG_ID), &entities);
        if !decision.allow && decision.reason.is_empty() {
            decision.reason = self.explain_denial(principal, action, None, &decision.rules);
        }
        decision
    }

    /// The repositories `user` may query, in configuration order, with their decisions.
    ///
    /// Every search asks this, and at thousands of repositories it is thousands of
    /// decisions, so the answer is kept per person for the life of this authorizer
    /// (which never changes; an update carries forward only what the change cannot
    /// have moved, see [`Authorizer::updated`]). Kept compactly: repository indexes and
    /// shared rule lists, at most `MAX_KEPT_ENTRIES` in all.
    pub fn readable(&self, user: &str) -> Vec<(&OrgRepo, Decision)> {
        let key = self.user_id(user).unwrap_or(user).to_string();
        let kept = self
            .readable_kept
            .lock()
            .ok()
            .and_then(|kept| kept.by_user.get(&key).cloned());
        let allowed = match kept {
            Some(allowed) => allowed,
            None => {
                let decided: Vec<(u32, Vec<String>)> = self
                    .repo_order
                    .iter()
                    .enumerate()
                    .filter_map(|(at, name)| {
                        let decision = self.decide(user, Action::QueryContext, name);
                        decision.allow.then_some((at as u32, decision.rules))
                    })
                    .collect();
                match self.readable_kept.lock() {
                    Ok(mut kept) => kept.insert(key, decided),
                    Err(_) => Kept::default().insert(key, decided),
                }
            }
        };
        allowed
            .iter()
            .filter_map(|(at, rules)| {
                let repo = self.repos.get(self.repo_order.get(*at as usize)?)?;
                // Exactly what `decide` answers for an allowed repository.
                let decision = Decision {
                    allow: true,
                    tier: Some(repo.tier),
                    disclosure: Some(repo.disclosure),
                    rules: rules.to_vec(),
                    reason: "allowed".to_string(),
                };
                Some((&**repo, decision))
            })
            .collect()
    }

    /// Every user against every repository.
    /// The id of the approved exception in force that lets `user` (an id) use model
    /// `alias` though their teams may not; `None` when there is none.
    pub fn model_exception(&self, user: &str, alias: &str) -> Option<&str> {
        self.exception_for(user, &ExceptionTarget::Model(alias.to_string()))
    }

    /// The id of the approved exception in force that lets `user` (an id) send code to
    /// `vendor` though its attestations do not cover that code; `None` when there is none.
    pub fn vendor_exception(&self, user: &str, vendor: &str) -> Option<&str> {
        self.exception_for(user, &ExceptionTarget::Vendor(vendor.to_string()))
    }

    /// The engaged kill switch of `kind` on `target`, if any.
    pub fn switched_off(&self, kind: SwitchKind, target: &str) -> Option<&OrgSwitch> {
        self.switches
            .iter()
            .find(|s| s.kind == kind && s.target == target)
    }

    /// Every engaged kill switch.
    pub fn switches(&self) -> &[OrgSwitch] {
        &self.switches
    }

    fn exception_for(&self, user: &str, target: &ExceptionTarget) -> Option<&str> {
        self.exceptions
            .iter()
            .find(|e| e.user == user && e.target == *target)
            .map(|e| e.id.as_str())
    }

    pub fn matrix(&self) -> Vec<MatrixEntry> {
        self.matrix_page(None, usize::MAX).0
    }

    /// One page of the matrix: whole rows (every repository of a person), people by
    /// email after `after`, as many as fit in `max_cells` (at least one person), and
    /// the email to continue after if more remain. At 10,000 people × 5,000
    /// repositories the whole matrix is 50 million decisions: nobody can ask for it
    /// in one request.
    pub fn matrix_page(
        &self,
        after: Option<&str>,
        max_cells: usize,
    ) -> (Vec<MatrixEntry>, Option<String>) {
        let mut users: Vec<&OrgUser> = self
            .users
            .values()
            .filter(|u| after.is_none_or(|after| u.email.as_str() > after))
            .collect();
        users.sort_by(|a, b| a.email.cmp(&b.email));
        let per_user = self.repo_order.len().max(1);
        let take = (max_cells / per_user).max(1);
        let next = (users.len() > take).then(|| users[take - 1].email.clone());
        users.truncate(take);
        let mut out = Vec::with_capacity(users.len() * self.repo_order.len());
        for user in users {
            for repo in &self.repo_order {
                let decision = self.decide(&user.id, Action::QueryContext, repo);
                let read_source =
                    decision.allow && self.decide(&user.id, Action::ReadSource, repo).allow;
                out.push(MatrixEntry {
                    user: user.id.clone(),
                    email: user.email.clone(),
                    repo: repo.clone(),
                    decision,
                    read_source,
                });
            }
        }
        (out, next)
    }

    fn evaluate(
        &self,
        user: &OrgUser,
        action: Action,
        resource: cedar_policy::EntityUid,
    ) -> Decision {
        self.evaluate_with(user, action, resource, &self.entities)
    }

    fn evaluate_with(
        &self,
        user: &OrgUser,
        action: Action,
        resource: cedar_policy::EntityUid,
        entities: &Entities,
    ) -> Decision {
        let request = match Request::new(
            uid("Moat::User", &user.id),
            uid("Moat::Action", action.as_str()),
            resource,
            Context::empty(),
            Some(&self.schema),
        ) {
            Ok(request) => request,
            Err(e) => {
                return deny(
                    None,
                    format!("the request does not fit the policy schema ({e}); denied"),
                );
            }
        };
        let response = self
            .engine
            .is_authorized(&request, &self.by_action[&action], entities);
        // Cedar reports the deciding policies as a set in no fixed order; sorted, the
        // same request always gets the same rules and the same explanation.
        let mut rules: Vec<String> = response
            .diagnostics()
            .reason()
            .map(|id| id.to_string())
            .collect();
        rules.sort();
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|e| e.to_string())
            .collect();
        if !errors.is_empty() {
            // Fail closed: a policy that cannot be evaluated never lets a request through.
            return Decision {
                allow: false,
                tier: None,
                disclosure: None,
                rules,
                reason: format!(
                    "a policy could not be evaluated ({}); denied until it is fixed",
                    errors.join("; ")
                ),
            };
        }
        let allow = response.decision() == cedar_policy::Decision::Allow;
        Decision {
            allow,
            tier: None,
            disclosure: None,
            rules,
            reason: if allow {
                "allowed".to_string()
            } else {
                String::new()
            },
        }
    }

    /// Words for a denial: the forbidding rule, or what no rule permitted.
    fn explain_denial(
        &self,
        user: &OrgUser,
        action: Action,
        repo: Option<&OrgRepo>,
        rules: &[String],
    ) -> String {
        if let Some(rule) = rules.first() {
            return match rule.as_str() {
                "active-users-only" => format!(
                    "{} is {}; an administrator can restore access with `moat user reactivate {}`",
                    user.email, user.status, user.email
                ),
                "training-current" => format!(
                    "{} has no current security-training attestation; complete the training, then an administrator records it with `moat user attest {}`",
                    user.email, user.email
                ),
                "permission-mirror-fresh" => {
                    let host = match repo.map(|r| &r.source) {
                        Some(PermissionSource::Mirrored { host, .. }) => host.as_str(),
                        _ => "the repository host",
                    };
                    format!(
                        "the {host} permissions of `{}` are not synced within the staleness bound, so access fails closed; check the sync (token, rate limit) and run it again",
                        repo.map_or("", |r| r.name.as_str())
                    )
                }
                "source-needs-source-tier" => format!(
                    "`{}` is {} and shows only {}; raw source is not available at this tier",
                    repo.map_or("", |r| r.name.as_str()),
                    repo.map_or(Tier::Restricted, |r| r.tier),
                    repo.map_or(Disclosure::Structure, |r| r.disclosure)
                ),
                switch if switch.starts_with(KILL_SWITCH_PREFIX) => {
                    let name = repo.map_or("", |r| r.name.as_str());
                    let reason = self
                        .switched_off(SwitchKind::Repo, name)
                        .map_or("", |s| s.reason.as_str());
                    format!(
                        "`{name}` is frozen by a kill switch ({reason}); nothing of it is answered or sent to a model until the security team releases it with `moat kill-switch release repo {name}`"
                    )
                }
                custom if !self.base_ids.contains(custom) => {
                    format!("denied by the organisation's policy `{custom}`")
                }
                other => format!("denied by policy `{other}`"),
            };
        }
        if user.status != UserStatus::Active {
            return format!("{} is {}", user.email, user.status);
        }
        match (action, repo) {
            (Action::QueryContext | Action::ReadSource, Some(repo)) => {
                if !user.roles.contains(&Role::Developer) {
                    return format!(
                        "{} has no developer role, which code context needs; an administrator can add it",
                        user.email
                    );
                }
                let teams_granted: Vec<&String> = user
                    .teams
                    .iter()
                    .filter(|t| {
                        self.team_repos
                            .get(*t)
                            .is_some_and(|repos| repos.contains(&repo.name))
                    })
                    .collect();
                if !teams_granted.is_empty() {
                    return "no policy permitted it".to_string();
                }
                match &repo.source {
                    PermissionSource::Static => format!(
                        "no grant in [permissions.static] gives {} or their teams ({}) access to `{}`; add one to moat.toml",
                        user.email,
                        if user.teams.is_empty() {
                            "none".to_string()
                        } else {
                            user.teams.join(", ")
                        },
                        repo.name
                    ),
                    PermissionSource::Mirrored { host, .. } => format!(
                        "{host} does not list {} as a reader of `{}`; access follows the repository host",
                        user.email, repo.name
                    ),
                }
            }
            (Action::Administer, None) => format!("{} has no admin role", user.email),
            (Action::ReviewException, None) => {
                format!(
                    "{} has no security role, which reviews exceptions",
                    user.email
                )
            }
            (Action::Contain, None) => format!(
                "{} has neither the security nor the admin role, which kill switches need",
                user.email
            ),
            (Action::ViewAudit | Action::ExportEvidence, None) => format!(
                "{} has none of the roles security, auditor or admin",
                user.email
            ),
            (Action::SendToModel, _) => format!("{} has no developer role", user.email),
            _ => "no policy permitted it".to_string(),
        }
    }
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::QueryContext,
        Action::ReadSource,
        Action::SendToModel,
        Action::Administer,
        Action::ViewAudit,
        Action::ExportEvidence,
        Action::ReviewException,
        Action::Contain,
    ];
}

/// People by id, and their ids by lowercase email.
fn people(org: &Org) -> (HashMap<String, OrgUser>, HashMap<String, String>) {
    let by_id = org
        .users
        .iter()
        .map(|u| (u.id.clone(), u.clone()))
        .collect();
    let by_email = org
        .users
        .iter()
        .map(|u| (u.email.to_lowercase(), u.id.clone()))
        .collect();
    (by_id, by_email)
}

/// The policies whose action scope admits each action (see `Authorizer::by_action`).
fn by_action(policies: &PolicySet) -> Result<HashMap<Action, Arc<PolicySet>>, PolicyError> {
    let mut out = HashMap::new();
    for action in Action::ALL {
        let action_uid = uid("Moat::Action", action.as_str());
        let mut set = PolicySet::new();
        for policy in policies.policies() {
            let applies = match policy.action_constraint() {
                cedar_policy::ActionConstraint::Any => true,
                cedar_policy::ActionConstraint::Eq(only) => only == action_uid,
                // Moat's schema has no action groups: `in [..]` is membership.
                cedar_policy::ActionConstraint::In(among) => among.contains(&action_uid),
            };
            if applies {
                set.add(policy.clone())
                    .map_err(|e| PolicyError::Internal(e.to_string()))?;
            }
        }
        out.insert(action, Arc::new(set));
    }
    Ok(out)
}

/// The base policies, the organisation's, the exceptions' permits and the kill
/// switches' forbids, validated against the schema; and the base policies' ids.
fn policy_set(
    org: &Org,
    schema: &Schema,
) -> Result<(PolicySet, HashSet<&'static str>), PolicyError> {
    let mut policies = PolicySet::new();
    let base = crate::base::policies(org.training_required);
    let base_ids: HashSet<&'static str> = base.iter().map(|(id, _)| *id).collect();
    for (id, text) in &base {
        let policy = Policy::parse(Some(PolicyId::new(*id)), text)
            .map_err(|e| PolicyError::Internal(format!("base policy {id}: {e}")))?;
        policies
            .add(policy)
            .map_err(|e| PolicyError::Internal(e.to_string()))?;
    }
    if let Some(text) = &org.custom_policies {
        let custom = PolicySet::from_str(text).map_err(|e| PolicyError::Parse(format!("{e:?}")))?;
        for (n, policy) in custom.policies().enumerate() {
            let id = policy
                .annotation("id")
                .map(str::to_string)
                .unwrap_or_else(|| format!("org-policy-{}", n + 1));
            if id.starts_with(KILL_SWITCH_PREFIX) {
                return Err(PolicyError::Invalid(format!(
                    "policy id `{id}` starts with `{KILL_SWITCH_PREFIX}`, which names kill switches; choose another @id"
                )));
            }
            if id.starts_with(EXCEPTION_PREFIX) {
                return Err(PolicyError::Invalid(format!(
                    "policy id `{id}` starts with `{EXCEPTION_PREFIX}`, which names approved exceptions; choose another @id"
                )));
            }
            if base_ids.contains(id.as_str()) {
                return Err(PolicyError::Invalid(format!(
                    "policy id `{id}` is one of Moat's base policies; choose another @id"
                )));
            }
            policies
                .add(policy.new_id(PolicyId::new(id.clone())))
                .map_err(|e| PolicyError::Invalid(format!("policy `{id}`: {e}")))?;
        }
    }
    for exception in &org.exceptions {
        let Some(permit) = exception_permit(exception) else {
            continue;
        };
        let id = exception_id(&exception.id);
        let policy = Policy::parse(Some(PolicyId::new(&id)), permit)
            .map_err(|e| PolicyError::Internal(format!("{id}: {e}")))?;
        policies
            .add(policy)
            .map_err(|e| PolicyError::Internal(e.to_string()))?;
    }
    for switch in org.switches.iter().filter(|s| s.kind == SwitchKind::Repo) {
        let id = switch.rule();
        let forbid = format!(
            "forbid(principal, action in [Moat::Action::\"QueryContext\", Moat::Action::\"ReadSource\", Moat::Action::\"SendToModel\"], resource == Moat::Repository::{});",
            literal(&switch.target)
        );
        let policy = Policy::parse(Some(PolicyId::new(&id)), forbid)
            .map_err(|e| PolicyError::Internal(format!("{id}: {e}")))?;
        policies
            .add(policy)
            .map_err(|e| PolicyError::Internal(e.to_string()))?;
    }
    let validation = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
    if !validation.validation_passed() {
        let errors: Vec<String> = validation
            .validation_errors()
            .map(|e| format!("{e}"))
            .collect();
        return Err(PolicyError::Invalid(errors.join("; ")));
    }
    Ok((policies, base_ids))
}

fn deny(tier: Option<Tier>, reason: String) -> Decision {
    Decision {
        allow: false,
        tier,
        disclosure: None,
        rules: Vec::new(),
        reason,
    }
}

/// Ids of the permits approved exceptions add begin with this, so decisions and audit
/// events name the exception that allowed them.
pub const EXCEPTION_PREFIX: &str = "exception:";

/// Ids of the forbids engaged kill switches add begin with this.
pub const KILL_SWITCH_PREFIX: &str = "kill-switch:";

fn exception_id(id: &str) -> String {
    format!("{EXCEPTION_PREFIX}{id}")
}

/// Cedar's string literal of `text`.
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An approved exception as a permit for its one person and repository: querying and
/// reading source as a reader would, for a developer as a grant would. The forbids
/// still apply (a suspended person, a stale mirror, a tier that shows no source,
/// missing training): an exception widens who reads, never what the tier discloses.
/// A tier exception is the same for every repository of that tier. Model and vendor
/// exceptions are no permit: the gateway asks for them.
fn exception_permit(exception: &OrgException) -> Option<String> {
    let reads = "action in [Moat::Action::\"QueryContext\", Moat::Action::\"ReadSource\"]";
    let user = literal(&exception.user);
    match &exception.target {
        ExceptionTarget::Repo(repo) => Some(format!(
            "permit(principal == Moat::User::{user}, {reads}, resource == Moat::Repository::{}) when {{ principal.roles.contains(\"developer\") }};",
            literal(repo)
        )),
        ExceptionTarget::Tier(tier) => Some(format!(
            "permit(principal == Moat::User::{user}, {reads}, resource is Moat::Repository) when {{ principal.roles.contains(\"developer\") && resource.tier == {} }};",
            literal(tier)
        )),
        ExceptionTarget::Model(_) | ExceptionTarget::Vendor(_) => None,
    }
}
