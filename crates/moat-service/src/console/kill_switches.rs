//! Kill switches in the console: the engaged switches for those who read the record
//! (or may contain), engaging and releasing for the security team, through the same use
//! case as `moat kill-switch ...` with the signed-in person as the operator (it decides
//! again: `Contain`).

use super::{Console, ConsoleError, SignedIn};
use crate::kill_switches::{KillSwitchError, KillSwitches};
use crate::operator::Operator;
use moat_policy::{Action, SwitchKind};
use moat_store::KillSwitch;

impl From<KillSwitchError> for ConsoleError {
    fn from(error: KillSwitchError) -> ConsoleError {
        match error {
            KillSwitchError::Invalid(why) => ConsoleError::Invalid(why),
            KillSwitchError::Unknown(why) => ConsoleError::NotFound(why),
            KillSwitchError::Engaged { .. } | KillSwitchError::NotEngaged { .. } => {
                ConsoleError::Invalid(error.to_string())
            }
            KillSwitchError::Operator(error) => error.into(),
            KillSwitchError::Admin(error) => error.into(),
            KillSwitchError::Store(error) => ConsoleError::Unavailable(error.to_string()),
        }
    }
}

/// What a switch can be put on here: the configured repositories, model aliases and
/// vendors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    pub repos: Vec<String>,
    pub models: Vec<String>,
    pub vendors: Vec<String>,
}

impl Console {
    /// What a switch may name here.
    fn targets(&self) -> Targets {
        Targets {
            repos: self
                .access
                .settings()
                .repos
                .iter()
                .map(|r| r.name.clone())
                .collect(),
            models: self
                .deployment
                .models
                .iter()
                .map(|m| m.alias.clone())
                .collect(),
            vendors: self
                .deployment
                .vendors
                .iter()
                .map(|v| v.name.clone())
                .collect(),
        }
    }

    fn switches<'a>(&'a self, admin: &'a crate::Admin<'a>) -> KillSwitches<'a> {
        let Targets {
            models, vendors, ..
        } = self.targets();
        KillSwitches {
            access: &self.access,
            admin,
            models,
            vendors,
        }
    }

    /// The engaged switches, oldest first, and what a switch may name.
    pub async fn kill_switches(
        &self,
        signed: &SignedIn,
        address: Option<String>,
    ) -> Result<(Vec<KillSwitch>, Targets), ConsoleError> {
        let action = if signed.abilities.contain && !signed.abilities.view_audit {
            Action::Contain
        } else {
            Action::ViewAudit
        };
        self.authorize(signed, address.clone(), action, "console/kill-switches")
            .await?;
        self.record_read(signed, address, "kill-switches").await?;
        let engaged = self
            .store
            .kill_switches()
            .await
            .map_err(|e| ConsoleError::Unavailable(e.to_string()))?;
        let targets = self.targets();
        Ok((engaged, targets))
    }

    /// Engages the `kind` switch on `target` as the signed-in person.
    pub async fn engage_switch(
        &self,
        signed: &SignedIn,
        address: Option<String>,
        kind: &str,
        target: &str,
        reason: &str,
    ) -> Result<KillSwitch, ConsoleError> {
        let kind = parse_kind(kind)?;
        let admin = self.admin();
        let me = Operator::Person(signed.user.email.clone());
        Ok(self
            .switches(&admin)
            .engage(&signed.actor(address), &me, kind, target.trim(), reason)
            .await?)
    }

    /// Releases the `kind` switch on `target` as the signed-in person.
    pub async fn release_switch(
        &self,
        signed: &SignedIn,
        address: Option<String>,
        kind: &str,
        target: &str,
        note: Option<String>,
    ) -> Result<KillSwitch, ConsoleError> {
        let kind = parse_kind(kind)?;
        let admin = self.admin();
        let me = Operator::Person(signed.user.email.clone());
        Ok(self
            .switches(&admin)
            .release(&signed.actor(address), &me, kind, target.trim(), note)
            .await?)
    }
}

fn parse_kind(kind: &str) -> Result<SwitchKind, ConsoleError> {
    SwitchKind::parse(kind).ok_or_else(|| {
        ConsoleError::Invalid("choose what to stop: a repository, a model or a vendor".into())
    })
}
