//! Each rule family finds its value in realistic surroundings; near misses and
//! placeholders are left alone; hostile input stays fast.

use super::*;

/// (rule id, text, the value that must be found). Values are fake but well-formed.
const POSITIVES: &[(&str, &str, &str)] = &[
    (
        "aws-access-key-id",
        "aws_access_key_id = AKIAQ3EGRBJXZ7KLMN4P",
        "AKIAQ3EGRBJXZ7KLMN4P",
    ),
    (
        "aws-secret-access-key",
        "AWS_SECRET_ACCESS_KEY=wJa9rXUtnF3MI/K7MDENG+bPxRfiCYzQ8h2Lk5Tq",
        "wJa9rXUtnF3MI/K7MDENG+bPxRfiCYzQ8h2Lk5Tq",
    ),
    (
        "gcp-api-key",
        "const key = \"AIzaSyD3f9Qx7Lk2Mn8Pq4Rs6Tu0Vw1Xy5Za9Bc\";",
        "AIzaSyD3f9Qx7Lk2Mn8Pq4Rs6Tu0Vw1Xy5Za9Bc",
    ),
    (
        "gcp-oauth-client-secret",
        "client_secret: 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",
        "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",
    ),
    (
        "azure-storage-account-key",
        "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=q8Zr1Kx9Lp2Vn7Tb4Hc6Jd0Mf3Ng5Rs8Wy1Ae7Ib2Oc4Ud9Xe6Yf0Zg3Ah5Bi8Cj1Dk4El7Fm0Gn2Ho9Ip6Jq3==;EndpointSuffix=core.windows.net",
        "q8Zr1Kx9Lp2Vn7Tb4Hc6Jd0Mf3Ng5Rs8Wy1Ae7Ib2Oc4Ud9Xe6Yf0Zg3Ah5Bi8Cj1Dk4El7Fm0Gn2Ho9Ip6Jq3==",
    ),
    (
        "github-pat",
        "token = \"ghp_R7x2Kq9Lm4Np8Qs1Tv6Wy3Za0Bc5De7Fg2Hj\"",
        "ghp_R7x2Kq9Lm4Np8Qs1Tv6Wy3Za0Bc5De7Fg2Hj",
    ),
    (
        "github-fine-grained-pat",
        "GH_TOKEN=github_pat_11ABCDEFG0Rk7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2Mn7Op4Qr9St1Uv6Wx3Yz8Ab5Cd0Ef2Gh7Ij4Kl9",
        "github_pat_11ABCDEFG0Rk7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2Mn7Op4Qr9St1Uv6Wx3Yz8Ab5Cd0Ef2Gh7Ij4Kl9",
    ),
    (
        "gitlab-pat",
        "export GITLAB_TOKEN=glpat-x7Rk2Lq9Mn4Pv8Ts1Wz3B",
        "glpat-x7Rk2Lq9Mn4Pv8Ts1Wz3B",
    ),
    (
        "slack-bot-token",
        "SLACK_BOT_TOKEN: xoxb-2048675309-4096123456789-Rk7Lq2Mn9Pv4Ts8Wz1Bc3De6",
        "xoxb-2048675309-4096123456789-Rk7Lq2Mn9Pv4Ts8Wz1Bc3De6",
    ),
    (
        "slack-webhook-url",
        "url = \"https://hooks.slack.com/services/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\"",
        "https://hooks.slack.com/services/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",
    ),
    (
        "stripe-secret-key",
        "Stripe.api_key = 'sk_live_51Hx7Rk2Lq9Mn4Pv8Ts1Wz3Bc6De'",
        "sk_live_51Hx7Rk2Lq9Mn4Pv8Ts1Wz3Bc6De",
    ),
    (
        "stripe-webhook-secret",
        "STRIPE_WEBHOOK_SECRET=whsec_Rk7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2",
        "whsec_Rk7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2",
    ),
    (
        "twilio-api-key",
        "twilio_key = \"SK3f9a7c2e8b1d4f6a0c5e9b2d7f1a3c8e\"",
        "SK3f9a7c2e8b1d4f6a0c5e9b2d7f1a3c8e",
    ),
    (
        "sendgrid-api-key",
        "SENDGRID_API_KEY=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",
        "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",
    ),
    (
        "openai-api-key",
        "OPENAI_API_KEY=sk-proj-Rk7Lq2Mn9Pv4Ts8Wz1BcT3BlbkFJ3De6Fg0Hj5Kl2Mn7Op4Q",
        "sk-proj-Rk7Lq2Mn9Pv4Ts8Wz1BcT3BlbkFJ3De6Fg0Hj5Kl2Mn7Op4Q",
    ),
    (
        "anthropic-api-key",
        "client = Anthropic(api_key=\"sk-ant-api03-Rk7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2Mn7Op4Qr9St1Uv6Wx3Yz8Ab5Cd0Ef2Gh7Ij4Kl9Mn3Op8Qr1St6Uv0Wx5Yz2Ab7Cd-AA\")",
        "sk-ant-api03-Rk7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2Mn7Op4Qr9St1Uv6Wx3Yz8Ab5Cd0Ef2Gh7Ij4Kl9Mn3Op8Qr1St6Uv0Wx5Yz2Ab7Cd-AA",
    ),
    (
        "huggingface-token",
        "HF_TOKEN=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",
        "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",
    ),
    (
        "npm-token",
        "//registry.npmjs.org/:_authToken=npm_Rk7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2Mn7",
        "npm_Rk7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2Mn7",
    ),
    (
        "jwt",
        "Authorization: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3JfMTIzIn0.Rk7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3JfMTIzIn0.Rk7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2",
    ),
    (
        "database-url-password",
        "DATABASE_URL=postgres://app:Rk7Lq2Mn9Pv@db.internal:5432/payments",
        "Rk7Lq2Mn9Pv",
    ),
    (
        "url-basic-auth",
        "git clone https://deploy:Tz8Wq3Lk9Mv@git.internal/acme.git",
        "Tz8Wq3Lk9Mv",
    ),
    (
        "generic-password-assignment",
        "db_password = \"Tz8#Wq3Lk9Mv!pX\"",
        "Tz8#Wq3Lk9Mv!pX",
    ),
    (
        "generic-secret-assignment",
        "client_secret: \"Rk7Lq2Mn9Pv4Ts8Wz1Bc3De6\"",
        "Rk7Lq2Mn9Pv4Ts8Wz1Bc3De6",
    ),
    (
        "age-secret-key",
        "AGE-SECRET-KEY-1QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7LQPZRY9X8GF2TVDW0S3JN54KHCE",
        "AGE-SECRET-KEY-1QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7LQPZRY9X8GF2TVDW0S3JN54KHCE",
    ),
    (
        "email",
        "maintainer: jane.doe@acme-health.com",
        "jane.doe@acme-health.com",
    ),
    ("us-ssn", "patient ssn: 123-45-6789", "123-45-6789"),
    (
        "payment-card",
        "card = \"4111 1111 1111 1111\"",
        "4111 1111 1111 1111",
    ),
    (
        "iban",
        "iban: GB82 WEST 1234 5698 7654 32",
        "GB82 WEST 1234 5698 7654 32",
    ),
    ("us-npi", "provider NPI: 1234567893", "1234567893"),
    ("medical-record-number", "MRN: A1234567", "A1234567"),
    ("date-of-birth", "DOB: 1984-07-12", "1984-07-12"),
    (
        "phone-us",
        "call (415) 555-0132 for support",
        "(415) 555-0132",
    ),
];

#[test]
fn every_built_in_rule_compiles_and_there_are_at_least_100() {
    let detector = Detector::builtin();
    assert!(detector.rule_count() >= 100, "{}", detector.rule_count());
    let ids: std::collections::HashSet<&str> = RULES.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), RULES.len(), "rule ids are unique");
}

#[test]
fn each_family_finds_its_value() {
    let detector = Detector::builtin();
    for (rule, text, value) in POSITIVES {
        let findings = detector.scan(text);
        let hit = findings.iter().find(|f| &text[f.start..f.end] == *value);
        let hit =
            hit.unwrap_or_else(|| panic!("{rule}: `{value}` not found in `{text}`: {findings:?}"));
        assert_eq!(&*hit.rule, *rule, "{text}");
    }
}

#[test]
fn private_keys_are_found_whole() {
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACBRk7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2Mn7Op4Qr9AAAAJh3f9Qx7Lk2\n-----END OPENSSH PRIVATE KEY-----";
    let text = format!("key = '''\n{key}\n'''\n");
    let findings = Detector::builtin().scan(&text);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(&text[findings[0].start..findings[0].end], key);
    assert_eq!(&*findings[0].rule, "private-key-openssh");
}

#[test]
fn placeholders_near_misses_and_allow_markers_are_left_alone() {
    let detector = Detector::builtin();
    for text in [
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "password = \"changeme\"",
        "api_key: \"<YOUR_API_KEY>\"",
        "token = \"${GITHUB_TOKEN}\"",
        "contact: someone@example.com",
        "contact: Someone@Mail.EXAMPLE.org",
        "contact: ops@localhost",
        "contact: ops@build.test, qa@host.invalid, dev@acme.example",
        "id = 550e8400-e29b-41d4-a716-446655440000",
        "sha = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "card = \"4111 1111 1111 1112\"",
        "ssn = 000-12-3456",
        "version = 1.2.3-4.5.6789",
        "ghp_short",
        "password = os.environ[\"DB_PASSWORD\"]",
        "let token = \"ghp_R7x2Kq9Lm4Np8Qs1Tv6Wy3Za0Bc5De7Fg2Hj\"; // moat:allow test fixture",
    ] {
        let findings = detector.scan(text);
        assert!(findings.is_empty(), "`{text}` gave {findings:?}");
    }
}

#[test]
fn only_documentation_domains_exempt_an_email() {
    let detector = Detector::builtin();
    for address in [
        "jane@notexample.com",
        "jane@example.com.evil.io",
        "jane@contest.io",
        "jane@examples.org",
    ] {
        let text = format!("contact: {address}");
        let findings = detector.scan(&text);
        assert_eq!(
            findings
                .iter()
                .map(|f| &text[f.start..f.end])
                .collect::<Vec<_>>(),
            vec![address],
            "`{text}`"
        );
    }
}

#[test]
fn a_rule_whose_keyword_comes_after_many_other_findings_still_runs() {
    // The keyword pass ends early once every matched rule has its keyword; a keyword
    // that appears only at the end must still enable its rule.
    let detector = Detector::builtin();
    let mut text = "token = \"ghp_R7x2Kq9Lm4Np8Qs1Tv6Wy3Za0Bc5De7Fg2Hj\"\n".repeat(2_000);
    text.push_str("aws_access_key_id = AKIAQ3EGRBJXZ7KLMN4P\n");
    let findings = detector.scan(&text);
    assert_eq!(findings.len(), 2_001);
    assert_eq!(&*findings.last().unwrap().rule, "aws-access-key-id");
}

#[test]
fn custom_rules_from_configuration_run_and_bad_ones_are_refused() {
    let config = DetectorConfig {
        custom_rules: vec![CustomRule {
            id: "acme-employee-id".into(),
            kind: Kind::Pii,
            severity: Severity::Medium,
            keywords: vec!["EMP".into()],
            pattern: r"\b(EMP-\d{6})\b".into(),
        }],
        disabled: vec!["email".into()],
    };
    let detector = Detector::new(&config).unwrap();
    let findings = detector.scan("owner EMP-004211, jane.doe@acme-health.com");
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(&*findings[0].rule, "acme-employee-id");

    let broken = DetectorConfig {
        custom_rules: vec![CustomRule {
            pattern: "(unclosed".into(),
            ..config.custom_rules[0].clone()
        }],
        disabled: vec![],
    };
    assert!(matches!(
        Detector::new(&broken),
        Err(DlpError::Pattern { .. })
    ));
}

#[test]
fn hostile_input_stays_linear() {
    let detector = Detector::builtin();
    for hostile in [
        "A".repeat(2_000_000),
        "=".repeat(1_000_000),
        "QUtJQ".repeat(400_000),
        "sk-ant-api03-".repeat(100_000),
        "ghp_".repeat(250_000),
        "1234-5678-".repeat(100_000),
        "a@".repeat(500_000),
    ] {
        let started = std::time::Instant::now();
        let _ = detector.scan(&hostile);
        let took = started.elapsed();
        // Generous: this guards against super-linear blow-ups, not speed.
        assert!(
            took < std::time::Duration::from_secs(20),
            "{} bytes took {took:?}",
            hostile.len()
        );
    }
}

#[test]
fn a_value_is_found_without_groups_only_where_the_match_says_where_it_is() {
    let whole = |p: &str| value_span(p).is_some_and(|s| s.lead.is_none() && s.trail.is_none());
    assert!(whole(r"\b(ghp_[A-Za-z0-9]{36})\b"));
    assert!(whole(r"(AKIA[0-9A-Z]{16})"));
    assert!(whole(r"(?m)^(xoxb-[0-9]+)$"));
    // A boundary byte outside the group that cannot begin or end the value.
    let ssn = value_span(r"(?:^|[^\d-])(\d{3}-\d{2}-\d{4})(?:[^\d-]|$)").expect("trimmed");
    assert!(ssn.lead.is_some() && ssn.trail.is_some());
    assert_eq!(ssn.value_of(b"x123-45-6789;", 0, 13), (1, 12));
    assert_eq!(ssn.value_of(b"123-45-6789", 0, 11), (0, 11));
    // A boundary class that overlaps the value's edge, a second group, no group, a
    // consumed byte that is not optional, a group that may be empty.
    assert!(value_span(r"(?:^|[^a])([a-z]+)").is_none());
    assert!(value_span(r"key=(a+)|token=(b+)").is_none());
    assert!(value_span(r"(a)(b)").is_none());
    assert!(value_span(r"\bAKIA[0-9A-Z]{16}\b").is_none());
    assert!(value_span(r"password=(\S+)").is_none());
    assert!(value_span(r"(?:^|\s)(x*)").is_none());
    let detector = Detector::builtin();
    let spanned: Vec<&str> = detector
        .rules
        .iter()
        .filter(|r| r.span.is_some())
        .map(|r| &*r.id)
        .collect();
    for id in ["github-pat", "us-ssn", "email"] {
        assert!(spanned.contains(&id), "{id} not in {spanned:?}");
    }
    assert!(!spanned.contains(&"generic-secret-assignment"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    /// Every built-in rule whose value is taken from the match alone finds exactly
    /// what its capture group finds, on text made of the bytes the rules care about.
    #[test]
    fn values_from_the_match_agree_with_the_capture_group(
        text in "[a-zA-Z0-9@._%+\\- \n:=\"'/]{0,120}",
        planted in proptest::sample::select(POSITIVES.iter().map(|p| p.1).collect::<Vec<_>>()),
        at in 0usize..120,
    ) {
        let detector = Detector::builtin();
        let mut text = text;
        let at = at.min(text.len());
        text.insert_str(at, planted);
        for rule in detector.rules.iter() {
            let Some(span) = &rule.span else { continue };
            let by_group: Vec<(usize, usize)> = rule
                .regex
                .captures_iter(text.as_bytes())
                .filter_map(|c| c.get(1).map(|g| (g.start(), g.end())))
                .collect();
            let by_span: Vec<(usize, usize)> = rule
                .regex
                .find_iter(text.as_bytes())
                .map(|m| span.value_of(text.as_bytes(), m.start(), m.end()))
                .collect();
            proptest::prop_assert_eq!(by_group, by_span, "{} on {:?}", rule.id, text);
        }
    }
}

/// Text a rule's pattern matches but its check refuses (placeholders, bad checksums,
/// low entropy), some beside a value another rule accepts.
const REFUSED_BY_CHECKS: &[&str] = &[
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "password = \"changeme\"",
    "token = \"xxxxxxxxxxxxxxxxxxxxxxxx\"",
    "api_key = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
    "card = \"4111 1111 1111 1112\"",
    "ssn = 000-12-3456",
    "contact: someone@example.com",
    "secret_token = \"${GITHUB_TOKEN}\" jane.doe@acme-health.com",
    "DATABASE_URL=postgres://app:changeme@db.internal:5432/payments",
];

/// The detector as it was first written: every rule's capture group over the whole
/// text, every value confirmed, then the overlap sweep. `scan` must agree with it.
fn reference_scan(detector: &Detector, text: &str) -> Vec<(usize, usize, String)> {
    let mut found: Vec<(usize, usize, &Compiled)> = Vec::new();
    for rule in &detector.rules {
        // Each search starts where the previous value ended (see `next_search`).
        let mut at = 0;
        while at <= text.len()
            && let Some(captures) = rule.regex.captures_at(text.as_bytes(), at)
        {
            let whole = captures.get(0).unwrap();
            let value = captures.iter().skip(1).flatten().next().unwrap_or(whole);
            let (start, end) = (
                floor_boundary(text, value.start()),
                ceil_boundary(text, value.end()),
            );
            let context = floor_boundary(text, whole.start().min(start));
            if start != end
                && confirm(
                    rule.check,
                    &text[context..start],
                    &text[start..end],
                    following(text, end),
                )
            {
                found.push((start, end, rule));
            }
            at = next_search(whole.start(), whole.end(), value.end());
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let rank =
        |f: &(usize, usize, &Compiled)| (f.2.severity, !f.2.id.starts_with("generic-"), f.1 - f.0);
    let mut kept: Vec<(usize, usize, &Compiled)> = Vec::new();
    for finding in found {
        match kept.last_mut() {
            Some(last) if finding.0 < last.1 => {
                if rank(&finding) > rank(last) {
                    *last = finding;
                }
            }
            _ => kept.push(finding),
        }
    }
    kept.retain(|f| !line_of(text, f.0).contains(ALLOW_MARKER));
    kept.into_iter()
        .map(|(start, end, rule)| (start, end, rule.id.to_string()))
        .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
    /// Keyword gating, values read off matches and confirmation only of what would be
    /// kept change no finding: `scan` agrees with the plain reference on text with
    /// several planted values (overlapping ones included).
    #[test]
    fn scan_agrees_with_the_plain_reference(
        parts in proptest::collection::vec(
            (
                "[a-zA-Z0-9@._%+\\- \n:=\"'/]{0,40}",
                proptest::sample::select(
                    POSITIVES
                        .iter()
                        .map(|p| p.1)
                        .chain(REFUSED_BY_CHECKS.iter().copied())
                        .collect::<Vec<_>>(),
                ),
            ),
            1..6,
        ),
    ) {
        let detector = Detector::builtin();
        let text: String = parts.iter().map(|(noise, planted)| format!("{noise}{planted}")).collect();
        let scanned: Vec<(usize, usize, String)> = detector
            .scan_plain(&text)
            .into_iter()
            .map(|f| (f.start, f.end, f.rule.to_string()))
            .collect();
        proptest::prop_assert_eq!(scanned, reference_scan(&detector, &text), "{:?}", text);
    }
}

#[test]
fn a_quoted_value_is_read_off_a_match_that_ends_in_its_quote() {
    let tail =
        quoted_tail(r#"(?m)key\s*=\s*(?:["']([A-Za-z0-9=]{4,})["']|([A-Za-z0-9=]{4,})\s*$)"#)
            .expect("quoted alternative");
    assert_eq!(tail.value_of(b"key = 'ab=cd'", 0, 13), Some((7, 12)));
    assert_eq!(
        tail.value_of(b"key = ab=cd", 0, 11),
        None,
        "the bare alternative"
    );
    // The other alternative could end with a quote; the quote class overlaps the value;
    // an alternative may be empty; a group before the alternation.
    assert!(quoted_tail(r#"k=(?:"([a-z]+)"|([a-z"]+))"#).is_none());
    assert!(quoted_tail(r#"k=(?:"([a-z"]+)"|([a-z]+);)"#).is_none());
    assert!(quoted_tail(r#"k=(?:"([a-z]+)"|x*)"#).is_none());
    assert!(quoted_tail(r#"(k)=(?:"([a-z]+)"|([a-z]+);)"#).is_none());
    let detector = Detector::builtin();
    for id in ["generic-secret-assignment", "generic-password-assignment"] {
        let rule = detector.rules.iter().find(|r| &*r.id == id).unwrap();
        assert!(rule.quoted.is_some(), "{id}");
    }
}

#[test]
fn the_set_pass_uses_supersets_of_the_rules() {
    assert_eq!(
        relax_counts(r"\b(AKIA[0-9A-Z]{16})\b"),
        r"\b(AKIA[0-9A-Z]{16})\b"
    );
    assert_eq!(relax_counts(r"x\W{0,5}y{2,}z{1,3}"), r"x\W{0,}y{2,}z{1,}");
    assert_eq!(relax_counts(r"\{\{ é{2,9}"), r"\{\{ é{2,}");
    assert_eq!(
        relax_counts(r"a{b}c{,2}"),
        r"a{b}c{,2}",
        "not counts: unchanged"
    );
}
