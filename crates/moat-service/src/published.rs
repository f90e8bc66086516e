//! Configuration published for every node: `moat config publish` stores a validated
//! `moat.toml` (and the Cedar policies it names) as the next version in the store, and
//! every node serving with `[server] config_source = "store"` polls the newest version
//! number ([`Watch`], every [`POLL`]) and swaps it in, so a change reaches every node
//! within a second without a restart or a file copied to each machine.
//!
//! Publishing is an administrative change on the record (`admin.change`,
//! `config.publish`, requested then applied, with the version, digest and policy
//! version before and after). A node records each version it applies (`config.load`),
//! so an auditor can tell which rules each node enforced for the events that follow.
//! A node that cannot apply the newest version keeps answering with the one it has but
//! reports not ready (`/readyz`), naming the version and the reason: it stops taking
//! traffic rather than serving rules the organisation has replaced.

use crate::admin::{Admin, AdminActor, AdminError};
use crate::clock::Clock;
use moat_store::{PublishedConfig, Store, StoreError};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a node asks the store for a newer version.
pub const POLL: Duration = Duration::from_millis(250);

/// How long a node waits before trying a version it could not apply once more (a file
/// it names may have been put in place since).
pub const RETRY: Duration = Duration::from_secs(5);

/// A configuration to publish, already validated by whoever read it.
#[derive(Debug, Clone)]
pub struct Draft {
    pub text: String,
    pub policies: Option<String>,
    /// SHA-256 of `text`, hex.
    pub sha256: String,
    pub policy_version: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(
        "version {0} already is this configuration (same text and policies); nothing was published"
    )]
    Unchanged(i64),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("the published configuration cannot be read: {0}")]
    Store(#[from] StoreError),
}

/// Publishes `draft` as the version after the newest, on the record.
pub async fn publish(
    admin: &Admin<'_>,
    store: &dyn Store,
    clock: &dyn Clock,
    actor: &AdminActor,
    draft: Draft,
) -> Result<PublishedConfig, PublishError> {
    let previous = store.config_published(None).await?;
    if let Some(previous) = &previous
        && previous.text == draft.text
        && previous.policies == draft.policies
    {
        return Err(PublishError::Unchanged(previous.version));
    }
    let config = PublishedConfig {
        version: previous.as_ref().map_or(1, |p| p.version + 1),
        text: draft.text,
        policies: draft.policies,
        sha256: draft.sha256,
        policy_version: draft.policy_version,
        published_at: clock.now(),
        published_by: actor
            .email
            .clone()
            .or_else(|| actor.user.clone())
            .unwrap_or_else(|| actor.client.clone()),
    };
    let summary = |c: &PublishedConfig| json!({"version": c.version, "sha256": c.sha256, "policy_version": c.policy_version});
    let before = previous.as_ref().map_or(serde_json::Value::Null, summary);
    let published = admin
        .record_change(
            actor,
            "config.publish",
            format!("config/{}", config.version),
            summary(&config),
            before,
            async {
                store.config_publish(&config).await?;
                Ok(config.clone())
            },
            |c| (format!("config/{}", c.version), summary(c)),
        )
        .await?;
    Ok(published)
}

/// What a node serving published configuration has applied, for `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// The version in force on this node; `None`: its own file (nothing published yet).
    pub version: Option<i64>,
    /// The newest version and why it could not be applied, while it cannot.
    pub failed: Option<(i64, String)>,
}

/// One node's view of the published configuration: polls for newer versions and keeps
/// what was applied.
pub struct Watch {
    store: Arc<dyn Store>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    applied: Applied,
    /// When a version that failed is tried again.
    retry_at: Option<std::time::Instant>,
}

impl Watch {
    pub fn new(store: Arc<dyn Store>, applied: Option<i64>) -> Watch {
        Watch {
            store,
            state: Mutex::new(State {
                applied: Applied {
                    version: applied,
                    failed: None,
                },
                retry_at: None,
            }),
        }
    }

    pub fn applied(&self) -> Applied {
        self.state
            .lock()
            .map(|s| s.applied.clone())
            .unwrap_or_default()
    }

    /// The newest version this node has dealt with: applied, or failed and not yet
    /// due for another try.
    fn seen(&self) -> i64 {
        let Ok(state) = self.state.lock() else {
            return 0;
        };
        let applied = state.applied.version.unwrap_or(0);
        match (&state.applied.failed, state.retry_at) {
            (Some((failed, _)), Some(at)) if std::time::Instant::now() < at => {
                (*failed).max(applied)
            }
            _ => applied,
        }
    }

    /// Waits for a version newer than the one applied (and than one that failed) and
    /// returns it. A store that does not answer is retried at the next poll.
    pub async fn next(&self) -> PublishedConfig {
        loop {
            tokio::time::sleep(POLL).await;
            let seen = self.seen();
            match self.store.config_latest_version().await {
                Ok(Some(newest)) if newest > seen => {
                    match self.store.config_published(Some(newest)).await {
                        Ok(Some(config)) => return config,
                        Ok(None) => {}
                        Err(error) => {
                            tracing::warn!(%error, "the published configuration cannot be read")
                        }
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "cannot ask the store for a newer configuration")
                }
            }
        }
    }

    /// `version` is in force on this node.
    pub fn now_applied(&self, version: i64) {
        if let Ok(mut state) = self.state.lock() {
            *state = State {
                applied: Applied {
                    version: Some(version),
                    failed: None,
                },
                retry_at: None,
            };
        }
    }

    /// `version` could not be applied; the node keeps the one it has and is not ready.
    pub fn failed(&self, version: i64, reason: String) {
        if let Ok(mut state) = self.state.lock() {
            state.applied.failed = Some((version, reason));
            state.retry_at = Some(std::time::Instant::now() + RETRY);
        }
    }
}
