//! The access matrix at the period's start and end, rebuilt from the recorded access
//! state nearest each moment (`crate::access::states`). Of the state taken last before
//! the moment and the one taken first after it, the pack uses the one with fewer
//! recorded changes between it and the moment (the earlier on a tie), writes those
//! changes beside it and says how many there were: with none, the matrix is exactly
//! the one in force at that moment. A state is used only if the audit log names it (its
//! `access.snapshot` event, with the same day, log size and SHA-256): a row rewritten in
//! the store, body and hash together, is not evidence.

use super::pack::PackWriter;
use super::sections::contains;
use super::{EvidenceError, PAGE, observe};
use crate::access::states;
use moat_domain::UnixTime;
use moat_policy::Authorizer;
use moat_store::{AccessState, Store};
use std::io::{Seek, Write};

/// A moment of the period: its time and the first audit event at or after it.
pub struct Moment<'a> {
    /// `start` or `end`: the files are `access/matrix-at-<name>.csv` and beside it.
    pub name: &'a str,
    pub at: UnixTime,
    pub seq: u64,
}

/// Writes the matrix as `authorizer` decides it, page by page, to `path`.
pub fn write_matrix<W: Write + Seek>(
    pack: &mut PackWriter<W>,
    path: &str,
    authorizer: &Authorizer,
) -> Result<(), EvidenceError> {
    let mut matrix = pack.stream(path)?;
    matrix.write_all(crate::access::MATRIX_CSV_HEADER.as_bytes())?;
    let mut after: Option<String> = None;
    loop {
        let (cells, next) = authorizer.matrix_page(after.as_deref(), PAGE);
        for cell in &cells {
            matrix.write_all(crate::access::matrix_csv_row(cell).as_bytes())?;
        }
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    matrix.done();
    Ok(())
}

/// Writes the state, the matrix and the changes between them for `moment`; returns
/// what it used (for `access/states.json`), or `None` when no state was ever taken.
pub async fn write_at<W: Write + Seek>(
    pack: &mut PackWriter<W>,
    store: &dyn Store,
    moment: &Moment<'_>,
) -> Result<Option<serde_json::Value>, EvidenceError> {
    let mut best: Option<(AccessState, u64, u64)> = None;
    for before in [true, false] {
        let Some(state) = store.access_state_near(moment.at, before).await? else {
            continue;
        };
        // Only a state the log names (day, size and SHA-256) is evidence: one whose row
        // was rewritten, or whose event a crash lost, is passed over.
        let Some(recorded) = recorded_seq(store, &state).await? else {
            tracing::warn!(day = %state.day, "an access state no audit event names is not used");
            continue;
        };
        let count = changes_between(store, &state, moment.seq, None::<&mut Vec<u8>>).await?;
        if best.as_ref().is_none_or(|(_, fewest, _)| count < *fewest) {
            best = Some((state, count, recorded));
        }
    }
    let Some((state, count, recorded)) = best else {
        return Ok(None);
    };
    let corrupt = |e: states::StateError| EvidenceError::Corrupt(e.to_string());
    let json = states::json_of(store, &state).await.map_err(corrupt)?;
    let org = states::org_of(&state, &json).map_err(corrupt)?;
    let authorizer = Authorizer::new(&org).map_err(|e| {
        EvidenceError::Corrupt(format!(
            "the access state of {} cannot be decided: {e}",
            state.day
        ))
    })?;
    let name = moment.name;
    pack.file(&format!("access/state-at-{name}.json"), &json)?;
    write_matrix(pack, &format!("access/matrix-at-{name}.csv"), &authorizer)?;
    {
        let mut changes = pack.stream(&format!("access/changes-between-state-and-{name}.jsonl"))?;
        changes_between(store, &state, moment.seq, Some(&mut changes)).await?;
        changes.done();
    }
    let side = if state.log_size <= moment.seq {
        "before"
    } else {
        "after"
    };
    Ok(Some(serde_json::json!({
        "moment": name,
        "at": moment.at.to_rfc3339(),
        "first_seq_at_or_after": moment.seq,
        "state": {
            "day": state.day,
            "taken_at": state.taken_at.to_rfc3339(),
            "log_size": state.log_size,
            "sha256": state.sha256,
            "recorded_seq": recorded,
            "file": format!("access/state-at-{name}.json"),
        },
        "state_taken": side,
        "changes_between": count,
        "exact": count == 0,
    })))
}

/// How far after a state's `log_size` its `access.snapshot` event is looked for: it is
/// recorded right after the state is kept, behind at most the events queued meanwhile.
const RECORDED_WITHIN: u64 = 100_000;

/// The `access.snapshot` event that names `state` (its day, log size and SHA-256).
async fn recorded_seq(
    store: &dyn Store,
    state: &AccessState,
) -> Result<Option<u64>, EvidenceError> {
    #[derive(serde::Deserialize)]
    struct Recorded {
        action: String,
        #[serde(default)]
        details: serde_json::Value,
    }
    let end = store
        .audit_size()
        .await?
        .min(state.log_size.saturating_add(RECORDED_WITHIN));
    let mut next = state.log_size;
    while next < end {
        let leaves = store.audit_leaves(next, PAGE).await?;
        if leaves.is_empty() {
            break;
        }
        for leaf in leaves.into_iter().take_while(|l| l.seq < end) {
            next = leaf.seq + 1;
            if !contains(&leaf.canonical, b"access.snapshot") {
                continue;
            }
            let event: Recorded = serde_json::from_slice(&leaf.canonical).map_err(|e| {
                EvidenceError::Corrupt(format!("event {} cannot be read: {e}", leaf.seq))
            })?;
            let d = &event.details;
            if event.action == "access.snapshot"
                && d["day"] == state.day.as_str()
                && d["sha256"] == state.sha256.as_str()
                && d["log_size"] == state.log_size
            {
                return Ok(Some(leaf.seq));
            }
        }
    }
    Ok(None)
}

/// The recorded changes between the state (every change before its `log_size` is in
/// it) and the moment (`seq`): written to `out` when given; returns how many.
async fn changes_between<O: Write>(
    store: &dyn Store,
    state: &AccessState,
    seq: u64,
    mut out: Option<&mut O>,
) -> Result<u64, EvidenceError> {
    #[derive(serde::Deserialize)]
    struct Action {
        action: String,
    }
    let (mut next, end) = if state.log_size <= seq {
        (state.log_size, seq)
    } else {
        (seq, state.log_size)
    };
    let mut count = 0;
    while next < end {
        let leaves = store.audit_leaves(next, PAGE).await?;
        if leaves.is_empty() {
            return Err(EvidenceError::Corrupt(format!("event {next} is missing")));
        }
        for leaf in leaves.into_iter().take_while(|l| l.seq < end) {
            next = leaf.seq + 1;
            let action: Action = serde_json::from_slice(&leaf.canonical).map_err(|e| {
                EvidenceError::Corrupt(format!("event {} cannot be read: {e}", leaf.seq))
            })?;
            if observe::is_change(&action.action) {
                count += 1;
                if let Some(out) = out.as_mut() {
                    out.write_all(&leaf.canonical)?;
                    out.write_all(b"\n")?;
                }
            }
        }
    }
    Ok(count)
}
