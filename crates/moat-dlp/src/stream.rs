//! Redaction over a stream of chunks (a model's streamed response, a prompt read in
//! pieces). Text is released once no secret can still be completing in it: at least
//! the window is held back, and never the start of a match not yet released, so any
//! match (its context included) no longer than the window is redacted whole whatever
//! the chunking, and a match whose beginning already matches (a PEM block) is held
//! until it ends, up to [`MAX_HELD`].

use crate::Redactor;
use std::collections::BTreeMap;

/// The longest match, in bytes, that the streaming redactor guarantees to catch across
/// chunk boundaries (PEM private keys are the longest common secrets).
pub const DEFAULT_WINDOW: usize = 16 * 1024;

/// The most text held back behind a match that keeps growing (a PEM block without its
/// end line, say): past it, the held text is released redacted as it stands.
pub const MAX_HELD: usize = 256 * 1024;

pub struct StreamRedactor<'d> {
    redactor: Redactor<'d>,
    pending: String,
    window: usize,
    /// The held length at which to scan again: one more window's worth, not every
    /// chunk, so a long answer or a long match costs linear work, not quadratic.
    scan_at: usize,
    counts: BTreeMap<String, u64>,
}

impl<'d> StreamRedactor<'d> {
    pub fn new(redactor: Redactor<'d>) -> StreamRedactor<'d> {
        StreamRedactor::with_window(redactor, DEFAULT_WINDOW)
    }

    pub fn with_window(redactor: Redactor<'d>, window: usize) -> StreamRedactor<'d> {
        StreamRedactor {
            redactor,
            pending: String::new(),
            window,
            scan_at: 0,
            counts: BTreeMap::new(),
        }
    }

    /// Adds a chunk; returns the redacted text that can be released now.
    ///
    /// The text is scanned once another window's worth has come (so a long answer costs
    /// linear work) and released up to a window before its end, never past where a
    /// match that is not wholly released began: a value found only with the text before
    /// it (`password = "…"`) stays with that text. Past [`MAX_HELD`] the held text is
    /// released, redacted as it stands, all but the last window.
    pub fn push(&mut self, chunk: &str) -> String {
        self.pending.push_str(chunk);
        if self.pending.len() < self.window.saturating_mul(2).max(self.scan_at) {
            return String::new();
        }
        let cut = floor_char_boundary(&self.pending, self.pending.len() - self.window);
        let findings = self.redactor.detector().scan(&self.pending);
        let release = if self.pending.len() > MAX_HELD {
            // Too much held: release all but the last window, a match that spans the
            // cut going out whole (redacted) with what comes before it.
            let end = findings
                .iter()
                .filter(|f| f.context_start < cut && cut < f.end)
                .map(|f| f.end)
                .max()
                .unwrap_or(cut);
            self.pending.len().min(end.max(cut))
        } else {
            // Never past the start of a match not wholly released; a match that
            // begins inside an earlier one moves the point again, so settle it.
            let mut release = cut;
            loop {
                let before = release;
                for finding in &findings {
                    if finding.end > release {
                        release = release.min(finding.context_start);
                    }
                }
                if release == before {
                    break release;
                }
            }
        };
        let release = floor_char_boundary(&self.pending, release);
        let done: Vec<_> = findings.into_iter().filter(|f| f.end <= release).collect();
        let redacted = self.redactor.apply(&self.pending[..release], &done);
        self.pending.drain(..release);
        // Scan again once another window, or half as much again as is held, has come:
        // a long hold is rescanned a logarithmic number of times, not once per window.
        self.scan_at = self.pending.len() + self.window.max(self.pending.len() / 2);
        self.merge(redacted.counts);
        redacted.text
    }

    /// Releases everything held back.
    pub fn finish(&mut self) -> String {
        self.scan_at = 0;
        let rest = std::mem::take(&mut self.pending);
        let redacted = self.redactor.redact(&rest);
        self.merge(redacted.counts);
        redacted.text
    }

    /// Redactions so far, by rule.
    pub fn counts(&self) -> &BTreeMap<String, u64> {
        &self.counts
    }

    pub fn redactor(&self) -> &Redactor<'d> {
        &self.redactor
    }

    fn merge(&mut self, counts: BTreeMap<String, u64>) {
        for (rule, n) in counts {
            *self.counts.entry(rule).or_insert(0) += n;
        }
    }
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}
