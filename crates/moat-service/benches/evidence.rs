//! Evidence pack figures (issue #22): a pack for `MOAT_BENCH_EVENTS` events (default
//! 1,000,000; the figure is 10,000,000) on the real SQLite store, written to a
//! file, then verified offline.
//!
//! 1. export: time, the pack's size, and peak memory during the export (the process's
//!    peak RSS is reset just before, through /proc/self/clear_refs);
//! 2. verify: time and events per second;
//! 3. the floors under both, measured on the same data: reading every event of the
//!    period from the store with nothing else done (export), and inflating the
//!    extract with nothing else done (verify).
//!
//! The log is the audit bench's realistic `mcp.call` events (720 bytes of canonical
//! JSON on average), with one identity change and one refused authentication every
//! 10,000 events, appended through `AuditLog::record` by 256 concurrent callers.
//!
//! Run: `cargo bench -p moat-service --bench evidence`. `MOAT_BENCH_DB=/path/moat.db`
//! keeps the grown log between runs (10 million events take about 4 minutes to append
//! and 9 GB of disk); `MOAT_BENCH_DIR` says where the pack and a temporary log go.

#[path = "common/audit_events.rs"]
mod audit_events;

use audit_events::{append_with, event};
use moat_audit::checkpoint::SigningKey;
use moat_audit::event::EventBody;
use moat_domain::{Tier, UnixTime};
use moat_policy::{OrgRepo, PermissionSource};
use moat_service::evidence::{Evidence, Period};
use moat_service::exceptions::ExceptionRules;
use moat_service::{
    Access, AccessSettings, Admin, AdminActor, AuditLog, AuditSettings, Identity, IdentitySettings,
    SystemClock, TrainingRule, policy_document,
};
use moat_store::{SqliteStore, Store};
use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

fn key() -> SigningKey {
    SigningKey::from_seed("moat-bench", [42; 32]).unwrap()
}

/// Mostly `mcp.call`; every 10,000th a person suspended, 5,000 later one of their
/// tokens refused.
fn mixed(i: u64) -> EventBody {
    let mut body = event(i);
    match i % 10_000 {
        0 => {
            let person = serde_json::json!({"id": format!("usr_{:016x}", i % 500), "email": format!("developer{}@example-health.com", i % 500)});
            let mut before = person.clone();
            before["status"] = "active".into();
            let mut after = person;
            after["status"] = "suspended".into();
            body.action = "admin.change".into();
            body.details = serde_json::json!({"operation": "user.suspend", "phase": "applied", "before": before, "after": after});
        }
        5_000 => {
            body.action = "auth.refused".into();
            body.decision.outcome = moat_audit::event::Outcome::Deny;
            body.decision.rule = Some("authentication".into());
            body.details = serde_json::json!({"reason": "inactive_user", "count": 1});
        }
        _ => {}
    }
    body
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total: u64 = std::env::var("MOAT_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir_in(
        std::env::var("MOAT_BENCH_DIR")
            .unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
    )
    .unwrap();
    let db_path = std::env::var("MOAT_BENCH_DB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("moat.db"));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db_path).unwrap());
    let clock = Arc::new(SystemClock);
    let audit = Arc::new(
        AuditLog::open(
            store.clone(),
            key(),
            AuditSettings {
                origin: "bench/moat".into(),
                max_batch: 4096,
            },
            vec![],
            clock.clone(),
        )
        .await
        .unwrap(),
    );
    let mut grown = store.audit_size().await.unwrap();
    let started = Instant::now();
    while grown < total {
        let chunk = (total - grown).min(1_000_000);
        append_with(&audit, mixed, grown, chunk, 256).await;
        grown += chunk;
        eprintln!(
            "  grown to {grown} events ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
    }

    let identity = Arc::new(Identity::new(
        store.clone(),
        clock.clone(),
        IdentitySettings::default(),
    ));
    let access = Access::new(
        identity.clone(),
        store.clone(),
        AccessSettings {
            repos: vec![OrgRepo {
                name: "payments".into(),
                tier: Tier::Confidential,
                disclosure: Tier::Confidential.default_disclosure(),
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
        policy_version: "sha256:bench",
    };
    let config = moat_config::parse("[org]\nname = \"Example Health\"\n", "moat.toml").unwrap();
    let policy = policy_document::Inputs {
        config: Arc::new(config),
        policies: None,
        policy_version: "sha256:bench".into(),
        config_version: None,
    };
    let signing = key();
    let keys = vec![signing.verifier()];
    let evidence = Evidence {
        access: &access,
        admin: &admin,
        policy: &policy,
        exception_rules: ExceptionRules {
            max_seconds: 30 * 86_400,
            review_sla_seconds: 2 * 86_400,
        },
        signing: &signing,
        keys: &keys,
        witness_files: &[],
        max_events: None,
    };
    // Every event of the log: from well before it began to tomorrow.
    let now = UnixTime::now();
    let period = Period::parse(
        &now.plus_seconds(-400 * 86_400).to_date(),
        &now.plus_seconds(86_400).to_date(),
    )
    .unwrap();
    let actor = AdminActor {
        user: None,
        email: Some("auditor@example-health.com".into()),
        token_id: None,
        client: "bench".into(),
        address: None,
    };

    // 1. Export.
    let pack_path = dir.path().join("pack.zip");
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = peak_rss_kib();
    let started = Instant::now();
    let file =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&pack_path).unwrap());
    let (file, exported) = evidence
        .export(&actor, &period, file, |_, _| {})
        .await
        .expect("the pack is written");
    file.into_inner().unwrap().sync_all().unwrap();
    let export_seconds = started.elapsed().as_secs_f64();
    let peak = peak_rss_kib();
    let events = exported.end_seq - exported.first_seq;
    let size = std::fs::metadata(&pack_path).unwrap().len();
    println!(
        "export: {events} events ({} leavers) in {export_seconds:.1} s = {:.0} events/s; pack {:.1} MB; peak RSS during export {:.0} MB (before: {:.0} MB)",
        exported.leavers,
        events as f64 / export_seconds,
        size as f64 / 1e6,
        peak as f64 / 1024.0,
        before as f64 / 1024.0,
    );

    // 2. Verify.
    let started = Instant::now();
    let verified = moat_service::evidence::verify(
        std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&pack_path).unwrap()),
        &keys,
        |_, _| {},
    )
    .expect("the pack verifies");
    let verify_seconds = started.elapsed().as_secs_f64();
    assert_eq!(verified.events, events);
    println!(
        "verify: {events} events in {verify_seconds:.1} s = {:.0} events/s",
        events as f64 / verify_seconds
    );

    // 3. The floors: reading the period's events from the store, inflating the extract.
    let started = Instant::now();
    let mut seq = exported.first_seq;
    let mut bytes = 0u64;
    while seq < exported.end_seq {
        let leaves = store.audit_leaves(seq, 10_000).await.unwrap();
        for leaf in leaves.iter().take_while(|l| l.seq < exported.end_seq) {
            bytes += leaf.canonical.len() as u64;
            seq += 1;
        }
    }
    let read_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&pack_path).unwrap()).unwrap();
    let mut extract = zip.by_name("audit/events.jsonl").unwrap();
    let mut buffer = vec![0u8; 1 << 20];
    let mut inflated = 0u64;
    loop {
        let n = extract.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        inflated += n as u64;
    }
    let inflate_seconds = started.elapsed().as_secs_f64();
    println!(
        "floors: reading the {events} events ({:.0} MB) from the store {read_seconds:.1} s = {:.0} events/s; inflating the extract {inflate_seconds:.1} s = {:.0} events/s ({:.0} MB)",
        bytes as f64 / 1e6,
        events as f64 / read_seconds,
        events as f64 / inflate_seconds,
        inflated as f64 / 1e6,
    );
    Arc::into_inner(audit).unwrap().close().await.unwrap();
}
