//! The single writer: group commit, tree maintenance, checkpoints.

use super::{Attached, AuditError, AuditSettings, Request, Witness, format_millis};
use crate::Clock;
use moat_audit::checkpoint::{Checkpoint, SigningKey};
use moat_audit::event::{Event, event_leaf_hash};
use moat_audit::merkle::{Frontier, Hash, NodeId, frontier_nodes};
use moat_store::{AuditRow, Store, StoreError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

type PendingRecord = (
    Box<moat_audit::event::EventBody>,
    Attached,
    oneshot::Sender<Result<u64, AuditError>>,
);

pub struct Writer {
    store: Arc<dyn Store>,
    signer: SigningKey,
    settings: AuditSettings,
    witnesses: Vec<Arc<dyn Witness>>,
    clock: Arc<dyn Clock>,
    frontier: Frontier,
    checkpointed_size: Option<u64>,
}

/// Rebuilds the frontier of the stored tree from its nodes.
pub async fn load_frontier(store: &dyn Store) -> Result<Frontier, AuditError> {
    let size = store.audit_size().await?;
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
    pub async fn load(
        store: Arc<dyn Store>,
        signer: SigningKey,
        settings: AuditSettings,
        witnesses: Vec<Arc<dyn Witness>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Writer, AuditError> {
        let frontier = load_frontier(store.as_ref()).await?;
        let checkpointed_size = store.audit_latest_checkpoint().await?.map(|(size, _)| size);
        Ok(Writer {
            store,
            signer,
            settings,
            witnesses,
            clock,
            frontier,
            checkpointed_size,
        })
    }

    /// Runs on its own thread with its own runtime, so fsyncs never stall request tasks.
    pub fn run(mut self, mut requests: mpsc::UnboundedReceiver<Request>) {
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
            let mut ticker = tokio::time::interval(self.settings.checkpoint_interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.reset(); // the first tick comes one interval from now, not at once
            loop {
                let first = tokio::select! {
                    request = requests.recv() => match request {
                        Some(request) => request,
                        None => { self.final_checkpoint().await; return; }
                    },
                    _ = ticker.tick() => {
                        self.checkpoint_if_behind().await;
                        continue;
                    }
                };
                let mut batch = vec![first];
                while batch.len() < self.settings.max_batch {
                    match requests.try_recv() {
                        Ok(request) => batch.push(request),
                        Err(_) => break,
                    }
                }
                if self.handle(batch).await {
                    return;
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
            if self.settings.checkpoint_every_events > 0
                && self.frontier.size() - self.checkpointed_size.unwrap_or(0)
                    >= self.settings.checkpoint_every_events
            {
                self.checkpoint_if_behind().await;
            }
        }
        for request in others {
            match request {
                Request::Checkpoint(reply) => {
                    let _ = reply.send(self.checkpoint().await);
                }
                Request::Close(reply) => {
                    let _ = reply.send(self.checkpoint().await.map(|_| ()));
                    return true;
                }
                Request::Record(..) => {}
            }
        }
        false
    }

    /// Appends the batch durably; returns the first sequence number.
    async fn append(&mut self, records: &[PendingRecord]) -> Result<u64, AuditError> {
        for attempt in 0..2 {
            let mut frontier = self.frontier.clone();
            let first = frontier.size();
            let time = format_millis(self.clock.now_millis());
            let mut rows = Vec::with_capacity(records.len());
            let mut nodes: Vec<(u64, Hash)> = Vec::with_capacity(records.len() * 2);
            for (body, attached, _) in records {
                let mut event = Event {
                    seq: frontier.size(),
                    time: time.clone(),
                    body: (**body).clone(),
                };
                let stored = attached.content.as_ref().map(|content| {
                    use sha2::Digest;
                    let digest = hex::encode(sha2::Sha256::digest(content));
                    event.body.content_ref = Some(format!("sha256:{digest}"));
                    (digest, content.clone())
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
                    provenance: attached.provenance.clone(),
                });
            }
            match self.store.audit_append(&rows, &nodes).await {
                Ok(()) => {
                    self.frontier = frontier;
                    return Ok(first);
                }
                Err(StoreError::Conflict(_)) if attempt == 0 => {
                    tracing::info!(
                        "another writer appended to the audit log; reloading and retrying"
                    );
                    self.frontier = load_frontier(self.store.as_ref()).await?;
                    self.checkpointed_size =
                        self.store.audit_latest_checkpoint().await?.map(|(s, _)| s);
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

    async fn checkpoint_if_behind(&mut self) {
        if self.frontier.size() > 0
            && self.checkpointed_size != Some(self.frontier.size())
            && let Err(error) = self.checkpoint().await
        {
            tracing::error!(%error, "could not sign an audit checkpoint");
        }
    }

    async fn final_checkpoint(&mut self) {
        self.checkpoint_if_behind().await;
    }

    async fn checkpoint(&mut self) -> Result<(u64, String), AuditError> {
        // Another writer may have appended since this one last looked.
        let stored = self.store.audit_size().await?;
        if stored != self.frontier.size() {
            self.frontier = load_frontier(self.store.as_ref()).await?;
        }
        let size = self.frontier.size();
        if self.checkpointed_size == Some(size)
            && let Some((stored_size, note)) = self.store.audit_latest_checkpoint().await?
            && stored_size == size
        {
            return Ok((size, note));
        }
        let note = Checkpoint {
            origin: self.settings.origin.clone(),
            size,
            root: self.frontier.root(),
        }
        .sign(&self.signer);
        self.store
            .audit_put_checkpoint(size, &note, self.clock.now())
            .await?;
        self.checkpointed_size = Some(size);
        for witness in &self.witnesses {
            if let Err(error) = witness.publish(&note).await {
                tracing::error!(witness = %witness.describe(), %error, "checkpoint not delivered to witness");
            }
        }
        tracing::debug!(size, "audit checkpoint signed");
        Ok((size, note))
    }
}
