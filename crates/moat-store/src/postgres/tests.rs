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
async fn one_audit_lease_at_a_time_and_one_given_up_appends_nothing() {
    let (db, store) = fresh().await;
    let other = PostgresStore::connect(&PostgresOptions::new(&db.url))
        .await
        .unwrap();
    let mut held = store
        .audit_lease()
        .await
        .unwrap()
        .expect("PostgreSQL leases");
    assert_eq!(held.size().await.unwrap(), 0);
    // Another node's writer waits while the lease is held...
    let waiting = tokio::spawn(async move {
        let mut lease = other.audit_lease().await.unwrap().unwrap();
        lease.size().await.unwrap()
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "a second lease was granted while one was held"
    );
    let event = crate::AuditRow {
        seq: 0,
        canonical: b"{}".to_vec(),
        body: None,
        provenance: None,
    };
    held.append(&[event], &[], None).await.unwrap();
    // ...and sees what the holder appended once it is its turn.
    assert_eq!(waiting.await.unwrap(), 1);

    // A lease given up (dropped) appends nothing and frees the next.
    let given_up = store.audit_lease().await.unwrap().unwrap();
    drop(given_up);
    let mut next = store.audit_lease().await.unwrap().unwrap();
    assert_eq!(next.size().await.unwrap(), 1);
}
