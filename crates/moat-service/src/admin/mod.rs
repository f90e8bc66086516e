//! Administrative changes, each on the record before it takes effect.
//!
//! The CLI and the admin API both go through here, so no change to people or tokens
//! escapes the record. Each change is two `admin.change` events: `requested` (what was
//! asked, and the state before) is recorded first — if that fails, nothing is changed and
//! the caller is refused — then the change is applied and `applied` (before and after) or
//! `failed` (the reason) is recorded. A change can therefore never exist without at least
//! its request in the log.

use crate::audit::{AuditError, AuditLog};
use crate::identity::{Identity, IdentityError, IssueToken, IssuedToken, NewUser};
use moat_audit::event::{Actor, Decision, EventBody, Outcome, Resources};
use moat_domain::{Token, User};
use serde_json::{Value, json};
use std::future::Future;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("the change was refused because it could not be recorded: {0}")]
    Refused(AuditError),
    #[error(
        "the change was applied (its request is on the record) but its outcome could not be recorded: {0}"
    )]
    NotRecorded(AuditError),
}

/// Who is making changes, as the audit log names them.
#[derive(Debug, Clone, Default)]
pub struct AdminActor {
    pub user: Option<String>,
    pub email: Option<String>,
    pub token_id: Option<String>,
    /// `cli`, `api`, `demo` or `serve`.
    pub client: String,
    pub address: Option<String>,
}

impl AdminActor {
    /// The actor as audit events name it.
    pub fn audit_actor(&self) -> Actor {
        Actor {
            user: self.user.clone(),
            email: self.email.clone(),
            token_id: self.token_id.clone(),
            client: Some(self.client.clone()),
            client_version: None,
            address: self.address.clone(),
        }
    }
}

/// Identity changes with their audit record.
pub struct Admin<'a> {
    pub identity: &'a Identity,
    pub audit: &'a AuditLog,
    pub policy_version: &'a str,
}

/// One change: what it is, what it targets, what was asked, and the state before.
struct Change<'c> {
    actor: &'c AdminActor,
    operation: &'static str,
    target: String,
    request: Value,
    before: Value,
}

impl Admin<'_> {
    pub async fn add_user(&self, actor: &AdminActor, new: NewUser) -> Result<User, AdminError> {
        let request = json!({"email": new.email, "name": new.name, "roles": new.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(), "teams": new.teams});
        let change = Change {
            actor,
            operation: "user.add",
            target: new.email.clone(),
            request,
            before: Value::Null,
        };
        self.change(change, self.identity.add_user(new), |user| {
            (user.id.0.clone(), user_json(user))
        })
        .await
    }

    /// Records that a person completed the security training `version` (the training
    /// gate of `[training]`), on the record like every other change.
    pub async fn attest_training(
        &self,
        actor: &AdminActor,
        who: &str,
        version: &str,
    ) -> Result<User, AdminError> {
        let before = self.identity.find_user(who).await?;
        let change = Change {
            actor,
            operation: "user.attest",
            target: before.id.0.clone(),
            request: json!({"training_version": version}),
            before: user_json(&before),
        };
        self.change(
            change,
            self.identity.attest_training(who, version),
            |user| (user.id.0.clone(), user_json(user)),
        )
        .await
    }

    pub async fn suspend_user(&self, actor: &AdminActor, who: &str) -> Result<User, AdminError> {
        self.status_change(actor, who, "user.suspend", self.identity.suspend_user(who))
            .await
    }

    pub async fn reactivate_user(&self, actor: &AdminActor, who: &str) -> Result<User, AdminError> {
        self.status_change(
            actor,
            who,
            "user.reactivate",
            self.identity.reactivate_user(who),
        )
        .await
    }

    pub async fn deprovision_user(
        &self,
        actor: &AdminActor,
        who: &str,
    ) -> Result<User, AdminError> {
        self.status_change(
            actor,
            who,
            "user.deprovision",
            self.identity.deprovision_user(who),
        )
        .await
    }

    /// A change of one user's status; `apply` (not yet polled) runs only once the request
    /// is on the record.
    async fn status_change(
        &self,
        actor: &AdminActor,
        who: &str,
        operation: &'static str,
        apply: impl Future<Output = Result<User, IdentityError>>,
    ) -> Result<User, AdminError> {
        let before = self.identity.find_user(who).await?;
        if operation != "user.reactivate" && actor.user.as_deref() == Some(before.id.0.as_str()) {
            // Locking oneself out leaves nobody to undo it when one is the last admin;
            // another admin (or the IdP, over SCIM) does it.
            return Err(IdentityError::Conflict(format!(
                "{} cannot {} their own account; another admin must",
                before.email,
                operation.trim_start_matches("user.")
            ))
            .into());
        }
        let change = Change {
            actor,
            operation,
            target: before.id.0.clone(),
            request: Value::Null,
            before: user_json(&before),
        };
        self.change(change, apply, |user| (user.id.0.clone(), user_json(user)))
            .await
    }

    pub async fn issue_token(
        &self,
        actor: &AdminActor,
        request: IssueToken,
    ) -> Result<IssuedToken, AdminError> {
        let asked = json!({"user": request.user, "name": request.name, "scopes": request.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(), "ttl_seconds": request.ttl_seconds});
        let change = Change {
            actor,
            operation: "token.issue",
            target: request.user.clone(),
            request: asked,
            before: Value::Null,
        };
        self.change(change, self.identity.issue_token(request), |issued| {
            (issued.token.id.0.clone(), token_json(&issued.token))
        })
        .await
    }

    pub async fn revoke_token(&self, actor: &AdminActor, id: &str) -> Result<Token, AdminError> {
        let before = self
            .identity
            .tokens(None)
            .await?
            .into_iter()
            .find(|t| t.id.0 == id);
        let before = before.as_ref().map_or(Value::Null, token_json);
        let change = Change {
            actor,
            operation: "token.revoke",
            target: id.to_string(),
            request: Value::Null,
            before,
        };
        self.change(change, self.identity.revoke_token(id), |token| {
            (token.id.0.clone(), token_json(token))
        })
        .await
    }

    pub async fn rotate_token(
        &self,
        actor: &AdminActor,
        id: &str,
        grace_seconds: Option<i64>,
    ) -> Result<IssuedToken, AdminError> {
        let change = Change {
            actor,
            operation: "token.rotate",
            target: id.to_string(),
            request: json!({"grace_seconds": grace_seconds}),
            before: Value::Null,
        };
        let replaced = id.to_string();
        self.change(
            change,
            self.identity.rotate_token(id, grace_seconds),
            move |issued| {
                (
                    issued.token.id.0.clone(),
                    json!({"replaced": replaced, "replacement": token_json(&issued.token)}),
                )
            },
        )
        .await
    }

    /// A change computed by another use case (SCIM provisioning): recorded as requested
    /// with `before`, then `apply` (not yet polled) runs, then its outcome is recorded,
    /// exactly as for the changes above.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_change<T>(
        &self,
        actor: &AdminActor,
        operation: &'static str,
        target: String,
        request: Value,
        before: Value,
        apply: impl Future<Output = Result<T, IdentityError>>,
        outcome: impl FnOnce(&T) -> (String, Value),
    ) -> Result<T, AdminError> {
        let change = Change {
            actor,
            operation,
            target,
            request,
            before,
        };
        self.change(change, apply, outcome).await
    }

    /// Records that someone read administrative data (who exists, which tokens), before
    /// it is shown: reads are access too, and an auditor asks about them.
    pub async fn record_read(&self, actor: &AdminActor, what: &str) -> Result<u64, AdminError> {
        let event = self.event(actor, "admin.read", what, Outcome::Allow, None, Value::Null);
        self.audit.record(event).await.map_err(AdminError::Refused)
    }

    /// Records that a configuration came into force (at start-up), with its policy
    /// version, the SHA-256 of the file and its vendor and model registers as of `now`,
    /// so an auditor can tell which rules applied to the events that follow, and the
    /// evidence pack can show the registers' history where no version was published.
    pub async fn config_loaded(
        &self,
        actor: &AdminActor,
        file: &str,
        file_sha256: &str,
        config: &moat_config::Config,
        now: moat_domain::UnixTime,
    ) -> Result<u64, AdminError> {
        let after = json!({
            "file": file,
            "sha256": file_sha256,
            "policy_version": self.policy_version,
            "vendors": crate::vendor_register::register(config, now),
            "models": config.models,
        });
        let details = json!({"operation": "config.load", "phase": "applied", "before": Value::Null, "after": after});
        self.record(actor, file, Outcome::Allow, None, details)
            .await
            .map_err(AdminError::Refused)
    }

    /// Requested on the record, then applied, then the outcome on the record.
    async fn change<T>(
        &self,
        change: Change<'_>,
        apply: impl Future<Output = Result<T, IdentityError>>,
        outcome: impl FnOnce(&T) -> (String, Value),
    ) -> Result<T, AdminError> {
        let requested = json!({"operation": change.operation, "phase": "requested", "request": change.request, "before": change.before});
        self.record(
            change.actor,
            &change.target,
            Outcome::Allow,
            None,
            requested,
        )
        .await
        .map_err(AdminError::Refused)?;
        match apply.await {
            Ok(value) => {
                let (object, after) = outcome(&value);
                let applied = json!({"operation": change.operation, "phase": "applied", "before": change.before, "after": after});
                self.record(change.actor, &object, Outcome::Allow, None, applied)
                    .await
                    .map_err(AdminError::NotRecorded)?;
                Ok(value)
            }
            Err(error) => {
                let failed = json!({"operation": change.operation, "phase": "failed", "before": change.before});
                if let Err(record_error) = self
                    .record(
                        change.actor,
                        &change.target,
                        Outcome::Deny,
                        Some(error.to_string()),
                        failed,
                    )
                    .await
                {
                    tracing::error!(%record_error, "could not record a failed admin change");
                }
                Err(error.into())
            }
        }
    }

    async fn record(
        &self,
        actor: &AdminActor,
        object: &str,
        outcome: Outcome,
        reason: Option<String>,
        details: Value,
    ) -> Result<u64, AuditError> {
        let event = self.event(actor, "admin.change", object, outcome, reason, details);
        self.audit.record(event).await
    }

    pub(crate) fn event(
        &self,
        actor: &AdminActor,
        action: &str,
        object: &str,
        outcome: Outcome,
        reason: Option<String>,
        details: Value,
    ) -> EventBody {
        EventBody {
            actor: actor.audit_actor(),
            action: action.into(),
            resources: Resources {
                objects: vec![object.to_string()],
                ..Resources::default()
            },
            decision: Decision {
                outcome,
                rule: Some(rule_for(actor)),
                reason,
            },
            policy_version: self.policy_version.to_string(),
            disclosed: Default::default(),
            redactions: Default::default(),
            egress: None,
            content_ref: None,
            details,
        }
    }
}

fn rule_for(actor: &AdminActor) -> String {
    match actor.client.as_str() {
        "api" => "scope:admin+role:admin".to_string(),
        scim if scim == "scim" || scim.starts_with("scim:") => "scim:bearer-token".to_string(),
        _ => "local:data-directory-access".to_string(),
    }
}

pub(crate) fn user_json(user: &User) -> Value {
    json!({
        "id": user.id.0,
        "email": user.email,
        "name": user.name,
        "status": user.status.as_str(),
        "roles": user.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "teams": user.teams,
    })
}

/// A token as recorded: never its secret or hash.
fn token_json(token: &Token) -> Value {
    json!({
        "id": token.id.0,
        "user_id": token.user_id.0,
        "name": token.name,
        "scopes": token.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "expires_at": token.expires_at.map(|t| t.0),
        "revoked_at": token.revoked_at.map(|t| t.0),
        "replaced_by": token.replaced_by.as_ref().map(|t| t.0.clone()),
    })
}

#[cfg(test)]
mod tests;
