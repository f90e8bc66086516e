//! The offline verifier: feed it every stored event in order and the stored checkpoints;
//! it recomputes each leaf, rebuilds the tree, checks every signature and that every
//! checkpoint (and an externally held one) is a prefix of the same history. It stops at
//! the first failure and names the sequence number where the log stops being trustworthy.

use crate::checkpoint::{self, VerifierKey};
use crate::event::event_leaf_hash;
use crate::merkle::{Frontier, Hash};
use serde::Deserialize;

/// Where and why verification failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Failure {
    /// The first sequence number that cannot be trusted, when one can be named.
    pub first_bad_seq: Option<u64>,
    /// The checkpoint involved, by tree size.
    pub checkpoint_size: Option<u64>,
    pub reason: String,
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub events: u64,
    pub root: Hash,
    pub checkpoints: usize,
    /// Size of the newest checkpoint; events past it are not yet signed.
    pub signed_size: u64,
}

/// A checkpoint to check against the rebuilt tree.
struct Expected {
    size: u64,
    note: String,
    external: bool,
}

pub struct Verifier {
    keys: Vec<VerifierKey>,
    expected: Vec<Expected>,
    next: usize,
    frontier: Frontier,
    origin: Option<String>,
    checked: usize,
    signed_size: u64,
}

#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

impl Verifier {
    /// `stored` are the log's own checkpoints (size, note); `external` one held elsewhere.
    pub fn new(
        keys: Vec<VerifierKey>,
        stored: Vec<(u64, String)>,
        external: Option<String>,
    ) -> Result<Verifier, Failure> {
        let mut expected: Vec<Expected> = stored
            .into_iter()
            .map(|(size, note)| Expected {
                size,
                note,
                external: false,
            })
            .collect();
        if let Some(note) = external {
            let parsed = checkpoint::parse_unverified(&note).map_err(|e| Failure {
                first_bad_seq: None,
                checkpoint_size: None,
                reason: format!("the external checkpoint cannot be read: {e}"),
            })?;
            expected.push(Expected {
                size: parsed.size,
                note,
                external: true,
            });
        }
        expected.sort_by_key(|e| (e.size, e.external));
        let mut verifier = Verifier {
            keys,
            expected,
            next: 0,
            frontier: Frontier::new(),
            origin: None,
            checked: 0,
            signed_size: 0,
        };
        verifier.check_due_checkpoints()?;
        Ok(verifier)
    }

    /// The next stored event: its row's sequence number, its canonical bytes and the
    /// leaf hash the store holds for it.
    pub fn push(
        &mut self,
        seq: u64,
        canonical: &[u8],
        stored_leaf: Option<&Hash>,
    ) -> Result<(), Failure> {
        let expected = self.frontier.size();
        if seq != expected {
            return Err(at(
                expected,
                format!(
                    "event {expected} is missing: the next stored event is {seq} (a row was deleted)"
                ),
            ));
        }
        let inner = match top_level_seq(canonical) {
            Some(inner) => inner,
            None => {
                serde_json::from_slice::<SeqOnly>(canonical)
                    .map_err(|e| {
                        at(
                            seq,
                            format!("event {seq} is not a valid event ({e}): it was altered"),
                        )
                    })?
                    .seq
            }
        };
        if inner != seq {
            return Err(at(
                seq,
                format!(
                    "event {seq} holds the content of event {inner}: rows were moved or swapped"
                ),
            ));
        }
        let leaf = event_leaf_hash(canonical);
        match stored_leaf {
            Some(stored) if stored != &leaf => {
                return Err(at(
                    seq,
                    format!(
                        "event {seq} was altered: its content no longer matches its recorded hash"
                    ),
                ));
            }
            None => {
                return Err(at(
                    seq,
                    format!("event {seq} has no recorded hash: the tree was altered"),
                ));
            }
            Some(_) => {}
        }
        self.frontier.push(leaf);
        self.check_due_checkpoints()
    }

    /// Ends verification: every checkpoint must have been reached.
    pub fn finish(self) -> Result<Report, Failure> {
        let size = self.frontier.size();
        if let Some(beyond) = self.expected.get(self.next) {
            let whose = if beyond.external {
                "the external checkpoint"
            } else {
                "a stored checkpoint"
            };
            return Err(Failure {
                first_bad_seq: Some(size),
                checkpoint_size: Some(beyond.size),
                reason: format!(
                    "the log has {size} events but {whose} covers {}: events {size} to {} are missing (truncated or rolled back)",
                    beyond.size,
                    beyond.size - 1
                ),
            });
        }
        Ok(Report {
            events: size,
            root: self.frontier.root(),
            checkpoints: self.checked,
            signed_size: self.signed_size,
        })
    }

    fn check_due_checkpoints(&mut self) -> Result<(), Failure> {
        while let Some(due) = self
            .expected
            .get(self.next)
            .filter(|e| e.size == self.frontier.size())
        {
            let size = due.size;
            let whose = if due.external {
                "the external checkpoint"
            } else {
                "the stored checkpoint"
            };
            let fail = |reason: String, first_bad: Option<u64>| Failure {
                first_bad_seq: first_bad,
                checkpoint_size: Some(size),
                reason,
            };
            let (opened, _) = checkpoint::open(&due.note, &self.keys).map_err(|e| {
                fail(
                    format!("{whose} at size {size} is not valid: {e} (it was replaced or forged)"),
                    None,
                )
            })?;
            if let Some(origin) = &self.origin
                && origin != &opened.origin
            {
                return Err(fail(
                    format!(
                        "{whose} at size {size} names origin `{}`, not `{origin}`",
                        opened.origin
                    ),
                    None,
                ));
            }
            if opened.root != self.frontier.root() {
                let since = self.signed_size;
                return Err(fail(
                    format!(
                        "the events do not match {whose} at size {size}: history between events {since} and {} was rewritten",
                        size.saturating_sub(1)
                    ),
                    Some(since),
                ));
            }
            self.origin.get_or_insert(opened.origin);
            self.signed_size = self.signed_size.max(size);
            self.checked += 1;
            self.next += 1;
        }
        if let Some(stale) = self
            .expected
            .get(self.next)
            .filter(|e| e.size < self.frontier.size())
        {
            // Unreachable with sorted sizes; kept so a logic error fails closed.
            return Err(Failure {
                first_bad_seq: None,
                checkpoint_size: Some(stale.size),
                reason: format!("checkpoint at size {} was skipped", stale.size),
            });
        }
        Ok(())
    }
}

/// The top-level `seq` of canonical event bytes without parsing them. In RFC 8785 form
/// the top-level keys are sorted and `time` (a string) is the last one, so the last
/// `,"seq":` in the bytes belongs to the top level. Bytes that are not canonical fall
/// back to a full parse; either way the leaf hash check catches any alteration.
fn top_level_seq(canonical: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b",\"seq\":";
    let at = canonical.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
    let digits = canonical[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let rest = &canonical[at + digits..];
    if digits == 0 || !rest.starts_with(b",\"time\":\"") {
        return None;
    }
    std::str::from_utf8(&canonical[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

fn at(seq: u64, reason: String) -> Failure {
    Failure {
        first_bad_seq: Some(seq),
        checkpoint_size: None,
        reason,
    }
}

#[cfg(test)]
mod tests;
