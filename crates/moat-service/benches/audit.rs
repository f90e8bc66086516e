//! Audit log figures (issue #3), on the real SQLite store in a temporary directory:
//!
//! 1. durable appends per second through `AuditLog::record`, 256 concurrent callers
//!    (every group-commit batch signed and stored with its checkpoint);
//! 2. the log grown to `MOAT_BENCH_EVENTS` events (default 1,000,000) the same way;
//! 3. `verify` throughput over the whole log;
//! 4. inclusion proof latency at that size (1,000 random events);
//! 5. storage: database size against the events' canonical JSON size;
//! 6. the worst case for a checkpoint per batch: one caller (every event its own signed
//!    batch), and `verify` of that log (one signature per event).
//!
//! Run: `cargo bench -p moat-service --bench audit` (set MOAT_BENCH_EVENTS=10000000 for
//! the 10-million-event figures; that needs about 8 GB of free disk).
//!
//! With `MOAT_BENCH_STORE=postgres`, figures 1, 3 and 6 on PostgreSQL instead, in a
//! scratch database on the server `MOAT_TEST_POSTGRES` names (default: the local one),
//! whose `synchronous_commit` setting is printed with them; and figure 1 again with
//! three nodes (three pools and writers in this process) appending through the one
//! elected sequencer.

#[path = "common/audit_events.rs"]
mod audit_events;

use audit_events::{append, event};
use moat_audit::checkpoint::SigningKey;
use moat_service::audit::read;
use moat_service::{AuditLog, AuditSettings, SystemClock};
use moat_store::{SqliteStore, Store};
use std::sync::Arc;
use std::time::Instant;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::var("MOAT_BENCH_STORE").as_deref() == Ok("postgres") {
        return postgres().await;
    }
    let total: u64 = std::env::var("MOAT_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir_in(
        std::env::var("MOAT_BENCH_DIR")
            .unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
    )
    .unwrap();
    let db_path = dir.path().join("moat.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db_path).unwrap());
    let log = open_log(store.clone()).await;

    let first = 200_000.min(total);
    durable_appends(&log, store.as_ref(), first).await;

    let mut grown = first;
    let started = Instant::now();
    while grown < total {
        let chunk = (total - grown).min(1_000_000);
        append(&log, grown, chunk, 256).await;
        grown += chunk;
        eprintln!(
            "  grown to {grown} events ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
    }
    log.close().await.unwrap();
    let report = verify_all(store.clone()).await;

    let mut latencies = Vec::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..1000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let seq = seed % report.events;
        let started = Instant::now();
        let proof = read::prove(store.as_ref(), seq).await.expect("proof");
        latencies.push(started.elapsed());
        assert_eq!(proof.seq, seq);
    }
    latencies.sort();
    println!(
        "inclusion proof at {} events: median {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        report.events,
        latencies[500].as_secs_f64() * 1e6,
        latencies[990].as_secs_f64() * 1e6,
        latencies[999].as_secs_f64() * 1e6
    );

    drop(store);
    let conn = rusqlite::Connection::open(&db_path).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let canonical: i64 = conn
        .query_row("SELECT sum(length(canonical)) FROM audit_events", [], |r| {
            r.get(0)
        })
        .unwrap();
    let file = std::fs::metadata(&db_path).unwrap().len();
    println!(
        "storage: database {:.1} MB for {:.1} MB of canonical JSON ({:.0} bytes/event) = {:.2}x",
        file as f64 / 1e6,
        canonical as f64 / 1e6,
        canonical as f64 / report.events as f64,
        file as f64 / canonical as f64
    );

    light_load(Arc::new(
        SqliteStore::open(&dir.path().join("light.db")).unwrap(),
    ))
    .await;
}

/// The log the figures write: the bench key, batches up to 4,096 events.
async fn open_log(store: Arc<dyn Store>) -> Arc<AuditLog> {
    let key = SigningKey::from_seed("moat-bench", [42; 32]).unwrap();
    let settings = AuditSettings {
        origin: "bench/moat".into(),
        max_batch: 4096,
    };
    Arc::new(
        AuditLog::open(store, key, settings, vec![], Arc::new(SystemClock))
            .await
            .unwrap(),
    )
}

/// Figure 1: `events` appended by 256 concurrent callers, and how they were batched.
async fn durable_appends(log: &Arc<AuditLog>, store: &dyn Store, events: u64) {
    let took = append(log, 0, events, 256).await;
    let batches = store
        .audit_checkpoints(1, events, usize::MAX)
        .await
        .unwrap()
        .len();
    println!(
        "durable appends: {events} events from 256 concurrent callers in {:.2} s = {:.0} events/s ({batches} batches, each signed in its transaction: {:.0} events per batch)",
        took.as_secs_f64(),
        events as f64 / took.as_secs_f64(),
        events as f64 / batches.max(1) as f64
    );
}

/// Figure 3: `verify` over the whole log.
async fn verify_all(store: Arc<dyn Store>) -> moat_audit::verify::Report {
    let started = Instant::now();
    let report = read::verify(
        store,
        vec![
            SigningKey::from_seed("moat-bench", [42; 32])
                .unwrap()
                .verifier(),
        ],
        vec![],
        |_, _| {},
    )
    .await
    .expect("the log verifies");
    let took = started.elapsed();
    println!(
        "verify: {} events, {} checkpoints in {:.2} s = {:.0} events/s",
        report.events,
        report.checkpoints,
        took.as_secs_f64(),
        report.events as f64 / took.as_secs_f64()
    );
    report
}

/// Figures 1, 3 and 6 on PostgreSQL.
async fn postgres() {
    use moat_store::conformance::scratch::ScratchPostgres;
    use moat_store::{PostgresOptions, PostgresStore};
    let connect = |url: String| async move {
        let store: Arc<dyn Store> = Arc::new(
            PostgresStore::connect(&PostgresOptions::new(url))
                .await
                .unwrap(),
        );
        store
    };
    let db = ScratchPostgres::new().await;
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let synchronous: String = client
        .query_one("SHOW synchronous_commit", &[])
        .await
        .unwrap()
        .get(0);
    let version: String = client
        .query_one("SHOW server_version", &[])
        .await
        .unwrap()
        .get(0);
    println!("PostgreSQL {version} on loopback, synchronous_commit = {synchronous}");
    let store = connect(db.url.clone()).await;
    let log = open_log(store.clone()).await;
    durable_appends(&log, store.as_ref(), 200_000).await;
    log.close().await.unwrap();
    verify_all(store.clone()).await;
    drop(store);

    // Three nodes (each its own pool, writer and sequencer seat) on one database: one
    // of them is elected and appends what all three queue.
    let shared = ScratchPostgres::new().await;
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let store = connect(shared.url.clone()).await;
        nodes.push((open_log(store.clone()).await, store));
    }
    const EACH: u64 = 70_000;
    let started = Instant::now();
    tokio::join!(
        append(&nodes[0].0, 0, EACH, 86),
        append(&nodes[1].0, EACH, EACH, 86),
        append(&nodes[2].0, 2 * EACH, EACH, 86),
    );
    let took = started.elapsed();
    let batches = nodes[0]
        .1
        .audit_checkpoints(1, 3 * EACH, usize::MAX)
        .await
        .unwrap()
        .len();
    println!(
        "three nodes, one elected sequencer: {} events from 3 x 86 concurrent callers in {:.2} s = {:.0} events/s ({batches} batches: {:.0} events per batch)",
        3 * EACH,
        took.as_secs_f64(),
        (3 * EACH) as f64 / took.as_secs_f64(),
        (3 * EACH) as f64 / batches.max(1) as f64
    );
    for (log, _) in &nodes {
        log.close().await.unwrap();
    }
    verify_all(nodes[0].1.clone()).await;
    drop(nodes);
    let light = ScratchPostgres::new().await;
    light_load(connect(light.url.clone()).await).await;
}

/// The worst case for per-batch checkpoints: one caller at a time, so every event is its
/// own batch with its own signed checkpoint; then `verify` checks one signature per event.
async fn light_load(store: Arc<dyn Store>) {
    const EVENTS: u64 = 10_000;
    let key = SigningKey::from_seed("moat-bench", [42; 32]).unwrap();
    let verifier = key.verifier();
    let settings = AuditSettings {
        origin: "bench/moat".into(),
        max_batch: 4096,
    };
    let log = AuditLog::open(store.clone(), key, settings, vec![], Arc::new(SystemClock))
        .await
        .unwrap();
    let mut latencies = Vec::with_capacity(EVENTS as usize);
    let started = Instant::now();
    for i in 0..EVENTS {
        let at = Instant::now();
        log.record(event(i)).await.expect("recorded");
        latencies.push(at.elapsed());
    }
    let took = started.elapsed();
    log.close().await.unwrap();
    latencies.sort();
    println!(
        "one caller: {EVENTS} events in {:.2} s = {:.0} events/s, each its own signed batch (median {:.0} µs, p99 {:.0} µs)",
        took.as_secs_f64(),
        EVENTS as f64 / took.as_secs_f64(),
        latencies[latencies.len() / 2].as_secs_f64() * 1e6,
        latencies[latencies.len() * 99 / 100].as_secs_f64() * 1e6
    );
    let started = Instant::now();
    let report = read::verify(store, vec![verifier], vec![], |_, _| {})
        .await
        .expect("the log verifies");
    let took = started.elapsed();
    println!(
        "verify, one checkpoint per event: {} events, {} checkpoints in {:.2} s = {:.0} events/s",
        report.events,
        report.checkpoints,
        took.as_secs_f64(),
        report.events as f64 / took.as_secs_f64()
    );
}
