//! `Administer`, `ViewAudit` and `ExportEvidence` are decided by Cedar on the command
//! line: an organisation policy on them holds there, for a named operator and for the
//! local one, and a refusal is on the record.

use std::path::Path;
use std::process::{Command, Output};

fn moat(dir: &Path, operator: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_moat"));
    command
        .env_remove("MOAT_CONFIG")
        .env_remove("MOAT_DATA_DIR")
        .env_remove("MOAT_OPERATOR")
        .env("MOAT_LOG", "warn")
        .arg("--config")
        .arg(dir.join("moat.toml"));
    if let Some(operator) = operator {
        command.args(["--operator", operator]);
    }
    command.args(args).output().expect("moat runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn organisation_policies_on_administer_view_audit_and_export_hold_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("moat.toml"),
        "[org]\nname = \"Example\"\n\n[permissions]\npolicies_file = \"policies.cedar\"\n",
    )
    .unwrap();
    // Only the compliance team exports evidence; nobody unnamed administers.
    std::fs::write(
        d.join("policies.cedar"),
        r#"@id("exports-by-compliance")
forbid(principal, action == Moat::Action::"ExportEvidence", resource)
unless { principal in Moat::Team::"compliance" };
@id("name-yourself")
forbid(principal, action == Moat::Action::"Administer", resource)
when { principal.email like "local:*" };
"#,
    )
    .unwrap();
    // Unnamed, the local operator may not administer: refused, exit 1, on the record.
    let refused = moat(
        d,
        None,
        &["user", "add", "admin@example.com", "--role", "admin"],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("name-yourself"),
        "{}",
        stderr(&refused)
    );
    // Named as nobody Moat knows: refused too.
    let refused = moat(
        d,
        Some("ghost@example.com"),
        &["user", "add", "admin@example.com", "--role", "admin"],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    // The log can be read by the local operator (no policy forbids it).
    let log = moat(
        d,
        None,
        &["audit", "search", "--action", "access.denied", "--json"],
    );
    assert!(log.status.success(), "{}", stderr(&log));
    let text = String::from_utf8_lossy(&log.stdout);
    assert!(
        text.contains("name-yourself"),
        "the refusal is recorded: {text}"
    );

    // Break glass for the first admin: a policy file without the second rule.
    std::fs::write(
        d.join("policies.cedar"),
        r#"@id("exports-by-compliance")
forbid(principal, action == Moat::Action::"ExportEvidence", resource)
unless { principal in Moat::Team::"compliance" };
"#,
    )
    .unwrap();
    for (email, role, team) in [
        ("admin@example.com", "admin", "platform"),
        ("auditor@example.com", "auditor", "compliance"),
        ("dev@example.com", "developer", "platform"),
    ] {
        let added = moat(
            d,
            None,
            &["user", "add", email, "--role", role, "--team", team],
        );
        assert!(added.status.success(), "{}", stderr(&added));
    }
    let out = d.join("export.jsonl");
    let export = |operator: Option<&str>| {
        moat(
            d,
            operator,
            &[
                "audit",
                "export",
                "--format",
                "jsonl",
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };
    // The admin role allows ExportEvidence by the base policies, the organisation's
    // policy refuses it outside compliance; the local operator is in no team either.
    for operator in [Some("admin@example.com"), None] {
        let refused = export(operator);
        assert_eq!(
            refused.status.code(),
            Some(1),
            "{operator:?}: {}",
            stderr(&refused)
        );
        assert!(stderr(&refused).contains("exports-by-compliance"));
    }
    assert!(!out.exists(), "nothing was exported");
    let allowed = export(Some("auditor@example.com"));
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    assert!(out.exists());
    // ViewAudit by base policy: a developer may not read the log.
    let refused = moat(d, Some("dev@example.com"), &["audit", "tail"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let allowed = moat(d, Some("auditor@example.com"), &["audit", "tail"]);
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    // The record names the operator of a change.
    let added = moat(
        d,
        Some("admin@example.com"),
        &["user", "add", "second@example.com"],
    );
    assert!(added.status.success(), "{}", stderr(&added));
    let log = moat(d, None, &["audit", "tail", "-n", "1", "--json"]);
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("admin@example.com"),
        "{}",
        String::from_utf8_lossy(&log.stdout)
    );
    // Publishing configuration for every node is administration: a developer may not,
    // an admin may, and the version names who published it.
    let refused = moat(d, Some("dev@example.com"), &["config", "publish"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let history = moat(d, None, &["config", "history", "--json"]);
    assert_eq!(String::from_utf8_lossy(&history.stdout).trim(), "[]");
    let published = moat(
        d,
        Some("admin@example.com"),
        &["config", "publish", "--json"],
    );
    assert!(published.status.success(), "{}", stderr(&published));
    let history = moat(d, None, &["config", "history", "--json"]);
    let history: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(history[0]["version"], 1);
    assert_eq!(history[0]["published_by"], "admin@example.com");
}
