//! The audit log as a service: [`AuditLog::record`] appends an event durably and returns
//! its sequence number; callers await it before answering, so nothing is served that
//! could not be recorded.
//!
//! One writer thread owns appends (group commit): it takes every request waiting, assigns
//! sequence numbers, extends the Merkle frontier, signs a checkpoint of the result, writes
//! the batch, the tree nodes it completes and the checkpoint in one transaction, and only
//! then acknowledges. So every acknowledged event is in a signed checkpoint: the unsigned
//! window is empty. Witnesses get the newest checkpoint from a thread of their own, at
//! most [`WITNESS_PERIOD`] apart ([`witness`]). At start-up the writer refuses a log that
//! a witness shows was rolled back or rewritten, and signs any events an older Moat left
//! unsigned. If another writer (a CLI command beside a running server) appended first,
//! the writer reloads its state from the store and renumbers the batch; any other
//! failure refuses the whole batch. Where several nodes share a PostgreSQL database,
//! one elected sequencer appends every node's records (`writer/sequenced.rs`).
//!
//! Reading (`verify`, `prove`, `events`) needs no writer: see [`read`].

pub mod export;
pub mod ocsf;
pub mod read;
pub mod refusals;
mod scrub;
pub mod search;
pub mod sinks;
mod stats;
pub mod witness;
mod writer;

pub use read::{
    ConsistencyProofDoc, InclusionProofDoc, verify, verify_consistency_doc, verify_proof_doc,
};
pub use stats::{AuditSnapshot, Sequencer, WitnessSnapshot};
pub use witness::{FileWitness, WITNESS_PERIOD, Witness};

use crate::Clock;
use moat_audit::checkpoint::SigningKey;
use moat_audit::event::EventBody;
use moat_store::{Store, StoreError};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// The checkpoint origin line, e.g. `moat/example-health`.
    pub origin: String,
    /// Most events written (and signed) in one transaction.
    pub max_batch: usize,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log cannot record right now ({0}); the request was refused")]
    Unavailable(String),
    #[error("the audit log is closed")]
    Closed,
    #[error("the audit log is damaged: {0}; run `moat audit verify`")]
    Corrupt(String),
    #[error("{0}")]
    NotFound(String),
}

impl From<StoreError> for AuditError {
    fn from(error: StoreError) -> AuditError {
        match error {
            StoreError::Corrupt(m) => AuditError::Corrupt(m),
            other => AuditError::Unavailable(other.to_string()),
        }
    }
}

enum Request {
    Record(
        Box<EventBody>,
        Attached,
        oneshot::Sender<Result<u64, AuditError>>,
    ),
    Checkpoint(oneshot::Sender<Result<(u64, String), AuditError>>),
    Close(oneshot::Sender<Result<(), AuditError>>),
}

/// What is stored with an event, in its transaction.
#[derive(Default)]
struct Attached {
    /// A request/response body the event references by hash.
    content: Option<Vec<u8>>,
    /// Code in a model's answer, remembered for `moat scan`.
    provenance: Option<moat_store::AuditProvenance>,
}

/// Handle to the audit log's writer; cheap to share.
pub struct AuditLog {
    requests: mpsc::Sender<Request>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Takes secrets out of every event before it is queued (see `scrub`).
    detector: Arc<moat_dlp::Detector>,
    stats: Arc<stats::AuditStats>,
}

/// Records waiting for the writer at most. Past it a record is refused at once (the
/// request gets 503 and nothing is served unrecorded) instead of memory growing
/// without bound while the disk is slow; what was acknowledged stays acknowledged.
const MAX_WAITING: usize = 16_384;

/// The built-in rules, compiled once per process, for logs not given the configured
/// detector: an event is never stored unscrubbed.
static BUILTIN_DETECTOR: std::sync::LazyLock<Arc<moat_dlp::Detector>> =
    std::sync::LazyLock::new(|| Arc::new(moat_dlp::Detector::builtin()));

impl AuditLog {
    /// Loads the log's state from the store and starts the writer thread.
    pub async fn open(
        store: Arc<dyn Store>,
        signer: SigningKey,
        settings: AuditSettings,
        witnesses: Vec<Arc<dyn Witness>>,
        clock: Arc<dyn Clock>,
    ) -> Result<AuditLog, AuditError> {
        Self::open_with_queue(store, signer, settings, witnesses, clock, MAX_WAITING).await
    }

    /// [`AuditLog::open`] with at most `waiting` records queued for the writer.
    pub(crate) async fn open_with_queue(
        store: Arc<dyn Store>,
        signer: SigningKey,
        settings: AuditSettings,
        witnesses: Vec<Arc<dyn Witness>>,
        clock: Arc<dyn Clock>,
        waiting: usize,
    ) -> Result<AuditLog, AuditError> {
        let writer = writer::Writer::load(store, signer, settings, witnesses, clock).await?;
        let (requests, receiver) = mpsc::channel(waiting.max(1));
        let stats = writer.stats();
        let thread = std::thread::Builder::new()
            .name("moat-audit-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| AuditError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(AuditLog {
            requests,
            thread: Mutex::new(Some(thread)),
            detector: BUILTIN_DETECTOR.clone(),
            stats,
        })
    }

    /// Scrubs events with `detector` (the organisation's configured rules) instead of
    /// the built-in rules.
    pub fn redacting_with(mut self, detector: Arc<moat_dlp::Detector>) -> AuditLog {
        self.detector = detector;
        self
    }

    /// The queue, the log's size, unsigned events and each witness's lag, now.
    pub fn snapshot(&self) -> AuditSnapshot {
        let capacity = self.requests.max_capacity() as u64;
        let free = self.requests.capacity() as u64;
        self.stats.snapshot(capacity.saturating_sub(free), capacity)
    }

    /// Time to make each batch durable, since the log was opened (a histogram to
    /// register for `/metrics`; it shares its counts with the writer's).
    pub fn commit_seconds(&self) -> prometheus_client::metrics::histogram::Histogram {
        self.stats.commit_seconds.clone()
    }

    /// Appends an event; resolves with its sequence number once it is durable.
    pub async fn record(&self, body: EventBody) -> Result<u64, AuditError> {
        self.send(body, Attached::default()).await
    }

    /// Appends many events; resolves once every one is durable, with their sequence
    /// numbers in order. All are queued before the first is awaited, so group commit
    /// writes them in as few transactions as the batch size allows. If any fails, the
    /// error is returned (events already written stay written).
    ///
    /// Unlike a single record, this waits for room in the queue rather than being
    /// refused: a background job (a full permission sync) is slowed, not failed.
    pub async fn record_all(&self, bodies: Vec<EventBody>) -> Result<Vec<u64>, AuditError> {
        let mut answers = Vec::with_capacity(bodies.len());
        for mut body in bodies {
            scrub::scrub(&mut body, &self.detector);
            let (reply, answer) = oneshot::channel();
            self.requests
                .send(Request::Record(Box::new(body), Attached::default(), reply))
                .await
                .map_err(|_| AuditError::Closed)?;
            answers.push(answer);
        }
        let mut seqs = Vec::with_capacity(answers.len());
        for answer in answers {
            seqs.push(answer.await.map_err(|_| AuditError::Closed)??);
        }
        Ok(seqs)
    }

    /// Appends a model exchange's event with, in the same transaction and group commit,
    /// the body it references (if kept: the event's `content_ref` is set to its SHA-256)
    /// and the fingerprints of code in the answer (if any), so the answer waits for one
    /// durable commit, not two.
    pub async fn record_exchange(
        &self,
        body: EventBody,
        content: Option<Vec<u8>>,
        provenance: Option<moat_store::AuditProvenance>,
    ) -> Result<u64, AuditError> {
        self.send(
            body,
            Attached {
                content,
                provenance,
            },
        )
        .await
    }

    async fn send(&self, mut body: EventBody, attached: Attached) -> Result<u64, AuditError> {
        scrub::scrub(&mut body, &self.detector);
        let (reply, answer) = oneshot::channel();
        self.requests
            .try_send(Request::Record(Box::new(body), attached, reply))
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => AuditError::Unavailable(format!(
                    "{} events are waiting to be written; the disk is behind",
                    self.requests.max_capacity()
                )),
                mpsc::error::TrySendError::Closed(_) => AuditError::Closed,
            })?;
        answer.await.map_err(|_| AuditError::Closed)?
    }

    /// The checkpoint of the current tree (signed now if none exists at this size), also
    /// handed to the witnesses.
    pub async fn checkpoint(&self) -> Result<(u64, String), AuditError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Checkpoint(reply))
            .await
            .map_err(|_| AuditError::Closed)?;
        answer.await.map_err(|_| AuditError::Closed)?
    }

    /// Writes what is pending, delivers the newest checkpoint to every witness and stops
    /// the writer.
    pub async fn close(&self) -> Result<(), AuditError> {
        let (reply, answer) = oneshot::channel();
        if self.requests.send(Request::Close(reply)).await.is_err() {
            return Ok(());
        }
        let result = answer.await.map_err(|_| AuditError::Closed)?;
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        result
    }
}

/// RFC 3339 UTC with milliseconds.
fn format_millis(millis: i64) -> String {
    let nanos = i128::from(millis) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| millis.to_string())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_postgres;
