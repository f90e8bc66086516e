//! What each rule finds and what to do about a finding, in words, for code-scanning
//! dashboards (SARIF rule metadata) and the rule pages Moat serves.

use crate::rules::RULES;
use crate::{Check, Kind, Severity};

/// One rule explained: its title, what it finds, how a match is confirmed and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDoc {
    pub id: String,
    /// `AWS access key ID`.
    pub title: String,
    pub kind: Kind,
    pub severity: Severity,
    /// One sentence: what the rule finds.
    pub summary: String,
    /// Why it matters and how a match is confirmed.
    pub description: String,
    /// What to do about a finding.
    pub remediation: String,
    /// An organisation's own rule from `moat.toml`, not a built-in one.
    pub custom: bool,
}

/// The built-in rule `id`, explained.
pub fn builtin(id: &str) -> Option<RuleDoc> {
    RULES
        .iter()
        .find(|r| r.id == id)
        .map(|r| explain(r.id, r.kind, r.severity, Some(r.check)))
}

/// Every built-in rule, explained, in rule order.
pub fn all_builtin() -> Vec<RuleDoc> {
    RULES
        .iter()
        .map(|r| explain(r.id, r.kind, r.severity, Some(r.check)))
        .collect()
}

/// A rule explained from what is known of it; `check` is `None` for custom rules.
pub fn explain(id: &str, kind: Kind, severity: Severity, check: Option<Check>) -> RuleDoc {
    let title = title(id);
    let what = match kind {
        Kind::Secret => "credential",
        Kind::Pii => "piece of personal data",
        Kind::Phi => "piece of health data",
    };
    let summary = format!("A {title} ({what}) is present in the code.");
    let exposure = match kind {
        Kind::Secret => {
            "Anyone who can read the repository, its history or a copy of it (a clone, a \
             CI log, an AI coding tool's context) can use it to act as its owner."
        }
        Kind::Pii => {
            "Personal data in source code is copied to every clone, build and AI tool that \
             reads the repository, outside the controls that protect the system of record."
        }
        Kind::Phi => {
            "Protected health information in source code is copied to every clone, build \
             and AI tool that reads the repository, outside the safeguards HIPAA requires \
             for it."
        }
    };
    let confirmed = match check {
        None => "It is an organisation-defined rule from moat.toml; a match that is a \
                 documented placeholder is not reported."
            .to_string(),
        Some(check) => format!("A match is reported only if {}.", confirmation(check)),
    };
    let description = format!(
        "Finds a {title}. {exposure} {confirmed} Moat reports where the value is and a \
         keyed fingerprint of it, never the value itself; severity {}.",
        severity.as_str()
    );
    let remediation = match kind {
        Kind::Secret => format!(
            "Revoke or rotate the {title} at its issuer first: removing it from the code \
             does not make a published credential safe. Then delete it from the file, load \
             it at run time from a secret manager or the environment, and purge it from \
             git history if the repository is shared. If the value is a test fixture or \
             already revoked, mark the line with `moat:allow` or list the path in \
             `[dlp] allow_paths` in moat.toml."
        ),
        Kind::Pii | Kind::Phi => format!(
            "Replace the {title} with synthetic data (a reserved test value, a generated \
             fixture) and purge the real value from git history; report it to your privacy \
             officer if it belongs to a real person. If the value is synthetic already, \
             mark the line with `moat:allow` or list the path in `[dlp] allow_paths` in \
             moat.toml."
        ),
    };
    RuleDoc {
        id: id.to_string(),
        title,
        kind,
        severity,
        summary,
        description,
        remediation,
        custom: check.is_none(),
    }
}

fn confirmation(check: Check) -> String {
    match check {
        Check::NotPlaceholder => {
            "the value is not a documented placeholder (such as EXAMPLE or <YOUR_KEY>)".into()
        }
        Check::Entropy(bits) => format!(
            "the value is not a placeholder and carries at least {bits} bits of entropy per \
             character, as a generated secret does"
        ),
        Check::Assigned(bits) => format!(
            "the value is not a placeholder, carries at least {bits} bits of entropy per \
             character, and is not a path, a URL without credentials, a type or variable \
             name, a reference to configuration, or a digest under a digest's name"
        ),
        Check::Jwt => "the token's header decodes to a JSON object naming its algorithm or type".into(),
        Check::DiscordBot => "the token's first part decodes to a Discord id (17 to 20 digits)".into(),
        Check::Card => "the number passes the Luhn checksum and falls in a card issuer's range".into(),
        Check::Ssn => "the number follows the Social Security Administration's assignment rules (no 000, 666 or 9xx area, no 00 group, no 0000 serial)".into(),
        Check::Itin => "the number follows the IRS's ITIN rules (9xx area, group 50–65, 70–88, 90–92 or 94–99)".into(),
        Check::Npi => "the number passes the NPI check digit (Luhn with the 80840 prefix)".into(),
        Check::Dea => "the number passes the DEA registration check digit".into(),
        Check::Iban => "the account number passes the IBAN mod-97 check".into(),
        Check::Email => "the address is outside documentation domains (example.com, .test, .invalid)".into(),
    }
}

/// A rule id as words: `aws-access-key-id` → `AWS access key ID`.
pub fn title(id: &str) -> String {
    let mut words: Vec<String> = id.split('-').map(word).collect();
    if let Some(first) = words.first_mut()
        && let Some(c) = first.chars().next()
        && c.is_ascii_lowercase()
    {
        first.replace_range(..1, &c.to_ascii_uppercase().to_string());
    }
    words.join(" ")
}

fn word(w: &str) -> String {
    const SPELLED: &[(&str, &str)] = &[
        ("aws", "AWS"),
        ("gcp", "Google Cloud"),
        ("api", "API"),
        ("id", "ID"),
        ("pat", "personal access token"),
        ("oauth", "OAuth"),
        ("sas", "SAS"),
        ("ad", "AD"),
        ("devops", "DevOps"),
        ("openai", "OpenAI"),
        ("github", "GitHub"),
        ("gitlab", "GitLab"),
        ("digitalocean", "DigitalOcean"),
        ("hashicorp", "HashiCorp"),
        ("io", "IO"),
        ("mws", "MWS"),
        ("npm", "npm"),
        ("pypi", "PyPI"),
        ("rubygems", "RubyGems"),
        ("nuget", "NuGet"),
        ("dockerhub", "Docker Hub"),
        ("circleci", "CircleCI"),
        ("sonarqube", "SonarQube"),
        ("jfrog", "JFrog"),
        ("paypal", "PayPal"),
        ("huggingface", "Hugging Face"),
        ("langsmith", "LangSmith"),
        ("onepassword", "1Password"),
        ("ssn", "SSN"),
        ("itin", "ITIN"),
        ("iban", "IBAN"),
        ("npi", "NPI"),
        ("dea", "DEA"),
        ("mbi", "MBI"),
        ("us", "US"),
        ("jwt", "JSON Web Token"),
        ("url", "URL"),
        ("http", "HTTP"),
        ("dsn", "DSN"),
        ("rsa", "RSA"),
        ("ec", "EC"),
        ("dsa", "DSA"),
        ("pkcs8", "PKCS #8"),
        ("pgp", "PGP"),
        ("openssh", "OpenSSH"),
        ("putty", "PuTTY"),
        ("sid", "SID"),
        ("dotted", "(dotted)"),
    ];
    SPELLED
        .iter()
        .find(|(from, _)| *from == w)
        .map_or_else(|| w.to_string(), |(_, to)| to.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_read_as_words() {
        assert_eq!(title("aws-access-key-id"), "AWS access key ID");
        assert_eq!(title("github-pat"), "GitHub personal access token");
        assert_eq!(title("us-ssn"), "US SSN");
        assert_eq!(
            title("generic-password-assignment"),
            "Generic password assignment"
        );
        assert_eq!(title("jwt"), "JSON Web Token");
    }

    #[test]
    fn every_builtin_rule_is_explained_in_full() {
        let docs = all_builtin();
        assert_eq!(docs.len(), RULES.len());
        for doc in docs {
            assert!(!doc.custom, "{}", doc.id);
            for text in [&doc.summary, &doc.description, &doc.remediation] {
                assert!(text.len() > 40, "{}: {text}", doc.id);
                assert!(text.ends_with('.'), "{}: {text}", doc.id);
                assert!(!text.contains("  "), "{}: {text}", doc.id);
            }
            assert!(doc.description.contains(doc.severity.as_str()));
        }
        let card = builtin("payment-card").unwrap();
        assert!(card.description.contains("Luhn"), "{}", card.description);
        assert!(
            card.remediation.contains("synthetic"),
            "{}",
            card.remediation
        );
        let key = builtin("stripe-secret-key").unwrap();
        assert!(
            key.remediation.starts_with("Revoke or rotate"),
            "{}",
            key.remediation
        );
        assert!(builtin("no-such-rule").is_none());
    }

    #[test]
    fn custom_rules_say_they_are_the_organisations() {
        let doc = explain("acme-internal-token", Kind::Secret, Severity::High, None);
        assert!(doc.custom);
        assert!(
            doc.description.contains("organisation-defined"),
            "{}",
            doc.description
        );
        assert_eq!(doc.title, "Acme internal token");
    }
}
