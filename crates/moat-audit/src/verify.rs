//! The offline verifier: feed it the log's stored checkpoints and every stored event in
//! order; it recomputes each leaf, rebuilds the tree, checks every signature and that
//! every checkpoint (and those held outside, by witnesses) is a prefix of the same
//! history. It stops at the first failure and names the first sequence number that can
//! no longer be trusted.
//!
//! Naming it: a checkpoint commits to a root, not to its leaves one by one, so when the
//! events stop matching one, the first untrusted event is the end of the longest prefix a
//! matching checkpoint still vouches for. Moat signs every group-commit batch, so that
//! prefix ends at the batch holding the rewritten event (at the event itself when the
//! batch held one). A witness's checkpoint outranks the log's own: if the log's
//! checkpoint at a witness's size matches the events and the witness's does not, the
//! log's key signed two histories, and only witnesses are believed.

use crate::checkpoint::{self, VerifierKey};
use crate::event::event_leaf_hash;
use crate::merkle::{Frontier, Hash};
use serde::Deserialize;
use std::collections::VecDeque;

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
    /// Checkpoints checked, stored and external.
    pub checkpoints: usize,
    /// Size of the newest checkpoint; every event is in it (an unsigned tail fails).
    pub signed_size: u64,
    /// Each checkpoint held outside that was checked: its source and size.
    pub external: Vec<(String, u64)>,
}

/// A checkpoint held outside the log, e.g. a witness file's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    /// Where it came from, for messages (a path or URL).
    pub source: String,
    /// The signed note.
    pub note: String,
}

/// A checkpoint to check against the rebuilt tree.
struct Expected {
    size: u64,
    note: String,
    /// `None` for the log's own; the source of one held outside.
    external: Option<String>,
    /// Its signature, if already checked ([`open_checkpoints`]).
    opened: Option<Opened>,
}

type Opened = Result<(checkpoint::Checkpoint, String), checkpoint::NoteError>;

/// Stored checkpoints (size, note) with their signatures checked.
pub struct Checked(Vec<(u64, String, Opened)>);

/// Checks the signatures of many checkpoints, split over every core: with a checkpoint
/// per batch, a log written under light load has one per event, and checking them is
/// most of what verifying it costs. Hand the result to [`Verifier::expect_checked`].
pub fn open_checkpoints(checkpoints: Vec<(u64, String)>, keys: &[VerifierKey]) -> Checked {
    let open = |chunk: Vec<(u64, String)>| -> Vec<(u64, String, Opened)> {
        chunk
            .into_iter()
            .map(|(size, note)| {
                let opened = checkpoint::open(&note, keys);
                (size, note, opened)
            })
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if checkpoints.len() < 64 || threads == 1 {
        return Checked(open(checkpoints));
    }
    let per_thread = checkpoints.len().div_ceil(threads);
    let mut rest = checkpoints;
    let mut chunks = Vec::with_capacity(threads);
    while rest.len() > per_thread {
        let tail = rest.split_off(per_thread);
        chunks.push(std::mem::replace(&mut rest, tail));
    }
    chunks.push(rest);
    std::thread::scope(|scope| {
        let running: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || open(chunk)))
            .collect();
        Checked(
            running
                .into_iter()
                // A chunk is never dropped: a panic there is a panic here.
                .flat_map(|thread| {
                    thread
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect(),
        )
    })
}

impl Expected {
    fn whose(&self) -> String {
        match &self.external {
            Some(source) => format!("the checkpoint held by witness {source}"),
            None => "the stored checkpoint".into(),
        }
    }
}

pub struct Verifier {
    keys: Vec<VerifierKey>,
    /// The log's own checkpoints given so far and not yet reached, by size.
    stored: VecDeque<Expected>,
    /// Largest stored size given, to refuse out-of-order input.
    stored_given: Option<u64>,
    /// Checkpoints held outside, by size; `next_external` is the first not yet reached.
    external: Vec<Expected>,
    next_external: usize,
    frontier: Frontier,
    origin: Option<String>,
    checked: usize,
    /// Largest size at which any checkpoint matched the events.
    signed_size: u64,
    /// Largest size at which a checkpoint held outside matched.
    external_match: u64,
    /// Largest size at which one of the log's own checkpoints matched.
    stored_match: Option<u64>,
    external_checked: Vec<(String, u64)>,
}

#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

impl Verifier {
    /// `external` are checkpoints held outside the log (witness copies). The log's own
    /// checkpoints are given with [`Verifier::expect`] as the events are read.
    pub fn new(keys: Vec<VerifierKey>, external: Vec<External>) -> Result<Verifier, Failure> {
        let mut parsed = Vec::with_capacity(external.len());
        for held in external {
            let size = checkpoint::parse_unverified(&held.note)
                .map_err(|e| Failure {
                    first_bad_seq: None,
                    checkpoint_size: None,
                    reason: format!(
                        "the checkpoint held by witness {} cannot be read: {e}",
                        held.source
                    ),
                })?
                .size;
            parsed.push(Expected {
                size,
                note: held.note,
                external: Some(held.source),
                opened: None,
            });
        }
        parsed.sort_by_key(|e| e.size);
        let mut verifier = Verifier {
            keys,
            stored: VecDeque::new(),
            stored_given: None,
            external: parsed,
            next_external: 0,
            frontier: Frontier::new(),
            origin: None,
            checked: 0,
            signed_size: 0,
            external_match: 0,
            stored_match: None,
            external_checked: Vec::new(),
        };
        verifier.check_due_checkpoints()?;
        Ok(verifier)
    }

    /// The log's own checkpoints (size, note), in increasing size. Give each before the
    /// event that would take the tree past its size is pushed.
    pub fn expect(
        &mut self,
        checkpoints: impl IntoIterator<Item = (u64, String)>,
    ) -> Result<(), Failure> {
        self.expect_with(checkpoints.into_iter().map(|(s, n)| (s, n, None)))
    }

    /// [`Verifier::expect`] for checkpoints whose signatures [`open_checkpoints`] checked.
    pub fn expect_checked(&mut self, checked: Checked) -> Result<(), Failure> {
        self.expect_with(checked.0.into_iter().map(|(s, n, o)| (s, n, Some(o))))
    }

    fn expect_with(
        &mut self,
        checkpoints: impl Iterator<Item = (u64, String, Option<Opened>)>,
    ) -> Result<(), Failure> {
        for (size, note, opened) in checkpoints {
            if self.stored_given.is_some_and(|given| size <= given) || size < self.frontier.size() {
                // The caller's order, not the log: fail closed rather than skip one.
                return Err(Failure {
                    first_bad_seq: None,
                    checkpoint_size: Some(size),
                    reason: format!("checkpoint at size {size} was given out of order"),
                });
            }
            self.stored_given = Some(size);
            self.stored.push_back(Expected {
                size,
                note,
                external: None,
                opened,
            });
        }
        self.check_due_checkpoints()
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

    /// Ends verification: every checkpoint must have been reached, and every event must
    /// be in a signed checkpoint.
    pub fn finish(self) -> Result<Report, Failure> {
        let size = self.frontier.size();
        let beyond = [self.stored.front(), self.external.get(self.next_external)]
            .into_iter()
            .flatten()
            .min_by_key(|e| e.size);
        if let Some(beyond) = beyond {
            return Err(Failure {
                first_bad_seq: Some(size),
                checkpoint_size: Some(beyond.size),
                reason: format!(
                    "the log has {size} events but {} covers {}: events {size} to {} are missing (truncated or rolled back)",
                    beyond.whose(),
                    beyond.size,
                    beyond.size - 1
                ),
            });
        }
        if size > self.signed_size {
            let from = self.signed_size;
            return Err(Failure {
                first_bad_seq: Some(from),
                checkpoint_size: None,
                reason: format!(
                    "events {from} to {} are in no signed checkpoint, so nothing shows they are as written: Moat signs every batch in the transaction that stores it, so their checkpoint was removed (if a Moat that signed less often wrote them, any Moat writer, e.g. `moat audit checkpoint`, signs them as they are now)",
                    size - 1
                ),
            });
        }
        Ok(Report {
            events: size,
            root: self.frontier.root(),
            checkpoints: self.checked,
            signed_size: self.signed_size,
            external: self.external_checked,
        })
    }

    fn check_due_checkpoints(&mut self) -> Result<(), Failure> {
        let size = self.frontier.size();
        // The log's own first, so that a witness contradicting a matching stored
        // checkpoint of the same size is seen as the fork it is.
        while self.stored.front().is_some_and(|e| e.size == size) {
            if let Some(due) = self.stored.pop_front() {
                self.check(due)?;
            }
        }
        while let Some(due) = self
            .external
            .get(self.next_external)
            .filter(|e| e.size == size)
        {
            let due = Expected {
                size: due.size,
                note: due.note.clone(),
                external: due.external.clone(),
                opened: None,
            };
            self.next_external += 1;
            self.check(due)?;
        }
        let skipped = [self.stored.front(), self.external.get(self.next_external)]
            .into_iter()
            .flatten()
            .find(|e| e.size < size);
        if let Some(stale) = skipped {
            // Unreachable with sorted sizes; kept so a logic error fails closed.
            return Err(Failure {
                first_bad_seq: None,
                checkpoint_size: Some(stale.size),
                reason: format!("checkpoint at size {} was skipped", stale.size),
            });
        }
        Ok(())
    }

    fn check(&mut self, mut due: Expected) -> Result<(), Failure> {
        let size = due.size;
        let whose = due.whose();
        let fail = |reason: String, first_bad: Option<u64>| Failure {
            first_bad_seq: first_bad,
            checkpoint_size: Some(size),
            reason,
        };
        let opened = match due.opened.take() {
            Some(opened) => opened,
            None => checkpoint::open(&due.note, &self.keys),
        };
        let (opened, signer) = opened.map_err(|e| {
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
            return Err(self.mismatch(&due, &signer));
        }
        self.origin.get_or_insert(opened.origin);
        self.signed_size = self.signed_size.max(size);
        self.checked += 1;
        match due.external {
            Some(source) => {
                self.external_match = self.external_match.max(size);
                self.external_checked.push((source, size));
            }
            None => self.stored_match = Some(size),
        }
        Ok(())
    }

    /// The events do not match `due`: name the first one no checkpoint still vouches for.
    fn mismatch(&self, due: &Expected, signer: &str) -> Failure {
        let size = due.size;
        let whose = due.whose();
        if due.external.is_some() && self.stored_match == Some(size) {
            let from = self.external_match;
            let untrusted = if from == 0 {
                "no event before it can be trusted".to_string()
            } else {
                format!("events {from} to {} cannot be trusted", size - 1)
            };
            return Failure {
                first_bad_seq: Some(from),
                checkpoint_size: Some(size),
                reason: format!(
                    "the events do not match {whose} at size {size}, yet the log's own checkpoint at that size, signed by `{signer}`'s key too, does: that key signed two different histories, so the log was rewritten and re-signed (treat the key as compromised); beyond what a witness confirms, {untrusted}"
                ),
            };
        }
        let from = self.signed_size;
        let reason = if size - from == 1 {
            format!(
                "event {from} does not match {whose} at size {size}: it was rewritten after it was signed (its recorded hash was recomputed to hide the change)"
            )
        } else {
            let since = if from == 0 {
                String::new()
            } else {
                format!("; the checkpoint at size {from} still matches")
            };
            format!(
                "the events do not match {whose} at size {size}: one of events {from} to {} was rewritten after it was signed (its recorded hash was recomputed to hide the change){since}",
                size - 1
            )
        };
        Failure {
            first_bad_seq: Some(from),
            checkpoint_size: Some(size),
            reason,
        }
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
