//! Indexing jobs: one per repository, one node at a time, claims that lapse, failures
//! that wait, and the head a finished job records.

use crate::{Store, StoreError};
use moat_domain::UnixTime;
use std::sync::Arc;

pub async fn run_all(store: Arc<dyn Store>) {
    a_request_while_waiting_is_absorbed_and_one_under_way_runs_again(store.as_ref()).await;
    claims_lapse_and_a_stale_claimant_writes_nothing(store.as_ref()).await;
    failures_wait_before_they_are_taken_again(store.as_ref()).await;
    nodes_claiming_at_once_never_share_a_job(store).await;
}

fn t(seconds: i64) -> UnixTime {
    UnixTime(seconds)
}

async fn a_request_while_waiting_is_absorbed_and_one_under_way_runs_again(store: &dyn Store) {
    assert!(
        store
            .index_job_request("ledger", "start", t(10))
            .await
            .unwrap()
    );
    assert!(
        !store
            .index_job_request("ledger", "push", t(11))
            .await
            .unwrap()
    );
    assert_eq!(store.index_jobs().await.unwrap().len(), 1);
    let job = store
        .index_job_claim("a", t(12), t(100))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.repo, "ledger");
    assert_eq!(job.reason, "start");
    assert_eq!(job.claimed, Some(("a".into(), t(100))));
    // Nothing else is due while it is held.
    assert_eq!(
        store.index_job_claim("b", t(13), t(100)).await.unwrap(),
        None
    );
    // A push while it runs: it runs once more after it ends.
    assert!(
        !store
            .index_job_request("ledger", "push", t(14))
            .await
            .unwrap()
    );
    assert!(
        store
            .index_job_finish("ledger", "a", Ok("c1"), t(20), t(20))
            .await
            .unwrap()
    );
    let heads = store.index_heads().await.unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!(heads[0].commit, "c1");
    assert_eq!(heads[0].indexed_by, "a");
    let again = store
        .index_job_claim("b", t(21), t(100))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.repo, "ledger", "the push while it ran was kept");
    assert!(
        store
            .index_job_finish("ledger", "b", Ok("c2"), t(22), t(22))
            .await
            .unwrap()
    );
    assert!(
        store.index_jobs().await.unwrap().is_empty(),
        "done, nothing left"
    );
    assert_eq!(store.index_heads().await.unwrap()[0].commit, "c2");
    // `moat index` on one node moves the head too.
    store
        .index_head_set(&crate::IndexHead {
            repo: "ledger".into(),
            commit: "c3".into(),
            indexed_at: t(23),
            indexed_by: "cli".into(),
        })
        .await
        .unwrap();
    let head = &store.index_heads().await.unwrap()[0];
    assert_eq!(
        (head.commit.as_str(), head.indexed_by.as_str()),
        ("c3", "cli")
    );
}

async fn claims_lapse_and_a_stale_claimant_writes_nothing(store: &dyn Store) {
    store
        .index_job_request("billing", "start", t(30))
        .await
        .unwrap();
    store
        .index_job_claim("a", t(31), t(40))
        .await
        .unwrap()
        .unwrap();
    assert!(store.index_job_renew("billing", "a", t(50)).await.unwrap());
    assert_eq!(
        store.index_job_claim("b", t(45), t(99)).await.unwrap(),
        None
    );
    // Node a goes silent: past its claim, b takes the job over.
    let taken = store
        .index_job_claim("b", t(51), t(99))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.claimed, Some(("b".into(), t(99))));
    // a wakes up: it can neither renew nor record what it found.
    assert!(!store.index_job_renew("billing", "a", t(120)).await.unwrap());
    assert!(
        !store
            .index_job_finish("billing", "a", Ok("stale"), t(52), t(52))
            .await
            .unwrap()
    );
    assert!(
        !store
            .index_heads()
            .await
            .unwrap()
            .iter()
            .any(|h| h.repo == "billing")
    );
    assert!(
        store
            .index_job_finish("billing", "b", Ok("fresh"), t(53), t(53))
            .await
            .unwrap()
    );
    let heads = store.index_heads().await.unwrap();
    let billing = heads.iter().find(|h| h.repo == "billing").unwrap();
    assert_eq!(billing.commit, "fresh");
}

async fn failures_wait_before_they_are_taken_again(store: &dyn Store) {
    store
        .index_job_request("claims", "start", t(60))
        .await
        .unwrap();
    store
        .index_job_claim("a", t(61), t(90))
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .index_job_finish("claims", "a", Err("git: not found"), t(62), t(70))
            .await
            .unwrap()
    );
    let jobs = store.index_jobs().await.unwrap();
    assert_eq!(jobs[0].attempts, 1);
    assert_eq!(jobs[0].last_error.as_deref(), Some("git: not found"));
    assert_eq!(jobs[0].claimed, None);
    assert_eq!(
        store.index_job_claim("b", t(65), t(90)).await.unwrap(),
        None
    );
    assert!(
        store
            .index_job_claim("b", t(70), t(90))
            .await
            .unwrap()
            .is_some()
    );
    // A failure leaves the head as it was: there is none for this repository.
    assert!(
        !store
            .index_heads()
            .await
            .unwrap()
            .iter()
            .any(|h| h.repo == "claims")
    );
    store
        .index_job_finish("claims", "b", Ok("c"), t(71), t(71))
        .await
        .unwrap();
}

async fn nodes_claiming_at_once_never_share_a_job(store: Arc<dyn Store>) {
    for i in 0..6 {
        store
            .index_job_request(&format!("repo-{i}"), "start", t(100 + i))
            .await
            .unwrap();
    }
    let claimers = (0..12).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                match store
                    .index_job_claim(&format!("node-{n}"), t(200), t(900))
                    .await
                {
                    Ok(job) => return job.map(|j| j.repo),
                    // SQLite's writer is busy for a moment under this many at once.
                    Err(StoreError::Backend(_)) => tokio::task::yield_now().await,
                    Err(other) => panic!("a claim failed: {other}"),
                }
            }
        })
    });
    let mut taken = Vec::new();
    for claimer in claimers {
        if let Some(repo) = claimer.await.unwrap() {
            taken.push(repo);
        }
    }
    taken.sort();
    assert_eq!(
        taken,
        (0..6).map(|i| format!("repo-{i}")).collect::<Vec<_>>(),
        "each job to exactly one node"
    );
}
