//! The audit log on PostgreSQL, with several nodes (connection pools, writers)
//! appending to one log at once through one elected sequencer: one log, contiguous
//! numbers, none given twice, every event acknowledged and in it, and it verifies;
//! also when the sequencer's connection is cut mid-load and another node takes over.

use super::tests::{body, signer};
use super::*;
use crate::SystemClock;
use moat_store::conformance::scratch::ScratchPostgres;
use moat_store::{PostgresOptions, PostgresStore};
use std::collections::BTreeMap;

async fn node(url: &str) -> (Arc<dyn Store>, Arc<AuditLog>) {
    let store: Arc<dyn Store> = Arc::new(
        PostgresStore::connect(&PostgresOptions::new(url))
            .await
            .unwrap(),
    );
    let log = AuditLog::open(
        store.clone(),
        signer(),
        AuditSettings {
            origin: "test/moat".into(),
            max_batch: 32,
        },
        vec![],
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    (store, Arc::new(log))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_append_to_one_log_without_forking_or_losing_an_acknowledged_event() {
    let db = ScratchPostgres::new().await;
    let (store, a) = node(&db.url).await;
    let (_, b) = node(&db.url).await;
    let mut tasks = Vec::new();
    for i in 0..400 {
        let log = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let action = format!("test.node{}.{i}", i % 2);
            (action.clone(), log.record(body(&action)).await.ok())
        }));
    }
    let mut acknowledged: BTreeMap<u64, String> = BTreeMap::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            (action, Some(seq)) => {
                let earlier = acknowledged.insert(seq, action.clone());
                assert!(earlier.is_none(), "sequence number {seq} given twice");
            }
            (_, None) => refused += 1,
        }
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
    assert_eq!(refused, 0, "the sequencer leaves nothing to collide");
    assert_eq!(
        acknowledged.keys().copied().collect::<Vec<_>>(),
        (0..400).collect::<Vec<_>>()
    );

    let events = read::events(store.as_ref(), 0, 1_000).await.unwrap();
    for (seq, action) in &acknowledged {
        let event = events
            .iter()
            .find(|e| e.seq == *seq)
            .unwrap_or_else(|| panic!("acknowledged event {seq} ({action}) is not in the log"));
        assert_eq!(&event.body.action, action, "event {seq}");
    }
    let report = read::verify(store.clone(), vec![signer().verifier()], vec![], |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.events as usize, events.len());
    assert!(events.len() >= acknowledged.len());
}

/// Which node leads, by the role each writer reports.
fn leader(logs: &[Arc<AuditLog>]) -> Option<usize> {
    let leaders: Vec<usize> = (0..logs.len())
        .filter(|&i| logs[i].snapshot().sequencer == Sequencer::Leader)
        .collect();
    assert!(leaders.len() <= 1, "two nodes lead at once: {leaders:?}");
    leaders.first().copied()
}

/// The server process holding the sequencer's lock, if a seat holds it.
async fn holder(db: &tokio_postgres::Client) -> Option<i32> {
    db.query_opt(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
         AND (classid::bigint << 32 | objid::bigint) = $1
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        &[&0x6d6f_6174_0003_i64],
    )
    .await
    .unwrap()
    .map(|row| row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sequencer_cut_off_mid_load_is_replaced_and_no_acknowledged_event_is_lost() {
    let db = ScratchPostgres::new().await;
    let mut logs = Vec::new();
    let mut stores = Vec::new();
    for _ in 0..3 {
        let (store, log) = node(&db.url).await;
        stores.push(store);
        logs.push(log);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while leader(&logs).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no node became the sequencer"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Three nodes record continuously while the sequencer is cut off twice.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (n, log) in logs.iter().enumerate() {
        for worker in 0..8 {
            let (log, stop) = (log.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut outcomes = Vec::new();
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let action = format!("test.node{n}.w{worker}.{i}");
                    outcomes.push((action.clone(), log.record(body(&action)).await.ok()));
                    i += 1;
                }
                outcomes
            }));
        }
    }
    let (db_client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut cut = Vec::new();
    for _ in 0..2 {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        // The server ends the backend holding the role, as when the sequencer's node
        // is killed or cut off.
        let pid = holder(&db_client)
            .await
            .expect("a sequencer holds the role");
        db_client
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap();
        // A seat (another node's, or the same node's reconnected) takes it over.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let took_over = loop {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            if let Some(next) = holder(&db_client).await
                && next != pid
            {
                break deadline - std::time::Duration::from_secs(3);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "nobody took over from {pid}"
            );
        };
        cut.push(took_over.elapsed());
        let _ = leader(&logs);
    }
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let mut acknowledged: BTreeMap<u64, String> = BTreeMap::new();
    let mut refused = 0;
    for task in tasks {
        for (action, seq) in task.await.unwrap() {
            match seq {
                Some(seq) => {
                    let earlier = acknowledged.insert(seq, action);
                    assert!(earlier.is_none(), "sequence number {seq} given twice");
                }
                None => refused += 1,
            }
        }
    }
    for log in &logs {
        log.close().await.unwrap();
    }
    assert_eq!(
        refused, 0,
        "records waited for the next sequencer, none refused"
    );
    assert!(
        acknowledged.len() > 300,
        "{} acknowledged",
        acknowledged.len()
    );

    let size = stores[0].audit_size().await.unwrap();
    let events = read::events(stores[0].as_ref(), 0, size as usize + 10)
        .await
        .unwrap();
    assert_eq!(events.len() as u64, size);
    for (seq, action) in &acknowledged {
        assert_eq!(&events[*seq as usize].body.action, action, "event {seq}");
    }
    let report = read::verify(
        stores[0].clone(),
        vec![signer().verifier()],
        vec![],
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(report.events, size);
    eprintln!(
        "{} acknowledged; taken over after {cut:?}",
        acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_no_sequencer_appends_in_time_is_refused_and_appended_once_one_can() {
    let db = ScratchPostgres::new().await;
    // Something else holds the sequencer's role and appends nothing: a hung sequencer.
    let (hung, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    hung.execute("SELECT pg_advisory_lock($1)", &[&0x6d6f_6174_0003_i64])
        .await
        .unwrap();
    let (store, log) = node(&db.url).await;
    let started = std::time::Instant::now();
    let refused = log.record(body("test.unsequenced")).await;
    assert!(
        matches!(&refused, Err(AuditError::Unavailable(why)) if why.contains("stays queued")),
        "{refused:?}"
    );
    assert!(started.elapsed() >= std::time::Duration::from_secs(10));
    assert_eq!(store.audit_size().await.unwrap(), 0, "nothing appended yet");
    assert_eq!(log.snapshot().sequencer, Sequencer::Follower);

    // The hung holder goes: the node takes the role over and appends what waited.
    drop(hung);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while store.audit_size().await.unwrap() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the queued record was never appended"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(log.snapshot().sequencer, Sequencer::Leader);
    let seq = log.record(body("test.after")).await.unwrap();
    assert_eq!(seq, 1);
    log.close().await.unwrap();
    let events = read::events(store.as_ref(), 0, 10).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.body.action.as_str()).collect();
    assert_eq!(actions, ["test.unsequenced", "test.after"]);
}
