//! Reading the log without a writer: events, verification and inclusion proofs. These
//! work on a live store or a copy, from the CLI or the server alike.

use super::AuditError;
use moat_audit::checkpoint::{self, VerifierKey};
use moat_audit::event::{Event, event_leaf_hash};
use moat_audit::merkle::{NodeId, inclusion_plan, resolve, verify_inclusion};
use moat_audit::verify::{External, Failure, Report, Verifier, open_checkpoints};
use moat_store::Store;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Events read per store query while scanning.
const PAGE: usize = 10_000;

/// Up to `limit` events from `from` on.
pub async fn events(store: &dyn Store, from: u64, limit: usize) -> Result<Vec<Event>, AuditError> {
    let leaves = store.audit_leaves(from, limit).await?;
    leaves
        .iter()
        .map(|leaf| {
            Event::from_canonical(&leaf.canonical)
                .map_err(|e| AuditError::Corrupt(format!("event {} cannot be read: {e}", leaf.seq)))
        })
        .collect()
}

/// Why verification did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("verification failed: {0}")]
    Failed(Failure),
    #[error(transparent)]
    Store(#[from] AuditError),
}

/// Recomputes every leaf from the stored events, rebuilds the tree and checks every
/// stored checkpoint and every `external` one (witness copies held outside the database).
/// `progress(done, total)` is called after each page. The next page (its events and the
/// checkpoints signed with them) is read on another task while this one hashes the
/// current page.
///
/// The scan covers the log as of its start: its size, then its newest checkpoint. Every
/// batch is stored with its checkpoint, so in a sound log that checkpoint covers every
/// event counted; events appended during the scan are left to the next one.
pub async fn verify(
    store: Arc<dyn Store>,
    keys: Vec<VerifierKey>,
    external: Vec<External>,
    mut progress: impl FnMut(u64, u64),
) -> Result<Report, VerifyError> {
    let total = store.audit_size().await.map_err(AuditError::from)?;
    let newest = store
        .audit_latest_checkpoint()
        .await
        .map_err(AuditError::from)?
        .map_or(0, |(size, _)| size);
    let end = total.max(newest);
    let mut verifier = Verifier::new(keys.clone(), external).map_err(VerifyError::Failed)?;
    let at_zero = store
        .audit_checkpoints(0, 0, 1)
        .await
        .map_err(AuditError::from)?;
    verifier.expect(at_zero).map_err(VerifyError::Failed)?;
    // Events from `from`, and the checkpoints of sizes `cp_from..=cp_to` with their
    // signatures checked on every core while this task hashes the previous page.
    let fetch = |from: u64, cp_from: u64, cp_to: u64| {
        let (store, keys) = (store.clone(), keys.clone());
        tokio::spawn(async move {
            let leaves = store.audit_leaves(from, PAGE).await?;
            let checkpoints = store.audit_checkpoints(cp_from, cp_to, PAGE).await?;
            let checked = tokio::task::spawn_blocking(move || open_checkpoints(checkpoints, &keys))
                .await
                .map_err(|e| moat_store::StoreError::Backend(e.to_string()))?;
            Ok::<_, moat_store::StoreError>((leaves, checked))
        })
    };
    let mut signed_to = (PAGE as u64).min(end);
    let mut pending = Some(fetch(0, 1, signed_to));
    while let Some(fetching) = pending.take() {
        let (page, checkpoints) = fetching
            .await
            .map_err(|e| AuditError::Unavailable(format!("reading the log: {e}")))?
            .map_err(AuditError::from)?;
        verifier
            .expect_checked(checkpoints)
            .map_err(VerifyError::Failed)?;
        let page: Vec<_> = page.into_iter().take_while(|leaf| leaf.seq < end).collect();
        let Some(next) = page.last().map(|leaf| leaf.seq + 1) else {
            break;
        };
        if next < end {
            let upto = (next + PAGE as u64).min(end);
            pending = Some(fetch(next, signed_to + 1, upto));
            signed_to = signed_to.max(upto);
        }
        for leaf in &page {
            verifier
                .push(leaf.seq, &leaf.canonical, leaf.leaf_hash.as_ref())
                .map_err(VerifyError::Failed)?;
        }
        progress(next.min(end), end);
    }
    // Events ran out early: the first checkpoint beyond them shows what is missing.
    let beyond = store
        .audit_checkpoints(signed_to + 1, end, 1)
        .await
        .map_err(AuditError::from)?;
    verifier.expect(beyond).map_err(VerifyError::Failed)?;
    verifier.finish().map_err(VerifyError::Failed)
}

/// The checkpoints held in witness files, and the files that hold none (missing or
/// empty). A file that exists but cannot be read is an error.
pub fn held_checkpoints(
    paths: &[std::path::PathBuf],
) -> Result<(Vec<External>, Vec<String>), AuditError> {
    let mut held = Vec::new();
    let mut empty = Vec::new();
    for path in paths {
        let source = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(note) if !note.trim().is_empty() => held.push(External { source, note }),
            Ok(_) => empty.push(source),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => empty.push(source),
            Err(e) => {
                return Err(AuditError::Unavailable(format!(
                    "cannot read witness file {source}: {e}; it is in [audit] witness_files"
                )));
            }
        }
    }
    Ok((held, empty))
}

/// [`verify`] against the deployment's witness files as well as `extra` checkpoints.
/// A witness file that holds no checkpoint while the log has events fails: it was
/// removed, or the log never reached it, and either way nothing vouches for the log.
pub async fn verify_with_witness_files(
    store: Arc<dyn Store>,
    keys: Vec<VerifierKey>,
    witness_files: &[std::path::PathBuf],
    extra: Vec<External>,
    progress: impl FnMut(u64, u64),
) -> Result<Report, VerifyError> {
    let (mut held, empty) = held_checkpoints(witness_files)?;
    if !empty.is_empty() && store.audit_size().await.map_err(AuditError::from)? > 0 {
        return Err(VerifyError::Failed(Failure {
            first_bad_seq: None,
            checkpoint_size: None,
            reason: format!(
                "witness file {} holds no checkpoint though the log has events: it was removed, or no Moat writer has run since it was configured (any admin command or `moat audit checkpoint` fills it)",
                empty.join(", ")
            ),
        }));
    }
    held.extend(extra);
    verify(store, keys, held, progress).await
}

/// An inclusion proof a third party can check with the signer's public key alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProofDoc {
    pub seq: u64,
    /// The event's canonical JSON, exactly as hashed.
    pub event: String,
    /// Hex SHA-256 leaf hash, `SHA-256(0x00 || event)`.
    pub leaf_hash: String,
    pub tree_size: u64,
    /// Base64 hashes, bottom-up (RFC 9162 §2.1.3).
    pub proof: Vec<String>,
    /// The signed checkpoint (C2SP signed note) the proof leads to.
    pub checkpoint: String,
}

/// Proves that event `seq` is in the tree of the latest checkpoint.
pub async fn prove(store: &dyn Store, seq: u64) -> Result<InclusionProofDoc, AuditError> {
    let (size, note) = store.audit_latest_checkpoint().await?.ok_or_else(|| {
        AuditError::NotFound("no checkpoint yet; run `moat audit checkpoint` first".into())
    })?;
    prove_at(store, seq, size, note).await
}

/// Proves that event `seq` is in the tree of checkpoint `note` (of `size`), whatever
/// was appended since: every proof of one export leads to the same checkpoint, though
/// the log grows while it is written.
pub async fn prove_at(
    store: &dyn Store,
    seq: u64,
    size: u64,
    note: String,
) -> Result<InclusionProofDoc, AuditError> {
    use base64_engine::encode;
    if seq >= size {
        return Err(AuditError::NotFound(format!(
            "event {seq} is not covered by the latest checkpoint (size {size}); run `moat audit checkpoint` and retry"
        )));
    }
    let leaf = store
        .audit_leaves(seq, 1)
        .await?
        .into_iter()
        .find(|l| l.seq == seq)
        .ok_or_else(|| AuditError::Corrupt(format!("event {seq} is missing")))?;
    let plan =
        inclusion_plan(seq, size).ok_or_else(|| AuditError::NotFound(format!("no event {seq}")))?;
    let proof = resolve_from_store(store, &plan).await?;
    Ok(InclusionProofDoc {
        seq,
        event: String::from_utf8_lossy(&leaf.canonical).into_owned(),
        leaf_hash: hex::encode(event_leaf_hash(&leaf.canonical)),
        tree_size: size,
        proof: proof.iter().map(|h| encode(h)).collect(),
        checkpoint: note,
    })
}

/// A proof that a newer signed checkpoint extends an older one (nothing rewritten).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProofDoc {
    pub old_checkpoint: String,
    pub new_checkpoint: String,
    /// Base64 hashes (RFC 9162 §2.1.4).
    pub consistency_proof: Vec<String>,
}

/// Proves that the latest checkpoint extends the stored checkpoint of `old_size`.
pub async fn prove_consistency(
    store: &dyn Store,
    old_size: u64,
) -> Result<ConsistencyProofDoc, AuditError> {
    let old = store
        .audit_checkpoints(old_size, old_size, 1)
        .await?
        .pop()
        .ok_or_else(|| {
            AuditError::NotFound(format!(
                "no checkpoint of size {old_size}; the witness files show which sizes exist"
            ))
        })?;
    let new = store
        .audit_latest_checkpoint()
        .await?
        .ok_or_else(|| AuditError::NotFound("no checkpoint yet".into()))?;
    let plan = moat_audit::merkle::consistency_plan(old.0, new.0).ok_or_else(|| {
        AuditError::NotFound(format!(
            "no consistency proof from size {} to {}",
            old.0, new.0
        ))
    })?;
    let proof = resolve_from_store(store, &plan).await?;
    Ok(ConsistencyProofDoc {
        old_checkpoint: old.1.clone(),
        new_checkpoint: new.1.clone(),
        consistency_proof: proof.iter().map(|h| base64_engine::encode(h)).collect(),
    })
}

/// Checks a consistency proof document against trusted keys, as a third party would.
pub fn verify_consistency_doc(
    doc: &ConsistencyProofDoc,
    keys: &[VerifierKey],
) -> Result<(), String> {
    let (old, _) =
        checkpoint::open(&doc.old_checkpoint, keys).map_err(|e| format!("old checkpoint: {e}"))?;
    let (new, _) =
        checkpoint::open(&doc.new_checkpoint, keys).map_err(|e| format!("new checkpoint: {e}"))?;
    if old.origin != new.origin {
        return Err(format!(
            "the checkpoints are of different logs: {} and {}",
            old.origin, new.origin
        ));
    }
    let proof = decode_proof(&doc.consistency_proof)?;
    if moat_audit::merkle::verify_consistency(old.size, new.size, &proof, &old.root, &new.root) {
        Ok(())
    } else {
        Err(format!(
            "the checkpoint of size {} does not extend the one of size {}: history was rewritten",
            new.size, old.size
        ))
    }
}

/// Checks an inclusion proof document against trusted keys, as a third party would.
pub fn verify_proof_doc(doc: &InclusionProofDoc, keys: &[VerifierKey]) -> Result<(), String> {
    let (checkpoint, signer) =
        checkpoint::open(&doc.checkpoint, keys).map_err(|e| e.to_string())?;
    if checkpoint.size != doc.tree_size {
        return Err(format!(
            "the proof claims size {} but the checkpoint is for {}",
            doc.tree_size, checkpoint.size
        ));
    }
    let event = Event::from_canonical(doc.event.as_bytes())
        .map_err(|e| format!("the event is not valid: {e}"))?;
    if event.seq != doc.seq {
        return Err(format!(
            "the event is number {}, not {}",
            event.seq, doc.seq
        ));
    }
    let proof = decode_proof(&doc.proof)?;
    let leaf = event_leaf_hash(doc.event.as_bytes());
    if verify_inclusion(&leaf, doc.seq, doc.tree_size, &proof, &checkpoint.root) {
        tracing::debug!(%signer, "inclusion proof verified");
        Ok(())
    } else {
        Err(format!(
            "event {} is not in the tree signed by {signer}",
            doc.seq
        ))
    }
}

/// Fetches every node a proof plan needs in one query and folds them into proof hashes.
pub(crate) async fn resolve_from_store(
    store: &dyn Store,
    plan: &[Vec<NodeId>],
) -> Result<Vec<moat_audit::merkle::Hash>, AuditError> {
    let keys: Vec<u64> = plan.iter().flatten().map(|id| id.key()).collect();
    let nodes: std::collections::HashMap<u64, moat_audit::merkle::Hash> =
        store.audit_nodes(&keys).await?.into_iter().collect();
    resolve(plan, |id| nodes.get(&id.key()).copied())
        .ok_or_else(|| AuditError::Corrupt("a tree node needed for the proof is missing".into()))
}

fn decode_proof(hashes: &[String]) -> Result<Vec<moat_audit::merkle::Hash>, String> {
    hashes
        .iter()
        .map(|h| base64_engine::decode32(h))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| "a proof hash is not base64 SHA-256".to_string())
}

/// Standard base64, as in checkpoints.
pub(crate) mod base64_engine {
    pub fn encode(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    pub fn decode32(text: &str) -> Option<[u8; 32]> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?
            .try_into()
            .ok()
    }
}
