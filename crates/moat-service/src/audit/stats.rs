//! What the audit writer and its witnesses report about themselves, for `/metrics`:
//! commit latency, the log's size, events not yet in a signed checkpoint, and how far
//! behind each witness is. Atomics written by the writer and witness threads, read at
//! scrape time.

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug)]
pub struct AuditStats {
    /// Time to make one batch durable (its events, tree nodes and checkpoint).
    pub(super) commit_seconds: Histogram,
    /// Events in the log.
    events: AtomicU64,
    /// Events in the newest signed checkpoint.
    signed: AtomicU64,
    /// A [`Sequencer`] as its index.
    sequencer: AtomicU8,
    /// This node's records queued for another node's sequencer, not yet appended.
    awaiting: AtomicU64,
    pub(super) witnesses: Vec<Arc<WitnessStats>>,
}

/// One witness's delivery state.
#[derive(Debug)]
pub struct WitnessStats {
    pub name: String,
    /// Milliseconds from `epoch` (plus one) since when the witness has not held the
    /// newest checkpoint; 0 while it does.
    behind_since: AtomicU64,
    failures: AtomicU64,
    epoch: Instant,
}

/// How this node's writer orders its events with other nodes'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sequencer {
    /// The embedded store: this process is the log's only writer.
    SingleWriter,
    /// Nodes on one PostgreSQL database: another node's writer is the elected
    /// sequencer (or none is yet); this node queues its records for it.
    Follower,
    /// This node's writer is the elected sequencer: it appends every node's records.
    Leader,
}

impl Sequencer {
    const ALL: [Sequencer; 3] = [
        Sequencer::SingleWriter,
        Sequencer::Follower,
        Sequencer::Leader,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sequencer::SingleWriter => "single-writer",
            Sequencer::Follower => "follower",
            Sequencer::Leader => "leader",
        }
    }
}

/// The audit log's state at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSnapshot {
    /// Records waiting for the writer, and how many may wait before 503.
    pub queue_depth: u64,
    pub queue_capacity: u64,
    pub events: u64,
    /// Events durable but in no signed checkpoint yet (0 while every batch is signed
    /// in its own transaction).
    pub unsigned_events: u64,
    pub sequencer: Sequencer,
    /// Records queued for another node's sequencer and not yet appended.
    pub awaiting_sequencer: u64,
    pub witnesses: Vec<WitnessSnapshot>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WitnessSnapshot {
    pub name: String,
    /// Seconds since the witness last held the newest checkpoint (0: it holds it).
    pub behind_seconds: f64,
    /// Deliveries that failed since the server started.
    pub failures: u64,
}

impl AuditStats {
    pub(super) fn new(witness_names: Vec<String>, events: u64, signed: u64) -> AuditStats {
        let epoch = Instant::now();
        AuditStats {
            // 0.1 ms to about 6.5 s.
            commit_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 17)),
            events: AtomicU64::new(events),
            signed: AtomicU64::new(signed),
            sequencer: AtomicU8::new(0),
            awaiting: AtomicU64::new(0),
            witnesses: witness_names
                .into_iter()
                .map(|name| {
                    Arc::new(WitnessStats {
                        name,
                        behind_since: AtomicU64::new(0),
                        failures: AtomicU64::new(0),
                        epoch,
                    })
                })
                .collect(),
        }
    }

    pub(super) fn committed(&self, events: u64, signed: u64, took: std::time::Duration) {
        self.events.store(events, Ordering::Relaxed);
        self.signed.store(signed, Ordering::Relaxed);
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// A checkpoint of the whole log, `events` long, was signed outside a batch.
    pub(super) fn signed_at(&self, events: u64) {
        self.events.fetch_max(events, Ordering::Relaxed);
        self.signed.fetch_max(events, Ordering::Relaxed);
    }

    pub(super) fn set_awaiting(&self, records: usize) {
        self.awaiting.store(records as u64, Ordering::Relaxed);
    }

    pub(super) fn set_sequencer(&self, sequencer: Sequencer) {
        self.sequencer.store(sequencer as u8, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self, queue_depth: u64, queue_capacity: u64) -> AuditSnapshot {
        let events = self.events.load(Ordering::Relaxed);
        AuditSnapshot {
            queue_depth,
            queue_capacity,
            events,
            unsigned_events: events.saturating_sub(self.signed.load(Ordering::Relaxed)),
            sequencer: Sequencer::ALL[usize::from(self.sequencer.load(Ordering::Relaxed)).min(2)],
            awaiting_sequencer: self.awaiting.load(Ordering::Relaxed),
            witnesses: self.witnesses.iter().map(|w| w.snapshot()).collect(),
        }
    }
}

impl WitnessStats {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// A newer checkpoint exists: the witness is behind from now, unless it already was.
    pub(super) fn offered(&self) {
        let _ =
            self.behind_since
                .compare_exchange(0, self.now(), Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The witness holds the newest checkpoint.
    pub(super) fn caught_up(&self) {
        self.behind_since.store(0, Ordering::Relaxed);
    }

    pub(super) fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> WitnessSnapshot {
        let since = self.behind_since.load(Ordering::Relaxed);
        let behind = if since == 0 {
            0.0
        } else {
            self.now().saturating_sub(since) as f64 / 1000.0
        };
        WitnessSnapshot {
            name: self.name.clone(),
            behind_seconds: behind,
            failures: self.failures.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_witness_is_behind_from_the_first_undelivered_checkpoint_until_it_holds_the_newest() {
        let stats = AuditStats::new(vec!["file:/w".into()], 10, 10);
        let witness = &stats.witnesses[0];
        assert_eq!(stats.snapshot(0, 8).witnesses[0].behind_seconds, 0.0);
        witness.offered();
        std::thread::sleep(std::time::Duration::from_millis(30));
        witness.offered(); // a newer one: still behind since the first
        let behind = stats.snapshot(0, 8).witnesses[0].behind_seconds;
        assert!(behind >= 0.03, "{behind}");
        witness.failed();
        witness.caught_up();
        let snapshot = stats.snapshot(3, 8);
        assert_eq!(snapshot.witnesses[0].behind_seconds, 0.0);
        assert_eq!(snapshot.witnesses[0].failures, 1);
        assert_eq!((snapshot.queue_depth, snapshot.queue_capacity), (3, 8));
        stats.committed(15, 12, std::time::Duration::from_millis(2));
        assert_eq!(stats.snapshot(0, 8).unsigned_events, 3);
    }
}
