//! The text of a file as a person may be shown it: secrets found on the **whole** blob,
//! replaced so that every line keeps its number, and only then cut to the lines asked
//! for. Redacting a cut instead would let a window that starts or ends inside a
//! multi-line value (a private key whose BEGIN line lies above the window) show the
//! rest of it in clear.
//!
//! Findings are cached per blob id (a blob's bytes never change), so a file scanned once
//! costs nothing more for the next window, snippet or body cut from it. Placeholders are
//! still made per request by the caller's `Redactor`, so they cannot be compared across
//! requests.

use moat_dlp::{Detector, Finding, Redactor};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Blobs whose findings are remembered; past this the oldest are forgotten.
const CACHED_BLOBS: usize = 20_000;

/// Findings of the detector on whole blobs, by blob id.
#[derive(Default)]
pub struct FindingsCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    findings: HashMap<String, Arc<Vec<Finding>>>,
    order: VecDeque<String>,
}

impl FindingsCache {
    pub fn new() -> FindingsCache {
        FindingsCache::default()
    }

    /// The findings of `detector` on `text`, the content of blob `blob`.
    pub fn findings(&self, blob: &str, text: &str, detector: &Detector) -> Arc<Vec<Finding>> {
        if let Ok(inner) = self.inner.lock()
            && let Some(found) = inner.findings.get(blob)
        {
            return found.clone();
        }
        // Scanned outside the lock: other requests are not held up by a large file.
        let found = Arc::new(detector.scan(text));
        if let Ok(mut inner) = self.inner.lock()
            && !inner.findings.contains_key(blob)
        {
            if inner.order.len() >= CACHED_BLOBS
                && let Some(oldest) = inner.order.pop_front()
            {
                inner.findings.remove(&oldest);
            }
            inner.order.push_back(blob.to_string());
            inner.findings.insert(blob.to_string(), found.clone());
        }
        found
    }
}

/// A whole file with its secrets replaced line for line, and which lines each
/// replacement touched (to count only what a window shows).
pub struct ShownText {
    pub text: String,
    /// `(rule, first line, last line)` of each replaced value, 1-based.
    replaced: Vec<(String, u32, u32)>,
}

impl ShownText {
    /// Redacts the whole of `text` given its `findings` (from [`FindingsCache`]).
    pub fn redact(text: &str, findings: &[Finding], redactor: &mut Redactor<'_>) -> ShownText {
        let redacted = redactor.apply_keeping_lines(text, findings);
        let mut replaced = Vec::with_capacity(findings.len());
        let mut line = 1u32;
        let mut at = 0usize;
        for finding in findings {
            let start = finding.start.min(text.len());
            if start < at {
                continue;
            }
            line += text.as_bytes()[at..start]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u32;
            let end = finding.end.min(text.len()).max(start);
            let last = line
                + text.as_bytes()[start..end]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count() as u32;
            replaced.push((finding.rule.to_string(), line, last));
            line = last;
            at = end;
        }
        ShownText {
            text: redacted.text,
            replaced,
        }
    }

    /// Lines `start..=end` (1-based, inclusive) and the redactions they show, by rule.
    pub fn cut(&self, start: u32, end: u32) -> (String, BTreeMap<String, u64>) {
        let start = start.max(1);
        let end = end.max(start);
        let selected: Vec<&str> = self
            .text
            .lines()
            .skip(start as usize - 1)
            .take((end - start + 1) as usize)
            .collect();
        let mut counts = BTreeMap::new();
        for (rule, first, last) in &self.replaced {
            if *first <= end && *last >= start {
                *counts.entry(rule.clone()).or_insert(0) += 1;
            }
        }
        (selected.join("\n"), counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAvR7x2Kq9Lm4Np8Qs1Tv6Wy3Za0Bc5De7Fg2Hj\nq9Lm4Np8Qs1Tv6Wy3Za0Bc5De7Fg2HjR7x2KMIIEowIBAAKCAQEAv\n-----END RSA PRIVATE KEY-----";

    #[test]
    fn a_window_inside_a_multi_line_value_shows_only_its_placeholder() {
        let detector = Detector::builtin();
        let mut text = String::new();
        for n in 1..=9 {
            text.push_str(&format!("line {n}\n"));
        }
        text.push_str(KEY);
        text.push_str("\nline 14\n");
        let findings = detector.scan(&text);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let mut redactor = Redactor::new(&detector, [3; 32]);
        let shown = ShownText::redact(&text, &findings, &mut redactor);
        assert_eq!(shown.text.lines().count(), text.lines().count());
        let (window, counts) = shown.cut(11, 12);
        assert!(
            !window.contains("MIIE") && !window.contains("q9Lm"),
            "{window}"
        );
        assert!(
            window
                .lines()
                .all(|l| l.starts_with("[REDACTED:private-key-rsa:"))
        );
        assert_eq!(counts.get("private-key-rsa"), Some(&1));
        let (after, counts) = shown.cut(14, 14);
        assert_eq!(after, "line 14");
        assert!(counts.is_empty());
        let (before, _) = shown.cut(9, 10);
        assert!(before.starts_with("line 9\n[REDACTED:private-key-rsa:"));
    }

    #[test]
    fn findings_are_scanned_once_per_blob() {
        let detector = Detector::builtin();
        let cache = FindingsCache::new();
        let first = cache.findings("b1", KEY, &detector);
        // Same blob id: the cached findings, whatever text is passed.
        let second = cache.findings("b1", "nothing here", &detector);
        assert!(Arc::ptr_eq(&first, &second));
        assert!(cache.findings("b2", "nothing here", &detector).is_empty());
    }
}
