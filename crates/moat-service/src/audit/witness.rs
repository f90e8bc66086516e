//! Witnesses: places outside the data directory that receive the log's checkpoints, so
//! that whoever controls the database cannot roll history back or rewrite it unseen.
//!
//! The writer signs a checkpoint with every batch; witnesses get the newest one from a
//! thread of their own ([`Publisher`]), at most once per [`WITNESS_PERIOD`] each, so a
//! slow witness or a witness file's fsync never sits on a batch's commit path, and a
//! witness is never more than about a period behind the log. A witness that can be read
//! back ([`Witness::latest`]) is checked before it is replaced: a checkpoint the log does
//! not extend (a rollback, a rewrite) is kept as the evidence it is, never overwritten.

use super::AuditError;
use super::stats::WitnessStats;
use moat_audit::checkpoint::{self, Checkpoint};
use moat_audit::merkle::{Hash, fold, frontier_nodes};
use moat_store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Most time between two deliveries to one witness while checkpoints keep coming.
pub const WITNESS_PERIOD: Duration = Duration::from_millis(500);

#[async_trait::async_trait]
pub trait Witness: Send + Sync {
    /// Where the checkpoint goes, for logs.
    fn describe(&self) -> String;
    /// Delivers a signed checkpoint note. Runs on the witness thread's runtime.
    async fn publish(&self, note: &str) -> Result<(), String>;
    /// The note this witness holds now, for a witness that can be read back.
    async fn latest(&self) -> Result<Option<String>, String> {
        Ok(None)
    }
}

/// Keeps the latest checkpoint in a file (replaced atomically and durably), which
/// `moat audit verify` checks by default.
pub struct FileWitness {
    pub path: PathBuf,
}

#[async_trait::async_trait]
impl Witness for FileWitness {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    async fn publish(&self, note: &str) -> Result<(), String> {
        use std::io::Write as _;
        let failed = |e: std::io::Error| format!("cannot write {}: {e}", self.path.display());
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let mut file = std::fs::File::create(&temporary).map_err(failed)?;
        file.write_all(note.as_bytes()).map_err(failed)?;
        file.sync_all().map_err(failed)?;
        std::fs::rename(&temporary, &self.path).map_err(failed)?;
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // The rename itself must survive a power cut.
            std::fs::File::open(parent)
                .and_then(|dir| dir.sync_all())
                .map_err(failed)?;
        }
        Ok(())
    }

    async fn latest(&self) -> Result<Option<String>, String> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) if text.trim().is_empty() => Ok(None),
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", self.path.display())),
        }
    }
}

/// The root of the stored tree at `size`, from its complete subtrees.
pub(super) async fn stored_root(store: &dyn Store, size: u64) -> Result<Hash, AuditError> {
    let ids = frontier_nodes(size);
    let keys: Vec<u64> = ids.iter().map(|id| id.key()).collect();
    let found: std::collections::HashMap<u64, Hash> =
        store.audit_nodes(&keys).await?.into_iter().collect();
    let hashes = keys
        .iter()
        .map(|key| found.get(key).copied())
        .collect::<Option<Vec<Hash>>>()
        .ok_or_else(|| AuditError::Corrupt(format!("tree nodes for size {size} are missing")))?;
    Ok(fold(&hashes).unwrap_or_else(moat_audit::merkle::empty_root))
}

/// Whether `held` (a witness's note) is a checkpoint this log extends: same origin, a
/// size the log has reached, and the stored tree's root at that size. `Err` says why not.
pub(super) async fn check_held(
    store: &dyn Store,
    origin: &str,
    log_size: u64,
    held: &str,
) -> Result<Checkpoint, String> {
    let held = checkpoint::parse_unverified(held)
        .map_err(|e| format!("it holds something that is not a checkpoint ({e})"))?;
    if held.origin != origin {
        return Err(format!(
            "it holds a checkpoint of another log (`{}`, not `{origin}`)",
            held.origin
        ));
    }
    if held.size > log_size {
        return Err(format!(
            "it holds a checkpoint of {} events but the log has {log_size}: the database was rolled back or truncated",
            held.size
        ));
    }
    let root = stored_root(store, held.size)
        .await
        .map_err(|e| e.to_string())?;
    if root != held.root {
        return Err(format!(
            "the log's first {} events no longer match the checkpoint it holds: history was rewritten",
            held.size
        ));
    }
    Ok(held)
}

/// Before the writer appends anything: every witness that can be read back must hold a
/// checkpoint this log extends (or none yet). Otherwise the log was rolled back or
/// rewritten, and appending to it (and overwriting the evidence) is refused.
pub(super) async fn check_witnesses(
    store: &dyn Store,
    origin: &str,
    witnesses: &[Arc<dyn Witness>],
) -> Result<(), AuditError> {
    // Witnesses first, then the log: a witness is written only after its checkpoint is
    // durable, so a copy read before the log's size can never be legitimately ahead.
    let mut held = Vec::new();
    for witness in witnesses {
        let note = witness.latest().await.map_err(|e| {
            AuditError::Corrupt(format!(
                "witness {} cannot be read: {e}",
                witness.describe()
            ))
        })?;
        held.extend(note.map(|note| (witness.describe(), note)));
    }
    let size = store.audit_size().await?;
    for (name, note) in held {
        check_held(store, origin, size, &note).await.map_err(|why| {
            AuditError::Corrupt(format!(
                "witness {name} disagrees with the log: {why}. Nothing more is appended; run `moat audit verify` (if a backup was restored on purpose, move {name} aside to accept the lost events)"
            ))
        })?;
    }
    Ok(())
}

/// Hands the newest checkpoint to every witness from a thread of its own.
pub struct Publisher {
    latest: Option<watch::Sender<Option<Arc<str>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    stats: Vec<Arc<WitnessStats>>,
}

impl Publisher {
    /// Starts one delivery task per witness; none when there are no witnesses.
    pub fn start(
        store: Arc<dyn Store>,
        origin: String,
        witnesses: Vec<Arc<dyn Witness>>,
        stats: Vec<Arc<WitnessStats>>,
        initial: Option<String>,
    ) -> Result<Publisher, AuditError> {
        if witnesses.is_empty() {
            return Ok(Publisher {
                latest: None,
                thread: None,
                stats,
            });
        }
        // Behind until the first delivery shows otherwise.
        if initial.is_some() {
            for witness in &stats {
                witness.offered();
            }
        }
        let delivery_stats = stats.clone();
        let (sender, receiver) = watch::channel(initial.map(Arc::from));
        let thread = std::thread::Builder::new()
            .name("moat-audit-witness".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        tracing::error!(%error, "audit witness thread cannot start; no witness is updated");
                        return;
                    }
                };
                runtime.block_on(async move {
                    let tasks: Vec<_> = witnesses
                        .into_iter()
                        .zip(delivery_stats)
                        .map(|(witness, stats)| {
                            tokio::spawn(deliver(
                                store.clone(),
                                origin.clone(),
                                witness,
                                stats,
                                receiver.clone(),
                            ))
                        })
                        .collect();
                    drop(receiver);
                    for task in tasks {
                        let _ = task.await;
                    }
                });
            })
            .map_err(|e| AuditError::Unavailable(format!("cannot start the witness thread: {e}")))?;
        Ok(Publisher {
            latest: Some(sender),
            thread: Some(thread),
            stats,
        })
    }

    /// The newest checkpoint; cheap, never waits for a witness.
    pub fn offer(&self, note: &str) {
        if let Some(latest) = &self.latest {
            latest.send_replace(Some(Arc::from(note)));
            // After the note is out: a delivery that finishes in between may mark the
            // witness caught up, and this puts it behind again, never the other way.
            for witness in &self.stats {
                witness.offered();
            }
        }
    }

    /// Delivers the newest checkpoint to every witness once more if it has not been,
    /// then stops. Blocks until done.
    pub fn close(&mut self) {
        self.latest = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Publisher {
    /// [`Publisher::close`] from async code: the join waits on a blocking thread, so
    /// the calling runtime goes on driving its tasks meanwhile — a witness delivery may
    /// be waiting on a database connection whose task that runtime drives, and joining
    /// on the runtime's own thread would wait for it forever.
    pub async fn close_async(&mut self) {
        self.latest = None;
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.close();
    }
}

/// One witness's delivery loop: the newest note, at most once per period, until the
/// writer closes; then the newest once more.
async fn deliver(
    store: Arc<dyn Store>,
    origin: String,
    witness: Arc<dyn Witness>,
    stats: Arc<WitnessStats>,
    mut latest: watch::Receiver<Option<Arc<str>>>,
) {
    let mut delivered: Option<Arc<str>> = None;
    let mut open = true;
    loop {
        let newest = latest.borrow_and_update().clone();
        let due = newest.filter(|n| delivered.as_ref() != Some(n));
        let attempted = due.is_some();
        if let Some(note) = due {
            match publish_checked(store.as_ref(), &origin, witness.as_ref(), &note).await {
                Ok(()) => {
                    if latest.borrow().as_deref() == Some(&*note) {
                        stats.caught_up();
                    }
                    delivered = Some(note);
                }
                Err(error) => {
                    stats.failed();
                    tracing::error!(witness = %witness.describe(), %error, "checkpoint not delivered to witness");
                }
            }
        }
        if !open {
            return;
        }
        if attempted {
            // Coalesce: nothing more for a period after a delivery (closing cuts it
            // short)...
            open = tokio::select! {
                _ = tokio::time::sleep(WITNESS_PERIOD) => true,
                _ = closed(&mut latest) => false,
            };
        }
        // ...then wait for a newer note, unless one came meanwhile or the last delivery
        // failed (then go on at once: a retry).
        let pending = delivered.as_deref() != latest.borrow().as_deref();
        if open && !pending {
            open = latest.changed().await.is_ok();
        }
    }
}

/// Resolves when the writer has dropped its side.
async fn closed(latest: &mut watch::Receiver<Option<Arc<str>>>) {
    while latest.changed().await.is_ok() {}
}

/// Publishes `note` unless the witness holds a newer checkpoint, or one this log does
/// not extend (kept: it is the evidence of a rollback or rewrite).
async fn publish_checked(
    store: &dyn Store,
    origin: &str,
    witness: &dyn Witness,
    note: &str,
) -> Result<(), String> {
    let new = checkpoint::parse_unverified(note).map_err(|e| e.to_string())?;
    if let Some(held) = witness.latest().await? {
        // The witness first, then the log (see `check_witnesses`).
        let size = store.audit_size().await.map_err(|e| e.to_string())?;
        let held = check_held(store, origin, size, &held)
            .await
            .map_err(|why| format!("not replacing what it holds: {why}"))?;
        if held.size >= new.size {
            return Ok(()); // another process sharing the witness is as far or further
        }
    }
    witness.publish(note).await
}

#[cfg(test)]
mod tests;
