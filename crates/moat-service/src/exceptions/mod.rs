//! Exceptions to the policy, with an owner, a deadline and an end.
//!
//! A person asks (or an administrator asks for them) to read a repository the rules do
//! not let them read, says why and for how long (at most `[exceptions] max_duration`).
//! A named reviewer holding the security role (Cedar `ReviewException`; never the
//! person it is for, nor whoever asked) approves or denies it. An approved exception is
//! a Cedar permit named `exception:<id>` for that one person and repository: every
//! decision it allows names it, so every audit event of those reads does. It carries
//! its window: the authorizer includes it only while `now` is inside and goes stale at
//! its end, so it ends by itself at the next decision after it, with no job to run.
//! Revoking ends it at once. A request still pending past `[exceptions] review_sla` is
//! overdue. Every step is an `admin.change` with before and after.

mod overdue;

pub use overdue::OverdueWatch;

use crate::access::Access;
use crate::admin::{Admin, AdminActor, AdminError};
use crate::identity::IdentityError;
use crate::operator::{self, Operator, OperatorError};
use moat_domain::UnixTime;
use moat_policy::Action;
use moat_store::PolicyException;
use moat_store::exceptions::{APPROVED, DENIED, PENDING, REVOKED};
use serde_json::{Value, json};

/// `[exceptions]`.
#[derive(Debug, Clone, Copy)]
pub struct ExceptionRules {
    /// The longest an exception may be asked for.
    pub max_seconds: i64,
    /// How long a request may wait for review before it is overdue.
    pub review_sla_seconds: i64,
}

impl ExceptionRules {
    pub fn from_config(rules: &moat_config::Exceptions) -> ExceptionRules {
        ExceptionRules {
            max_seconds: rules.max_duration.seconds,
            review_sla_seconds: rules.review_sla.seconds,
        }
    }
}

impl Default for ExceptionRules {
    fn default() -> Self {
        ExceptionRules::from_config(&moat_config::Exceptions::default())
    }
}

/// A reviewer's or revoker's decision on one exception.
#[derive(Debug, Clone)]
pub enum Review {
    Approve(Option<String>),
    /// Says why.
    Deny(String),
    Revoke(Option<String>),
}

/// What is asked.
#[derive(Debug, Clone)]
pub struct NewException {
    /// The person it is for, by id or email.
    pub user: String,
    pub what: Asked,
    pub reason: String,
    pub seconds: i64,
}

/// What an exception is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// Reading a repository the rules keep from the person.
    Repo(String),
    /// Using a model (by alias) their teams may not use.
    Model(String),
    /// Reading every repository of a tier.
    Tier(String),
    /// Sending code to a vendor whose attestations do not cover that code's tier.
    Vendor(String),
}

impl Asked {
    /// The stored kind: `repo` or `model`.
    pub fn kind(&self) -> &'static str {
        match self {
            Asked::Repo(_) => "repo",
            Asked::Model(_) => "model",
            Asked::Tier(_) => "tier",
            Asked::Vendor(_) => "vendor",
        }
    }

    pub fn target(&self) -> &str {
        match self {
            Asked::Repo(name) | Asked::Model(name) | Asked::Tier(name) | Asked::Vendor(name) => {
                name
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExceptionError {
    #[error("{0}")]
    Invalid(String),
    #[error("no exception `{0}`; `moat exception list` shows them")]
    NotFound(String),
    /// The person or repository asked about does not exist.
    #[error("{0}")]
    Unknown(String),
    #[error("exception `{id}` is {status}, not {expected}; nothing was changed")]
    Decided {
        id: String,
        status: String,
        expected: &'static str,
    },
    #[error("{0}")]
    Denied(String),
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("the exceptions cannot be read: {0}")]
    Store(#[from] moat_store::StoreError),
}

/// An exception as it is listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listed {
    pub id: String,
    pub email: String,
    pub kind: String,
    pub target: String,
    pub reason: String,
    pub seconds: i64,
    pub status: String,
    pub requested_at: String,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub note: Option<String>,
    pub ends_at: Option<String>,
    /// Approved and inside its window now.
    pub in_force: bool,
    /// Pending past the review SLA.
    pub overdue: bool,
}

pub struct Exceptions<'a> {
    pub access: &'a Access,
    pub admin: &'a Admin<'a>,
    pub rules: ExceptionRules,
    /// The aliases of `[[models]]`, which model exceptions may name.
    pub models: Vec<String>,
    /// The names of `[[vendors]]`, which vendor exceptions may name.
    pub vendors: Vec<String>,
}

fn json_of(e: &PolicyException) -> Value {
    json!({
        "id": e.id, "user": e.user_id, "kind": e.kind, "target": e.target, "reason": e.reason,
        "seconds": e.seconds, "status": e.status, "requested_by": e.requested_by,
        "decided_by": e.decided_by, "note": e.note,
        "starts_at": e.starts_at.map(|t| t.to_rfc3339()), "ends_at": e.ends_at.map(|t| t.to_rfc3339()),
    })
}

fn new_id() -> String {
    let mut bytes = [0u8; 8];
    rand::fill(&mut bytes[..]);
    format!("ex_{}", hex::encode(bytes))
}

/// A store write as the admin record expects it.
fn stored<T>(result: Result<T, moat_store::StoreError>) -> Result<T, IdentityError> {
    result.map_err(IdentityError::Store)
}

impl Exceptions<'_> {
    fn now(&self) -> UnixTime {
        self.access.now()
    }

    async fn authorize(
        &self,
        actor: &AdminActor,
        operator: &Operator,
        action: Action,
        what: &str,
    ) -> Result<(), ExceptionError> {
        operator::authorize(
            self.access,
            self.admin.audit,
            self.admin.policy_version,
            actor,
            operator,
            action,
            what,
        )
        .await?;
        Ok(())
    }

    /// Asks for an exception. The person may ask for themselves; asking for someone
    /// else takes `Administer`.
    pub async fn request(
        &self,
        actor: &AdminActor,
        operator: &Operator,
        new: NewException,
    ) -> Result<PolicyException, ExceptionError> {
        // Characters as given (what the API document bounds), emptiness once trimmed.
        let reason = crate::text::trimmed(&new.reason);
        if reason.is_empty() || new.reason.chars().count() > MAX_NOTE {
            return Err(ExceptionError::Invalid(
                "say why the exception is needed (--reason, up to 2,000 characters)".into(),
            ));
        }
        if new.seconds <= 0 {
            return Err(ExceptionError::Invalid(
                "ask for a positive duration".into(),
            ));
        }
        if new.seconds > self.rules.max_seconds {
            return Err(ExceptionError::Denied(format!(
                "an exception lasts at most {} days (`[exceptions] max_duration`); ask for less",
                self.rules.max_seconds / 86_400
            )));
        }
        match &new.what {
            Asked::Repo(repo) if !self.access.settings().repos.iter().any(|r| r.name == *repo) => {
                return Err(ExceptionError::Unknown(format!(
                    "no repository named `{repo}`; `moat repo list` shows them"
                )));
            }
            Asked::Model(model) if !self.models.iter().any(|m| m == model) => {
                return Err(ExceptionError::Unknown(format!(
                    "no model `{model}` in [[models]]; `moat vendor list` shows each vendor's models"
                )));
            }
            Asked::Vendor(vendor) if !self.vendors.iter().any(|v| v == vendor) => {
                return Err(ExceptionError::Unknown(format!(
                    "no vendor `{vendor}` in [[vendors]]; `moat vendor list` shows them"
                )));
            }
            Asked::Tier(tier) if tier.parse::<moat_domain::Tier>().is_err() => {
                return Err(ExceptionError::Unknown(format!(
                    "no tier `{tier}`; the tiers are public, internal, confidential and restricted"
                )));
            }
            _ => {}
        }
        let person = self
            .admin
            .identity
            .find_user(&new.user)
            .await
            .map_err(|e| ExceptionError::Unknown(e.to_string()))?;
        let for_themselves = matches!(operator, Operator::Person(who)
            if who.eq_ignore_ascii_case(&person.email) || *who == person.id.0);
        if !for_themselves {
            self.authorize(actor, operator, Action::Administer, "exception.request")
                .await?;
        }
        let exception = PolicyException {
            id: new_id(),
            user_id: person.id.0.clone(),
            kind: new.what.kind().into(),
            target: new.what.target().to_string(),
            reason: reason.to_string(),
            seconds: new.seconds,
            status: PENDING.into(),
            requested_at: self.now(),
            requested_by: operator.name(),
            decided_at: None,
            decided_by: None,
            note: None,
            starts_at: None,
            ends_at: None,
        };
        let store = self.access.store();
        let request = json!({"user": person.email, new.what.kind(): new.what.target(), "reason": reason, "seconds": new.seconds});
        self.admin
            .record_change(
                actor,
                "exception.request",
                exception.id.clone(),
                request,
                Value::Null,
                async { stored(store.exception_insert(&exception).await) },
                |_| (exception.id.clone(), json_of(&exception)),
            )
            .await?;
        Ok(exception)
    }

    /// Every exception (or those in `status`), newest first, with whether each is in
    /// force and whether a pending one is overdue.
    pub async fn list(&self, status: Option<&str>) -> Result<Vec<Listed>, ExceptionError> {
        let now = self.now();
        let users = self.admin.identity.users().await.map_err(|e| match e {
            IdentityError::Store(e) => ExceptionError::Store(e),
            other => ExceptionError::Invalid(other.to_string()),
        })?;
        let exceptions = self.access.store().exceptions(status).await?;
        Ok(exceptions
            .into_iter()
            .map(|e| Listed {
                email: users
                    .iter()
                    .find(|u| u.id.0 == e.user_id)
                    .map_or_else(|| e.user_id.clone(), |u| u.email.clone()),
                in_force: e.in_force(now),
                overdue: e.status == PENDING
                    && now.0 - e.requested_at.0 > self.rules.review_sla_seconds,
                requested_at: e.requested_at.to_rfc3339(),
                ends_at: e.ends_at.map(|t| t.to_rfc3339()),
                id: e.id,
                kind: e.kind,
                target: e.target,
                reason: e.reason,
                seconds: e.seconds,
                status: e.status,
                requested_by: e.requested_by,
                decided_by: e.decided_by,
                note: e.note,
            })
            .collect())
    }

    async fn find(&self, id: &str) -> Result<PolicyException, ExceptionError> {
        self.access
            .store()
            .exception_get(id)
            .await?
            .ok_or_else(|| ExceptionError::NotFound(id.to_string()))
    }

    /// A named reviewer with the security role, who neither asked nor benefits.
    async fn reviewer(
        &self,
        actor: &AdminActor,
        reviewer: &Operator,
        exception: &PolicyException,
    ) -> Result<String, ExceptionError> {
        let Operator::Person(who) = reviewer else {
            return Err(ExceptionError::Denied(
                "an exception is reviewed by a named person with the security role; pass --operator EMAIL".into(),
            ));
        };
        self.authorize(actor, reviewer, Action::ReviewException, &exception.id)
            .await?;
        let person = self
            .admin
            .identity
            .find_user(who)
            .await
            .map_err(|e| ExceptionError::Denied(e.to_string()))?;
        if person.id.0 == exception.user_id
            || person.email.eq_ignore_ascii_case(&exception.requested_by)
        {
            return Err(ExceptionError::Denied(format!(
                "{} asked for or benefits from exception `{}`; another member of the security team reviews it",
                person.email, exception.id
            )));
        }
        Ok(person.email)
    }

    /// Carries out `review` of exception `id` as `operator`.
    pub async fn review(
        &self,
        actor: &AdminActor,
        operator: &Operator,
        id: &str,
        review: Review,
    ) -> Result<PolicyException, ExceptionError> {
        match review {
            Review::Approve(note) => self.approve(actor, operator, id, note).await,
            Review::Deny(note) => self.deny(actor, operator, id, note).await,
            Review::Revoke(note) => self.revoke(actor, operator, id, note).await,
        }
    }

    /// Approves a pending exception: in force from now for the time asked.
    pub async fn approve(
        &self,
        actor: &AdminActor,
        reviewer: &Operator,
        id: &str,
        note: Option<String>,
    ) -> Result<PolicyException, ExceptionError> {
        within_bounds(note.as_deref())?;
        let before = self.find(id).await?;
        let by = self.reviewer(actor, reviewer, &before).await?;
        let now = self.now();
        let after = PolicyException {
            status: APPROVED.into(),
            decided_at: Some(now),
            decided_by: Some(by),
            note,
            starts_at: Some(now),
            ends_at: Some(now.plus_seconds(before.seconds)),
            ..before.clone()
        };
        self.transition(actor, "exception.approve", &before, after, PENDING)
            .await
    }

    /// Denies a pending exception, saying why.
    pub async fn deny(
        &self,
        actor: &AdminActor,
        reviewer: &Operator,
        id: &str,
        note: String,
    ) -> Result<PolicyException, ExceptionError> {
        if crate::text::trimmed(&note).is_empty() {
            return Err(ExceptionError::Invalid(
                "say why it is denied (--note)".into(),
            ));
        }
        within_bounds(Some(&note))?;
        let before = self.find(id).await?;
        let by = self.reviewer(actor, reviewer, &before).await?;
        let after = PolicyException {
            status: DENIED.into(),
            decided_at: Some(self.now()),
            decided_by: Some(by),
            note: Some(note),
            ..before.clone()
        };
        self.transition(actor, "exception.deny", &before, after, PENDING)
            .await
    }

    /// Ends an approved exception now: by a reviewer, or by its own person.
    pub async fn revoke(
        &self,
        actor: &AdminActor,
        operator: &Operator,
        id: &str,
        note: Option<String>,
    ) -> Result<PolicyException, ExceptionError> {
        within_bounds(note.as_deref())?;
        let before = self.find(id).await?;
        let own = match operator {
            Operator::Person(who) => self
                .admin
                .identity
                .find_user(who)
                .await
                .is_ok_and(|p| p.id.0 == before.user_id),
            Operator::Local(_) => false,
        };
        if !own {
            self.authorize(actor, operator, Action::ReviewException, id)
                .await?;
        }
        let now = self.now();
        let after = PolicyException {
            status: REVOKED.into(),
            note: note.or(before.note.clone()),
            ends_at: Some(before.ends_at.map_or(now, |end| end.min(now))),
            ..before.clone()
        };
        self.transition(actor, "exception.revoke", &before, after, APPROVED)
            .await
    }

    async fn transition(
        &self,
        actor: &AdminActor,
        operation: &'static str,
        before: &PolicyException,
        after: PolicyException,
        expected: &'static str,
    ) -> Result<PolicyException, ExceptionError> {
        if before.status != expected {
            return Err(ExceptionError::Decided {
                id: before.id.clone(),
                status: before.status.clone(),
                expected,
            });
        }
        let store = self.access.store();
        let request = json!({"id": before.id, "status": after.status, "note": after.note});
        self.admin
            .record_change(
                actor,
                operation,
                before.id.clone(),
                request,
                json_of(before),
                async {
                    match stored(store.exception_update(&after, expected).await)? {
                        true => Ok(()),
                        false => Err(IdentityError::Conflict(format!(
                            "exception `{}` was decided by someone else meanwhile; nothing was changed",
                            before.id
                        ))),
                    }
                },
                |_| (after.id.clone(), json_of(&after)),
            )
            .await?;
        Ok(after)
    }
}
/// A review's note holds what the API document bounds it to.
fn within_bounds(note: Option<&str>) -> Result<(), ExceptionError> {
    match note {
        Some(note) if note.chars().count() > MAX_NOTE => Err(ExceptionError::Invalid(format!(
            "a note holds up to {MAX_NOTE} characters"
        ))),
        _ => Ok(()),
    }
}

/// The longest reason or note, in characters.
const MAX_NOTE: usize = 2_000;
