//! `moat scan --format sarif`: SARIF 2.1.0 as GitHub code scanning and other dashboards
//! read it. Each rule carries its descriptions, help (text and markdown), a help page
//! Moat serves (`/docs/rules/{id}`) and a `security-severity` GitHub ranks by; each
//! result its rule index, a location relative to the scanned root and a fingerprint.
//! Never the value found.

use moat_dlp::Severity;
use moat_dlp::describe::RuleDoc;
use moat_service::scan::{AI_GENERATED, Finding as FindingView};
use serde_json::{Value, json};
use std::path::Path;

/// Where the scan ran and what it ran with, for the SARIF run.
pub struct SarifRun<'a> {
    /// Every rule the detector ran, explained.
    pub rules: Vec<RuleDoc>,
    /// The base URL of the Moat server that serves the rule pages.
    pub docs_base: &'a str,
    /// The directory scanned with `--path`, which result locations are relative to.
    pub root: Option<&'a Path>,
}

/// The SARIF log of `findings`.
pub fn log(run: &SarifRun<'_>, findings: &[FindingView]) -> Value {
    let docs = run.docs_base.trim_end_matches('/');
    let mut used: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
    used.sort_unstable();
    used.dedup();
    let rules: Vec<Value> = used.iter().map(|id| rule(run, docs, id)).collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| result(run, f, used.binary_search(&f.rule.as_str()).unwrap_or(0)))
        .collect();
    let mut sarif_run = json!({
        "tool": {"driver": {
            "name": "Moat",
            "version": env!("CARGO_PKG_VERSION"),
            "semanticVersion": env!("CARGO_PKG_VERSION"),
            "informationUri": format!("{docs}/docs/rules"),
            "rules": rules,
        }},
        "automationDetails": {"id": "moat-scan/"},
        "invocations": [{"executionSuccessful": true}],
        "results": results,
    });
    if let Some(root) = run.root.and_then(|r| std::path::absolute(r).ok()) {
        let mut uri = format!("file://{}", encode_path(&root.to_string_lossy()));
        if !uri.ends_with('/') {
            uri.push('/');
        }
        sarif_run["originalUriBaseIds"] = json!({"SRCROOT": {"uri": uri}});
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [sarif_run],
    })
}

fn rule(run: &SarifRun<'_>, docs: &str, id: &str) -> Value {
    let help_uri = format!("{docs}/docs/rules/{}", encode_path(id));
    if id == AI_GENERATED {
        return json!({
            "id": id,
            "name": "AiGenerated",
            "shortDescription": {"text": "Code a model wrote through the Moat gateway."},
            "fullDescription": {"text": "The file shares enough of its fingerprints with an answer a model gave through the Moat gateway to count as written by it. The finding names the audit event of that answer and the pinned model version, so the change can be reviewed as AI-written code."},
            "help": {
                "text": "Review the file as AI-written code: check it against the change's intent, its tests and your secure-coding rules. `moat audit show SEQ` shows the request that produced it.",
                "markdown": "Review the file as AI-written code: check it against the change's intent, its tests and your secure-coding rules.\n\n`moat audit show SEQ` shows the request that produced it (the finding's `audit_seq` property).",
            },
            "helpUri": help_uri,
            "messageStrings": {"default": {"text": "Written by '{0}' through the Moat gateway."}},
            "defaultConfiguration": {"level": "note"},
            "properties": {"tags": ["provenance", "ai-generated"], "precision": "medium"},
        });
    }
    if let Some(code) = moat_index::code_rules::rules().iter().find(|r| r.id == id) {
        return code_rule(code);
    }
    let doc = run
        .rules
        .iter()
        .find(|d| d.id == id)
        .cloned()
        .unwrap_or_else(|| {
            moat_dlp::describe::explain(id, moat_dlp::Kind::Secret, Severity::High, None)
        });
    let markdown = format!(
        "**{title}** ({kind}, severity {severity})\n\n{description}\n\n### What to do\n\n{remediation}\n\n[Rule page]({help_uri})",
        title = doc.title,
        kind = doc.kind.as_str(),
        severity = doc.severity.as_str(),
        description = doc.description,
        remediation = doc.remediation,
    );
    json!({
        "id": id,
        "name": friendly_name(&doc),
        "shortDescription": {"text": doc.summary},
        "fullDescription": {"text": doc.description},
        "help": {"text": doc.remediation, "markdown": markdown},
        "helpUri": help_uri,
        "messageStrings": {"default": {"text": "'{0}' found here; the value is not shown."}},
        "defaultConfiguration": {"level": level(doc.severity.as_str())},
        "properties": {
            "security-severity": security_severity(doc.severity.as_str()),
            "tags": ["security", doc.kind.as_str()],
            "precision": "high",
        },
    })
}

/// A code security rule: its class, CWE and what to do, linked to the CWE's page.
fn code_rule(rule: &moat_index::code_rules::Rule) -> Value {
    let class = rule.class;
    let cwe = class.cwe();
    let number = cwe.trim_start_matches("CWE-");
    json!({
        "id": rule.id,
        "name": rule.id.split('-').map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        }).collect::<String>(),
        "shortDescription": {"text": format!("{} ({cwe})", class.as_str())},
        "fullDescription": {"text": class.advice()},
        "help": {"text": class.advice(), "markdown": format!("**{}** ({cwe})\n\n{}", class.as_str(), class.advice())},
        "helpUri": format!("https://cwe.mitre.org/data/definitions/{number}.html"),
        "messageStrings": {"default": {"text": "{0}"}},
        "defaultConfiguration": {"level": level(class.severity())},
        "properties": {
            "security-severity": security_severity(class.severity()),
            "tags": ["security", "code", format!("external/cwe/cwe-{number}")],
            "precision": "medium",
        },
    })
}

fn result(run: &SarifRun<'_>, f: &FindingView, index: usize) -> Value {
    let code_rule = moat_index::code_rules::rules()
        .iter()
        .find(|r| r.id == f.rule);
    let (text, argument) = match &f.model {
        Some(model) if f.rule == AI_GENERATED => (
            format!("Written by '{model}' through the Moat gateway."),
            model.clone(),
        ),
        _ if code_rule.is_some() => {
            let advice = code_rule.map_or("", |r| r.class.advice()).to_string();
            (advice.clone(), advice)
        }
        _ => (
            format!(
                "'{}' found here; the value is not shown.",
                moat_dlp::describe::title(&f.rule)
            ),
            moat_dlp::describe::title(&f.rule),
        ),
    };
    let mut artifact = json!({"uri": encode_path(&f.path)});
    if run.root.is_some() {
        artifact["uriBaseId"] = json!("SRCROOT");
    }
    let mut properties = json!({"repo": f.repo, "kind": f.kind, "severity": f.severity});
    if let Some(seq) = f.audit_seq {
        properties["audit_seq"] = json!(seq);
    }
    // On the result as well as its rule, so a dashboard that ranks results alone (and
    // a rule whose severity a finding overrides) ranks it right.
    if f.rule != AI_GENERATED {
        properties["security-severity"] = json!(security_severity(f.severity));
    }
    json!({
        "ruleId": f.rule,
        "ruleIndex": index,
        "level": level(f.severity),
        "message": {"text": text, "id": "default", "arguments": [argument]},
        "locations": [{"physicalLocation": {
            "artifactLocation": artifact,
            "region": {"startLine": f.line.max(1)},
        }}],
        "partialFingerprints": {"moatFingerprint/v1": f.fingerprint},
        "properties": properties,
    })
}

fn level(severity: &str) -> &'static str {
    match severity {
        "critical" | "high" => "error",
        "medium" => "warning",
        _ => "note",
    }
}

/// GitHub's ranking: over 9.0 critical, 7.0–8.9 high, 4.0–6.9 medium, below low.
fn security_severity(severity: &str) -> &'static str {
    match severity {
        "critical" => "9.5",
        "high" => "8.0",
        "medium" => "5.5",
        _ => "2.0",
    }
}

/// The friendly name SARIF asks for, never the id itself: `aws-access-key-id` →
/// `ExposedAwsAccessKeyId`, `email` → `PersonalEmail`.
fn friendly_name(doc: &RuleDoc) -> String {
    let prefix = match doc.kind {
        moat_dlp::Kind::Secret => "Exposed",
        moat_dlp::Kind::Pii => "Personal",
        moat_dlp::Kind::Phi => "Health",
    };
    format!("{prefix}{}", pascal_case(&doc.id))
}

fn pascal_case(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// A path as a URI reference: `/` kept, everything outside RFC 3986's unreserved and
/// path characters percent-encoded (a space, `#`, `?`, `%`).
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(byte as char)
            }
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => {
                out.push(byte as char)
            }
            b':' | b'@' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(path: &str, rule: &str, severity: &'static str) -> FindingView {
        FindingView {
            repo: "r".into(),
            path: path.into(),
            line: 3,
            rule: rule.into(),
            kind: "secret",
            severity,
            fingerprint: "f".repeat(64),
            audit_seq: None,
            model: None,
        }
    }

    #[test]
    fn rules_carry_what_code_scanning_shows() {
        let run = SarifRun {
            rules: moat_dlp::Detector::builtin().rule_docs(),
            docs_base: "https://moat.example.com/",
            root: Some(Path::new("/srv/code dir")),
        };
        let log = log(
            &run,
            &[
                finding("src/a b#1.py", "stripe-secret-key", "critical"),
                finding("x.py", "email", "low"),
                finding("y.py", "stripe-secret-key", "critical"),
            ],
        );
        let run = &log["runs"][0];
        assert_eq!(
            run["originalUriBaseIds"]["SRCROOT"]["uri"],
            "file:///srv/code%20dir/"
        );
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0]["id"], "email");
        let stripe = &rules[1];
        assert_eq!(stripe["name"], "ExposedStripeSecretKey");
        assert_eq!(rules[0]["name"], "PersonalEmail");
        assert_eq!(
            stripe["helpUri"],
            "https://moat.example.com/docs/rules/stripe-secret-key"
        );
        assert_eq!(stripe["properties"]["security-severity"], "9.5");
        for result in run["results"].as_array().unwrap() {
            let rule =
                &run["tool"]["driver"]["rules"][result["ruleIndex"].as_u64().unwrap() as usize];
            assert_eq!(
                result["properties"]["security-severity"], rule["properties"]["security-severity"],
                "{result}"
            );
        }
        assert!(
            stripe["help"]["markdown"]
                .as_str()
                .unwrap()
                .contains("### What to do")
        );
        assert!(
            stripe["fullDescription"]["text"]
                .as_str()
                .unwrap()
                .contains("Stripe secret key")
        );
        let results = run["results"].as_array().unwrap();
        assert_eq!(results[0]["ruleIndex"], 1);
        assert_eq!(results[1]["ruleIndex"], 0);
        assert_eq!(results[0]["level"], "error");
        let location = &results[0]["locations"][0]["physicalLocation"]["artifactLocation"];
        assert_eq!(location["uri"], "src/a%20b%231.py");
        assert_eq!(location["uriBaseId"], "SRCROOT");
        let text = results[0]["message"]["text"].as_str().unwrap();
        assert!(!text.contains("sk_live"), "{text}");
    }

    #[test]
    fn a_repository_scan_has_no_root_and_names_model_written_code() {
        let run = SarifRun {
            rules: Vec::new(),
            docs_base: "http://127.0.0.1:8480",
            root: None,
        };
        let mut written = finding("gen.py", AI_GENERATED, "low");
        written.kind = "code";
        written.model = Some("gpt-4o-2024-08-06".into());
        written.audit_seq = Some(42);
        let log = log(&run, &[written]);
        let run = &log["runs"][0];
        assert!(run.get("originalUriBaseIds").is_none());
        let result = &run["results"][0];
        assert!(
            result["locations"][0]["physicalLocation"]["artifactLocation"]
                .get("uriBaseId")
                .is_none()
        );
        assert_eq!(result["properties"]["audit_seq"], 42);
        assert!(
            result["message"]["text"]
                .as_str()
                .unwrap()
                .contains("gpt-4o-2024-08-06")
        );
        let rule = &run["tool"]["driver"]["rules"][0];
        assert_eq!(rule["name"], "AiGenerated");
        assert!(rule["properties"].get("security-severity").is_none());
    }
}
