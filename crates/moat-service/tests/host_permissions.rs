//! The permission mirror against local stand-ins for the GitHub and GitLab REST APIs
//! (`common`): full syncs, staleness, sign-in refreshes and webhooks. Decisions go
//! through the real Access service, and every mirror change through the real audit
//! log.

mod common;

use common::{decide, signed, world};
use moat_domain::UnixTime;
use moat_service::host_sync::{HostSync, SyncError};
use moat_service::webhooks::{WebhookError, WebhookOutcome, Webhooks};
use moat_service::{FixedClock, SignInRefresh, SystemClock};
use std::sync::Arc;
use std::sync::atomic::Ordering;

#[tokio::test]
async fn the_mirror_follows_the_hosts_and_fails_closed_until_synced() {
    let world = world().await;
    // Never synced: denied, naming the stale mirror.
    let before = decide(&world, "alice@example.com", "payments").await;
    assert!(!before.allow);
    assert_eq!(before.rules, ["permission-mirror-fresh"]);

    let sync = Arc::new(HostSync::new(world.writer.clone(), Arc::new(SystemClock)));
    let results = sync.sync_all(&world.repos).await;
    let payments = results[0].1.as_ref().unwrap();
    assert_eq!(
        (payments.readers, payments.pages),
        (250, 3),
        "three pages after a rate-limit wait"
    );
    assert!(
        matches!(results[1].1, Err(SyncError::NotVisible { .. })),
        "{:?}",
        results[1].1
    );
    let ledger = results[2].1.as_ref().unwrap();
    assert_eq!(
        ledger.readers, 2,
        "carol and alice; a guest cannot read code"
    );
    assert!(
        world
            .hosts
            .auth_headers
            .lock()
            .unwrap()
            .iter()
            .all(|h| h == "Bearer test-token-not-a-secret")
    );

    assert!(decide(&world, "alice@example.com", "payments").await.allow);
    assert!(
        decide(&world, "bob@example.com", "payments").await.allow,
        "mapped login"
    );
    let zed = decide(&world, "zed@example.com", "payments").await;
    assert!(!zed.allow);
    assert!(
        zed.reason.contains("github does not list"),
        "{}",
        zed.reason
    );
    let hidden = decide(&world, "alice@example.com", "hidden").await;
    assert_eq!(
        hidden.rules,
        ["permission-mirror-fresh"],
        "a failed sync leaves it closed"
    );
    assert!(decide(&world, "carol@example.com", "ledger").await.allow);

    // Unchanged on the host: one conditional request answered 304.
    let requests = world.hosts.requests.load(Ordering::SeqCst);
    let again = sync.sync_repo(&world.repos[0]).await.unwrap();
    assert!(again.unchanged);
    assert_eq!(world.hosts.requests.load(Ordering::SeqCst), requests + 1);
    assert!(decide(&world, "alice@example.com", "payments").await.allow);
}

#[tokio::test]
async fn a_mirror_older_than_the_bound_denies() {
    let world = world().await;
    let two_hours_ago = UnixTime(UnixTime::now().0 - 7200);
    let sync = Arc::new(HostSync::new(
        world.writer.clone(),
        Arc::new(FixedClock::at(two_hours_ago)),
    ));
    sync.sync_repo(&world.repos[2]).await.unwrap();
    let stale = decide(&world, "carol@example.com", "ledger").await;
    assert!(!stale.allow);
    assert_eq!(stale.rules, ["permission-mirror-fresh"]);
    assert!(stale.reason.contains("fails closed"));

    // What an operator's dashboard shows of it (`moat_permission_mirror_*`).
    let hosts = world.access.mirror_freshness().await.unwrap();
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    let (github, gitlab) = (&hosts[0], &hosts[1]);
    assert_eq!(
        (github.host.as_str(), gitlab.host.as_str()),
        ("github", "gitlab")
    );
    assert_eq!((github.repos, github.never_synced, github.stale), (2, 2, 0));
    assert_eq!(
        github.oldest_sync_age_seconds, None,
        "never synced: no age to show"
    );
    assert_eq!((gitlab.repos, gitlab.never_synced), (1, 0));
    assert_eq!(gitlab.stale, 1, "the ledger, synced two hours ago");
    assert!(
        gitlab
            .oldest_sync_age_seconds
            .is_some_and(|age| (7200..7260).contains(&age)),
        "{gitlab:?}"
    );
    assert_eq!(gitlab.max_staleness_seconds, 3600);
}

#[tokio::test]
async fn a_sign_in_refresh_removes_access_the_hosts_no_longer_grant() {
    let world = world().await;
    let sync = Arc::new(HostSync::new(world.writer.clone(), Arc::new(SystemClock)));
    sync.sync_all(&world.repos).await;
    assert!(decide(&world, "alice@example.com", "payments").await.allow);
    assert!(decide(&world, "alice@example.com", "ledger").await.allow);

    // Both hosts take alice's access away and no webhook reaches Moat: the mirror
    // still says she reads both.
    world
        .hosts
        .github_readers
        .lock()
        .unwrap()
        .retain(|login| login != "alice");
    world
        .hosts
        .gitlab_removed
        .lock()
        .unwrap()
        .push("alice".into());
    assert!(decide(&world, "alice@example.com", "payments").await.allow);

    let clock = Arc::new(FixedClock::at(UnixTime::now()));
    let refresh = SignInRefresh::new(
        world.access.clone(),
        sync.clone(),
        world.repos.clone(),
        clock.clone(),
    );
    let user = |email: &'static str| {
        let store = world.store.clone();
        async move { store.user_by_email(email).await.unwrap().unwrap() }
    };
    let alice = user("alice@example.com").await;
    let report = refresh.refresh(&alice).await.unwrap();
    assert_eq!(
        report.checked, 2,
        "the two mirrored repositories she could read"
    );
    assert_eq!(report.revoked, ["ledger", "payments"]);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    for repo in ["payments", "ledger"] {
        let denied = decide(&world, "alice@example.com", repo).await;
        assert!(!denied.allow, "{repo}: {denied:?}");
        assert!(denied.reason.contains("does not list"), "{}", denied.reason);
    }
    assert!(
        decide(&world, "carol@example.com", "ledger").await.allow,
        "others are untouched"
    );

    // Bob is `bobby-gh` on GitHub (the logins table) and still a reader: nothing goes.
    // Only his linked login is asked about, and only on its own host.
    let bob = user("bob@example.com").await;
    let report = refresh.refresh(&bob).await.unwrap();
    assert_eq!((report.checked, report.revoked.len()), (1, 0), "{report:?}");
    assert!(
        world
            .hosts
            .person_requests
            .lock()
            .unwrap()
            .contains(&"github:bobby-gh".to_string())
    );
    assert!(decide(&world, "bob@example.com", "payments").await.allow);

    // Zed reads nothing mirrored: no request to any host.
    let before = world.hosts.person_requests.lock().unwrap().len();
    let zed = user("zed@example.com").await;
    assert_eq!(refresh.refresh(&zed).await.unwrap().checked, 0);
    assert_eq!(world.hosts.person_requests.lock().unwrap().len(), before);

    // A sign-in is a provider token not seen before for that person, at most once a
    // minute however many tokens they present.
    assert!(refresh.is_new_sign_in(&bob, "jwt-1"));
    assert!(
        !refresh.is_new_sign_in(&bob, "jwt-1"),
        "same token: same session"
    );
    assert!(!refresh.is_new_sign_in(&bob, "jwt-2"), "within a minute");
    clock.advance(moat_service::sign_in::MIN_SECONDS_BETWEEN_REFRESHES);
    assert!(
        refresh.is_new_sign_in(&bob, "jwt-2"),
        "the token that came too soon starts one later"
    );
    assert!(!refresh.is_new_sign_in(&bob, "jwt-3"));
    clock.advance(moat_service::sign_in::MIN_SECONDS_BETWEEN_REFRESHES);
    assert!(refresh.is_new_sign_in(&bob, "jwt-3"));
    assert!(refresh.is_new_sign_in(&alice, "jwt-1"), "per person");
}

#[tokio::test]
async fn webhooks_revoke_at_once_and_refuse_forgeries_and_replays() {
    let world = world().await;
    let sync = Arc::new(HostSync::new(world.writer.clone(), Arc::new(SystemClock)));
    sync.sync_all(&world.repos).await;
    assert!(decide(&world, "alice@example.com", "payments").await.allow);
    let webhooks = Webhooks {
        writer: world.writer.clone(),
        clock: Arc::new(SystemClock),
        sync: sync.clone(),
        repos: world.repos.clone(),
        github_secret: Some(b"webhook-secret".to_vec()),
        gitlab_token: Some("gitlab-hook-token".into()),
    };
    let removed = br#"{"action":"removed","member":{"login":"alice"},"repository":{"full_name":"acme/payments"}}"#;

    let forged = webhooks
        .github(
            "member",
            Some("d-1"),
            Some(&signed(b"wrong-secret", removed)),
            removed,
        )
        .await;
    assert!(matches!(forged, Err(WebhookError::Forged)));
    assert!(matches!(
        webhooks.github("member", Some("d-1"), None, removed).await,
        Err(WebhookError::Forged)
    ));
    assert!(
        decide(&world, "alice@example.com", "payments").await.allow,
        "nothing changed"
    );

    let signature = signed(b"webhook-secret", removed);
    let outcome = webhooks
        .github("member", Some("d-1"), Some(&signature), removed)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        WebhookOutcome::Applied(vec![("payments".into(), "alice".into(), None)])
    );
    assert!(
        !decide(&world, "alice@example.com", "payments").await.allow,
        "revoked as the event arrives"
    );

    // The same delivery id again is a replay: acknowledged, not applied.
    let added = br#"{"action":"added","member":{"login":"alice"},"repository":{"full_name":"acme/payments"}}"#;
    let replay = webhooks
        .github(
            "member",
            Some("d-1"),
            Some(&signed(b"webhook-secret", added)),
            added,
        )
        .await
        .unwrap();
    assert_eq!(replay, WebhookOutcome::Duplicate);
    assert!(!decide(&world, "alice@example.com", "payments").await.allow);

    // GitLab: the shared token, then a removal from the project.
    let body = br#"{"event_name":"user_remove_from_team","user_username":"carol","project_path_with_namespace":"group/ledger","access_level":"Developer"}"#;
    assert!(matches!(
        webhooks.gitlab(Some("u-1"), Some("nope"), body).await,
        Err(WebhookError::Forged)
    ));
    assert!(decide(&world, "carol@example.com", "ledger").await.allow);
    let outcome = webhooks
        .gitlab(Some("u-1"), Some("gitlab-hook-token"), body)
        .await
        .unwrap();
    assert!(matches!(outcome, WebhookOutcome::Applied(_)));
    assert!(!decide(&world, "carol@example.com", "ledger").await.allow);
    assert_eq!(
        webhooks
            .gitlab(Some("u-1"), Some("gitlab-hook-token"), body)
            .await
            .unwrap(),
        WebhookOutcome::Duplicate
    );

    // Leaving the organisation (GitHub) or being blocked (GitLab) removes the person
    // from every repository of that host in one step.
    assert!(decide(&world, "bob@example.com", "payments").await.allow);
    world
        .hosts
        .github_readers
        .lock()
        .unwrap()
        .retain(|login| login != "bobby-gh");
    let left = br#"{"action":"member_removed","membership":{"user":{"login":"bobby-gh"}}}"#;
    let outcome = webhooks
        .github(
            "organization",
            Some("d-3"),
            Some(&signed(b"webhook-secret", left)),
            left,
        )
        .await
        .unwrap();
    assert_eq!(
        outcome,
        WebhookOutcome::Applied(vec![("payments".into(), "bobby-gh".into(), None)])
    );
    assert!(!decide(&world, "bob@example.com", "payments").await.allow);
    assert!(decide(&world, "alice@example.com", "ledger").await.allow);
    let blocked = br#"{"event_name":"user_block","username":"alice"}"#;
    let outcome = webhooks
        .gitlab(Some("u-2"), Some("gitlab-hook-token"), blocked)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        WebhookOutcome::Applied(vec![("ledger".into(), "alice".into(), None)])
    );
    assert!(!decide(&world, "alice@example.com", "ledger").await.allow);
}
