//! The single writer: group commit, tree maintenance, a signed checkpoint per batch.

use super::stats::AuditStats;
use super::witness::{Publisher, check_witnesses, stored_root};
use super::{Attached, AuditError, AuditSettings, Request, Witness, format_millis};
use crate::Clock;
use moat_audit::checkpoint::{self, Checkpoint, SigningKey};
use moat_audit::event::{Event, EventBody, event_leaf_hash};
use moat_audit::merkle::{Frontier, Hash, NodeId, frontier_nodes};
use moat_store::{AuditCheckpoint, AuditProvenance, AuditRow, Store, StoreError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

mod sequenced;

/// How many times a batch is numbered and appended again after colliding with another
/// writer's (on SQLite, a CLI command appending beside a running server); past that it
/// is refused and its callers get 503.
const COLLISION_ATTEMPTS: usize = 8;

type PendingRecord = (
    Box<EventBody>,
    Attached,
    oneshot::Sender<Result<u64, AuditError>>,
);

pub struct Writer {
    store: Arc<dyn Store>,
    signer: SigningKey,
    settings: AuditSettings,
    publisher: Publisher,
    clock: Arc<dyn Clock>,
    frontier: Frontier,
    stats: Arc<AuditStats>,
}

/// Rebuilds the frontier of the stored tree from its nodes.
pub async fn load_frontier(store: &dyn Store) -> Result<Frontier, AuditError> {
    let size = store.audit_size().await?;
    frontier_at(store, size).await
}

/// The frontier of the stored tree at `size` events (a size already read: the nodes it
/// needs were committed before it).
async fn frontier_at(store: &dyn Store, size: u64) -> Result<Frontier, AuditError> {
    let ids = frontier_nodes(size);
    let keys: Vec<u64> = ids.iter().map(|id| id.key()).collect();
    let found = store.audit_nodes(&keys).await?;
    let mut roots = Vec::with_capacity(keys.len());
    for key in keys {
        let hash = found
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, h)| *h)
            .ok_or_else(|| {
                AuditError::Corrupt(format!("tree node {:?} is missing", NodeId::from_key(key)))
            })?;
        roots.push(hash);
    }
    Frontier::from_parts(size, roots)
        .ok_or_else(|| AuditError::Corrupt("the tree frontier is inconsistent".into()))
}

impl Writer {
    /// Recovers the log's state: witnesses that can be read back must hold checkpoints
    /// this log extends, the newest stored checkpoint must sign the stored tree, and
    /// events that no checkpoint covers (a log written by a Moat that signed less often)
    /// are signed now, before anything is appended.
    pub async fn load(
        store: Arc<dyn Store>,
        signer: SigningKey,
        settings: AuditSettings,
        witnesses: Vec<Arc<dyn Witness>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Writer, AuditError> {
        check_witnesses(store.as_ref(), &settings.origin, &witnesses).await?;
        // The newest checkpoint before the tree: another writer's batch committed in
        // between only makes the tree larger, never the checkpoint ahead of it.
        let latest = store.audit_latest_checkpoint().await?;
        let frontier = load_frontier(store.as_ref()).await?;
        if let Some((size, note)) = &latest {
            if *size > frontier.size() {
                return Err(AuditError::Corrupt(format!(
                    "the log has {} events but its checkpoint covers {size}: it was truncated",
                    frontier.size()
                )));
            }
            let signed = checkpoint::parse_unverified(note)
                .map_err(|e| AuditError::Corrupt(format!("checkpoint {size}: {e}")))?;
            if signed.root != stored_root(store.as_ref(), *size).await? {
                return Err(AuditError::Corrupt(format!(
                    "the stored tree no longer matches its checkpoint at size {size}: the log was altered"
                )));
            }
        }
        let signed = latest.as_ref().map_or(0, |(size, _)| *size);
        let latest = if frontier.size() > signed {
            tracing::warn!(
                from = signed,
                to = frontier.size(),
                "audit events in no signed checkpoint (written by an older Moat, or their checkpoint was removed); signing them as they are"
            );
            let note = sign(&settings.origin, &signer, &frontier);
            store
                .audit_put_checkpoint(frontier.size(), &note, clock.now())
                .await?;
            Some((frontier.size(), note))
        } else {
            latest
        };
        let stats = Arc::new(AuditStats::new(
            witnesses.iter().map(|w| w.describe()).collect(),
            frontier.size(),
            latest.as_ref().map_or(0, |(size, _)| *size),
        ));
        let publisher = Publisher::start(
            store.clone(),
            settings.origin.clone(),
            witnesses,
            stats.witnesses.clone(),
            latest.map(|(_, note)| note),
        )?;
        Ok(Writer {
            store,
            signer,
            settings,
            publisher,
            clock,
            frontier,
            stats,
        })
    }

    /// What the writer reports about itself, shared with the log's handle.
    pub fn stats(&self) -> Arc<AuditStats> {
        self.stats.clone()
    }

    /// Runs on its own thread with its own runtime, so fsyncs never stall request tasks.
    pub fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::error!(%error, "audit writer cannot start; every record will be refused");
                return;
            }
        };
        runtime.block_on(async move {
            match self.store.audit_seat().await {
                Ok(Some(seat)) => self.run_sequenced(seat, requests).await,
                Ok(None) => {
                    while let Some(first) = requests.recv().await {
                        let batch = gather(first, &mut requests, self.settings.max_batch);
                        if self.handle(batch).await {
                            return;
                        }
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "audit writer has no seat at the sequencer; every record will be refused");
                }
            }
        });
    }

    /// Handles one batch; returns true when asked to close.
    async fn handle(&mut self, batch: Vec<Request>) -> bool {
        let mut records = Vec::new();
        let mut others = Vec::new();
        for request in batch {
            match request {
                Request::Record(body, content, reply) => records.push((body, content, reply)),
                other => others.push(other),
            }
        }
        if !records.is_empty() {
            let result = self.append(&records).await;
            for (index, (_, _, reply)) in records.into_iter().enumerate() {
                let _ = reply.send(result.clone().map(|first| first + index as u64));
            }
        }
        for request in others {
            match request {
                Request::Checkpoint(reply) => {
                    let _ = reply.send(self.checkpoint().await);
                }
                Request::Close(reply) => {
                    let result = self.checkpoint().await.map(|_| ());
                    // Witnesses get the final checkpoint before close returns.
                    self.publisher.close_async().await;
                    let _ = reply.send(result);
                    return true;
                }
                Request::Record(..) => {}
            }
        }
        false
    }

    /// Appends the batch durably; returns the first sequence number. Another writer
    /// (a CLI command beside a running server) that took the same sequence numbers first
    /// makes the append collide: the tree is reloaded and the batch numbered again, up
    /// to [`COLLISION_ATTEMPTS`] times, after a short random pause that breaks lockstep.
    async fn append(&mut self, records: &[PendingRecord]) -> Result<u64, AuditError> {
        for attempt in 0..COLLISION_ATTEMPTS {
            let mut frontier = self.frontier.clone();
            let first = frontier.size();
            let time = format_millis(self.clock.now_millis());
            let (rows, nodes) = number(
                &mut frontier,
                &time,
                records.iter().map(|(body, attached, _)| {
                    (
                        (**body).clone(),
                        attached.content.clone(),
                        attached.provenance.clone(),
                    )
                }),
            );
            // Signed in the batch's own transaction: no acknowledged event is ever
            // outside a signed checkpoint (Ed25519 signing costs microseconds).
            let signed = AuditCheckpoint {
                size: frontier.size(),
                note: self.sign(&frontier),
                at: self.clock.now(),
            };
            let started = std::time::Instant::now();
            match self.store.audit_append(&rows, &nodes, Some(&signed)).await {
                Ok(()) => {
                    self.stats
                        .committed(frontier.size(), signed.size, started.elapsed());
                    self.frontier = frontier;
                    self.publisher.offer(&signed.note);
                    return Ok(first);
                }
                Err(StoreError::Conflict(_)) if attempt + 1 < COLLISION_ATTEMPTS => {
                    tracing::info!(
                        attempt,
                        "another writer appended to the audit log; reloading and retrying"
                    );
                    let pause = rand::random::<u64>() % (2_000 * (attempt as u64 + 1));
                    tokio::time::sleep(std::time::Duration::from_micros(pause)).await;
                    self.frontier = load_frontier(self.store.as_ref()).await?;
                }
                Err(error) => {
                    tracing::error!(%error, "audit append failed; refusing the batch");
                    if let Ok(frontier) = load_frontier(self.store.as_ref()).await {
                        self.frontier = frontier;
                    }
                    return Err(error.into());
                }
            }
        }
        Err(AuditError::Unavailable(
            "concurrent writers kept colliding".into(),
        ))
    }

    fn sign(&self, tree: &Frontier) -> String {
        sign(&self.settings.origin, &self.signer, tree)
    }

    /// The checkpoint of the current tree: the stored one (every batch stores its own),
    /// or one signed now when none covers the tree (at start-up after an older Moat, or
    /// for the empty log). Offered to the witnesses either way.
    async fn checkpoint(&mut self) -> Result<(u64, String), AuditError> {
        // Another writer may have appended since this one last looked.
        let stored = self.store.audit_size().await?;
        if stored != self.frontier.size() {
            self.frontier = load_frontier(self.store.as_ref()).await?;
        }
        let size = self.frontier.size();
        let note = match self.store.audit_latest_checkpoint().await? {
            Some((stored_size, note)) if stored_size == size => note,
            _ => {
                let note = self.sign(&self.frontier);
                self.store
                    .audit_put_checkpoint(size, &note, self.clock.now())
                    .await?;
                tracing::debug!(size, "audit checkpoint signed");
                note
            }
        };
        self.stats.signed_at(size);
        self.publisher.offer(&note);
        Ok((size, note))
    }
}

fn sign(origin: &str, signer: &SigningKey, tree: &Frontier) -> String {
    Checkpoint {
        origin: origin.to_string(),
        size: tree.size(),
        root: tree.root(),
    }
    .sign(signer)
}

/// The first request and every other already waiting, up to `max`.
fn gather(first: Request, requests: &mut mpsc::Receiver<Request>, max: usize) -> Vec<Request> {
    let mut batch = vec![first];
    while batch.len() < max {
        match requests.try_recv() {
            Ok(request) => batch.push(request),
            Err(_) => break,
        }
    }
    batch
}

/// Numbers `records` from the frontier's size, at `time`, and extends the frontier:
/// the rows to store and the tree nodes they complete.
fn number(
    frontier: &mut Frontier,
    time: &str,
    records: impl Iterator<Item = (EventBody, Option<Vec<u8>>, Option<AuditProvenance>)>,
) -> (Vec<AuditRow>, Vec<(u64, Hash)>) {
    let mut rows = Vec::new();
    let mut nodes: Vec<(u64, Hash)> = Vec::new();
    for (body, content, provenance) in records {
        let mut event = Event {
            seq: frontier.size(),
            time: time.to_string(),
            body,
        };
        let stored = content.map(|content| {
            use sha2::Digest;
            let digest = hex::encode(sha2::Sha256::digest(&content));
            event.body.content_ref = Some(format!("sha256:{digest}"));
            (digest, content)
        });
        let canonical = event.canonical_bytes();
        let leaf = event_leaf_hash(&canonical);
        nodes.extend(
            frontier
                .push(leaf)
                .into_iter()
                .map(|(id, hash)| (id.key(), hash)),
        );
        rows.push(AuditRow {
            seq: event.seq,
            canonical,
            body: stored,
            provenance,
        });
    }
    (rows, nodes)
}
