//! The detector: keyword pre-filter, per-rule regexes, confirmation, overlap resolution.

use crate::rules::{RULES, RuleSpec};
use crate::validate;
use crate::{Check, DlpError, Finding, Kind, Severity};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

/// An organisation-defined rule (from `moat.toml`).
#[derive(Debug, Clone)]
pub struct CustomRule {
    pub id: String,
    pub kind: Kind,
    pub severity: Severity,
    pub keywords: Vec<String>,
    pub pattern: String,
}

#[derive(Debug, Clone, Default)]
pub struct DetectorConfig {
    pub custom_rules: Vec<CustomRule>,
    /// Rule ids not to run.
    pub disabled: Vec<String>,
}

struct Compiled {
    id: std::sync::Arc<str>,
    kind: Kind,
    severity: Severity,
    regex: Regex,
    check: Check,
}

/// Compiled rules; cheap to share, safe across threads.
///
/// A scan is up to three passes: one `RegexSet` pass over the text (a single lazy DFA
/// for every rule) says which rules match anywhere — for most text, none, and the scan
/// ends there; then the keyword pre-filter (aho-corasick) decides which of those rules
/// apply; only they run their own regex with captures and checks.
/// Patterns are compiled without Unicode classes (secrets are ASCII), which keeps every
/// pass on the DFA and linear in the input.
pub struct Detector {
    rules: Vec<Compiled>,
    /// All rules, in rule order, for the single matching pass.
    set: RegexSet,
    prefilter: AhoCorasick,
    /// For each pre-filter pattern, the rules it enables.
    keyword_rules: Vec<Vec<usize>>,
    /// Rules without keywords, which always run.
    always: Vec<usize>,
}

/// Text marking a line whose findings are accepted on purpose.
const ALLOW_MARKER: &str = "moat:allow";

impl Detector {
    /// The built-in rules only.
    pub fn builtin() -> Detector {
        // The built-in patterns are tested to compile; failure here is a build defect.
        Detector::new(&DetectorConfig::default()).expect("built-in DLP rules compile")
    }

    pub fn new(config: &DetectorConfig) -> Result<Detector, DlpError> {
        let mut specs: Vec<(String, Kind, Severity, Vec<String>, String, Check)> = RULES
            .iter()
            .filter(|r| !config.disabled.iter().any(|d| d == r.id))
            .map(|r: &RuleSpec| {
                (
                    r.id.to_string(),
                    r.kind,
                    r.severity,
                    r.keywords.iter().map(|k| k.to_string()).collect(),
                    r.pattern.to_string(),
                    r.check,
                )
            })
            .collect();
        for custom in &config.custom_rules {
            specs.push((
                custom.id.clone(),
                custom.kind,
                custom.severity,
                custom.keywords.iter().map(|k| k.to_lowercase()).collect(),
                custom.pattern.clone(),
                Check::NotPlaceholder,
            ));
        }
        let mut rules = Vec::with_capacity(specs.len());
        let mut keywords: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        for (index, (id, kind, severity, rule_keywords, pattern, check)) in
            specs.into_iter().enumerate()
        {
            let regex = RegexBuilder::new(&pattern)
                .unicode(false)
                .size_limit(8 << 20)
                .build()
                .map_err(|e| DlpError::Pattern {
                    rule: id.clone(),
                    reason: e.to_string(),
                })?;
            if rule_keywords.is_empty() {
                always.push(index);
            }
            for keyword in rule_keywords {
                match keywords.iter().position(|k| *k == keyword) {
                    Some(at) => keyword_rules[at].push(index),
                    None => {
                        keywords.push(keyword);
                        keyword_rules.push(vec![index]);
                    }
                }
            }
            rules.push(Compiled {
                id: id.into(),
                kind,
                severity,
                regex,
                check,
            });
        }
        let relaxed: Vec<String> = rules
            .iter()
            .map(|r: &Compiled| relax_counts(r.regex.as_str()))
            .collect();
        let set = RegexSetBuilder::new(&relaxed)
            .unicode(false)
            .size_limit(64 << 20)
            .dfa_size_limit(64 << 20)
            .build()
            .map_err(|e| DlpError::Pattern {
                rule: "all rules".into(),
                reason: e.to_string(),
            })?;
        let prefilter = AhoCorasickBuilder::new()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&keywords)
            .map_err(|e| DlpError::Pattern {
                rule: "keywords".into(),
                reason: e.to_string(),
            })?;
        Ok(Detector {
            rules,
            set,
            prefilter,
            keyword_rules,
            always,
        })
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Time of the two whole-text passes of [`Detector::scan`] over `text`, with the
    /// keyword hits and matched rules, for tuning (see `examples/scan_cost.rs`).
    pub fn profile(&self, text: &str) -> Vec<(&'static str, std::time::Duration, usize)> {
        let started = std::time::Instant::now();
        let keyword_hits = self.prefilter.find_overlapping_iter(text).count();
        let prefilter = started.elapsed();
        let started = std::time::Instant::now();
        let matched = self.set.matches(text.as_bytes()).iter().count();
        let set = started.elapsed();
        vec![
            ("keyword pre-filter (hits)", prefilter, keyword_hits),
            ("regex set (rules matched)", set, matched),
        ]
    }

    /// Every confirmed finding, by position, overlaps resolved in favour of the more
    /// severe (then longer) one. Lines marked `moat:allow` are skipped.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let bytes = text.as_bytes();
        // Most text holds nothing sensitive: one RegexSet pass says so, and nothing else
        // runs. Only when some rule matches does the keyword pass decide which of the
        // matched rules get their own (capturing) pass.
        let matched = self.set.matches(bytes);
        if !matched.matched_any() {
            return Vec::new();
        }
        let mut enabled = vec![false; self.rules.len()];
        for index in &self.always {
            enabled[*index] = true;
        }
        for m in self.prefilter.find_overlapping_iter(text) {
            for index in &self.keyword_rules[m.pattern().as_usize()] {
                enabled[*index] = true;
            }
        }
        let mut found = Vec::new();
        for index in matched.iter() {
            if !enabled[index] {
                continue;
            }
            let rule = &self.rules[index];
            // The meta engine finds each match with its DFA, then resolves groups only
            // within the match span.
            for captures in rule.regex.captures_iter(bytes) {
                // The value is the first capture group that took part, else the match.
                let Some(value) = captures
                    .iter()
                    .skip(1)
                    .flatten()
                    .next()
                    .or_else(|| captures.get(0))
                else {
                    continue;
                };
                let (start, end) = (
                    floor_boundary(text, value.start()),
                    ceil_boundary(text, value.end()),
                );
                if start == end || !confirm(rule.check, &text[start..end]) {
                    continue;
                }
                found.push(Finding {
                    rule: rule.id.clone(),
                    kind: rule.kind,
                    severity: rule.severity,
                    start,
                    end,
                });
            }
        }
        let mut resolved = resolve_overlaps(found);
        if text.contains(ALLOW_MARKER) {
            resolved.retain(|f| !line_of(text, f.start).contains(ALLOW_MARKER));
        }
        resolved
    }
}

fn confirm(check: Check, value: &str) -> bool {
    match check {
        Check::NotPlaceholder => !validate::is_placeholder(value),
        Check::Entropy(min) => !validate::is_placeholder(value) && validate::entropy(value) >= min,
        Check::Card => validate::payment_card(value),
        Check::Ssn => validate::ssn(value),
        Check::Itin => validate::itin(value),
        Check::Npi => validate::npi(value),
        Check::Dea => validate::dea(value),
        Check::Iban => validate::iban(value),
        Check::Email => {
            let domain = value
                .rsplit('@')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let documentation = ["example.com", "example.org", "example.net", "localhost"];
            !documentation
                .iter()
                .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
                && !domain.ends_with(".test")
                && !domain.ends_with(".invalid")
                && !domain.ends_with(".example")
        }
    }
}

/// Keeps, of overlapping findings, the most severe, then a specific rule over a generic
/// one, then the longest. A sweep by
/// position: O(n log n) however many findings a hostile input produces.
fn resolve_overlaps(mut found: Vec<Finding>) -> Vec<Finding> {
    found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut kept: Vec<Finding> = Vec::with_capacity(found.len());
    for finding in found {
        match kept.last_mut() {
            Some(last) if finding.start < last.end => {
                let rank =
                    |f: &Finding| (f.severity, !f.rule.starts_with("generic-"), f.end - f.start);
                let better = rank(&finding) > rank(last);
                if better {
                    *last = finding;
                }
            }
            _ => kept.push(finding),
        }
    }
    kept
}

/// The set pass only decides which rules may match, so it can use a superset of each
/// pattern: bounded repetitions lose their upper bound. Those bounds are what make a
/// DFA's states multiply on random base64; the rule's own regex, run next, still checks
/// them exactly.
fn relax_counts(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            // Keep escapes as they are (`\{` is a literal brace).
            out.push(c);
            if let Some((_, escaped)) = chars.next() {
                out.push(escaped);
            }
            continue;
        }
        if c == '{'
            && let Some(len) = pattern[i + 1..].find('}')
        {
            let inside = &pattern[i + 1..i + 1 + len];
            // Only bounded ranges are relaxed (`{16,256}` becomes `{16,}`): upper bounds are
            // what multiply states; exact counts and minimums are kept, so the set stays
            // nearly as selective as the rules.
            if let Some((min, max)) = inside.split_once(',')
                && let (Ok(min), Ok(_)) = (min.parse::<u32>(), max.parse::<u32>())
            {
                out.push_str(&format!("{{{min},}}"));
                for _ in 0..=len {
                    chars.next();
                }
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Byte patterns may stop inside a multi-byte character; findings cover whole ones.
fn floor_boundary(text: &str, mut at: usize) -> usize {
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_boundary(text: &str, mut at: usize) -> usize {
    while at < text.len() && !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

fn line_of(text: &str, offset: usize) -> &str {
    let start = text[..offset].rfind('\n').map_or(0, |p| p + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |p| offset + p);
    &text[start..end]
}

#[cfg(test)]
mod tests;
