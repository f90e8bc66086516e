//! The audit extract: the period's events exactly as they were hashed, one per line,
//! and one proof that together they are events `first..end` of the signed log.
//!
//! A contiguous extract needs no proof per event. The roots of the complete subtrees
//! before `first` (at most 64 hashes) plus the extract's leaves give the root of the
//! tree of `end` events; a consistency proof from that tree to a signed checkpoint
//! shows it is the log's. Any changed, missing, added or reordered event changes that
//! root, so the proof fails. Checkpoints held by witnesses are tied to the same
//! checkpoint by consistency proofs.

use crate::audit::AuditError;
use crate::audit::read::base64_engine::{decode32, encode};
use crate::audit::read::resolve_from_store;
use moat_audit::checkpoint::{self, VerifierKey};
use moat_audit::merkle::{Frontier, Hash, consistency_plan, frontier_nodes, verify_consistency};
use moat_audit::verify::External;
use moat_store::Store;
use serde::{Deserialize, Serialize};

/// `audit/proof.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeProof {
    /// The first event of the extract.
    pub first_seq: u64,
    /// One past the last event of the extract (`first_seq` when it is empty).
    pub end_seq: u64,
    /// Base64 roots of the complete subtrees of events `0..first_seq`, largest first.
    pub left: Vec<String>,
    /// The signed checkpoint the extract is proven into (its size ≥ `end_seq`).
    pub checkpoint: String,
    /// Base64 consistency proof from the tree of `end_seq` events to the checkpoint.
    pub consistency: Vec<String>,
    /// The checkpoints witnesses held at export, each tied to `checkpoint`.
    pub witnesses: Vec<WitnessProof>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessProof {
    pub source: String,
    pub checkpoint: String,
    /// Consistency proof between the witness's tree and the pack's checkpoint, from
    /// the smaller to the larger.
    pub consistency: Vec<String>,
}

/// The first event at or after `time` (RFC 3339, as events carry it) in a log of
/// `size` events; `size` if none. The writer stamps each batch as it commits, so
/// times rise with sequence numbers and a binary search finds the boundary.
pub async fn first_at_or_after(
    store: &dyn Store,
    size: u64,
    time: &str,
) -> Result<u64, AuditError> {
    let (mut low, mut high) = (0u64, size);
    while low < high {
        let middle = low + (high - low) / 2;
        if event_time(store, middle).await?.as_str() < time {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    Ok(low)
}

async fn event_time(store: &dyn Store, seq: u64) -> Result<String, AuditError> {
    #[derive(Deserialize)]
    struct When {
        time: String,
    }
    let leaf = store
        .audit_leaves(seq, 1)
        .await?
        .into_iter()
        .find(|l| l.seq == seq)
        .ok_or_else(|| AuditError::Corrupt(format!("event {seq} is missing")))?;
    serde_json::from_slice::<When>(&leaf.canonical)
        .map(|w| w.time)
        .map_err(|e| AuditError::Corrupt(format!("event {seq} cannot be read: {e}")))
}

/// The frontier of the tree of `first` events, from the stored tree nodes.
pub async fn left_of(store: &dyn Store, first: u64) -> Result<Vec<Hash>, AuditError> {
    let ids = frontier_nodes(first);
    let keys: Vec<u64> = ids.iter().map(|id| id.key()).collect();
    let nodes: std::collections::HashMap<u64, Hash> =
        store.audit_nodes(&keys).await?.into_iter().collect();
    ids.iter()
        .map(|id| {
            nodes.get(&id.key()).copied().ok_or_else(|| {
                AuditError::Corrupt("a tree node needed for the extract's proof is missing".into())
            })
        })
        .collect()
}

/// The consistency proof between trees of `a` and `b` events (either order).
async fn consistency(store: &dyn Store, a: u64, b: u64) -> Result<Vec<String>, AuditError> {
    let (old, new) = (a.min(b), a.max(b));
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let plan = consistency_plan(old, new)
        .ok_or_else(|| AuditError::Corrupt(format!("no consistency proof from {old} to {new}")))?;
    let proof = resolve_from_store(store, &plan).await?;
    Ok(proof.iter().map(|h| encode(h)).collect())
}

/// The proof for events `first..end` into checkpoint `note` of `size`, with the
/// witnesses' checkpoints tied to it.
pub async fn prove(
    store: &dyn Store,
    (first, end): (u64, u64),
    (size, note): (u64, &str),
    witnesses: Vec<External>,
) -> Result<RangeProof, AuditError> {
    let left = left_of(store, first).await?;
    let mut tied = Vec::new();
    for witness in witnesses {
        let held = checkpoint::parse_unverified(&witness.note)
            .map_err(|e| AuditError::Corrupt(format!("witness {}: {e}", witness.source)))?;
        tied.push(WitnessProof {
            consistency: consistency(store, held.size, size).await?,
            source: witness.source,
            checkpoint: witness.note,
        });
    }
    Ok(RangeProof {
        first_seq: first,
        end_seq: end,
        left: left.iter().map(|h| encode(h)).collect(),
        checkpoint: note.to_string(),
        consistency: consistency(store, end, size).await?,
        witnesses: tied,
    })
}

fn decode(hashes: &[String], what: &str) -> Result<Vec<Hash>, String> {
    hashes
        .iter()
        .map(|h| {
            decode32(h).ok_or_else(|| format!("{what} holds a hash that is not base64 SHA-256"))
        })
        .collect()
}

impl RangeProof {
    /// The frontier the extract's leaves are appended to.
    pub fn frontier(&self) -> Result<Frontier, String> {
        let left = decode(&self.left, "the left edge")?;
        Frontier::from_parts(self.first_seq, left).ok_or_else(|| {
            format!(
                "the left edge has the wrong number of hashes for {} events",
                self.first_seq
            )
        })
    }

    /// Checks, given the root of the tree of `end_seq` events rebuilt from the left
    /// edge and the extract, that it is the log signed by one of `keys`, and that each
    /// witness's checkpoint is consistent with it. Returns the checkpoint's size and
    /// the sources of the witnesses checked.
    pub fn check(&self, root: &Hash, keys: &[VerifierKey]) -> Result<(u64, Vec<String>), String> {
        let (signed, _) = checkpoint::open(&self.checkpoint, keys)
            .map_err(|e| format!("the extract's checkpoint: {e}"))?;
        if self.end_seq > signed.size || self.first_seq > self.end_seq {
            return Err(format!(
                "events {}..{} are not within the checkpoint of {} events",
                self.first_seq, self.end_seq, signed.size
            ));
        }
        let proof = decode(&self.consistency, "the consistency proof")?;
        let consistent = if self.end_seq == 0 {
            proof.is_empty()
        } else {
            verify_consistency(self.end_seq, signed.size, &proof, root, &signed.root)
        };
        if !consistent {
            return Err(format!(
                "the events do not rebuild the signed log: the tree of {} events they give is not a prefix of the checkpoint of {} events (an event was changed, added, removed or reordered)",
                self.end_seq, signed.size
            ));
        }
        let mut witnessed = Vec::new();
        for witness in &self.witnesses {
            let (held, _) = checkpoint::open(&witness.checkpoint, keys)
                .map_err(|e| format!("witness {}: {e}", witness.source))?;
            let proof = decode(&witness.consistency, "a witness's consistency proof")?;
            let ((old, old_root), (new, new_root)) = if held.size <= signed.size {
                ((held.size, held.root), (signed.size, signed.root))
            } else {
                ((signed.size, signed.root), (held.size, held.root))
            };
            let consistent = old == 0 || verify_consistency(old, new, &proof, &old_root, &new_root);
            if !consistent {
                return Err(format!(
                    "witness {} holds a checkpoint of {} events that the pack's checkpoint contradicts",
                    witness.source, held.size
                ));
            }
            witnessed.push(witness.source.clone());
        }
        Ok((signed.size, witnessed))
    }
}
