//! What only a witness can show, through the real binary: a consistent truncation, a
//! whole-database rollback and a history rewrite re-signed with the data directory's own
//! key all look sound from inside the database; `moat audit verify` checks every
//! configured witness by default, and a writer refuses to append to (and overwrite the
//! witness of) a log its witness contradicts.

use super::*;
use moat_audit::event::event_leaf_hash;
use moat_audit::merkle::Frontier;

/// A second configuration for the same data directory without `witness_files`: what the
/// database alone shows.
fn without_witness(config: &Path) -> PathBuf {
    let alone = config.with_file_name("alone.toml");
    std::fs::write(
        &alone,
        "[org]\nname = \"Example Health\"\n[audit]\ncheckpoint_every_events = 4\n",
    )
    .unwrap();
    alone
}

fn witness_path(config: &Path) -> PathBuf {
    config.with_file_name("witness.checkpoint")
}

/// Deletes events from `from` on, the tree nodes that cover them and the checkpoints
/// past `from`: what is left is a complete, signed, shorter log.
fn truncate_consistently(conn: &Connection, from: i64) {
    conn.execute("DELETE FROM audit_events WHERE seq >= ?1", [from])
        .unwrap();
    conn.execute(
        "DELETE FROM audit_nodes WHERE ((id & 72057594037927935) + 1) << (id >> 56) > ?1",
        [from],
    )
    .unwrap();
    conn.execute("DELETE FROM audit_checkpoints WHERE size > ?1", [from])
        .unwrap();
}

/// Recomputes every leaf and tree node from the stored events, as someone hiding an edit
/// would; with `key`, also re-signs every checkpoint over the new tree.
fn rebuild_tree(conn: &Connection, key: Option<&SigningKey>) {
    let events: Vec<Vec<u8>> = conn
        .prepare("SELECT canonical FROM audit_events ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let signed: Vec<(i64, String)> = conn
        .prepare("SELECT size, note FROM audit_checkpoints ORDER BY size")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    conn.execute("DELETE FROM audit_nodes", []).unwrap();
    let mut frontier = Frontier::new();
    let mut roots = std::collections::HashMap::new();
    roots.insert(0u64, frontier.root());
    for bytes in &events {
        for (id, hash) in frontier.push(event_leaf_hash(bytes)) {
            conn.execute(
                "INSERT INTO audit_nodes (id, hash) VALUES (?1, ?2)",
                params![id.key() as i64, &hash[..]],
            )
            .unwrap();
        }
        roots.insert(frontier.size(), frontier.root());
    }
    let Some(key) = key else { return };
    for (size, note) in signed {
        let old = checkpoint::parse_unverified(&note).unwrap();
        let forged = Checkpoint {
            root: roots[&(size as u64)],
            ..old
        }
        .sign(key);
        conn.execute(
            "UPDATE audit_checkpoints SET note = ?2 WHERE size = ?1",
            params![size, forged],
        )
        .unwrap();
    }
}

fn edit(conn: &Connection, seq: i64) {
    let edited = String::from_utf8(canonical(conn, seq))
        .unwrap()
        .replace("admin.change", "admin.chanqe");
    set_canonical(conn, seq, edited.as_bytes());
}

fn data_dir_key(config: &Path) -> SigningKey {
    let text = std::fs::read_to_string(config.with_file_name("audit").join("signing.key")).unwrap();
    SigningKey::from_text(&text).unwrap()
}

fn witnesses_named(report: &Value) -> Vec<String> {
    report["witnesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            w.as_str()
                .map_or_else(|| w["source"].to_string(), String::from)
        })
        .collect()
}

#[test]
fn verify_checks_every_configured_witness_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let config = deployment(dir.path(), 3);
    let (code, report) = verify(&config, &[]);
    assert_eq!(code, 0, "{report}");
    let witnesses = report["witnesses"].as_array().unwrap();
    assert_eq!(witnesses.len(), 1, "{report}");
    assert_eq!(
        witnesses[0]["source"].as_str().unwrap(),
        witness_path(&config).display().to_string()
    );
    assert_eq!(
        witnesses[0]["size"], 6,
        "the witness holds the newest checkpoint"
    );

    let text = ok(run(&config, &["audit", "verify"]));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!(
            "consistent with witness {} (size 6)",
            witness_path(&config).display()
        )),
        "{text}"
    );
}

#[test]
fn a_consistent_truncation_is_caught_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let config = deployment(dir.path(), 9);
    truncate_consistently(&db(&config), 10);
    let (code, report) = verify(&without_witness(&config), &[]);
    assert_eq!(code, 0, "the database alone looks sound: {report}");
    let report = assert_caught(&config, &[], Some(10), Some(18));
    assert!(
        witnesses_named(&report).contains(&witness_path(&config).display().to_string()),
        "{report}"
    );
}

#[test]
fn a_whole_database_rollback_is_caught_by_default_and_no_writer_buries_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = deployment(dir.path(), 5);
    let data = config.parent().unwrap();
    let old_copy = dir.path().join("moat.db.old");
    std::fs::copy(data.join("moat.db"), &old_copy).unwrap();
    for i in 5..9 {
        ok(run(
            &config,
            &["user", "add", &format!("later{i}@example.com")],
        ));
    }
    std::fs::copy(&old_copy, data.join("moat.db")).unwrap();
    let (code, report) = verify(&without_witness(&config), &[]);
    assert_eq!(code, 0, "the old copy is sound on its own: {report}");
    assert_caught(&config, &[], Some(10), Some(18));

    // Appending to the rolled-back log would overwrite the witness with a checkpoint of
    // another history: the writer refuses, and the evidence stays.
    let witness = std::fs::read_to_string(witness_path(&config)).unwrap();
    let refused = run(&config, &["user", "add", "after-rollback@example.com"]);
    assert!(
        !refused.status.success(),
        "a writer started on a rolled-back log"
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("rolled back"), "{stderr}");
    assert!(stderr.contains("witness.checkpoint"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(witness_path(&config)).unwrap(),
        witness
    );
    assert_caught(&config, &[], Some(10), Some(18));
}

#[test]
fn a_rewrite_re_signed_with_the_data_directorys_key_is_caught_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let config = deployment(dir.path(), 9);
    let conn = db(&config);
    edit(&conn, 5);
    rebuild_tree(&conn, Some(&data_dir_key(&config)));
    drop(conn);
    let (code, report) = verify(&without_witness(&config), &[]);
    assert_eq!(
        code, 0,
        "re-signed, the database agrees with itself: {report}"
    );

    let report = assert_caught(&config, &[], Some(0), Some(18));
    assert!(
        report["reason"]
            .as_str()
            .unwrap()
            .contains("signed two different histories"),
        "{report}"
    );

    let witness = std::fs::read_to_string(witness_path(&config)).unwrap();
    let refused = run(&config, &["user", "add", "after-rewrite@example.com"]);
    assert!(
        !refused.status.success(),
        "a writer started on a rewritten log"
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("rewritten"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(witness_path(&config)).unwrap(),
        witness
    );
}

#[test]
fn a_rewrite_with_the_tree_rebuilt_is_named_at_the_edited_event() {
    let dir = tempfile::tempdir().unwrap();
    let config = deployment(dir.path(), 6);
    let conn = db(&config);
    edit(&conn, 5);
    rebuild_tree(&conn, None);
    drop(conn);
    // The checkpoint signed with event 5's batch is the first that no longer matches.
    let report = assert_caught(&config, &[], Some(5), Some(6));
    assert!(
        report["reason"]
            .as_str()
            .unwrap()
            .starts_with("event 5 does not match"),
        "{report}"
    );
    // Without the witness the same event is named: the log's own checkpoints suffice.
    assert_caught(&without_witness(&config), &[], Some(5), Some(6));
}

#[test]
fn a_removed_witness_file_fails_verification_until_a_writer_fills_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let config = deployment(dir.path(), 2);
    std::fs::remove_file(witness_path(&config)).unwrap();
    let (code, report) = verify(&config, &[]);
    assert_eq!(code, 1, "{report}");
    assert!(
        report["reason"]
            .as_str()
            .unwrap()
            .contains("holds no checkpoint"),
        "{report}"
    );
    ok(run(&config, &["audit", "checkpoint"]));
    let (code, report) = verify(&config, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["witnesses"][0]["size"], 4, "{report}");
}

/// After a SIGKILL under load (see `a_server_killed_under_load_keeps_every_acknowledged_event`):
/// no acknowledged event is outside a signed checkpoint, and one acknowledged before the
/// witness's checkpoint can be neither edited nor removed unseen.
pub(super) fn check_after_kill(config: &Path, acknowledged: &[(String, Instant)], killed: Instant) {
    let conn = db(config);
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let (events, signed): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM audit_events), (SELECT max(size) FROM audit_checkpoints)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        signed,
        events,
        "events {signed} to {} were acknowledged but are in no signed checkpoint",
        events - 1
    );
    drop(conn);

    // Sequence number of each acknowledged token's `applied` event.
    let found = ok(run(
        config,
        &[
            "audit",
            "search",
            "--action",
            "admin.change",
            "--limit",
            "1000000",
            "--json",
        ],
    ));
    let found: Value = serde_json::from_slice(&found.stdout).unwrap();
    let mut applied = std::collections::HashMap::new();
    for event in found["events"].as_array().unwrap() {
        if event["details"]["phase"] == "applied" {
            for object in event["resources"]["objects"].as_array().unwrap() {
                applied.insert(
                    object.as_str().unwrap().to_string(),
                    event["seq"].as_i64().unwrap(),
                );
            }
        }
    }
    let witness = std::fs::read_to_string(witness_path(config)).unwrap();
    let witnessed = checkpoint::parse_unverified(&witness).unwrap().size as i64;
    // Witnesses are updated from their own thread at most a period apart: anything
    // acknowledged a second before the kill is in the witness's checkpoint.
    let mut old_enough = None;
    for (id, at) in acknowledged {
        let seq = applied[id];
        if killed.duration_since(*at) > Duration::from_secs(1) {
            assert!(
                seq < witnessed,
                "event {seq} was acknowledged over a second before the kill, but the witness holds only {witnessed}"
            );
            old_enough = old_enough.max(Some(seq));
        }
    }
    let newest = acknowledged
        .iter()
        .map(|(id, _)| applied[id])
        .max()
        .unwrap();

    let copy = |name: &str| -> PathBuf {
        let target = config.with_file_name(name);
        std::fs::create_dir_all(&target).unwrap();
        std::fs::copy(config, target.join("moat.toml")).unwrap();
        std::fs::copy(config.with_file_name("moat.db"), target.join("moat.db")).unwrap();
        copy_dir(&config.with_file_name("audit"), &target.join("audit"));
        target.join("moat.toml")
    };

    // The newest acknowledged event, edited and hidden by recomputing the tree: named
    // at its batch, which its checkpoint signed before it was acknowledged.
    let edited = copy("edited-after-kill");
    let conn = db(&edited);
    let batch_start: i64 = conn
        .query_row(
            "SELECT max(size) FROM audit_checkpoints WHERE size <= ?1",
            [newest],
            |r| r.get(0),
        )
        .unwrap();
    edit(&conn, newest);
    rebuild_tree(&conn, None);
    drop(conn);
    let report = assert_caught(&edited, &[], Some(batch_start as u64), None);
    assert!(
        report["checkpoint_size"].as_i64().unwrap() > newest,
        "{report}"
    );

    // An event acknowledged well before the kill, removed with everything after it.
    let removed = copy("removed-after-kill");
    let seq = old_enough.expect("the load ran for more than a second");
    truncate_consistently(&db(&removed), seq);
    assert_caught(&removed, &[], Some(seq as u64), Some(witnessed as u64));
}
