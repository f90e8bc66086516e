//! The repositories page (searched, filtered by tier, paged, with each one's index head
//! and the permission mirror's freshness) and reclassification, which publishes the
//! next configuration version for every node.

use super::views::{RepoRow, page_of, unavailable};
use super::{Console, ConsoleError, SignedIn};
use crate::access::HostFreshness;
use crate::identity::IdentityError;
use crate::published::{self, Draft, PublishError};
use moat_domain::Tier;
use moat_policy::Action;
use moat_store::IndexHead;
use serde_json::json;

#[derive(Debug, Clone, Default)]
pub struct ReposQuery {
    /// Part of a name or tag (case-insensitive).
    pub search: Option<String>,
    pub tier: Option<Tier>,
    /// From 1.
    pub page: usize,
}

/// One repository with where its index stands.
#[derive(Debug, Clone)]
pub struct RepoStatus {
    pub repo: RepoRow,
    /// The commit the index serves, when and by which node it was indexed.
    pub head: Option<IndexHead>,
}

#[derive(Debug, Clone)]
pub struct ReposPage {
    pub repos: Vec<RepoStatus>,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
    /// Each host's permission mirror: how old its oldest sync is, how many are stale.
    pub mirrors: Vec<HostFreshness>,
    pub follows_published: bool,
}

impl Console {
    /// One page of repositories, by name.
    pub async fn repos(&self, query: &ReposQuery) -> Result<ReposPage, ConsoleError> {
        let needle = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_lowercase);
        let mut matching: Vec<&RepoRow> = self
            .deployment
            .repos
            .iter()
            .filter(|r| query.tier.is_none_or(|t| r.tier == t))
            .filter(|r| {
                needle.as_deref().is_none_or(|n| {
                    r.name.to_lowercase().contains(n)
                        || r.tags.iter().any(|t| t.to_lowercase().contains(n))
                })
            })
            .collect();
        matching.sort_by(|a, b| a.name.cmp(&b.name));
        let total = matching.len();
        let (matching, page, pages) = page_of(matching, query.page);
        let heads = self.store.index_heads().await.map_err(unavailable)?;
        let repos = matching
            .into_iter()
            .map(|repo| RepoStatus {
                head: heads.iter().find(|h| h.repo == repo.name).cloned(),
                repo: repo.clone(),
            })
            .collect();
        let mirrors = self.access.mirror_freshness().await.map_err(unavailable)?;
        Ok(ReposPage {
            repos,
            total,
            page,
            pages,
            mirrors,
            follows_published: self.deployment.follows_published,
        })
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
