//! PostgreSQL-specific behaviour, plus the backend-independent conformance suite, each
//! on a scratch database of its own.

use super::*;
use crate::Store;
use crate::conformance::scratch::ScratchPostgres;
use std::sync::Arc;

async fn fresh() -> (ScratchPostgres, PostgresStore) {
    let db = ScratchPostgres::new().await;
    let store = PostgresStore::connect(&PostgresOptions::new(&db.url))
        .await
        .unwrap();
    (db, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_store_conformance_suite() {
    let (_db, store) = fresh().await;
    crate::conformance::run_all(Arc::new(store)).await;
}

#[tokio::test]
async fn reconnecting_keeps_data_and_does_not_reapply_migrations() {
    let (db, store) = fresh().await;
    store
        .insert_user(&crate::conformance::sample_user("u1", "a@x.test"))
        .await
        .unwrap();
    drop(store);
    let again = PostgresStore::connect(&PostgresOptions::new(&db.url))
        .await
        .unwrap();
    assert_eq!(again.users().await.unwrap().len(), 1);
    let version: i64 = again
        .client()
        .await
        .unwrap()
        .query_one("SELECT version FROM moat_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, migrations::LATEST);
}

#[tokio::test]
async fn refuses_a_database_from_a_newer_moat() {
    let (db, store) = fresh().await;
    store
        .client()
        .await
        .unwrap()
        .execute("UPDATE moat_schema SET version = 999", &[])
        .await
        .unwrap();
    let err = PostgresStore::connect(&PostgresOptions::new(&db.url))
        .await
        .err()
        .expect("newer schema refused");
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 999, .. }),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once() {
    let db = ScratchPostgres::new().await;
    let options = PostgresOptions::new(&db.url);
    let (a, b, c) = tokio::join!(
        PostgresStore::connect(&options),
        PostgresStore::connect(&options),
        PostgresStore::connect(&options)
    );
    for store in [a, b, c] {
        assert_eq!(store.unwrap().audit_size().await.unwrap(), 0);
    }
}

#[tokio::test]
async fn an_unreachable_server_is_an_open_error_naming_it_without_the_password() {
    let err = PostgresStore::connect(&PostgresOptions::new(
        "postgres://moat:hunter2@127.0.0.1:1/moat?sslmode=disable&connect_timeout=2",
    ))
    .await
    .err()
    .expect("nothing listens on port 1");
    let message = err.to_string();
    assert!(matches!(err, StoreError::Open { .. }), "{message}");
    assert!(message.contains("127.0.0.1:1/moat"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn a_url_that_does_not_parse_is_refused_before_connecting() {
    let err = PostgresStore::connect(&PostgresOptions::new("postgres://[nope"))
        .await
        .err()
        .expect("garbage refused");
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
}

/// The server's certificate, as PostgreSQL reports it (the local server of these
/// machines runs TLS with a certificate for `localhost`).
async fn server_certificate(store: &PostgresStore) -> std::path::PathBuf {
    let client = store.client().await.unwrap();
    let ssl: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    assert_eq!(
        ssl, "on",
        "the TLS tests need the PostgreSQL server to run with ssl = on"
    );
    let file: String = client
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0);
    let data_dir: String = client
        .query_one("SHOW data_directory", &[])
        .await
        .unwrap()
        .get(0);
    std::path::Path::new(&data_dir).join(file)
}

fn over_tls(url: &str) -> String {
    url.replace("127.0.0.1", "localhost")
        .replace("sslmode=disable", "sslmode=require")
}

#[tokio::test]
async fn tls_checks_the_server_certificate_and_fails_closed() {
    let (db, store) = fresh().await;
    let certificate = server_certificate(&store).await;
    let url = over_tls(&db.url);
    assert!(url.contains("sslmode=require"), "{url}");

    // A CA that did not sign the server's certificate: refused, nothing sent in clear.
    let stranger = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(stranger.path(), include_str!("tests/stranger-ca.pem")).unwrap();
    let refused = PostgresStore::connect(&PostgresOptions {
        ca_file: Some(stranger.path().to_path_buf()),
        ..PostgresOptions::new(&url)
    })
    .await
    .err()
    .expect("an untrusted server certificate is refused");
    assert!(
        refused.to_string().contains("certificate"),
        "the error says it is the certificate: {refused}"
    );

    // Its own CA: connects over TLS.
    let trusted = PostgresStore::connect(&PostgresOptions {
        ca_file: Some(certificate),
        ..PostgresOptions::new(&url)
    })
    .await
    .unwrap();
    let client = trusted.client().await.unwrap();
    let encrypted: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted, "the connection is encrypted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sequencer_at_a_time_appends_what_every_node_queued() {
    use crate::{AuditCheckpoint, AuditProvenance, AuditRow, QueuedRecord};
    let (db, store) = fresh().await;
    let other = PostgresStore::connect(&PostgresOptions::new(&db.url))
        .await
        .unwrap();
    let mut a = store.audit_seat().await.unwrap().expect("PostgreSQL seats");
    let mut b = other.audit_seat().await.unwrap().unwrap();
    assert!(a.try_lead().await.unwrap(), "a free role is taken");
    assert!(
        !b.try_lead().await.unwrap(),
        "a second seat is refused the role"
    );
    assert!(a.try_lead().await.unwrap(), "the holder keeps it");

    // Node b queues two records; the holder is woken, takes them in order and appends.
    let records = vec![
        QueuedRecord {
            body: b"{\"first\":1}".to_vec(),
            content: Some(b"prompt".to_vec()),
            provenance: None,
        },
        QueuedRecord {
            body: b"{\"second\":2}".to_vec(),
            content: None,
            provenance: Some(AuditProvenance {
                user: "u1".into(),
                model: "m".into(),
                fingerprints: vec![7, u32::MAX],
            }),
        },
    ];
    let ids = other.audit_enqueue(&records).await.unwrap();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1], "ids in the order queued");
    assert!(a.wait(std::time::Duration::from_secs(5)).await.unwrap());
    let queued = a.take(10).await.unwrap();
    assert_eq!(
        queued,
        vec![(ids[0], records[0].clone()), (ids[1], records[1].clone())]
    );
    assert_eq!(
        other.audit_dequeue(&ids).await.unwrap(),
        vec![],
        "not appended yet"
    );

    let rows = |seqs: std::ops::Range<u64>| -> Vec<AuditRow> {
        seqs.map(|seq| AuditRow {
            seq,
            canonical: format!("{{\"seq\":{seq}}}").into_bytes(),
            body: None,
            provenance: None,
        })
        .collect()
    };
    let checkpoint = |size| AuditCheckpoint {
        size,
        note: format!("note {size}"),
        at: moat_domain::UnixTime(1),
    };
    // The log grew behind the turn's back: the turn is void and nothing is marked.
    store
        .audit_append(&rows(0..1), &[], Some(&checkpoint(1)))
        .await
        .unwrap();
    let void = a
        .append(
            0,
            &rows(0..2),
            &[],
            &checkpoint(2),
            &[(ids[0], 0), (ids[1], 1)],
        )
        .await;
    assert!(matches!(void, Err(StoreError::Conflict(_))), "{void:?}");
    // Still queued: read again (at most 100 ms later without a notification).
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    assert_eq!(a.take(10).await.unwrap().len(), 2, "both still queued");
    a.append(
        1,
        &rows(1..3),
        &[],
        &checkpoint(3),
        &[(ids[0], 1), (ids[1], 2)],
    )
    .await
    .unwrap();
    assert!(
        b.wait(std::time::Duration::from_secs(5)).await.unwrap(),
        "b hears of it"
    );
    let mut collected = other.audit_dequeue(&ids).await.unwrap();
    collected.sort();
    assert_eq!(collected, vec![(ids[0], 1), (ids[1], 2)]);
    assert_eq!(
        other.audit_dequeue(&ids).await.unwrap(),
        vec![],
        "collected once"
    );
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    assert_eq!(a.take(10).await.unwrap(), vec![]);

    // Appended records nobody collected: an hour old they are swept by the next holder,
    // a recent one is left for its node.
    let raw = store.client().await.unwrap();
    let hour_ago = moat_domain::UnixTime::now().0 - 3_700;
    raw.execute(
        "INSERT INTO audit_queue (body, queued_at, seq) VALUES ('\\x7b7d', $1, 0), ('\\x7b7d', $2, 1)",
        &[&hour_ago, &moat_domain::UnixTime::now().0],
    )
    .await
    .unwrap();

    // The holder's connection goes: its role is free for the next seat that asks.
    drop(a);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !b.try_lead().await.unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "the role was never freed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let left: Vec<i64> = raw
        .query("SELECT queued_at FROM audit_queue", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0] > hour_ago, "the old uncollected record was swept");
    // A seat that is not the holder may not take a turn.
    let mut c = store.audit_seat().await.unwrap().unwrap();
    assert!(!c.try_lead().await.unwrap());
    assert!(c.take(10).await.is_err());
}
