//! Moat's use cases, the API boundary between the edges (CLI, HTTP) and the engines.
//!
//! Everything here takes and returns plain domain data: no HTTP types, no SQL, no TOML
//! (configuration text changed on a person's behalf is edited by `moat_config::edit`).
//! The binary and the HTTP crate call these functions and only map their results.
//! Each service owns its error type; none of them hands out other services.

pub mod access;
pub mod access_settings;
pub mod admin;
pub mod audit;
pub mod blocking;
mod clock;
pub mod code_context;
pub mod config_file;
pub mod console;
pub mod csv;
pub mod detect;
pub mod evidence;
pub mod exceptions;
pub mod gateway;
pub mod git_mirror;
pub mod host_links;
pub mod host_sign_in;
pub mod host_sync;
pub mod housekeeping;
pub mod identity;
pub mod incidents;
pub mod index_replica;
pub mod kill_switches;
pub mod mirror;
pub mod oauth;
pub mod operator;
pub mod permission_sync;
pub mod policy_document;
pub mod published;
pub mod readiness;
pub mod scan;
pub mod scim;
pub mod sign_in;
pub mod telemetry;
pub mod text;
pub mod vendor_register;
pub mod webhooks;

pub use access::{Access, AccessError, AccessSettings, TrainingRule, UnmappedLogin};
pub use admin::{Admin, AdminActor, AdminError};
pub use audit::{AuditError, AuditLog, AuditSettings};
pub use clock::{Clock, FixedClock, SystemClock};
pub use code_context::{
    CodeContext, ContextError, ContextHit, ContextResults, FindingsCache, OutlineEntry, Related,
    RepoOverview, RepoPolicy, SearchRequest, SourceLines, SymbolDetail, UseSite,
};
pub use identity::{
    AuthError, Identity, IdentityError, IdentitySettings, IssueToken, IssuedToken, NewUser,
    OidcIdentity, OidcSettings, OidcVerifier, Principal, Refused, RefusedSubject, SignInHook,
    looks_like_jwt,
};
pub use sign_in::SignInRefresh;
pub use telemetry::Telemetry;
