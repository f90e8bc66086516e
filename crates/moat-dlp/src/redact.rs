//! Typed, stable placeholders: within one [`Redactor`] (one request), the same value
//! always becomes the same `[REDACTED:rule:xxxx]`, so a model can still reason about it,
//! and [`Redactor::restore`] puts the originals back where policy allows.

use crate::{Detector, Finding};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// Redacted text and what was taken out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub text: String,
    /// Redactions by rule id.
    pub counts: BTreeMap<String, u64>,
}

pub struct Redactor<'d> {
    detector: &'d Detector,
    key: [u8; 32],
    placeholders: HashMap<String, String>,
    originals: HashMap<String, String>,
}

impl<'d> Redactor<'d> {
    /// `key` keys the placeholder hashes; use a fresh random key per request so
    /// placeholders cannot be compared across requests.
    pub fn new(detector: &'d Detector, key: [u8; 32]) -> Redactor<'d> {
        Redactor {
            detector,
            key,
            placeholders: HashMap::new(),
            originals: HashMap::new(),
        }
    }

    pub fn detector(&self) -> &'d Detector {
        self.detector
    }

    pub fn redact(&mut self, text: &str) -> Redacted {
        let findings = self.detector.scan(text);
        self.apply(text, &findings)
    }

    /// Replaces the given findings (sorted, non-overlapping, within `text`).
    pub(crate) fn apply(&mut self, text: &str, findings: &[Finding]) -> Redacted {
        let mut out = String::with_capacity(text.len());
        let mut counts = BTreeMap::new();
        let mut at = 0;
        for finding in findings {
            out.push_str(&text[at..finding.start]);
            let placeholder = self.placeholder(&finding.rule, &text[finding.start..finding.end]);
            out.push_str(&placeholder);
            *counts.entry(finding.rule.to_string()).or_insert(0) += 1;
            at = finding.end;
        }
        out.push_str(&text[at..]);
        Redacted { text: out, counts }
    }

    /// Replaces the given findings of `text` (as [`Detector::scan`] returns them for
    /// the whole of `text`) so that every line stays where it was: a value that spans
    /// lines becomes its placeholder on each of them, and the text keeps its line count.
    /// This is the form for showing a cut of a file: detection ran on the whole file, so
    /// no window can start or end inside a value and show part of it, and line numbers
    /// still refer to the file.
    pub fn apply_keeping_lines(&mut self, text: &str, findings: &[Finding]) -> Redacted {
        let mut out = String::with_capacity(text.len());
        let mut counts = BTreeMap::new();
        let mut at = 0;
        for finding in findings {
            // Overlapping findings (which `scan` does not return) are merged, never
            // partly shown.
            let start = finding.start.max(at);
            let mut end = finding.end.min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            if end <= start {
                continue;
            }
            out.push_str(&text[at..start]);
            let value = &text[start..end];
            let placeholder = self.placeholder(&finding.rule, value);
            out.push_str(&placeholder);
            for _ in value.matches('\n') {
                out.push('\n');
                out.push_str(&placeholder);
            }
            *counts.entry(finding.rule.to_string()).or_insert(0) += 1;
            at = end;
        }
        out.push_str(&text[at..]);
        Redacted { text: out, counts }
    }

    /// Puts back every placeholder this redactor issued.
    pub fn restore(&self, text: &str) -> String {
        restore_with(&self.originals, text)
    }

    /// The placeholders issued and their values, to restore a response after the
    /// redactor (which borrows the detector) is gone.
    pub fn into_originals(self) -> Originals {
        Originals(self.originals)
    }

    fn placeholder(&mut self, rule: &str, value: &str) -> String {
        if let Some(existing) = self.placeholders.get(value) {
            return existing.clone();
        }
        let mut hasher = Sha256::new();
        hasher.update(self.key);
        hasher.update(value.as_bytes());
        let digest = hex::encode(hasher.finalize());
        // Four hex digits, more if two values of this request would collide.
        let mut length = 4;
        let placeholder = loop {
            let candidate = format!("[REDACTED:{rule}:{}]", &digest[..length]);
            if !self.originals.contains_key(&candidate) || length == digest.len() {
                break candidate;
            }
            length += 2;
        };
        self.placeholders
            .insert(value.to_string(), placeholder.clone());
        self.originals
            .insert(placeholder.clone(), value.to_string());
        placeholder
    }
}

/// Placeholders of one request and the values they stand for.
#[derive(Debug, Clone, Default)]
pub struct Originals(HashMap<String, String>);

/// The longest placeholder [`Originals::unfinished`] holds back for.
const MAX_PLACEHOLDER: usize = 160;

impl Originals {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds another redactor's values (a second pass over the same request).
    pub fn extend(&mut self, other: Originals) {
        self.0.extend(other.0);
    }

    /// `text` with every placeholder of this request replaced by its value.
    pub fn restore(&self, text: &str) -> String {
        restore_with(&self.0, text)
    }

    /// Where a placeholder that may continue in the next chunk of a stream begins: the
    /// byte offset of a trailing, unclosed `[REDACTED:...` (or of a trailing prefix of
    /// it such as `[RED`), if any. Text before it can be restored and sent now.
    pub fn unfinished(&self, text: &str) -> Option<usize> {
        const OPEN: &str = "[REDACTED:";
        if self.0.is_empty() {
            return None;
        }
        let start = text.rfind('[')?;
        let tail = &text[start..];
        let open = if tail.len() >= OPEN.len() {
            tail.starts_with(OPEN)
        } else {
            OPEN.starts_with(tail)
        };
        (open && !tail.contains(']') && tail.len() < MAX_PLACEHOLDER).then_some(start)
    }
}

fn restore_with(originals: &HashMap<String, String>, text: &str) -> String {
    if originals.is_empty() || !text.contains("[REDACTED:") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[REDACTED:") {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        match tail.find(']').map(|end| &tail[..=end]) {
            Some(placeholder) if originals.contains_key(placeholder) => {
                out.push_str(&originals[placeholder]);
                rest = &tail[placeholder.len()..];
            }
            _ => {
                out.push_str("[REDACTED:");
                rest = &tail["[REDACTED:".len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A keyed fingerprint of a value, for findings that must be recorded without the value.
pub fn fingerprint(key: &[u8], value: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(key);
    hasher.update(value.as_bytes());
    hex::encode(&hasher.finalize()[..16])
}
