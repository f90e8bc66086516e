//! The audit pages: the record searched and paged, and one event with its inclusion
//! proof checked against the organisation's keys.

use super::views::{PAGE_SIZE, unavailable};
use super::{Console, ConsoleError, SignedIn};
use crate::audit::export::{self, ExportError, Format};
use crate::audit::read::{self, InclusionProofDoc, VerifyError};
use crate::audit::search::{self, Filter};
use moat_audit::checkpoint::VerifierKey;
use moat_audit::event::Event;
use moat_audit::verify::{Failure, Report};
use moat_policy::Action;

/// Events one download from the console holds at most; `moat audit export` has no bound.
pub const EXPORT_MAX: u64 = 100_000;

/// What a download is: the events, or the manifest that proves them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportPart {
    Events,
    Manifest,
}

/// A download: its file name, media type and body.
#[derive(Debug, Clone)]
pub struct Download {
    pub file_name: String,
    pub media_type: &'static str,
    pub body: Vec<u8>,
}

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

    /// Recomputes the whole log and checks every checkpoint, the deployment's witness
    /// files' copies included, as `moat audit verify` does: the report, or the first
    /// failure. Its cost grows with the log (read once, hashed once).
    pub async fn verify(
        &self,
        keys: Vec<VerifierKey>,
        witness_files: &[std::path::PathBuf],
    ) -> Result<Result<Report, Failure>, ConsoleError> {
        match read::verify_with_witness_files(
            self.store.clone(),
            keys,
            witness_files,
            Vec::new(),
            |_, _| {},
        )
        .await
        {
            Ok(report) => Ok(Ok(report)),
            Err(VerifyError::Failed(failure)) => Ok(Err(failure)),
            Err(VerifyError::Store(error)) => Err(unavailable(error)),
        }
    }

    /// Events `from`..=`to` (sequence numbers or times) as a download in `format`, or
    /// the manifest with their proofs into a checkpoint signed now. `ExportEvidence`,
    /// decided by Cedar, and on the record as a read; at most [`EXPORT_MAX`] events.
    #[allow(clippy::too_many_arguments)]
    pub async fn export(
        &self,
        signed: &SignedIn,
        address: Option<String>,
        from: Option<&str>,
        to: Option<&str>,
        format: Format,
        part: ExportPart,
        keys: &[VerifierKey],
    ) -> Result<Download, ConsoleError> {
        self.authorize(
            signed,
            address.clone(),
            Action::ExportEvidence,
            "audit.export",
        )
        .await?;
        let (size, note) = self.audit.checkpoint().await.map_err(unavailable)?;
        let range = export::resolve_range(self.store.as_ref(), from, to, size)
            .await
            .map_err(export_error)?;
        if let Some((first, last)) = range
            && last - first + 1 > EXPORT_MAX
        {
            return Err(ConsoleError::Invalid(format!(
                "events {first} to {last} are {} events; a download from the console holds at most {EXPORT_MAX}: narrow the range, or use `moat audit export`",
                last - first + 1
            )));
        }
        let what = match range {
            Some((first, last)) => format!("audit.export/{first}-{last}"),
            None => "audit.export/empty".to_string(),
        };
        self.record_read(signed, address, &what).await?;
        let mut events = Vec::new();
        let proofs = export::write_events(
            self.store.as_ref(),
            format,
            range,
            (size, &note),
            &mut events,
        )
        .await
        .map_err(export_error)?;
        let stem = match range {
            Some((first, last)) => format!("moat-audit-{first}-{last}"),
            None => "moat-audit-empty".to_string(),
        };
        Ok(match part {
            ExportPart::Events => Download {
                file_name: format!("{stem}.{}", format.as_str()),
                media_type: match format {
                    Format::Csv => "text/csv; charset=utf-8",
                    Format::Jsonl | Format::Ocsf => "application/x-ndjson",
                },
                body: events,
            },
            ExportPart::Manifest => Download {
                file_name: format!("{stem}.{}.manifest.json", format.as_str()),
                media_type: "application/json",
                body: export::manifest(format, &note, size, keys, range, proofs)
                    .to_string()
                    .into_bytes(),
            },
        })
    }
}

fn export_error(error: ExportError) -> ConsoleError {
    match error {
        ExportError::Usage(message) => ConsoleError::Invalid(message),
        other => unavailable(other),
    }
}
