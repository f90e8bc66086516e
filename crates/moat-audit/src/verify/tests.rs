//! The verifier over an in-memory log, with each kind of tampering.

use super::*;
use crate::checkpoint::{Checkpoint, SigningKey};
use crate::event::{Actor, Decision, Event, EventBody, Outcome};

struct Log {
    rows: Vec<(u64, Vec<u8>, Hash)>,
    checkpoints: Vec<(u64, String)>,
    key: SigningKey,
}

impl Clone for Log {
    fn clone(&self) -> Log {
        Log {
            rows: self.rows.clone(),
            checkpoints: self.checkpoints.clone(),
            key: SigningKey::from_text(&self.key.to_text()).unwrap(),
        }
    }
}

fn event(seq: u64) -> Event {
    Event {
        seq,
        time: "2026-11-23T12:00:00.000Z".into(),
        body: EventBody {
            actor: Actor {
                user: Some(format!("usr_{}", seq % 3)),
                ..Actor::default()
            },
            action: "mcp.call".into(),
            resources: Default::default(),
            decision: Decision {
                outcome: Outcome::Allow,
                rule: None,
                reason: None,
            },
            policy_version: "sha256:test".into(),
            disclosed: Default::default(),
            redactions: Default::default(),
            egress: None,
            content_ref: None,
            details: serde_json::Value::Null,
        },
    }
}

/// `n` events with a checkpoint every `every` events and at the end.
fn log(n: u64, every: u64) -> Log {
    let key = SigningKey::from_seed("moat-test", [3; 32]).unwrap();
    let mut frontier = Frontier::new();
    let mut rows = Vec::new();
    let mut checkpoints = Vec::new();
    for seq in 0..n {
        let bytes = event(seq).canonical_bytes();
        let leaf = event_leaf_hash(&bytes);
        frontier.push(leaf);
        rows.push((seq, bytes, leaf));
        if frontier.size().is_multiple_of(every) || seq == n - 1 {
            let cp = Checkpoint {
                origin: "test/moat".into(),
                size: frontier.size(),
                root: frontier.root(),
            };
            checkpoints.push((cp.size, cp.sign(&key)));
        }
    }
    Log {
        rows,
        checkpoints,
        key,
    }
}

fn verify(log: &Log, external: Option<String>) -> Result<Report, Failure> {
    let witnesses = external
        .into_iter()
        .map(|note| External {
            source: "witness.checkpoint".into(),
            note,
        })
        .collect();
    verify_with(log, witnesses)
}

fn verify_with(log: &Log, external: Vec<External>) -> Result<Report, Failure> {
    let mut verifier = Verifier::new(vec![log.key.verifier()], external)?;
    verifier.expect(log.checkpoints.clone())?;
    for (seq, bytes, leaf) in &log.rows {
        verifier.push(*seq, bytes, Some(leaf))?;
    }
    verifier.finish()
}

#[test]
fn an_untouched_log_verifies() {
    let log = log(100, 10);
    let report = verify(&log, None).unwrap();
    assert_eq!(report.events, 100);
    assert_eq!(report.checkpoints, 10);
    assert_eq!(report.signed_size, 100);
}

#[test]
fn an_edited_field_is_found_at_its_seq() {
    let mut log = log(50, 10);
    let text = String::from_utf8(log.rows[17].1.clone())
        .unwrap()
        .replace("usr_2", "usr_0");
    log.rows[17].1 = text.into_bytes();
    assert_eq!(verify(&log, None).unwrap_err().first_bad_seq, Some(17));
}

#[test]
fn an_edit_with_a_recomputed_hash_is_caught_by_the_checkpoint() {
    let mut log = log(50, 10);
    let text = String::from_utf8(log.rows[17].1.clone())
        .unwrap()
        .replace("usr_2", "usr_0");
    log.rows[17].2 = event_leaf_hash(text.as_bytes());
    log.rows[17].1 = text.into_bytes();
    let failure = verify(&log, None).unwrap_err();
    assert_eq!(failure.first_bad_seq, Some(10), "{failure}");
    assert_eq!(failure.checkpoint_size, Some(20));
}

#[test]
fn a_deleted_row_is_found_at_its_seq() {
    let mut log = log(50, 10);
    log.rows.remove(23);
    assert_eq!(verify(&log, None).unwrap_err().first_bad_seq, Some(23));
}

#[test]
fn an_inserted_row_is_found_where_it_was_put() {
    let mut log = log(50, 10);
    let forged = event(30).canonical_bytes();
    let leaf = event_leaf_hash(&forged);
    // Renumber the rest to make room, as an attacker inserting in the middle must.
    for row in log.rows.iter_mut().skip(30) {
        row.0 += 1;
    }
    log.rows.insert(30, (30, forged, leaf));
    let failure = verify(&log, None).unwrap_err();
    assert_eq!(failure.first_bad_seq, Some(31), "{failure}");
}

#[test]
fn swapped_rows_are_found_at_the_first() {
    let mut log = log(50, 10);
    let (a, b) = (log.rows[12].1.clone(), log.rows[14].1.clone());
    log.rows[12].1 = b;
    log.rows[14].1 = a;
    assert_eq!(verify(&log, None).unwrap_err().first_bad_seq, Some(12));
}

#[test]
fn a_truncated_tail_is_found_at_the_first_missing_seq() {
    let mut log = log(50, 10);
    log.rows.truncate(44);
    let failure = verify(&log, None).unwrap_err();
    assert_eq!(failure.first_bad_seq, Some(44), "{failure}");
}

#[test]
fn a_replaced_checkpoint_is_refused() {
    let mut log = log(50, 10);
    let forger = SigningKey::from_seed("moat-test", [9; 32]).unwrap();
    let cp = checkpoint::parse_unverified(&log.checkpoints[2].1).unwrap();
    log.checkpoints[2].1 = Checkpoint {
        root: [0; 32],
        ..cp
    }
    .sign(&forger);
    let failure = verify(&log, None).unwrap_err();
    assert_eq!(failure.checkpoint_size, Some(30), "{failure}");
    assert!(failure.reason.contains("replaced or forged"), "{failure}");
}

#[test]
fn a_rollback_is_caught_against_an_external_checkpoint() {
    let full = log(60, 10);
    let witness = full.checkpoints.last().unwrap().1.clone();
    let mut old = log(60, 10);
    old.rows.truncate(40);
    old.checkpoints.retain(|(size, _)| *size <= 40);
    verify(&old, None).expect("the old copy is self-consistent");
    let failure = verify(&old, Some(witness)).unwrap_err();
    assert_eq!(failure.first_bad_seq, Some(40), "{failure}");
    assert!(failure.reason.contains("witness"), "{failure}");
}

#[test]
fn a_consistent_external_checkpoint_passes_and_a_forked_one_fails() {
    let log_now = log(60, 10);
    let witness = log_now.checkpoints[3].1.clone();
    verify(&log_now, Some(witness)).unwrap();

    let key = SigningKey::from_seed("moat-test", [3; 32]).unwrap();
    let fork = Checkpoint {
        origin: "test/moat".into(),
        size: 35,
        root: [1; 32],
    }
    .sign(&key);
    let failure = verify(&log_now, Some(fork)).unwrap_err();
    assert_eq!(failure.checkpoint_size, Some(35));
}

/// Event `seq` rewritten as someone with write access to the database would: its
/// content, its recorded hash and (implicitly, since rows carry only leaf hashes here)
/// the tree. With `key`, every checkpoint from the edit on is re-signed over the new
/// history; without, those checkpoints are left as they were.
fn rewrite(log: &mut Log, seq: usize, key: Option<&SigningKey>) {
    let text = String::from_utf8(log.rows[seq].1.clone())
        .unwrap()
        .replace("mcp.call", "mcp.cell");
    log.rows[seq].2 = event_leaf_hash(text.as_bytes());
    log.rows[seq].1 = text.into_bytes();
    let Some(key) = key else { return };
    let mut frontier = Frontier::new();
    let leaves: Vec<Hash> = log.rows.iter().map(|r| r.2).collect();
    for (size, note) in log.checkpoints.iter_mut() {
        while frontier.size() < *size {
            frontier.push(leaves[frontier.size() as usize]);
        }
        *note = Checkpoint {
            origin: "test/moat".into(),
            size: *size,
            root: frontier.root(),
        }
        .sign(key);
    }
}

#[test]
fn with_a_checkpoint_per_batch_a_rewrite_is_named_at_the_rewritten_event() {
    for seq in [0usize, 1, 17, 48, 49] {
        let mut log = log(50, 1);
        rewrite(&mut log, seq, None);
        let failure = verify(&log, None).unwrap_err();
        assert_eq!(failure.first_bad_seq, Some(seq as u64), "{failure}");
        assert_eq!(failure.checkpoint_size, Some(seq as u64 + 1));
        assert!(
            failure
                .reason
                .starts_with(&format!("event {seq} does not match")),
            "{failure}"
        );
    }
}

#[test]
fn a_rewrite_in_a_batch_is_named_at_the_batch_never_past_it() {
    let mut log = log(50, 10);
    rewrite(&mut log, 17, None);
    let failure = verify(&log, None).unwrap_err();
    assert_eq!(failure.first_bad_seq, Some(10), "{failure}");
    assert!(
        failure.reason.contains("one of events 10 to 19"),
        "{failure}"
    );
}

#[test]
fn a_rewrite_re_signed_with_the_logs_key_is_caught_by_a_witness_and_trusts_nothing_after_it() {
    let original = log(60, 1);
    let witness = original.checkpoints.last().unwrap().1.clone();
    let early_witness = original.checkpoints[9].1.clone(); // size 10
    let mut forged = log(60, 1);
    let key = SigningKey::from_seed("moat-test", [3; 32]).unwrap();
    rewrite(&mut forged, 17, Some(&key));
    verify(&forged, None).expect("re-signed, the log agrees with itself");

    let failure = verify(&forged, Some(witness.clone())).unwrap_err();
    assert_eq!(failure.checkpoint_size, Some(60), "{failure}");
    assert_eq!(
        failure.first_bad_seq,
        Some(0),
        "the log's own checkpoints are worthless once its key signed two histories: {failure}"
    );
    assert!(
        failure.reason.contains("signed two different histories"),
        "{failure}"
    );
    assert!(failure.reason.contains("witness.checkpoint"), "{failure}");

    // A second, older witness copy vouches for what it covers.
    let failure = verify_with(
        &forged,
        vec![
            External {
                source: "old".into(),
                note: early_witness,
            },
            External {
                source: "new".into(),
                note: witness,
            },
        ],
    )
    .unwrap_err();
    assert_eq!(failure.first_bad_seq, Some(10), "{failure}");
}

#[test]
fn a_rewrite_hidden_by_deleting_its_checkpoints_is_named_against_a_witness() {
    let original = log(60, 1);
    let witness = original.checkpoints.last().unwrap().1.clone();
    let mut forged = log(60, 1);
    rewrite(&mut forged, 17, None);
    // Without the key, the checkpoints that no longer match can only be removed.
    forged.checkpoints.truncate(17);
    let failure = verify(&forged, Some(witness)).unwrap_err();
    assert_eq!(failure.first_bad_seq, Some(17), "{failure}");
    assert_eq!(failure.checkpoint_size, Some(60), "{failure}");
}

#[test]
fn events_in_no_signed_checkpoint_fail() {
    let mut log = log(45, 10);
    log.checkpoints.pop(); // the one at 45, stored with the last batch
    let failure = verify(&log, None).unwrap_err();
    assert_eq!(failure.first_bad_seq, Some(40), "{failure}");
    assert!(
        failure.reason.contains("in no signed checkpoint"),
        "{failure}"
    );
}

#[test]
fn checkpoints_given_out_of_order_fail_closed() {
    let log = log(20, 5);
    let mut verifier = Verifier::new(vec![log.key.verifier()], vec![]).unwrap();
    verifier.expect(log.checkpoints[1..].to_vec()).unwrap();
    assert!(verifier.expect(log.checkpoints[..1].to_vec()).is_err());
}

fn verify_checked(log: &Log) -> Result<Report, Failure> {
    let keys = vec![log.key.verifier()];
    let mut verifier = Verifier::new(keys.clone(), vec![])?;
    verifier.expect_checked(open_checkpoints(log.checkpoints.clone(), &keys))?;
    for (seq, bytes, leaf) in &log.rows {
        verifier.push(*seq, bytes, Some(leaf))?;
    }
    verifier.finish()
}

#[test]
fn signatures_checked_on_every_core_are_all_checked_in_order() {
    let log = log(300, 1);
    let report = verify_checked(&log).unwrap();
    assert_eq!((report.events, report.checkpoints), (300, 300));

    // A forged signature anywhere among them is still found, at its size.
    for at in [0usize, 150, 299] {
        let mut forged = log.clone();
        let forger = SigningKey::from_seed("moat-test", [9; 32]).unwrap();
        let cp = checkpoint::parse_unverified(&forged.checkpoints[at].1).unwrap();
        forged.checkpoints[at].1 = cp.sign(&forger);
        let failure = verify_checked(&forged).unwrap_err();
        assert_eq!(failure.checkpoint_size, Some(at as u64 + 1), "{failure}");
        assert!(failure.reason.contains("replaced or forged"), "{failure}");
    }
}

#[test]
fn the_quick_seq_reader_agrees_with_a_full_parse() {
    for seq in [0u64, 7, 123_456_789] {
        let mut e = event(seq);
        e.body.details = serde_json::json!({"seq": 99, "time": "nested"});
        let bytes = e.canonical_bytes();
        assert_eq!(top_level_seq(&bytes), Some(seq));
    }
    assert_eq!(
        top_level_seq(br#"{"seq":1}"#),
        None,
        "not canonical event bytes: falls back"
    );
}
