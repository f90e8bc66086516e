//! The audit log service against the real SQLite store.

use super::*;
use crate::SystemClock;
use moat_audit::event::{Actor, Decision, EventBody, Outcome};
use moat_audit::verify::{External, Report};
use moat_store::SqliteStore;
use read::VerifyError;
use sha2::Digest;

pub(super) fn body(action: &str) -> EventBody {
    EventBody {
        actor: Actor {
            user: Some("usr_test".into()),
            client: Some("test".into()),
            ..Actor::default()
        },
        action: action.into(),
        resources: Default::default(),
        decision: Decision {
            outcome: Outcome::Allow,
            rule: Some("test".into()),
            reason: None,
        },
        policy_version: "sha256:test".into(),
        disclosed: Default::default(),
        redactions: Default::default(),
        egress: None,
        content_ref: None,
        details: serde_json::Value::Null,
    }
}

pub(super) fn signer() -> SigningKey {
    SigningKey::from_seed("moat-test", [5; 32]).unwrap()
}

fn settings() -> AuditSettings {
    AuditSettings {
        origin: "test/moat".into(),
        max_batch: 256,
    }
}

pub(super) struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
}

pub(super) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    Fixture { dir, store }
}

pub(super) async fn open(f: &Fixture, witnesses: Vec<Arc<dyn Witness>>) -> AuditLog {
    try_open(f, witnesses).await.unwrap()
}

pub(super) async fn try_open(
    f: &Fixture,
    witnesses: Vec<Arc<dyn Witness>>,
) -> Result<AuditLog, AuditError> {
    AuditLog::open(
        f.store.clone(),
        signer(),
        settings(),
        witnesses,
        Arc::new(SystemClock),
    )
    .await
}

pub(super) async fn verified(f: &Fixture, external: Vec<External>) -> Result<Report, VerifyError> {
    verify(
        f.store.clone(),
        vec![signer().verifier()],
        external,
        |_, _| {},
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_records_get_contiguous_numbers_and_verify() {
    let f = fixture();
    let settings = AuditSettings {
        max_batch: 16,
        ..settings()
    };
    let log = Arc::new(
        AuditLog::open(
            f.store.clone(),
            signer(),
            settings,
            vec![],
            Arc::new(SystemClock),
        )
        .await
        .unwrap(),
    );
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (log, store) = (log.clone(), f.store.clone());
        tasks.push(tokio::spawn(async move {
            let seq = log.record(body(&format!("test.{i}"))).await.unwrap();
            let (signed, _) = store.audit_latest_checkpoint().await.unwrap().unwrap();
            assert!(
                signed > seq,
                "event {seq} was acknowledged before a checkpoint covered it (newest: {signed})"
            );
            seq
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, (0..200).collect::<Vec<_>>());
    log.close().await.unwrap();

    // Every batch is signed: checkpoints at most one batch apart.
    let sizes: Vec<u64> = f
        .store
        .audit_checkpoints(0, u64::MAX, 1000)
        .await
        .unwrap()
        .iter()
        .map(|c| c.0)
        .collect();
    assert!(sizes.len() >= 200 / 16, "{sizes:?}");
    let mut previous = 0;
    for size in &sizes {
        assert!(size - previous <= 16, "{sizes:?}");
        previous = *size;
    }
    assert_eq!(sizes.last(), Some(&200));
    let report = verified(&f, vec![]).await.unwrap();
    assert_eq!(report.events, 200);
    assert_eq!(report.signed_size, 200);
}

#[tokio::test]
async fn reopening_continues_the_same_tree() {
    let f = fixture();
    let log = open(&f, vec![]).await;
    for _ in 0..7 {
        log.record(body("first.run")).await.unwrap();
    }
    log.close().await.unwrap();
    let log = open(&f, vec![]).await;
    assert_eq!(log.record(body("second.run")).await.unwrap(), 7);
    log.close().await.unwrap();
    let report = verified(&f, vec![]).await.unwrap();
    assert_eq!(
        (report.events, report.checkpoints),
        (8, 8),
        "one checkpoint per batch"
    );
}

#[tokio::test]
async fn two_writers_on_one_store_interleave_without_forking() {
    let f = fixture();
    let (a, b) = (open(&f, vec![]).await, open(&f, vec![]).await);
    let mut seen = Vec::new();
    for round in 0..5 {
        seen.push(a.record(body(&format!("a.{round}"))).await.unwrap());
        seen.push(b.record(body(&format!("b.{round}"))).await.unwrap());
    }
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    a.close().await.unwrap();
    b.close().await.unwrap();
    verified(&f, vec![]).await.unwrap();
}

#[tokio::test]
async fn a_failing_store_refuses_the_record() {
    let f = fixture();
    let log = open(&f, vec![]).await;
    log.record(body("before")).await.unwrap();
    rusqlite::Connection::open(f.dir.path().join("moat.db"))
        .unwrap()
        .execute_batch("DROP TABLE audit_events")
        .unwrap();
    let refused = log.record(body("after")).await.unwrap_err();
    assert!(
        matches!(refused, AuditError::Unavailable(_) | AuditError::Corrupt(_)),
        "{refused}"
    );
}

#[tokio::test]
async fn proofs_verify_for_a_third_party_and_tampered_proofs_do_not() {
    let f = fixture();
    let log = open(&f, vec![]).await;
    for i in 0..37 {
        log.record(body(&format!("proof.{i}"))).await.unwrap();
    }
    log.checkpoint().await.unwrap();
    let keys = vec![signer().verifier()];
    for seq in [0, 17, 36] {
        let doc = read::prove(f.store.as_ref(), seq).await.unwrap();
        verify_proof_doc(&doc, &keys).unwrap();
        let mut forged = doc.clone();
        forged.event = forged.event.replace("proof.", "qroof.");
        assert!(verify_proof_doc(&forged, &keys).is_err());
    }
    assert!(
        read::prove(f.store.as_ref(), 37).await.is_err(),
        "not yet checkpointed"
    );
    log.close().await.unwrap();
}

#[tokio::test]
async fn witnesses_receive_the_newest_checkpoint_and_the_final_one_at_close() {
    let f = fixture();
    let outside = tempfile::tempdir().unwrap();
    let path = outside.path().join("moat.checkpoint");
    let log = open(&f, vec![Arc::new(FileWitness { path: path.clone() })]).await;
    for _ in 0..3 {
        log.record(body("witnessed")).await.unwrap();
    }
    let deadline = std::time::Instant::now() + WITNESS_PERIOD * 4;
    while !std::fs::read_to_string(&path).is_ok_and(|n| n.starts_with("test/moat\n3\n")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the witness did not get size 3 within a few periods"
        );
        tokio::time::sleep(WITNESS_PERIOD / 10).await;
    }
    // What `/metrics` reports: the witness holds the newest checkpoint (its age goes
    // back to 0 once the delivery is done), nothing is unsigned, nothing waits.
    let deadline = std::time::Instant::now() + WITNESS_PERIOD * 4;
    let snapshot = loop {
        let snapshot = log.snapshot();
        if snapshot.witnesses[0].behind_seconds == 0.0 || std::time::Instant::now() > deadline {
            break snapshot;
        }
        tokio::time::sleep(WITNESS_PERIOD / 10).await;
    };
    assert_eq!(snapshot.witnesses[0].behind_seconds, 0.0, "{snapshot:?}");
    assert_eq!(snapshot.witnesses[0].failures, 0);
    assert_eq!((snapshot.events, snapshot.unsigned_events), (3, 0));
    assert_eq!(snapshot.queue_depth, 0);
    log.record(body("more")).await.unwrap();
    log.close().await.unwrap();
    let note = std::fs::read_to_string(&path).unwrap();
    assert!(note.starts_with("test/moat\n4\n"), "{note}");
    verified(
        &f,
        vec![External {
            source: "outside".into(),
            note,
        }],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn pruning_stored_bodies_keeps_the_log_verifiable() {
    let f = fixture();
    let log = open(&f, vec![]).await;
    let prompt = b"the prompt sent to the model";
    let digest = hex::encode(sha2::Sha256::digest(prompt));
    f.store
        .audit_put_body(&digest, prompt, moat_domain::UnixTime(1_000))
        .await
        .unwrap();
    let mut with_body = body("gateway.request");
    with_body.content_ref = Some(format!("sha256:{digest}"));
    log.record(with_body).await.unwrap();
    log.close().await.unwrap();

    let deleted = f
        .store
        .audit_delete_bodies_before(moat_domain::UnixTime(2_000))
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(f.store.audit_body(&digest).await.unwrap(), None);
    let report = verified(&f, vec![]).await.unwrap();
    assert_eq!(
        report.events, 1,
        "the event and its content_ref stay verifiable"
    );
    let events = read::events(f.store.as_ref(), 0, 10).await.unwrap();
    assert_eq!(events[0].body.content_ref, Some(format!("sha256:{digest}")));
}

/// While the disk is behind (here: another connection holds SQLite's write lock), a
/// record past the queue's bound is refused at once instead of memory growing without
/// bound; every record that was accepted is durable once the disk catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_new_records_and_loses_none_it_accepted() {
    let f = fixture();
    let log = Arc::new(
        AuditLog::open_with_queue(
            f.store.clone(),
            signer(),
            settings(),
            vec![],
            Arc::new(SystemClock),
            8,
        )
        .await
        .unwrap(),
    );
    log.record(body("before")).await.unwrap();
    let blocker = rusqlite::Connection::open(f.dir.path().join("moat.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut calls = Vec::new();
    for n in 0..40 {
        let log = log.clone();
        calls.push(tokio::spawn(async move {
            log.record(body(&format!("queued.{n}"))).await
        }));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    blocker.execute_batch("COMMIT").unwrap();
    let mut accepted = Vec::new();
    let mut refused = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(seq) => accepted.push(seq),
            Err(AuditError::Unavailable(reason)) => {
                assert!(reason.contains("waiting"), "{reason}");
                refused += 1;
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert!(refused > 0, "the bound was reached");
    assert!(!accepted.is_empty());
    log.close().await.unwrap();
    let stored = read::events(f.store.as_ref(), 0, 100).await.unwrap();
    for seq in &accepted {
        assert!(
            stored.iter().any(|e| e.seq == *seq),
            "acknowledged {seq} is stored"
        );
    }
    verified(&f, vec![]).await.unwrap();
}
