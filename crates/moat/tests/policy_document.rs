//! `moat policy render|diff` through the real binary: the written policy follows the
//! configuration published for the nodes, version by version, and a changed tier rule
//! changes its sentence in the rendering and in the diff.

mod nodes;

use nodes::{json, moat, ok};
use serde_json::Value;

const CONFIG: &str = r#"[org]
name = "Example Health"

[[repos]]
name = "claims"
source = "/srv/git/claims"
tier = "internal"

[permissions.static]
grants = [{ repos = ["*"], teams = ["engineering"] }]

[[vendors]]
name = "anthropic"
kind = "anthropic"
base_url = "https://api.anthropic.com"
key_env = "MOAT_TEST_VENDOR_KEY"
region = "us"
attestations = { soc2_type2 = true, dpa = true }

[[models]]
alias = "sonnet"
vendor = "anthropic"
version = "claude-sonnet-4-5-20250929"
"#;

const BEFORE: &str = "A vendor must hold `soc2_type2` and `dpa` to receive internal code.";
const AFTER: &str = "A vendor must hold `soc2_type2`, `dpa` and `baa` to receive internal code.";

#[test]
fn the_policy_is_rendered_per_published_version_and_its_changes_are_said_in_its_words() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("moat.toml");
    let run = |args: &[&str]| {
        moat(&config, "")
            .env("MOAT_TEST_VENDOR_KEY", "not-a-real-key")
            .args(args)
            .output()
            .unwrap()
    };
    std::fs::write(&config, CONFIG).unwrap();
    ok(run(&["config", "publish"]));
    std::fs::write(
        &config,
        format!("{CONFIG}\n[tiers.internal]\nrequire = [\"soc2_type2\", \"dpa\", \"baa\"]\n"),
    )
    .unwrap();
    ok(run(&["config", "publish"]));

    let first = String::from_utf8(ok(run(&["policy", "render", "--version", "1"])).stdout).unwrap();
    assert!(
        first.starts_with("# Example Health: AI coding-tool policy"),
        "{first}"
    );
    assert!(
        first.contains(&format!("- {BEFORE} [`tiers.internal.require`]")),
        "{first}"
    );
    assert!(first.contains("published configuration version 1"));
    let second =
        String::from_utf8(ok(run(&["policy", "render", "--version", "2"])).stdout).unwrap();
    assert!(
        second.contains(&format!("- {AFTER} [`tiers.internal.require`]")),
        "{second}"
    );
    // What is in force here (the file) is version 2's text.
    let current = String::from_utf8(ok(run(&["policy", "render"])).stdout).unwrap();
    assert!(current.contains(AFTER));

    let html = dir.path().join("policy.html");
    let wrote = json(run(&[
        "policy",
        "render",
        "--format",
        "html",
        "--out",
        html.to_str().unwrap(),
        "--json",
    ]));
    assert!(
        wrote["policy_version"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(
        page.contains("<code>tiers.internal.require</code>"),
        "{page}"
    );

    let pdf = dir.path().join("policy.pdf");
    ok(run(&[
        "policy",
        "render",
        "--format",
        "pdf",
        "--out",
        pdf.to_str().unwrap(),
    ]));
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));

    // The diff names the tier rule and what follows from it: the vendor, which holds no
    // BAA, no longer receives internal code, so neither that repository's code.
    let diff = json(run(&["policy", "diff", "1", "2", "--json"]));
    let changes = diff["changes"].as_array().unwrap();
    let keys: Vec<&str> = changes.iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "tiers.internal.require",
            "tiers.internal",
            "repos[name=claims].tier"
        ],
        "{diff}"
    );
    assert_eq!(changes[0]["change"], "changed");
    assert_eq!(changes[0]["before"], BEFORE);
    assert_eq!(changes[0]["after"], AFTER);
    assert_eq!(diff["from"]["config_version"], 1);
    assert_eq!(diff["to"]["config_version"], 2);
    let said = String::from_utf8(ok(run(&["policy", "diff", "1", "current"])).stdout).unwrap();
    assert!(
        said.contains(&format!("was: {BEFORE}")) && said.contains(&format!("now: {AFTER}")),
        "{said}"
    );
    let same: Value = json(run(&["policy", "diff", "2", "current", "--json"]));
    assert_eq!(same["changes"], serde_json::json!([]));

    // Bad input: a clear error, exit 2.
    for (args, says) in [
        (
            &["policy", "render", "--version", "9"][..],
            "no published configuration version 9",
        ),
        (
            &["policy", "render", "--format", "docx"][..],
            "`docx` is not a policy format",
        ),
        (
            &["policy", "diff", "1", "latest"][..],
            "`latest` is not a configuration version",
        ),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// `moat vendor list` as of today: a BAA whose last day is in 10 days is flagged in
/// the 30-day notice, a SOC 2 attestation whose last day was yesterday is expired, and
/// the written policy stops counting it.
#[test]
fn the_vendor_register_flags_what_expires_and_the_policy_follows() {
    let today = moat_domain::UnixTime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    );
    let in_ten_days = today.plus_seconds(10 * 86_400).to_date();
    let yesterday = today.plus_seconds(-86_400).to_date();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("moat.toml");
    std::fs::write(
        &config,
        CONFIG.replace(
            "attestations = { soc2_type2 = true, dpa = true }",
            &format!(
                "attestations = {{ soc2_type2 = true, dpa = true, baa = true, breach_notice_hours = 72, \
                 expires = {{ baa = \"{in_ten_days}\", soc2_type2 = \"{yesterday}\" }}, signed = {{ baa = \"2025-02-01\" }} }}"
            ),
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        moat(&config, "")
            .env("MOAT_TEST_VENDOR_KEY", "not-a-real-key")
            .args(args)
            .output()
            .unwrap()
    };
    let listed = json(run(&["vendor", "list", "--json"]));
    let vendor = &listed["vendors"][0];
    assert_eq!(vendor["name"], "anthropic");
    assert_eq!(vendor["models"], serde_json::json!(["sonnet"]));
    assert_eq!(vendor["breach_notice_hours"], 72);
    let state = |name: &str| {
        vendor["attestations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(state("baa")["state"]["state"], "expiring");
    assert_eq!(state("baa")["state"]["notice"], 30);
    assert_eq!(state("baa")["signed"], "2025-02-01");
    assert_eq!(state("soc2_type2")["state"]["state"], "expired");
    assert_eq!(state("dpa")["state"]["state"], "no_expiry");
    let text = String::from_utf8(ok(run(&["vendor", "list"])).stdout).unwrap();
    assert!(
        text.contains(&format!("EXPIRED on {yesterday}")) && text.contains("EXPIRING"),
        "{text}"
    );
    // Internal code needs soc2_type2, which lapsed: the policy says nobody receives it.
    let policy = String::from_utf8(ok(run(&["policy", "render"])).stdout).unwrap();
    assert!(
        policy.contains("Of the configured vendors, none may receive internal code.")
            && policy.contains(&format!(
                "`soc2_type2` (expired on {yesterday}, so it no longer counts)"
            )),
        "{policy}"
    );
}
