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

mod build;
mod explain;

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
