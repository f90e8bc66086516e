//! The audit log's sequencer, where several nodes append to one log (PostgreSQL): each
//! node queues its records durably ([`crate::Store::audit_enqueue`]); the one node whose
//! [`AuditSeat`] holds the sequencer role takes what is queued, numbers it, extends the
//! tree and appends it with a signed checkpoint in one transaction, marking each queued
//! record with its sequence number; the queuing node then collects the numbers
//! ([`crate::Store::audit_dequeue`]) and acknowledges. When the holder dies its
//! connection goes and the role with it; the next seat to ask takes it over.

use crate::{AuditCheckpoint, AuditProvenance, AuditRow, StoreResult};
use async_trait::async_trait;
use std::time::Duration;

/// A record handed to the sequencer: its event body (JSON), not numbered yet, and what
/// is stored with it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedRecord {
    pub body: Vec<u8>,
    /// A request/response body the event references by hash.
    pub content: Option<Vec<u8>>,
    pub provenance: Option<AuditProvenance>,
}

/// One node's seat at the sequencer, on a connection of its own. At most one seat holds
/// the role at a time, across every node; its appends run on the seat's connection, so
/// a holder whose connection was lost (and the role with it) can append nothing more.
#[async_trait]
pub trait AuditSeat: Send {
    /// Takes the role if no seat holds it (connecting first if the seat has no live
    /// connection); true while this seat holds it. A lost connection loses the role.
    async fn try_lead(&mut self) -> StoreResult<bool>;
    /// Waits at most `timeout` for another node to queue or append records; true if
    /// one did. Without a live connection it waits out the timeout.
    async fn wait(&mut self, timeout: Duration) -> StoreResult<bool>;
    /// The oldest queued records, at most `limit`, each with its queue id (holder
    /// only). Empty without a read when nothing was queued since the last call (the
    /// queue is read anyway at least every 100 ms).
    async fn take(&mut self, limit: usize) -> StoreResult<Vec<(u64, QueuedRecord)>>;
    /// Appends events numbered from `size` on, as [`crate::Store::audit_append`] does,
    /// and marks each `(queue id, sequence number)` of `numbered`, in one transaction.
    /// `Conflict`, with nothing kept, if the log is not `size` events long (another
    /// writer appended) or a record is no longer queued.
    async fn append(
        &mut self,
        size: u64,
        events: &[AuditRow],
        nodes: &[(u64, [u8; 32])],
        checkpoint: &AuditCheckpoint,
        numbered: &[(u64, u64)],
    ) -> StoreResult<()>;
}
