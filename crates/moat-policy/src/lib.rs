//! Who may reach which repository, and how much of it: Cedar is the decision engine.
//!
//! [`Authorizer::new`] turns an [`Org`] (people, teams, repositories with their tier
//! and the readers their host lists, the organisation's own Cedar policies) into a
//! Cedar schema, entities and a policy set. The base policies are generated here
//! (`base.rs`), each with a stable id that every decision names; the organisation's
//! policies are validated against the schema before anything is decided, so an invalid
//! one is refused at start rather than skipped at request time.
//!
//! Everything fails closed: no permit means deny, any evaluation error means deny, and
//! a repository whose permission mirror is stale denies every query. This crate does no
//! IO; the caller loads the organisation from configuration, the store and host syncs.

mod base;
mod decide;
mod entities;
#[cfg(test)]
mod tests;

pub use decide::{Action, Authorizer, Decision, EXCEPTION_PREFIX, KILL_SWITCH_PREFIX, MatrixEntry};

use moat_domain::{Disclosure, Role, Tier, UserStatus};

/// A person as policy sees them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OrgUser {
    pub id: String,
    pub email: String,
    pub status: UserStatus,
    pub roles: Vec<Role>,
    pub teams: Vec<String>,
    /// A current training attestation (the caller applies `[training]`).
    pub training_current: bool,
}

/// Where a repository's readers come from, and whether that is current.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PermissionSource {
    /// Grants written in `moat.toml`.
    Static,
    /// Mirrored from a repository host (`github`, `gitlab`); `fresh` is false when the
    /// last successful sync is older than the configured bound (or never happened).
    Mirrored { host: String, fresh: bool },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OrgRepo {
    pub name: String,
    pub tier: Tier,
    /// What MCP may disclose (the tier's default or the repository's override).
    pub disclosure: Disclosure,
    pub tags: Vec<String>,
    pub region: Option<String>,
    pub source: PermissionSource,
    /// Emails the host lists as readers (mirrored sources).
    pub host_readers: Vec<String>,
}

/// A static grant: these users and teams may read these repositories (`*`: every
/// repository with static permissions).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OrgGrant {
    pub repos: Vec<String>,
    pub teams: Vec<String>,
    pub users: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Org {
    pub users: Vec<OrgUser>,
    pub repos: Vec<OrgRepo>,
    pub grants: Vec<OrgGrant>,
    /// Whether a current training attestation is required for context and models.
    pub training_required: bool,
    /// The organisation's own Cedar policies (text), checked against the schema.
    pub custom_policies: Option<String>,
    /// Approved exceptions in force now: each a permit named `exception:<id>`.
    pub exceptions: Vec<OrgException>,
    /// Engaged kill switches: a frozen repository is a forbid named
    /// `kill-switch:repo:<name>`; the gateway asks for models and vendors
    /// ([`Authorizer::switched_off`]).
    pub switches: Vec<OrgSwitch>,
}

/// An engaged kill switch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrgSwitch {
    pub kind: SwitchKind,
    /// The repository, model alias or vendor name.
    pub target: String,
    /// Why it was engaged, for the refusals it causes.
    pub reason: String,
}

impl OrgSwitch {
    /// The rule decisions and audit events name: `kill-switch:<kind>:<target>`.
    pub fn rule(&self) -> String {
        format!("{KILL_SWITCH_PREFIX}{}:{}", self.kind.as_str(), self.target)
    }
}

/// What a kill switch stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwitchKind {
    /// A frozen repository: no MCP answer about it, none of its code to any model.
    Repo,
    /// A disabled model alias: no request to it, nor as a fallback.
    Model,
    /// A disabled vendor: no request to any of its models.
    Vendor,
}

impl SwitchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SwitchKind::Repo => "repo",
            SwitchKind::Model => "model",
            SwitchKind::Vendor => "vendor",
        }
    }

    pub fn parse(kind: &str) -> Option<SwitchKind> {
        match kind {
            "repo" => Some(SwitchKind::Repo),
            "model" => Some(SwitchKind::Model),
            "vendor" => Some(SwitchKind::Vendor),
            _ => None,
        }
    }
}

/// An approved exception for `user` (an id).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrgException {
    pub id: String,
    pub user: String,
    pub target: ExceptionTarget,
}

/// What an exception lets its person do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExceptionTarget {
    /// Read this repository as a reader would (a Cedar permit `exception:<id>`).
    Repo(String),
    /// Use this model alias outside their teams' allowlist (the gateway asks
    /// [`Authorizer::model_exception`]); every other gateway rule still applies.
    Model(String),
    /// Read every repository of this tier as a reader would (a Cedar permit
    /// `exception:<id>` on `resource.tier`).
    Tier(String),
    /// Send code to this vendor though its attestations do not cover the code's tier
    /// (the gateway asks [`Authorizer::vendor_exception`]).
    Vendor(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("organisation policies do not parse: {0}")]
    Parse(String),
    #[error("organisation policies do not match Moat's schema: {0}")]
    Invalid(String),
    #[error("building policy entities failed: {0}")]
    Entities(String),
    #[error("internal policy error: {0}")]
    Internal(String),
}

/// Moat's Cedar schema: principals, resources and actions that policies may name.
pub const SCHEMA: &str = include_str!("moat.cedarschema");
