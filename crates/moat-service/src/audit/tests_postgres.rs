//! The audit log on PostgreSQL, with two nodes (two connection pools, two writers)
//! appending to one log at once. Each writer numbers a batch under the append lease,
//! after catching up with what the other appended: one log, contiguous numbers, none
//! given twice, every event acknowledged and in it, and it verifies.

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
    assert_eq!(refused, 0, "the lease leaves nothing to collide");
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
