//! The audit pages: the record searched and paged, and one event with its inclusion
//! proof checked against the organisation's keys.

use super::views::{PAGE_SIZE, unavailable};
use super::{Console, ConsoleError};
use crate::audit::read::{self, InclusionProofDoc};
use crate::audit::search::{self, Filter};
use moat_audit::checkpoint::VerifierKey;
use moat_audit::event::Event;

/// Events one audit page reads at most while filtering (the rest is the next page's).
pub const AUDIT_SCAN: usize = 20_000;

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub filter: Filter,
    /// First sequence number to read; `None`: the newest page (no filter) or the start.
    pub from: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct AuditPage {
    pub events: Vec<Event>,
    /// The log's size (events in all).
    pub size: u64,
    /// Where this page started.
    pub from: u64,
    /// Where the next page starts, if the log goes on.
    pub next_from: Option<u64>,
}

/// One event, its inclusion proof and whether the proof verifies against the keys.
#[derive(Debug, Clone)]
pub struct EventDetail {
    pub event: Event,
    pub proof: InclusionProofDoc,
    /// `Ok` when the event is provably in the signed log; else why not.
    pub verified: Result<(), String>,
}

impl Console {
    /// One page of the record.
    pub async fn audit_page(&self, query: &AuditQuery) -> Result<AuditPage, ConsoleError> {
        let size = self
            .store
            .audit_latest_checkpoint()
            .await
            .map_err(unavailable)?
            .map_or(0, |(size, _)| size);
        let unfiltered = query.filter.actor.is_none()
            && query.filter.action.is_none()
            && query.filter.repo.is_none()
            && query.filter.since.is_none()
            && query.filter.until.is_none();
        // Unfiltered, the newest page; filtered, from the start (or where asked).
        let from = query.from.unwrap_or(if unfiltered {
            size.saturating_sub(PAGE_SIZE as u64)
        } else {
            0
        });
        let page = search::search(
            self.store.as_ref(),
            &query.filter,
            from,
            PAGE_SIZE,
            AUDIT_SCAN,
        )
        .await
        .map_err(unavailable)?;
        Ok(AuditPage {
            events: page.events,
            size,
            from,
            next_from: page.next_from,
        })
    }

    /// One event with its inclusion proof, checked against `keys`.
    pub async fn audit_event(
        &self,
        seq: u64,
        keys: &[VerifierKey],
    ) -> Result<EventDetail, ConsoleError> {
        let event = read::events(self.store.as_ref(), seq, 1)
            .await
            .map_err(unavailable)?
            .into_iter()
            .find(|e| e.seq == seq)
            .ok_or_else(|| ConsoleError::NotFound(format!("no event {seq} in the log")))?;
        let proof = read::prove(self.store.as_ref(), seq)
            .await
            .map_err(unavailable)?;
        let verified = read::verify_proof_doc(&proof, keys);
        Ok(EventDetail {
            event,
            proof,
            verified,
        })
    }
}
