//! Detection fed from a real audit log: alerts on the record naming the events that
//! raised them, each once; a restarted watch resumes at its cursor with the baselines
//! rebuilt from history, and raises nothing twice.

use moat_audit::checkpoint::SigningKey;
use moat_audit::event::{Actor, Decision, EventBody, Outcome, Resources};
use moat_domain::UnixTime;
use moat_service::FixedClock;
use moat_service::audit::{AuditLog, AuditSettings};
use moat_service::detect::watch::Watch;
use moat_store::{SqliteStore, Store};
use std::sync::Arc;

fn read(who: &str, tool: &str, path: &str, bytes: u64) -> EventBody {
    EventBody {
        actor: Actor {
            user: Some(format!("usr_{who}")),
            email: Some(format!("{who}@example.com")),
            token_id: Some(format!("tok_{who}")),
            client: Some("cursor".into()),
            client_version: None,
            address: Some("10.1.2.3".into()),
        },
        action: "mcp.call".into(),
        resources: Resources {
            repos: vec!["ledger".into()],
            paths: vec![path.into()],
            ..Resources::default()
        },
        decision: Decision {
            outcome: Outcome::Allow,
            rule: Some("repo-readers".into()),
            reason: None,
        },
        policy_version: "t".into(),
        disclosed: [("internal".to_string(), bytes)].into(),
        redactions: Default::default(),
        egress: None,
        content_ref: None,
        details: serde_json::json!({"tool": tool, "injection_flags": {}}),
    }
}

async fn log(store: Arc<dyn Store>, clock: Arc<FixedClock>) -> Arc<AuditLog> {
    Arc::new(
        AuditLog::open(
            store,
            SigningKey::from_seed("moat-test", [4; 32]).unwrap(),
            AuditSettings {
                origin: "test/moat".into(),
                max_batch: 1024,
            },
            vec![],
            clock,
        )
        .await
        .unwrap(),
    )
}

async fn alerts(store: &dyn Store) -> Vec<moat_audit::event::Event> {
    moat_service::audit::read::events(store, 0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.body.action.starts_with("alert."))
        .collect()
}

#[tokio::test]
async fn alerts_name_their_events_once_and_a_restart_resumes_with_its_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    // Monday 2026-11-02, 09:00 UTC.
    let clock = Arc::new(FixedClock::at(UnixTime(1_793_577_600 + 9 * 3600)));
    let audit = log(store.clone(), clock.clone()).await;
    let config = moat_config::Detect::default();
    // History before the watch first runs: ten working days of ordinary reading.
    for _day in 0..10 {
        for _hour in 0..8 {
            for n in 0..5 {
                audit
                    .record(read("ada", "search_code", &format!("src/m{n}.py"), 3_000))
                    .await
                    .unwrap();
                clock.advance(700);
            }
            clock.advance(3600 - 3500);
        }
        clock.advance(16 * 3600);
    }
    let mut watch = Watch::new(
        store.clone(),
        audit.clone(),
        clock.clone(),
        &config,
        "sha256:test".into(),
    );
    assert_eq!(watch.pass().await.unwrap(), 0, "history raises nothing");

    // A walk over the repository: one enumeration alert naming the walk's events.
    let mut walked = Vec::new();
    for n in 0..45 {
        walked.push(
            audit
                .record(read("ada", "read_source", &format!("src/walk/{n}.py"), 500))
                .await
                .unwrap(),
        );
        clock.advance(5);
    }
    assert_eq!(watch.pass().await.unwrap(), 1);
    assert_eq!(watch.pass().await.unwrap(), 0, "each alert once");
    let raised = alerts(store.as_ref()).await;
    assert_eq!(raised.len(), 1);
    let alert = &raised[0];
    assert_eq!(alert.body.action, "alert.enumeration");
    assert_eq!(alert.body.actor.email.as_deref(), Some("ada@example.com"));
    assert_eq!(
        alert.body.decision.rule.as_deref(),
        Some("detect.enumeration")
    );
    let seqs: Vec<u64> = alert.body.details["seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    assert_eq!(seqs.first(), walked.first(), "from the walk's first read");
    assert!(seqs.iter().all(|s| walked.contains(s)), "{seqs:?}");

    // Restarted (a new process): the cursor holds, the baselines come back from
    // history, so a burst is judged against Ada's own hours, not only the ceiling.
    drop(watch);
    let mut watch = Watch::new(
        store.clone(),
        audit.clone(),
        clock.clone(),
        &config,
        "sha256:test".into(),
    );
    assert_eq!(watch.pass().await.unwrap(), 0, "nothing is raised twice");
    clock.advance(3600);
    for n in 0..120 {
        audit
            .record(read(
                "ada",
                "search_code",
                &format!("src/m{}.py", n % 5),
                4_000,
            ))
            .await
            .unwrap();
        clock.advance(10);
    }
    assert_eq!(watch.pass().await.unwrap(), 1);
    let raised = alerts(store.as_ref()).await;
    let volume = raised.last().unwrap();
    assert_eq!(volume.body.action, "alert.volume");
    let reason = volume.body.decision.reason.as_deref().unwrap();
    assert!(
        reason.contains("average"),
        "judged on the rebuilt baseline: {reason}"
    );
}

/// With `suspend_on = ["enumeration"]`, the walk's alert suspends the person at once (a
/// kill switch engaged by detection), on the record with the alert as the actor; an
/// alert of another rule suspends nobody.
#[tokio::test]
async fn an_alert_of_a_listed_rule_suspends_its_person() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let clock = Arc::new(FixedClock::at(UnixTime(1_793_577_600 + 9 * 3600)));
    let audit = log(store.clone(), clock.clone()).await;
    let identity = Arc::new(moat_service::Identity::new(
        store.clone(),
        clock.clone(),
        moat_service::IdentitySettings::default(),
    ));
    let mut ids = Vec::new();
    for email in ["ada@example.com", "mal@example.com"] {
        let user = identity
            .add_user(moat_service::NewUser {
                email: email.into(),
                name: String::new(),
                roles: vec![moat_domain::Role::Developer],
                teams: vec![],
            })
            .await
            .unwrap();
        ids.push(user.id.0.clone());
    }
    let config = moat_config::Detect {
        suspend_on: vec!["enumeration".into()],
        ..moat_config::Detect::default()
    };
    let mut watch = Watch::new(
        store.clone(),
        audit.clone(),
        clock.clone(),
        &config,
        "t".into(),
    )
    .with_containment(identity.clone());
    assert_eq!(watch.pass().await.unwrap(), 0);
    let as_person = |mut event: EventBody, id: &str| {
        event.actor.user = Some(id.to_string());
        event
    };
    // Mal is refused a dozen times: a denials alert, not listed, suspends nobody.
    for _ in 0..12 {
        let mut refused = as_person(read("mal", "read_source", "x.py", 0), &ids[1]);
        refused.action = "access.denied".into();
        refused.decision.outcome = Outcome::Deny;
        audit.record(refused).await.unwrap();
        clock.advance(2);
    }
    for n in 0..45 {
        audit
            .record(as_person(
                read("ada", "read_source", &format!("src/w{n}.py"), 400),
                &ids[0],
            ))
            .await
            .unwrap();
        clock.advance(5);
    }
    assert_eq!(watch.pass().await.unwrap(), 2);
    let status = |email: &str| {
        let identity = identity.clone();
        let email = email.to_string();
        async move { identity.find_user(&email).await.unwrap().status }
    };
    assert_eq!(
        status("ada@example.com").await,
        moat_domain::UserStatus::Suspended
    );
    assert_eq!(
        status("mal@example.com").await,
        moat_domain::UserStatus::Active
    );
    let events = moat_service::audit::read::events(store.as_ref(), 0, 10_000)
        .await
        .unwrap();
    let alert = events
        .iter()
        .find(|e| e.body.action == "alert.enumeration")
        .unwrap();
    let change = events
        .iter()
        .find(|e| e.body.action == "admin.change" && e.body.details["phase"] == "applied")
        .expect("the suspension is on the record");
    assert_eq!(change.body.details["operation"], "user.suspend");
    assert_eq!(change.body.actor.user, Some(format!("alert:{}", alert.seq)));
    assert_eq!(change.body.actor.client.as_deref(), Some("detect"));
}
