//! Organisation-wide actions — `Administer`, `ViewAudit`, `ExportEvidence` — decided
//! by Cedar for whoever asks, on the admin API and on the command line alike, so an
//! organisation policy on them holds everywhere. A refusal is on the record
//! (`access.denied`) before it is answered.
//!
//! On the API the operator is the token's person. On the command line it is the person
//! named with `--operator` (`MOAT_OPERATOR`), or else the local operator: whoever holds
//! the data directory, decided as a principal with the admin, security and auditor
//! roles whose email is `local:<os user>`. Base policies allow them everything (they
//! hold the database file anyway); an organisation policy can still refuse them, e.g.
//! `forbid(principal, action == Moat::Action::"ExportEvidence", resource) when
//! { principal.email like "local:*" };` makes evidence exports name their operator.

use crate::access::Access;
use crate::admin::AdminActor;
use crate::audit::{AuditError, AuditLog};
use moat_audit::event::{Actor, Decision as Recorded, EventBody, Outcome, Resources};
use moat_domain::{Role, UserStatus};
use moat_policy::{Action, Decision, OrgUser};

/// Who asks for an organisation-wide action.
#[derive(Debug, Clone)]
pub enum Operator {
    /// One of the organisation's people, by id or email.
    Person(String),
    /// The command line's operator without a name: the OS user holding the data
    /// directory.
    Local(String),
}

impl Operator {
    /// How the record names them: the person as given, or `local:<os user>`.
    pub fn name(&self) -> String {
        match self {
            Operator::Person(who) => who.clone(),
            Operator::Local(name) => format!("local:{name}"),
        }
    }

    /// The synthetic principal of the local operator.
    fn local_principal(name: &str) -> OrgUser {
        OrgUser {
            id: format!("local:{name}"),
            email: format!("local:{name}"),
            status: UserStatus::Active,
            roles: vec![Role::Admin, Role::Security, Role::Auditor],
            teams: vec![],
            training_current: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("{0}")]
    Denied(String),
    #[error("access policy cannot be evaluated ({0}); the action is refused")]
    Unavailable(String),
    #[error("the refusal could not be recorded: {0}")]
    NotRecorded(AuditError),
}

/// Decides `action` for `operator`; a refusal is recorded, then returned.
pub async fn authorize(
    access: &Access,
    audit: &AuditLog,
    policy_version: &str,
    actor: &AdminActor,
    operator: &Operator,
    action: Action,
    what: &str,
) -> Result<Decision, OperatorError> {
    // The local operator with no organisation policy: base policies allow them every
    // organisation-wide action, so no authorizer need be built (seconds at 10,000
    // people) to say so.
    if let Operator::Local(_) = operator
        && access.settings().custom_policies.is_none()
    {
        return Ok(Decision {
            allow: true,
            tier: None,
            disclosure: None,
            rules: vec!["local:data-directory-access".into()],
            reason: String::new(),
        });
    }
    let authorizer = access
        .authorizer()
        .await
        .map_err(|e| OperatorError::Unavailable(e.to_string()))?;
    let decision = match operator {
        Operator::Person(who) => authorizer.decide_org(who, action),
        Operator::Local(name) => authorizer.decide_org_as(&Operator::local_principal(name), action),
    };
    if decision.allow {
        return Ok(decision);
    }
    let event = EventBody {
        actor: Actor {
            user: actor.user.clone(),
            email: actor.email.clone(),
            token_id: actor.token_id.clone(),
            client: Some(actor.client.clone()),
            client_version: None,
            address: actor.address.clone(),
        },
        action: "access.denied".into(),
        resources: Resources {
            objects: vec![what.to_string()],
            ..Resources::default()
        },
        decision: Recorded {
            outcome: Outcome::Deny,
            rule: Some(if decision.rules.is_empty() {
                "default-deny".to_string()
            } else {
                decision.rules.join(",")
            }),
            reason: Some(decision.reason.clone()),
        },
        policy_version: policy_version.to_string(),
        disclosed: Default::default(),
        redactions: Default::default(),
        egress: None,
        content_ref: None,
        details: serde_json::json!({"action": action.as_str()}),
    };
    audit
        .record(event)
        .await
        .map_err(OperatorError::NotRecorded)?;
    Err(OperatorError::Denied(format!(
        "{}: {}",
        action.as_str(),
        decision.reason
    )))
}
