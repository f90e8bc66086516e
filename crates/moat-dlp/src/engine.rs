//! The detector: keyword pre-filter, per-rule regexes, confirmation, overlap resolution.

use crate::rules::{RULES, RuleSpec};
use crate::validate;
use crate::{Check, DlpError, Finding, Kind, Severity};
use crate::{decode, normalize};
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
    /// Where the value sits in a match when that is known without resolving groups
    /// (see [`value_span`]); `None`: the first capture group that took part.
    span: Option<ValueSpan>,
    /// For a rule whose pattern ends in alternatives, one of them a quoted value
    /// (`"([..]{16,256})"`): how to read that value off a match that ends in its
    /// closing quote (see [`quoted_tail`]).
    quoted: Option<QuotedTail>,
    /// A catch-all rule (`generic-...`): a specific rule wins an overlap against it.
    generic: bool,
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
                generic: id.starts_with("generic-"),
                id: id.into(),
                kind,
                severity,
                span: value_span(&pattern),
                quoted: quoted_tail(&pattern),
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

    /// Every rule this detector runs, explained (built-in and the organisation's own).
    pub fn rule_docs(&self) -> Vec<crate::describe::RuleDoc> {
        self.rules
            .iter()
            .map(|r| {
                crate::describe::builtin(&r.id)
                    .unwrap_or_else(|| crate::describe::explain(&r.id, r.kind, r.severity, None))
            })
            .collect()
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
    ///
    /// The rules read the text as a reader sees it ([`normalize`]: invisible characters
    /// dropped, look-alikes as ASCII) and what its base64 and hex runs decode to
    /// ([`decode`]); findings are spans of `text` as given.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let Some(folded) = normalize::fold(text) else {
            return self.scan_decoding(text);
        };
        self.scan_decoding(&folded.text)
            .into_iter()
            .map(|finding| {
                let (start, end) = folded.original_span(finding.start, finding.end);
                let context_start = if finding.context_start < finding.start {
                    folded
                        .original_span(finding.context_start, finding.context_start + 1)
                        .0
                } else {
                    start
                };
                Finding {
                    start,
                    end,
                    context_start: context_start.min(start),
                    ..finding
                }
            })
            .collect()
    }

    /// [`Detector::scan_plain`], and each run that decodes to text holding a finding is
    /// one finding (of its most severe rule); overlaps are merged, never cut.
    fn scan_decoding(&self, text: &str) -> Vec<Finding> {
        let mut findings = self.scan_plain(text);
        let mut inside: Vec<Finding> = Vec::new();
        let mut buffer = Vec::new();
        for (start, end) in decode::runs(text.as_bytes()) {
            for (start, end, decoded) in decode::decoded(text, start, end, &mut buffer) {
                let decoded = normalize::fold_text(&decoded);
                let worst = self
                    .scan_plain(&decoded)
                    .into_iter()
                    .max_by_key(|f| f.severity);
                if let Some(worst) = worst {
                    inside.push(Finding {
                        start,
                        end,
                        context_start: start,
                        ..worst
                    });
                }
            }
        }
        if inside.is_empty() {
            return findings;
        }
        if text.contains(ALLOW_MARKER) {
            inside.retain(|f| !line_of(text, f.start).contains(ALLOW_MARKER));
        }
        findings.extend(inside);
        findings.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        let mut merged: Vec<Finding> = Vec::with_capacity(findings.len());
        for finding in findings {
            match merged.last_mut() {
                Some(last) if finding.start < last.end => {
                    last.end = last.end.max(finding.end);
                    last.context_start = last.context_start.min(finding.context_start);
                    if finding.severity > last.severity {
                        last.rule = finding.rule;
                        last.kind = finding.kind;
                        last.severity = finding.severity;
                    }
                }
                _ => merged.push(finding),
            }
        }
        merged
    }

    /// The rules over `text` as it is.
    pub(crate) fn scan_plain(&self, text: &str) -> Vec<Finding> {
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
        // Matched rules still waiting for one of their keywords. The keyword pass ends
        // as soon as there are none: with dense findings that is within the first
        // lines, instead of a walk over every keyword hit of the text.
        let mut pending = matched.iter().filter(|index| !enabled[*index]).count();
        if pending > 0 {
            'keywords: for m in self.prefilter.find_overlapping_iter(text) {
                for index in &self.keyword_rules[m.pattern().as_usize()] {
                    if !enabled[*index] && matched.matched(*index) {
                        pending -= 1;
                        if pending == 0 {
                            enabled[*index] = true;
                            break 'keywords;
                        }
                    }
                    enabled[*index] = true;
                }
            }
        }
        // Candidates first (value spans only); each is confirmed only if it would be
        // kept, see `resolve_overlaps`.
        let mut found: Vec<Candidate> = Vec::new();
        for index in matched.iter() {
            if !enabled[index] {
                continue;
            }
            let rule = &self.rules[index];
            let mut push = |context: usize, start: usize, end: usize| {
                let (start, end) = (floor_boundary(text, start), ceil_boundary(text, end));
                if start != end {
                    found.push(Candidate {
                        start,
                        end,
                        context_start: floor_boundary(text, context.min(start)),
                        rule: index as u32,
                    });
                }
            };
            // The next search starts where the value ended, not where the match did: a
            // match may take the character after its value (`(?:[^A-Za-z0-9]|$)`) that
            // is also the character before the next value.
            if let Some(span) = &rule.span {
                let mut at = 0;
                while at <= bytes.len()
                    && let Some(m) = rule.regex.find_at(bytes, at)
                {
                    let (start, end) = span.value_of(bytes, m.start(), m.end());
                    push(m.start(), start, end);
                    at = next_search(m.start(), m.end(), end);
                }
                continue;
            }
            // The meta engine finds each match with its DFA, then resolves groups only
            // within the match span; one set of locations serves every match.
            let mut locations = rule.regex.capture_locations();
            let mut at = 0;
            while at <= bytes.len() {
                if let Some(quoted) = &rule.quoted {
                    let Some(m) = rule.regex.find_at(bytes, at) else {
                        break;
                    };
                    if let Some((start, end)) = quoted.value_of(bytes, m.start(), m.end()) {
                        push(m.start(), start, end);
                        at = m.end();
                        continue;
                    }
                    // Another alternative matched: resolve its groups from the same
                    // start, which finds the same match.
                    at = m.start();
                }
                let Some(m) = rule.regex.captures_read_at(&mut locations, bytes, at) else {
                    break;
                };
                // The value is the first capture group that took part, else the match.
                let (start, end) = (1..locations.len())
                    .find_map(|group| locations.get(group))
                    .unwrap_or((m.start(), m.end()));
                push(m.start(), start, end);
                at = next_search(m.start(), m.end(), end);
            }
        }
        let mut resolved: Vec<Finding> = self
            .resolve_overlaps(text, found)
            .into_iter()
            .map(|c| {
                let rule = &self.rules[c.rule as usize];
                Finding {
                    rule: rule.id.clone(),
                    kind: rule.kind,
                    severity: rule.severity,
                    start: c.start,
                    end: c.end,
                    context_start: c.context_start,
                }
            })
            .collect();
        if text.contains(ALLOW_MARKER) {
            resolved.retain(|f| !line_of(text, f.start).contains(ALLOW_MARKER));
        }
        resolved
    }
}

/// How to find a rule's value (its only capture group) in a match without resolving
/// groups, which costs more than finding the match. The group may be preceded by a
/// byte from `lead` and followed by one from `trail`, standing in for look-behind and
/// look-ahead (`(?:^|[^\d-])(\d{3}-...)(?:[^\d-]|$)`); those classes share no byte
/// with the value's first and last bytes, so the match's first and last bytes say
/// whether they are there.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValueSpan {
    lead: Option<regex_syntax::hir::ClassBytes>,
    trail: Option<regex_syntax::hir::ClassBytes>,
}

impl ValueSpan {
    fn value_of(&self, text: &[u8], start: usize, end: usize) -> (usize, usize) {
        let has = |class: &Option<regex_syntax::hir::ClassBytes>, at: usize| {
            class
                .as_ref()
                .is_some_and(|class| has_byte(class, text[at]))
        };
        let mut value = (start, end);
        if value.0 < value.1 && has(&self.lead, value.0) {
            value.0 += 1;
        }
        if value.0 < value.1 && has(&self.trail, value.1 - 1) {
            value.1 -= 1;
        }
        value
    }
}

/// The [`ValueSpan`] of `pattern`, when it is a concatenation of: optional zero-width
/// assertions or an alternation of assertions and one single-byte class (`lead`); the
/// only capture group; the same on the other side (`trail`). `\b(ghp_...)\b` gives
/// neither class: the value is the whole match.
pub(crate) fn value_span(pattern: &str) -> Option<ValueSpan> {
    use regex_syntax::hir::{Hir, HirKind};
    let hir = parse(pattern)?;
    if hir.properties().explicit_captures_len() != 1 {
        return None;
    }
    let parts: Vec<&Hir> = match hir.kind() {
        HirKind::Concat(parts) => parts.iter().collect(),
        _ => vec![&hir],
    };
    let at = parts
        .iter()
        .position(|part| matches!(part.kind(), HirKind::Capture(c) if c.index == 1))?;
    let HirKind::Capture(group) = parts[at].kind() else {
        return None;
    };
    let side = |side: &[&Hir], edge: Option<regex_syntax::hir::ClassBytes>| {
        let mut class = None;
        for part in side {
            match part.kind() {
                HirKind::Look(_) => {}
                HirKind::Alternation(branches) if class.is_none() => {
                    for branch in branches {
                        match branch.kind() {
                            HirKind::Look(_) => {}
                            HirKind::Class(regex_syntax::hir::Class::Bytes(c))
                                if class.is_none() =>
                            {
                                class = Some(c.clone())
                            }
                            _ => return Err(()),
                        }
                    }
                }
                _ => return Err(()),
            }
        }
        // The class must share no byte with the value's edge, or a match would not
        // say which way it went.
        match (&class, edge) {
            (None, _) => Ok(None),
            (Some(c), Some(edge)) if disjoint(c, &edge) => Ok(class),
            (Some(_), Some(_)) => Err(()),
            (Some(_), None) => Err(()),
        }
    };
    let lead = side(&parts[..at], edge_bytes(&group.sub, true)).ok()?;
    let trail = side(&parts[at + 1..], edge_bytes(&group.sub, false)).ok()?;
    Some(ValueSpan { lead, trail })
}

/// The bytes a non-empty match of `hir` can begin (`first`) or end with, when simple
/// to tell; `None` when not (or when it may match the empty string).
fn edge_bytes(hir: &regex_syntax::hir::Hir, first: bool) -> Option<regex_syntax::hir::ClassBytes> {
    use regex_syntax::hir::{Class, ClassBytes, ClassBytesRange, HirKind};
    match hir.kind() {
        HirKind::Literal(literal) => {
            let byte = if first {
                *literal.0.first()?
            } else {
                *literal.0.last()?
            };
            Some(ClassBytes::new([ClassBytesRange::new(byte, byte)]))
        }
        HirKind::Class(Class::Bytes(class)) => Some(class.clone()),
        HirKind::Repetition(repetition) if repetition.min >= 1 => {
            edge_bytes(&repetition.sub, first)
        }
        HirKind::Capture(capture) => edge_bytes(&capture.sub, first),
        HirKind::Concat(parts) => {
            let part = if first { parts.first()? } else { parts.last()? };
            edge_bytes(part, first)
        }
        HirKind::Alternation(branches) => {
            let mut all = ClassBytes::empty();
            for branch in branches {
                all.union(&edge_bytes(branch, first)?);
            }
            Some(all)
        }
        _ => None,
    }
}

/// A quoted value at the end of a rule's pattern: `open`, one or more `value` bytes,
/// `close`, where neither quote class shares a byte with `value` and no other
/// alternative can end with a `close` byte. A match that ends with a `close` byte took
/// this alternative, and its value is the run of `value` bytes before that byte.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QuotedTail {
    value: regex_syntax::hir::ClassBytes,
    close: regex_syntax::hir::ClassBytes,
}

impl QuotedTail {
    /// The value's span, when the match ends in the quoted alternative.
    fn value_of(&self, text: &[u8], start: usize, end: usize) -> Option<(usize, usize)> {
        if end <= start || !has_byte(&self.close, text[end - 1]) {
            return None;
        }
        let value_end = end - 1;
        let mut value_start = value_end;
        while value_start > start && has_byte(&self.value, text[value_start - 1]) {
            value_start -= 1;
        }
        (value_start < value_end).then_some((value_start, value_end))
    }
}

/// A rule's pattern as the analyses below read it: bytes, no Unicode classes, as the
/// rule's own regex is compiled.
fn parse(pattern: &str) -> Option<regex_syntax::hir::Hir> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()
}

/// No byte is in both classes.
fn disjoint(a: &regex_syntax::hir::ClassBytes, b: &regex_syntax::hir::ClassBytes) -> bool {
    let mut both = a.clone();
    both.intersect(b);
    both.ranges().is_empty()
}

fn has_byte(class: &regex_syntax::hir::ClassBytes, byte: u8) -> bool {
    class
        .ranges()
        .iter()
        .any(|r| (r.start()..=r.end()).contains(&byte))
}

/// The [`QuotedTail`] of `pattern`: its last consuming part (assertions after it are
/// fine) is an alternation with a branch `[open](value+)[close]`, that branch's group
/// is the only one in it, and nothing before the alternation has a group (so the
/// quoted value is the first group that takes part).
pub(crate) fn quoted_tail(pattern: &str) -> Option<QuotedTail> {
    use regex_syntax::hir::{Class, HirKind};
    let hir = parse(pattern)?;
    let HirKind::Concat(parts) = hir.kind() else {
        return None;
    };
    let last = parts
        .iter()
        .rposition(|part| !matches!(part.kind(), HirKind::Look(_)))?;
    if parts[..last]
        .iter()
        .any(|part| part.properties().explicit_captures_len() > 0)
    {
        return None;
    }
    let HirKind::Alternation(branches) = parts[last].kind() else {
        return None;
    };
    let quoted = |branch: &regex_syntax::hir::Hir| {
        let HirKind::Concat(inner) = branch.kind() else {
            return None;
        };
        let [open, group, close] = inner.as_slice() else {
            return None;
        };
        let (HirKind::Class(Class::Bytes(open)), HirKind::Class(Class::Bytes(close))) =
            (open.kind(), close.kind())
        else {
            return None;
        };
        let HirKind::Capture(group) = group.kind() else {
            return None;
        };
        let HirKind::Repetition(repetition) = group.sub.kind() else {
            return None;
        };
        let HirKind::Class(Class::Bytes(value)) = repetition.sub.kind() else {
            return None;
        };
        (repetition.min >= 1 && disjoint(open, value) && disjoint(close, value)).then(|| {
            QuotedTail {
                value: value.clone(),
                close: close.clone(),
            }
        })
    };
    let at = branches.iter().position(|b| quoted(b).is_some())?;
    let tail = quoted(&branches[at])?;
    for (n, other) in branches.iter().enumerate() {
        if n == at {
            continue;
        }
        // A branch that may match nothing would leave the match ending before it.
        if other.properties().minimum_len().unwrap_or(0) == 0 {
            return None;
        }
        if !disjoint(&last_bytes(other)?, &tail.close) {
            return None;
        }
    }
    Some(tail)
}

/// Every byte a match of `hir` can end with (empty when it matches only the empty
/// string), or `None` when that is not simple to tell.
fn last_bytes(hir: &regex_syntax::hir::Hir) -> Option<regex_syntax::hir::ClassBytes> {
    use regex_syntax::hir::{Class, ClassBytes, ClassBytesRange, HirKind};
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(ClassBytes::empty()),
        HirKind::Literal(literal) => {
            let byte = *literal.0.last()?;
            Some(ClassBytes::new([ClassBytesRange::new(byte, byte)]))
        }
        HirKind::Class(Class::Bytes(class)) => Some(class.clone()),
        HirKind::Class(Class::Unicode(_)) => None,
        HirKind::Repetition(repetition) => last_bytes(&repetition.sub),
        HirKind::Capture(capture) => last_bytes(&capture.sub),
        HirKind::Concat(parts) => {
            // From the end: parts that may match nothing add their bytes and let the
            // one before them end the match too. If every part may match nothing, so
            // may the whole: a concatenation around it reads on past it the same way.
            let mut all = ClassBytes::empty();
            for part in parts.iter().rev() {
                all.union(&last_bytes(part)?);
                if part.properties().minimum_len().unwrap_or(0) > 0 {
                    break;
                }
            }
            Some(all)
        }
        HirKind::Alternation(branches) => {
            let mut all = ClassBytes::empty();
            for branch in branches {
                all.union(&last_bytes(branch)?);
            }
            Some(all)
        }
    }
}

/// A rule's match before confirmation: the value's span and the rule's index.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    start: usize,
    end: usize,
    /// Where the match began (see `Finding::context_start`).
    context_start: usize,
    rule: u32,
}

impl Detector {
    /// How a finding ranks against one it overlaps: the most severe, then a specific
    /// rule over a generic one, then the longest.
    fn rank(&self, c: &Candidate) -> (Severity, bool, usize) {
        let rule = &self.rules[c.rule as usize];
        (rule.severity, !rule.generic, c.end - c.start)
    }

    /// Keeps, of overlapping confirmed candidates, the best ranked: a sweep by position,
    /// O(n log n) however many findings a hostile input produces. A candidate is
    /// confirmed (checksums, entropy, placeholders) only when it would be kept, which
    /// gives the same answer as confirming all of them first: one that would lose is
    /// dropped either way. Among candidates with the same span the best ranked comes
    /// first, so the others lose without being confirmed.
    fn resolve_overlaps(&self, text: &str, mut found: Vec<Candidate>) -> Vec<Candidate> {
        found.sort_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then(b.end.cmp(&a.end))
                .then_with(|| self.rank(b).cmp(&self.rank(a)))
        });
        let confirmed = |c: &Candidate| {
            confirm(
                self.rules[c.rule as usize].check,
                &text[c.context_start..c.start],
                &text[c.start..c.end],
                following(text, c.end),
            )
        };
        let mut kept: Vec<Candidate> = Vec::with_capacity(found.len());
        for candidate in found {
            match kept.last_mut() {
                Some(last) if candidate.start < last.end => {
                    if self.rank(&candidate) > self.rank(last) && confirmed(&candidate) {
                        *last = candidate;
                    }
                }
                _ => {
                    if confirmed(&candidate) {
                        kept.push(candidate);
                    }
                }
            }
        }
        kept
    }
}

/// Up to 64 bytes of `text` after `end`, cut at a character boundary.
pub(crate) fn following(text: &str, end: usize) -> &str {
    &text[end..floor_boundary(text, (end + 64).min(text.len()))]
}

/// Whether a candidate is a finding: `context` is the text its match took before the
/// value (a name and how it is assigned, for the rules that key on one), `after` what
/// follows it.
fn confirm(check: Check, context: &str, value: &str, after: &str) -> bool {
    match check {
        Check::NotPlaceholder => !validate::is_placeholder(value),
        Check::Entropy(min) => !validate::is_placeholder(value) && validate::entropy(value) >= min,
        Check::Assigned(min) => validate::assigned(context, value, after, min),
        Check::Jwt => validate::jwt(value) && !validate::is_placeholder(value),
        Check::DiscordBot => validate::discord_bot_token(value),
        Check::Card => validate::payment_card(value),
        Check::Ssn => validate::ssn(value),
        Check::Itin => validate::itin(value),
        Check::Npi => validate::npi(value),
        Check::Dea => validate::dea(value),
        Check::Iban => validate::iban(value),
        Check::Email => {
            let domain = value.rsplit('@').next().unwrap_or_default().as_bytes();
            // The domain is `reserved` or a subdomain of it, in any case.
            let under = |reserved: &str| {
                domain.len() >= reserved.len()
                    && domain[domain.len() - reserved.len()..]
                        .eq_ignore_ascii_case(reserved.as_bytes())
                    && (domain.len() == reserved.len()
                        || domain[domain.len() - reserved.len() - 1] == b'.')
            };
            let documentation = ["example.com", "example.org", "example.net", "localhost"];
            !documentation.iter().any(|d| under(d))
                && !["test", "invalid", "example"]
                    .iter()
                    .any(|tld| under(tld) && domain.len() > tld.len())
        }
    }
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

/// Where to look for a rule's next match after one at `start..end` whose value ended at
/// `value_end`: there, so that a character the match took after its value can begin the
/// next one; an empty match moves on by one byte, as `find_iter` does.
fn next_search(start: usize, end: usize, value_end: usize) -> usize {
    if value_end > start {
        value_end
    } else if end > start {
        end
    } else {
        end + 1
    }
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
