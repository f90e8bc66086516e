//! Witnesses and start-up recovery against the real SQLite store: deliveries stay off the
//! commit path, coalesce, keep up under load, and never bury a rollback or a rewrite.

use super::super::tests::{Fixture, body, fixture, open, signer, try_open, verified};
use super::*;
use moat_audit::event::event_leaf_hash;
use moat_audit::merkle::Frontier;
use std::sync::Mutex;
use std::time::Instant;

/// Remembers every delivery (when, which size); optionally slow.
#[derive(Default)]
struct Recording {
    delay: Duration,
    delivered: Mutex<Vec<(Instant, u64)>>,
}

#[async_trait::async_trait]
impl Witness for Recording {
    fn describe(&self) -> String {
        "recording".into()
    }

    async fn publish(&self, note: &str) -> Result<(), String> {
        tokio::time::sleep(self.delay).await;
        let size = checkpoint::parse_unverified(note).unwrap().size;
        self.delivered.lock().unwrap().push((Instant::now(), size));
        Ok(())
    }
}

fn db(f: &Fixture) -> rusqlite::Connection {
    rusqlite::Connection::open(f.dir.path().join("moat.db")).unwrap()
}

fn file_witness(dir: &tempfile::TempDir) -> (PathBuf, Arc<dyn Witness>) {
    let path = dir.path().join("moat.checkpoint");
    (path.clone(), Arc::new(FileWitness { path }))
}

/// A log of `events` records, closed, with a file witness holding its newest checkpoint.
async fn witnessed_log(f: &Fixture, events: usize) -> (tempfile::TempDir, PathBuf) {
    let outside = tempfile::tempdir().unwrap();
    let (path, witness) = file_witness(&outside);
    let log = open(f, vec![witness]).await;
    for i in 0..events {
        log.record(body(&format!("witnessed.{i}"))).await.unwrap();
    }
    log.close().await.unwrap();
    (outside, path)
}

/// Event `seq` edited and every leaf and node recomputed; with `resign`, every
/// checkpoint re-signed over the new tree with the log's own key.
fn rewrite(f: &Fixture, seq: i64, resign: bool) {
    let conn = db(f);
    let text: Vec<u8> = conn
        .query_row(
            "SELECT canonical FROM audit_events WHERE seq = ?1",
            [seq],
            |r| r.get(0),
        )
        .unwrap();
    let text = String::from_utf8(text)
        .unwrap()
        .replace("witnessed", "witnessec");
    conn.execute(
        "UPDATE audit_events SET canonical = ?2 WHERE seq = ?1",
        rusqlite::params![seq, text.as_bytes()],
    )
    .unwrap();
    let events: Vec<Vec<u8>> = conn
        .prepare("SELECT canonical FROM audit_events ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    conn.execute("DELETE FROM audit_nodes", []).unwrap();
    let mut frontier = Frontier::new();
    for bytes in &events {
        for (id, hash) in frontier.push(event_leaf_hash(bytes)) {
            conn.execute(
                "INSERT INTO audit_nodes (id, hash) VALUES (?1, ?2)",
                rusqlite::params![id.key() as i64, &hash[..]],
            )
            .unwrap();
        }
        if resign {
            let note = Checkpoint {
                origin: "test/moat".into(),
                size: frontier.size(),
                root: frontier.root(),
            }
            .sign(&signer());
            conn.execute(
                "UPDATE audit_checkpoints SET note = ?2 WHERE size = ?1",
                rusqlite::params![frontier.size() as i64, note],
            )
            .unwrap();
        }
    }
}

#[tokio::test]
async fn a_slow_witness_delays_no_record() {
    let f = fixture();
    let slow = Arc::new(Recording {
        delay: Duration::from_secs(2),
        ..Recording::default()
    });
    let log = open(&f, vec![slow.clone()]).await;
    let started = Instant::now();
    for i in 0..20 {
        log.record(body(&format!("fast.{i}"))).await.unwrap();
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "20 records waited on a witness that takes 2 s: {took:?}"
    );
    log.close().await.unwrap();
    let delivered = slow.delivered.lock().unwrap().clone();
    assert_eq!(
        delivered.last().map(|d| d.1),
        Some(20),
        "close delivers the final checkpoint: {delivered:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_load_witnesses_keep_within_a_period_and_coalesce() {
    let f = fixture();
    let witness = Arc::new(Recording::default());
    let log = Arc::new(open(&f, vec![witness.clone()]).await);
    let until = Instant::now() + Duration::from_secs(3);
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut i = 0;
                while Instant::now() < until {
                    log.record(body(&format!("load.{w}.{i}"))).await.unwrap();
                    i += 1;
                }
            })
        })
        .collect();
    let mut samples = Vec::new();
    while Instant::now() < until {
        samples.push((Instant::now(), f.store.audit_size().await.unwrap()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let delivered = witness.delivered.lock().unwrap().clone();
    let batches = f
        .store
        .audit_checkpoints(1, u64::MAX, usize::MAX)
        .await
        .unwrap()
        .len();
    // A period, plus scheduling slack on a shared machine.
    let bound = WITNESS_PERIOD + Duration::from_millis(400);
    for (at, size) in samples.iter().filter(|(at, _)| *at + bound < until) {
        assert!(
            delivered
                .iter()
                .any(|(t, s)| *t <= *at + bound && s >= size),
            "the log had {size} events, but the witness did not get them within {bound:?}: {delivered:?}"
        );
    }
    assert!(
        delivered.len() <= 3_000 / WITNESS_PERIOD.as_millis() as usize + 2,
        "{} deliveries for {batches} batches: not coalesced",
        delivered.len()
    );
    assert!(
        batches > 4 * delivered.len(),
        "the load was too light to show coalescing: {batches} batches"
    );
    log.close().await.unwrap();
}

#[tokio::test]
async fn a_rolled_back_log_is_refused_at_start_up_and_its_witness_kept() {
    let f = fixture();
    let (outside, path) = witnessed_log(&f, 6).await;
    let held = std::fs::read_to_string(&path).unwrap();
    assert!(held.starts_with("test/moat\n6\n"), "{held}");
    // Consistently back to 3 events, as an older copy of the database would be.
    let conn = db(&f);
    conn.execute_batch(
        "DELETE FROM audit_events WHERE seq >= 3;
         DELETE FROM audit_nodes WHERE ((id & 72057594037927935) + 1) << (id >> 56) > 3;
         DELETE FROM audit_checkpoints WHERE size > 3;",
    )
    .unwrap();
    drop(conn);
    let (_, witness) = file_witness(&outside);
    let refused = try_open(&f, vec![witness]).await.err().unwrap();
    assert!(
        matches!(&refused, AuditError::Corrupt(m) if m.contains("rolled back")),
        "{refused}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), held);
}

#[tokio::test]
async fn a_rewritten_log_is_refused_at_start_up() {
    // Re-signed with the log's key: only the witness can tell.
    let f = fixture();
    let (outside, path) = witnessed_log(&f, 5).await;
    let held = std::fs::read_to_string(&path).unwrap();
    rewrite(&f, 2, true);
    verified(&f, vec![])
        .await
        .expect("re-signed, it agrees with itself");
    let (_, witness) = file_witness(&outside);
    let refused = try_open(&f, vec![witness]).await.err().unwrap();
    assert!(
        matches!(&refused, AuditError::Corrupt(m) if m.contains("rewritten")),
        "{refused}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), held);

    // Not re-signed: the log's own newest checkpoint no longer matches its tree.
    let f = fixture();
    witnessed_log(&f, 5).await;
    rewrite(&f, 2, false);
    let refused = try_open(&f, vec![]).await.err().unwrap();
    assert!(
        matches!(&refused, AuditError::Corrupt(m) if m.contains("no longer matches")),
        "{refused}"
    );
}

#[tokio::test]
async fn events_an_older_moat_left_unsigned_are_signed_at_start_up() {
    let f = fixture();
    witnessed_log(&f, 4).await;
    // As a Moat that signed every N events would have left it after a crash.
    db(&f)
        .execute("DELETE FROM audit_checkpoints WHERE size > 1", [])
        .unwrap();
    let unsigned = verified(&f, vec![]).await.unwrap_err();
    assert!(
        unsigned.to_string().contains("in no signed checkpoint"),
        "{unsigned}"
    );
    let log = open(&f, vec![]).await;
    assert_eq!(
        f.store
            .audit_latest_checkpoint()
            .await
            .unwrap()
            .map(|c| c.0),
        Some(4),
        "signed before anything else is appended"
    );
    log.close().await.unwrap();
    verified(&f, vec![]).await.unwrap();
}

#[tokio::test]
async fn a_witness_is_never_replaced_by_an_older_or_unrelated_checkpoint() {
    let f = fixture();
    let (outside, path) = witnessed_log(&f, 5).await;
    let (_, witness) = file_witness(&outside);
    let note_at = |size: u64| {
        let store = f.store.clone();
        async move {
            store.audit_checkpoints(size, size, 1).await.unwrap()[0]
                .1
                .clone()
        }
    };
    let newest = std::fs::read_to_string(&path).unwrap();
    assert!(newest.starts_with("test/moat\n5\n"), "{newest}");

    // Another process sharing the witness is further: left alone.
    let older = note_at(3).await;
    publish_checked(f.store.as_ref(), "test/moat", witness.as_ref(), &older)
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), newest);

    // A checkpoint this log does not extend is evidence: kept.
    let forged = Checkpoint {
        origin: "test/moat".into(),
        size: 4,
        root: [0; 32],
    }
    .sign(&signer());
    std::fs::write(&path, &forged).unwrap();
    let refused = publish_checked(f.store.as_ref(), "test/moat", witness.as_ref(), &newest)
        .await
        .unwrap_err();
    assert!(refused.contains("rewritten"), "{refused}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), forged);

    // So is another log's.
    let foreign = Checkpoint {
        origin: "elsewhere/moat".into(),
        size: 1,
        root: [0; 32],
    }
    .sign(&signer());
    std::fs::write(&path, &foreign).unwrap();
    let refused = publish_checked(f.store.as_ref(), "test/moat", witness.as_ref(), &newest)
        .await
        .unwrap_err();
    assert!(refused.contains("another log"), "{refused}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), foreign);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_log_verifies_while_writers_append() {
    // Events appended during a scan are not an unsigned tail: the scan covers the log
    // as of its start.
    let f = fixture();
    let log = Arc::new(open(&f, vec![]).await);
    let until = Instant::now() + Duration::from_secs(2);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut i = 0;
                while Instant::now() < until {
                    log.record(body(&format!("live.{w}.{i}"))).await.unwrap();
                    i += 1;
                }
            })
        })
        .collect();
    let mut scans = 0;
    while Instant::now() < until {
        verified(&f, vec![]).await.unwrap();
        scans += 1;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(scans > 1, "{scans}");
    log.close().await.unwrap();
}

/// A file witness that remembers the size of every note it writes.
struct Watched {
    file: FileWitness,
    writes: Arc<Mutex<Vec<u64>>>,
}

#[async_trait::async_trait]
impl Witness for Watched {
    fn describe(&self) -> String {
        self.file.describe()
    }

    async fn publish(&self, note: &str) -> Result<(), String> {
        let size = checkpoint::parse_unverified(note).unwrap().size;
        self.writes.lock().unwrap().push(size);
        self.file.publish(note).await
    }

    async fn latest(&self) -> Result<Option<String>, String> {
        self.file.latest().await
    }
}

#[tokio::test]
async fn two_writers_sharing_a_witness_never_set_it_back() {
    let f = fixture();
    let outside = tempfile::tempdir().unwrap();
    let (path, _) = file_witness(&outside);
    let writes = Arc::new(Mutex::new(Vec::new()));
    let watched = || -> Arc<dyn Witness> {
        Arc::new(Watched {
            file: FileWitness { path: path.clone() },
            writes: writes.clone(),
        })
    };
    let (a, b) = (
        open(&f, vec![watched()]).await,
        open(&f, vec![watched()]).await,
    );
    // B's first checkpoint goes out at once; its second waits for B's next period...
    b.record(body("b.0")).await.unwrap();
    tokio::time::sleep(WITNESS_PERIOD / 5).await;
    b.record(body("b.1")).await.unwrap();
    // ...while A, idle until now, delivers a newer one at once.
    for i in 0..20 {
        a.record(body(&format!("a.{i}"))).await.unwrap();
    }
    tokio::time::sleep(WITNESS_PERIOD * 2).await;
    a.close().await.unwrap();
    b.close().await.unwrap();
    let writes = writes.lock().unwrap().clone();
    assert!(writes.is_sorted(), "the witness was set back: {writes:?}");
    let held = std::fs::read_to_string(&path).unwrap();
    assert!(held.starts_with("test/moat\n22\n"), "{held}");
    open(&f, vec![watched()]).await.close().await.unwrap();
}

#[tokio::test]
async fn an_idle_witness_gets_a_new_checkpoint_at_once() {
    let f = fixture();
    let witness = Arc::new(Recording::default());
    let log = open(&f, vec![witness.clone()]).await;
    for round in 1..=2u64 {
        let recorded = Instant::now();
        log.record(body("idle")).await.unwrap();
        let delivered = loop {
            let found = witness
                .delivered
                .lock()
                .unwrap()
                .iter()
                .find(|(_, size)| *size == round)
                .map(|(at, _)| *at);
            if let Some(at) = found {
                break at;
            }
            assert!(recorded.elapsed() < WITNESS_PERIOD * 4, "never delivered");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let lag = delivered.duration_since(recorded);
        assert!(
            lag < WITNESS_PERIOD / 2,
            "round {round}: the witness waited {lag:?} though it was idle"
        );
        tokio::time::sleep(WITNESS_PERIOD * 2).await;
    }
    log.close().await.unwrap();
}
