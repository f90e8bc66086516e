//! What each console page shows, bounded, and the changes it offers. Every page and
//! change is decided by Cedar for the signed-in person through
//! [`crate::operator::authorize`] (a refusal is on the record before it is answered);
//! the abilities the pages use to hide buttons are a convenience, never the check.

use super::{Console, ConsoleError, SignedIn};
use crate::admin::{Admin, AdminError};
use crate::identity::IdentityError;
use crate::operator::{self, Operator, OperatorError};
use moat_domain::{Tier, UserStatus};
use moat_policy::Action;
use std::collections::BTreeMap;

/// Rows on one page of people, repositories or events.
pub const PAGE_SIZE: usize = 50;

/// One repository as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRow {
    pub name: String,
    pub tier: Tier,
    /// What MCP shows of it (`source`, `signatures`, ...).
    pub disclosure: String,
    pub tags: Vec<String>,
    pub region: Option<String>,
    /// `static` (grants in moat.toml) or the host whose permissions are mirrored.
    pub permissions: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRow {
    pub alias: String,
    pub vendor: String,
    pub version: String,
    pub teams: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorRow {
    pub name: String,
    pub kind: String,
    pub region: String,
    pub on_prem: bool,
    pub attestations: Vec<String>,
}

/// The overview page.
#[derive(Debug, Clone)]
pub struct Overview {
    /// Repository names by tier, least sensitive first.
    pub repos_by_tier: BTreeMap<Tier, Vec<String>>,
    pub people_by_status: BTreeMap<UserStatus, usize>,
    pub models: Vec<ModelRow>,
    pub vendors: Vec<VendorRow>,
    /// The newest signed checkpoint: the log's size and the signed note.
    pub checkpoint: Option<(u64, String)>,
    /// Each witness of the log: seconds since it last held the newest checkpoint (0:
    /// it holds it) and its failed deliveries since start.
    pub witnesses: Vec<crate::audit::WitnessSnapshot>,
    /// The published configuration version in force, if the deployment publishes one.
    pub published_version: Option<i64>,
    pub follows_published: bool,
    /// Engaged kill switches, oldest first.
    pub kill_switches: Vec<moat_store::KillSwitch>,
}

/// One page of `items` (from 1, brought within the pages there are): the page's items,
/// the page, and how many pages there are.
pub(super) fn page_of<T>(items: Vec<T>, page: usize) -> (Vec<T>, usize, usize) {
    let pages = items.len().div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let items = items
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    (items, page, pages)
}

pub(super) fn unavailable(error: impl std::fmt::Display) -> ConsoleError {
    ConsoleError::Unavailable(error.to_string())
}

impl From<OperatorError> for ConsoleError {
    fn from(error: OperatorError) -> ConsoleError {
        match error {
            OperatorError::Denied(reason) => ConsoleError::Denied(reason),
            other => ConsoleError::Unavailable(other.to_string()),
        }
    }
}

impl From<AdminError> for ConsoleError {
    fn from(error: AdminError) -> ConsoleError {
        match error {
            AdminError::Identity(IdentityError::NotFound(what)) => ConsoleError::NotFound(what),
            AdminError::Identity(IdentityError::Invalid(why))
            | AdminError::Identity(IdentityError::Conflict(why)) => ConsoleError::Invalid(why),
            other => ConsoleError::Unavailable(other.to_string()),
        }
    }
}

impl Console {
    /// Cedar's decision on `action` for the signed-in person; a refusal is recorded.
    pub async fn authorize(
        &self,
        signed: &SignedIn,
        address: Option<String>,
        action: Action,
        what: &str,
    ) -> Result<(), ConsoleError> {
        operator::authorize(
            &self.access,
            &self.audit,
            &self.policy_version,
            &signed.actor(address),
            &Operator::Person(signed.user.id.0.clone()),
            action,
            what,
        )
        .await?;
        Ok(())
    }

    pub(super) fn admin(&self) -> Admin<'_> {
        Admin {
            identity: &self.identity,
            audit: &self.audit,
            policy_version: &self.policy_version,
        }
    }

    /// Records that the signed-in person read `what` (people, the record), before it is
    /// shown: reads are access too.
    pub async fn record_read(
        &self,
        signed: &SignedIn,
        address: Option<String>,
        what: &str,
    ) -> Result<(), ConsoleError> {
        self.admin()
            .record_read(&signed.actor(address), what)
            .await?;
        Ok(())
    }

    /// The overview. Reading it needs `Administer` or `ViewAudit`.
    pub async fn overview(&self) -> Result<Overview, ConsoleError> {
        let mut repos_by_tier: BTreeMap<Tier, Vec<String>> = BTreeMap::new();
        for repo in &self.deployment.repos {
            repos_by_tier
                .entry(repo.tier)
                .or_default()
                .push(repo.name.clone());
        }
        let people_by_status = self
            .store
            .user_counts()
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|(status, count)| (status, count as usize))
            .collect();
        let checkpoint = self
            .store
            .audit_latest_checkpoint()
            .await
            .map_err(unavailable)?;
        let published_version = self
            .store
            .config_latest_version()
            .await
            .map_err(unavailable)?;
        let kill_switches = self.store.kill_switches().await.map_err(unavailable)?;
        Ok(Overview {
            kill_switches,
            repos_by_tier,
            people_by_status,
            models: self.deployment.models.clone(),
            vendors: self.deployment.vendors.clone(),
            checkpoint,
            witnesses: self.audit.snapshot().witnesses,
            published_version,
            follows_published: self.deployment.follows_published,
        })
    }
}
