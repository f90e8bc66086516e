//! The security team's console: who is signed in there, what each person may do, and
//! what each page shows and changes. The HTTP crate renders; everything decided is
//! decided here, so the console can do nothing the CLI and the admin API could not.
//!
//! - [`session`]: signing in with a one-time link (`moat login-link`), a session kept
//!   in the store by SHA-256 with idle and absolute timeouts, a CSRF token derived from
//!   it, signing out.
//! - [`views`]: the pages' data (overview, people, repositories, audit), each bounded
//!   (paged), and the changes (suspend, reactivate, reclassify), each authorized by
//!   Cedar for the signed-in person and recorded as the same `admin.change` pair as
//!   from the CLI, naming the console session.

pub mod access;
pub mod audit;
pub mod evidence;
pub mod exceptions;
pub mod incidents;
pub mod kill_switches;
pub mod people;
pub mod repos;
pub mod session;
pub mod usage;
pub mod views;

use crate::access::Access;
use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::identity::Identity;
use crate::oauth::OAuthServer;
use moat_domain::User;
use moat_store::Store;
use std::sync::Arc;

pub use access::{AccessQuery, AccessView, Cell};
pub use audit::{AuditPage, AuditQuery, Download, EventDetail, ExportPart};
pub use people::{PeoplePage, PeopleQuery};
pub use repos::{RepoStatus, ReposPage, ReposQuery};
pub use session::{SESSION_SEEN_EVERY, SignedIn};
pub use usage::{Counts, Usage};
pub use views::{ModelRow, Overview, RepoRow, VendorRow};

/// `[console]`: how long a session lives.
#[derive(Debug, Clone, Copy)]
pub struct ConsoleSettings {
    /// A session unused this long ends.
    pub idle_seconds: i64,
    /// A session ends this long after sign-in, however busy.
    pub absolute_seconds: i64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            idle_seconds: 30 * 60,
            absolute_seconds: 8 * 3600,
        }
    }
}

/// What the console shows of the deployment's configuration: repositories, models
/// and vendors as this node enforces them, and whether the configuration is published
/// (only then can the console change it for every node).
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    pub repos: Vec<RepoRow>,
    pub models: Vec<ModelRow>,
    pub vendors: Vec<VendorRow>,
    /// Set when this node follows the configuration published in the store.
    pub follows_published: bool,
    /// What the written policy of the configuration in force is written from.
    pub policy: Option<crate::policy_document::Inputs>,
    /// The audit key evidence packs are signed with, and where the witnesses'
    /// checkpoints are; without them the console writes no pack.
    pub evidence: Option<EvidenceKeys>,
}

/// What signing an evidence pack needs besides the console's services.
#[derive(Clone)]
pub struct EvidenceKeys {
    pub signing: Arc<moat_audit::checkpoint::SigningKey>,
    pub keys: Vec<moat_audit::checkpoint::VerifierKey>,
    pub witness_files: Vec<std::path::PathBuf>,
}

impl std::fmt::Debug for EvidenceKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceKeys")
            .field("signing", &self.signing.name())
            .field("witness_files", &self.witness_files)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Refused by Cedar (and on the record); safe to show.
    #[error("{0}")]
    Denied(String),
    /// The request cannot be carried out as asked; safe to show.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unavailable(String),
}

/// The console's use cases.
pub struct Console {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    identity: Arc<Identity>,
    access: Arc<Access>,
    audit: Arc<AuditLog>,
    oauth: Arc<OAuthServer>,
    policy_version: String,
    settings: ConsoleSettings,
    deployment: Deployment,
    /// What the usage page has counted so far.
    usage: tokio::sync::Mutex<usage::Tally>,
    /// `[incidents]` with the vendor register and repository tags, built on first use.
    incident_rules: std::sync::OnceLock<crate::incidents::IncidentRules>,
}

/// What `Console::new` is built from.
pub struct ConsoleParts {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub identity: Arc<Identity>,
    pub access: Arc<Access>,
    pub audit: Arc<AuditLog>,
    pub oauth: Arc<OAuthServer>,
    pub policy_version: String,
    pub settings: ConsoleSettings,
    pub deployment: Deployment,
}

impl Console {
    pub fn new(parts: ConsoleParts) -> Console {
        Console {
            store: parts.store,
            clock: parts.clock,
            identity: parts.identity,
            access: parts.access,
            audit: parts.audit,
            oauth: parts.oauth,
            policy_version: parts.policy_version,
            settings: parts.settings,
            deployment: parts.deployment,
            usage: tokio::sync::Mutex::new(usage::Tally::default()),
            incident_rules: std::sync::OnceLock::new(),
        }
    }

    pub fn settings(&self) -> ConsoleSettings {
        self.settings
    }

    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// The vendor register as of now.
    pub fn vendor_register(&self) -> Vec<crate::vendor_register::Entry> {
        self.deployment
            .policy
            .as_ref()
            .map(|inputs| crate::vendor_register::register(&inputs.config, self.clock.now()))
            .unwrap_or_default()
    }

    /// The written policy as of now (an attestation that expired no longer counts).
    pub fn policy_document(&self) -> Option<crate::policy_document::Document> {
        self.deployment
            .policy
            .as_ref()
            .map(|inputs| inputs.document(self.clock.now()))
    }
}

/// What the signed-in person may do here, as Cedar decides it for them (pages and
/// buttons follow it; every request is decided again on the server).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Abilities {
    /// `Administer`: people, repositories, changes.
    pub administer: bool,
    /// `ViewAudit`: the record.
    pub view_audit: bool,
    /// `ReviewException`: approve and deny exceptions.
    pub review_exceptions: bool,
    /// `Contain`: take the steps of an incident, engage kill switches.
    pub contain: bool,
}

impl Abilities {
    pub(crate) async fn of(access: &Access, user: &User) -> Result<Abilities, ConsoleError> {
        let authorizer = access.authorizer().await.map_err(|e| {
            ConsoleError::Unavailable(format!("access policy cannot be evaluated: {e}"))
        })?;
        Ok(Abilities {
            administer: authorizer
                .decide_org(&user.id.0, moat_policy::Action::Administer)
                .allow,
            view_audit: authorizer
                .decide_org(&user.id.0, moat_policy::Action::ViewAudit)
                .allow,
            review_exceptions: authorizer
                .decide_org(&user.id.0, moat_policy::Action::ReviewException)
                .allow,
            contain: authorizer
                .decide_org(&user.id.0, moat_policy::Action::Contain)
                .allow,
        })
    }
}
