//! The evidence pack a security review asks for, produced from what Moat enforced and
//! recorded over a period (`moat evidence export`), and checked offline by anyone with
//! the audit public key (`moat evidence verify`).
//!
//! One pass over the period's events writes the audit extract into the zip and
//! gathers everything else read off the record (configuration versions, changes,
//! people, alerts, statistics); the rest comes from the store and the configuration
//! at export. Every file is hashed as it is written; the manifest lists the hashes and
//! is signed with the audit key. Memory stays bounded whatever the period's size: the
//! extract streams, changes and alerts go to side files, and the rest is counts.

mod controls;
pub(crate) mod extract;
mod matrix;
mod observe;
mod pack;
mod people;
mod sections;
mod verify;

pub use controls::{CONTROLS, Control};
pub use extract::RangeProof;
pub use pack::{Listed, MANIFEST, SIGNATURE};
pub use verify::{Failure, Verified, verify};

use crate::access::Access;
use crate::admin::{Admin, AdminActor};
use crate::audit::AuditError;
use crate::exceptions::ExceptionRules;
use crate::policy_document;
use moat_audit::checkpoint::{SigningKey, VerifierKey};
use moat_audit::event::{Outcome, event_leaf_hash};
use moat_domain::UnixTime;
use std::io::{Seek, Write};
use std::path::PathBuf;

/// Events read from the store per query.
const PAGE: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The request cannot be met as asked; safe to show.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("the pack cannot be written: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] moat_store::StoreError),
    /// What was read does not check out; the pack is not produced.
    #[error("the log does not check out, so no pack was produced: {0}")]
    Corrupt(String),
}

/// The period a pack covers: events from `from` up to, not including, `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// RFC 3339 with milliseconds, as events carry their time.
    pub from: String,
    pub to: String,
}

impl Period {
    /// `from` and `to` as dates (`2026-10-01`) or RFC 3339 times. A date as `to`
    /// includes that whole day.
    pub fn parse(from: &str, to: &str) -> Result<Period, EvidenceError> {
        use crate::audit::search::normalize_time;
        let from = normalize_time(from.trim()).map_err(EvidenceError::Usage)?;
        let to = match UnixTime::from_date(to.trim()) {
            Some(day) => normalize_time(&day.plus_seconds(86_400).to_rfc3339()),
            None => normalize_time(to.trim()),
        }
        .map_err(EvidenceError::Usage)?;
        if from >= to {
            return Err(EvidenceError::Usage(format!(
                "the period is empty: it starts at {from} and ends at {to}; --to comes after --from"
            )));
        }
        Ok(Period { from, to })
    }

    /// `days` whole days from the start of the date `from` (`2026-10-01`), ending no
    /// later than the last second of year 9999.
    pub fn days(from: &str, days: u32) -> Result<Period, EvidenceError> {
        let start = UnixTime::from_date(from.trim()).ok_or_else(|| {
            EvidenceError::Usage(format!("`{from}` is not a date such as 2026-10-01"))
        })?;
        if days == 0 {
            return Err(EvidenceError::Usage(
                "the period is empty: give at least one day".into(),
            ));
        }
        let last =
            UnixTime::from_date("9999-12-31").map_or(i64::MAX, |day| day.plus_seconds(86_399).0);
        let end = UnixTime(start.plus_seconds(i64::from(days) * 86_400).0.min(last));
        Period::parse(&start.to_rfc3339(), &end.to_rfc3339())
    }
}

/// What a pack is made from.
pub struct Evidence<'a> {
    pub access: &'a Access,
    pub admin: &'a Admin<'a>,
    /// The configuration in force at export.
    pub policy: &'a policy_document::Inputs,
    pub exception_rules: ExceptionRules,
    pub signing: &'a SigningKey,
    /// Every key checkpoints may be signed with (rotation keeps old ones).
    pub keys: &'a [VerifierKey],
    pub witness_files: &'a [PathBuf],
    /// The most events a pack may hold here (a download held in memory); none for a
    /// file.
    pub max_events: Option<u64>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    pub manifest_sha256: String,
    pub first_seq: u64,
    pub end_seq: u64,
    pub checkpoint_size: u64,
    /// Files listed in the manifest (the manifest and its signature besides).
    pub files: usize,
    pub joiners: usize,
    pub leavers: usize,
    pub changes: u64,
}

impl Evidence<'_> {
    /// Writes the pack for `period` to `out`, on the record (`evidence.export`, before
    /// and after). `progress(done, total)` is called as events are written.
    pub async fn export<W: Write + Seek>(
        &self,
        actor: &AdminActor,
        period: &Period,
        out: W,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<(W, Exported), EvidenceError> {
        let store = self.access.store();
        let audit = self.admin.audit;
        let (size, note) = audit.checkpoint().await?;
        let first = extract::first_at_or_after(store, size, &period.from).await?;
        let end = extract::first_at_or_after(store, size, &period.to)
            .await?
            .max(first);
        if let Some(max) = self.max_events
            && end - first > max
        {
            return Err(EvidenceError::Usage(format!(
                "the period holds {} events; a pack written here holds at most {max}: choose a shorter period, or use `moat evidence export`",
                end - first
            )));
        }
        let what = format!("evidence/{}/{}", period.from, period.to);
        let asked = serde_json::json!({
            "phase": "requested", "from": period.from, "to": period.to,
            "first_seq": first, "end_seq": end, "checkpoint_size": size,
        });
        audit
            .record(self.event(actor, &what, asked))
            .await
            .map_err(EvidenceError::Audit)?;

        let tokens = store
            .tokens(None)
            .await?
            .into_iter()
            .map(|t| (t.id.0, t.user_id.0))
            .collect();
        let mut observer = observe::Observer::new(tokens)?;
        let mut pack = pack::PackWriter::new(out);
        let proof_witnesses = crate::audit::read::held_checkpoints(self.witness_files)?.0;
        let proof = extract::prove(store, (first, end), (size, &note), proof_witnesses).await?;
        let mut frontier = proof.frontier().map_err(EvidenceError::Corrupt)?;
        {
            let mut events = pack.stream("audit/events.jsonl")?;
            let mut seq = first;
            while seq < end {
                let leaves = store.audit_leaves(seq, PAGE).await?;
                if leaves.is_empty() {
                    return Err(EvidenceError::Corrupt(format!("event {seq} is missing")));
                }
                for leaf in leaves.into_iter().take_while(|l| l.seq < end) {
                    if leaf.seq != seq {
                        return Err(EvidenceError::Corrupt(format!("event {seq} is missing")));
                    }
                    events.write_all(&leaf.canonical)?;
                    events.write_all(b"\n")?;
                    frontier.push(event_leaf_hash(&leaf.canonical));
                    observer.observe(&leaf.canonical)?;
                    seq += 1;
                }
                progress(seq - first, end - first);
            }
            events.done();
        }
        // The pack's own check before it is signed: what it proves must hold.
        proof
            .check(&frontier.root(), self.keys)
            .map_err(EvidenceError::Corrupt)?;
        pack.file("audit/proof.json", &pretty(&proof)?)?;

        let written = sections::Sections {
            evidence: self,
            period,
            range: (first, end),
            checkpoint: (size, &note),
            observer,
        }
        .write(&mut pack)
        .await?;

        let header = serde_json::json!({
            "moat_evidence_pack": 1,
            "org": self.policy.config.org.name,
            "period": {"from": period.from, "to": period.to},
            "generated_at": self.access.now().to_rfc3339(),
            "policy_version": self.policy.policy_version,
            "audit": {"first_seq": first, "end_seq": end, "checkpoint_size": size},
            "signed_by": self.signing.verifier().to_text(),
        });
        let files = pack.files_written();
        let (out, manifest_sha256) = pack.finish(header, self.signing)?;
        let done = serde_json::json!({
            "phase": "applied", "from": period.from, "to": period.to,
            "first_seq": first, "end_seq": end, "manifest_sha256": manifest_sha256,
        });
        audit
            .record(self.event(actor, &what, done))
            .await
            .map_err(EvidenceError::Audit)?;
        Ok((
            out,
            Exported {
                manifest_sha256,
                first_seq: first,
                end_seq: end,
                checkpoint_size: size,
                files,
                joiners: written.joiners,
                leavers: written.leavers,
                changes: written.changes,
            },
        ))
    }

    fn event(
        &self,
        actor: &AdminActor,
        what: &str,
        details: serde_json::Value,
    ) -> moat_audit::event::EventBody {
        self.admin.event(
            actor,
            "evidence.export",
            what,
            Outcome::Allow,
            None,
            details,
        )
    }
}

pub(crate) fn pretty<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, EvidenceError> {
    serde_json::to_vec_pretty(value).map_err(|e| EvidenceError::Io(std::io::Error::other(e)))
}

#[cfg(test)]
mod tests;
