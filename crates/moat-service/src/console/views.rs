//! What each console page shows, bounded, and the changes it offers. Every page and
//! change is decided by Cedar for the signed-in person through
//! [`crate::operator::authorize`] (a refusal is on the record before it is answered);
//! the abilities the pages use to hide buttons are a convenience, never the check.

use super::{Console, ConsoleError, SignedIn};
use crate::admin::{Admin, AdminError};
use crate::audit::read::{self, InclusionProofDoc};
use crate::audit::search::{self, Filter};
use crate::identity::IdentityError;
use crate::operator::{self, Operator, OperatorError};
use crate::published::{self, Draft, PublishError};
use moat_audit::checkpoint::VerifierKey;
use moat_audit::event::Event;
use moat_domain::{Tier, User, UserStatus};
use moat_policy::Action;
use serde_json::json;
use std::collections::BTreeMap;

/// Rows on one page of people or events.
pub const PAGE_SIZE: usize = 50;

/// Events one audit page reads at most while filtering (the rest is the next page's).
pub const AUDIT_SCAN: usize = 20_000;

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
    /// The published configuration version in force, if the deployment publishes one.
    pub published_version: Option<i64>,
    pub follows_published: bool,
}

#[derive(Debug, Clone, Default)]
pub struct PeopleQuery {
    /// Part of an email or name (case-insensitive).
    pub search: Option<String>,
    pub status: Option<UserStatus>,
    /// From 1.
    pub page: usize,
}

#[derive(Debug, Clone)]
pub struct PeoplePage {
    pub people: Vec<User>,
    /// Matches in all.
    pub total: usize,
    pub page: usize,
    pub pages: usize,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub filter: Filter,
    /// First sequence number to read; `None`: the newest page (no filter) or the start.
    pub from: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct AuditPage {
    pub events: Vec<Event>,
    /// The log's size (events in all).
    pub size: u64,
    /// Where this page started.
    pub from: u64,
    /// Where the next page starts, if the log goes on.
    pub next_from: Option<u64>,
}

/// One event, its inclusion proof and whether the proof verifies against the keys.
#[derive(Debug, Clone)]
pub struct EventDetail {
    pub event: Event,
    pub proof: InclusionProofDoc,
    /// `Ok` when the event is provably in the signed log; else why not.
    pub verified: Result<(), String>,
}

fn unavailable(error: impl std::fmt::Display) -> ConsoleError {
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

    fn admin(&self) -> Admin<'_> {
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
        let mut people_by_status = BTreeMap::new();
        for user in self.store.users().await.map_err(unavailable)? {
            *people_by_status.entry(user.status).or_insert(0) += 1;
        }
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
        Ok(Overview {
            repos_by_tier,
            people_by_status,
            models: self.deployment.models.clone(),
            vendors: self.deployment.vendors.clone(),
            checkpoint,
            published_version,
            follows_published: self.deployment.follows_published,
        })
    }

    /// One page of people, by email.
    pub async fn people(&self, query: &PeopleQuery) -> Result<PeoplePage, ConsoleError> {
        let needle = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_lowercase);
        let mut people: Vec<User> = self
            .store
            .users()
            .await
            .map_err(unavailable)?
            .into_iter()
            .filter(|u| query.status.is_none_or(|s| u.status == s))
            .filter(|u| {
                needle.as_deref().is_none_or(|n| {
                    u.email.to_lowercase().contains(n) || u.name.to_lowercase().contains(n)
                })
            })
            .collect();
        people.sort_by(|a, b| a.email.cmp(&b.email));
        let total = people.len();
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        let page = query.page.clamp(1, pages);
        let people = people
            .into_iter()
            .skip((page - 1) * PAGE_SIZE)
            .take(PAGE_SIZE)
            .collect();
        Ok(PeoplePage {
            people,
            total,
            page,
            pages,
        })
    }

    /// One page of the record.
    pub async fn audit_page(&self, query: &AuditQuery) -> Result<AuditPage, ConsoleError> {
        let size = self
            .store
            .audit_latest_checkpoint()
            .await
            .map_err(unavailable)?
            .map_or(0, |(size, _)| size);
        let unfiltered = query.filter.actor.is_none()
            && query.filter.action.is_none()
            && query.filter.repo.is_none()
            && query.filter.since.is_none()
            && query.filter.until.is_none();
        // Unfiltered, the newest page; filtered, from the start (or where asked).
        let from = query.from.unwrap_or(if unfiltered {
            size.saturating_sub(PAGE_SIZE as u64)
        } else {
            0
        });
        let page = search::search(
            self.store.as_ref(),
            &query.filter,
            from,
            PAGE_SIZE,
            AUDIT_SCAN,
        )
        .await
        .map_err(unavailable)?;
        Ok(AuditPage {
            events: page.events,
            size,
            from,
            next_from: page.next_from,
        })
    }

    /// One event with its inclusion proof, checked against `keys`.
    pub async fn audit_event(
        &self,
        seq: u64,
        keys: &[VerifierKey],
    ) -> Result<EventDetail, ConsoleError> {
        let event = read::events(self.store.as_ref(), seq, 1)
            .await
            .map_err(unavailable)?
            .into_iter()
            .find(|e| e.seq == seq)
            .ok_or_else(|| ConsoleError::NotFound(format!("no event {seq} in the log")))?;
        let proof = read::prove(self.store.as_ref(), seq)
            .await
            .map_err(unavailable)?;
        let verified = read::verify_proof_doc(&proof, keys);
        Ok(EventDetail {
            event,
            proof,
            verified,
        })
    }

    /// Suspends a person (their tokens refused, sessions and grants ended), on the
    /// record as `user.suspend` from this console session.
    pub async fn suspend(
        &self,
        signed: &SignedIn,
        address: Option<String>,
        who: &str,
    ) -> Result<User, ConsoleError> {
        self.authorize(
            signed,
            address.clone(),
            Action::Administer,
            &format!("user/{who}"),
        )
        .await?;
        if who == signed.user.id.0 {
            return Err(ConsoleError::Invalid(
                "you cannot suspend yourself from the console; ask another administrator".into(),
            ));
        }
        Ok(self
            .admin()
            .suspend_user(&signed.actor(address), who)
            .await?)
    }

    /// Restores a suspended person, on the record as `user.reactivate`.
    pub async fn reactivate(
        &self,
        signed: &SignedIn,
        address: Option<String>,
        who: &str,
    ) -> Result<User, ConsoleError> {
        self.authorize(
            signed,
            address.clone(),
            Action::Administer,
            &format!("user/{who}"),
        )
        .await?;
        Ok(self
            .admin()
            .reactivate_user(&signed.actor(address), who)
            .await?)
    }

    /// Moves a repository to another tier for every node: the newest published
    /// configuration with the repository's `tier` changed is published as the next
    /// version (`config.publish`), inside a `repo.classify` change on the record. Nodes
    /// apply it within a second; the next MCP call is decided under the new tier.
    pub async fn reclassify(
        &self,
        signed: &SignedIn,
        address: Option<String>,
        repo: &str,
        tier: Tier,
    ) -> Result<i64, ConsoleError> {
        self.authorize(
            signed,
            address.clone(),
            Action::Administer,
            &format!("repo/{repo}"),
        )
        .await?;
        if !self.deployment.follows_published {
            return Err(ConsoleError::Invalid(
                "this node reads its configuration from its own file, so a change made here would not reach the other nodes; publish the configuration (`moat config publish`) and serve with `[server] config_source = \"store\"`, or use `moat repo classify`".into(),
            ));
        }
        let latest = self
            .store
            .config_published(None)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ConsoleError::Invalid(
                    "no configuration has been published yet; run `moat config publish` first"
                        .into(),
                )
            })?;
        let name = format!("published configuration version {}", latest.version);
        let (text, config) = moat_config::edit::set_repo_tier(&latest.text, &name, repo, tier)
            .map_err(|e| ConsoleError::Invalid(e.to_string()))?;
        let before = config_tier(&latest.text, &name, repo);
        if before == Some(tier) {
            return Err(ConsoleError::Invalid(format!("`{repo}` already is {tier}")));
        }
        let draft = Draft {
            sha256: {
                use sha2::Digest as _;
                hex::encode(sha2::Sha256::digest(text.as_bytes()))
            },
            policy_version: config.policy_version_with(latest.policies.as_deref()).0,
            text,
            policies: latest.policies.clone(),
        };
        let actor = signed.actor(address);
        let admin = self.admin();
        let published = admin
            .record_change(
                &actor,
                "repo.classify",
                format!("repo/{repo}"),
                json!({"repo": repo, "tier": tier.as_str()}),
                json!({"repo": repo, "tier": before.map(Tier::as_str)}),
                async {
                    published::publish(
                        &admin,
                        self.store.as_ref(),
                        self.clock.as_ref(),
                        &actor,
                        draft,
                    )
                    .await
                    .map_err(|e| match e {
                        PublishError::Unchanged(v) => IdentityError::Conflict(format!(
                            "version {v} already is this configuration"
                        )),
                        other => IdentityError::Invalid(other.to_string()),
                    })
                },
                |p| {
                    (
                        format!("repo/{repo}"),
                        json!({"repo": repo, "tier": tier.as_str(), "config_version": p.version}),
                    )
                },
            )
            .await?;
        Ok(published.version)
    }
}

/// The tier `repo` has in configuration `text`, if it parses and names it.
fn config_tier(text: &str, name: &str, repo: &str) -> Option<Tier> {
    moat_config::parse(text, name)
        .ok()?
        .repos
        .into_iter()
        .find(|r| r.name == repo)
        .map(|r| r.tier)
}
