//! Repository-host webhooks: a revocation on GitHub or GitLab takes effect in Moat as
//! soon as the event arrives, without waiting for the next full sync.
//!
//! GitHub deliveries are authenticated by `X-Hub-Signature-256` (HMAC-SHA256 of the
//! body with the shared secret, compared in constant time); GitLab system hooks by the
//! `X-Gitlab-Token` shared token. Neither covers the delivery id, and a GitLab delivery
//! may have none, so a captured body can be sent again under a new id: what a webhook
//! says is therefore trusted only in the direction that cannot grant. **Removals** apply
//! at once. **Additions** (and level changes) are hints: the host's API is asked about
//! that one person and repository, and its answer is what the mirror gets; when it
//! cannot be asked, nothing is granted and the delivery is refused so the host can
//! redeliver. GitLab levels are read as the full sync reads them: reporter (20) and
//! above read code; a missing or unknown level grants nothing (it removes the row).
//!
//! A delivery id (`X-GitHub-Delivery`, `X-Gitlab-Event-UUID`) is recorded in the same
//! transaction as the change it reported (see [`MirrorWriter`]), so a delivery whose
//! change failed is not taken for a replay when the host sends it again, and a replay
//! of one that applied is acknowledged and ignored. Every change is an `access.mirror`
//! audit event. Events that can change many repositories (teams, groups, organisation
//! membership) start a full resync. A push asks for the repository's indexing job.

use crate::clock::Clock;
use crate::host_sync::{HostKind, HostRepo, HostSync, SyncError};
use crate::mirror::{ChangeSource, MirrorError, MirrorWriter};
use hmac::{Hmac, Mac};
use moat_store::{MirrorApplied, MirrorUpdate, ReaderChange};
use sha2::Sha256;
use std::sync::Arc;

/// Times a webhook's change is computed again when another writer changed the rows.
const MAX_WRITE_ATTEMPTS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook signature does not match; check the shared secret on both sides")]
    Forged,
    #[error("webhooks from {0} are not configured on this server")]
    NotConfigured(&'static str),
    #[error("the delivery is missing `{0}`")]
    Missing(&'static str),
    #[error("the payload is not the documented JSON: {0}")]
    Payload(String),
    #[error(
        "the addition could not be confirmed with the host's API ({0}); nothing was granted, redeliver later"
    )]
    Unconfirmed(SyncError),
    #[error("{0}")]
    Mirror(#[from] MirrorError),
    #[error("the mirror cannot be read: {0}")]
    Store(#[from] moat_store::StoreError),
    #[error("the mirror kept changing under this delivery; redeliver later")]
    Contended,
}

/// What a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Readers changed: `(repo, login, level)` with `None` for a removal. Empty when
    /// the host's answer matched the mirror already (a replayed addition, say).
    Applied(Vec<(String, String, Option<String>)>),
    /// A full resync of these repositories was started.
    Resync(Vec<String>),
    /// A push: an indexing job was asked for these repositories.
    Reindex(Vec<String>),
    /// Seen before: ignored.
    Duplicate,
    /// Nothing Moat mirrors.
    Ignored,
}

/// What a membership event asks for one person and repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    /// Taken away: applied as it comes.
    Removal,
    /// Given or changed: confirmed with the host's API first.
    Confirm,
}

pub struct Webhooks {
    pub writer: Arc<MirrorWriter>,
    pub clock: Arc<dyn Clock>,
    pub sync: Arc<HostSync>,
    pub repos: Vec<HostRepo>,
    pub github_secret: Option<Vec<u8>>,
    pub gitlab_token: Option<String>,
}

impl Webhooks {
    pub async fn github(
        &self,
        event: &str,
        delivery: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<WebhookOutcome, WebhookError> {
        let secret = self
            .github_secret
            .as_ref()
            .ok_or(WebhookError::NotConfigured("GitHub"))?;
        let signature = signature.ok_or(WebhookError::Forged)?;
        let expected = signature
            .strip_prefix("sha256=")
            .and_then(|hex_digest| hex::decode(hex_digest).ok())
            .ok_or(WebhookError::Forged)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| WebhookError::Forged)?;
        mac.update(body);
        mac.verify_slice(&expected)
            .map_err(|_| WebhookError::Forged)?;
        let delivery = delivery.ok_or(WebhookError::Missing("X-GitHub-Delivery"))?;
        let key = format!("github:{delivery}");
        if self.writer.store().webhook_seen(&key).await? {
            return Ok(WebhookOutcome::Duplicate);
        }
        let key = Some(key.as_str());
        let payload: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| WebhookError::Payload(e.to_string()))?;
        let text = |path: &[&str]| {
            let mut value = &payload;
            for key in path {
                value = value.get(key)?;
            }
            value.as_str().map(str::to_string)
        };
        let action = text(&["action"]).unwrap_or_default();
        match event {
            "member" => {
                let login = text(&["member", "login"])
                    .ok_or_else(|| WebhookError::Payload("member.login is missing".into()))?;
                let path = text(&["repository", "full_name"]).ok_or_else(|| {
                    WebhookError::Payload("repository.full_name is missing".into())
                })?;
                let Some(repo) = self.repo(HostKind::Github, &path) else {
                    return Ok(WebhookOutcome::Ignored);
                };
                let wanted = match action.as_str() {
                    "removed" => Wanted::Removal,
                    _ => Wanted::Confirm,
                };
                self.apply_one(repo, &login, wanted, key).await
            }
            "organization" if action == "member_removed" => {
                let login = text(&["membership", "user", "login"]).ok_or_else(|| {
                    WebhookError::Payload("membership.user.login is missing".into())
                })?;
                let outcome = self
                    .remove_everywhere(HostKind::Github, &login, key)
                    .await?;
                if outcome != WebhookOutcome::Duplicate {
                    self.resync(HostKind::Github);
                }
                Ok(outcome)
            }
            "team" | "membership" | "organization" | "repository" | "team_add" => {
                self.resync_once(HostKind::Github, key).await
            }
            "push" => {
                self.pushed(HostKind::Github, text(&["repository", "full_name"]))
                    .await
            }
            _ => Ok(WebhookOutcome::Ignored),
        }
    }

    pub async fn gitlab(
        &self,
        uuid: Option<&str>,
        token: Option<&str>,
        body: &[u8],
    ) -> Result<WebhookOutcome, WebhookError> {
        let expected = self
            .gitlab_token
            .as_ref()
            .ok_or(WebhookError::NotConfigured("GitLab"))?;
        let given = token.ok_or(WebhookError::Forged)?;
        if !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
            return Err(WebhookError::Forged);
        }
        // Without a UUID there is nothing to deduplicate by; what follows is safe to
        // apply again (a removal of a removed row, an addition the API confirms).
        let key = uuid.map(|uuid| format!("gitlab:{uuid}"));
        if let Some(key) = &key
            && self.writer.store().webhook_seen(key).await?
        {
            return Ok(WebhookOutcome::Duplicate);
        }
        let key = key.as_deref();
        let payload: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| WebhookError::Payload(e.to_string()))?;
        let text = |key: &str| {
            payload
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let event = text("event_name").unwrap_or_default();
        match event.as_str() {
            "user_add_to_team" | "user_update_for_team" | "user_remove_from_team" => {
                let login = text("user_username")
                    .ok_or_else(|| WebhookError::Payload("user_username is missing".into()))?;
                let path = text("project_path_with_namespace").ok_or_else(|| {
                    WebhookError::Payload("project_path_with_namespace is missing".into())
                })?;
                let Some(repo) = self.repo(HostKind::Gitlab, &path) else {
                    return Ok(WebhookOutcome::Ignored);
                };
                // Reporters and above read code; a lower, missing or unknown level
                // grants nothing, so it is a removal.
                let reads = gitlab_level(payload.get("access_level")).is_some_and(|l| l >= 20);
                let wanted = if event == "user_remove_from_team" || !reads {
                    Wanted::Removal
                } else {
                    Wanted::Confirm
                };
                self.apply_one(repo, &login, wanted, key).await
            }
            "user_destroy" | "user_block" => {
                let login = text("username")
                    .ok_or_else(|| WebhookError::Payload("username is missing".into()))?;
                self.remove_everywhere(HostKind::Gitlab, &login, key).await
            }
            "user_add_to_group"
            | "user_remove_from_group"
            | "user_update_for_group"
            | "project_transfer"
            | "group_destroy" => self.resync_once(HostKind::Gitlab, key).await,
            "push" | "tag_push" => {
                let path = payload
                    .pointer("/project/path_with_namespace")
                    .and_then(|v| v.as_str())
                    .map(str::to_string);
                self.pushed(HostKind::Gitlab, path).await
            }
            _ => Ok(WebhookOutcome::Ignored),
        }
    }

    /// One person's access to one repository: removed at once, or set to what the
    /// host's API says. The delivery is recorded with the change.
    async fn apply_one(
        &self,
        repo: &HostRepo,
        login: &str,
        wanted: Wanted,
        delivery: Option<&str>,
    ) -> Result<WebhookOutcome, WebhookError> {
        let login = login.to_lowercase();
        let after = match wanted {
            Wanted::Removal => None,
            Wanted::Confirm => self
                .sync
                .reads(repo, &login)
                .await
                .map_err(WebhookError::Unconfirmed)?,
        };
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let before = self
                .writer
                .store()
                .mirror_readers(&repo.repo)
                .await?
                .into_iter()
                .find(|(l, _)| *l == login)
                .map(|(_, level)| level);
            let changed = before != after;
            let update = MirrorUpdate {
                changes: vec![ReaderChange {
                    repo: repo.repo.clone(),
                    login: login.clone(),
                    before,
                    after: after.clone(),
                }],
                synced: None,
                delivery: self.delivery(delivery),
            };
            match self
                .writer
                .write(repo.kind.as_str(), ChangeSource::Webhook, update)
                .await?
            {
                MirrorApplied::Applied if changed => {
                    return Ok(WebhookOutcome::Applied(vec![(
                        repo.repo.clone(),
                        login,
                        after,
                    )]));
                }
                MirrorApplied::Applied => return Ok(WebhookOutcome::Applied(Vec::new())),
                MirrorApplied::Duplicate => return Ok(WebhookOutcome::Duplicate),
                MirrorApplied::Conflict { .. } => continue,
            }
        }
        Err(WebhookError::Contended)
    }

    /// Someone left the organisation or was blocked: out of every repository of that
    /// host in one transaction (at thousands of repositories, one commit each would
    /// delay the offboarding by seconds).
    async fn remove_everywhere(
        &self,
        kind: HostKind,
        login: &str,
        delivery: Option<&str>,
    ) -> Result<WebhookOutcome, WebhookError> {
        let login = login.to_lowercase();
        let repos: std::collections::HashSet<&str> = self
            .repos_of(kind.clone())
            .map(|r| r.repo.as_str())
            .collect();
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let changes: Vec<ReaderChange> = self
                .writer
                .store()
                .mirror_rows_of(&login)
                .await?
                .into_iter()
                .filter(|(repo, _)| repos.contains(repo.as_str()))
                .map(|(repo, level)| ReaderChange {
                    repo,
                    login: login.clone(),
                    before: Some(level),
                    after: None,
                })
                .collect();
            let removed = changes
                .iter()
                .map(|c| (c.repo.clone(), login.clone(), None))
                .collect();
            let update = MirrorUpdate {
                changes,
                synced: None,
                delivery: self.delivery(delivery),
            };
            match self
                .writer
                .write(kind.as_str(), ChangeSource::Webhook, update)
                .await?
            {
                MirrorApplied::Applied => return Ok(WebhookOutcome::Applied(removed)),
                MirrorApplied::Duplicate => return Ok(WebhookOutcome::Duplicate),
                MirrorApplied::Conflict { .. } => continue,
            }
        }
        Err(WebhookError::Contended)
    }

    /// Records the delivery (once) and starts a full resync of the host.
    async fn resync_once(
        &self,
        kind: HostKind,
        delivery: Option<&str>,
    ) -> Result<WebhookOutcome, WebhookError> {
        if delivery.is_some() {
            let update = MirrorUpdate {
                delivery: self.delivery(delivery),
                ..MirrorUpdate::default()
            };
            if self
                .writer
                .write(kind.as_str(), ChangeSource::Webhook, update)
                .await?
                == MirrorApplied::Duplicate
            {
                return Ok(WebhookOutcome::Duplicate);
            }
        }
        Ok(WebhookOutcome::Resync(self.resync(kind)))
    }

    /// A push to a connected repository: its indexing job is asked for in the shared
    /// queue, so the node that takes it finds the pushed commit and every node follows
    /// (see `index_replica`). A replayed push asks again, which a pending job absorbs.
    async fn pushed(
        &self,
        kind: HostKind,
        path: Option<String>,
    ) -> Result<WebhookOutcome, WebhookError> {
        let path = path.ok_or_else(|| WebhookError::Payload("the repository is missing".into()))?;
        let Some(repo) = self.repo(kind, &path) else {
            return Ok(WebhookOutcome::Ignored);
        };
        self.writer
            .store()
            .index_job_request(&repo.repo, "push", self.clock.now())
            .await?;
        Ok(WebhookOutcome::Reindex(vec![repo.repo.clone()]))
    }

    fn delivery(&self, delivery: Option<&str>) -> Option<(String, moat_domain::UnixTime)> {
        delivery.map(|id| (id.to_string(), self.clock.now()))
    }

    fn repo(&self, kind: HostKind, path: &str) -> Option<&HostRepo> {
        self.repos
            .iter()
            .find(|r| r.kind == kind && r.path.eq_ignore_ascii_case(path))
    }

    fn repos_of(&self, kind: HostKind) -> impl Iterator<Item = &HostRepo> {
        self.repos.iter().filter(move |r| r.kind == kind)
    }

    /// Starts a full sync of one host's repositories in the background.
    fn resync(&self, kind: HostKind) -> Vec<String> {
        let repos: Vec<HostRepo> = self.repos_of(kind).cloned().collect();
        let names = repos.iter().map(|r| r.repo.clone()).collect();
        let sync = self.sync.clone();
        tokio::spawn(async move {
            for (repo, result) in sync.sync_all(&repos).await {
                if let Err(error) = result {
                    tracing::warn!(repo, %error, "permission resync after a webhook failed");
                }
            }
        });
        names
    }
}

/// A GitLab access level as a number: system hooks send a role name ("Reporter"),
/// group and project webhooks a number. `None` for anything else.
fn gitlab_level(value: Option<&serde_json::Value>) -> Option<i64> {
    match value? {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(name) => {
            let name = name.trim().to_lowercase();
            if let Ok(n) = name.parse::<i64>() {
                return Some(n);
            }
            match name.as_str() {
                "no access" => Some(0),
                "minimal access" => Some(5),
                "guest" => Some(10),
                "planner" => Some(15),
                "reporter" => Some(20),
                "developer" => Some(30),
                "maintainer" => Some(40),
                "owner" => Some(50),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Equal bytes, compared in constant time for equal lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::gitlab_level;
    use serde_json::json;

    #[test]
    fn gitlab_levels_read_as_the_full_sync_reads_them() {
        let level = |v: serde_json::Value| gitlab_level(Some(&v));
        assert_eq!(level(json!("Reporter")), Some(20));
        assert_eq!(level(json!(" maintainer ")), Some(40));
        assert_eq!(level(json!(30)), Some(30));
        assert_eq!(level(json!("30")), Some(30));
        assert_eq!(level(json!("Planner")), Some(15));
        assert_eq!(level(json!("Minimal Access")), Some(5));
        assert_eq!(
            level(json!("Superuser")),
            None,
            "unknown names grant nothing"
        );
        assert_eq!(level(json!(null)), None);
        assert_eq!(level(json!(["Owner"])), None);
        assert_eq!(gitlab_level(None), None);
    }
}
