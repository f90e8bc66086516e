//! Recorded access states: once a day (and on `moat access snapshot`) what the
//! authorizer is built from — people, repositories with their tier and readers, grants,
//! exceptions in force, engaged switches — is kept in the store, compressed, and its
//! SHA-256 put on the record (`access.snapshot`). An evidence pack rebuilds the access
//! matrix at the start of its period from the state nearest that moment, and says how
//! many recorded changes lie between the two.
//!
//! The audit log's size is read before the state, so every change recorded before
//! `log_size` is in it (a change is written before its event). The event is recorded
//! before the state is kept and the state names it (`recorded_seq`). Of several nodes
//! taking the day's state at once, the store keeps one; the others' events name a state
//! that was not kept. Changes that time alone makes (an exception's window ending, a
//! training lapsing, a mirror going stale) are no events: a state holds their outcome
//! as of when it was taken.

use super::{Access, AccessError};
use crate::audit::{AuditError, AuditLog};
use moat_audit::event::{Actor, Decision, EventBody, Outcome, Resources};
use moat_domain::UnixTime;
use moat_policy::Org;
use moat_store::{AccessState, StoreError};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

/// States older than this are forgotten: a year and a month, so a yearly review's
/// period starts within what is kept.
pub const KEEP_DAYS: i64 = 400;

/// The most a state's JSON may grow to when read back (a guard against a body that
/// decompresses without end): 1 GiB.
const MAX_STATE_BYTES: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("the store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(
        "the access state of {day} does not match the SHA-256 it was recorded with ({sha256}): it was changed after it was taken"
    )]
    Tampered { day: String, sha256: String },
    #[error("the access state of {day} cannot be read: {reason}")]
    Unreadable { day: String, reason: String },
}

/// A state taken (or found already taken for the day).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Taken {
    pub day: String,
    pub taken_at: String,
    pub log_size: u64,
    pub sha256: String,
    /// False when the day had one already (this call wrote nothing).
    pub new: bool,
    /// The `access.snapshot` event that records it (only when `new`).
    pub recorded_seq: Option<u64>,
    pub people: usize,
    pub repos: usize,
    /// Its JSON's size, and what the store keeps (compressed).
    pub bytes: usize,
    pub stored_bytes: usize,
}

pub struct AccessStates {
    pub access: Arc<Access>,
    pub audit: Arc<AuditLog>,
    pub policy_version: String,
}

impl AccessStates {
    /// Takes today's state (UTC) unless the day has one (then it is reported and
    /// nothing is recorded); forgets states older than [`KEEP_DAYS`]. The `access.snapshot` event (naming `by`) is durable before the
    /// state is kept, so a kept state is always on the record; a crash between the two
    /// leaves an event that names nothing kept, and the next call takes the day's state.
    pub async fn take(&self, by: Actor) -> Result<Taken, StateError> {
        let store = self.access.store();
        let now = self.access.now();
        let day = day_of(now);
        if let Some(kept) = store.access_state_near(day_start(now), false).await?
            && kept.day == day
        {
            // The day has its state: report it, record nothing.
            let json = json_of(store, &kept).await?;
            let org = org_of(&kept, &json)?;
            let stored_bytes = store
                .access_state_body(&kept.sha256)
                .await?
                .map_or(0, |b| b.len());
            return Ok(Taken {
                day,
                taken_at: kept.taken_at.to_rfc3339(),
                log_size: kept.log_size,
                sha256: kept.sha256,
                new: false,
                recorded_seq: Some(kept.recorded_seq),
                people: org.users.len(),
                repos: org.repos.len(),
                bytes: json.len(),
                stored_bytes,
            });
        }
        let log_size = store.audit_size().await?;
        let org = self.access.state().await?;
        let unreadable = |reason: String| StateError::Unreadable {
            day: day.clone(),
            reason,
        };
        let json = serde_json::to_vec(&org).map_err(|e| unreadable(e.to_string()))?;
        let sha256 = hex::encode(Sha256::digest(&json));
        let stored = compress(&json).map_err(|e| unreadable(e.to_string()))?;
        let mut taken = Taken {
            day: day.clone(),
            taken_at: now.to_rfc3339(),
            log_size,
            sha256,
            new: false,
            recorded_seq: None,
            people: org.users.len(),
            repos: org.repos.len(),
            bytes: json.len(),
            stored_bytes: stored.len(),
        };
        let recorded = self.audit.record(self.event(by, &taken)).await?;
        let state = AccessState {
            day: day.clone(),
            taken_at: now,
            log_size,
            sha256: taken.sha256.clone(),
            recorded_seq: recorded,
        };
        taken.new = store.access_state_put(&state, &stored).await?;
        if !taken.new {
            // Another call (or node) kept the day's state first: report that one.
            if let Some(kept) = store.access_state_near(day_start(now), false).await?
                && kept.day == day
            {
                taken.taken_at = kept.taken_at.to_rfc3339();
                taken.log_size = kept.log_size;
                taken.sha256 = kept.sha256;
                taken.recorded_seq = Some(kept.recorded_seq);
            }
            return Ok(taken);
        }
        taken.recorded_seq = Some(recorded);
        store
            .access_states_prune(UnixTime(now.0 - KEEP_DAYS * 86_400))
            .await?;
        Ok(taken)
    }

    /// Takes today's state if no node has yet; `None` (nothing computed) when one has.
    pub async fn take_if_due(&self) -> Result<Option<Taken>, StateError> {
        let now = self.access.now();
        let kept = self
            .access
            .store()
            .access_state_near(day_start(now), false)
            .await?;
        if kept.is_some_and(|kept| kept.day == day_of(now)) {
            return Ok(None);
        }
        self.take(moat_itself()).await.map(Some)
    }

    /// Takes the day's state now and then (every `every`); a failure is logged and
    /// tried again at the next turn.
    pub async fn keep(self, every: Duration) {
        loop {
            match self.take_if_due().await {
                Ok(Some(taken)) if taken.new => tracing::info!(
                    day = %taken.day, sha256 = %taken.sha256, people = taken.people,
                    repos = taken.repos, "access state recorded"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "the access state could not be recorded"),
            }
            tokio::time::sleep(every).await;
        }
    }

    fn event(&self, actor: Actor, taken: &Taken) -> EventBody {
        EventBody {
            actor,
            action: "access.snapshot".into(),
            resources: Resources {
                objects: vec![format!("access-state/{}", taken.day)],
                ..Resources::default()
            },
            decision: Decision {
                outcome: Outcome::Allow,
                rule: None,
                reason: None,
            },
            policy_version: self.policy_version.clone(),
            disclosed: Default::default(),
            redactions: Default::default(),
            egress: None,
            content_ref: None,
            details: serde_json::json!({
                "day": taken.day, "sha256": taken.sha256, "log_size": taken.log_size,
                "people": taken.people, "repos": taken.repos, "bytes": taken.bytes,
            }),
        }
    }
}

/// Moat itself, as the serving nodes' daily state names its taker.
pub fn moat_itself() -> Actor {
    Actor {
        client: Some("moat".into()),
        ..Actor::default()
    }
}

/// A state's JSON exactly as it was hashed, checked against its SHA-256.
pub async fn json_of(
    store: &dyn moat_store::Store,
    state: &AccessState,
) -> Result<Vec<u8>, StateError> {
    let unreadable = |reason: String| StateError::Unreadable {
        day: state.day.clone(),
        reason,
    };
    let stored = store
        .access_state_body(&state.sha256)
        .await?
        .ok_or_else(|| unreadable("its body is missing from the store".into()))?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(stored.as_slice())
        .take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| unreadable(e.to_string()))?;
    if json.len() as u64 > MAX_STATE_BYTES {
        return Err(unreadable(format!("it grows past {MAX_STATE_BYTES} bytes")));
    }
    if hex::encode(Sha256::digest(&json)) != state.sha256 {
        return Err(StateError::Tampered {
            day: state.day.clone(),
            sha256: state.sha256.clone(),
        });
    }
    Ok(json)
}

/// The organisation a state's JSON holds.
pub fn org_of(state: &AccessState, json: &[u8]) -> Result<Org, StateError> {
    serde_json::from_slice(json).map_err(|e| StateError::Unreadable {
        day: state.day.clone(),
        reason: e.to_string(),
    })
}

fn compress(json: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(json)?;
    encoder.finish()
}

/// The UTC day of `at`, `YYYY-MM-DD`.
pub fn day_of(at: UnixTime) -> String {
    at.to_rfc3339()[..10].to_string()
}

/// Midnight UTC of `at`'s day.
fn day_start(at: UnixTime) -> UnixTime {
    UnixTime(at.0.div_euclid(86_400) * 86_400)
}
