//! The access matrix at the period's start and end, rebuilt from the recorded access
//! state nearest each moment (`crate::access::states`). Of the state taken last before
//! the moment and the one taken first after it, the pack uses the one with fewer
//! recorded changes between it and the moment (the earlier on a tie), writes those
//! changes beside it and says how many there were: with none, the matrix is the one in
//! force at that moment (as far as recorded changes go: what time alone changes, an
//! exception's window or a training lapsing, is as of when the state was taken).
//!
//! Nothing of it is taken on the store's word. A state is used only if the event its
//! row names (`recorded_seq`) is an `access.snapshot` with the same day, log size and
//! SHA-256; and the pack carries the events from the state to the moment (and to that
//! event) as a second extract with its own proof into the signed log, so `moat evidence
//! verify` checks offline that the event names this state and that the changes listed
//! are all the changes between. A state that cannot be read or decided is reported in
//! `access/states.json` and the next nearest is tried.

use super::extract::{self, RangeProof};
use super::pack::PackWriter;
use super::{EvidenceError, PAGE, observe, pretty};
use crate::access::states;
use moat_audit::checkpoint::VerifierKey;
use moat_audit::event::event_leaf_hash;
use moat_domain::UnixTime;
use moat_policy::Authorizer;
use moat_store::{AccessState, Store};
use std::io::{Seek, Write};

/// The most events between a state and its moment a pack carries; a state further
/// away is not used.
const MAX_BETWEEN: u64 = 5_000_000;

/// A moment of the period: its time and the first audit event at or after it.
pub struct Moment<'a> {
    /// `start` or `end`: the files are `access/matrix-at-<name>.csv` and beside it.
    pub name: &'a str,
    pub at: UnixTime,
    pub seq: u64,
}

/// The signed checkpoint the pack proves into, and the keys that may have signed it.
pub struct Proving<'a> {
    pub size: u64,
    pub note: &'a str,
    pub keys: &'a [VerifierKey],
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

/// The events a state's check needs: from the earlier of its log size and the
/// moment to the later of the moment and its event.
pub(super) fn span(state: &AccessState, seq: u64) -> (u64, u64) {
    (
        state.log_size.min(seq),
        state
            .log_size
            .max(seq)
            .max(state.recorded_seq.saturating_add(1)),
    )
}

/// Writes the state, the matrix, the changes between and their proof for `moment`;
/// returns what it used and what it refused (for `access/states.json`).
pub async fn write_at<W: Write + Seek>(
    pack: &mut PackWriter<W>,
    store: &dyn Store,
    moment: &Moment<'_>,
    proving: &Proving<'_>,
) -> Result<serde_json::Value, EvidenceError> {
    let mut refused = Vec::new();
    let mut candidates: Vec<(u64, u64, bool, AccessState)> = Vec::new();
    for before in [true, false] {
        let Some(state) = store.access_state_near(moment.at, before).await? else {
            continue;
        };
        // A state taken at the moment itself is both the last before and the first after.
        if candidates.iter().any(|(_, _, _, c)| c.day == state.day) {
            continue;
        }
        let (lo, hi) = span(&state, moment.seq);
        if hi > proving.size {
            refused.push(refusal(&state, "recorded after the pack's checkpoint"));
            continue;
        }
        if hi - lo > MAX_BETWEEN {
            refused.push(refusal(
                &state,
                &format!("more than {MAX_BETWEEN} events away from the moment"),
            ));
            continue;
        }
        if let Err(why) = named_by_its_event(store, &state).await? {
            refused.push(refusal(&state, &why));
            continue;
        }
        let count = changes_in(store, between(&state, moment.seq), None::<&mut Vec<u8>>).await?;
        let unsure = changes_in(
            store,
            (state.log_size, state.recorded_seq),
            None::<&mut Vec<u8>>,
        )
        .await?;
        candidates.push((count, unsure, !before, state));
    }
    candidates.sort_by_key(|(count, unsure, after, _)| (*count + *unsure, *after));
    for (count, unsure, _, state) in candidates {
        let decided = match states::json_of(store, &state).await {
            Ok(json) => states::org_of(&state, &json)
                .and_then(|org| {
                    Authorizer::new(&org).map_err(|e| states::StateError::Unreadable {
                        day: state.day.clone(),
                        reason: format!("it cannot be decided: {e}"),
                    })
                })
                .map(|authorizer| (json, authorizer)),
            Err(error) => Err(error),
        };
        let (json, authorizer) = match decided {
            Ok(decided) => decided,
            Err(error) => {
                refused.push(refusal(&state, &error.to_string()));
                continue;
            }
        };
        let name = moment.name;
        pack.file(&format!("access/state-at-{name}.json"), &json)?;
        write_matrix(pack, &format!("access/matrix-at-{name}.csv"), &authorizer)?;
        {
            let mut changes =
                pack.stream(&format!("access/changes-between-state-and-{name}.jsonl"))?;
            changes_in(store, between(&state, moment.seq), Some(&mut changes)).await?;
            changes.done();
        }
        let (lo, hi) = span(&state, moment.seq);
        write_extract(pack, store, name, (lo, hi), proving).await?;
        let side = if state.log_size <= moment.seq {
            "before"
        } else {
            "after"
        };
        return Ok(serde_json::json!({
            "moment": name,
            "at": moment.at.to_rfc3339(),
            "first_seq_at_or_after": moment.seq,
            "state": {
                "day": state.day,
                "taken_at": state.taken_at.to_rfc3339(),
                "log_size": state.log_size,
                "sha256": state.sha256,
                "recorded_seq": state.recorded_seq,
                "file": format!("access/state-at-{name}.json"),
            },
            "state_taken": side,
            "changes_between": count,
            // Recorded while the state was being read: in it or not.
            "changes_while_taken": unsure,
            "changes_file": format!("access/changes-between-state-and-{name}.jsonl"),
            "exact": count == 0 && unsure == 0,
            "extract": {
                "first_seq": lo,
                "end_seq": hi,
                "events": format!("access/events-{name}.jsonl"),
                "proof": format!("access/proof-{name}.json"),
            },
            "refused": refused,
        }));
    }
    Ok(serde_json::json!({
        "moment": moment.name,
        "at": moment.at.to_rfc3339(),
        "state": null,
        "refused": refused,
    }))
}

fn refusal(state: &AccessState, why: &str) -> serde_json::Value {
    serde_json::json!({"day": state.day, "sha256": state.sha256, "why": why})
}

/// Whether the event the state's row names is its `access.snapshot`; why not if not.
async fn named_by_its_event(
    store: &dyn Store,
    state: &AccessState,
) -> Result<Result<(), String>, EvidenceError> {
    let Some(leaf) = store
        .audit_leaves(state.recorded_seq, 1)
        .await?
        .into_iter()
        .find(|l| l.seq == state.recorded_seq)
    else {
        return Ok(Err(format!(
            "its event {} is not in the log",
            state.recorded_seq
        )));
    };
    Ok(names(&leaf.canonical, state))
}

/// Whether `event` (canonical JSON) is the `access.snapshot` of `state`.
pub(super) fn names(event: &[u8], state: &AccessState) -> Result<(), String> {
    let event: serde_json::Value = serde_json::from_slice(event)
        .map_err(|e| format!("its event {} cannot be read: {e}", state.recorded_seq))?;
    let d = &event["details"];
    if event["action"] == "access.snapshot"
        && d["day"] == state.day.as_str()
        && d["sha256"] == state.sha256.as_str()
        && d["log_size"] == state.log_size
    {
        Ok(())
    } else {
        Err(format!(
            "event {} is not the access.snapshot of this state (a row changed in the store)",
            state.recorded_seq
        ))
    }
}

/// The action of an event's canonical JSON: its first key (keys are sorted).
pub(super) fn action_of(event: &[u8]) -> Option<&str> {
    let rest = event.strip_prefix(br#"{"action":""#)?;
    let end = rest.iter().position(|b| *b == b'"')?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// The recorded changes in events `from..to`: written to `out` when given; returns how
/// many.
async fn changes_in<O: Write>(
    store: &dyn Store,
    (from, to): (u64, u64),
    mut out: Option<&mut O>,
) -> Result<u64, EvidenceError> {
    let mut next = from;
    let mut count = 0;
    while next < to {
        let leaves = store.audit_leaves(next, PAGE).await?;
        if leaves.is_empty() {
            return Err(EvidenceError::Corrupt(format!("event {next} is missing")));
        }
        for leaf in leaves.into_iter().take_while(|l| l.seq < to) {
            next = leaf.seq + 1;
            let action = action_of(&leaf.canonical).ok_or_else(|| {
                EvidenceError::Corrupt(format!("event {} cannot be read", leaf.seq))
            })?;
            if observe::is_change(action) {
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

/// The recorded changes between the state (every change before its `log_size` is in
/// it) and the moment (`seq`).
fn between(state: &AccessState, seq: u64) -> (u64, u64) {
    (state.log_size.min(seq), state.log_size.max(seq))
}

/// Events `lo..hi` as `access/events-<name>.jsonl`, with their proof into the pack's
/// checkpoint as `access/proof-<name>.json` (checked before it is written).
async fn write_extract<W: Write + Seek>(
    pack: &mut PackWriter<W>,
    store: &dyn Store,
    name: &str,
    (lo, hi): (u64, u64),
    proving: &Proving<'_>,
) -> Result<(), EvidenceError> {
    let corrupt = |e: String| EvidenceError::Corrupt(e);
    let proof: RangeProof = extract::prove(store, (lo, hi), (proving.size, proving.note), vec![])
        .await
        .map_err(|e| corrupt(e.to_string()))?;
    let mut frontier = proof.frontier().map_err(corrupt)?;
    {
        let mut events = pack.stream(&format!("access/events-{name}.jsonl"))?;
        let mut seq = lo;
        while seq < hi {
            let leaves = store.audit_leaves(seq, PAGE).await?;
            if leaves.is_empty() {
                return Err(corrupt(format!("event {seq} is missing")));
            }
            for leaf in leaves.into_iter().take_while(|l| l.seq < hi) {
                if leaf.seq != seq {
                    return Err(corrupt(format!("event {seq} is missing")));
                }
                events.write_all(&leaf.canonical)?;
                events.write_all(b"\n")?;
                frontier.push(event_leaf_hash(&leaf.canonical));
                seq += 1;
            }
        }
        events.done();
    }
    proof
        .check(&frontier.root(), proving.keys)
        .map_err(corrupt)?;
    pack.file(&format!("access/proof-{name}.json"), &pretty(&proof)?)?;
    Ok(())
}
