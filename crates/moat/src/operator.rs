//! Organisation-wide commands ask Cedar first: `Administer` for people, tokens,
//! repositories, access and indexing, `ViewAudit` for reading the log, `ExportEvidence`
//! for exports. The operator is the person `--operator` names, else the local operator
//! (see `moat_service::operator`); a refusal is recorded and exits 1.

use crate::cli::{AccessCommand, AuditCommand, Command, ConfigCommand, EvidenceCommand};
use crate::context::Context;
use anyhow::Result;
use moat_policy::Action;
use moat_service::operator::{Operator, OperatorError, authorize};

/// The organisation-wide action a command needs, if any.
pub fn action_for(command: &Command) -> Option<Action> {
    match command {
        Command::User(_)
        | Command::Token(_)
        | Command::LoginLink { .. }
        | Command::Repo(_)
        | Command::Index(_)
        | Command::Store(_)
        | Command::Config(ConfigCommand::Publish) => Some(Action::Administer),
        Command::Access(AccessCommand::Explain { .. })
        | Command::Access(AccessCommand::Matrix { .. })
        | Command::Access(AccessCommand::Sync { .. })
        | Command::Access(AccessCommand::Unmapped) => Some(Action::Administer),
        Command::Audit(AuditCommand::Export { .. })
        | Command::Evidence(EvidenceCommand::Export { .. }) => Some(Action::ExportEvidence),
        Command::Audit(AuditCommand::Prune) => Some(Action::Administer),
        Command::Audit(AuditCommand::CheckProof { .. }) => None,
        Command::Audit(AuditCommand::NewKey { .. }) => None,
        Command::Audit(_) => Some(Action::ViewAudit),
        _ => None,
    }
}

/// Refuses (with an error that exits 1) unless the operator may take `action`.
pub async fn check(context: &Context, action: Action, what: &str) -> Result<()> {
    let settings = context.access_settings()?;
    if context.operator.is_none() && settings.custom_policies.is_none() {
        // The local operator with no organisation policy: base policies allow it.
        return Ok(());
    }
    let store = context.open_store().await?;
    let identity = std::sync::Arc::new(context.identity(store.clone()));
    let access = context.access(identity, store.clone())?;
    let audit = context.audit_log(store).await?;
    let operator = match &context.operator {
        Some(person) => Operator::Person(person.clone()),
        None => Operator::Local(crate::context::os_user()),
    };
    let decided = authorize(
        &access,
        &audit,
        &context.policy_version(),
        &context.actor(),
        &operator,
        action,
        what,
    )
    .await;
    audit.close().await?;
    match decided {
        Ok(_) => Ok(()),
        Err(OperatorError::Denied(reason)) => Err(anyhow::anyhow!(
            "refused: {reason}; name an operator who may, with --operator EMAIL"
        )),
        Err(other) => Err(other.into()),
    }
}
