//! Forwarding against the real SQLite store and receivers on loopback: every event
//! arrives, in order, across receiver failures and restarts of the forwarder.

use super::*;
use crate::SystemClock;
use crate::audit::tests::{body, fixture, open};
use std::collections::BTreeSet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn record(log: &crate::AuditLog, count: usize) {
    for _ in 0..count {
        log.record(body("test.event")).await.unwrap();
    }
}

fn settings(name: &str, target: SinkTarget) -> SinkSettings {
    SinkSettings {
        name: name.into(),
        target,
        batch: 7,
        start: SinkStart::Beginning,
        select: Select::All,
    }
}

/// Waits until `done` holds, checking every 20 ms, for at most 10 s.
async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not done in 10 s");
}

fn seqs_in(path: &std::path::Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sink_gets_every_event_once_across_restarts() {
    let f = fixture();
    let log = open(&f, vec![]).await;
    record(&log, 20).await;
    let path = f.dir.path().join("audit.jsonl");
    let sink = || {
        vec![settings(
            "archive",
            SinkTarget::File {
                path: path.clone(),
                ocsf: false,
            },
        )]
    };
    let forwarder = Forwarder::start(f.store.clone(), sink(), Arc::new(SystemClock));
    until(|| seqs_in(&path).len() == 20).await;
    let status = forwarder.statuses()[0].clone();
    until(|| status.next() == 20).await;
    assert_eq!(status.lag(), 0);
    forwarder.stop(Duration::from_secs(5)).await;

    // Events recorded while the forwarder is down arrive after it starts again, and
    // nothing already delivered is sent twice (the cursor was written).
    record(&log, 15).await;
    let forwarder = Forwarder::start(f.store.clone(), sink(), Arc::new(SystemClock));
    until(|| seqs_in(&path).len() >= 35).await;
    assert_eq!(seqs_in(&path), (0..35).collect::<Vec<_>>());
    // The cursor moves once the batch is written: wait for it, then read it stored.
    let status = forwarder.statuses()[0].clone();
    until(|| status.next() == 35).await;
    assert_eq!(
        f.store.audit_sink_cursor("archive").await.unwrap(),
        Some(35)
    );

    // Each line is the event as exported: its own fields and the leaf hash that proves it.
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let leaf = &f.store.audit_leaves(0, 1).await.unwrap()[0];
    let mut event = first.clone();
    event.as_object_mut().unwrap().remove("leaf_hash");
    assert_eq!(moat_audit::event::canonical_json(&event), leaf.canonical);
    assert_eq!(
        first["leaf_hash"],
        hex::encode(moat_audit::event::event_leaf_hash(&leaf.canonical))
    );
    forwarder.stop(Duration::from_secs(5)).await;
    log.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_started_at_the_end_skips_what_was_there_but_nothing_after() {
    let f = fixture();
    let log = open(&f, vec![]).await;
    record(&log, 10).await;
    let path = f.dir.path().join("new.jsonl");
    let mut sink = settings(
        "new-only",
        SinkTarget::File {
            path: path.clone(),
            ocsf: false,
        },
    );
    sink.start = SinkStart::End;
    let forwarder = Forwarder::start(f.store.clone(), vec![sink.clone()], Arc::new(SystemClock));
    let status = forwarder.statuses()[0].clone();
    until(|| status.next() == 10).await;
    record(&log, 3).await;
    until(|| seqs_in(&path).len() == 3).await;
    forwarder.stop(Duration::from_secs(5)).await;
    // `end` is where the sink was first configured, not each restart.
    record(&log, 2).await;
    let forwarder = Forwarder::start(f.store.clone(), vec![sink], Arc::new(SystemClock));
    until(|| seqs_in(&path).len() == 5).await;
    assert_eq!(seqs_in(&path), vec![10, 11, 12, 13, 14]);
    forwarder.stop(Duration::from_secs(5)).await;
    log.close().await.unwrap();
}

/// What the collector accepted: each batch's authorization header and body.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A local collector speaking HEC's wire format: refuses the first `refuse` batches
/// with 503, then accepts, keeping what it was sent and the authorization header.
async fn collector(refuse: usize) -> (String, Received) {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    let got = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new()
        .route(
            "/services/collector/event",
            axum::routing::post(
                move |State((got, refused)): State<(Received, Arc<AtomicU64>)>,
                      headers: HeaderMap,
                      body: String| async move {
                    if refused.fetch_add(1, Ordering::SeqCst) < refuse as u64 {
                        return (
                            StatusCode::SERVICE_UNAVAILABLE,
                            r#"{"text":"Server is busy","code":9}"#,
                        );
                    }
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    got.lock().unwrap().push((auth, body));
                    (StatusCode::OK, r#"{"text":"Success","code":0}"#)
                },
            ),
        )
        .with_state((got.clone(), refused));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/services/collector/event",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_sink_retries_a_refusing_collector_until_every_event_is_in() {
    let f = fixture();
    let log = open(&f, vec![]).await;
    record(&log, 30).await;
    let (url, got) = collector(3).await;
    let target = SinkTarget::Http {
        url,
        format: HttpFormat::Hec,
        token: Some("hec-token-1234".into()),
        hostname: "moat-test".into(),
    };
    let forwarder = Forwarder::start(
        f.store.clone(),
        vec![settings("splunk", target)],
        Arc::new(SystemClock),
    );
    let status = forwarder.statuses()[0].clone();
    until(|| status.next() == 30).await;
    assert_eq!(status.failures(), 3, "three refused batches");
    assert_eq!(
        status.last_error(),
        None,
        "cleared by the delivery that followed"
    );
    let got = got.lock().unwrap().clone();
    let mut seqs = Vec::new();
    for (auth, body) in &got {
        assert_eq!(auth, "Splunk hec-token-1234");
        // HEC: concatenated event objects, each with time, host, source, sourcetype, event.
        for line in body.lines() {
            let object: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(object["sourcetype"], "moat:audit");
            assert_eq!(object["host"], "moat-test");
            assert!(object["time"].as_f64().unwrap() > 1.7e9);
            seqs.push(object["event"]["seq"].as_u64().unwrap());
        }
    }
    assert_eq!(seqs, (0..30).collect::<Vec<_>>());
    forwarder.stop(Duration::from_secs(5)).await;
    log.close().await.unwrap();
}

/// A syslog receiver on plain TCP (loopback) that reads octet-counted frames until the
/// sender closes, then closes; the first connection it drops after reading half a
/// batch, as a receiver that dies would.
async fn syslog_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let got = Arc::new(Mutex::new(Vec::new()));
    let messages = got.clone();
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut bytes = Vec::new();
            if first {
                first = false;
                let mut half = [0u8; 300];
                let _ = socket.read(&mut half).await;
                // Dropped with unread data: the kernel resets the connection.
                drop(socket);
                continue;
            }
            socket.read_to_end(&mut bytes).await.unwrap();
            let mut text = std::str::from_utf8(&bytes).unwrap();
            while !text.is_empty() {
                let (length, rest) = text.split_once(' ').unwrap();
                let length: usize = length.parse().unwrap();
                messages.lock().unwrap().push(rest[..length].to_string());
                text = &rest[length..];
            }
            socket.shutdown().await.unwrap();
        }
    });
    (address, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syslog_sink_resends_a_batch_the_receiver_did_not_read() {
    let f = fixture();
    let log = open(&f, vec![]).await;
    log.record({
        let mut denied = body("access.denied");
        denied.decision.outcome = moat_audit::event::Outcome::Deny;
        denied
    })
    .await
    .unwrap();
    record(&log, 19).await;
    let (address, got) = syslog_receiver().await;
    let target = SinkTarget::Syslog {
        address,
        tls: None,
        hostname: "moat-test".into(),
    };
    let forwarder = Forwarder::start(
        f.store.clone(),
        vec![settings("siem", target)],
        Arc::new(SystemClock),
    );
    let status = forwarder.statuses()[0].clone();
    until(|| status.next() == 20).await;
    assert!(
        status.failures() >= 1,
        "the reset connection failed its batch"
    );
    let messages = got.lock().unwrap().clone();
    let seqs: BTreeSet<u64> = messages
        .iter()
        .map(|m| {
            let sd = m.split("[moat@32473 seq=\"").nth(1).unwrap();
            sd.split('"').next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(
        seqs,
        (0..20).collect(),
        "every event, none lost to the reset"
    );
    // RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG; a refusal is
    // a notice (13 * 8 + 5), the rest informational (13 * 8 + 6).
    let fields: Vec<&str> = messages[0].splitn(8, ' ').collect();
    assert_eq!(fields[0], "<109>1");
    assert!(
        fields[1].ends_with('Z') && fields[1].contains('T'),
        "{}",
        fields[1]
    );
    assert_eq!(&fields[2..4], ["moat-test", "moat"]);
    assert_eq!(fields[5], "access.denied");
    let json = messages[0].split_once("\"] ").unwrap().1;
    let event: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(
        (event["seq"].as_u64(), event["action"].as_str()),
        (Some(0), Some("access.denied"))
    );
    assert!(messages[1].starts_with("<110>1 "));
    forwarder.stop(Duration::from_secs(5)).await;
    log.close().await.unwrap();
}

#[test]
fn a_ca_file_without_certificates_is_refused_with_what_to_do() {
    let tls = TlsSettings {
        server_name: "siem.example.com".into(),
        ca_pem: Some(b"not a certificate".to_vec()),
    };
    let error = tls.connector().err().unwrap();
    assert!(error.contains("ca_file"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ocsf_file_sink_writes_ocsf_events_that_carry_the_moat_event() {
    let f = fixture();
    let log = open(&f, vec![]).await;
    record(&log, 5).await;
    let path = f.dir.path().join("audit.ocsf");
    let target = SinkTarget::File {
        path: path.clone(),
        ocsf: true,
    };
    let forwarder = Forwarder::start(
        f.store.clone(),
        vec![settings("ocsf", target)],
        Arc::new(SystemClock),
    );
    let status = forwarder.statuses()[0].clone();
    until(|| status.next() == 5).await;
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    for (seq, line) in lines.iter().enumerate() {
        assert_eq!(
            line["metadata"]["version"],
            crate::audit::ocsf::OCSF_VERSION
        );
        assert_eq!(
            line["class_uid"], 6003,
            "test.event is API Activity: {line}"
        );
        assert_eq!(line["unmapped"]["moat"]["seq"], seq as u64);
        assert!(line["unmapped"]["moat"]["leaf_hash"].is_string());
    }
    forwarder.stop(Duration::from_secs(5)).await;
    log.close().await.unwrap();
}

/// The JSON and OCSF bodies of an http sink: one JSON array per batch, each element
/// the flat event (JSON) or the OCSF event carrying it, with a bearer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_sink_posts_json_or_ocsf_arrays_with_a_bearer_token() {
    let f = fixture();
    let log = open(&f, vec![]).await;
    record(&log, 12).await;
    for (format, name) in [(HttpFormat::Json, "json"), (HttpFormat::Ocsf, "ocsf")] {
        let (url, got) = collector(1).await;
        let target = SinkTarget::Http {
            url,
            format,
            token: Some("bearer-token-5678".into()),
            hostname: "moat-test".into(),
        };
        let forwarder = Forwarder::start(
            f.store.clone(),
            vec![settings(name, target)],
            Arc::new(SystemClock),
        );
        let status = forwarder.statuses()[0].clone();
        until(|| status.next() == 12).await;
        let got = got.lock().unwrap().clone();
        let mut seqs = Vec::new();
        for (auth, body) in &got {
            assert_eq!(auth, "Bearer bearer-token-5678", "{name}");
            let batch: Vec<serde_json::Value> = serde_json::from_str(body).unwrap();
            assert!(batch.len() <= 7, "{name}: one batch per post");
            for event in batch {
                let flat = match format {
                    HttpFormat::Ocsf => {
                        assert_eq!(event["class_uid"], 6003, "{event}");
                        event["unmapped"]["moat"].clone()
                    }
                    _ => event,
                };
                assert_eq!(flat["action"], "test.event", "{name}: {flat}");
                assert!(flat["leaf_hash"].is_string(), "{name}: {flat}");
                seqs.push(flat["seq"].as_u64().unwrap());
            }
        }
        assert_eq!(seqs, (0..12).collect::<Vec<_>>(), "{name}");
        assert_eq!(
            status.failures(),
            1,
            "{name}: the refused first batch was sent again"
        );
        forwarder.stop(Duration::from_secs(5)).await;
    }
    log.close().await.unwrap();
}
