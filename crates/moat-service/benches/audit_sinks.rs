//! Audit forwarding figures (issue #19): events/s each sink delivers, and how far each
//! falls behind under 10,000 events/s of durable appends, on the real SQLite store.
//!
//! 1. floor: reading the log and forming each event's JSON, with no sink at all;
//! 2. drain: a backlog of `MOAT_BENCH_SINK_EVENTS` events (default 100,000) delivered
//!    to a file (fsync per batch), a local Splunk HEC stand-in (axum, the documented
//!    wire format) and, when `/usr/sbin/rsyslogd` and `openssl` exist, a real rsyslog
//!    over TLS (gtls, certificates made for the run);
//! 3. lag: the same sinks while 10,000 events/s are appended for 10 s (256 callers
//!    through `AuditLog::record`); lag sampled every 10 ms as the log's size minus the
//!    sink's cursor.
//!
//! Run: `cargo bench -p moat-service --bench audit_sinks`.

use moat_audit::checkpoint::SigningKey;
use moat_audit::event::{Actor, Decision, EventBody, Outcome, Resources};
use moat_service::audit::sinks::{
    Forwarded, Forwarder, HttpFormat, Select, SinkSettings, SinkStart, SinkStatus, SinkTarget,
    TlsSettings,
};
use moat_service::{AuditLog, AuditSettings, SystemClock};
use moat_store::{SqliteStore, Store};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn event(i: u64) -> EventBody {
    EventBody {
        actor: Actor {
            user: Some(format!("usr_{:016x}", i % 500)),
            email: Some(format!("developer{}@example-health.com", i % 500)),
            token_id: Some(format!("tok_{:016x}", i % 900)),
            client: Some("claude-code".into()),
            client_version: Some("2.1.4".into()),
            address: Some(format!("10.0.{}.{}", (i / 256) % 256, i % 256)),
        },
        action: "mcp.call".into(),
        resources: Resources {
            repos: vec!["payments".into()],
            paths: vec!["src/ledger/transfer.rs".into()],
            symbols: vec!["ledger::transfer::transfer".into()],
            ..Resources::default()
        },
        decision: Decision {
            outcome: Outcome::Allow,
            rule: Some("policy0:team-payments-read".into()),
            reason: None,
        },
        policy_version: "sha256:7414daf3d0d18c526f5f097e36c403f8689e157af64d0f2943b9d2b6c077e4db"
            .into(),
        disclosed: [("confidential".to_string(), 1840 + i % 300)].into(),
        redactions: Default::default(),
        egress: None,
        content_ref: None,
        details: serde_json::json!({"tool": "search_code", "latency_ms": i % 40}),
    }
}

async fn append(log: &Arc<AuditLog>, count: u64, callers: u64, per_second: Option<u64>) {
    let mut tasks = Vec::new();
    let per_caller = count / callers;
    let started = tokio::time::Instant::now();
    for caller in 0..callers {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..per_caller {
                if let Some(rate) = per_second {
                    // Paced: the n-th event of this caller is due at n * callers / rate.
                    let due = started + Duration::from_secs_f64((n * callers) as f64 / rate as f64);
                    tokio::time::sleep_until(due).await;
                }
                log.record(event(caller * per_caller + n))
                    .await
                    .expect("recorded");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// A Splunk HEC stand-in: counts the events of each batch and answers Success.
async fn hec_collector() -> (String, Arc<AtomicU64>) {
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let app = axum::Router::new().route(
        "/services/collector/event",
        axum::routing::post(move |body: String| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(body.lines().count() as u64, Ordering::Relaxed);
                r#"{"text":"Success","code":0}"#
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/services/collector/event",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// rsyslog over TLS with certificates made for this run, if the tools are here.
fn rsyslog(dir: &Path) -> Option<(std::process::Child, String, Vec<u8>)> {
    if !Path::new("/usr/sbin/rsyslogd").exists() {
        return None;
    }
    let run = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").ok()?;
    let made = run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=bench CA",
    ]) && run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]) && run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "san.ext",
    ]);
    if !made {
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let d = dir.display();
    std::fs::create_dir_all(dir.join("work")).ok()?;
    std::fs::write(
        dir.join("rsyslog.conf"),
        format!(
            r#"global(workDirectory="{d}/work" maxMessageSize="256k" defaultNetstreamDriver="gtls"
  defaultNetstreamDriverCAFile="{d}/ca.pem" defaultNetstreamDriverCertFile="{d}/server.pem" defaultNetstreamDriverKeyFile="{d}/server.key")
main_queue(queue.type="Direct")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="j" type="string" string="%msg%\n")
ruleset(name="moat" queue.type="Direct") {{ action(type="omfile" file="{d}/received.log" template="j") }}
input(type="imtcp" port="{port}" ruleset="moat")
"#
        ),
    )
    .ok()?;
    let child = std::process::Command::new("/usr/sbin/rsyslogd")
        .args([
            "-n",
            "-f",
            &format!("{d}/rsyslog.conf"),
            "-i",
            &format!("{d}/rsyslogd.pid"),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let ca = std::fs::read(dir.join("ca.pem")).ok()?;
            return Some((child, format!("127.0.0.1:{port}"), ca));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn sinks(
    dir: &Path,
    prefix: &str,
    hec: &str,
    syslog: Option<&(String, Vec<u8>)>,
) -> Vec<SinkSettings> {
    let mut sinks = vec![
        SinkSettings {
            name: format!("{prefix}-file"),
            target: SinkTarget::File {
                path: dir.join(format!("{prefix}.jsonl")),
                ocsf: false,
            },
            batch: 500,
            start: SinkStart::Beginning,
            select: Select::All,
        },
        SinkSettings {
            name: format!("{prefix}-hec"),
            target: SinkTarget::Http {
                url: hec.to_string(),
                format: HttpFormat::Hec,
                token: Some("bench".into()),
                hostname: "bench".into(),
            },
            batch: 500,
            start: SinkStart::Beginning,
            select: Select::All,
        },
    ];
    if let Some((address, ca)) = syslog {
        sinks.push(SinkSettings {
            name: format!("{prefix}-syslog"),
            target: SinkTarget::Syslog {
                address: address.clone(),
                tls: Some(TlsSettings {
                    server_name: "127.0.0.1".into(),
                    ca_pem: Some(ca.clone()),
                }),
                hostname: "bench".into(),
            },
            batch: 500,
            start: SinkStart::Beginning,
            select: Select::All,
        });
    }
    sinks
}

async fn until_delivered(statuses: &[Arc<SinkStatus>], size: u64) -> Vec<Duration> {
    let started = Instant::now();
    let mut done: Vec<Option<Duration>> = vec![None; statuses.len()];
    while done.iter().any(Option::is_none) {
        for (i, status) in statuses.iter().enumerate() {
            if done[i].is_none() && status.next() >= size {
                done[i] = Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    done.into_iter().map(Option::unwrap).collect()
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let events: u64 = std::env::var("MOAT_BENCH_SINK_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let log = Arc::new(
        AuditLog::open(
            store.clone(),
            SigningKey::from_seed("bench", [7; 32]).unwrap(),
            AuditSettings {
                origin: "bench/moat".into(),
                max_batch: 1024,
            },
            vec![],
            Arc::new(SystemClock),
        )
        .await
        .unwrap(),
    );
    append(&log, events, 256, None).await;
    let size = store.audit_size().await.unwrap();
    println!("log: {size} events");

    // 1. The floor: read and form every event, no sink.
    let started = Instant::now();
    let mut next = 0;
    let mut bytes = 0usize;
    while next < size {
        let leaves = store.audit_leaves(next, 500).await.unwrap();
        for leaf in &leaves {
            bytes += Forwarded::from_leaf(leaf, false).unwrap().json.len();
        }
        next = leaves.last().unwrap().seq + 1;
    }
    let floor = started.elapsed();
    println!(
        "floor (read + form, no sink): {:.0} events/s ({:.0} bytes/event)",
        size as f64 / floor.as_secs_f64(),
        bytes as f64 / size as f64
    );

    // 2. Drain the backlog into each sink, all at once (as a deployment would run them).
    let (hec, received) = hec_collector().await;
    let syslog_dir = tempfile::tempdir().unwrap();
    let rsyslog = rsyslog(syslog_dir.path());
    let syslog = rsyslog
        .as_ref()
        .map(|(_, address, ca)| (address.clone(), ca.clone()));
    if syslog.is_none() {
        println!(
            "rsyslog: not installed (apt install rsyslog rsyslog-gnutls); syslog figures skipped"
        );
    }
    let drain = sinks(dir.path(), "drain", &hec, syslog.as_ref());
    let forwarder = Forwarder::start(store.clone(), drain.clone(), Arc::new(SystemClock));
    let times = until_delivered(forwarder.statuses(), size).await;
    for (settings, time) in drain.iter().zip(&times) {
        println!(
            "drain {:<7} {size} events in {:.2} s: {:.0} events/s (all sinks at once)",
            settings.target.kind(),
            time.as_secs_f64(),
            size as f64 / time.as_secs_f64()
        );
    }
    forwarder.stop(Duration::from_secs(5)).await;
    assert!(
        received.load(Ordering::Relaxed) >= size,
        "the collector got every event"
    );

    // 3. Lag under 10,000 events/s of appends for 10 s.
    let live = sinks(dir.path(), "live", &hec, syslog.as_ref())
        .into_iter()
        .map(|mut s| {
            s.start = SinkStart::End;
            s
        })
        .collect::<Vec<_>>();
    let forwarder = Forwarder::start(store.clone(), live.clone(), Arc::new(SystemClock));
    while forwarder.statuses().iter().any(|s| s.next() < size) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let statuses = forwarder.statuses().to_vec();
    let sampler_store = store.clone();
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        let statuses = statuses.clone();
        tokio::spawn(async move {
            let mut lags: Vec<Vec<u64>> = vec![Vec::new(); statuses.len()];
            while sampling.load(Ordering::Relaxed) {
                let head = sampler_store.audit_size().await.unwrap();
                for (i, status) in statuses.iter().enumerate() {
                    lags[i].push(head.saturating_sub(status.next()));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            lags
        })
    };
    let rate = 10_000u64;
    let load_started = Instant::now();
    append(&log, rate * 10, 256, Some(rate)).await;
    let load_time = load_started.elapsed();
    let end = store.audit_size().await.unwrap();
    let caught_up = until_delivered(&statuses, end).await;
    sampling.store(false, Ordering::Relaxed);
    let lags = sampler.await.unwrap();
    println!(
        "load: {} events appended in {:.2} s ({:.0} events/s offered)",
        end - size,
        load_time.as_secs_f64(),
        (end - size) as f64 / load_time.as_secs_f64()
    );
    for ((settings, mut lag), done) in live.iter().zip(lags).zip(caught_up) {
        lag.sort_unstable();
        println!(
            "lag {:<7} p50 {} p99 {} max {} events ({:.0} / {:.0} ms at 10k/s); caught up {:.0} ms after the load ended",
            settings.target.kind(),
            percentile(&lag, 0.5),
            percentile(&lag, 0.99),
            lag.last().unwrap(),
            percentile(&lag, 0.5) as f64 / rate as f64 * 1000.0,
            percentile(&lag, 0.99) as f64 / rate as f64 * 1000.0,
            done.as_secs_f64() * 1000.0
        );
    }
    forwarder.stop(Duration::from_secs(5)).await;
    if let Some((mut child, _, _)) = rsyslog {
        let _ = child.kill();
        let lines = std::fs::read_to_string(syslog_dir.path().join("received.log"))
            .map_or(0, |t| t.lines().count());
        println!("rsyslog wrote {lines} messages (at least {} expected)", end);
        assert!(lines as u64 >= end);
    }
}
