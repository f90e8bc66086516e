//! Exports of the log that a SIEM ingests as they are and an auditor checks without
//! Moat's database (`moat audit export`, the console's download).
//!
//! JSONL: one flat JSON object per line, the event's own fields (its canonical JSON)
//! plus `leaf_hash`. CSV: one row per event naming what changed (operation, phase,
//! tool, query, decision, rule, reason). OCSF: each event as an OCSF 1.5.0 record. The
//! checkpoint the proofs lead to, the public keys and each event's inclusion proof go
//! to a manifest beside the export, so the export holds events only.

use super::AuditError;
use super::read;
use super::search::{self, Filter};
use moat_audit::checkpoint::VerifierKey;
use moat_audit::event::Event;
use moat_store::Store;
use serde_json::{Value, json};
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
    Ocsf,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Ocsf => "ocsf",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The request cannot be met as asked (an empty range, a bad time); safe to show.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

pub const CSV_HEADER: &str = "seq,time,action,operation,phase,tool,query,actor_user,actor_email,token_id,client,address,decision,rule,reason,repos,objects,policy_version,leaf_hash";

/// One event as a CSV row under [`CSV_HEADER`].
pub fn csv_row(event: &Event, leaf_hash: &str) -> String {
    let b = &event.body;
    let or_empty = |v: &Option<String>| v.clone().unwrap_or_default();
    let detail = |key: &str| b.details[key].as_str().unwrap_or_default().to_string();
    // What was asked: an MCP call's query, a search's (redacted before it was recorded).
    let query = b.details["arguments"]["query"]
        .as_str()
        .or_else(|| b.details["query"].as_str())
        .unwrap_or_default()
        .to_string();
    crate::csv::row(&[
        event.seq.to_string(),
        event.time.clone(),
        b.action.clone(),
        detail("operation"),
        detail("phase"),
        detail("tool"),
        query,
        or_empty(&b.actor.user),
        or_empty(&b.actor.email),
        or_empty(&b.actor.token_id),
        or_empty(&b.actor.client),
        or_empty(&b.actor.address),
        format!("{:?}", b.decision.outcome).to_lowercase(),
        or_empty(&b.decision.rule),
        or_empty(&b.decision.reason),
        b.resources.repos.join(" "),
        b.resources.objects.join(" "),
        b.policy_version.clone(),
        leaf_hash.to_string(),
    ])
}

/// Writes events `first..=last` to `out` in `format` (a CSV header first); returns
/// each event's proof into checkpoint `at` (its size and signed note) for the manifest,
/// however the log grew meanwhile.
pub async fn write_events<W: Write + ?Sized>(
    store: &dyn Store,
    format: Format,
    range: Option<(u64, u64)>,
    at: (u64, &str),
    out: &mut W,
) -> Result<Vec<Value>, ExportError> {
    if format == Format::Csv {
        writeln!(out, "{CSV_HEADER}")?;
    }
    let mut proofs = Vec::new();
    let Some((first, last)) = range else {
        return Ok(proofs);
    };
    let corrupt = |e: serde_json::Error| AuditError::Corrupt(e.to_string());
    for seq in first..=last {
        let doc = read::prove_at(store, seq, at.0, at.1.to_string()).await?;
        match format {
            Format::Jsonl => {
                let mut event: Value = serde_json::from_str(&doc.event).map_err(corrupt)?;
                event["leaf_hash"] = Value::String(doc.leaf_hash.clone());
                writeln!(out, "{event}")?;
            }
            Format::Csv => {
                let event = Event::from_canonical(doc.event.as_bytes())
                    .map_err(|e| AuditError::Corrupt(e.to_string()))?;
                writeln!(out, "{}", csv_row(&event, &doc.leaf_hash))?;
            }
            Format::Ocsf => {
                let event = Event::from_canonical(doc.event.as_bytes())
                    .map_err(|e| AuditError::Corrupt(e.to_string()))?;
                let mut flat: Value = serde_json::from_str(&doc.event).map_err(corrupt)?;
                flat["leaf_hash"] = Value::String(doc.leaf_hash.clone());
                writeln!(out, "{}", super::ocsf::to_ocsf(&event, &flat))?;
            }
        }
        // A CSV or OCSF line is not the hashed event: the manifest carries it.
        let mut proof = json!({"seq": seq, "leaf_hash": doc.leaf_hash, "proof": doc.proof});
        if format != Format::Jsonl {
            proof["event"] = Value::String(doc.event);
        }
        proofs.push(proof);
    }
    Ok(proofs)
}

/// The manifest beside an export: the checkpoint (`note`, of `size`) its proofs lead
/// to, the keys that sign it, the range and each event's proof.
pub fn manifest(
    format: Format,
    note: &str,
    size: u64,
    keys: &[VerifierKey],
    range: Option<(u64, u64)>,
    proofs: Vec<Value>,
) -> Value {
    json!({
        "moat_audit_export": 2,
        "format": format.as_str(),
        "checkpoint": note,
        "tree_size": size,
        "keys": keys.iter().map(|k| k.to_text()).collect::<Vec<_>>(),
        "from_seq": range.map(|r| r.0),
        "to_seq": range.map(|r| r.1),
        "proofs": proofs,
    })
}

/// The inclusive sequence range named by `from` and `to` (sequence numbers, or times
/// as `moat audit search` takes them) in a log of `size` events; `None` when it holds
/// no event.
pub async fn resolve_range(
    store: &dyn Store,
    from: Option<&str>,
    to: Option<&str>,
    size: u64,
) -> Result<Option<(u64, u64)>, ExportError> {
    if size == 0 {
        return Ok(None);
    }
    let as_seq = |text: &str| text.trim().parse::<u64>().ok();
    // The first event at or after `time`.
    let first_since = |time: String| async move {
        let filter = Filter {
            since: Some(time),
            ..Filter::default()
        };
        let page = search::search(store, &filter, 0, 1, usize::MAX).await?;
        Ok::<_, ExportError>(page.events.first().map(|e| e.seq))
    };
    let time = |text: &str| search::normalize_time(text.trim()).map_err(ExportError::Usage);
    let first = match from.map(str::trim).filter(|t| !t.is_empty()) {
        None => 0,
        Some(text) => match as_seq(text) {
            Some(seq) => seq,
            None => match first_since(time(text)?).await? {
                Some(seq) => seq,
                None => return Ok(None),
            },
        },
    };
    let last = match to.map(str::trim).filter(|t| !t.is_empty()) {
        None => size - 1,
        Some(text) => match as_seq(text) {
            Some(seq) => seq.min(size - 1),
            None => match first_since(time(text)?).await? {
                Some(0) => return Ok(None),
                Some(seq) => seq - 1,
                None => size - 1,
            },
        },
    };
    if first > last {
        return Err(ExportError::Usage(format!(
            "the range is empty: from {first} to {last}"
        )));
    }
    Ok(Some((first, last)))
}
