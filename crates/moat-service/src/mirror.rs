//! Writes to the permission mirror, each on the record.
//!
//! Every change of a reader (a full sync's difference, a webhook's removal or
//! confirmed addition, a sign-in refresh's revocation) is one `access.mirror` audit
//! event naming the repository, the login, the level before and after, its source and
//! the webhook delivery. The events are durable before the change is written: if they
//! cannot be recorded, nothing changes (the sync fails and the mirror goes stale; the
//! webhook is answered 503 and the host may redeliver). The change itself, the sync
//! time and the delivery id are then written in one transaction that first checks each
//! row is still what the diff was computed from, so a concurrent sync or webhook cannot
//! slip a change in unrecorded. If that write does not happen, a `failed` event for
//! each change follows, so the record never claims a change that was not made without
//! saying so.

use crate::audit::{AuditError, AuditLog};
use moat_audit::event::{Actor, Decision, EventBody, Outcome, Resources};
use moat_store::{MirrorApplied, MirrorUpdate, ReaderChange, Store, StoreError};
use serde_json::json;
use std::sync::Arc;

/// Where a mirror change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSource {
    /// A full sync of a repository from the host's API.
    Sync,
    /// A webhook: a removal applied as it came, or an addition confirmed with the API.
    Webhook,
    /// A per-person check at sign-in that found access the host no longer grants.
    SignIn,
}

impl ChangeSource {
    pub fn as_str(&self) -> &'static str {
        match self {
            ChangeSource::Sync => "sync",
            ChangeSource::Webhook => "webhook",
            ChangeSource::SignIn => "sign-in",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("the mirror change could not be recorded, so it was not made: {0}")]
    Audit(#[from] AuditError),
    #[error("the mirror cannot be updated: {0}")]
    Store(#[from] StoreError),
}

/// The mirror's one writer: records, then applies.
pub struct MirrorWriter {
    store: Arc<dyn Store>,
    audit: Arc<AuditLog>,
    policy_version: String,
}

impl MirrorWriter {
    pub fn new(store: Arc<dyn Store>, audit: Arc<AuditLog>, policy_version: String) -> Self {
        MirrorWriter {
            store,
            audit,
            policy_version,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Records `update.changes` (changes whose `before` equals their `after` are
    /// dropped first: they are not changes), then applies the update. A `Conflict` or
    /// `Duplicate` wrote nothing; the caller decides whether to read again and retry.
    pub async fn write(
        &self,
        host: &str,
        source: ChangeSource,
        mut update: MirrorUpdate,
    ) -> Result<MirrorApplied, MirrorError> {
        update.changes.retain(|c| c.before != c.after);
        for change in &mut update.changes {
            change.login = change.login.to_lowercase();
        }
        let delivery = update.delivery.as_ref().map(|(id, _)| id.as_str());
        if !update.changes.is_empty() {
            let events = update
                .changes
                .iter()
                .map(|change| self.event(host, source, delivery, change, None))
                .collect();
            self.audit.record_all(events).await?;
        }
        let applied = self.store.mirror_apply(&update).await;
        let not_applied = match &applied {
            Ok(MirrorApplied::Applied) => None,
            Ok(MirrorApplied::Conflict { repo, login }) => Some(format!(
                "not applied: the row of {login} in {repo} changed meanwhile; read again"
            )),
            Ok(MirrorApplied::Duplicate) => {
                Some("not applied: the delivery was applied already".to_string())
            }
            Err(error) => Some(format!("not applied: {error}")),
        };
        if let Some(reason) = not_applied
            && !update.changes.is_empty()
        {
            let events = update
                .changes
                .iter()
                .map(|change| self.event(host, source, delivery, change, Some(&reason)))
                .collect();
            if let Err(error) = self.audit.record_all(events).await {
                tracing::error!(%error, "could not record that mirror changes were not applied");
            }
        }
        Ok(applied?)
    }

    fn event(
        &self,
        host: &str,
        source: ChangeSource,
        delivery: Option<&str>,
        change: &ReaderChange,
        failed: Option<&str>,
    ) -> EventBody {
        let mut details = json!({
            "repo": change.repo,
            "login": change.login,
            "host": host,
            "before": change.before,
            "after": change.after,
            "source": source.as_str(),
            "delivery": delivery,
        });
        if failed.is_some() {
            details["phase"] = json!("failed");
        }
        self.access_event(
            format!("{host}-{}", source.as_str()),
            "access.mirror",
            Resources {
                repos: vec![change.repo.clone()],
                objects: vec![change.login.clone()],
                ..Resources::default()
            },
            Decision {
                outcome: if failed.is_some() {
                    Outcome::Deny
                } else {
                    Outcome::Allow
                },
                rule: Some(format!("permission-mirror:{}", source.as_str())),
                reason: failed.map(str::to_string),
            },
            details,
        )
    }

    /// An access change made by `client` (a host's sync, webhook or links), nothing
    /// disclosed or sent anywhere.
    fn access_event(
        &self,
        client: String,
        action: &str,
        resources: Resources,
        decision: Decision,
        details: serde_json::Value,
    ) -> EventBody {
        EventBody {
            actor: Actor {
                client: Some(client),
                ..Actor::default()
            },
            action: action.into(),
            resources,
            decision,
            policy_version: self.policy_version.clone(),
            disclosed: Default::default(),
            redactions: Default::default(),
            egress: None,
            content_ref: None,
            details,
        }
    }
}

/// A host login linked to a person, moved to another, or unlinked: the Moat user ids
/// it maps to before and after (ids, not emails: an event's details are scrubbed of
/// personal data, and the id still names the person).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkChange {
    pub login: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl MirrorWriter {
    /// Records `changes` to the links of `host` logins made by `source` (`saml`,
    /// `idp`...) as `access.link` events, durable before the caller writes them: a link
    /// decides whose access a host login carries, so it is an access change like a
    /// reader's. If they cannot be recorded the caller must not make the change.
    pub async fn record_links(
        &self,
        host: &str,
        source: &str,
        changes: &[LinkChange],
    ) -> Result<(), MirrorError> {
        if changes.is_empty() {
            return Ok(());
        }
        let events = changes
            .iter()
            .map(|change| {
                self.access_event(
                    format!("{host}-{source}"),
                    "access.link",
                    Resources {
                        objects: vec![change.login.clone()],
                        ..Resources::default()
                    },
                    Decision {
                        outcome: Outcome::Allow,
                        rule: Some(format!("host-link:{source}")),
                        reason: None,
                    },
                    json!({
                        "host": host,
                        "login": change.login,
                        "before": change.before,
                        "after": change.after,
                        "source": source,
                    }),
                )
            })
            .collect();
        self.audit.record_all(events).await?;
        Ok(())
    }
}

/// The changes that turn `current` readers into `wanted` (both `(login, level)`,
/// logins compared lowercase), for one repository.
pub fn diff(
    repo: &str,
    current: &[(String, String)],
    wanted: &[(String, String)],
) -> Vec<ReaderChange> {
    use std::collections::BTreeMap;
    let now: BTreeMap<String, &str> = current
        .iter()
        .map(|(login, level)| (login.to_lowercase(), level.as_str()))
        .collect();
    let next: BTreeMap<String, &str> = wanted
        .iter()
        .map(|(login, level)| (login.to_lowercase(), level.as_str()))
        .collect();
    let mut changes = Vec::new();
    for (login, level) in &next {
        if now.get(login) != Some(level) {
            changes.push(ReaderChange {
                repo: repo.to_string(),
                login: login.clone(),
                before: now.get(login).map(|l| l.to_string()),
                after: Some(level.to_string()),
            });
        }
    }
    for (login, level) in &now {
        if !next.contains_key(login) {
            changes.push(ReaderChange {
                repo: repo.to_string(),
                login: login.clone(),
                before: Some(level.to_string()),
                after: None,
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_names_each_reader_that_changed_and_nothing_else() {
        let pair = |l: &str, v: &str| (l.to_string(), v.to_string());
        let current = [pair("ann", "read"), pair("bo", "read"), pair("cy", "write")];
        let wanted = [
            pair("ANN", "read"),
            pair("cy", "admin"),
            pair("dee", "read"),
        ];
        let changes: Vec<(String, Option<String>, Option<String>)> = diff("r", &current, &wanted)
            .into_iter()
            .map(|c| (c.login, c.before, c.after))
            .collect();
        assert_eq!(
            changes,
            [
                ("cy".into(), Some("write".into()), Some("admin".into())),
                ("dee".into(), None, Some("read".into())),
                ("bo".into(), Some("read".into()), None),
            ]
        );
        assert!(diff("r", &current, &current).is_empty());
    }
}
