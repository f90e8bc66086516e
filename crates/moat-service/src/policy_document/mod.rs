//! The organisation's written AI coding-tool policy, generated from the configuration
//! Moat enforces, so the document and the system cannot drift apart.
//!
//! Every statement carries the configuration key it comes from (`tiers.confidential.require`,
//! `models[alias=sonnet].version`, ...) and the document names its policy version.
//! Where a statement describes a decision (which vendors may receive a tier's code),
//! it is computed by the function that makes that decision at the gateway
//! (`gateway::egress_refusal` over `gateway::from_config`), not restated. [`render`]
//! writes it as Markdown or HTML; [`diff`] compares two versions statement by
//! statement, in the same words.

mod classification;
mod diff;
mod governance;
mod pdf;
mod render;
mod sections;

pub use diff::{Change, diff};
pub use render::{Format, html_sections, render};

use serde::Serialize;

/// The policy as one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    /// `[org] name`.
    pub org: String,
    /// The policy version of the configuration it was generated from.
    pub policy_version: String,
    /// The published configuration version, when it was generated from one.
    pub config_version: Option<i64>,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    pub title: &'static str,
    pub statements: Vec<Statement>,
}

/// One sentence of the policy and the configuration key that makes it true.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub key: String,
    pub text: String,
}

/// Which configuration a document describes, and when: attestations past their
/// expiry at `now` count as missing, as they do at the gateway.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub config: &'a moat_config::Config,
    /// The organisation's own Cedar policies, when there are any.
    pub policies: Option<&'a str>,
    pub policy_version: &'a str,
    pub config_version: Option<i64>,
    pub now: moat_domain::UnixTime,
}

/// The policy `source` puts in force.
pub fn build(source: Source<'_>) -> Document {
    Document {
        org: source.config.org.name.clone(),
        policy_version: source.policy_version.to_string(),
        config_version: source.config_version,
        sections: sections::all(source.config, source.policies, source.now),
    }
}

/// What a long-running process keeps to write its policy when asked (the console):
/// the document is built at each reading, so an expiry takes effect in it as at the
/// gateway.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub config: std::sync::Arc<moat_config::Config>,
    pub policies: Option<String>,
    pub policy_version: String,
    pub config_version: Option<i64>,
}

impl Inputs {
    pub fn document(&self, now: moat_domain::UnixTime) -> Document {
        build(Source {
            config: &self.config,
            policies: self.policies.as_deref(),
            policy_version: &self.policy_version,
            config_version: self.config_version,
            now,
        })
    }
}

/// `a`, `a and b`, `a, b and c`; `none` when empty.
pub(crate) fn english_list<S: AsRef<str>>(items: &[S], none: &str) -> String {
    match items {
        [] => none.to_string(),
        [one] => one.as_ref().to_string(),
        [rest @ .., last] => format!(
            "{} and {}",
            rest.iter()
                .map(|s| s.as_ref())
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}

/// Each item in backticks, as names are written in the document.
pub(crate) fn quoted<S: AsRef<str>>(items: &[S]) -> Vec<String> {
    items.iter().map(|s| format!("`{}`", s.as_ref())).collect()
}

#[cfg(test)]
mod tests;
