//! Administrative changes, each recorded in the audit log with its before and after.
//!
//! The CLI and the admin API both go through here, so no change to people or tokens
//! escapes the record. The change is made first and recorded before the caller is
//! answered; if the record fails the caller gets an error saying the change was applied
//! but not recorded, and the server keeps refusing until the log is writable again.

use crate::audit::{AuditError, AuditLog};
use crate::identity::{Identity, IdentityError, IssueToken, IssuedToken, NewUser};
use moat_audit::event::{Actor, Decision, EventBody, Outcome, Resources};
use moat_domain::{Token, User};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("the change was applied but could not be recorded: {0}")]
    NotRecorded(AuditError),
}

/// Who is making changes, as the audit log names them.
#[derive(Debug, Clone, Default)]
pub struct AdminActor {
    pub user: Option<String>,
    pub email: Option<String>,
    pub token_id: Option<String>,
    /// `cli`, `api` or `demo`.
    pub client: String,
    pub address: Option<String>,
}

/// Identity changes with their audit record.
pub struct Admin<'a> {
    pub identity: &'a Identity,
    pub audit: &'a AuditLog,
    pub policy_version: &'a str,
}

impl Admin<'_> {
    pub async fn add_user(&self, actor: &AdminActor, new: NewUser) -> Result<User, AdminError> {
        let user = self.identity.add_user(new).await?;
        self.record(actor, "user.add", &user.id.0, Value::Null, user_json(&user))
            .await?;
        Ok(user)
    }

    pub async fn suspend_user(&self, actor: &AdminActor, who: &str) -> Result<User, AdminError> {
        let before = self.identity.find_user(who).await?;
        let after = self.identity.suspend_user(who).await?;
        self.record(
            actor,
            "user.suspend",
            &after.id.0,
            user_json(&before),
            user_json(&after),
        )
        .await?;
        Ok(after)
    }

    pub async fn reactivate_user(&self, actor: &AdminActor, who: &str) -> Result<User, AdminError> {
        let before = self.identity.find_user(who).await?;
        let after = self.identity.reactivate_user(who).await?;
        self.record(
            actor,
            "user.reactivate",
            &after.id.0,
            user_json(&before),
            user_json(&after),
        )
        .await?;
        Ok(after)
    }

    pub async fn deprovision_user(
        &self,
        actor: &AdminActor,
        who: &str,
    ) -> Result<User, AdminError> {
        let before = self.identity.find_user(who).await?;
        let after = self.identity.deprovision_user(who).await?;
        self.record(
            actor,
            "user.deprovision",
            &after.id.0,
            user_json(&before),
            user_json(&after),
        )
        .await?;
        Ok(after)
    }

    pub async fn issue_token(
        &self,
        actor: &AdminActor,
        request: IssueToken,
    ) -> Result<IssuedToken, AdminError> {
        let issued = self.identity.issue_token(request).await?;
        self.record(
            actor,
            "token.issue",
            &issued.token.id.0,
            Value::Null,
            token_json(&issued.token),
        )
        .await?;
        Ok(issued)
    }

    pub async fn revoke_token(&self, actor: &AdminActor, id: &str) -> Result<Token, AdminError> {
        let before = self
            .identity
            .tokens(None)
            .await?
            .into_iter()
            .find(|t| t.id.0 == id);
        let after = self.identity.revoke_token(id).await?;
        let before = before.as_ref().map_or(Value::Null, token_json);
        self.record(
            actor,
            "token.revoke",
            &after.id.0,
            before,
            token_json(&after),
        )
        .await?;
        Ok(after)
    }

    pub async fn rotate_token(
        &self,
        actor: &AdminActor,
        id: &str,
        grace_seconds: Option<i64>,
    ) -> Result<IssuedToken, AdminError> {
        let issued = self.identity.rotate_token(id, grace_seconds).await?;
        let details_after = json!({"replaced": id, "replacement": token_json(&issued.token)});
        self.record(actor, "token.rotate", id, Value::Null, details_after)
            .await?;
        Ok(issued)
    }

    /// Records that a configuration came into force (at start-up), with its policy
    /// version and the SHA-256 of the file, so an auditor can tell which rules applied
    /// to the events that follow.
    pub async fn config_loaded(
        &self,
        actor: &AdminActor,
        file: &str,
        file_sha256: &str,
    ) -> Result<u64, AdminError> {
        let after =
            json!({"file": file, "sha256": file_sha256, "policy_version": self.policy_version});
        self.record(actor, "config.load", file, Value::Null, after)
            .await
    }

    async fn record(
        &self,
        actor: &AdminActor,
        operation: &str,
        object: &str,
        before: Value,
        after: Value,
    ) -> Result<u64, AdminError> {
        let event = EventBody {
            actor: Actor {
                user: actor.user.clone(),
                email: actor.email.clone(),
                token_id: actor.token_id.clone(),
                client: Some(actor.client.clone()),
                client_version: None,
                address: actor.address.clone(),
            },
            action: "admin.change".into(),
            resources: Resources {
                objects: vec![object.to_string()],
                ..Resources::default()
            },
            decision: Decision {
                outcome: Outcome::Allow,
                rule: Some(rule_for(actor)),
                reason: None,
            },
            policy_version: self.policy_version.to_string(),
            disclosed: Default::default(),
            redactions: Default::default(),
            egress: None,
            content_ref: None,
            details: json!({"operation": operation, "before": before, "after": after}),
        };
        self.audit
            .record(event)
            .await
            .map_err(AdminError::NotRecorded)
    }
}

fn rule_for(actor: &AdminActor) -> String {
    match actor.client.as_str() {
        "api" => "scope:admin+role:admin".to_string(),
        _ => "local:data-directory-access".to_string(),
    }
}

fn user_json(user: &User) -> Value {
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
