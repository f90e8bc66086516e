//! The writer where several nodes append to one log (PostgreSQL): one elected
//! sequencer, the Tessera pattern. Each node queues its records in the store, one
//! commit per batch; the node whose seat holds the sequencer role takes everything
//! queued, by every node, numbers it with its own records, extends the tree, signs a
//! checkpoint and appends the lot in one durable transaction; each other node then
//! collects the numbers of its records and only then acknowledges them. So an
//! acknowledged event is appended and signed, as with one writer.
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

/// How often the sequencer with nothing to do looks at the queue anyway.
const READ_ANYWAY: Duration = Duration::from_millis(100);

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
            } else if leading {
                // Woken by this node's records or another node's notification; the
                // queue is read anyway at this pace.
                READ_ANYWAY
            } else {
                next_try
                    .saturating_duration_since(Instant::now())
                    .clamp(Duration::from_millis(1), TRY_EVERY)
            };
            let mut own = Vec::new();
            if closing.is_none() {
                tokio::select! {
                    request = requests.recv() => match request {
                        Some(first) => {
                            let batch = gather(first, &mut requests, self.settings.max_batch);
                            let (records, close) = self.sort(batch).await;
                            own = records;
                            if let Some(reply) = close {
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
                    // Another node appended while this one followed: number from there.
                    if leading && let Ok(frontier) = load_frontier(self.store.as_ref()).await {
                        self.frontier = frontier;
                    }
                }
                if !leading {
                    next_try = Instant::now() + TRY_EVERY;
                }
            }
            if leading {
                // The sequencer appends its own records directly, with what others queued.
                self.sequence(seat.as_mut(), own, &mut waiting).await;
            } else if !own.is_empty() {
                self.enqueue(own, &mut waiting).await;
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
            self.stats.set_awaiting(waiting.len());
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
        self.publisher.close_async().await;
        if let Some(Closing {
            reply: Some(reply), ..
        }) = closing
        {
            let _ = reply.send(result);
        }
    }

    /// The batch's records, after answering its other requests; and the reply of a
    /// request to close.
    async fn sort(
        &mut self,
        batch: Vec<Request>,
    ) -> (
        Vec<PendingRecord>,
        Option<oneshot::Sender<Result<(), AuditError>>>,
    ) {
        let mut records = Vec::new();
        let mut close = None;
        for request in batch {
            match request {
                Request::Record(body, attached, reply) => records.push((body, attached, reply)),
                Request::Checkpoint(reply) => {
                    let _ = reply.send(self.checkpoint().await);
                }
                Request::Close(reply) => close = Some(reply),
            }
        }
        (records, close)
    }

    /// Queues records for the sequencer; they wait in `waiting` for their numbers.
    async fn enqueue(&mut self, records: Vec<PendingRecord>, waiting: &mut HashMap<u64, Waiter>) {
        let mut queued = Vec::with_capacity(records.len());
        let mut replies = Vec::with_capacity(records.len());
        for (body, attached, reply) in records {
            match serde_json::to_vec(&body) {
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
            }
        }
        if queued.is_empty() {
            return;
        }
        let since = Instant::now();
        let error = match self.store.audit_enqueue(&queued).await {
            Ok(ids) if ids.len() == replies.len() => {
                for (id, reply) in ids.into_iter().zip(replies) {
                    waiting.insert(id, Waiter { reply, since });
                }
                return;
            }
            Ok(ids) => AuditError::Corrupt(format!(
                "{} records queued but {} ids returned",
                replies.len(),
                ids.len()
            )),
            Err(error) => {
                tracing::error!(%error, "queuing audit records failed; refusing the batch");
                AuditError::from(error)
            }
        };
        for reply in replies {
            let _ = reply.send(Err(error.clone()));
        }
    }

    /// The sequencer's work: its own records and what others queued, in turns until
    /// the queue is drained. Its own records that a failed turn could not append are
    /// queued, for the next turn (or the next sequencer).
    async fn sequence(
        &mut self,
        seat: &mut dyn AuditSeat,
        own: Vec<PendingRecord>,
        waiting: &mut HashMap<u64, Waiter>,
    ) {
        let mut own = Some(own);
        loop {
            let mine = own.take().unwrap_or_default();
            let room = self.settings.max_batch.saturating_sub(mine.len());
            match self.turn(seat, &mine, room).await {
                Ok((first, queued)) => {
                    for (index, (_, _, reply)) in mine.into_iter().enumerate() {
                        let _ = reply.send(Ok(first + index as u64));
                    }
                    if queued < room {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "the audit sequencer's turn failed; it is retried");
                    if let Ok(frontier) = load_frontier(self.store.as_ref()).await {
                        self.frontier = frontier;
                    }
                    if !mine.is_empty() {
                        self.enqueue(mine, waiting).await;
                    }
                    return;
                }
            }
        }
    }

    /// Appends `mine` and up to `room` queued records; returns the first sequence
    /// number and how many queued records were appended.
    async fn turn(
        &mut self,
        seat: &mut dyn AuditSeat,
        mine: &[PendingRecord],
        room: usize,
    ) -> Result<(u64, usize), AuditError> {
        let queued = if room > 0 {
            seat.take(room).await?
        } else {
            Vec::new()
        };
        let size = self.frontier.size();
        if mine.is_empty() && queued.is_empty() {
            return Ok((size, 0));
        }
        let mut records = Vec::with_capacity(mine.len() + queued.len());
        for (body, attached, _) in mine {
            records.push((
                (**body).clone(),
                attached.content.clone(),
                attached.provenance.clone(),
            ));
        }
        let mut numbered = Vec::with_capacity(queued.len());
        for (id, record) in queued {
            let body: EventBody = serde_json::from_slice(&record.body).map_err(|e| {
                AuditError::Corrupt(format!("queued audit record {id} is not an event: {e}"))
            })?;
            numbered.push((id, size + records.len() as u64));
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
        let started = Instant::now();
        seat.append(size, &rows, &nodes, &signed, &numbered).await?;
        self.stats
            .committed(frontier.size(), signed.size, started.elapsed());
        self.frontier = frontier;
        self.publisher.offer(&signed.note);
        Ok((size, numbered.len()))
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
