//! The writer where several nodes append to one log (PostgreSQL): one elected
//! sequencer, the Tessera pattern. Each node queues its records in the store in one
//! durable commit per batch; the node whose seat holds the sequencer role takes
//! everything queued, by every node, numbers it, extends the tree, signs a checkpoint
//! and appends the lot in one transaction; each node then collects the numbers of its
//! own records and only then acknowledges them. So an acknowledged event is appended
//! and signed, as with one writer.
//!
//! Every node's seat asks for the role every [`TRY_EVERY`]; the store gives it to one
//! at a time and frees it when the holder's connection goes, so when the sequencer
//! dies another node takes over within about that long, and what was queued meanwhile
//! is appended then. A record not appended within [`SEQUENCING_TIMEOUT`] is refused to
//! its caller (503) but stays queued: a refused request may still be in the log, an
//! acknowledged one always is.

use super::*;
use crate::audit::stats::Sequencer;
use moat_store::{AuditSeat, QueuedRecord};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often a seat that is not the sequencer asks for the role.
const TRY_EVERY: Duration = Duration::from_millis(500);

/// Longest a record waits to be appended before its caller is refused.
const SEQUENCING_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest `close` waits for this node's queued records to be appended.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a node with records waiting sleeps between looking for their numbers when
/// no notification comes (one may be missed while the seat reconnects).
const COLLECT_EVERY: Duration = Duration::from_millis(20);

struct Waiter {
    reply: oneshot::Sender<Result<u64, AuditError>>,
    since: Instant,
}

/// Set once the writer is asked to close (or every handle is gone): by when it stops
/// waiting for its records, and whom to answer.
struct Closing {
    reply: Option<oneshot::Sender<Result<(), AuditError>>>,
    deadline: Instant,
}

impl Writer {
    pub(super) async fn run_sequenced(
        mut self,
        mut seat: Box<dyn AuditSeat>,
        mut requests: mpsc::Receiver<Request>,
    ) {
        let mut waiting: HashMap<u64, Waiter> = HashMap::new();
        let mut leading = false;
        let mut next_try = Instant::now();
        let mut closing: Option<Closing> = None;
        let mut offered = Instant::now();
        // Said once, not at every retry.
        let mut unreachable = false;
        self.stats.set_sequencer(Sequencer::Follower);
        loop {
            let timeout = if !waiting.is_empty() {
                COLLECT_EVERY
            } else {
                next_try
                    .saturating_duration_since(Instant::now())
                    .clamp(Duration::from_millis(1), TRY_EVERY)
            };
            if closing.is_none() {
                tokio::select! {
                    request = requests.recv() => match request {
                        Some(first) => {
                            let batch = gather(first, &mut requests, self.settings.max_batch);
                            if let Some(reply) = self.submit(batch, &mut waiting).await {
                                closing = Some(Closing { reply: Some(reply), deadline: Instant::now() + CLOSE_TIMEOUT });
                            }
                        }
                        None => closing = Some(Closing { reply: None, deadline: Instant::now() + CLOSE_TIMEOUT }),
                    },
                    _ = seat.wait(timeout) => {}
                }
            } else {
                let _ = seat.wait(timeout.min(COLLECT_EVERY)).await;
            }

            if leading || Instant::now() >= next_try {
                let was = leading;
                leading = match seat.try_lead().await {
                    Ok(leading) => {
                        unreachable = false;
                        leading
                    }
                    Err(error) => {
                        if !unreachable {
                            tracing::warn!(%error, "the audit sequencer's seat cannot reach the database; retrying every {} ms", TRY_EVERY.as_millis());
                        }
                        unreachable = true;
                        false
                    }
                };
                if leading != was {
                    tracing::info!(
                        leading,
                        "this node {} the audit log's sequencer",
                        if leading { "is now" } else { "is no longer" }
                    );
                    self.stats.set_sequencer(if leading {
                        Sequencer::Leader
                    } else {
                        Sequencer::Follower
                    });
                }
                if !leading {
                    next_try = Instant::now() + TRY_EVERY;
                }
            }
            if leading {
                self.sequence(seat.as_mut()).await;
            }
            if !waiting.is_empty() {
                let newest = self.collect(&mut waiting).await;
                if let Some(size) = newest
                    && !leading
                    && offered.elapsed() >= super::super::WITNESS_PERIOD
                {
                    // The sequencer's checkpoints reach this node's witnesses too.
                    offered = Instant::now();
                    self.stats.signed_at(size);
                    if let Ok(Some((_, note))) = self.store.audit_latest_checkpoint().await {
                        self.publisher.offer(&note);
                    }
                }
            }
            if let Some(close) = &closing
                && (waiting.is_empty() || Instant::now() >= close.deadline)
            {
                break;
            }
        }

        for (_, waiter) in waiting.drain() {
            let _ = waiter.reply.send(Err(AuditError::Unavailable(
                "the node closed before the sequencer appended the record (it stays queued)".into(),
            )));
        }
        let result = self.checkpoint().await.map(|_| ());
        self.publisher.close();
        if let Some(Closing {
            reply: Some(reply), ..
        }) = closing
        {
            let _ = reply.send(result);
        }
    }

    /// Queues the batch's records for the sequencer and answers its other requests;
    /// returns the reply of a request to close.
    async fn submit(
        &mut self,
        batch: Vec<Request>,
        waiting: &mut HashMap<u64, Waiter>,
    ) -> Option<oneshot::Sender<Result<(), AuditError>>> {
        let mut queued = Vec::new();
        let mut replies = Vec::new();
        let mut close = None;
        for request in batch {
            match request {
                Request::Record(body, attached, reply) => match serde_json::to_vec(&body) {
                    Ok(json) => {
                        queued.push(QueuedRecord {
                            body: json,
                            content: attached.content,
                            provenance: attached.provenance,
                        });
                        replies.push(reply);
                    }
                    Err(error) => {
                        let _ = reply.send(Err(AuditError::Unavailable(format!(
                            "the event cannot be encoded: {error}"
                        ))));
                    }
                },
                Request::Checkpoint(reply) => {
                    let _ = reply.send(self.checkpoint().await);
                }
                Request::Close(reply) => close = Some(reply),
            }
        }
        if !queued.is_empty() {
            let since = Instant::now();
            match self.store.audit_enqueue(&queued).await {
                Ok(ids) if ids.len() == replies.len() => {
                    for (id, reply) in ids.into_iter().zip(replies) {
                        waiting.insert(id, Waiter { reply, since });
                    }
                }
                Ok(ids) => {
                    let error = AuditError::Corrupt(format!(
                        "{} records queued but {} ids returned",
                        replies.len(),
                        ids.len()
                    ));
                    for reply in replies {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "queuing audit records failed; refusing the batch");
                    let error = AuditError::from(error);
                    for reply in replies {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
        }
        close
    }

    /// The sequencer's work: turns until the queue is drained.
    async fn sequence(&mut self, seat: &mut dyn AuditSeat) {
        loop {
            match self.turn(seat).await {
                Ok(appended) if appended >= self.settings.max_batch => continue,
                Ok(_) => return,
                Err(error) => {
                    tracing::error!(%error, "the audit sequencer's turn failed; it is retried");
                    return;
                }
            }
        }
    }

    /// Appends the oldest queued records, at most a batch; returns how many.
    async fn turn(&mut self, seat: &mut dyn AuditSeat) -> Result<usize, AuditError> {
        let (size, queued) = seat.take(self.settings.max_batch).await?;
        if queued.is_empty() {
            return Ok(0);
        }
        if size < self.frontier.size() {
            return Err(AuditError::Corrupt(format!(
                "the stored log holds {size} events, fewer than the {} this writer appended",
                self.frontier.size()
            )));
        }
        if size > self.frontier.size() {
            self.frontier = frontier_at(self.store.as_ref(), size).await?;
        }
        let mut records = Vec::with_capacity(queued.len());
        let mut numbered = Vec::with_capacity(queued.len());
        for (id, record) in queued {
            let body: EventBody = serde_json::from_slice(&record.body).map_err(|e| {
                AuditError::Corrupt(format!("queued audit record {id} is not an event: {e}"))
            })?;
            numbered.push((id, size + numbered.len() as u64));
            records.push((body, record.content, record.provenance));
        }
        let mut frontier = self.frontier.clone();
        let time = format_millis(self.clock.now_millis());
        let (rows, nodes) = number(&mut frontier, &time, records.into_iter());
        let signed = AuditCheckpoint {
            size: frontier.size(),
            note: self.sign(&frontier),
            at: self.clock.now(),
        };
        seat.append(size, &rows, &nodes, &signed, &numbered).await?;
        self.stats.signed_at(frontier.size());
        self.frontier = frontier;
        self.publisher.offer(&signed.note);
        Ok(numbered.len())
    }

    /// Acknowledges this node's records the sequencer appended, and refuses those that
    /// waited too long; returns the log's size after the newest one acknowledged.
    async fn collect(&mut self, waiting: &mut HashMap<u64, Waiter>) -> Option<u64> {
        let ids: Vec<u64> = waiting.keys().copied().collect();
        let mut newest = None;
        match self.store.audit_dequeue(&ids).await {
            Ok(appended) => {
                for (id, seq) in appended {
                    if let Some(waiter) = waiting.remove(&id) {
                        self.stats
                            .commit_seconds
                            .observe(waiter.since.elapsed().as_secs_f64());
                        newest = newest.max(Some(seq + 1));
                        let _ = waiter.reply.send(Ok(seq));
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot collect sequence numbers from the audit queue")
            }
        }
        for (_, waiter) in waiting.extract_if(|_, w| w.since.elapsed() >= SEQUENCING_TIMEOUT) {
            let _ = waiter.reply.send(Err(AuditError::Unavailable(format!(
                "no node's sequencer appended the record within {} s (it stays queued)",
                SEQUENCING_TIMEOUT.as_secs()
            ))));
        }
        newest
    }
}
