//! An approved exception carries its window: it lets its person through from the
//! moment it is approved and stops at its end with nothing run and nothing written,
//! because the authorizer goes stale at that second; and of two reviewers deciding at
//! once, one decision is taken.

use moat_domain::{Role, Tier, UnixTime};
use moat_policy::{Action, OrgRepo, PermissionSource};
use moat_service::exceptions::{Asked, ExceptionError, ExceptionRules, Exceptions, NewException};
use moat_service::operator::Operator;
use moat_service::{
    Access, AccessSettings, Admin, AdminActor, AuditLog, AuditSettings, FixedClock, Identity,
    IdentitySettings, NewUser, TrainingRule,
};
use moat_store::{SqliteStore, Store};
use std::sync::Arc;

#[tokio::test]
async fn an_exception_ends_by_itself_at_the_end_of_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let clock = Arc::new(FixedClock::at(UnixTime(1_800_000_000)));
    let audit = AuditLog::open(
        store.clone(),
        moat_audit::checkpoint::SigningKey::from_seed("moat-test", [3; 32]).unwrap(),
        AuditSettings {
            origin: "test/moat".into(),
            max_batch: 1024,
        },
        vec![],
        clock.clone(),
    )
    .await
    .unwrap();
    let identity = Arc::new(Identity::new(
        store.clone(),
        clock.clone(),
        IdentitySettings::default(),
    ));
    for (email, role) in [
        ("dev@example.com", Role::Developer),
        ("sec@example.com", Role::Security),
        ("sec2@example.com", Role::Security),
    ] {
        identity
            .add_user(NewUser {
                email: email.into(),
                name: String::new(),
                roles: vec![role],
                teams: vec![],
            })
            .await
            .unwrap();
    }
    let access = Access::new(
        identity.clone(),
        store.clone(),
        AccessSettings {
            repos: vec![OrgRepo {
                name: "ledger".into(),
                tier: Tier::Internal,
                disclosure: Tier::Internal.default_disclosure(),
                tags: vec![],
                region: None,
                source: PermissionSource::Static,
                host_readers: vec![],
            }],
            grants: vec![],
            training: TrainingRule {
                required: false,
                current_version: None,
                renewal_seconds: 0,
            },
            custom_policies: None,
            max_staleness: Default::default(),
            logins: Default::default(),
        },
    );
    let admin = Admin {
        identity: &identity,
        audit: &audit,
        policy_version: "sha256:test",
    };
    let exceptions = Exceptions {
        access: &access,
        admin: &admin,
        rules: ExceptionRules {
            max_seconds: 30 * 86_400,
            review_sla_seconds: 2 * 86_400,
        },
        models: vec!["opus".into()],
        vendors: vec![],
    };
    let actor = AdminActor {
        client: "test".into(),
        ..AdminActor::default()
    };
    let decide = || async {
        access
            .authorizer()
            .await
            .unwrap()
            .decide("dev@example.com", Action::QueryContext, "ledger")
    };
    let ask = |reason: &'static str| {
        let (actor, exceptions) = (&actor, &exceptions);
        async move {
            exceptions
                .request(
                    actor,
                    &Operator::Person("dev@example.com".into()),
                    NewException {
                        user: "dev@example.com".into(),
                        what: Asked::Repo("ledger".into()),
                        reason: reason.into(),
                        seconds: 3_600,
                    },
                )
                .await
                .unwrap()
        }
    };
    let (sec, sec2) = (
        Operator::Person("sec@example.com".into()),
        Operator::Person("sec2@example.com".into()),
    );

    // Two reviewers at once: one decision is taken, the other told so.
    let raced = ask("raced").await;
    let (a, b) = tokio::join!(
        exceptions.approve(&actor, &sec, &raced.id, None),
        exceptions.deny(&actor, &sec2, &raced.id, "not needed".into())
    );
    assert!(a.is_ok() ^ b.is_ok(), "{a:?} {b:?}");
    let lost = if a.is_ok() {
        b.map(|_| ())
    } else {
        a.map(|_| ())
    };
    assert!(
        matches!(
            lost,
            Err(ExceptionError::Decided { .. }) | Err(ExceptionError::Admin(_))
        ),
        "{lost:?}"
    );
    if let Ok(approved) = exceptions.list(Some("approved")).await.map(|l| l.len())
        && approved == 1
    {
        exceptions
            .revoke(&actor, &sec, &raced.id, None)
            .await
            .unwrap();
    }
    assert!(!decide().await.allow);

    // Bounds as the API document states them: characters, not bytes, and only
    // ECMAScript's white space counts as blank.
    let dev = Operator::Person("dev@example.com".into());
    let request = |reason: String| {
        exceptions.request(
            &actor,
            &dev,
            NewException {
                user: "dev@example.com".into(),
                what: Asked::Repo("ledger".into()),
                reason,
                seconds: 3_600,
            },
        )
    };
    let blank = request("\u{3000}\u{feff} \n".into()).await;
    assert!(
        matches!(blank, Err(ExceptionError::Invalid(_))),
        "{blank:?}"
    );
    let too_long = request("事".repeat(2_001)).await;
    assert!(
        matches!(too_long, Err(ExceptionError::Invalid(_))),
        "{too_long:?}"
    );
    let long = request("事".repeat(2_000))
        .await
        .expect("6,000 bytes, 2,000 characters");
    let noted = exceptions
        .deny(&actor, &sec, &long.id, "x".repeat(2_001))
        .await;
    assert!(
        matches!(noted, Err(ExceptionError::Invalid(_))),
        "{noted:?}"
    );
    exceptions
        .deny(&actor, &sec, &long.id, "事".repeat(2_000))
        .await
        .unwrap();

    let asked = ask("incident 4711").await;
    assert!(!decide().await.allow, "pending grants nothing");
    let watch = moat_service::exceptions::OverdueWatch::new(
        store.clone(),
        Arc::new(audit_for_alerts(&store, &clock).await),
        clock.clone(),
        exceptions.rules,
        "sha256:test".into(),
    );
    assert_eq!(watch.check().await.unwrap(), 0, "within the SLA: no alert");
    // Overdue once the review SLA passes: listed so, and alerted once on the record.
    clock.advance(2 * 86_400 + 1);
    let listed = exceptions.list(Some("pending")).await.unwrap();
    assert!(listed[0].overdue && listed[0].id == asked.id);
    assert_eq!(watch.check().await.unwrap(), 1);
    assert_eq!(watch.check().await.unwrap(), 0, "once per request");
    let alerts: Vec<_> = moat_service::audit::read::events(store.as_ref(), 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.body.action == "alert.exception_overdue")
        .collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].body.details["exception"], asked.id.as_str());

    exceptions
        .approve(&actor, &sec, &asked.id, None)
        .await
        .unwrap();
    let allowed = decide().await;
    assert!(allowed.allow);
    assert_eq!(allowed.rules, [format!("exception:{}", asked.id)]);

    // The last second of its hour, then the first after: denied, with nothing written.
    clock.advance(3_599);
    assert!(decide().await.allow);
    let version = store.access_version().await.unwrap();
    clock.advance(1);
    let ended = decide().await;
    assert!(!ended.allow, "{ended:?}");
    assert_eq!(
        store.access_version().await.unwrap(),
        version,
        "nothing was written"
    );
    let listed = exceptions.list(Some("approved")).await.unwrap();
    assert!(listed.iter().all(|e| !e.in_force));
}

/// A second writer on the same store, as another process would be.
async fn audit_for_alerts(store: &Arc<dyn Store>, clock: &Arc<FixedClock>) -> AuditLog {
    AuditLog::open(
        store.clone(),
        moat_audit::checkpoint::SigningKey::from_seed("moat-test", [3; 32]).unwrap(),
        AuditSettings {
            origin: "test/moat".into(),
            max_batch: 1024,
        },
        vec![],
        clock.clone(),
    )
    .await
    .unwrap()
}
