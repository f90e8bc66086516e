//! Behaviour every [`Store`] backend must show. A backend's tests call [`run_all`] on a
//! fresh, empty store; each check panics with a message naming what broke.

use crate::{HostLink, MirrorApplied, MirrorSynced, MirrorUpdate, ReaderChange, Store, StoreError};
use moat_domain::{
    ExternalIds, Role, Scope, Token, TokenId, TrainingAttestation, UnixTime, User, UserId,
    UserStatus,
};
use std::sync::Arc;

mod access_states;
mod exceptions;
mod incidents;
mod index_jobs;
mod kill_switches;
mod oauth;
mod scim;
pub mod scratch;

pub async fn run_all(store: Arc<dyn Store>) {
    users_round_trip(store.as_ref()).await;
    emails_are_unique_case_insensitively(store.as_ref()).await;
    status_changes_and_deprovisioning_revokes_tokens(store.as_ref()).await;
    tokens_round_trip_and_resolve_by_hash(store.as_ref()).await;
    tokens_need_an_existing_user(store.as_ref()).await;
    revocation_keeps_the_first_time(store.as_ref()).await;
    rotation_links_and_caps_expiry(store.as_ref()).await;
    touch_is_coarse(store.as_ref()).await;
    training_is_recorded(store.as_ref()).await;
    audit_appends_are_ordered_atomic_and_exclusive(store.as_ref()).await;
    audit_sink_cursors_only_move_forward(store.as_ref()).await;
    provenance_finds_answers_by_shared_fingerprints(store.as_ref()).await;
    the_mirror_says_what_changed_since_a_version(store.as_ref()).await;
    mirror_writes_check_what_the_caller_saw(store.as_ref()).await;
    host_links_are_explicit_and_move_the_access_version(store.as_ref()).await;
    mcp_sessions_keep_their_opener_and_state(store.as_ref()).await;
    kept_responses_keep_their_first_owner(store.as_ref()).await;
    counters_refuse_at_their_limit_all_or_nothing(store.as_ref()).await;
    counters_take_back_what_a_hold_did_not_spend(store.as_ref()).await;
    concurrent_takes_never_pass_a_limit(store.clone()).await;
    published_configuration_counts_up_one_version_at_a_time(store.clone()).await;
    index_jobs::run_all(store.clone()).await;
    exceptions::run_all(store.clone()).await;
    kill_switches::run_all(store.clone()).await;
    incidents::run_all(store.clone()).await;
    access_states::run_all(store.clone()).await;
    oauth::run_all(store.as_ref()).await;
    scim::run_all(store.as_ref()).await;
    people_are_paged_searched_and_counted(store.as_ref()).await;
}

/// The console's people page: a search on email or name with ASCII case ignored (no
/// LIKE wildcards), a status filter, pages by email, the total, and counts by status.
async fn people_are_paged_searched_and_counted(store: &dyn Store) {
    for i in 0..7 {
        let mut user = sample_user(&format!("usr_pg{i}"), &format!("Pager{i}@Example.com"));
        user.name = format!("Paged Person {i}");
        if i % 3 == 0 {
            user.status = UserStatus::Suspended;
        }
        store.insert_user(&user).await.unwrap();
    }
    let mut odd = sample_user("usr_pg_odd", "percent%under_score@example.com");
    odd.name = "Nobody PAGER-like".into();
    store.insert_user(&odd).await.unwrap();
    let page = |search: Option<&str>, status: Option<UserStatus>, offset: u64, limit: u64| {
        let query = crate::UserQuery {
            search: search.map(str::to_string),
            status,
            offset,
            limit,
        };
        async move { store.users_page(&query).await }
    };
    let emails = |users: Vec<User>| users.into_iter().map(|u| u.email).collect::<Vec<_>>();
    let (first, total) = page(Some("pAgEr"), None, 0, 3).await.unwrap();
    assert_eq!(total, 8, "seven by email, one by name");
    assert_eq!(
        emails(first),
        [
            "Pager0@Example.com",
            "Pager1@Example.com",
            "Pager2@Example.com"
        ]
    );
    let (last, _) = page(Some("pager"), None, 6, 3).await.unwrap();
    assert_eq!(
        emails(last),
        ["Pager6@Example.com", "percent%under_score@example.com"]
    );
    let (suspended, total) = page(Some("pager"), Some(UserStatus::Suspended), 0, 10)
        .await
        .unwrap();
    assert_eq!(total, 3);
    assert_eq!(
        emails(suspended),
        [
            "Pager0@Example.com",
            "Pager3@Example.com",
            "Pager6@Example.com"
        ]
    );
    // `%` and `_` are letters here, not wildcards.
    assert_eq!(page(Some("%under_"), None, 0, 10).await.unwrap().1, 1);
    assert_eq!(page(Some("pager_"), None, 0, 10).await.unwrap().1, 0);
    // Past the end: nothing, and the total still.
    assert_eq!(
        page(Some("pager"), None, 100, 10).await.unwrap(),
        (vec![], 8)
    );
    // No search: everyone, in the order of `users()`.
    let everyone = store.users().await.unwrap();
    let (all, total) = page(None, None, 0, 10_000).await.unwrap();
    assert_eq!(total as usize, everyone.len());
    assert_eq!(emails(all), emails(everyone.clone()));
    let mut counted = std::collections::BTreeMap::new();
    for user in &everyone {
        *counted.entry(user.status).or_insert(0u64) += 1;
    }
    assert_eq!(
        store.user_counts().await.unwrap(),
        counted.into_iter().collect::<Vec<_>>()
    );
}

fn published(version: i64, text: &str) -> crate::PublishedConfig {
    crate::PublishedConfig {
        version,
        text: text.into(),
        policies: (version == 2).then(|| "permit(principal, action, resource);".into()),
        sha256: format!("sha-{version}"),
        policy_version: format!("pv-{version}"),
        published_at: UnixTime(1_000 + version),
        published_by: "ops@example.com".into(),
    }
}

async fn published_configuration_counts_up_one_version_at_a_time(store: Arc<dyn Store>) {
    assert_eq!(store.config_latest_version().await.unwrap(), None);
    assert_eq!(store.config_published(None).await.unwrap(), None);
    // The first is version 1; skipping ahead is refused.
    let refused = store.config_publish(&published(2, "b")).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    store.config_publish(&published(1, "a")).await.unwrap();
    store.config_publish(&published(2, "b")).await.unwrap();
    // Publishing a version again (someone else was first) is refused; nothing moves.
    let again = store.config_publish(&published(2, "c")).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(store.config_latest_version().await.unwrap(), Some(2));
    assert_eq!(
        store.config_published(None).await.unwrap(),
        Some(published(2, "b"))
    );
    assert_eq!(
        store.config_published(Some(1)).await.unwrap(),
        Some(published(1, "a"))
    );
    assert_eq!(store.config_published(Some(9)).await.unwrap(), None);
    let history: Vec<i64> = store
        .config_history()
        .await
        .unwrap()
        .iter()
        .map(|c| c.version)
        .collect();
    assert_eq!(history, vec![2, 1]);
    // Eight publishers racing for version 3: exactly one wins.
    let racers = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { store.config_publish(&published(3, &format!("r{i}"))).await })
    });
    let mut won = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("a racing publish failed otherwise: {other}"),
        }
    }
    assert_eq!(won, 1, "one publisher of version 3");
    assert_eq!(store.config_latest_version().await.unwrap(), Some(3));
}

fn take(key: &str, window: i64, limit: u64, add: u64) -> crate::CounterTake {
    crate::CounterTake {
        key: key.into(),
        window,
        limit,
        add,
    }
}

async fn counters_refuse_at_their_limit_all_or_nothing(store: &dyn Store) {
    let both = |budget: u64| {
        vec![
            take("user u1/requests", 7, 2, 1),
            take("team t/tokens", 3, budget, 0),
        ]
    };
    assert_eq!(store.counters_take(&both(100)).await.unwrap(), None);
    assert_eq!(store.counters_take(&both(100)).await.unwrap(), None);
    // The third request of the minute is refused, naming the counter at its limit.
    assert_eq!(store.counters_take(&both(100)).await.unwrap(), Some(0));
    // The next minute starts afresh.
    assert_eq!(
        store
            .counters_take(&[take("user u1/requests", 8, 2, 1)])
            .await
            .unwrap(),
        None
    );
    // Tokens spent fill the day's budget; a take refused by one counter adds to none.
    store
        .counters_add(&[counter_change("team t/tokens", 3, 100)])
        .await
        .unwrap();
    let refused = vec![
        take("user u2/requests", 7, 5, 1),
        take("team t/tokens", 3, 100, 0),
    ];
    assert_eq!(store.counters_take(&refused).await.unwrap(), Some(1));
    assert_eq!(
        store
            .counters_take(&[take("user u2/requests", 7, 1, 1)])
            .await
            .unwrap(),
        None,
        "the refused take did not count u2's request"
    );
    assert_eq!(
        store.counters_expire("user ", 8).await.unwrap(),
        2,
        "the windows before 8 of both users"
    );
    assert_eq!(
        store
            .counters_take(&[take("user u1/requests", 8, 1, 1)])
            .await
            .unwrap(),
        Some(0),
        "window 8 was kept, with its one request"
    );
}

fn counter_change(key: &str, window: i64, delta: i64) -> crate::CounterChange {
    crate::CounterChange {
        key: key.into(),
        window,
        delta,
    }
}

/// A budget's hold is settled by a signed change: what was held and not spent comes
/// back, and no counter goes below zero.
async fn counters_take_back_what_a_hold_did_not_spend(store: &dyn Store) {
    let held = |window| {
        vec![
            take("team h/tokens", window, 100, 80),
            take("team h/held", window, u64::MAX, 80),
        ]
    };
    assert_eq!(store.counters_take(&held(5)).await.unwrap(), None);
    let keys = vec![
        ("team h/tokens".to_string(), 5),
        ("team h/held".to_string(), 5),
    ];
    assert_eq!(store.counters_get(&keys).await.unwrap(), vec![80, 80]);
    // Held while in progress: a second request may still start (80 < 100) ...
    assert_eq!(store.counters_take(&held(5)).await.unwrap(), None);
    // ... and a third may not (160 >= 100).
    assert_eq!(store.counters_take(&held(5)).await.unwrap(), Some(0));
    // The first two spent 30 and 20 of their 80.
    store
        .counters_add(&[
            counter_change("team h/tokens", 5, 30 - 80),
            counter_change("team h/held", 5, -80),
        ])
        .await
        .unwrap();
    store
        .counters_add(&[
            counter_change("team h/tokens", 5, 20 - 80),
            counter_change("team h/held", 5, -80),
        ])
        .await
        .unwrap();
    assert_eq!(store.counters_get(&keys).await.unwrap(), vec![50, 0]);
    // Never below zero, also for a counter that does not exist; unknown counters read 0.
    store
        .counters_add(&[
            counter_change("team h/held", 5, -1_000),
            counter_change("team h/none", 5, -3),
        ])
        .await
        .unwrap();
    assert_eq!(
        store
            .counters_get(&[
                ("team h/held".into(), 5),
                ("team h/none".into(), 5),
                ("x".into(), 1)
            ])
            .await
            .unwrap(),
        vec![0, 0, 0]
    );
}

/// Forty takes at once against a limit of ten: ten pass, whoever they come from.
async fn concurrent_takes_never_pass_a_limit(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .counters_take(&[take("team race/requests", 1, 10, 1)])
                .await
                .unwrap()
        }));
    }
    let mut passed = 0;
    for task in tasks {
        if task.await.unwrap().is_none() {
            passed += 1;
        }
    }
    assert_eq!(passed, 10);
}

/// A response the vendor keeps is its first owner's: recording it again for someone
/// else changes nothing.
async fn kept_responses_keep_their_first_owner(store: &dyn Store) {
    assert_eq!(store.gateway_kept_owner("resp_1").await.unwrap(), None);
    let ids = vec!["resp_1".to_string(), "msg_1".to_string()];
    store
        .gateway_kept_put(&ids, "usr_a", UnixTime(100))
        .await
        .unwrap();
    store
        .gateway_kept_put(
            &["msg_1".to_string(), "resp_2".to_string()],
            "usr_b",
            UnixTime(101),
        )
        .await
        .unwrap();
    for (id, owner) in [("resp_1", "usr_a"), ("msg_1", "usr_a"), ("resp_2", "usr_b")] {
        assert_eq!(
            store.gateway_kept_owner(id).await.unwrap().as_deref(),
            Some(owner)
        );
    }
    store
        .gateway_kept_put(&[], "usr_a", UnixTime(102))
        .await
        .unwrap();
    // What the vendor no longer keeps is forgotten: the ids kept before the cut.
    assert_eq!(store.gateway_kept_expire(UnixTime(101)).await.unwrap(), 2);
    assert_eq!(store.gateway_kept_owner("resp_1").await.unwrap(), None);
    assert_eq!(
        store.gateway_kept_owner("resp_2").await.unwrap().as_deref(),
        Some("usr_b")
    );
}

async fn mcp_sessions_keep_their_opener_and_state(store: &dyn Store) {
    assert_eq!(store.mcp_session("s1").await.unwrap(), None);
    // The transport keeps the client's parameters before the opener is recorded.
    store
        .mcp_session_keep("s1", r#"{"clientInfo":{"name":"t"}}"#, UnixTime(100))
        .await
        .unwrap();
    let kept = store.mcp_session("s1").await.unwrap().unwrap();
    assert_eq!(kept.owner, None, "no owner yet: nobody may use it");
    store
        .mcp_session_bind("s1", "usr_a", "tok_a", UnixTime(101))
        .await
        .unwrap();
    // Binding again to the same opener is harmless; to anyone else it is refused.
    store
        .mcp_session_bind("s1", "usr_a", "tok_a", UnixTime(102))
        .await
        .unwrap();
    assert!(matches!(
        store
            .mcp_session_bind("s1", "usr_b", "tok_b", UnixTime(103))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.mcp_session("s1").await.unwrap(),
        Some(crate::McpSession {
            id: "s1".into(),
            owner: Some(("usr_a".into(), "tok_a".into())),
            state: Some(r#"{"clientInfo":{"name":"t"}}"#.into()),
            created_at: UnixTime(100),
        })
    );
    // Bound first, kept after: both land on the same row.
    store
        .mcp_session_bind("s2", "usr_a", "tok_a", UnixTime(200))
        .await
        .unwrap();
    store
        .mcp_session_keep("s2", "{}", UnixTime(201))
        .await
        .unwrap();
    let s2 = store.mcp_session("s2").await.unwrap().unwrap();
    assert_eq!(s2.owner, Some(("usr_a".into(), "tok_a".into())));
    assert_eq!(s2.state.as_deref(), Some("{}"));
    assert_eq!(store.mcp_sessions_expire(UnixTime(150)).await.unwrap(), 1);
    assert_eq!(store.mcp_session("s1").await.unwrap(), None);
    store.mcp_session_delete("s2").await.unwrap();
    assert_eq!(store.mcp_session("s2").await.unwrap(), None);
}

async fn audit_sink_cursors_only_move_forward(store: &dyn Store) {
    assert_eq!(store.audit_sink_cursor("siem").await.unwrap(), None);
    store
        .audit_sink_advance("siem", 500, UnixTime(1_000))
        .await
        .unwrap();
    store
        .audit_sink_advance("archive", 7, UnixTime(1_001))
        .await
        .unwrap();
    // A delivery that finished late (or a second node) cannot move a cursor back.
    store
        .audit_sink_advance("siem", 200, UnixTime(1_002))
        .await
        .unwrap();
    assert_eq!(store.audit_sink_cursor("siem").await.unwrap(), Some(500));
    store
        .audit_sink_advance("siem", 900, UnixTime(1_003))
        .await
        .unwrap();
    assert_eq!(
        store.audit_sink_cursors().await.unwrap(),
        vec![
            ("archive".to_string(), 7, UnixTime(1_001)),
            ("siem".to_string(), 900, UnixTime(1_003)),
        ]
    );
}

/// A change of one reader as a caller that read `before` asks for it.
fn change(repo: &str, login: &str, before: Option<&str>, after: Option<&str>) -> ReaderChange {
    ReaderChange {
        repo: repo.into(),
        login: login.into(),
        before: before.map(String::from),
        after: after.map(String::from),
    }
}

/// Applies `changes`, with a full sync of `synced` when given.
async fn apply(
    store: &dyn Store,
    changes: Vec<ReaderChange>,
    synced: Option<(&str, &str, i64)>,
) -> MirrorApplied {
    store
        .mirror_apply(&MirrorUpdate {
            changes,
            synced: synced.map(|(repo, host, at)| MirrorSynced {
                repo: repo.into(),
                host: host.into(),
                at: UnixTime(at),
            }),
            delivery: None,
        })
        .await
        .unwrap()
}

async fn the_mirror_says_what_changed_since_a_version(store: &dyn Store) {
    let reader = |login: &str| (login.to_string(), "read".to_string());
    let added = |repo: &str, login: &str| change(repo, login, None, Some("read"));
    assert_eq!(
        apply(
            store,
            vec![added("alpha", "ann"), added("alpha", "bo")],
            Some(("alpha", "github", 10)),
        )
        .await,
        MirrorApplied::Applied
    );
    apply(
        store,
        vec![added("beta", "cy")],
        Some(("beta", "gitlab", 11)),
    )
    .await;
    let start = store.access_version().await.unwrap();
    assert!(
        store.mirror_changed_since(start).await.unwrap().is_empty(),
        "nothing changed since the version just read"
    );
    let all: Vec<String> = store
        .mirror_changed_since(0)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.repo)
        .collect();
    assert_eq!(all, ["alpha", "beta"]);

    // A removal (as a webhook reports it) names that repository, whole; logins are
    // compared lowercase.
    apply(store, vec![change("alpha", "BO", Some("read"), None)], None).await;
    let after = store.access_version().await.unwrap();
    assert!(after > start, "a removal moves the access version");
    let changed = store.mirror_changed_since(start).await.unwrap();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].repo, "alpha");
    assert_eq!(changed[0].host, "github");
    assert_eq!(changed[0].synced_at, Some(UnixTime(10)));
    assert_eq!(changed[0].readers, [reader("ann")]);
    assert_eq!(
        store.mirror_readers("alpha").await.unwrap(),
        [reader("ann")]
    );

    // Removing someone who is not there changes nothing.
    apply(store, vec![change("beta", "nobody", None, None)], None).await;
    assert!(store.mirror_changed_since(after).await.unwrap().is_empty());

    // The last reader gone: the repository comes back with none; a webhook for a
    // repository never synced comes back without a sync time.
    apply(store, vec![change("beta", "cy", Some("read"), None)], None).await;
    apply(
        store,
        vec![change("gamma", "dee", None, Some("write"))],
        None,
    )
    .await;
    let changed = store.mirror_changed_since(after).await.unwrap();
    let summary: Vec<(&str, usize, Option<UnixTime>)> = changed
        .iter()
        .map(|m| (m.repo.as_str(), m.readers.len(), m.synced_at))
        .collect();
    assert_eq!(
        summary,
        [("beta", 0, Some(UnixTime(11))), ("gamma", 1, None)]
    );

    // An organisation membership ending: one login out of many repositories at once.
    let before = store.access_version().await.unwrap();
    apply(store, vec![added("beta", "ann")], None).await;
    let rows = store.mirror_rows_of("ANN").await.unwrap();
    assert_eq!(rows, [reader("alpha"), reader("beta")]);
    let out = rows
        .iter()
        .map(|(repo, level)| change(repo, "ann", Some(level), None))
        .collect();
    assert_eq!(apply(store, out, None).await, MirrorApplied::Applied);
    // Both repositories are reported as changed (what an incremental reader relies
    // on), and neither lists ann any more.
    let changed = store.mirror_changed_since(before).await.unwrap();
    let names: Vec<&str> = changed.iter().map(|m| m.repo.as_str()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert!(
        changed
            .iter()
            .all(|m| m.readers.iter().all(|(login, _)| login != "ann")),
        "{changed:?}"
    );
}

async fn mirror_writes_check_what_the_caller_saw(store: &dyn Store) {
    apply(
        store,
        vec![change("delta", "eve", None, Some("read"))],
        Some(("delta", "github", 20)),
    )
    .await;
    let version = store.access_version().await.unwrap();
    // Someone else changed eve's row since this caller read it: nothing of the update
    // is written, not even the change before it or the sync time.
    let stale = apply(
        store,
        vec![
            change("delta", "fay", None, Some("read")),
            change("delta", "eve", None, Some("admin")),
        ],
        Some(("delta", "github", 21)),
    )
    .await;
    assert_eq!(
        stale,
        MirrorApplied::Conflict {
            repo: "delta".into(),
            login: "eve".into()
        }
    );
    assert_eq!(
        store.mirror_readers("delta").await.unwrap(),
        [("eve".to_string(), "read".to_string())]
    );
    assert_eq!(store.access_version().await.unwrap(), version);
    // Two changes of one reader in one update apply in order, as one after the other
    // (a login given in another case is the same reader); a later one that does not
    // follow from the earlier is a conflict that undoes both.
    assert_eq!(
        apply(
            store,
            vec![
                change("delta", "Gus", None, Some("read")),
                change("delta", "gus", Some("read"), Some("admin")),
            ],
            None,
        )
        .await,
        MirrorApplied::Applied
    );
    assert_eq!(
        store.mirror_rows_of("gus").await.unwrap(),
        [("delta".to_string(), "admin".to_string())]
    );
    assert!(matches!(
        apply(
            store,
            vec![
                change("delta", "gus", Some("admin"), None),
                change("delta", "gus", Some("admin"), Some("read")),
            ],
            None,
        )
        .await,
        MirrorApplied::Conflict { .. }
    ));
    assert_eq!(
        store.mirror_rows_of("gus").await.unwrap(),
        [("delta".to_string(), "admin".to_string())]
    );
    assert_eq!(
        apply(
            store,
            vec![change("delta", "gus", Some("admin"), None)],
            None,
        )
        .await,
        MirrorApplied::Applied
    );

    let synced_at = |all: Vec<crate::MirroredReaders>| {
        all.into_iter()
            .find(|m| m.repo == "delta")
            .and_then(|m| m.synced_at)
    };
    assert_eq!(
        synced_at(store.mirror_all().await.unwrap()),
        Some(UnixTime(20))
    );

    // A delivery is recorded with its change, once: the same id again writes nothing,
    // and a delivery whose change conflicted is not recorded (the host's retry applies).
    let delivered = |id: &str, change: ReaderChange| MirrorUpdate {
        changes: vec![change],
        synced: None,
        delivery: Some((id.to_string(), UnixTime(30))),
    };
    let conflicting = delivered("github:d-1", change("delta", "eve", None, None));
    assert!(matches!(
        store.mirror_apply(&conflicting).await.unwrap(),
        MirrorApplied::Conflict { .. }
    ));
    assert!(!store.webhook_seen("github:d-1").await.unwrap());
    let removal = delivered("github:d-1", change("delta", "eve", Some("read"), None));
    assert_eq!(
        store.mirror_apply(&removal).await.unwrap(),
        MirrorApplied::Applied
    );
    assert!(store.webhook_seen("github:d-1").await.unwrap());
    let again = delivered("github:d-1", change("delta", "eve", None, Some("read")));
    assert_eq!(
        store.mirror_apply(&again).await.unwrap(),
        MirrorApplied::Duplicate
    );
    assert!(store.mirror_readers("delta").await.unwrap().is_empty());
}

async fn host_links_are_explicit_and_move_the_access_version(store: &dyn Store) {
    store
        .insert_user(&sample_user("usr_link1", "link1@example.com"))
        .await
        .unwrap();
    store
        .insert_user(&sample_user("usr_link2", "link2@example.com"))
        .await
        .unwrap();
    let link = |login: &str, user: &str, source: &str| HostLink {
        host: "github".into(),
        login: login.into(),
        user: UserId(user.into()),
        source: source.into(),
        linked_at: UnixTime(40),
    };
    let version = store.access_version().await.unwrap();
    assert!(
        store
            .host_link_set(&link("Octo", "usr_link1", "idp"))
            .await
            .unwrap()
    );
    let moved = store.access_version().await.unwrap();
    assert!(moved > version, "a new link moves the access version");
    assert!(
        !store
            .host_link_set(&link("octo", "usr_link1", "idp"))
            .await
            .unwrap(),
        "the same link again changes nothing"
    );
    assert_eq!(store.access_version().await.unwrap(), moved);
    assert!(matches!(
        store
            .host_link_set(&link("ghost", "usr_nobody", "idp"))
            .await,
        Err(StoreError::NotFound { .. })
    ));

    // A source's links are replaced as a whole; other sources' links stay.
    let saml = [
        link("saml-one", "usr_link1", "saml"),
        link("octo", "usr_link2", "saml"),
    ];
    assert_eq!(
        store
            .host_links_replace("github", "saml", &saml)
            .await
            .unwrap(),
        1,
        "octo stays the identity provider's link"
    );
    assert_eq!(
        store
            .host_links_replace("github", "saml", &saml)
            .await
            .unwrap(),
        0
    );
    let summary = |links: Vec<HostLink>| -> Vec<(String, String, String)> {
        links
            .into_iter()
            .map(|l| (l.login, l.user.0, l.source))
            .collect()
    };
    assert_eq!(
        summary(store.host_links().await.unwrap()),
        [
            ("octo".into(), "usr_link1".into(), "idp".into()),
            ("saml-one".into(), "usr_link1".into(), "saml".into()),
        ]
    );
    store
        .host_links_replace("github", "saml", &[])
        .await
        .unwrap();
    assert_eq!(
        summary(store.host_links().await.unwrap()),
        [("octo".into(), "usr_link1".into(), "idp".into())]
    );
}

async fn provenance_finds_answers_by_shared_fingerprints(store: &dyn Store) {
    let answer = |seq: u64| crate::ProvenanceAnswer {
        seq,
        at: UnixTime(1_000 + seq as i64),
        user: "u1".into(),
        model: "claude-sonnet-4-5-20250929".into(),
    };
    store
        .provenance_add(&answer(7), &[1, 2, 3, 4, u32::MAX])
        .await
        .unwrap();
    store.provenance_add(&answer(9), &[3, 4, 5]).await.unwrap();
    // Adding the same answer again changes nothing.
    store.provenance_add(&answer(9), &[3, 4, 5]).await.unwrap();
    let found = store
        .provenance_matches(&[2, 3, 4, 5, u32::MAX], 3)
        .await
        .unwrap();
    assert_eq!(
        found,
        vec![(answer(7), 4), (answer(9), 3)],
        "provenance matches"
    );
    assert!(
        store
            .provenance_matches(&[1, 6], 2)
            .await
            .unwrap()
            .is_empty()
    );
}

pub fn sample_user(id: &str, email: &str) -> User {
    User {
        id: UserId(id.to_string()),
        email: email.to_string(),
        name: format!("Name of {id}"),
        status: UserStatus::Active,
        roles: vec![Role::Developer],
        teams: vec!["payments".to_string()],
        external: ExternalIds::default(),
        training: None,
        created_at: UnixTime(1_700_000_000),
    }
}

pub fn sample_token(id: &str, user: &str, secret_byte: u8) -> Token {
    Token {
        id: TokenId(id.to_string()),
        user_id: UserId(user.to_string()),
        name: "laptop".to_string(),
        scopes: vec![Scope::Mcp, Scope::Gateway],
        secret_sha256: [secret_byte; 32],
        created_at: UnixTime(1_700_000_100),
        expires_at: Some(UnixTime(1_800_000_000)),
        last_used_at: None,
        revoked_at: None,
        replaced_by: None,
        oauth: None,
    }
}

async fn users_round_trip(store: &dyn Store) {
    let mut user = sample_user("usr_rt", "Round.Trip@example.com");
    user.roles = vec![Role::Admin, Role::Security];
    user.teams = vec!["platform".into(), "sec".into()];
    user.external = ExternalIds {
        oidc_subject: Some("oidc|rt".into()),
        scim_id: Some("scim-rt".into()),
    };
    store.insert_user(&user).await.expect("insert user");
    assert_eq!(store.user(&user.id).await.unwrap(), Some(user.clone()));
    assert_eq!(
        store.user_by_email("round.trip@EXAMPLE.com").await.unwrap(),
        Some(user.clone()),
        "email lookup is case-insensitive"
    );
    assert_eq!(
        store.user(&UserId("usr_missing".into())).await.unwrap(),
        None
    );
    assert!(store.users().await.unwrap().contains(&user));
}

async fn emails_are_unique_case_insensitively(store: &dyn Store) {
    store
        .insert_user(&sample_user("usr_u1", "dup@example.com"))
        .await
        .unwrap();
    let err = store
        .insert_user(&sample_user("usr_u2", "DUP@example.com"))
        .await
        .expect_err("duplicate email refused");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(
        store
            .provenance_matches(&[21, 22, 23], 1)
            .await
            .unwrap()
            .is_empty(),
        "a refused append keeps no provenance"
    );
}

async fn status_changes_and_deprovisioning_revokes_tokens(store: &dyn Store) {
    let user = sample_user("usr_st", "status@example.com");
    store.insert_user(&user).await.unwrap();
    store
        .insert_token(&sample_token("tok_st1", "usr_st", 1))
        .await
        .unwrap();
    store
        .insert_token(&sample_token("tok_st2", "usr_st", 2))
        .await
        .unwrap();

    let suspended = store
        .set_user_status(&user.id, UserStatus::Suspended, None)
        .await
        .unwrap();
    assert_eq!(suspended.status, UserStatus::Suspended);
    let token = store
        .token(&TokenId("tok_st1".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(token.revoked_at, None, "suspension keeps tokens");

    let gone = store
        .set_user_status(
            &user.id,
            UserStatus::Deprovisioned,
            Some(UnixTime(1_750_000_000)),
        )
        .await
        .unwrap();
    assert_eq!(gone.status, UserStatus::Deprovisioned);
    for token in store.tokens(Some(&user.id)).await.unwrap() {
        assert_eq!(
            token.revoked_at,
            Some(UnixTime(1_750_000_000)),
            "{}",
            token.id
        );
    }
    let err = store
        .set_user_status(&UserId("usr_nobody".into()), UserStatus::Suspended, None)
        .await
        .expect_err("unknown user");
    assert!(
        matches!(err, StoreError::NotFound { what: "user", .. }),
        "{err:?}"
    );
}

async fn tokens_round_trip_and_resolve_by_hash(store: &dyn Store) {
    store
        .insert_user(&sample_user("usr_tk", "tokens@example.com"))
        .await
        .unwrap();
    let token = sample_token("tok_rt", "usr_tk", 7);
    store.insert_token(&token).await.unwrap();
    assert_eq!(store.token(&token.id).await.unwrap(), Some(token.clone()));

    let credential = store
        .credential_by_secret_hash(&[7; 32])
        .await
        .unwrap()
        .expect("credential by hash");
    assert_eq!(credential.token, token);
    assert_eq!(credential.user.email, "tokens@example.com");
    assert!(
        store
            .credential_by_secret_hash(&[99; 32])
            .await
            .unwrap()
            .is_none()
    );

    let mine = store.tokens(Some(&UserId("usr_tk".into()))).await.unwrap();
    assert_eq!(mine, vec![token.clone()]);
    assert!(store.tokens(None).await.unwrap().contains(&token));

    let mut clash = sample_token("tok_clash", "usr_tk", 7);
    clash.name = "same secret".into();
    let err = store
        .insert_token(&clash)
        .await
        .expect_err("same hash refused");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

async fn tokens_need_an_existing_user(store: &dyn Store) {
    let err = store
        .insert_token(&sample_token("tok_orphan", "usr_ghost", 8))
        .await
        .expect_err("orphan token refused");
    assert!(
        matches!(err, StoreError::NotFound { what: "user", .. }),
        "{err:?}"
    );
}

async fn revocation_keeps_the_first_time(store: &dyn Store) {
    store
        .insert_user(&sample_user("usr_rv", "revoke@example.com"))
        .await
        .unwrap();
    store
        .insert_token(&sample_token("tok_rv", "usr_rv", 9))
        .await
        .unwrap();
    let id = TokenId("tok_rv".into());
    let first = store.revoke_token(&id, UnixTime(10)).await.unwrap();
    assert_eq!(first.revoked_at, Some(UnixTime(10)));
    let second = store.revoke_token(&id, UnixTime(20)).await.unwrap();
    assert_eq!(second.revoked_at, Some(UnixTime(10)));
    let err = store
        .revoke_token(&TokenId("tok_none".into()), UnixTime(1))
        .await
        .expect_err("unknown token");
    assert!(
        matches!(err, StoreError::NotFound { what: "token", .. }),
        "{err:?}"
    );
}

async fn rotation_links_and_caps_expiry(store: &dyn Store) {
    store
        .insert_user(&sample_user("usr_ro", "rotate@example.com"))
        .await
        .unwrap();
    let old = sample_token("tok_ro_old", "usr_ro", 10);
    store.insert_token(&old).await.unwrap();
    let new = sample_token("tok_ro_new", "usr_ro", 11);
    store
        .rotate_token(&old.id, &new, UnixTime(1_700_000_500))
        .await
        .unwrap();
    let old_now = store.token(&old.id).await.unwrap().unwrap();
    assert_eq!(old_now.replaced_by, Some(new.id.clone()));
    assert_eq!(old_now.expires_at, Some(UnixTime(1_700_000_500)));
    assert_eq!(store.token(&new.id).await.unwrap(), Some(new.clone()));

    // A grace period never extends a token past its own expiry.
    let short = Token {
        expires_at: Some(UnixTime(1_700_000_200)),
        ..sample_token("tok_ro_short", "usr_ro", 12)
    };
    store.insert_token(&short).await.unwrap();
    let next = sample_token("tok_ro_next", "usr_ro", 13);
    store
        .rotate_token(&short.id, &next, UnixTime(1_900_000_000))
        .await
        .unwrap();
    let short_now = store.token(&short.id).await.unwrap().unwrap();
    assert_eq!(short_now.expires_at, Some(UnixTime(1_700_000_200)));

    // A failed rotation leaves nothing behind.
    let orphan = sample_token("tok_ro_orphan", "usr_ro", 14);
    store
        .rotate_token(&TokenId("tok_ro_missing".into()), &orphan, UnixTime(1))
        .await
        .expect_err("rotating an unknown token fails");
    assert_eq!(
        store.token(&orphan.id).await.unwrap(),
        None,
        "rotation is atomic"
    );
}

async fn touch_is_coarse(store: &dyn Store) {
    store
        .insert_user(&sample_user("usr_to", "touch@example.com"))
        .await
        .unwrap();
    let token = sample_token("tok_to", "usr_to", 15);
    store.insert_token(&token).await.unwrap();
    store
        .touch_token(&token.id, UnixTime(1000), 60)
        .await
        .unwrap();
    assert_eq!(
        store.token(&token.id).await.unwrap().unwrap().last_used_at,
        Some(UnixTime(1000))
    );
    store
        .touch_token(&token.id, UnixTime(1030), 60)
        .await
        .unwrap();
    assert_eq!(
        store.token(&token.id).await.unwrap().unwrap().last_used_at,
        Some(UnixTime(1000)),
        "within the coarseness window the stored time stays"
    );
    store
        .touch_token(&token.id, UnixTime(1061), 60)
        .await
        .unwrap();
    assert_eq!(
        store.token(&token.id).await.unwrap().unwrap().last_used_at,
        Some(UnixTime(1061))
    );
}

async fn training_is_recorded(store: &dyn Store) {
    let user = sample_user("usr_tr", "train@example.com");
    store.insert_user(&user).await.unwrap();
    let attestation = TrainingAttestation {
        version: "2026.1".into(),
        completed_at: UnixTime(1_760_000_000),
    };
    let updated = store
        .set_user_training(&user.id, &attestation)
        .await
        .unwrap();
    assert_eq!(updated.training, Some(attestation));
}

async fn audit_appends_are_ordered_atomic_and_exclusive(store: &dyn Store) {
    use crate::AuditRow;
    assert_eq!(store.audit_size().await.unwrap(), 0);
    let rows: Vec<AuditRow> = (0..3)
        .map(|seq| AuditRow {
            seq,
            canonical: format!("{{\"seq\":{seq}}}").into_bytes(),
            body: (seq == 1).then(|| ("cc".to_string(), b"the prompt".to_vec())),
            provenance: (seq == 2).then(|| crate::AuditProvenance {
                user: "u-ada".into(),
                model: "gpt-4.1-2025-04-14".into(),
                fingerprints: vec![11, 12, 13, u32::MAX],
            }),
        })
        .collect();
    let nodes = vec![
        (0, [1; 32]),
        (1, [2; 32]),
        (2, [3; 32]),
        ((1 << 56), [4; 32]),
    ];
    let signed = crate::AuditCheckpoint {
        size: 3,
        note: "note-3".into(),
        at: UnixTime(5),
    };
    store
        .audit_append(&rows, &nodes, Some(&signed))
        .await
        .unwrap();
    assert_eq!(store.audit_size().await.unwrap(), 3);
    assert_eq!(
        store.audit_latest_checkpoint().await.unwrap(),
        Some((3, "note-3".to_string())),
        "the checkpoint is stored with the batch it signs"
    );
    assert_eq!(
        store.audit_body("cc").await.unwrap(),
        Some(b"the prompt".to_vec()),
        "a body is stored with its event"
    );
    let remembered = store.provenance_matches(&[11, 12, 13], 3).await.unwrap();
    assert_eq!(remembered.len(), 1, "provenance is stored with its event");
    assert_eq!(remembered[0].0.seq, 2);
    assert_eq!(remembered[0].0.user, "u-ada");
    assert_eq!(remembered[0].0.model, "gpt-4.1-2025-04-14");
    assert_eq!(remembered[0].1, 3);

    let leaves = store.audit_leaves(1, 10).await.unwrap();
    assert_eq!(leaves.len(), 2);
    assert_eq!(leaves[0].seq, 1);
    assert_eq!(leaves[0].canonical, b"{\"seq\":1}");
    assert_eq!(leaves[0].leaf_hash, Some([2; 32]));

    let found = store.audit_nodes(&[1 << 56, 99]).await.unwrap();
    assert_eq!(found, vec![(1 << 56, [4; 32])]);

    // A second writer with a stale view collides and changes nothing.
    let stale = vec![
        AuditRow {
            seq: 2,
            canonical: b"x".to_vec(),
            body: None,
            provenance: None,
        },
        AuditRow {
            seq: 3,
            canonical: b"y".to_vec(),
            body: Some(("dd".to_string(), b"lost".to_vec())),
            provenance: Some(crate::AuditProvenance {
                user: "u-lost".into(),
                model: "m".into(),
                fingerprints: vec![21, 22, 23],
            }),
        },
    ];
    let stale_checkpoint = crate::AuditCheckpoint {
        size: 4,
        note: "stale-4".into(),
        at: UnixTime(6),
    };
    let err = store
        .audit_append(&stale, &[(3, [9; 32])], Some(&stale_checkpoint))
        .await
        .expect_err("seq 2 is taken");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        store.audit_size().await.unwrap(),
        3,
        "the failed batch left nothing"
    );
    assert!(store.audit_nodes(&[3]).await.unwrap().is_empty());
    assert_eq!(store.audit_body("dd").await.unwrap(), None, "nor its body");
    assert_eq!(
        store.audit_checkpoints(4, 4, 10).await.unwrap(),
        vec![],
        "nor its checkpoint"
    );

    // A batch whose checkpoint size is taken is refused whole, too.
    let next = vec![AuditRow {
        seq: 3,
        canonical: b"z".to_vec(),
        body: None,
        provenance: None,
    }];
    store
        .audit_put_checkpoint(4, "someone-else-4", UnixTime(6))
        .await
        .unwrap();
    let err = store
        .audit_append(&next, &[(3, [9; 32])], Some(&stale_checkpoint))
        .await
        .expect_err("size 4 is signed already");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.audit_size().await.unwrap(), 3);

    store
        .audit_put_checkpoint(3, "other", UnixTime(6))
        .await
        .unwrap();
    store
        .audit_put_checkpoint(1, "note-1", UnixTime(4))
        .await
        .unwrap();
    assert_eq!(
        store.audit_checkpoints(0, u64::MAX, 100).await.unwrap(),
        vec![
            (1, "note-1".to_string()),
            (3, "note-3".to_string()),
            (4, "someone-else-4".to_string())
        ],
        "storing a size again keeps the first"
    );
    assert_eq!(
        store.audit_checkpoints(2, 4, 1).await.unwrap(),
        vec![(3, "note-3".to_string())],
        "a range, in order, limited"
    );
    assert_eq!(
        store.audit_latest_checkpoint().await.unwrap(),
        Some((4, "someone-else-4".to_string()))
    );

    store
        .audit_put_body("aa", b"old body", UnixTime(100))
        .await
        .unwrap();
    store
        .audit_put_body("bb", b"new body", UnixTime(200))
        .await
        .unwrap();
    assert_eq!(
        store
            .audit_delete_bodies_before(UnixTime(150))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.audit_body("aa").await.unwrap(), None);
    assert_eq!(
        store.audit_body("bb").await.unwrap(),
        Some(b"new body".to_vec())
    );
}
