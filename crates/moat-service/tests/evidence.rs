//! Evidence packs for periods inside a log that goes on before and after them: the
//! extract holds exactly the period's events, its proof (the tree's left edge and a
//! consistency proof to a checkpoint signed later) checks out offline for every
//! boundary, an empty period included, and a pack whose events were swapped for
//! another period's (hashes and manifest made to match, as only the key holder could)
//! does not.

use moat_audit::checkpoint::SigningKey;
use moat_audit::event::{Actor, Decision, EventBody, Outcome};
use moat_domain::{Role, Tier, UnixTime};
use moat_policy::{OrgRepo, PermissionSource};
use moat_service::evidence::{Evidence, Period, verify};
use moat_service::exceptions::ExceptionRules;
use moat_service::{
    Access, AccessSettings, Admin, AdminActor, AuditLog, AuditSettings, FixedClock, Identity,
    IdentitySettings, NewUser, TrainingRule, policy_document,
};
use moat_store::{SqliteStore, Store};
use std::io::Cursor;
use std::sync::Arc;

/// 2026-10-01T00:00:00Z.
const START: i64 = 1_790_812_800;

fn call(day: i64, n: u64) -> EventBody {
    EventBody {
        actor: Actor {
            user: Some(format!("usr_{n}")),
            ..Actor::default()
        },
        action: "mcp.call".into(),
        resources: Default::default(),
        decision: Decision {
            outcome: if n.is_multiple_of(5) {
                Outcome::Deny
            } else {
                Outcome::Allow
            },
            rule: Some("test".into()),
            reason: None,
        },
        policy_version: "sha256:test".into(),
        disclosed: Default::default(),
        redactions: [("aws-access-key".to_string(), n % 3)].into(),
        egress: None,
        content_ref: None,
        details: serde_json::json!({"day": day, "n": n}),
    }
}

#[tokio::test]
async fn a_period_inside_the_log_is_proven_into_a_later_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let clock = Arc::new(FixedClock::at(UnixTime(START)));
    let key = SigningKey::from_seed("moat-test", [7; 32]).unwrap();
    let audit = AuditLog::open(
        store.clone(),
        SigningKey::from_seed("moat-test", [7; 32]).unwrap(),
        AuditSettings {
            origin: "test/moat".into(),
            max_batch: 16,
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
    identity
        .add_user(NewUser {
            email: "auditor@example.com".into(),
            name: String::new(),
            roles: vec![Role::Auditor],
            teams: vec![],
        })
        .await
        .unwrap();
    // Ten days, a different number of events each (37 + day), so period boundaries
    // fall at every kind of position in the tree.
    let mut per_day = Vec::new();
    for day in 0..10i64 {
        let count = 37 + day as u64;
        for n in 0..count {
            audit.record(call(day, n)).await.unwrap();
        }
        per_day.push(count);
        clock.advance(86_400);
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
    let config = moat_config::parse("[org]\nname = \"Example Health\"\n", "moat.toml").unwrap();
    let policy = policy_document::Inputs {
        config: Arc::new(config),
        policies: None,
        policy_version: "sha256:test".into(),
        config_version: None,
    };
    let keys = vec![key.verifier()];
    let evidence = Evidence {
        access: &access,
        admin: &admin,
        policy: &policy,
        exception_rules: ExceptionRules {
            max_seconds: 86_400,
            review_sla_seconds: 86_400,
        },
        signing: &key,
        keys: &keys,
        witness_files: &[],
        max_events: None,
    };
    let actor = AdminActor {
        user: None,
        email: Some("auditor@example.com".into()),
        token_id: None,
        client: "test".into(),
        address: None,
    };
    let day_start = |day: usize| per_day[..day].iter().sum::<u64>();
    let mut packs = Vec::new();
    for (from, to) in [(0, 1), (2, 4), (3, 3), (5, 5), (9, 9), (1, 8)] {
        let period = Period::parse(
            &UnixTime(START + from as i64 * 86_400).to_date(),
            &UnixTime(START + to as i64 * 86_400).to_date(),
        )
        .unwrap();
        let (pack, exported) = evidence
            .export(&actor, &period, Cursor::new(Vec::new()), |_, _| {})
            .await
            .unwrap();
        assert_eq!(
            (exported.first_seq, exported.end_seq),
            (day_start(from), day_start(to + 1)),
            "days {from} to {to}"
        );
        let verified = verify(Cursor::new(pack.get_ref()), &keys, |_, _| {}).unwrap();
        assert_eq!(verified.events, exported.end_seq - exported.first_seq);
        assert!(
            verified.checkpoint_size > exported.end_seq,
            "a later checkpoint"
        );
        packs.push(pack.into_inner());
    }
    // A period with no events at all (before the log began) is a pack too.
    let before = Period::parse("2026-09-01", "2026-09-02").unwrap();
    let (pack, exported) = evidence
        .export(&actor, &before, Cursor::new(Vec::new()), |_, _| {})
        .await
        .unwrap();
    assert_eq!((exported.first_seq, exported.end_seq), (0, 0));
    verify(Cursor::new(pack.into_inner()), &keys, |_, _| {}).unwrap();

    // The statistics count the period's events only: day 3 alone.
    let files = unzip(&packs[2]);
    let refusals = String::from_utf8_lossy(&files["statistics/refusals.csv"]).to_string();
    let day3 = per_day[3];
    assert!(
        refusals.contains(&format!("mcp.call,test,,{}", day3.div_ceil(5))),
        "{refusals}"
    );

    // Day 5's events put in place of day 3's, hashes and manifest re-signed with the
    // key: the proof, for events of day 3, fails.
    let swapped = {
        let mut files = unzip(&packs[2]);
        let other = unzip(&packs[3]);
        files.insert(
            "audit/events.jsonl".into(),
            other["audit/events.jsonl"].clone(),
        );
        resign(&mut files, &key);
        zip(&files)
    };
    let failure = verify(Cursor::new(swapped), &keys, |_, _| {}).unwrap_err();
    assert_eq!(
        failure.file.as_deref(),
        Some("audit/events.jsonl"),
        "{failure}"
    );

    // The last event of a period dropped: the count no longer matches the proof.
    let cut = {
        let mut files = unzip(&packs[1]);
        let text = String::from_utf8(files["audit/events.jsonl"].clone()).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.pop();
        files.insert(
            "audit/events.jsonl".into(),
            format!("{}\n", lines.join("\n")).into_bytes(),
        );
        resign(&mut files, &key);
        zip(&files)
    };
    let failure = verify(Cursor::new(cut), &keys, |_, _| {}).unwrap_err();
    assert_eq!(
        failure.file.as_deref(),
        Some("audit/events.jsonl"),
        "{failure}"
    );
    assert!(failure.reason.contains("events"), "{failure}");
    audit.close().await.unwrap();
}

/// The matrix at a period's start and end is decided from the recorded access state
/// nearest each moment, the one with fewer changes between it and the moment: a repository
/// frozen twenty seconds into the period is open in the matrix at its start (from the
/// state taken the day before, nothing changed since: exact), frozen in the matrix at its
/// end (the next day's state), and open again at export. A state altered in the store
/// after it was taken is refused, not used.
#[tokio::test]
async fn the_matrix_at_the_start_of_a_period_is_the_recorded_state_of_that_moment() {
    use moat_policy::SwitchKind;
    use moat_service::access::states::{AccessStates, moat_itself};
    use moat_service::kill_switches::KillSwitches;
    use moat_service::operator::Operator;

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let clock = Arc::new(FixedClock::at(UnixTime(START - 86_400 + 30)));
    let key = SigningKey::from_seed("moat-test", [7; 32]).unwrap();
    let audit = Arc::new(
        AuditLog::open(
            store.clone(),
            SigningKey::from_seed("moat-test", [7; 32]).unwrap(),
            AuditSettings {
                origin: "test/moat".into(),
                max_batch: 16,
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
    for (email, role, teams) in [
        (
            "dev@example.com",
            Role::Developer,
            vec!["payments".to_string()],
        ),
        ("auditor@example.com", Role::Auditor, vec![]),
    ] {
        identity
            .add_user(NewUser {
                email: email.into(),
                name: String::new(),
                roles: vec![role],
                teams,
            })
            .await
            .unwrap();
    }
    let access = Arc::new(Access::new(
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
            grants: vec![moat_policy::OrgGrant {
                repos: vec!["ledger".into()],
                teams: vec!["payments".into()],
                users: vec![],
            }],
            training: TrainingRule {
                required: false,
                current_version: None,
                renewal_seconds: 0,
            },
            custom_policies: None,
            max_staleness: Default::default(),
            logins: Default::default(),
        },
    ));
    let states = AccessStates {
        access: access.clone(),
        audit: audit.clone(),
        policy_version: "sha256:test".into(),
    };
    let admin = Admin {
        identity: &identity,
        audit: &audit,
        policy_version: "sha256:test",
    };
    let switches = KillSwitches {
        access: &access,
        admin: &admin,
        models: vec![],
        vendors: vec![],
    };
    let actor = AdminActor {
        client: "test".into(),
        ..AdminActor::default()
    };
    let operator = Operator::Local("root".into());

    // The day before: one state a day, the second call writes nothing.
    let monday = states.take(moat_itself()).await.unwrap();
    assert!(monday.new && monday.recorded_seq.is_some(), "{monday:?}");
    assert_eq!(
        (monday.day.as_str(), monday.people, monday.repos),
        ("2026-09-30", 2, 1)
    );
    let again = states.take(moat_itself()).await.unwrap();
    assert!(
        !again.new && again.recorded_seq == monday.recorded_seq,
        "the day's state is the first one kept: {again:?}"
    );
    assert_eq!(
        (&again.sha256, again.log_size),
        (&monday.sha256, monday.log_size)
    );
    assert!(
        states.take_if_due().await.unwrap().is_none(),
        "the day has its state"
    );
    for n in 0..5 {
        audit.record(call(0, n)).await.unwrap();
    }
    // Twenty seconds into the period the repository is frozen; the day's state is
    // taken forty seconds later.
    clock.advance(86_400 - 30 + 20);
    switches
        .engage(
            &actor,
            &operator,
            SwitchKind::Repo,
            "ledger",
            "suspected exfiltration",
        )
        .await
        .unwrap();
    clock.advance(40);
    let tuesday = states.take(moat_itself()).await.unwrap();
    assert!(tuesday.new);
    assert_ne!(tuesday.sha256, monday.sha256, "the switch is in the state");
    for n in 0..5 {
        audit.record(call(1, n)).await.unwrap();
    }
    clock.advance(86_400);
    let wednesday = states.take(moat_itself()).await.unwrap();
    assert_eq!(
        wednesday.sha256, tuesday.sha256,
        "nothing changed on Tuesday after it"
    );
    // Released before the export.
    switches
        .release(&actor, &operator, SwitchKind::Repo, "ledger", None)
        .await
        .unwrap();

    let config = moat_config::parse("[org]\nname = \"Example Health\"\n", "moat.toml").unwrap();
    let policy = policy_document::Inputs {
        config: Arc::new(config),
        policies: None,
        policy_version: "sha256:test".into(),
        config_version: None,
    };
    let keys = vec![key.verifier()];
    let evidence = Evidence {
        access: &access,
        admin: &admin,
        policy: &policy,
        exception_rules: ExceptionRules {
            max_seconds: 86_400,
            review_sla_seconds: 86_400,
        },
        signing: &key,
        keys: &keys,
        witness_files: &[],
        max_events: None,
    };
    let period = Period::parse("2026-10-01", "2026-10-01").unwrap();
    let (pack, _) = evidence
        .export(&actor, &period, Cursor::new(Vec::new()), |_, _| {})
        .await
        .unwrap();
    verify(Cursor::new(pack.get_ref()), &keys, |_, _| {}).unwrap();
    let files = unzip(pack.get_ref());
    let cell = |name: &str| {
        let csv = String::from_utf8(files[name].clone()).unwrap();
        csv.lines()
            .find(|l| l.starts_with("dev@example.com,ledger,"))
            .unwrap_or_else(|| panic!("{name}: {csv}"))
            .to_string()
    };
    assert!(cell("access/matrix-at-start.csv").starts_with("dev@example.com,ledger,allow,"));
    let at_end = cell("access/matrix-at-end.csv");
    assert!(
        at_end.starts_with("dev@example.com,ledger,deny,")
            && at_end.contains("kill-switch:repo:ledger"),
        "{at_end}"
    );
    assert!(cell("access/matrix-at-export.csv").starts_with("dev@example.com,ledger,allow,"));
    let used: serde_json::Value = serde_json::from_slice(&files["access/states.json"]).unwrap();
    assert_eq!(used[0]["moment"], "start");
    assert_eq!(used[0]["state"]["day"], "2026-09-30");
    assert_eq!(used[0]["state_taken"], "before");
    assert_eq!(
        (
            used[0]["changes_between"].as_u64(),
            used[0]["exact"].as_bool()
        ),
        (Some(0), Some(true))
    );
    assert_eq!(used[1]["moment"], "end");
    // Tuesday's and Wednesday's states both stand exactly for the end: the earlier one.
    assert_eq!(used[1]["state"]["day"], "2026-10-01");
    assert_eq!(used[1]["exact"], true);
    // The state is the one the record names: its SHA-256 is in an `access.snapshot` event.
    use sha2::Digest as _;
    let state = &files["access/state-at-start.json"];
    assert_eq!(hex::encode(sha2::Sha256::digest(state)), monday.sha256);
    let events = String::from_utf8(files["audit/events.jsonl"].clone()).unwrap();
    assert!(
        events
            .lines()
            .any(|l| l.contains(r#""action":"access.snapshot""#) && l.contains(&tuesday.sha256)),
        "Tuesday's state is recorded within the period"
    );
    assert!(files["access/changes-between-state-and-start.jsonl"].is_empty());
    assert!(
        !String::from_utf8_lossy(&files["access/changes.jsonl"]).contains("access.snapshot"),
        "a recorded state is not a change"
    );
    assert!(!String::from_utf8_lossy(&files["README.md"]).contains("Not in this pack"));
    let first_pack = pack.get_ref().clone();

    // Had Tuesday's state been the only one, the pack would say the switch lies between.
    store.access_states_prune(UnixTime(START)).await.unwrap();
    let (pack, _) = evidence
        .export(&actor, &period, Cursor::new(Vec::new()), |_, _| {})
        .await
        .unwrap();
    let files = unzip(pack.get_ref());
    let used: serde_json::Value = serde_json::from_slice(&files["access/states.json"]).unwrap();
    assert_eq!(used[0]["state"]["day"], "2026-10-01");
    assert_eq!(used[0]["state_taken"], "after");
    assert_eq!(used[0]["exact"], false);
    let between =
        String::from_utf8(files["access/changes-between-state-and-start.jsonl"].clone()).unwrap();
    assert_eq!(
        between.lines().count() as u64,
        used[0]["changes_between"].as_u64().unwrap()
    );
    assert!(between.contains("kill-switch"), "{between}");

    // Offline, the pack proves its states: a state file swapped for another (manifest
    // re-signed, as only the key holder could) or a change left out of the changes
    // between is named by `moat evidence verify`.
    let mut swapped = unzip(&first_pack);
    let other = swapped["access/state-at-end.json"].clone();
    swapped.insert("access/state-at-start.json".into(), other);
    resign(&mut swapped, &key);
    let failure = verify(Cursor::new(zip(&swapped)), &keys, |_, _| {}).unwrap_err();
    assert_eq!(
        failure.file.as_deref(),
        Some("access/state-at-start.json"),
        "{failure}"
    );
    // What the key holder could rewrite in the pack's own account of its states is
    // checked too: each of these, re-signed, fails.
    let states_of = |files: &Files| -> serde_json::Value {
        serde_json::from_slice(&files["access/states.json"]).unwrap()
    };
    let rewritten = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut files = unzip(&first_pack);
        let mut used = states_of(&files);
        change(&mut used);
        files.insert(
            "access/states.json".into(),
            serde_json::to_vec_pretty(&used).unwrap(),
        );
        resign(&mut files, &key);
        verify(Cursor::new(zip(&files)), &keys, |_, _| {}).unwrap_err()
    };
    for (what, change) in [
        (
            "no state at the start",
            &(|u: &mut serde_json::Value| u[0]["state"] = serde_json::Value::Null)
                as &dyn Fn(&mut serde_json::Value),
        ),
        ("another first event", &|u: &mut serde_json::Value| {
            u[0]["first_seq_at_or_after"] = u[0]["state"]["log_size"].clone()
        }),
        ("called not exact", &|u: &mut serde_json::Value| {
            u[0]["exact"] = false.into()
        }),
        ("the end dropped", &|u: &mut serde_json::Value| {
            u.as_array_mut().unwrap().pop();
        }),
    ] {
        let failure = rewritten(change);
        assert!(
            failure
                .file
                .as_deref()
                .is_some_and(|f| f.starts_with("access/")),
            "{what}: {failure}"
        );
    }
    let mut without = unzip(&first_pack);
    without.remove("access/states.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&without["manifest.json"]).unwrap();
    manifest["files"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f["path"] != "access/states.json");
    without.insert(
        "manifest.json".into(),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    );
    resign(&mut without, &key);
    let failure = verify(Cursor::new(zip(&without)), &keys, |_, _| {}).unwrap_err();
    assert!(
        failure.reason.contains("without access/states.json"),
        "{failure}"
    );
    let mut opened = unzip(&first_pack);
    let matrix = String::from_utf8(opened["access/matrix-at-start.csv"].clone()).unwrap();
    opened.insert(
        "access/matrix-at-start.csv".into(),
        matrix
            .replace(
                "dev@example.com,ledger,allow,",
                "dev@example.com,ledger,deny,",
            )
            .into_bytes(),
    );
    resign(&mut opened, &key);
    let failure = verify(Cursor::new(zip(&opened)), &keys, |_, _| {}).unwrap_err();
    assert_eq!(
        failure.file.as_deref(),
        Some("access/matrix-at-start.csv"),
        "{failure}"
    );

    let mut left_out = files.clone();
    let between =
        String::from_utf8(left_out["access/changes-between-state-and-start.jsonl"].clone())
            .unwrap();
    let kept: Vec<&str> = between.lines().skip(1).collect();
    left_out.insert(
        "access/changes-between-state-and-start.jsonl".into(),
        kept.iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .into_bytes(),
    );
    resign(&mut left_out, &key);
    let failure = verify(Cursor::new(zip(&left_out)), &keys, |_, _| {}).unwrap_err();
    assert_eq!(
        failure.file.as_deref(),
        Some("access/changes-between-state-and-start.jsonl"),
        "{failure}"
    );
    verify(Cursor::new(zip(&files)), &keys, |_, _| {}).unwrap();

    // A state row rewritten in the store, body and hash together, is named by no audit
    // event: it is passed over (and said so), and the pack decides from the recorded
    // states. One naming an event that is not its own is passed over too.
    let forged = moat_store::AccessState {
        day: "2026-10-05".into(),
        taken_at: UnixTime(START + 4 * 86_400 + 5),
        log_size: store.audit_size().await.unwrap(),
        sha256: String::new(),
        recorded_seq: 3,
    };
    let body = br#"{"users":[],"repos":[],"grants":[],"training_required":false,"custom_policies":null,"exceptions":[],"switches":[]}"#;
    let forged = moat_store::AccessState {
        sha256: hex::encode(sha2::Sha256::digest(body)),
        ..forged
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, body).unwrap();
    assert!(
        store
            .access_state_put(&forged, &gz.finish().unwrap())
            .await
            .unwrap()
    );
    clock.advance(5 * 86_400);
    let oct5 = Period::parse("2026-10-05", "2026-10-05").unwrap();
    let (pack, _) = evidence
        .export(&actor, &oct5, Cursor::new(Vec::new()), |_, _| {})
        .await
        .unwrap();
    let files = unzip(pack.get_ref());
    let used: serde_json::Value = serde_json::from_slice(&files["access/states.json"]).unwrap();
    assert_eq!(used[0]["state"]["day"], "2026-10-02", "{used}");
    assert!(used[0]["state"]["recorded_seq"].is_u64(), "{used}");
    assert_eq!(used[0]["refused"][0]["day"], "2026-10-05", "{used}");
    assert!(
        used[0]["refused"][0]["why"]
            .as_str()
            .unwrap()
            .contains("not the access.snapshot of this state"),
        "{used}"
    );
    verify(Cursor::new(pack.get_ref()), &keys, |_, _| {}).unwrap();
    let at_start = String::from_utf8(files["access/matrix-at-start.csv"].clone()).unwrap();
    assert!(
        at_start.contains("dev@example.com,ledger,deny,"),
        "decided from Wednesday's state, the switch still engaged: {at_start}"
    );
    assert_eq!(used[0]["exact"], false, "the release lies between: {used}");
    assert!(
        String::from_utf8_lossy(&files["access/changes-between-state-and-start.jsonl"])
            .contains("release"),
        "{used}"
    );
    // A state whose body no longer matches its SHA-256 is refused when read.
    let altered = moat_store::AccessState {
        day: "2026-10-06".into(),
        sha256: "0".repeat(64),
        ..forged
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, body).unwrap();
    store
        .access_state_put(&altered, &gz.finish().unwrap())
        .await
        .unwrap();
    let failure = moat_service::access::states::json_of(store.as_ref(), &altered)
        .await
        .unwrap_err();
    assert!(
        failure.to_string().contains("does not match the SHA-256"),
        "{failure}"
    );
    audit.close().await.unwrap();
}

type Files = std::collections::BTreeMap<String, Vec<u8>>;

fn unzip(bytes: &[u8]) -> Files {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut files = Files::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).unwrap();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        files.insert(entry.name().unwrap().to_string(), content);
    }
    files
}

fn zip(files: &Files) -> Vec<u8> {
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in files {
        writer
            .start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// What only the key holder can do: make the manifest match the files and sign it.
fn resign(files: &mut Files, key: &SigningKey) {
    use sha2::Digest as _;
    let mut manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    for listed in manifest["files"].as_array_mut().unwrap() {
        let content = &files[listed["path"].as_str().unwrap()];
        listed["sha256"] = hex::encode(sha2::Sha256::digest(content)).into();
        listed["bytes"] = content.len().into();
    }
    let manifest = serde_json::to_vec_pretty(&manifest).unwrap();
    let body = format!(
        "moat evidence manifest\n{}\n",
        hex::encode(sha2::Sha256::digest(&manifest))
    );
    files.insert(
        "manifest.sig".into(),
        moat_audit::checkpoint::sign_note(&body, key).into_bytes(),
    );
    files.insert("manifest.json".into(), manifest);
}
