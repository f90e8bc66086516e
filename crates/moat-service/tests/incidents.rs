//! Incidents from real alerts on a real log: detection opens one per subject and adds
//! later alerts to it, with the repositories, data classes and vendors the triggering
//! events touched; deadlines follow them and are flagged once when passed; people take
//! the steps as Cedar allows, each step once, each on the record with before and after.

use moat_audit::checkpoint::SigningKey;
use moat_audit::event::{Actor, Decision, Egress, Event, EventBody, Outcome, Resources};
use moat_domain::{Role, Tier, UnixTime};
use moat_policy::{OrgRepo, PermissionSource};
use moat_service::detect::watch::Watch;
use moat_service::incidents::{
    IncidentError, IncidentRules, Incidents, OverdueIncidents, Step, shown,
};
use moat_service::operator::Operator;
use moat_service::{
    Access, AccessSettings, Admin, AdminActor, AuditLog, AuditSettings, Clock, FixedClock,
    Identity, IdentitySettings, NewUser, TrainingRule,
};
use moat_store::{SqliteStore, Store};
use std::sync::Arc;

const T0: i64 = 1_800_000_000;

/// A refusal of the person whose id is `user` (mal@example.com).
fn refused(user: &str, repo: &str) -> EventBody {
    EventBody {
        actor: Actor {
            user: Some(user.into()),
            email: Some("mal@example.com".into()),
            token_id: Some("tok_mal".into()),
            client: Some("cursor".into()),
            client_version: None,
            address: Some("10.1.2.3".into()),
        },
        action: "access.denied".into(),
        resources: Resources {
            repos: vec![repo.into()],
            ..Resources::default()
        },
        decision: Decision {
            outcome: Outcome::Deny,
            rule: Some("default-deny".into()),
            reason: Some("not a reader".into()),
        },
        policy_version: "t".into(),
        disclosed: Default::default(),
        redactions: [("us-ssn".to_string(), 1)].into(),
        egress: Some(Egress {
            vendor: "acme-ai".into(),
            model: "m".into(),
            region: "us".into(),
            bytes: 10,
            repos: vec![],
        }),
        content_ref: None,
        details: serde_json::json!({}),
    }
}

struct World {
    store: Arc<dyn Store>,
    clock: Arc<FixedClock>,
    audit: Arc<AuditLog>,
    identity: Arc<Identity>,
    access: Access,
    rules: IncidentRules,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let clock = Arc::new(FixedClock::at(UnixTime(T0)));
    let audit = Arc::new(
        AuditLog::open(
            store.clone(),
            SigningKey::from_seed("moat-test", [5; 32]).unwrap(),
            AuditSettings {
                origin: "test/moat".into(),
                max_batch: 1024,
            },
            vec![],
            clock.clone(),
        )
        .await
        .unwrap(),
    );
    let identity = Arc::new(Identity::new(
        store.clone(),
        clock.clone(),
        IdentitySettings::default(),
    ));
    for (email, role) in [
        ("mal@example.com", Role::Developer),
        ("sec@example.com", Role::Security),
        ("sec2@example.com", Role::Security),
        ("aud@example.com", Role::Auditor),
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
    let repo = |name: &str, tags: &[&str]| OrgRepo {
        name: name.into(),
        tier: Tier::Confidential,
        disclosure: Tier::Confidential.default_disclosure(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        region: None,
        source: PermissionSource::Static,
        host_readers: vec![],
    };
    let access = Access::new(
        identity.clone(),
        store.clone(),
        AccessSettings {
            repos: vec![repo("claims", &["phi"]), repo("ledger", &[])],
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
    let config: moat_config::Config = moat_config::parse(
        r#"
[org]
name = "acme"
[[repos]]
name = "claims"
source = "/srv/claims"
tier = "confidential"
tags = ["phi"]
[[vendors]]
name = "acme-ai"
kind = "anthropic"
base_url = "https://api.anthropic.com"
key_env = "K"
region = "us"
attestations = { breach_notice_hours = 48 }
"#,
        "moat.toml",
    )
    .unwrap();
    World {
        rules: IncidentRules::from_config(&config),
        store,
        clock,
        audit,
        identity,
        access,
        _dir: dir,
    }
}

async fn events(store: &dyn Store, action: &str) -> Vec<Event> {
    moat_service::audit::read::events(store, 0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.body.action == action)
        .collect()
}

fn operations(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e.body.details["operation"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                e.body.details["phase"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn alerts_open_one_incident_per_subject_whose_deadlines_follow_what_was_touched() {
    let w = world().await;
    let detect = moat_config::Detect {
        suspend_on: vec!["denials".into()],
        ..moat_config::Detect::default()
    };
    let mut watch = Watch::new(
        w.store.clone(),
        w.audit.clone(),
        w.clock.clone(),
        &detect,
        "t".into(),
    )
    .with_containment(w.identity.clone())
    .with_incidents(w.identity.clone(), w.rules.clone());
    assert_eq!(
        watch.pass().await.unwrap(),
        0,
        "the cursor starts at the end"
    );
    let mal_id = w.identity.find_user("mal@example.com").await.unwrap().id.0;

    // A burst of refusals on a PHI repository, some also redacting an SSN.
    for _ in 0..12 {
        w.audit.record(refused(&mal_id, "claims")).await.unwrap();
        w.clock.advance(5);
    }
    assert_eq!(watch.pass().await.unwrap(), 1);
    let admin = Admin {
        identity: &w.identity,
        audit: &w.audit,
        policy_version: "t",
    };
    let incidents = Incidents {
        access: &w.access,
        admin: &admin,
        rules: &w.rules,
    };
    let actor = AdminActor {
        client: "test".into(),
        ..AdminActor::default()
    };
    let (sec, sec2, aud, mal) = (
        Operator::Person("sec@example.com".into()),
        Operator::Person("sec2@example.com".into()),
        Operator::Person("aud@example.com".into()),
        Operator::Person("mal@example.com".into()),
    );
    let listed = incidents.list(&actor, &aud, None).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    let first = &listed[0].incident;
    assert_eq!(first.subject, "mal@example.com");
    assert_eq!(first.repos, ["claims"]);
    assert_eq!(first.vendors, ["acme-ai"]);
    assert!(
        first.classes.contains(&"phi".to_string()),
        "{:?}",
        first.classes
    );
    assert!(
        first.classes.contains(&"pii".to_string()),
        "the SSN: {:?}",
        first.classes
    );
    let alert_seq = first.alerts[0].seq;
    let contained = first.taken("contained").expect("suspend_on contained it");
    assert_eq!(contained.by, format!("alert:{alert_seq}"));
    let keys: Vec<&str> = listed[0].deadlines.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "acknowledged",
            "contained",
            "notified:class:phi",
            "notified:class:pii",
            "notified:vendor:acme-ai"
        ]
    );
    let phi = &listed[0].deadlines[2];
    assert_eq!(
        phi.due,
        UnixTime(first.detected_at + 60 * 86_400).to_rfc3339()
    );
    assert!(phi.why.contains("HIPAA"), "{}", phi.why);

    // Another burst, later: the same incident grows; no second one opens.
    w.clock.advance(3_600);
    for _ in 0..12 {
        w.audit.record(refused(&mal_id, "ledger")).await.unwrap();
        w.clock.advance(5);
    }
    assert_eq!(watch.pass().await.unwrap(), 1);
    let listed = incidents.list(&actor, &aud, None).await.unwrap();
    assert_eq!(listed.len(), 1);
    let id = listed[0].incident.id.clone();
    assert_eq!(listed[0].incident.alerts.len(), 2);
    assert_eq!(listed[0].incident.repos, ["claims", "ledger"]);

    // Past the hour to acknowledge: flagged once, raised once.
    let overdue = OverdueIncidents {
        store: w.store.clone(),
        audit: w.audit.clone(),
        identity: w.identity.clone(),
        clock: w.clock.clone(),
        rules: w.rules.clone(),
        policy_version: "t".into(),
    };
    assert_eq!(overdue.check().await.unwrap(), 1);
    assert_eq!(overdue.check().await.unwrap(), 0, "once");
    let raised = events(w.store.as_ref(), "alert.incident_overdue").await;
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].body.details["deadline"], "acknowledged");
    assert_eq!(raised[0].body.details["incident"], id.as_str());

    // Who may do what: the person concerned and the auditor may not act.
    for who in [&mal, &aud] {
        let refused = incidents
            .step(&actor, who, &id, Step::Acknowledge, None)
            .await;
        assert!(
            matches!(refused, Err(IncidentError::Operator(_))),
            "{refused:?}"
        );
    }
    assert!(matches!(
        incidents.list(&actor, &mal, None).await,
        Err(IncidentError::Operator(_))
    ));
    // Two people acknowledge at once: one does, the other is told.
    let (a, b) = tokio::join!(
        incidents.step(&actor, &sec, &id, Step::Acknowledge, Some("on it".into())),
        incidents.step(&actor, &sec2, &id, Step::Acknowledge, None)
    );
    assert!(a.is_ok() ^ b.is_ok(), "{a:?} {b:?}");
    let lost = a.err().or(b.err()).unwrap();
    assert!(
        matches!(lost, IncidentError::Conflict(_) | IncidentError::Admin(_)),
        "{lost:?}"
    );
    let again = incidents
        .step(&actor, &sec, &id, Step::Acknowledge, None)
        .await
        .unwrap_err();
    assert!(
        again.to_string().contains("acknowledged already"),
        "{again}"
    );

    let unknown = incidents
        .step(
            &actor,
            &sec,
            &id,
            Step::Notify(vec!["class:pci".into()]),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        unknown
            .to_string()
            .contains("class:phi, class:pii, vendor:acme-ai"),
        "{unknown}"
    );
    incidents
        .step(
            &actor,
            &sec,
            &id,
            Step::Assign("sec2@example.com".into()),
            None,
        )
        .await
        .unwrap();
    let notified = incidents
        .step(
            &actor,
            &sec,
            &id,
            Step::Notify(vec!["class:phi".into()]),
            Some("HHS portal, ref 123".into()),
        )
        .await
        .unwrap();
    assert_eq!(notified.owner.as_deref(), Some("sec2@example.com"));
    let now = w.clock.now();
    let state = shown(notified, &w.rules, now);
    let met: Vec<&str> = state
        .deadlines
        .iter()
        .filter(|d| d.met_at.is_some())
        .map(|d| d.key.as_str())
        .collect();
    assert_eq!(met, ["acknowledged", "contained", "notified:class:phi"]);

    incidents
        .step(
            &actor,
            &sec,
            &id,
            Step::Resolve,
            Some("access removed".into()),
        )
        .await
        .unwrap();
    let closed = incidents
        .step(&actor, &sec, &id, Step::Contain, None)
        .await
        .unwrap_err();
    assert!(closed.to_string().contains("is resolved"), "{closed}");
    incidents
        .step(
            &actor,
            &sec,
            &id,
            Step::Note,
            Some("post-mortem filed".into()),
        )
        .await
        .unwrap();

    // Resolved, the 72-hour PII and 48-hour vendor windows still run out.
    w.clock.advance(80 * 3_600);
    assert_eq!(overdue.check().await.unwrap(), 2);
    let shown_now = incidents.show(&actor, &aud, &id).await.unwrap();
    let late: Vec<&str> = shown_now
        .deadlines
        .iter()
        .filter(|d| d.overdue)
        .map(|d| d.key.as_str())
        .collect();
    assert_eq!(late, ["notified:class:pii", "notified:vendor:acme-ai"]);
    let steps: Vec<&str> = shown_now
        .incident
        .timeline
        .iter()
        .map(|e| e.step.as_str())
        .collect();
    assert_eq!(
        steps,
        [
            "detected",
            "contained",
            "alert",
            "acknowledged",
            "assigned",
            "notified",
            "resolved",
            "note"
        ]
    );

    // Every change is on the record with before and after.
    let changes = operations(&events(w.store.as_ref(), "admin.change").await);
    for operation in [
        "incident.open",
        "incident.alert",
        "incident.overdue",
        "incident.acknowledge",
        "incident.assign",
        "incident.notify",
        "incident.resolve",
        "incident.note",
    ] {
        assert!(
            changes.contains(&(operation.to_string(), "applied".to_string())),
            "{operation} in {changes:?}"
        );
    }
    let resolve = events(w.store.as_ref(), "admin.change")
        .await
        .into_iter()
        .find(|e| {
            e.body.details["operation"] == "incident.resolve"
                && e.body.details["phase"] == "applied"
        })
        .unwrap();
    assert_eq!(resolve.body.details["before"]["status"], "open");
    assert_eq!(resolve.body.details["after"]["status"], "resolved");
    assert_eq!(
        resolve.body.actor.email, None,
        "recorded as the actor given"
    );
}

#[tokio::test]
async fn an_incident_opened_by_hand_is_checked_and_a_bad_status_is_refused() {
    let w = world().await;
    let admin = Admin {
        identity: &w.identity,
        audit: &w.audit,
        policy_version: "t",
    };
    let incidents = Incidents {
        access: &w.access,
        admin: &admin,
        rules: &w.rules,
    };
    let actor = AdminActor {
        client: "test".into(),
        ..AdminActor::default()
    };
    let sec = Operator::Person("sec@example.com".into());
    let empty = incidents.open(&actor, &sec, "laptop", " ", None).await;
    assert!(matches!(empty, Err(IncidentError::Invalid(_))), "{empty:?}");
    let opened = incidents
        .open(&actor, &sec, "laptop:mal", "laptop lost on a train", None)
        .await
        .unwrap();
    assert_eq!(opened.timeline[0].by, "sec@example.com");
    let bad = incidents.list(&actor, &sec, Some("closed")).await;
    assert!(matches!(bad, Err(IncidentError::Invalid(_))), "{bad:?}");
    let missing = incidents.show(&actor, &sec, "inc_nope").await;
    assert!(
        matches!(missing, Err(IncidentError::NotFound(_))),
        "{missing:?}"
    );
    let open = incidents.list(&actor, &sec, Some("open")).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        open[0].deadlines.len(),
        2,
        "no data touched: no notification deadline"
    );
}

/// An alert that cannot join an incident (the store refuses the write) is not lost: it
/// is on the record as `incident.ungrouped`, naming it, and joins at a later pass once
/// the store takes writes again.
#[tokio::test]
async fn an_alert_the_store_cannot_group_is_on_the_record_and_joins_later() {
    let w = world().await;
    let mut watch = Watch::new(
        w.store.clone(),
        w.audit.clone(),
        w.clock.clone(),
        &moat_config::Detect::default(),
        "t".into(),
    )
    .with_incidents(w.identity.clone(), w.rules.clone());
    assert_eq!(watch.pass().await.unwrap(), 0);
    let mal_id = w.identity.find_user("mal@example.com").await.unwrap().id.0;
    // Another process takes the incidents table away.
    let db = rusqlite::Connection::open(w._dir.path().join("moat.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    db.execute_batch("ALTER TABLE incidents RENAME TO incidents_away")
        .unwrap();
    for _ in 0..12 {
        w.audit.record(refused(&mal_id, "claims")).await.unwrap();
        w.clock.advance(5);
    }
    assert_eq!(watch.pass().await.unwrap(), 1, "the alert is recorded");
    let alert = events(w.store.as_ref(), "alert.denials").await;
    assert_eq!(alert.len(), 1);
    let ungrouped = events(w.store.as_ref(), "incident.ungrouped").await;
    assert_eq!(ungrouped.len(), 1, "said once, not at every try");
    assert_eq!(ungrouped[0].body.details["alert"], alert[0].seq);
    assert!(
        ungrouped[0]
            .body
            .decision
            .reason
            .as_deref()
            .unwrap()
            .contains("tries again"),
        "{:?}",
        ungrouped[0].body.decision
    );
    // Still refused: kept, and said no more.
    assert_eq!(watch.pass().await.unwrap(), 0);
    assert_eq!(
        events(w.store.as_ref(), "incident.ungrouped").await.len(),
        1
    );
    db.execute_batch("ALTER TABLE incidents_away RENAME TO incidents")
        .unwrap();
    assert_eq!(watch.pass().await.unwrap(), 0, "no new alert");
    let listed = moat_store::Store::incidents(w.store.as_ref(), None)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "the kept alert joined at the next pass");
    let body: serde_json::Value = serde_json::from_str(&listed[0].body).unwrap();
    assert_eq!(body["alerts"][0]["seq"], alert[0].seq, "{body:#}");
}
