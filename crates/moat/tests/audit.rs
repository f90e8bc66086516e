//! The audit log through the real binary and the real SQLite file: tampering behind
//! Moat's back is caught with the right sequence number, a server killed with SIGKILL
//! under load loses no acknowledged event and leaves none unsigned, and exports and
//! proofs check out. What only a witness can show is in `audit/witnesses.rs`.

#[path = "audit/witnesses.rs"]
mod witnesses;

use moat_audit::checkpoint::{self, Checkpoint, SigningKey};
use rusqlite::{Connection, params};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn moat(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_moat"));
    command
        .env_remove("MOAT_DATA_DIR")
        .env("MOAT_LOG", "warn")
        .arg("--config")
        .arg(config);
    command
}

fn run(config: &Path, args: &[&str]) -> Output {
    moat(config).args(args).output().expect("moat runs")
}

fn ok(output: Output) -> Output {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A deployment whose log holds `events` admin changes (one per user added).
fn deployment(dir: &Path, events: usize) -> PathBuf {
    let witness = dir.join("witness.checkpoint");
    let config = dir.join("moat.toml");
    std::fs::write(
        &config,
        format!(
            "[org]\nname = \"Example Health\"\n[audit]\ncheckpoint_every_events = 4\nwitness_files = [{}]\n",
            toml_string(&witness)
        ),
    )
    .unwrap();
    for i in 0..events {
        ok(run(
            &config,
            &["user", "add", &format!("person{i}@example.com")],
        ));
    }
    config
}

fn toml_string(path: &Path) -> String {
    format!(
        "\"{}\"",
        path.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    )
}

/// `moat audit verify --json`: (exit code, report).
fn verify(config: &Path, extra: &[&str]) -> (i32, Value) {
    let output = run(config, &[&["audit", "verify", "--json"], extra].concat());
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code().unwrap(), report)
}

fn db(config: &Path) -> Connection {
    Connection::open(config.parent().unwrap().join("moat.db")).unwrap()
}

fn canonical(conn: &Connection, seq: i64) -> Vec<u8> {
    conn.query_row(
        "SELECT canonical FROM audit_events WHERE seq = ?1",
        [seq],
        |r| r.get(0),
    )
    .unwrap()
}

fn set_canonical(conn: &Connection, seq: i64, bytes: &[u8]) {
    conn.execute(
        "UPDATE audit_events SET canonical = ?2 WHERE seq = ?1",
        params![seq, bytes],
    )
    .unwrap();
}

fn assert_caught(
    config: &Path,
    extra: &[&str],
    seq: Option<u64>,
    checkpoint_size: Option<u64>,
) -> Value {
    let (code, report) = verify(config, extra);
    assert_eq!(code, 1, "tampering must fail verification: {report}");
    assert_eq!(report["ok"], false);
    assert_eq!(report["first_bad_seq"].as_u64(), seq, "{report}");
    if checkpoint_size.is_some() {
        assert_eq!(
            report["checkpoint_size"].as_u64(),
            checkpoint_size,
            "{report}"
        );
    }
    report
}

#[test]
fn an_untouched_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let config = deployment(dir.path(), 6);
    let (code, report) = verify(&config, &[]);
    assert_eq!(code, 0, "{report}");
    // Each change is two events: its request, then its outcome.
    assert_eq!(report["events"], 12);
    assert_eq!(report["signed_size"], 12);
}

#[test]
fn tampering_with_the_sqlite_file_is_caught_at_the_right_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = deployment(dir.path(), 12);
    let copy = |name: &str| -> PathBuf {
        let target = dir.path().join(name);
        std::fs::create_dir_all(&target).unwrap();
        for file in ["moat.toml", "moat.db"] {
            std::fs::copy(pristine.parent().unwrap().join(file), target.join(file)).unwrap();
        }
        copy_dir(
            &pristine.parent().unwrap().join("audit"),
            &target.join("audit"),
        );
        target.join("moat.toml")
    };

    // Edit a field.
    let config = copy("edit");
    let conn = db(&config);
    let edited = String::from_utf8(canonical(&conn, 5))
        .unwrap()
        .replace("admin.change", "admin.chanqe");
    set_canonical(&conn, 5, edited.as_bytes());
    drop(conn);
    assert_caught(&config, &[], Some(5), None);

    // Delete a row.
    let config = copy("delete");
    db(&config)
        .execute("DELETE FROM audit_events WHERE seq = 7", [])
        .unwrap();
    assert_caught(&config, &[], Some(7), None);

    // Insert a row (the rest renumbered to make room).
    let config = copy("insert");
    let conn = db(&config);
    let last: i64 = conn
        .query_row("SELECT max(seq) FROM audit_events", [], |r| r.get(0))
        .unwrap();
    for seq in (4..=last).rev() {
        conn.execute(
            "UPDATE audit_events SET seq = seq + 1 WHERE seq = ?1",
            [seq],
        )
        .unwrap();
    }
    let forged = String::from_utf8(canonical(&conn, 5))
        .unwrap()
        .replace("admin.change", "admin.chanqe");
    conn.execute(
        "INSERT INTO audit_events (seq, canonical) VALUES (4, ?1)",
        [forged.as_bytes()],
    )
    .unwrap();
    drop(conn);
    assert_caught(&config, &[], Some(4), None);

    // Swap two rows.
    let config = copy("swap");
    let conn = db(&config);
    let (three, eight) = (canonical(&conn, 3), canonical(&conn, 8));
    set_canonical(&conn, 3, &eight);
    set_canonical(&conn, 8, &three);
    drop(conn);
    assert_caught(&config, &[], Some(3), None);

    // Truncate the tail.
    let config = copy("truncate");
    db(&config)
        .execute("DELETE FROM audit_events WHERE seq >= 9", [])
        .unwrap();
    assert_caught(&config, &[], Some(9), Some(10));

    // Replace a checkpoint with one signed by another key.
    let config = copy("checkpoint");
    let conn = db(&config);
    let note: String = conn
        .query_row(
            "SELECT note FROM audit_checkpoints WHERE size = 6",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let original = checkpoint::parse_unverified(&note).unwrap();
    let forger = SigningKey::from_seed("moat-audit-forger", [7; 32]).unwrap();
    let forged = Checkpoint {
        root: [0; 32],
        ..original
    }
    .sign(&forger);
    conn.execute(
        "UPDATE audit_checkpoints SET note = ?1 WHERE size = 6",
        [forged],
    )
    .unwrap();
    drop(conn);
    let report = assert_caught(&config, &[], None, Some(6));
    assert!(
        report["reason"]
            .as_str()
            .unwrap()
            .contains("replaced or forged"),
        "{report}"
    );
}

#[test]
fn rolling_back_to_an_older_copy_is_caught_against_the_witness() {
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
    let witness = data.join("witness.checkpoint");
    let witness_note = std::fs::read_to_string(&witness).unwrap();
    assert!(
        witness_note.contains("\n18\n"),
        "the witness holds the newest checkpoint: {witness_note}"
    );

    // Whoever controls the database puts the old copy back: the configured witness
    // shows it by default...
    std::fs::copy(&old_copy, data.join("moat.db")).unwrap();
    let report = assert_caught(&config, &[], Some(10), Some(18));
    assert!(
        report["reason"].as_str().unwrap().contains("witness"),
        "{report}"
    );
    // ...and so does a copy of its checkpoint given explicitly.
    let held = dir.path().join("held.checkpoint");
    std::fs::write(&held, &witness_note).unwrap();
    let report = assert_caught(
        &config,
        &["--against", held.to_str().unwrap()],
        Some(10),
        Some(18),
    );
    assert!(
        report["witnesses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str() == held.to_str()),
        "{report}"
    );
}

#[test]
fn proofs_and_exports_can_be_checked_without_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let config = deployment(dir.path(), 7);
    let proof = ok(run(&config, &["audit", "prove", "--seq", "3"]));
    let proof_file = dir.path().join("proof.json");
    std::fs::write(&proof_file, &proof.stdout).unwrap();
    ok(run(
        &config,
        &["audit", "check-proof", proof_file.to_str().unwrap()],
    ));

    let mut doc: Value = serde_json::from_slice(&proof.stdout).unwrap();
    doc["event"] = Value::String(
        doc["event"]
            .as_str()
            .unwrap()
            .replace("admin.change", "admin.chanqe"),
    );
    std::fs::write(&proof_file, doc.to_string()).unwrap();
    assert_eq!(
        run(
            &config,
            &["audit", "check-proof", proof_file.to_str().unwrap()]
        )
        .status
        .code(),
        Some(1)
    );

    // The latest checkpoint extends an older one.
    let consistency = ok(run(&config, &["audit", "prove", "--from-size", "4"]));
    std::fs::write(&proof_file, &consistency.stdout).unwrap();
    ok(run(
        &config,
        &["audit", "check-proof", proof_file.to_str().unwrap()],
    ));
    let mut doc: Value = serde_json::from_slice(&consistency.stdout).unwrap();
    doc["consistency_proof"][0] =
        Value::String("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into());
    std::fs::write(&proof_file, doc.to_string()).unwrap();
    assert_eq!(
        run(
            &config,
            &["audit", "check-proof", proof_file.to_str().unwrap()]
        )
        .status
        .code(),
        Some(1)
    );

    let out = dir.path().join("extract.jsonl");
    ok(run(
        &config,
        &[
            "audit",
            "export",
            "--from",
            "2",
            "--to",
            "5",
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    // One flat event per line (the event's own fields and its leaf hash), nothing else:
    // a SIEM ingests the file as it is.
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "four events and no header: {text}");
    assert!(
        lines
            .iter()
            .all(|l| l["action"].is_string() && l["time"].as_str().unwrap().ends_with('Z'))
    );
    // The manifest beside it proves each one, checked here without Moat's code.
    let manifest_path = dir.path().join("extract.manifest.json");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    let keys: Vec<checkpoint::VerifierKey> = manifest["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| checkpoint::VerifierKey::from_text(k.as_str().unwrap()).unwrap())
        .collect();
    let (signed, _) = checkpoint::open(manifest["checkpoint"].as_str().unwrap(), &keys).unwrap();
    for (line, proof) in lines.iter().zip(manifest["proofs"].as_array().unwrap()) {
        let mut event = line.clone();
        let leaf_hash = event.as_object_mut().unwrap().remove("leaf_hash").unwrap();
        let canonical = moat_audit::event::canonical_json(&event);
        let leaf = moat_audit::merkle::leaf_hash(&canonical);
        assert_eq!(hex::encode(leaf), leaf_hash.as_str().unwrap());
        let path: Vec<[u8; 32]> = proof["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| base64_32(h.as_str().unwrap()))
            .collect();
        assert!(moat_audit::merkle::verify_inclusion(
            &leaf,
            line["seq"].as_u64().unwrap(),
            signed.size,
            &path,
            &signed.root
        ));
    }
    let check = |file: &Path| {
        run(
            &config,
            &[
                "audit",
                "check-export",
                file.to_str().unwrap(),
                "--manifest",
                manifest_path.to_str().unwrap(),
            ],
        )
    };
    ok(check(&out));
    // An edited event, a dropped one, an added one: each caught.
    let edited = dir.path().join("edited.jsonl");
    std::fs::write(&edited, text.replacen("admin.change", "admin.chanqe", 1)).unwrap();
    assert_eq!(check(&edited).status.code(), Some(1));
    let dropped = dir.path().join("dropped.jsonl");
    std::fs::write(
        &dropped,
        text.lines().skip(1).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    assert_eq!(check(&dropped).status.code(), Some(1));
    let added = dir.path().join("added.jsonl");
    std::fs::write(
        &added,
        format!(
            "{text}{}\n",
            text.lines()
                .next()
                .unwrap()
                .replace("\"seq\":2", "\"seq\":9")
        ),
    )
    .unwrap();
    assert_eq!(check(&added).status.code(), Some(1));

    // `--out -` streams the events to standard output, the summary to standard error.
    let streamed = ok(run(
        &config,
        &["audit", "export", "--from", "2", "--to", "5", "--out", "-"],
    ));
    assert_eq!(String::from_utf8_lossy(&streamed.stdout), text);
    // `--manifest FILE` puts the manifest where it is asked; the export checks against it.
    let elsewhere = dir.path().join("proofs").join("extract.proofs.json");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    let again = dir.path().join("again.jsonl");
    ok(run(
        &config,
        &[
            "audit",
            "export",
            "--from",
            "2",
            "--to",
            "5",
            "--out",
            again.to_str().unwrap(),
            "--manifest",
            elsewhere.to_str().unwrap(),
        ],
    ));
    assert!(!dir.path().join("again.manifest.json").exists());
    ok(run(
        &config,
        &[
            "audit",
            "check-export",
            again.to_str().unwrap(),
            "--manifest",
            elsewhere.to_str().unwrap(),
        ],
    ));

    let csv = dir.path().join("extract.csv");
    ok(run(
        &config,
        &[
            "audit",
            "export",
            "--format",
            "csv",
            "--out",
            csv.to_str().unwrap(),
        ],
    ));
    let rows = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(rows.lines().count(), 1 + 14, "{rows}");
    assert!(rows.starts_with("seq,time,action,operation,phase,tool,query,"));
    assert!(
        rows.contains(",user.add,requested,"),
        "CSV names what changed: {rows}"
    );
    assert!(dir.path().join("extract.manifest.json").exists());
}

fn base64_32(text: &str) -> [u8; 32] {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    bytes.try_into().expect("a SHA-256 hash")
}

#[test]
fn search_and_tail_find_admin_changes() {
    let dir = tempfile::tempdir().unwrap();
    let config = deployment(dir.path(), 3);
    ok(run(&config, &["user", "suspend", "person1@example.com"]));
    let found = ok(run(
        &config,
        &["audit", "search", "--action", "admin.*", "--json"],
    ));
    let events: Value = serde_json::from_slice(&found.stdout).unwrap();
    let events = events["events"].as_array().unwrap();
    // Three additions and a suspension, each its request and then its outcome.
    assert_eq!(events.len(), 8);
    assert_eq!(events[6]["details"]["phase"], "requested");
    assert_eq!(events[6]["details"]["operation"], "user.suspend");
    let suspension = &events[7];
    assert_eq!(suspension["details"]["phase"], "applied");
    assert_eq!(suspension["details"]["operation"], "user.suspend");
    assert_eq!(suspension["details"]["before"]["status"], "active");
    assert_eq!(suspension["details"]["after"]["status"], "suspended");
    assert_eq!(suspension["actor"]["client"], "cli");

    let none = ok(run(
        &config,
        &["audit", "search", "--since", "2999-01-01", "--json"],
    ));
    let none: Value = serde_json::from_slice(&none.stdout).unwrap();
    assert!(none["events"].as_array().unwrap().is_empty());
    let bad = run(&config, &["audit", "search", "--since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2));

    let tail = ok(run(&config, &["audit", "tail", "-n", "2"]));
    let text = String::from_utf8_lossy(&tail.stdout);
    assert!(
        text.contains("user.suspend") && !text.contains("\n0 "),
        "{text}"
    );

    // Followed with --json, every line is one compact event, the first ones included.
    let mut follow = moat(&config)
        .args(["audit", "tail", "-f", "--json", "-n", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(follow.stdout.take().unwrap());
    let mut seqs = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let event: Value = serde_json::from_str(line.trim_end())
            .unwrap_or_else(|e| panic!("{e}: not one event per line: {line:?}"));
        seqs.push(event["seq"].as_u64().unwrap());
    }
    follow.kill().unwrap();
    follow.wait().unwrap();
    assert_eq!(seqs[1], seqs[0] + 1, "{seqs:?}");
}

#[test]
fn a_server_killed_under_load_keeps_every_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let config = deployment(dir.path(), 0);
    ok(run(
        &config,
        &["user", "add", "root@example.com", "--role", "admin"],
    ));
    let issued = ok(run(
        &config,
        &[
            "token",
            "issue",
            "--user",
            "root@example.com",
            "--scope",
            "admin",
            "--json",
        ],
    ));
    let admin: Value = serde_json::from_slice(&issued.stdout).unwrap();
    let admin = admin["secret"].as_str().unwrap().to_string();

    let mut server = moat(&config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("moat listening on ")
        .expect(&line)
        .to_string();

    let deadline = Instant::now() + Duration::from_secs(30);
    let workers: Vec<_> = (0..8)
        .map(|worker| {
            let (url, admin) = (url.clone(), admin.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    if Instant::now() > deadline {
                        break;
                    }
                    let body = serde_json::json!({"user": "root@example.com", "name": format!("w{worker}-{i}"), "scopes": ["mcp"]});
                    match client.post(format!("{url}/api/v1/tokens")).bearer_auth(&admin).json(&body).send() {
                        Ok(response) if response.status() == 201 => {
                            let issued: Value = response.json().unwrap();
                            acknowledged.push((issued["token"]["id"].as_str().unwrap().to_string(), Instant::now()));
                        }
                        Ok(response) => panic!("unexpected {}", response.status()),
                        Err(_) => break, // the server is gone
                    }
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(2500));
    let killed = Instant::now();
    server.kill().unwrap(); // SIGKILL: no shutdown, no final checkpoint
    server.wait().unwrap();
    let acknowledged: Vec<(String, Instant)> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        acknowledged.len() > 50,
        "the load ran: {} acknowledged",
        acknowledged.len()
    );

    let (code, report) = verify(&config, &[]);
    assert_eq!(code, 0, "{report}");
    let found = ok(run(
        &config,
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
    let events: Value = serde_json::from_slice(&found.stdout).unwrap();
    let recorded: std::collections::HashSet<String> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| {
            e["resources"]["objects"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|o| o.as_str().map(String::from))
        .collect();
    for (id, _) in &acknowledged {
        assert!(
            recorded.contains(id),
            "acknowledged token {id} is missing from the audit log"
        );
    }
    witnesses::check_after_kill(&config, &acknowledged, killed);

    // After the crash the log continues where it stopped and still verifies.
    ok(run(&config, &["user", "add", "after-crash@example.com"]));
    let (code, report) = verify(&config, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["signed_size"], report["events"]);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A stand-in for a witness service in another trust domain: accepts POSTs of
/// checkpoint notes over plain HTTP on loopback and keeps their bodies.
fn witness_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/checkpoints", listener.local_addr().unwrap());
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let store = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut data = Vec::new();
            let mut buffer = [0u8; 4096];
            let body = loop {
                let Ok(n) = stream.read(&mut buffer) else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                data.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&data).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if data.len() >= end + 4 + length {
                        break Some((
                            text[..end].to_string(),
                            String::from_utf8_lossy(&data[end + 4..end + 4 + length]).to_string(),
                        ));
                    }
                }
            };
            if let Some((head, body)) = body {
                assert!(head.starts_with("POST /checkpoints "), "{head}");
                store.lock().unwrap().push(body);
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, received)
}

#[test]
fn the_newest_checkpoint_is_posted_to_http_witnesses() {
    let dir = tempfile::tempdir().unwrap();
    let (url, received) = witness_server();
    let config = dir.path().join("moat.toml");
    std::fs::write(
        &config,
        format!("[org]\nname = \"Example Health\"\n[audit]\nwitness_urls = [\"{url}\"]\n"),
    )
    .unwrap();
    // Witnesses get the newest checkpoint (coalesced, never more than a period behind),
    // and the final one before a command ends.
    let sizes = |notes: &[String]| -> Vec<u64> {
        notes
            .iter()
            .map(|n| checkpoint::parse_unverified(n).unwrap().size)
            .collect()
    };
    ok(run(&config, &["user", "add", "one@example.com"]));
    let after_first = sizes(&received.lock().unwrap());
    assert_eq!(after_first.last(), Some(&2), "{after_first:?}");
    ok(run(&config, &["user", "add", "two@example.com"]));
    let notes = received.lock().unwrap().clone();
    let all = sizes(&notes);
    assert_eq!(all.last(), Some(&4), "{all:?}");
    assert!(all.is_sorted(), "a witness never goes back: {all:?}");
    assert!(
        notes[0].starts_with("moat/example-health\n"),
        "{}",
        notes[0]
    );
    let witness_copy = dir.path().join("from-witness.checkpoint");
    std::fs::write(&witness_copy, notes.last().unwrap()).unwrap();
    let (code, report) = verify(&config, &["--against", witness_copy.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["witnesses"][0]["size"], 4, "{report}");
    assert_eq!(
        report["witnesses_not_read"][0].as_str(),
        Some(url.as_str()),
        "{report}"
    );
}

#[test]
fn serving_records_the_configuration_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let config = deployment(dir.path(), 0);
    let mut server = moat(&config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("moat listening on"), "{line}");
    let _ = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status();
    assert!(server.wait().unwrap().success());

    let found = ok(run(
        &config,
        &["audit", "search", "--action", "admin.change", "--json"],
    ));
    let events: Value = serde_json::from_slice(&found.stdout).unwrap();
    let load = &events["events"][0];
    assert_eq!(load["details"]["operation"], "config.load");
    assert_eq!(load["actor"]["client"], "serve");
    let checked = ok(run(&config, &["policy", "check", "--json"]));
    let checked: Value = serde_json::from_slice(&checked.stdout).unwrap();
    assert_eq!(
        load["details"]["after"]["policy_version"],
        checked["policy_version"]
    );
    assert_eq!(load["policy_version"], checked["policy_version"]);
    assert_eq!(
        load["details"]["after"]["sha256"].as_str().unwrap().len(),
        64
    );
    let (code, report) = verify(&config, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        report["signed_size"], 1,
        "shutdown signed the final checkpoint"
    );
}
