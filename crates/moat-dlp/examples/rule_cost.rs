//! Which rules cost the most on a text, and what one RegexSet pass costs:
//! `cargo run --release -p moat-dlp --example rule_cost -- FILE...`
use moat_dlp::rules::RULES;
fn main() {
    let mut text = String::new();
    for path in std::env::args().skip(1) {
        text.push_str(&std::fs::read_to_string(path).unwrap());
    }
    let lower = text.to_ascii_lowercase();
    let mut costs = Vec::new();
    for rule in RULES {
        let enabled = rule.keywords.is_empty() || rule.keywords.iter().any(|k| lower.contains(k));
        let regex = regex::bytes::RegexBuilder::new(rule.pattern)
            .unicode(false)
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let n = regex.find_iter(text.as_bytes()).count();
        costs.push((started.elapsed(), rule.id, enabled, n));
    }
    time_set("all rules", RULES.iter().map(|r| r.pattern), &text);
    time_set(
        "keyword-less rules",
        RULES
            .iter()
            .filter(|r| r.keywords.is_empty())
            .map(|r| r.pattern),
        &text,
    );
    costs.sort();
    for (t, id, enabled, n) in costs.iter().rev().take(25) {
        println!("{:>10.2?} {:<32} enabled={} matches={}", t, id, enabled, n);
    }
}

/// Times one RegexSet pass (three runs: the first builds the lazy DFA).
fn time_set<'a>(name: &str, patterns: impl Iterator<Item = &'a str>, text: &str) {
    let set = regex::bytes::RegexSetBuilder::new(patterns)
        .unicode(false)
        .size_limit(64 << 20)
        .dfa_size_limit(64 << 20)
        .build()
        .unwrap();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let hits = set.matches(text.as_bytes());
        println!(
            "{name} set over {} bytes: {:?}, {} matched",
            text.len(),
            started.elapsed(),
            hits.iter().count()
        );
    }
}
