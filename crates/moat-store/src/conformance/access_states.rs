//! Recorded access states: one a day (a second for the same day writes nothing), found
//! nearest a moment from either side, bodies kept once per content and read back as
//! written, and pruned with the bodies no state names any more.

use crate::{AccessState, Store};
use moat_domain::UnixTime;
use std::sync::Arc;

fn state(day: &str, at: i64, log_size: u64, sha256: &str) -> AccessState {
    AccessState {
        day: day.into(),
        taken_at: UnixTime(at),
        log_size,
        sha256: sha256.into(),
        recorded_seq: log_size + 3,
    }
}

pub async fn run_all(store: Arc<dyn Store>) {
    assert_eq!(
        store.access_state_near(UnixTime(0), false).await.unwrap(),
        None
    );
    let monday = state("2026-11-30", 1_764_460_805, 10, "aa");
    let tuesday = state("2026-12-01", 1_764_547_203, 25, "aa");
    let wednesday = state("2026-12-02", 1_764_633_601, 40, "bb");
    assert!(store.access_state_put(&monday, b"\x00first").await.unwrap());
    assert!(
        store
            .access_state_put(&tuesday, b"\x00first")
            .await
            .unwrap()
    );
    assert!(
        store
            .access_state_put(&wednesday, b"\xffsecond")
            .await
            .unwrap()
    );
    let again = state("2026-12-02", 1_764_633_700, 41, "cc");
    assert!(
        !store.access_state_put(&again, b"other").await.unwrap(),
        "one state a day: a second node's write is not kept"
    );
    assert_eq!(store.access_state_body("cc").await.unwrap(), None);

    let near = |at: i64, before: bool| {
        let store = store.clone();
        async move { store.access_state_near(UnixTime(at), before).await.unwrap() }
    };
    assert_eq!(near(1_764_547_203, true).await.as_ref(), Some(&tuesday));
    assert_eq!(near(1_764_547_203, false).await.as_ref(), Some(&tuesday));
    assert_eq!(near(1_764_547_200, true).await.as_ref(), Some(&monday));
    assert_eq!(near(1_764_547_200, false).await.as_ref(), Some(&tuesday));
    assert_eq!(near(1_764_460_804, true).await, None);
    assert_eq!(near(1_764_633_602, false).await, None);
    assert_eq!(near(i64::MAX, true).await.as_ref(), Some(&wednesday));

    assert_eq!(
        store.access_state_body("aa").await.unwrap().as_deref(),
        Some(&b"\x00first"[..])
    );
    assert_eq!(
        store.access_state_body("bb").await.unwrap().as_deref(),
        Some(&b"\xffsecond"[..])
    );

    // Pruning Monday keeps the body Tuesday still names; pruning Tuesday drops it.
    assert_eq!(
        store
            .access_states_prune(UnixTime(1_764_547_200))
            .await
            .unwrap(),
        1
    );
    assert!(store.access_state_body("aa").await.unwrap().is_some());
    assert_eq!(near(1_764_547_200, true).await, None);
    assert_eq!(
        store
            .access_states_prune(UnixTime(1_764_633_601))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.access_state_body("aa").await.unwrap(), None);
    assert!(store.access_state_body("bb").await.unwrap().is_some());
    assert_eq!(near(0, false).await.as_ref(), Some(&wednesday));
}
