//! The permission mirror trusts only what it can verify (issue #17, section 6): a
//! webhook's additions are confirmed with the host's API, its removals apply at once,
//! a delivery is recorded with its change (never before), GitLab levels grant only from
//! reporter up, and every change is an `access.mirror` audit event. Attacks are tried
//! as an outsider who captured signed bodies would try them.

mod common;

use common::{decide, mirror_events, signed, webhooks, world};
use moat_service::SystemClock;
use moat_service::host_sync::HostSync;
use moat_service::webhooks::{WebhookError, WebhookOutcome};
use std::sync::Arc;
use std::sync::atomic::Ordering;

const ADDED: &[u8] =
    br#"{"action":"added","member":{"login":"alice"},"repository":{"full_name":"acme/payments"}}"#;
const REMOVED: &[u8] = br#"{"action":"removed","member":{"login":"alice"},"repository":{"full_name":"acme/payments"}}"#;

fn sig(body: &[u8]) -> String {
    signed(b"webhook-secret", body)
}

async fn synced(world: &common::World) -> Arc<HostSync> {
    let sync = Arc::new(HostSync::new(world.writer.clone(), Arc::new(SystemClock)));
    for (repo, result) in sync.sync_all(&world.repos).await {
        assert!(repo == "hidden" || result.is_ok(), "{repo}: {result:?}");
    }
    sync
}

#[tokio::test]
async fn a_captured_addition_replayed_under_a_new_delivery_id_grants_nothing() {
    let world = world().await;
    synced(&world).await;
    let hooks = webhooks(&world);
    // Alice is removed on GitHub and the removal arrives.
    world
        .hosts
        .github_readers
        .lock()
        .unwrap()
        .retain(|l| l != "alice");
    hooks
        .github("member", Some("d-1"), Some(&sig(REMOVED)), REMOVED)
        .await
        .unwrap();
    assert!(!decide(&world, "alice@example.com", "payments").await.allow);

    // An earlier "added" body, correctly signed, sent again under fresh ids: the
    // signature does not cover the id, but the host's API says she has no access.
    for id in ["d-2", "d-3", "d-4"] {
        let outcome = hooks
            .github("member", Some(id), Some(&sig(ADDED)), ADDED)
            .await
            .unwrap();
        assert_eq!(outcome, WebhookOutcome::Applied(vec![]), "{id}");
        assert!(
            !decide(&world, "alice@example.com", "payments").await.allow,
            "replay {id} re-granted access"
        );
    }

    // Re-added for real: the API confirms, and the level stored is the API's.
    world
        .hosts
        .github_readers
        .lock()
        .unwrap()
        .push("alice".into());
    let outcome = hooks
        .github("member", Some("d-5"), Some(&sig(ADDED)), ADDED)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        WebhookOutcome::Applied(vec![(
            "payments".into(),
            "alice".into(),
            Some("read".into())
        )])
    );
    assert!(decide(&world, "alice@example.com", "payments").await.allow);
}

#[tokio::test]
async fn an_addition_the_api_cannot_confirm_grants_nothing_and_can_be_redelivered() {
    let world = world().await;
    synced(&world).await;
    let hooks = webhooks(&world);
    hooks
        .github("member", Some("d-1"), Some(&sig(REMOVED)), REMOVED)
        .await
        .unwrap();
    world.hosts.permission_down.store(true, Ordering::SeqCst);
    let refused = hooks
        .github("member", Some("d-2"), Some(&sig(ADDED)), ADDED)
        .await;
    assert!(
        matches!(refused, Err(WebhookError::Unconfirmed(_))),
        "{refused:?}"
    );
    assert!(!decide(&world, "alice@example.com", "payments").await.allow);
    // The same delivery, once the API answers again, is not taken for a replay.
    world.hosts.permission_down.store(false, Ordering::SeqCst);
    let outcome = hooks
        .github("member", Some("d-2"), Some(&sig(ADDED)), ADDED)
        .await
        .unwrap();
    assert!(
        matches!(outcome, WebhookOutcome::Applied(ref c) if c.len() == 1),
        "{outcome:?}"
    );
    assert!(decide(&world, "alice@example.com", "payments").await.allow);
    // A removal needs no API: it applies while the API is down.
    world.hosts.permission_down.store(true, Ordering::SeqCst);
    hooks
        .github("member", Some("d-3"), Some(&sig(REMOVED)), REMOVED)
        .await
        .unwrap();
    assert!(!decide(&world, "alice@example.com", "payments").await.allow);
}

#[tokio::test]
async fn a_delivery_whose_change_failed_is_applied_when_the_host_retries_it() {
    let world = world().await;
    synced(&world).await;
    let hooks = webhooks(&world);
    let db = world._dir.path().join("moat.db");
    // The store fails the removal (a full disk, a broken connection).
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER fail_removals BEFORE DELETE ON repo_readers
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .unwrap();
    let failed = hooks
        .github("member", Some("d-7"), Some(&sig(REMOVED)), REMOVED)
        .await;
    assert!(matches!(failed, Err(WebhookError::Mirror(_))), "{failed:?}");
    assert!(decide(&world, "alice@example.com", "payments").await.allow);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DROP TRIGGER fail_removals")
        .unwrap();
    // The host retries the same delivery: it is applied, not acknowledged as a replay.
    let retried = hooks
        .github("member", Some("d-7"), Some(&sig(REMOVED)), REMOVED)
        .await
        .unwrap();
    assert_eq!(
        retried,
        WebhookOutcome::Applied(vec![("payments".into(), "alice".into(), None)])
    );
    assert!(!decide(&world, "alice@example.com", "payments").await.allow);
    assert_eq!(
        hooks
            .github("member", Some("d-7"), Some(&sig(REMOVED)), REMOVED)
            .await
            .unwrap(),
        WebhookOutcome::Duplicate
    );
    // The record shows the attempt, that it failed, and the applied retry.
    let events: Vec<(String, String)> = mirror_events(&world)
        .await
        .into_iter()
        .filter(|e| e["source"] == "webhook")
        .map(|e| {
            (
                e["delivery"].as_str().unwrap().to_string(),
                e["phase"].as_str().unwrap_or("applied").to_string(),
            )
        })
        .collect();
    let d7 = "github:d-7".to_string();
    assert_eq!(
        events,
        [
            (d7.clone(), "applied".into()),
            (d7.clone(), "failed".into()),
            (d7, "applied".into())
        ]
    );
}

#[tokio::test]
async fn gitlab_deliveries_without_a_uuid_cannot_re_grant_and_apply_once() {
    let world = world().await;
    synced(&world).await;
    let hooks = webhooks(&world);
    let token = Some("gitlab-hook-token");
    let added = br#"{"event_name":"user_add_to_team","user_username":"alice","project_path_with_namespace":"group/ledger","access_level":"Reporter"}"#;
    let removed = br#"{"event_name":"user_remove_from_team","user_username":"alice","project_path_with_namespace":"group/ledger","access_level":"Reporter"}"#;
    // Alice leaves the project; the removal arrives three times without a UUID.
    world
        .hosts
        .gitlab_removed
        .lock()
        .unwrap()
        .push("alice".into());
    let before = mirror_events(&world).await.len();
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        outcomes.push(hooks.gitlab(None, token, removed).await.unwrap());
    }
    assert_eq!(
        outcomes,
        [
            WebhookOutcome::Applied(vec![("ledger".into(), "alice".into(), None)]),
            WebhookOutcome::Applied(vec![]),
            WebhookOutcome::Applied(vec![]),
        ]
    );
    assert_eq!(mirror_events(&world).await.len(), before + 1, "one change");
    // A captured "added" body sent three times: the API says she is not a member.
    for _ in 0..3 {
        hooks.gitlab(None, token, added).await.unwrap();
    }
    assert!(!decide(&world, "alice@example.com", "ledger").await.allow);
    assert_eq!(mirror_events(&world).await.len(), before + 1);
}

#[tokio::test]
async fn gitlab_levels_below_reporter_missing_or_unknown_grant_nothing() {
    let world = world().await;
    synced(&world).await;
    let hooks = webhooks(&world);
    let token = Some("gitlab-hook-token");
    let readers = |world: &common::World| {
        let store = world.store.clone();
        async move {
            store
                .mirror_readers("ledger")
                .await
                .unwrap()
                .into_iter()
                .map(|(login, _)| login)
                .collect::<Vec<_>>()
        }
    };
    // Gary is a guest on the project: whatever level a hook claims for him, he never
    // reads code (the API agrees); a planner, a missing or an unknown level is none.
    for level in [
        r#""access_level":"Planner""#,
        r#""access_level":"Superuser""#,
        r#""access_level":"""#,
        r#""access_level":null"#,
        r#""project_id":1"#,
        r#""access_level":"Guest""#,
    ] {
        let body = format!(
            r#"{{"event_name":"user_add_to_team","user_username":"guest-gary","project_path_with_namespace":"group/ledger",{level}}}"#
        );
        hooks.gitlab(None, token, body.as_bytes()).await.unwrap();
        assert!(
            !readers(&world).await.contains(&"guest-gary".to_string()),
            "{level}"
        );
    }
    // Carol reads as a developer; an update that names no level she can read with
    // takes her out at once (the next sync puts back whatever the API says).
    assert!(decide(&world, "carol@example.com", "ledger").await.allow);
    let body = br#"{"event_name":"user_update_for_team","user_username":"carol","project_path_with_namespace":"group/ledger","access_level":"Minimal Access"}"#;
    hooks.gitlab(Some("u-9"), token, body).await.unwrap();
    assert!(!decide(&world, "carol@example.com", "ledger").await.allow);
}

#[tokio::test]
async fn every_mirror_change_is_an_audit_event_and_nothing_else_is() {
    let world = world().await;
    let sync = synced(&world).await;
    let events = mirror_events(&world).await;
    // 250 GitHub readers of payments and 2 GitLab readers of ledger, each once.
    assert_eq!(events.len(), 252);
    let first = events
        .iter()
        .find(|e| e["login"] == "alice" && e["repo"] == "payments")
        .unwrap();
    assert_eq!(first["source"], "sync");
    assert_eq!(first["host"], "github");
    assert_eq!(first["before"], serde_json::Value::Null);
    assert_eq!(first["after"], "read");
    assert_eq!(first["delivery"], serde_json::Value::Null);
    assert_eq!(first["outcome"], "allow");

    // A sync that finds nothing changed records nothing.
    for (repo, result) in sync.sync_all(&world.repos).await {
        assert!(repo == "hidden" || result.is_ok());
    }
    assert_eq!(mirror_events(&world).await.len(), 252);

    // A newcomer and two departures, found by the next sync: exactly those three.
    {
        let mut readers = world.hosts.github_readers.lock().unwrap();
        readers.retain(|l| l != "outside-0" && l != "outside-1");
        readers.push("newcomer".into());
    }
    sync.sync_repo(&world.repos[0]).await.unwrap();
    let events = mirror_events(&world).await;
    let latest: Vec<(String, String, String)> = events[252..]
        .iter()
        .map(|e| {
            (
                e["login"].as_str().unwrap().to_string(),
                e["before"].to_string(),
                e["after"].to_string(),
            )
        })
        .collect();
    assert_eq!(
        latest,
        [
            ("newcomer".into(), "null".into(), "\"read\"".into()),
            ("outside-0".into(), "\"read\"".into(), "null".into()),
            ("outside-1".into(), "\"read\"".into(), "null".into()),
        ]
    );

    // A webhook's removal: one event naming the delivery.
    webhooks(&world)
        .github("member", Some("d-1"), Some(&sig(REMOVED)), REMOVED)
        .await
        .unwrap();
    let last = mirror_events(&world).await.pop().unwrap();
    assert_eq!(last["source"], "webhook");
    assert_eq!(last["delivery"], "github:d-1");
    assert_eq!(
        (last["before"].as_str(), last["after"].as_str()),
        (Some("read"), None)
    );
}

#[tokio::test]
async fn when_the_audit_log_cannot_record_the_mirror_does_not_change() {
    let world = world().await;
    synced(&world).await;
    let hooks = webhooks(&world);
    rusqlite::Connection::open(world._dir.path().join("moat.db"))
        .unwrap()
        .execute_batch("DROP TABLE audit_events")
        .unwrap();
    let refused = hooks
        .github("member", Some("d-1"), Some(&sig(REMOVED)), REMOVED)
        .await;
    assert!(
        matches!(refused, Err(WebhookError::Mirror(_))),
        "{refused:?}"
    );
    assert!(
        world
            .store
            .mirror_readers("payments")
            .await
            .unwrap()
            .iter()
            .any(|(l, _)| l == "alice"),
        "an unrecorded change is not made"
    );
    assert!(!world.store.webhook_seen("github:d-1").await.unwrap());
}
