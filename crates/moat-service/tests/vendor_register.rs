//! The vendor register judged at a moment: the 30- and 7-day notices, the day an
//! attestation expires (the gateway refuses from the next second), and the
//! `vendor.attestation_expiring` events `moat serve` records, each once.

use moat_audit::checkpoint::SigningKey;
use moat_domain::UnixTime;
use moat_service::FixedClock;
use moat_service::audit::{AuditLog, AuditSettings};
use moat_service::vendor_register::{State, Watch, register};
use std::sync::Arc;

const CONFIG: &str = r#"
[org]
name = "Example Health"

[[vendors]]
name = "anthropic"
kind = "anthropic"
base_url = "https://api.anthropic.com"
key_env = "ANTHROPIC_API_KEY"
region = "us"

[vendors.attestations]
soc2_type2 = true
dpa = true
baa = true
retention_days = 30
breach_notice_hours = 72
subprocessors = ["aws"]
soc2_period = ["2025-10-01", "2026-09-30"]
expires = { baa = "2027-01-31", soc2_type2 = "2027-09-30" }
signed = { baa = "2025-02-01", dpa = "2025-01-15" }

[[models]]
alias = "sonnet"
vendor = "anthropic"
version = "claude-sonnet-4-5-20250929"
"#;

fn day(text: &str) -> UnixTime {
    UnixTime::from_date(text).unwrap()
}

fn baa(config: &moat_config::Config, now: UnixTime) -> State {
    register(config, now)[0]
        .attestations
        .iter()
        .find(|a| a.name == "baa")
        .unwrap()
        .state
}

#[test]
fn the_register_says_everything_a_review_asks_and_counts_the_days() {
    let config = moat_config::parse(CONFIG, "moat.toml").unwrap();
    let entry = &register(&config, day("2026-12-05"))[0];
    assert_eq!(entry.models, ["sonnet"]);
    assert_eq!(entry.breach_notice_hours, Some(72));
    assert_eq!(entry.retention_days, Some(30));
    assert_eq!(entry.subprocessors, ["aws"]);
    assert_eq!(
        entry.soc2_period,
        Some(["2025-10-01".to_string(), "2026-09-30".to_string()])
    );
    let dpa = entry.attestations.iter().find(|a| a.name == "dpa").unwrap();
    assert_eq!(
        (dpa.signed.as_deref(), dpa.state),
        (Some("2025-01-15"), State::NoExpiry)
    );

    // 31 days before the end of its last day: current; 30: the first notice; 7: the
    // second; during the last day: 1 day left; the next second: expired.
    let end = day("2027-02-01");
    let at = |seconds_before: i64| baa(&config, end.plus_seconds(-seconds_before));
    assert_eq!(at(31 * 86_400), State::Current { days_left: 31 });
    assert_eq!(
        at(30 * 86_400),
        State::Expiring {
            days_left: 30,
            notice: 30
        }
    );
    assert_eq!(
        at(8 * 86_400),
        State::Expiring {
            days_left: 8,
            notice: 30
        }
    );
    assert_eq!(
        at(7 * 86_400),
        State::Expiring {
            days_left: 7,
            notice: 7
        }
    );
    assert_eq!(
        at(1),
        State::Expiring {
            days_left: 1,
            notice: 7
        }
    );
    assert_eq!(at(0), State::Expired);
}

#[tokio::test]
async fn each_notice_and_the_expiry_are_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn moat_store::Store> =
        Arc::new(moat_store::SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let clock = Arc::new(FixedClock::at(day("2026-12-05")));
    let audit = Arc::new(
        AuditLog::open(
            store.clone(),
            SigningKey::from_seed("moat-test", [3; 32]).unwrap(),
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
    let config = Arc::new(moat_config::parse(CONFIG, "moat.toml").unwrap());
    let watch = Watch::new(config, audit, clock.clone(), "sha256:test".into());
    // 58 days before the BAA's last day: nothing to say.
    assert_eq!(watch.check().await.unwrap(), 0);
    clock.advance(30 * 86_400); // 28 days left: the 30-day notice, once
    assert_eq!(watch.check().await.unwrap(), 1);
    assert_eq!(watch.check().await.unwrap(), 0);
    clock.advance(22 * 86_400); // 6 days left: the 7-day notice
    assert_eq!(watch.check().await.unwrap(), 1);
    clock.advance(7 * 86_400); // past its last day
    assert_eq!(watch.check().await.unwrap(), 1);
    assert_eq!(watch.check().await.unwrap(), 0);

    let events: Vec<_> = moat_service::audit::read::events(store.as_ref(), 0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.body.action == "vendor.attestation_expiring")
        .collect();
    let notices: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e.body.details["attestation"].as_str().unwrap(),
                e.body.details["notice"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        notices,
        [("baa", "30 days"), ("baa", "7 days"), ("baa", "expired")]
    );
    assert_eq!(events[0].body.details["days_left"], 28);
    assert_eq!(events[0].body.details["last_day"], "2027-01-31");
    assert!(
        events[2]
            .body
            .decision
            .reason
            .as_deref()
            .unwrap()
            .contains("EXPIRED on 2027-01-31"),
        "{:?}",
        events[2].body.decision
    );
}
