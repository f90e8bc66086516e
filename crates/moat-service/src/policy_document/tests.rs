use super::*;

const BASE: &str = r#"
[org]
name = "Example <Health> *Inc*"

[server]
public_url = "https://moat.example.com"

[[repos]]
name = "claims"
source = "/srv/git/claims"
tier = "internal"

[[repos]]
name = "records"
source = "/srv/git/records"
tier = "confidential"
tags = ["phi"]

[[repos]]
name = "vault"
source = "/srv/git/vault"
tier = "restricted"

[permissions.static]
grants = [{ repos = ["*"], teams = ["engineering"] }]

[[vendors]]
name = "anthropic"
kind = "anthropic"
base_url = "https://api.anthropic.com"
key_env = "ANTHROPIC_API_KEY"
region = "us"
attestations = { soc2_type2 = true, dpa = true, zero_retention = true, breach_notice_hours = 72 }

[[vendors]]
name = "local"
kind = "openai-compatible"
base_url = "http://10.0.0.5:8000"
region = "us"
on_prem = true

[[models]]
alias = "sonnet"
vendor = "anthropic"
version = "claude-sonnet-4-5-20250929"
teams = ["engineering"]
"#;

fn document(text: &str) -> Document {
    let config = moat_config::parse(text, "moat.toml").unwrap();
    let version = config.policy_version_with(None).0;
    build(Source {
        config: &config,
        policies: None,
        policy_version: &version,
        config_version: Some(1),
        now: moat_domain::UnixTime::from_date("2026-12-05").unwrap(),
    })
}

fn said<'a>(document: &'a Document, key: &str) -> &'a str {
    document
        .sections
        .iter()
        .flat_map(|s| &s.statements)
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("no statement for `{key}`"))
        .text
        .as_str()
}

#[test]
fn every_section_is_there_and_every_statement_names_a_key() {
    let document = document(BASE);
    let titles: Vec<&str> = document.sections.iter().map(|s| s.title).collect();
    assert_eq!(
        titles,
        [
            "Approved tools and models",
            "Prohibited uses",
            "Data classification",
            "Access and authentication",
            "Exception process",
            "Incident response",
            "Training"
        ]
    );
    let mut keys = std::collections::BTreeSet::new();
    for statement in document.sections.iter().flat_map(|s| &s.statements) {
        assert!(!statement.key.is_empty() && !statement.text.is_empty());
        assert!(
            keys.insert(statement.key.clone()),
            "{} said twice",
            statement.key
        );
    }
    assert!(said(&document, "models[alias=sonnet]").contains("`claude-sonnet-4-5-20250929`"));
    assert!(said(&document, "models[alias=sonnet]").contains("the team `engineering`"));
    assert!(said(&document, "server.public_url").contains("`https://moat.example.com/mcp`"));
    assert!(
        said(
            &document,
            "vendors[name=anthropic].attestations.breach_notice_hours"
        )
        .contains("72 hours")
    );
}

/// Who may receive each tier's and each repository's code is what the gateway decides:
/// the on-premises vendor for restricted code; for PHI, nobody without a BAA.
#[test]
fn receivers_are_decided_as_the_gateway_decides() {
    let document = document(BASE);
    assert_eq!(
        said(&document, "tiers.internal"),
        "Of the configured vendors, `anthropic` may receive internal code."
    );
    assert_eq!(
        said(&document, "tiers.restricted"),
        "Of the configured vendors, `local` may receive restricted code."
    );
    assert!(
        said(&document, "repos[name=records].tier")
            .ends_with("and no vendor may receive its code.")
    );
    assert!(said(&document, "repos[name=vault].tier").contains("file and symbol names only"));
}

/// The issue's test: change a tier rule, render again, and the sentence changes; the
/// diff names exactly the statements that changed, in the words of each version.
#[test]
fn a_changed_tier_rule_changes_its_sentences_and_the_diff_says_so() {
    let before = document(BASE);
    let changed =
        format!("{BASE}\n[tiers.internal]\nrequire = [\"soc2_type2\", \"dpa\", \"baa\"]\n");
    let after = document(&changed);
    assert_ne!(before.policy_version, after.policy_version);
    assert_eq!(
        said(&after, "tiers.internal.require"),
        "A vendor must hold `soc2_type2`, `dpa` and `baa` to receive internal code."
    );
    assert_ne!(
        render(&before, Format::Markdown),
        render(&after, Format::Markdown)
    );
    let changes = diff(&before, &after);
    let keys: Vec<&str> = changes
        .iter()
        .map(|c| match c {
            Change::Changed { key, .. } => key.as_str(),
            other => panic!("only changes expected: {other:?}"),
        })
        .collect();
    assert_eq!(
        keys,
        [
            "tiers.internal.require",
            "tiers.internal",
            "repos[name=claims].tier"
        ]
    );
    let Change::Changed {
        before: was,
        after: now,
        section,
        ..
    } = &changes[1]
    else {
        unreachable!()
    };
    assert_eq!(section, "Data classification");
    assert_eq!(
        was,
        "Of the configured vendors, `anthropic` may receive internal code."
    );
    assert_eq!(
        now,
        "Of the configured vendors, none may receive internal code."
    );

    // A model added and one removed: said as such.
    let swapped = BASE.replace("alias = \"sonnet\"", "alias = \"opus\"");
    let changes = diff(&before, &document(&swapped));
    assert!(changes.iter().any(|c| matches!(c, Change::Removed { statement, .. } if statement.key == "models[alias=sonnet]")));
    assert!(changes.iter().any(
        |c| matches!(c, Change::Added { statement, .. } if statement.key == "models[alias=opus]")
    ));
    assert!(diff(&before, &before).is_empty());
}

/// Names the configuration holds are text in both formats, never markup.
#[test]
fn names_are_escaped_in_markdown_and_html() {
    let hostile = BASE.replace(
        "teams = [\"engineering\"] }]",
        "teams = [\"<img src=x onerror=alert(1)>\"] }]",
    );
    let document = document(&hostile);
    let html = String::from_utf8(render(&document, Format::Html)).unwrap();
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("Example &lt;Health&gt; *Inc*"));
    let markdown = String::from_utf8(render(&document, Format::Markdown)).unwrap();
    assert!(
        markdown.starts_with("# Example \\<Health\\> \\*Inc\\*: AI coding-tool policy"),
        "{markdown}"
    );
    assert!(markdown.contains("[`tiers.internal.require`]"));
}

/// A PDF a reader can open: the standard fonts, every statement on some page, long
/// names broken rather than run off the page, and text outside WinAnsi written as `?`.
#[test]
fn the_pdf_carries_every_statement() {
    let long = "x".repeat(300);
    let text = BASE
        .replace("claude-sonnet-4-5-20250929", &long)
        .replace("Example <Health> *Inc*", "Example Hälsa 医療");
    let document = document(&text);
    let pdf = render(&document, Format::Pdf);
    let raw = String::from_utf8_lossy(&pdf);
    assert!(raw.starts_with("%PDF-"), "{}", &raw[..20]);
    assert!(raw.trim_end().ends_with("%%EOF"));
    for font in [
        "/Helvetica",
        "/Helvetica-Bold",
        "/Courier",
        "/WinAnsiEncoding",
    ] {
        assert!(raw.contains(font), "{font}");
    }
    assert_eq!(
        super::pdf::win_ansi("Example Hälsa 医療 – “x”"),
        b"Example H\xe4lsa ?? \x96 \x93x\x94".to_vec()
    );
    assert!(raw.contains("[tiers.internal.require]"));
    assert!(
        raw.contains("/Count 2") || raw.contains("/Count 3"),
        "more than one page"
    );
    // No line is wider than the page: the 300-character name is broken.
    assert!(!raw.contains(&"x".repeat(120)));
}
