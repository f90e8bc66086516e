//! Kill switches: engaged once per kind and target (of two engaging at once one wins),
//! listed oldest first, released once, an unknown kind refused, and every change moves
//! the access version so that every node's authorizer takes it.

use crate::Store;
use crate::kill_switches::{KillSwitch, MODEL, REPO, VENDOR};
use moat_domain::UnixTime;
use std::sync::Arc;

fn switch(kind: &str, target: &str, at: i64) -> KillSwitch {
    KillSwitch {
        kind: kind.into(),
        target: target.into(),
        reason: format!("incident 4711: stop {target}"),
        engaged_by: "sec@example.com".into(),
        engaged_at: UnixTime(at),
    }
}

pub async fn run_all(store: Arc<dyn Store>) {
    assert!(store.kill_switches().await.unwrap().is_empty());
    let start = store.access_version().await.unwrap();
    assert!(
        store
            .kill_switch_engage(&switch(REPO, "ledger", 20))
            .await
            .unwrap()
    );
    let engaged = store.access_version().await.unwrap();
    assert!(
        engaged > start,
        "engaging a switch moves the access version"
    );

    let again = KillSwitch {
        reason: "someone else, later".into(),
        ..switch(REPO, "ledger", 30)
    };
    assert!(
        !store.kill_switch_engage(&again).await.unwrap(),
        "an engaged switch is not engaged twice"
    );
    assert_eq!(
        store.kill_switches().await.unwrap(),
        vec![switch(REPO, "ledger", 20)],
        "the first engagement is kept as it was"
    );

    // Same target name, other kinds: separate switches.
    assert!(
        store
            .kill_switch_engage(&switch(MODEL, "ledger", 25))
            .await
            .unwrap()
    );
    assert!(
        store
            .kill_switch_engage(&switch(VENDOR, "acme", 10))
            .await
            .unwrap()
    );
    let kinds: Vec<(String, String)> = store
        .kill_switches()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.kind, s.target))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (VENDOR.into(), "acme".into()),
            (REPO.into(), "ledger".into()),
            (MODEL.into(), "ledger".into()),
        ],
        "oldest first"
    );
    assert!(
        store
            .kill_switch_engage(&switch("team", "x", 1))
            .await
            .is_err(),
        "an unknown kind is refused by the store itself"
    );

    let before = store.access_version().await.unwrap();
    assert_eq!(
        store.kill_switch_release(REPO, "ledger").await.unwrap(),
        Some(switch(REPO, "ledger", 20))
    );
    assert!(
        store.access_version().await.unwrap() > before,
        "releasing moves it too"
    );
    assert_eq!(
        store.kill_switch_release(REPO, "ledger").await.unwrap(),
        None
    );
    assert_eq!(
        store.kill_switch_release(REPO, "LEDGER").await.unwrap(),
        None
    );

    // Of many engaging the same switch at once, exactly one engages it.
    let mut tasks = Vec::new();
    for n in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .kill_switch_engage(&switch(REPO, "payments", 100 + n))
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for task in tasks {
        won += task.await.unwrap() as usize;
    }
    assert_eq!(won, 1, "one engagement wins");
    for (kind, target) in [(REPO, "payments"), (MODEL, "ledger"), (VENDOR, "acme")] {
        assert!(
            store
                .kill_switch_release(kind, target)
                .await
                .unwrap()
                .is_some()
        );
    }
    assert!(store.kill_switches().await.unwrap().is_empty());
}
