//! `moat.toml`: policy as code, parsed into a validated [`Config`].
//!
//! Parsing happens in three passes over the same text: the TOML syntax with spans
//! (so any key can be placed on a line), serde into typed sections (unknown keys are
//! errors), then [`validate`]'s cross-key checks. Every failure becomes a [`Located`]
//! problem naming the file, line, key and what to write instead, and all of them are
//! reported at once. Secrets are only ever referenced (`*_env`, `*_file`); a value that
//! looks like a credential is refused wherever it is written.
//!
//! This crate reads no environment and opens no file except the one it is asked to load.

pub mod detect;
mod duration;
pub mod edit;
pub mod incidents;
mod locate;
mod model;
mod validate;

pub use detect::Detect;
pub use duration::Duration;
pub use incidents::{Incidents, Notify};
pub use locate::KeyPath;
pub use model::*;
pub use validate::{is_loopback, resolve};

use sha2::{Digest, Sha256};
use std::path::Path;

/// A problem placed in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Dotted key path, empty for a syntax error outside any key.
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

impl std::fmt::Display for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "`{}`: ", self.key)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {file}: {reason}; pass an existing file with --config")]
    Read { file: String, reason: String },
    #[error("{}", render(.0))]
    Invalid(Vec<Located>),
}

impl ConfigError {
    /// The problems found, empty for a read error.
    pub fn problems(&self) -> &[Located] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid(problems) => problems,
        }
    }
}

fn render(problems: &[Located]) -> String {
    let lines: Vec<String> = problems.iter().map(Located::to_string).collect();
    format!("invalid configuration:\n  {}", lines.join("\n  "))
}

/// Reads and validates the configuration at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let source = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        file: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse(&source, &path.display().to_string())
}

/// Sections that belong to one node, not to the organisation: a published
/// configuration never replaces them.
pub const NODE_SECTIONS: [&str; 2] = ["server", "store"];

/// A published configuration as this node applies it: `published` with the
/// [`NODE_SECTIONS`] of `local` (this node's own file) in their place, then parsed and
/// validated as a whole; `name` is used in messages.
pub fn for_this_node(published: &str, local: &str, name: &str) -> Result<Config, ConfigError> {
    let table = |text: &str, file: &str| {
        text.parse::<toml::Table>().map_err(|e| {
            ConfigError::Invalid(vec![Located {
                file: file.to_string(),
                line: 0,
                column: 0,
                key: String::new(),
                message: e.message().trim().to_string(),
                hint: Some("fix the TOML syntax".to_string()),
            }])
        })
    };
    let mut merged = table(published, name)?;
    let own = table(local, "this node's configuration")?;
    for section in NODE_SECTIONS {
        merged.remove(section);
        if let Some(value) = own.get(section) {
            merged.insert(section.to_string(), value.clone());
        }
    }
    let text = toml::to_string(&merged).map_err(|e| ConfigError::Read {
        file: name.to_string(),
        reason: e.to_string(),
    })?;
    parse(&text, name)
}

/// Parses and validates configuration text; `file` is only used in messages.
pub fn parse(source: &str, file: &str) -> Result<Config, ConfigError> {
    let place = |offset: usize, key: String, message: String, hint: Option<String>| {
        let (line, column) = locate::line_column(source, offset);
        Located {
            file: file.to_string(),
            line,
            column,
            key,
            message,
            hint,
        }
    };

    let document = toml::de::DeTable::parse(source).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        ConfigError::Invalid(vec![place(
            offset,
            String::new(),
            e.message().trim().to_string(),
            Some("fix the TOML syntax at this position".to_string()),
        )])
    })?;

    let values = locate::string_values(&document);
    let clear_secrets = validate::secrets_in_clear(&values);
    // Serde stops at the first problem; to report them all, each key it refuses is
    // blanked out (same byte length, so every offset still points into `source`) and
    // the text read again, until it reads or a problem cannot be set aside.
    let mut text = source.to_string();
    let mut typed = Vec::new();
    let config: Option<Config> = loop {
        let error = match toml::from_str::<Config>(&text) {
            Ok(config) => break Some(config),
            Err(error) => error,
        };
        let offset = error.span().map_or(0, |s| s.start);
        let key = locate::path_at(&document, offset);
        let (message, hint) = explain_serde_error(error.message().trim(), &key);
        let missing = message.starts_with("missing key");
        typed.push(place(offset, key.to_string(), message, hint));
        let span = locate::entry_span(&document, &key);
        match span {
            Some(span) if !missing && typed.len() < MAX_PROBLEMS => blank(&mut text, span),
            _ => break None,
        }
    };
    let config = match config {
        Some(config) if typed.is_empty() => config,
        _ => {
            let mut problems: Vec<Located> = clear_secrets
                .iter()
                .map(|p| {
                    place(
                        span_start(&document, &p.key),
                        p.key.to_string(),
                        p.message.clone(),
                        p.hint.clone(),
                    )
                })
                .collect();
            problems.extend(typed);
            problems.sort_by_key(|p| (p.line, p.column));
            problems.dedup();
            return Err(ConfigError::Invalid(problems));
        }
    };

    let problems: Vec<Located> = clear_secrets
        .into_iter()
        .chain(validate::check(&config))
        .map(|p| {
            place(
                span_start(&document, &p.key),
                p.key.to_string(),
                p.message,
                p.hint,
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// Most problems of the typed pass reported at once.
const MAX_PROBLEMS: usize = 64;

/// Replaces `span` of `text` with spaces, keeping line breaks (and so every offset).
fn blank(text: &mut String, span: std::ops::Range<usize>) {
    let mut bytes = std::mem::take(text).into_bytes();
    let end = span.end.min(bytes.len());
    for byte in &mut bytes[span.start.min(end)..end] {
        if *byte != b'\n' {
            *byte = b' ';
        }
    }
    // Whole characters are replaced byte by byte with ASCII spaces: still UTF-8.
    *text = String::from_utf8(bytes).unwrap_or_default();
}

fn span_start(document: &toml::Spanned<toml::de::DeTable<'_>>, key: &KeyPath) -> usize {
    locate::span_of(document, key).map_or(0, |s| s.start)
}

/// Turns serde's message into one that says what to write instead.
fn explain_serde_error(message: &str, key: &KeyPath) -> (String, Option<String>) {
    let leaf = key.to_string();
    let leaf = leaf.rsplit('.').next().unwrap_or_default().to_string();
    if message.starts_with("unknown field") {
        let secret_words = ["key", "token", "secret", "password", "credential"];
        if secret_words.iter().any(|w| leaf.contains(w))
            && !leaf.ends_with("_env")
            && !leaf.ends_with("_file")
        {
            return (
                "unknown key: secrets are never written in moat.toml".to_string(),
                Some(format!(
                    "reference the secret instead, e.g. `{leaf}_env = \"NAME_OF_ENV_VAR\"` or `{leaf}_file = \"/run/secrets/name\"` (see the section's documented keys)"
                )),
            );
        }
        return (
            message.replace("unknown field", "unknown key"),
            Some("remove the key or correct its spelling".to_string()),
        );
    }
    if message.starts_with("missing field") {
        return (
            message.replace("missing field", "missing key"),
            Some("add the key to this table".to_string()),
        );
    }
    (message.to_string(), None)
}

/// The hash of the policy-relevant configuration in force; every audit event records it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct PolicyVersion(pub String);

impl std::fmt::Display for PolicyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Config {
    /// SHA-256 over the sections that decide who may see and send what. Deployment
    /// details (listen address, store location, logging) do not change it.
    pub fn policy_version(&self) -> PolicyVersion {
        self.policy_version_with(None)
    }

    /// The policy version including the text of the organisation's Cedar policies
    /// (`[permissions] policies_file`), which the caller reads: this crate reads no
    /// file but the configuration. Without policies it equals [`Config::policy_version`].
    pub fn policy_version_with(&self, organisation_policies: Option<&str>) -> PolicyVersion {
        #[derive(serde::Serialize)]
        struct PolicyRelevant<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            organisation_policies: Option<&'a str>,
            org: &'a Org,
            identity: &'a Identity,
            audit_retention: (Duration, Duration),
            repos: &'a [Repo],
            permissions: &'a Permissions,
            tiers: [EffectiveTierPolicy; 4],
            vendors: &'a [Vendor],
            models: &'a [Model],
            training: &'a Training,
            dlp: &'a Dlp,
            // Only when set: a configuration without `[exceptions]` keeps the version
            // it had before the section existed.
            #[serde(skip_serializing_if = "Option::is_none")]
            exceptions: Option<&'a crate::model::Exceptions>,
        }
        use moat_domain::Tier;
        let relevant = PolicyRelevant {
            organisation_policies,
            org: &self.org,
            identity: &self.identity,
            audit_retention: (self.audit.retention, self.audit.body_retention),
            repos: &self.repos,
            permissions: &self.permissions,
            tiers: [
                Tier::Public,
                Tier::Internal,
                Tier::Confidential,
                Tier::Restricted,
            ]
            .map(|t| self.tiers.effective(t)),
            vendors: &self.vendors,
            models: &self.models,
            training: &self.training,
            dlp: &self.dlp,
            exceptions: (self.exceptions != crate::model::Exceptions::default())
                .then_some(&self.exceptions),
        };
        let canonical = serde_json::to_vec(&relevant).unwrap_or_default();
        PolicyVersion(format!(
            "sha256:{}",
            hex::encode(Sha256::digest(&canonical))
        ))
    }
}

#[cfg(test)]
mod tests;
