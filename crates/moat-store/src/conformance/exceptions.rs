//! Exceptions to the policy: stored as asked, listed newest first and by status, and a
//! decision that is taken once (of two reviewers deciding at once one wins) and moves
//! the access version.

use super::sample_user;
use crate::Store;
use crate::exceptions::{APPROVED, DENIED, PENDING, PolicyException, REVOKED};
use moat_domain::UnixTime;
use std::sync::Arc;

fn asked(id: &str, at: i64) -> PolicyException {
    PolicyException {
        id: id.into(),
        user_id: "usr_ex".into(),
        kind: "repo".into(),
        target: "ledger".into(),
        reason: "incident 4711: read the settlement code".into(),
        seconds: 86_400,
        status: PENDING.into(),
        requested_at: UnixTime(at),
        requested_by: "dev@example.com".into(),
        decided_at: None,
        decided_by: None,
        note: None,
        starts_at: None,
        ends_at: None,
    }
}

pub async fn run_all(store: Arc<dyn Store>) {
    store
        .insert_user(&sample_user("usr_ex", "exceptional@example.com"))
        .await
        .unwrap();
    store.exception_insert(&asked("ex_1", 10)).await.unwrap();
    store.exception_insert(&asked("ex_2", 20)).await.unwrap();
    assert!(
        store.exception_insert(&asked("ex_1", 30)).await.is_err(),
        "an id is used once"
    );
    let mut unknown = asked("ex_3", 30);
    unknown.user_id = "usr_nobody".into();
    assert!(
        store.exception_insert(&unknown).await.is_err(),
        "only for a person who exists"
    );
    assert_eq!(
        store.exception_get("ex_1").await.unwrap(),
        Some(asked("ex_1", 10))
    );
    assert_eq!(store.exception_get("ex_9").await.unwrap(), None);
    let ids = |list: Vec<PolicyException>| list.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(ids(store.exceptions(None).await.unwrap()), ["ex_2", "ex_1"]);

    // Two reviewers decide at once: one approval is written, the other finds it decided.
    let before = store.access_version().await.unwrap();
    let mut approved = asked("ex_1", 10);
    approved.status = APPROVED.into();
    approved.decided_at = Some(UnixTime(40));
    approved.decided_by = Some("sec@example.com".into());
    approved.starts_at = Some(UnixTime(40));
    approved.ends_at = Some(UnixTime(40 + 86_400));
    let mut denied = asked("ex_1", 10);
    denied.status = DENIED.into();
    denied.note = Some("no".into());
    let (a, b) = tokio::join!(
        store.exception_update(&approved, PENDING),
        store.exception_update(&denied, PENDING)
    );
    assert!(a.unwrap() ^ b.unwrap(), "exactly one decision is taken");
    let decided = store.exception_get("ex_1").await.unwrap().unwrap();
    assert!(decided == approved || decided == denied, "{decided:?}");
    assert!(
        store.access_version().await.unwrap() > before,
        "a decision moves the access version"
    );
    assert_eq!(
        ids(store.exceptions(Some(PENDING)).await.unwrap()),
        ["ex_2"]
    );

    // In force only while approved and inside its window.
    assert!(approved.in_force(UnixTime(40)) && approved.in_force(UnixTime(40 + 86_399)));
    assert!(!approved.in_force(UnixTime(39)) && !approved.in_force(UnixTime(40 + 86_400)));
    let mut revoked = approved.clone();
    revoked.status = REVOKED.into();
    assert!(!revoked.in_force(UnixTime(50)));
    // Every kind the service asks for is stored; any other is refused.
    for (id, kind, target) in [
        ("ex_m", "model", "opus"),
        ("ex_t", "tier", "confidential"),
        ("ex_v", "vendor", "anthropic"),
    ] {
        let mut other = asked(id, 5);
        other.kind = kind.into();
        other.target = target.into();
        store.exception_insert(&other).await.unwrap();
        assert_eq!(store.exception_get(id).await.unwrap(), Some(other));
    }
    let mut unknown_kind = asked("ex_k", 5);
    unknown_kind.kind = "everything".into();
    assert!(store.exception_insert(&unknown_kind).await.is_err());
}
