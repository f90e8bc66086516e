//! Building an authorizer: the schema, the base policies and the organisation's
//! (validated), the entities; and updating one in place when only people or mirrored
//! readers changed.

use super::*;

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
