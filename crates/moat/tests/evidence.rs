//! The evidence pack through the real binary, attacked as an outsider and an insider
//! would: a period with a leaver whose revoked token is refused shows the time to
//! revoke; a developer cannot export; every file changed, added or removed after
//! signing is named by `moat evidence verify`; a pack re-signed with the audit key
//! after an event was rewritten still fails, because the extract no longer rebuilds the
//! signed log; another key is not trusted.

mod nodes;

use nodes::{json, moat, ok, serve};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

struct Deployment {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Deployment {
    fn new() -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("moat.toml");
        let key = dir.path().join("vendor.key");
        std::fs::write(&key, "sk-test").unwrap();
        std::fs::write(
            &config,
            format!(
                "[org]\nname = \"Example Health\"\n\n\
                 [[repos]]\nname = \"payments\"\nsource = \"/srv/git/payments\"\ntier = \"internal\"\n\n\
                 [permissions.static]\ngrants = [{{ repos = [\"payments\"], users = [\"dev@example.com\"] }}]\n\n\
                 [[vendors]]\nname = \"anthropic\"\nkind = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\n\
                 key_file = \"{}\"\nregion = \"us\"\nattestations = {{ soc2_type2 = true, dpa = true }}\n\n\
                 [[models]]\nalias = \"sonnet\"\nvendor = \"anthropic\"\nversion = \"claude-sonnet-4-5-20250929\"\n\n\
                 [audit]\nwitness_files = [\"{}\"]\n",
                key.display(),
                dir.path().join("witness.note").display()
            ),
        )
        .unwrap();
        let deployment = Deployment { dir, config };
        for (email, roles) in [
            ("dev@example.com", "developer"),
            ("auditor@example.com", "auditor"),
            ("admin@example.com", "admin"),
        ] {
            ok(deployment.run(None, &["user", "add", email, "--role", roles]));
        }
        deployment
    }

    fn run(&self, operator: Option<&str>, args: &[&str]) -> std::process::Output {
        let mut command = moat(&self.config, "");
        if let Some(operator) = operator {
            command.args(["--operator", operator]);
        }
        command.args(args).output().unwrap()
    }

    /// `moat evidence export` of today as `operator`, to the deployment's pack file.
    fn export(&self, operator: &str, more: &[&str]) -> std::process::Output {
        let (day, out) = (today(), self.pack().display().to_string());
        let mut args = vec![
            "evidence", "export", "--from", &day, "--to", &day, "--out", &out,
        ];
        args.extend_from_slice(more);
        self.run(Some(operator), &args)
    }

    fn pack(&self) -> PathBuf {
        self.dir.path().join("pack.zip")
    }

    fn verify(&self, pack: &Path, key: Option<&Path>) -> (bool, Value) {
        let mut args = vec![
            "evidence".to_string(),
            "verify".to_string(),
            pack.display().to_string(),
            "--json".to_string(),
        ];
        if let Some(key) = key {
            args.extend(["--key".to_string(), key.display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.run(None, &args);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "verify printed no JSON: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.success(), report)
    }

    fn signing_key(&self) -> String {
        std::fs::read_to_string(find(self.dir.path(), "signing.key").unwrap()).unwrap()
    }
}

fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
        if path.is_dir()
            && let Some(found) = find(&path, name)
        {
            return Some(found);
        }
    }
    None
}

fn read_zip(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut files = BTreeMap::new();
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        files.insert(entry.name().unwrap().to_string(), bytes);
    }
    files
}

fn write_zip(path: &Path, files: &BTreeMap<String, Vec<u8>>) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in files {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn today() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    )
}

fn csv_rows(text: &[u8]) -> Vec<BTreeMap<String, String>> {
    let text = String::from_utf8_lossy(text);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|line| {
            header
                .iter()
                .zip(line.split(','))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn a_pack_shows_the_leaver_and_names_every_file_tampered_with() {
    let d = Deployment::new();
    // Who may reach what, recorded before anyone leaves: one record a day, by an
    // administrator (a developer is refused, and nothing is recorded).
    let refused = d.run(Some("dev@example.com"), &["access", "snapshot", "--json"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("dev@example.com"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let taken = json(d.run(None, &["access", "snapshot", "--json"]));
    assert_eq!(
        (&taken["new"], &taken["day"]),
        (&Value::Bool(true), &Value::String(today()))
    );
    let again = json(d.run(None, &["access", "snapshot", "--json"]));
    assert_eq!(again["new"], false, "{again}");
    assert_eq!(again["sha256"], taken["sha256"]);
    let secret = json(d.run(
        None,
        &[
            "token",
            "issue",
            "--user",
            "dev@example.com",
            "--scope",
            "mcp",
            "--json",
        ],
    ))["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let node = serve(&d.config, "");
    let client = reqwest::blocking::Client::new();
    let call = || {
        client
            .post(format!("{}/mcp", node.url))
            .bearer_auth(&secret)
            .header("accept", "application/json, text/event-stream")
            .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_ne!(call(), 401, "the developer's token works before they leave");
    ok(d.run(None, &["user", "deprovision", "dev@example.com"]));
    assert_eq!(call(), 401, "and is refused after");
    // A graceful stop records the refusals counted this minute.
    let pid = node.child.id().to_string();
    ok(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .output()
        .unwrap());
    let mut node = node;
    node.child.wait().unwrap();

    // A developer may not export evidence; the refusal is on the record.
    let refused = d.export("dev@example.com", &[]);
    assert!(!refused.status.success());
    assert!(
        !d.pack().exists(),
        "nothing is written for a refused export"
    );

    let exported = json(d.export("auditor@example.com", &["--json"]));
    assert_eq!(exported["leavers"], 1, "{exported}");
    assert_eq!(exported["joiners"], 3, "{exported}");
    let again = d.export("auditor@example.com", &[]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing pack is never overwritten"
    );

    let (fine, report) = d.verify(&d.pack(), None);
    assert!(fine, "{report}");
    assert_eq!(report["events"], exported["events"]);
    assert!(
        report["witnesses"].as_array().unwrap().len() == 1,
        "the witness's checkpoint is tied to the pack's: {report}"
    );

    let files = read_zip(&d.pack());
    let leavers = csv_rows(&files["people/leavers.csv"]);
    assert_eq!(leavers.len(), 1, "{leavers:?}");
    let leaver = &leavers[0];
    assert_eq!(leaver["email"], "dev@example.com");
    assert_eq!(leaver["status"], "deprovisioned");
    assert_eq!(leaver["refusal_reason"], "revoked_token");
    let seconds: f64 = leaver["seconds_to_first_refusal"].parse().unwrap();
    assert!((0.0..60.0).contains(&seconds), "time to revoke {seconds}");
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let listed: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for control in serde_json::from_slice::<Value>(&files["controls/controls.json"])
        .unwrap()
        .as_array()
        .unwrap()
    {
        for file in control["files"].as_array().unwrap() {
            let file = file.as_str().unwrap();
            assert!(
                listed.contains(&file) || files.contains_key(file),
                "{} points to {file}, which is not in the pack",
                control["id"]
            );
        }
    }
    let refusals = String::from_utf8_lossy(&files["statistics/refusals.csv"]).to_string();
    assert!(
        refusals.contains("auth.refused,authentication,revoked_token,1"),
        "refusals by reason: {refusals}"
    );
    let changes = String::from_utf8_lossy(&files["access/changes.jsonl"]).to_string();
    assert!(changes.contains("user.deprovision"), "{changes}");
    // The registers as the file the server loaded had them, from its `config.load`.
    for (file, key, field, name) in [
        ("registers/vendors.json", "vendors", "name", "anthropic"),
        ("registers/models.json", "models", "alias", "sonnet"),
    ] {
        let register: Value = serde_json::from_slice(&files[file]).unwrap();
        let loaded = register["in_force_during_period"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["loaded_from"] == d.config.display().to_string())
            .unwrap_or_else(|| panic!("no register from the loaded file in {register}"));
        assert_eq!(loaded[key][0][field], name, "{register}");
        assert!(loaded["seq"].is_u64(), "{register}");
    }
    assert!(String::from_utf8_lossy(&files["policy/policy.md"]).contains("Example Health"));
    assert!(
        String::from_utf8_lossy(&files["access/matrix-at-export.csv"])
            .lines()
            .any(|l| l.starts_with("admin@example.com,payments,")),
        "the matrix lists every person and repository"
    );

    // The matrix at the period's start is decided from the state recorded before the
    // developer left: they could reach the repository then, not at export.
    let states: Value = serde_json::from_slice(&files["access/states.json"]).unwrap();
    assert_eq!(states[0]["moment"], "start", "{states}");
    assert_eq!(states[0]["state"]["sha256"], taken["sha256"], "{states}");
    let between = files["access/changes-between-state-and-start.jsonl"]
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(
        Some(between as u64),
        states[0]["changes_between"].as_u64(),
        "{states}"
    );
    let row = |file: &str| {
        String::from_utf8_lossy(&files[file])
            .lines()
            .find(|l| l.starts_with("dev@example.com,payments,"))
            .unwrap_or_else(|| panic!("no developer row in {file}"))
            .to_string()
    };
    let (at_start, at_export) = (
        row("access/matrix-at-start.csv"),
        row("access/matrix-at-export.csv"),
    );
    assert!(
        at_start.starts_with("dev@example.com,payments,allow,"),
        "{at_start}"
    );
    assert!(
        at_export.starts_with("dev@example.com,payments,deny,"),
        "{at_export}"
    );

    // Every file changed after signing is named.
    let tampered = d.dir.path().join("tampered.zip");
    for name in files.keys() {
        let mut changed = files.clone();
        changed.get_mut(name).unwrap().extend_from_slice(b" ");
        write_zip(&tampered, &changed);
        let (fine, report) = d.verify(&tampered, None);
        assert!(!fine, "a change to {name} went unnoticed");
        let named = if name == "manifest.sig" {
            "manifest.json"
        } else {
            name
        };
        assert_eq!(report["file"], named, "{report}");
    }
    // A file added or removed after signing is named too.
    let mut added = files.clone();
    added.insert("people/extra.csv".into(), b"email\n".to_vec());
    write_zip(&tampered, &added);
    assert_eq!(d.verify(&tampered, None).1["file"], "people/extra.csv");
    let mut removed = files.clone();
    removed.remove("people/leavers.csv");
    write_zip(&tampered, &removed);
    assert_eq!(d.verify(&tampered, None).1["file"], "people/leavers.csv");

    // An insider with the audit key rewrites an event and re-signs the manifest: the
    // hashes match, but the extract no longer rebuilds the signed log.
    let key = moat_audit::checkpoint::SigningKey::from_text(&d.signing_key()).unwrap();
    let mut forged = files.clone();
    let events = String::from_utf8(forged["audit/events.jsonl"].clone()).unwrap();
    let rewritten = events.replacen("dev@example.com", "dev@example.org", 1);
    assert_ne!(events, rewritten);
    forged.insert("audit/events.jsonl".into(), rewritten.clone().into_bytes());
    let mut manifest = manifest.clone();
    for file in manifest["files"].as_array_mut().unwrap() {
        if file["path"] == "audit/events.jsonl" {
            use sha2::Digest as _;
            file["sha256"] = hex::encode(sha2::Sha256::digest(rewritten.as_bytes())).into();
            file["bytes"] = rewritten.len().into();
        }
    }
    let manifest = serde_json::to_vec_pretty(&manifest).unwrap();
    let body = {
        use sha2::Digest as _;
        format!(
            "moat evidence manifest\n{}\n",
            hex::encode(sha2::Sha256::digest(&manifest))
        )
    };
    forged.insert("manifest.json".into(), manifest);
    forged.insert(
        "manifest.sig".into(),
        moat_audit::checkpoint::sign_note(&body, &key).into_bytes(),
    );
    write_zip(&tampered, &forged);
    let (fine, report) = d.verify(&tampered, None);
    assert!(!fine);
    assert_eq!(report["file"], "audit/events.jsonl", "{report}");
    assert!(
        report["reason"].as_str().unwrap().contains("signed log"),
        "{report}"
    );

    // An auditor with the public key alone, and no deployment, checks the pack; with
    // another key (here beside some other deployment's configuration) it is not trusted.
    let auditor = tempfile::tempdir().unwrap();
    let signing = moat_audit::checkpoint::SigningKey::from_text(&d.signing_key()).unwrap();
    let (fine, report) = verify_with_key(&d.pack(), auditor.path(), &signing, None);
    assert!(fine, "{report}");
    let other = d.dir.path().join("other.key");
    ok(d.run(
        None,
        &["audit", "new-key", "--out", &other.display().to_string()],
    ));
    let other =
        moat_audit::checkpoint::SigningKey::from_text(&std::fs::read_to_string(&other).unwrap())
            .unwrap();
    let laptop = auditor.path().join("moat.toml");
    std::fs::write(&laptop, "[org]\nname = \"Auditor's laptop\"\n").unwrap();
    let (fine, report) = verify_with_key(&d.pack(), auditor.path(), &other, Some(&laptop));
    assert!(!fine);
    assert_eq!(report["file"], "manifest.json", "{report}");
}

/// `moat evidence verify PACK --key PUB --json` in `dir`, with `signer`'s public key
/// written there, and a configuration only when given.
fn verify_with_key(
    pack: &Path,
    dir: &Path,
    signer: &moat_audit::checkpoint::SigningKey,
    config: Option<&Path>,
) -> (bool, Value) {
    let public = dir.join(format!("{}.pub", signer.name()));
    std::fs::write(&public, format!("{}\n", signer.verifier().to_text())).unwrap();
    let mut command = match config {
        Some(config) => moat(config, ""),
        None => std::process::Command::new(env!("CARGO_BIN_EXE_moat")),
    };
    let out = command
        .current_dir(dir)
        .env_remove("MOAT_DATA_DIR")
        .args(["evidence", "verify"])
        .arg(pack)
        .arg("--key")
        .arg(&public)
        .arg("--json")
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "no JSON: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

/// The admin API hands out the same signed pack to a person `ExportEvidence` allows
/// (a start date and whole days); a developer, an empty or overlong period, and a
/// date that is not one are refused, and the export is on the record.
#[test]
fn the_admin_api_hands_out_a_pack_that_verifies() {
    let d = Deployment::new();
    let token = |email: &str, scope: &str| {
        json(d.run(
            None,
            &[
                "token", "issue", "--user", email, "--scope", scope, "--json",
            ],
        ))["secret"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let admin = token("admin@example.com", "admin");
    let node = serve(&d.config, "");
    let client = reqwest::blocking::Client::new();
    let ask = |secret: &str, body: Value| {
        client
            .post(format!("{}/api/v1/evidence", node.url))
            .bearer_auth(secret)
            .json(&body)
            .send()
            .unwrap()
    };
    let answer = ask(&admin, serde_json::json!({"from": today(), "days": 1.0}));
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(answer.headers()["content-type"], "application/zip");
    assert!(
        answer.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("moat-evidence-{}", today()))
    );
    std::fs::write(d.pack(), answer.bytes().unwrap()).unwrap();
    let (fine, report) = d.verify(&d.pack(), None);
    assert!(fine, "{report}");

    for (body, status) in [
        (serde_json::json!({"from": today(), "days": 0}), 422),
        (serde_json::json!({"from": today(), "days": 3661}), 422),
        (serde_json::json!({"from": today(), "days": 1.5}), 422),
        (serde_json::json!({"from": "yesterday", "days": 1}), 422),
        (serde_json::json!({"from": "9999-12-31", "days": 3660}), 200),
    ] {
        let answer = ask(&admin, body.clone());
        assert_eq!(
            answer.status().as_u16(),
            status,
            "{body}: {:?}",
            answer.text()
        );
    }
    // Not for a developer: their token cannot carry the admin scope, and the admin
    // scope alone is not enough without ExportEvidence.
    let developer = token("dev@example.com", "mcp");
    let refused = ask(&developer, serde_json::json!({"from": today(), "days": 1}));
    assert_eq!(refused.status().as_u16(), 403);

    drop(node);
    let exports = json(d.run(
        None,
        &["audit", "search", "--action", "evidence.export", "--json"],
    ));
    let events = exports["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["actor"]["email"] == "admin@example.com"
                && e["details"]["phase"] == "requested"),
        "{exports}"
    );
}
