//! `moat scan` through the real binary: a directory and a real git repository.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const TOKEN: &str = "ghp_R7x2Kq9Lm4Np8Qs1Tv6Wy3Za0Bc5De7Fg2Hj";

fn moat(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moat"))
        .env_remove("MOAT_CONFIG")
        .env_remove("MOAT_DATA_DIR")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("moat runs")
}

fn plant(dir: &Path) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("src/settings.py"),
        format!("import os\n\nGITHUB_TOKEN = \"{TOKEN}\"\nowner = \"jane.doe@acme-health.com\"\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("src/clean.rs"),
        "fn main() { println!(\"hello\"); }\n",
    )
    .unwrap();
    std::fs::write(dir.join("logo.png"), [0x89, b'P', b'N', b'G', 0, 0, 1, 2]).unwrap();
    std::fs::create_dir_all(dir.join("node_modules/x")).unwrap();
    std::fs::write(
        dir.join("node_modules/x/index.js"),
        format!("const t = '{TOKEN}';\n"),
    )
    .unwrap();
}

#[test]
fn a_directory_scan_reports_findings_without_their_values() {
    let dir = tempfile::tempdir().unwrap();
    plant(dir.path());
    let output = moat(&["scan", "--path", ".", "--json"], dir.path());
    assert_eq!(
        output.status.code(),
        Some(1),
        "a critical finding fails the scan"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.contains(TOKEN) && !stdout.contains("jane.doe@"),
        "values never printed: {stdout}"
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2, "{report}");
    let token = findings.iter().find(|f| f["rule"] == "github-pat").unwrap();
    for field in [
        "repo",
        "path",
        "line",
        "rule",
        "kind",
        "severity",
        "fingerprint",
    ] {
        assert!(token.get(field).is_some(), "finding lacks `{field}`");
    }
    assert_eq!(token["path"], "src/settings.py");
    assert_eq!(token["line"], 3);
    assert_eq!(token["kind"], "secret");
    assert_eq!(report["skipped"]["binary"], 1);
    assert_eq!(report["files"], 2, "node_modules is not scanned");

    let lenient = moat(&["scan", "--path", ".", "--fail-on", "never"], dir.path());
    assert_eq!(lenient.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&lenient.stdout).contains("github-pat"));

    let sarif = moat(
        &[
            "scan",
            "--path",
            ".",
            "--format",
            "sarif",
            "--fail-on",
            "never",
        ],
        dir.path(),
    );
    let sarif: Value = serde_json::from_slice(&sarif.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        3
    );
}

#[test]
fn a_connected_repository_is_scanned_from_git_objects() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("payments");
    plant(&repo);
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .current_dir(&repo)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .status()
            .expect("git is installed");
        assert!(status.success());
    };
    git(&["init", "-q"]);
    git(&["add", "src"]);
    git(&["commit", "-q", "-m", "planted"]);
    // A change only in the working tree is not what the repository holds.
    std::fs::write(repo.join("src/settings.py"), "import os\n").unwrap();

    let config = dir.path().join("moat.toml");
    std::fs::write(
        &config,
        format!(
            "[org]\nname = \"Example\"\n[[repos]]\nname = \"payments\"\nsource = \"{}\"\n",
            repo.display()
        ),
    )
    .unwrap();
    let output = moat(
        &[
            "--config",
            config.to_str().unwrap(),
            "scan",
            "payments",
            "--json",
            "--fail-on",
            "never",
        ],
        dir.path(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, vec!["github-pat", "email"]);
    assert_eq!(report["findings"][0]["repo"], "payments");

    let unknown = moat(
        &["--config", config.to_str().unwrap(), "scan", "nope"],
        dir.path(),
    );
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn organisation_rules_allowlists_and_disabled_rules_from_moat_toml_apply() {
    let dir = tempfile::tempdir().unwrap();
    plant(dir.path());
    std::fs::create_dir_all(dir.path().join("tests/fixtures")).unwrap();
    std::fs::write(
        dir.path().join("tests/fixtures/token.txt"),
        format!("{TOKEN}\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("src/people.py"), "owner = 'EMP-004211'\n").unwrap();
    let config = dir.path().join("moat.toml");
    std::fs::write(
        &config,
        "[org]\nname = \"Example\"\n[dlp]\ndisabled = [\"email\"]\nallow_paths = [\"tests/fixtures/**\"]\n\n[[dlp.rules]]\nid = \"acme-employee-id\"\nkind = \"pii\"\nseverity = \"medium\"\nkeywords = [\"emp-\"]\npattern = '\\b(EMP-\\d{6})\\b'\n",
    )
    .unwrap();
    let output = moat(
        &[
            "--config",
            config.to_str().unwrap(),
            "scan",
            "--path",
            ".",
            "--json",
            "--fail-on",
            "never",
        ],
        dir.path(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    rules.sort();
    assert_eq!(rules, vec!["acme-employee-id", "github-pat"], "{report}");
    assert_eq!(report["skipped"]["allowlisted"], 1);

    std::fs::write(&config, "[org]\nname = \"Example\"\n[[dlp.rules]]\nid = \"broken\"\nkind = \"pii\"\npattern = \"(EMP-\"\n").unwrap();
    let bad = moat(
        &["--config", config.to_str().unwrap(), "scan", "--path", "."],
        dir.path(),
    );
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("dlp.rules[0].pattern") && stderr.contains(":6:"),
        "{stderr}"
    );
}
