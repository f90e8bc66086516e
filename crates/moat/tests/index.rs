//! `moat repo`, `moat index` and `moat search` through the real binary, against a real
//! git repository: what a developer's AI tool would get, shaped by tier and audited.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

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

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
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

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("ledger");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(
        repo.join("src/ledger.rs"),
        "/// Posts a double-entry transfer between two accounts.\npub fn post_transfer(from: u64, to: u64) {\n    let token = \"ghp_R8vK2mQ7xL4nP9sT3wY6zB1cD5fH0jA2eG4i\";\n    book(from, to, token);\n}\nfn book(a: u64, b: u64, t: &str) {}\n",
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "first"]);
    std::fs::write(
        dir.path().join("moat.toml"),
        "# Our policy, reviewed in git.\n[org]\nname = \"Example\"\n\n[permissions.static]\ngrants = [{ repos = [\"*\"], teams = [\"ledger-team\"] }]\n\n[training]\nrequired = true\ncurrent_version = \"2026.1\"\n",
    )
    .unwrap();
    for (email, role) in [
        ("dev@example.com", "developer"),
        ("auditor@example.com", "auditor"),
        ("outsider@example.com", "developer"),
    ] {
        let team = if email.starts_with("outsider") {
            "other"
        } else {
            "ledger-team"
        };
        let out = moat(
            dir.path(),
            &["user", "add", email, "--role", role, "--team", team],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir
}

#[test]
fn repositories_are_added_indexed_searched_classified_and_removed() {
    let dir = setup();
    let d = dir.path();
    let source = d.join("ledger");
    let out = moat(
        d,
        &[
            "repo",
            "add",
            "ledger",
            source.to_str().unwrap(),
            "--tier",
            "internal",
            "--exclude",
            "vendor/**",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = std::fs::read_to_string(d.join("moat.toml")).unwrap();
    assert!(
        config.starts_with("# Our policy, reviewed in git."),
        "comments kept: {config}"
    );
    assert!(config.contains("[[repos]]") && config.contains("name = \"ledger\""));

    // A duplicate name is bad usage and changes nothing.
    let out = moat(d, &["repo", "add", "ledger", source.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(d.join("moat.toml")).unwrap(),
        config
    );

    let report = json(&moat(d, &["index", "--json"]));
    let repo = &report["repos"][0];
    assert_eq!(repo["repo"], "ledger");
    assert_eq!(repo["parsed"], 1);
    assert_eq!(repo["findings"], 1, "the GitHub token was masked: {repo}");

    let listing = json(&moat(d, &["repo", "list", "--json"]));
    assert_eq!(listing["repos"][0]["symbols"], 2);
    assert_eq!(listing["repos"][0]["indexed_commit"], repo["commit"]);

    // The training gate: refused until an attestation is recorded, saying how to fix it.
    let out = moat(d, &["search", "transfers", "--as", "dev@example.com"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("moat user attest"));
    let explained = moat(
        d,
        &[
            "access",
            "explain",
            "--user",
            "dev@example.com",
            "--repo",
            "ledger",
            "--json",
        ],
    );
    assert_eq!(explained.status.code(), Some(1), "deny exits 1");
    let view: Value = serde_json::from_slice(&explained.stdout).unwrap();
    assert_eq!(view["decision"], "deny");
    assert_eq!(view["rules"][0], "training-current");
    assert!(
        moat(d, &["user", "attest", "dev@example.com"])
            .status
            .success()
    );
    let view = json(&moat(
        d,
        &[
            "access",
            "explain",
            "--user",
            "dev@example.com",
            "--repo",
            "ledger",
            "--json",
        ],
    ));
    assert_eq!(view["decision"], "allow");
    assert_eq!(view["tier"], "internal");
    assert_eq!(view["disclosure"], "source");
    assert_eq!(view["rules"][0], "repo-readers");
    // Someone outside the granted team is denied, naming the missing grant.
    moat(d, &["user", "attest", "outsider@example.com"]);
    let out = moat(
        d,
        &[
            "access",
            "explain",
            "--user",
            "outsider@example.com",
            "--repo",
            "ledger",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("[permissions.static]"));
    let out = moat(d, &["search", "transfers", "--as", "outsider@example.com"]);
    assert_eq!(out.status.code(), Some(1));
    let matrix = moat(d, &["access", "matrix", "--format", "csv"]);
    let csv = String::from_utf8_lossy(&matrix.stdout);
    assert!(csv.starts_with("email,repo,decision,tier,disclosure,read_source,rules,reason"));
    assert!(
        csv.contains("dev@example.com,ledger,allow,internal,source,true,repo-readers"),
        "{csv}"
    );
    assert!(csv.contains("outsider@example.com,ledger,deny"), "{csv}");
    // Nothing is mirrored from a host here, so no login is left unlinked.
    let unmapped = json(&moat(d, &["access", "unmapped", "--json"]));
    assert_eq!(unmapped, serde_json::json!({"unmapped": []}));

    // What the developer's AI tool would get: the function, its snippet, redacted.
    let results = json(&moat(
        d,
        &[
            "search",
            "how are transfers posted?",
            "--as",
            "dev@example.com",
            "--json",
        ],
    ));
    let first = &results["results"][0];
    assert_eq!(first["name"], "post_transfer");
    assert_eq!(first["repo"], "ledger");
    assert_eq!(first["tier"], "internal");
    assert_eq!(first["commit"], repo["commit"]);
    let snippet = first["snippet"].as_str().unwrap();
    assert!(snippet.contains("fn post_transfer"));
    assert!(!snippet.contains("ghp_R8vK2"), "secret redacted: {snippet}");
    assert!(snippet.contains("[REDACTED:"));
    let seq = results["audit_seq"].as_u64().unwrap();
    let events = json(&moat(d, &["audit", "tail", "-n", "1", "--json"]));
    let event = &events["events"][0];
    assert_eq!(event["seq"].as_u64(), Some(seq), "{event}");
    assert_eq!(event["action"], "context.search");
    assert_eq!(results["query"]["parts"][0]["kind"], "prose", "{results}");

    // A pasted traceback: the answer says how it was read.
    let out = moat(
        d,
        &[
            "search",
            "Posting fails:\nthread 'main' panicked at src/lib.rs:3:5:\nrustc 1.78.0 (9b00956e5 2024-04-29)\ncargo 1.78.0 (54d8815d0 2024-03-26)\n",
            "--as",
            "dev@example.com",
        ],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("query read as: prose 1, stack_trace 2; not used: environment 3-4; names files src/lib.rs"),
        "{said}"
    );

    // Confidential: signatures, no snippet.
    let out = moat(d, &["repo", "classify", "ledger", "--tier", "confidential"]);
    assert!(out.status.success());
    // On the record as the same admin.change pair as every administrative change.
    let changes = json(&moat(
        d,
        &["audit", "search", "--action", "admin.change", "--json"],
    ));
    let classified: Vec<&serde_json::Value> = changes["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["details"]["operation"] == "repo.classify")
        .collect();
    let phases: Vec<&str> = classified
        .iter()
        .map(|e| e["details"]["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["requested", "applied"], "{changes}");
    assert_eq!(classified[0]["resources"]["objects"][0], "repo/ledger");
    assert!(
        classified[1]["details"]["after"]["policy_version"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{}",
        classified[1]
    );
    // A change that would make the file invalid leaves it as it was.
    let config_before = std::fs::read_to_string(d.join("moat.toml")).unwrap();
    let refused = moat(d, &["repo", "add", "ledger", "/elsewhere"]);
    assert!(!refused.status.success());
    assert_eq!(
        std::fs::read_to_string(d.join("moat.toml")).unwrap(),
        config_before
    );
    let results = json(&moat(
        d,
        &[
            "search",
            "post_transfer",
            "--as",
            "dev@example.com",
            "--json",
        ],
    ));
    let first = &results["results"][0];
    assert_eq!(first["tier"], "confidential");
    assert!(first.get("snippet").is_none(), "{first}");
    assert!(
        first["signature"]
            .as_str()
            .unwrap()
            .contains("post_transfer")
    );
    // Restricted: structure only.
    moat(d, &["repo", "classify", "ledger", "--tier", "restricted"]);
    let results = json(&moat(
        d,
        &[
            "search",
            "post_transfer",
            "--as",
            "dev@example.com",
            "--json",
        ],
    ));
    assert!(results["results"][0]["signature"].is_null());

    // An auditor may not query code: exit 1, and the denial is on the record.
    moat(d, &["user", "attest", "auditor@example.com"]);
    let out = moat(d, &["search", "transfer", "--as", "auditor@example.com"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("developer role"));
    let events = json(&moat(d, &["audit", "tail", "-n", "1", "--json"]));
    assert_eq!(events["events"][0]["action"], "access.denied");

    let out = moat(d, &["repo", "remove", "ledger"]);
    assert!(out.status.success());
    let listing = json(&moat(d, &["repo", "list", "--json"]));
    assert_eq!(listing["repos"].as_array().unwrap().len(), 0);
    assert_eq!(
        moat(d, &["index"]).status.code(),
        Some(2),
        "nothing to index"
    );
}

#[test]
fn organisation_policies_are_checked_against_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("moat.toml"),
        "[org]\nname = \"Example\"\n\n[permissions]\npolicies_file = \"org.cedar\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("org.cedar"),
        "@id(\"no-restricted\")\nforbid(principal, action, resource is Moat::Repository) when { resource.tier == \"restricted\" };\n",
    )
    .unwrap();
    let out = moat(d, &["policy", "check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::write(
        d.join("org.cedar"),
        "forbid(principal, action, resource) when { resource.colour == \"red\" };\n",
    )
    .unwrap();
    let out = moat(d, &["policy", "check"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an invalid policy is bad configuration"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("access policies"), "{stderr}");
    assert!(stderr.contains("colour"), "names the problem: {stderr}");
}
