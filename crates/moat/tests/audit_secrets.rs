//! The audit log never stores a secret: keys, card numbers and SSNs typed into a search
//! (`moat search`) are redacted before the event is built, so neither `moat.db` (and its
//! write-ahead log), nor an export, nor a witness file holds them.

use std::path::Path;
use std::process::{Command, Output};

const KEY: &str = "AKIAQ3EGRBJXZ7KLMN4P";
const CARD: &str = "4111111111111111";
const SSN: &str = "536-22-8173";

fn moat(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moat"))
        .env_remove("MOAT_CONFIG")
        .env_remove("MOAT_DATA_DIR")
        .env("MOAT_LOG", "warn")
        .arg("--config")
        .arg(dir.join("moat.toml"))
        .args(args)
        .output()
        .expect("moat runs")
}

fn ok(output: Output) -> Output {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// Every file under `dir` (the data directory, exports, witnesses) as bytes.
fn every_file(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            // The repository itself holds no planted value; the index is checked too.
            every_file(&path, out);
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
}

#[test]
fn secrets_typed_into_a_search_are_in_no_file_moat_writes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = d.join("ledger");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(
        repo.join("src/ledger.rs"),
        "/// Posts a transfer.\npub fn post_transfer(from: u64, to: u64) {}\n",
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "first"]);
    let witness = d.join("worm").join("moat.checkpoints");
    std::fs::create_dir_all(witness.parent().unwrap()).unwrap();
    std::fs::write(
        d.join("moat.toml"),
        format!(
            "[org]\nname = \"Example\"\n\n[audit]\nwitness_files = [\"{}\"]\n\n[permissions.static]\ngrants = [{{ repos = [\"*\"], teams = [\"ledger-team\"] }}]\n\n[[repos]]\nname = \"ledger\"\nsource = \"{}\"\ntier = \"internal\"\n",
            witness.display(),
            repo.display()
        ),
    )
    .unwrap();
    ok(moat(
        d,
        &[
            "user",
            "add",
            "dev@example.com",
            "--role",
            "developer",
            "--team",
            "ledger-team",
        ],
    ));
    ok(moat(d, &["index"]));
    for query in [
        format!("where is {KEY} used"),
        format!("card {CARD} and patient ssn: {SSN}"),
        format!("transfer card_number={}", "4111 1111 1111 1111"),
    ] {
        ok(moat(d, &["search", &query, "--as", "dev@example.com"]));
    }
    // A search that is refused is recorded too, with its query.
    let refused = moat(
        d,
        &[
            "search",
            &format!("x {KEY}"),
            "--as",
            "dev@example.com",
            "--repo",
            "nope",
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    let export = d.join("export.jsonl");
    ok(moat(
        d,
        &[
            "audit",
            "export",
            "--format",
            "jsonl",
            "--out",
            export.to_str().unwrap(),
        ],
    ));
    let csv = d.join("export.csv");
    ok(moat(
        d,
        &[
            "audit",
            "export",
            "--format",
            "csv",
            "--out",
            csv.to_str().unwrap(),
        ],
    ));
    ok(moat(d, &["audit", "checkpoint"]));
    let exported = std::fs::read_to_string(&export).unwrap();
    assert!(
        exported.contains("REDACTED:aws-access-key-id"),
        "the searches are recorded, with the key's placeholder: {exported}"
    );
    assert!(exported.contains("REDACTED:payment-card") && exported.contains("REDACTED:us-ssn"));
    let mut files = Vec::new();
    every_file(d, &mut files);
    assert!(files.iter().any(|(p, _)| p.ends_with("moat.db")));
    assert!(files.iter().any(|(p, _)| p.ends_with("moat.checkpoints")));
    for (path, bytes) in &files {
        if path.contains("/ledger/") {
            continue;
        }
        for secret in [KEY, CARD, SSN, "4111 1111 1111 1111", "536228173"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} is stored in {path}"
            );
        }
    }
}
