//! SQLite-specific behaviour, plus the backend-independent conformance suite.

use super::*;
use std::sync::Arc;

fn fresh() -> (tempfile::TempDir, Arc<dyn crate::Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("moat.db")).unwrap();
    (dir, Arc::new(store))
}

#[tokio::test]
async fn passes_the_store_conformance_suite() {
    let (_dir, store) = fresh();
    crate::conformance::run_all(store).await;
}

#[test]
fn uses_wal_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("moat.db")).unwrap();
    store
        .read(|conn| {
            let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
            let fk: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
            assert_eq!(mode, "wal");
            assert_eq!(fk, 1);
            Ok(())
        })
        .unwrap();
}

#[test]
fn reopening_keeps_data_and_does_not_reapply_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moat.db");
    drop(SqliteStore::open(&path).unwrap());
    let store = SqliteStore::open(&path).unwrap();
    let version: i64 = store
        .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(version, migrations::LATEST);
}

#[test]
fn refuses_a_database_from_a_newer_moat() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moat.db");
    drop(SqliteStore::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 999")
        .unwrap();
    let err = SqliteStore::open(&path)
        .err()
        .expect("newer schema refused");
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 999, .. }),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_a_database_gives_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moat.db");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    let err = SqliteStore::open(&path).err().expect("garbage refused");
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
}

/// `count` audit events of `bytes` bytes each, without bodies or provenance.
fn plain_events(count: u64, bytes: usize) -> Vec<crate::AuditRow> {
    (0..count)
        .map(|seq| crate::AuditRow {
            seq,
            canonical: vec![b'x'; bytes],
            body: None,
            provenance: None,
        })
        .collect()
}

#[tokio::test]
async fn the_log_reaches_the_database_without_the_writer_checkpointing() {
    use crate::Store;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moat.db");
    let store = SqliteStore::open(&path).unwrap();
    let threshold: i64 = store
        .write(|c| Ok(c.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(threshold, i64::from(WRITER_CHECKPOINT_PAGES));
    let before = std::fs::metadata(&path).unwrap().len();
    // About 2 MB of events: far below the writer's own threshold, so only the
    // checkpointer can move them into the database file.
    store
        .audit_append(&plain_events(256, 8192), &[], None)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + CHECKPOINT_EVERY * 40;
    while std::fs::metadata(&path).unwrap().len() < before + 2_000_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the write-ahead log was not checkpointed into {}",
            path.display()
        );
        std::thread::sleep(CHECKPOINT_EVERY / 5);
    }
    assert_eq!(store.audit_size().await.unwrap(), 256);
}

#[tokio::test]
async fn once_the_store_is_dropped_the_database_file_alone_holds_everything() {
    use crate::Store;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moat.db");
    let store = SqliteStore::open(&path).unwrap();
    store
        .audit_append(&plain_events(3, 100), &[], None)
        .await
        .unwrap();
    drop(store);
    // A copy of `moat.db` alone is a whole copy (backups, the rollback test in
    // `moat/tests/audit.rs`): the log was folded in and removed at close.
    assert!(
        !dir.path().join("moat.db-wal").exists(),
        "the write-ahead log outlived the store"
    );
    let copy = dir.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    let copied = SqliteStore::open(&copy).unwrap();
    assert_eq!(copied.audit_size().await.unwrap(), 3);
}

/// Migration 15 rebuilds the exceptions table to widen its kinds: what was stored
/// before it is there after, and decisions still move the access version.
#[test]
fn exceptions_survive_the_table_rebuild_of_migration_15() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moat.db");
    {
        let mut conn = Connection::open(&path).unwrap();
        for (index, sql) in migrations::MIGRATIONS[..14].iter().enumerate() {
            let tx = conn.transaction().unwrap();
            tx.execute_batch(sql).unwrap();
            tx.pragma_update(None, "user_version", index as i64 + 1)
                .unwrap();
            tx.commit().unwrap();
        }
        conn.execute_batch(
            "INSERT INTO users (id, email, name, status, roles, teams, created_at, updated_at)
                 SELECT 'usr_1', 'dev@example.com', '', 'active', '[]', '[]', 0, 0;
             INSERT INTO policy_exceptions (id, user_id, kind, target, reason, seconds, status, requested_at, requested_by)
                 VALUES ('ex_1', 'usr_1', 'repo', 'ledger', 'incident', 3600, 'pending', 10, 'dev@example.com');",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let kept: (String, String) = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT kind, target FROM policy_exceptions WHERE id = 'ex_1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap();
    assert_eq!(kept, ("repo".to_string(), "ledger".to_string()));
    let bumps: i64 = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'policy_exceptions'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(
        bumps, 1,
        "the trigger that moves the access version is back"
    );
}
