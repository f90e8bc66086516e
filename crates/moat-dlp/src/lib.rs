//! Secrets, personal data and health data: found, fingerprinted and redacted before any
//! of it leaves through Moat (index results, prompts to model vendors).
//!
//! [`Detector`] runs the built-in [`rules`] (and an organisation's own): a single
//! `RegexSet` pass finds which rules match at all, a keyword pre-filter (aho-corasick)
//! keeps those whose keywords are present, and only they run their capturing regexes,
//! so the cost stays linear in the input. Matches are confirmed by
//! checksums, entropy or placeholder checks ([`validate`]). [`Redactor`] replaces each
//! value with a typed, stable placeholder and can restore it; [`StreamRedactor`] does the
//! same over a stream of chunks, holding back only the longest match window.
//!
//! [`injection`] screens repository text for prompt injection before an AI tool reads it.
//!
//! This crate knows nothing of repositories, HTTP or storage.

mod decode;
pub mod describe;
mod engine;
pub mod injection;
pub mod normalize;
mod redact;
pub mod rules;
mod stream;
pub mod validate;

pub use engine::{CustomRule, Detector, DetectorConfig};
pub use redact::{Originals, Redacted, Redactor, fingerprint};
pub use stream::StreamRedactor;

/// What kind of sensitive data a rule finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Secret,
    Pii,
    Phi,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Pii => "pii",
            Kind::Phi => "phi",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// How a pattern match is confirmed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    /// Not a documented placeholder (`changeme`, `<YOUR_KEY>`, `EXAMPLE`...).
    NotPlaceholder,
    /// Not a placeholder, and at least this many bits of entropy per character.
    Entropy(f64),
    /// A value assigned to a generic name (`password`, `api_key`): [`Check::Entropy`],
    /// and not what such names also hold in ordinary code (a path, a URL, a type or
    /// variable name, a reference, a hash under a hash's name); see
    /// [`validate::assigned`].
    Assigned(f64),
    /// A JSON Web Token: its header decodes to a JSON object naming `alg` or `typ`.
    Jwt,
    /// A Discord bot token: its first part decodes to the bot's numeric id.
    DiscordBot,
    Card,
    Ssn,
    Itin,
    Npi,
    Dea,
    Iban,
    /// An address outside documentation domains (example.com, .test, .invalid).
    Email,
}

/// One sensitive value found: byte offsets of the value itself (not its context).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Shared with the compiled rule: cloning a finding allocates nothing.
    pub rule: std::sync::Arc<str>,
    pub kind: Kind,
    pub severity: Severity,
    pub start: usize,
    pub end: usize,
    /// Where the whole match began (`start` or before it): a rule that needs context
    /// before the value (`password = `, `postgres://user:`) found it from here, so
    /// text from here on must be read together for the value to be found again.
    pub context_start: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DlpError {
    #[error("rule `{rule}` has an invalid pattern: {reason}")]
    Pattern { rule: String, reason: String },
}
