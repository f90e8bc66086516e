//! Kill switches: freeze a repository (no MCP answer about it, none of its code to any
//! model), disable a model or a vendor (no request to it, nor through a fallback).
//!
//! A switch is a row of the store shared by every node; engaging or releasing it moves
//! the access version, which every node reads before each decision, so it holds on
//! every node from the next request on (no restart, no polling interval). The
//! authorizer carries the engaged switches: a frozen repository is a Cedar forbid
//! `kill-switch:repo:<name>` that every decision it refuses names; the gateway refuses a
//! disabled model or vendor and code of a frozen repository with the switch as the rule
//! of the request's audit event. Each engagement and release is an `admin.change` with
//! before and after, decided by Cedar (`Contain`: the security and admin roles).

use crate::access::Access;
use crate::admin::{Admin, AdminActor, AdminError};
use crate::identity::IdentityError;
use crate::operator::{self, Operator, OperatorError};
use moat_policy::{Action, SwitchKind};
use moat_store::KillSwitch;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum KillSwitchError {
    #[error("{0}")]
    Invalid(String),
    /// The repository, model or vendor named does not exist.
    #[error("{0}")]
    Unknown(String),
    #[error(
        "the {kind} kill switch on `{target}` is engaged already (since {since}, by {by}); nothing was changed"
    )]
    Engaged {
        kind: &'static str,
        target: String,
        since: String,
        by: String,
    },
    #[error(
        "no {kind} kill switch is engaged on `{target}`; `moat kill-switch list` shows those that are"
    )]
    NotEngaged { kind: &'static str, target: String },
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("the kill switches cannot be read: {0}")]
    Store(#[from] moat_store::StoreError),
}

pub struct KillSwitches<'a> {
    pub access: &'a Access,
    pub admin: &'a Admin<'a>,
    /// The aliases of `[[models]]`, which a model switch may name.
    pub models: Vec<String>,
    /// The names of `[[vendors]]`, which a vendor switch may name.
    pub vendors: Vec<String>,
}

/// A switch as the record and the API show it.
pub fn json_of(switch: &KillSwitch) -> Value {
    json!({
        "kind": switch.kind, "target": switch.target, "reason": switch.reason,
        "engaged_by": switch.engaged_by, "engaged_at": switch.engaged_at.to_rfc3339(),
    })
}

/// The longest reason kept.
const MAX_REASON: usize = 2_000;

impl KillSwitches<'_> {
    /// Every engaged switch, oldest first.
    pub async fn list(&self) -> Result<Vec<KillSwitch>, KillSwitchError> {
        Ok(self.access.store().kill_switches().await?)
    }

    /// Engages the switch of `kind` on `target`, saying why. Refused when the target
    /// does not exist or the switch is engaged already.
    pub async fn engage(
        &self,
        actor: &AdminActor,
        operator: &Operator,
        kind: SwitchKind,
        target: &str,
        reason: &str,
    ) -> Result<KillSwitch, KillSwitchError> {
        let reason = crate::text::trimmed(reason);
        if reason.is_empty() || reason.chars().count() > MAX_REASON {
            return Err(KillSwitchError::Invalid(format!(
                "say why the switch is engaged (--reason, up to {MAX_REASON} characters): every refusal it causes repeats it"
            )));
        }
        self.known(kind, target)?;
        self.authorize(actor, operator, kind, target).await?;
        let store = self.access.store();
        if let Some(engaged) = store
            .kill_switches()
            .await?
            .into_iter()
            .find(|s| s.kind == kind.as_str() && s.target == target)
        {
            return Err(engaged_already(kind, engaged));
        }
        let switch = KillSwitch {
            kind: kind.as_str().to_string(),
            target: target.to_string(),
            reason: reason.to_string(),
            engaged_by: operator.name(),
            engaged_at: self.access.now(),
        };
        let request = json!({"kind": kind.as_str(), "target": target, "reason": reason});
        self.admin
            .record_change(
                actor,
                "kill_switch.engage",
                rule(kind, target),
                request,
                Value::Null,
                async {
                    match store.kill_switch_engage(&switch).await {
                        Ok(true) => Ok(()),
                        Ok(false) => Err(IdentityError::Conflict(format!(
                            "the {} kill switch on `{target}` was engaged by someone else meanwhile; nothing was changed",
                            kind.as_str()
                        ))),
                        Err(e) => Err(IdentityError::Store(e)),
                    }
                },
                |_| (rule(kind, target), json_of(&switch)),
            )
            .await?;
        Ok(switch)
    }

    /// Releases the switch of `kind` on `target`. A switch on something no longer
    /// configured can still be released.
    pub async fn release(
        &self,
        actor: &AdminActor,
        operator: &Operator,
        kind: SwitchKind,
        target: &str,
        note: Option<String>,
    ) -> Result<KillSwitch, KillSwitchError> {
        self.authorize(actor, operator, kind, target).await?;
        let store = self.access.store();
        let Some(before) = store
            .kill_switches()
            .await?
            .into_iter()
            .find(|s| s.kind == kind.as_str() && s.target == target)
        else {
            return Err(KillSwitchError::NotEngaged {
                kind: kind.as_str(),
                target: target.to_string(),
            });
        };
        let request = json!({"kind": kind.as_str(), "target": target, "note": note});
        self.admin
            .record_change(
                actor,
                "kill_switch.release",
                rule(kind, target),
                request,
                json_of(&before),
                async {
                    match store.kill_switch_release(kind.as_str(), target).await {
                        Ok(Some(_)) => Ok(()),
                        Ok(None) => Err(IdentityError::Conflict(format!(
                            "the {} kill switch on `{target}` was released by someone else meanwhile; nothing was changed",
                            kind.as_str()
                        ))),
                        Err(e) => Err(IdentityError::Store(e)),
                    }
                },
                |_| (rule(kind, target), Value::Null),
            )
            .await?;
        Ok(before)
    }

    fn known(&self, kind: SwitchKind, target: &str) -> Result<(), KillSwitchError> {
        let (known, list) = match kind {
            SwitchKind::Repo => (
                self.access
                    .settings()
                    .repos
                    .iter()
                    .any(|r| r.name == target),
                "`moat repo list` shows the repositories",
            ),
            SwitchKind::Model => (
                self.models.iter().any(|m| m == target),
                "`moat vendor list` shows each vendor's models",
            ),
            SwitchKind::Vendor => (
                self.vendors.iter().any(|v| v == target),
                "`moat vendor list` shows the vendors",
            ),
        };
        if known {
            Ok(())
        } else {
            Err(KillSwitchError::Unknown(format!(
                "no {} named `{target}` is configured; {list}",
                kind.as_str()
            )))
        }
    }

    async fn authorize(
        &self,
        actor: &AdminActor,
        operator: &Operator,
        kind: SwitchKind,
        target: &str,
    ) -> Result<(), KillSwitchError> {
        operator::authorize(
            self.access,
            self.admin.audit,
            self.admin.policy_version,
            actor,
            operator,
            Action::Contain,
            &rule(kind, target),
        )
        .await?;
        Ok(())
    }
}

/// `kill-switch:<kind>:<target>`, as decisions and audit events name it.
fn rule(kind: SwitchKind, target: &str) -> String {
    format!(
        "{}{}:{target}",
        moat_policy::KILL_SWITCH_PREFIX,
        kind.as_str()
    )
}

fn engaged_already(kind: SwitchKind, engaged: KillSwitch) -> KillSwitchError {
    KillSwitchError::Engaged {
        kind: kind.as_str(),
        target: engaged.target,
        since: engaged.engaged_at.to_rfc3339(),
        by: engaged.engaged_by,
    }
}
