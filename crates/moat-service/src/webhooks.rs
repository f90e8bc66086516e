//! Repository-host webhooks: a revocation on GitHub or GitLab takes effect in Moat as
//! soon as the event arrives, without waiting for the next full sync.
//!
//! GitHub deliveries are authenticated by `X-Hub-Signature-256` (HMAC-SHA256 of the
//! body with the shared secret, compared in constant time); GitLab system hooks by the
//! `X-Gitlab-Token` shared token. Every delivery id (`X-GitHub-Delivery`,
//! `X-Gitlab-Event-UUID`) is accepted once: a replay is acknowledged and ignored.
//! Membership events patch the mirror directly; events that can change many
//! repositories (teams, groups, organisation membership) start a full resync.

use crate::clock::Clock;
use crate::host_sync::{HostKind, HostRepo, HostSync};
use hmac::{Hmac, Mac};
use moat_store::Store;
use sha2::Sha256;
use std::sync::Arc;

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
    #[error("the mirror cannot be updated: {0}")]
    Store(#[from] moat_store::StoreError),
}

/// What a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Readers changed: `(repo, login, level)` with `None` for a removal.
    Applied(Vec<(String, String, Option<String>)>),
    /// A full resync of these repositories was started.
    Resync(Vec<String>),
    /// Seen before: ignored.
    Duplicate,
    /// Nothing Moat mirrors.
    Ignored,
}

pub struct Webhooks {
    pub store: Arc<dyn Store>,
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
        if !self
            .store
            .webhook_first_delivery(&format!("github:{delivery}"), self.clock.now())
            .await?
        {
            return Ok(WebhookOutcome::Duplicate);
        }
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
                let level = match action.as_str() {
                    "removed" => None,
                    _ => Some(
                        text(&["changes", "permission", "to"])
                            .unwrap_or_else(|| "member".to_string()),
                    ),
                };
                self.store
                    .mirror_set_one(&repo.repo, &login, level.as_deref())
                    .await?;
                Ok(WebhookOutcome::Applied(vec![(
                    repo.repo.clone(),
                    login,
                    level,
                )]))
            }
            "organization" if action == "member_removed" => {
                let login = text(&["membership", "user", "login"]).unwrap_or_default();
                let repos: Vec<String> = self
                    .repos_of(HostKind::Github)
                    .map(|r| r.repo.clone())
                    .collect();
                // One transaction for every repository: at thousands of repositories,
                // one commit each would delay the offboarding by seconds.
                let removed = self.store.mirror_remove_everywhere(&login, &repos).await?;
                let applied = removed
                    .into_iter()
                    .map(|repo| (repo, login.clone(), None))
                    .collect();
                self.resync(HostKind::Github);
                Ok(WebhookOutcome::Applied(applied))
            }
            "team" | "membership" | "organization" | "repository" | "team_add" => {
                Ok(WebhookOutcome::Resync(self.resync(HostKind::Github)))
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
        if let Some(uuid) = uuid
            && !self
                .store
                .webhook_first_delivery(&format!("gitlab:{uuid}"), self.clock.now())
                .await?
        {
            return Ok(WebhookOutcome::Duplicate);
        }
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
                // "Guest" cannot read code; reporters and above can.
                let access = text("access_level").unwrap_or_default().to_lowercase();
                let level = if event == "user_remove_from_team" || access == "guest" {
                    None
                } else {
                    Some(access)
                };
                self.store
                    .mirror_set_one(&repo.repo, &login, level.as_deref())
                    .await?;
                Ok(WebhookOutcome::Applied(vec![(
                    repo.repo.clone(),
                    login,
                    level,
                )]))
            }
            "user_destroy" | "user_block" => {
                let login = text("username").unwrap_or_default();
                let repos: Vec<String> = self
                    .repos_of(HostKind::Gitlab)
                    .map(|r| r.repo.clone())
                    .collect();
                let removed = self.store.mirror_remove_everywhere(&login, &repos).await?;
                Ok(WebhookOutcome::Applied(
                    removed
                        .into_iter()
                        .map(|repo| (repo, login.clone(), None))
                        .collect(),
                ))
            }
            "user_add_to_group"
            | "user_remove_from_group"
            | "user_update_for_group"
            | "project_transfer"
            | "group_destroy" => Ok(WebhookOutcome::Resync(self.resync(HostKind::Gitlab))),
            _ => Ok(WebhookOutcome::Ignored),
        }
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

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
