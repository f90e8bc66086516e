//! The LLM gateway's decisions, without HTTP: who may use which pinned model at which
//! vendor, whether the code in a prompt may go to that vendor, budgets and rate limits,
//! redaction of what leaves, and the one audit event per request.
//!
//! The HTTP crate parses the vendor wire formats, streams bytes and calls, per request:
//! [`scrub_request`] → [`Gateway::admit`] (identity already checked) → for each
//! [`Route`] tried, [`Gateway::record_requested`], durable before the first byte goes
//! to that vendor → [`Gateway::record`], the outcome, linked to the requested events.
//! Refusals are [`Refusal`]s that the edge renders in the caller's own wire format.

mod egress;
pub mod from_config;
pub mod limits;
mod prompt;
mod record;

pub use egress::{DetectedRepo, FingerprintMap, egress_refusal};
pub use limits::{BudgetHold, UserSlot};
pub use prompt::{POLICY_OPTIONS, Scrubbed, restore_json, scrub_request};
pub use record::code_blocks;

use crate::access::Access;
use crate::audit::AuditLog;
use crate::identity::Principal;

use moat_domain::Tier;
use moat_policy::{Action, OrgSwitch, SwitchKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// The two wire formats clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    OpenAi,
    Anthropic,
}

impl WireFormat {
    /// The endpoint a client of this format sends messages to.
    pub fn endpoint(self) -> &'static str {
        match self {
            WireFormat::OpenAi => "/v1/chat/completions",
            WireFormat::Anthropic => "/v1/messages",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VendorKind {
    OpenAi,
    Anthropic,
    /// An OpenAI-compatible server, typically on-premises (vLLM, TGI, Ollama).
    OpenAiCompatible,
}

impl VendorKind {
    pub fn format(self) -> WireFormat {
        match self {
            VendorKind::Anthropic => WireFormat::Anthropic,
            VendorKind::OpenAi | VendorKind::OpenAiCompatible => WireFormat::OpenAi,
        }
    }
}

/// A vendor with its credential already resolved from its reference.
#[derive(Clone)]
pub struct VendorSpec {
    pub name: String,
    pub kind: VendorKind,
    /// Without a trailing slash; paths such as `/v1/messages` are appended.
    pub base_url: String,
    pub api_key: String,
    pub region: String,
    pub on_prem: bool,
    /// Attestations held, by their configuration names (`soc2_type2`, `baa`, ...).
    pub attestations: BTreeSet<String>,
    /// When an attestation stops counting (the start of the day after its last), by
    /// name; one without an entry holds until the configuration says otherwise.
    pub expires: BTreeMap<String, moat_domain::UnixTime>,
}

impl std::fmt::Debug for VendorSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendorSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("region", &self.region)
            .field("on_prem", &self.on_prem)
            .field("attestations", &self.attestations)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub alias: String,
    pub vendor: String,
    /// The pinned version the vendor receives.
    pub version: String,
    /// Teams allowed; `*` for everyone.
    pub teams: Vec<String>,
    pub fallback: Option<String>,
    /// Policy options (`store`, `n`, `service_tier`, ...; see [`POLICY_OPTIONS`]) this
    /// model may be sent.
    pub options: Vec<String>,
}

/// What a tier requires of a vendor before its code may be sent there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TierEgress {
    pub require: Vec<String>,
    pub on_prem_only: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub requests_per_minute: Option<u32>,
    pub tokens_per_day: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub vendors: Vec<VendorSpec>,
    pub models: Vec<ModelSpec>,
    pub tiers: BTreeMap<Tier, TierEgress>,
    /// Limits for each user.
    pub per_user: Limits,
    /// Limits shared by a team's members.
    pub per_team: BTreeMap<String, Limits>,
    pub max_prompt_bytes: usize,
    pub restore_placeholders: bool,
    pub anthropic_beta: Vec<String>,
    pub detect_min_matches: u32,
    pub first_byte_timeout: Duration,
    pub attempts: u32,
    pub policy_version: String,
    /// Keep what was sent and answered, by reference from the audit event
    /// (`[audit] body_retention` deletes them later).
    pub keep_bodies: bool,
    /// Requests in progress at once before new ones are answered "overloaded".
    pub max_in_flight: usize,
    /// Let base64 images and files (which cannot be scanned as text) go to vendors
    /// from people who may read repositories above `internal`.
    pub allow_binary: bool,
    /// Requests one person may have in progress at once.
    pub max_in_flight_per_user: usize,
    /// How long a client may take to send its request body.
    pub body_timeout: Duration,
    /// The longest a request may take from its first byte to its last, streams
    /// included.
    pub request_deadline: Duration,
    /// Tokens held against day budgets for an answer whose request names no maximum.
    pub output_hold_tokens: u64,
}

/// Why a request is refused; the edge renders it in the caller's wire format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub message: String,
    /// Seconds until a rate limit or budget allows the request again.
    pub retry_after: Option<u64>,
    /// Repositories recognised in the prompt (egress refusals), for the audit event.
    pub detected: Vec<DetectedRepo>,
    /// The kill switch that refused it (`kill-switch:<kind>:<target>`), named as the
    /// rule of its audit event.
    pub switch: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The caller may not use models at all (role, training, status).
    Forbidden,
    /// The model is not on the allowlist, or not for the caller's teams.
    Model,
    /// The model is served in the other wire format.
    WrongEndpoint,
    /// The prompt holds code that may not go to this vendor.
    Egress,
    RateLimited,
    /// Policy could not be evaluated: refuse (fail closed).
    Unavailable,
    /// An option the model is not allowed (`store`, `n`, ...).
    Option,
    /// Base64 content from someone who may read code above `internal`.
    Binary,
    /// A kill switch stops it: the model or its vendor disabled, or the prompt holds
    /// code of a frozen repository.
    KillSwitch,
}

impl Refusal {
    fn new(kind: RefusalKind, message: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            message: message.into(),
            retry_after: None,
            detected: Vec::new(),
            switch: None,
        }
    }

    /// A kill switch's refusal: what it stops and why, and the switch as its rule.
    fn switched_off(switch: &OrgSwitch, what: String) -> Refusal {
        Refusal {
            switch: Some(switch.rule()),
            ..Refusal::new(
                RefusalKind::KillSwitch,
                format!(
                    "{what}: a kill switch is engaged ({}); the security team releases it with `moat kill-switch release {} {}`",
                    switch.reason,
                    switch.kind.as_str(),
                    switch.target
                ),
            )
        }
    }

    /// A rate limit or budget's refusal: what it says and when to come back.
    fn limited((message, retry_after): (String, u64)) -> Refusal {
        Refusal {
            kind: RefusalKind::RateLimited,
            message,
            retry_after: Some(retry_after),
            detected: Vec::new(),
            switch: None,
        }
    }

    /// The rule named in the audit event: the kill switch that refused it, or
    /// [`Refusal::rule`].
    pub fn audit_rule(&self) -> String {
        self.switch
            .clone()
            .unwrap_or_else(|| self.rule().to_string())
    }

    /// The kind of rule that refused it (few values: metrics label by it).
    pub fn rule(&self) -> &'static str {
        match self.kind {
            RefusalKind::Forbidden => "gateway.forbidden",
            RefusalKind::Model => "gateway.model-allowlist",
            RefusalKind::WrongEndpoint => "gateway.wire-format",
            RefusalKind::Egress => "gateway.egress",
            RefusalKind::RateLimited => "gateway.rate-limit",
            RefusalKind::Unavailable => "gateway.policy-unavailable",
            RefusalKind::Option => "gateway.option",
            RefusalKind::Binary => "gateway.binary",
            RefusalKind::KillSwitch => "gateway.kill-switch",
        }
    }
}

/// Where one request may go: a model at its vendor.
#[derive(Debug, Clone)]
pub struct Route {
    pub model: Arc<ModelSpec>,
    pub vendor: Arc<VendorSpec>,
    /// The approved exceptions this route needs: one to use the model outside the
    /// caller's teams' allowlist, one to send this code to the vendor though its
    /// attestations do not cover it; named as the rule of the request's audit events.
    pub exceptions: Vec<String>,
}

impl Route {
    /// The rule that allowed the request: the allowlist, or the exceptions.
    pub fn rule(&self) -> String {
        if self.exceptions.is_empty() {
            return "gateway.allowlist".to_string();
        }
        self.exceptions
            .iter()
            .map(|id| format!("{}{id}", moat_policy::EXCEPTION_PREFIX))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// An admitted request: its routes (the model, then usable fallbacks) and what was
/// recognised in the prompt.
#[derive(Debug, Clone)]
pub struct Admission {
    pub routes: Vec<Route>,
    pub detected: Vec<DetectedRepo>,
}

/// What the edge reports about one request, for its audit event.
#[derive(Debug, Clone, Default)]
pub struct RequestRecord {
    /// `chat.completions`, `messages`, `messages.count_tokens`.
    pub endpoint: String,
    pub client: Option<String>,
    pub address: Option<String>,
    pub alias: Option<String>,
    /// The route that answered (or was last tried).
    pub route: Option<Route>,
    pub status: u16,
    pub stream: bool,
    pub latency: Duration,
    /// From the request to the answering vendor's first byte (its headers).
    pub first_byte: Option<Duration>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub bytes_sent: u64,
    pub redactions: BTreeMap<String, u64>,
    pub detected: Vec<DetectedRepo>,
    pub refusal: Option<Refusal>,
    /// Vendor attempts made (retries and fallbacks included).
    pub attempts: u32,
    /// Why the vendor exchange failed, when it did.
    pub error: Option<String>,
    /// What was sent and answered (redacted as it left), kept when bodies are kept.
    pub body: Option<Vec<u8>>,
    /// The model's answer text, as the vendor sent it: its code blocks are
    /// fingerprinted for provenance.
    pub answer_text: String,
    /// The prompt's text as the client sent it: code the model only repeated from
    /// it is not counted as the model's.
    pub prompt_text: String,
    /// Base64 parts the request carried (not readable as text).
    pub binary_parts: u32,
    /// Sequence numbers of the `gateway.requested` events, one per route tried.
    pub requested: Vec<u64>,
    /// The client went away before the answer was complete.
    pub aborted: bool,
}

pub struct Gateway {
    settings: GatewaySettings,
    models: HashMap<String, Arc<ModelSpec>>,
    vendors: HashMap<String, Arc<VendorSpec>>,
    access: Arc<Access>,
    audit: Arc<AuditLog>,
    detector: Arc<moat_dlp::Detector>,
    fingerprints: egress::Fingerprints,
    limiter: limits::Limiter,
    in_progress: Arc<limits::InProgress>,
    telemetry: crate::Telemetry,
}

impl Gateway {
    pub fn new(
        settings: GatewaySettings,
        access: Arc<Access>,
        audit: Arc<AuditLog>,
        detector: Arc<moat_dlp::Detector>,
        index: Option<Arc<moat_index::CodeIndex>>,
    ) -> Gateway {
        let vendors = settings
            .vendors
            .iter()
            .map(|v| (v.name.clone(), Arc::new(v.clone())))
            .collect();
        let models = settings
            .models
            .iter()
            .map(|m| (m.alias.clone(), Arc::new(m.clone())))
            .collect();
        let limiter = limits::Limiter::new(settings.per_user, settings.per_team.clone());
        Gateway {
            models,
            vendors,
            access,
            audit,
            detector,
            fingerprints: egress::Fingerprints::new(index),
            limiter,
            in_progress: Arc::default(),
            telemetry: crate::Telemetry::default(),
            settings,
        }
    }

    /// Counts requests, tokens, refusals and redactions in `telemetry` (served at
    /// `/metrics`) instead of instruments nobody reads.
    pub fn with_telemetry(mut self, telemetry: crate::Telemetry) -> Gateway {
        self.telemetry = telemetry;
        self
    }

    pub fn settings(&self) -> &GatewaySettings {
        &self.settings
    }

    pub fn detector(&self) -> &moat_dlp::Detector {
        &self.detector
    }

    /// The models `principal` may use, in configuration order; none when they may not
    /// use models at all.
    pub async fn models_for(&self, principal: &Principal) -> Vec<Arc<ModelSpec>> {
        let Ok(authorizer) = self.access.authorizer().await else {
            return Vec::new();
        };
        if !authorizer
            .decide_org(&principal.user.id.0, Action::SendToModel)
            .allow
        {
            return Vec::new();
        }
        self.settings
            .models
            .iter()
            .filter(|m| allowed(&authorizer, principal, m).is_some())
            .filter(|m| switched_off(&authorizer, m).is_none())
            .filter_map(|m| self.models.get(&m.alias).cloned())
            .collect()
    }

    /// Decides whether `principal` may send this prompt to `alias` through an endpoint
    /// of `format`, and where it goes. `prompt` is the scrubbed request: its original
    /// text recognises repositories' code; its options and binary parts are policy.
    /// Counts the request against rate limits when admitted.
    pub async fn admit(
        &self,
        principal: &Principal,
        alias: &str,
        format: WireFormat,
        prompt: &Scrubbed,
    ) -> Result<Admission, Refusal> {
        let authorizer = self.access.authorizer().await.map_err(|e| {
            tracing::error!(error = %e, "gateway: access policy unavailable");
            Refusal::new(
                RefusalKind::Unavailable,
                "access policy cannot be evaluated right now; retry shortly or ask an admin to check the server log",
            )
        })?;
        let decision = authorizer.decide_org(&principal.user.id.0, Action::SendToModel);
        if !decision.allow {
            return Err(Refusal::new(
                RefusalKind::Forbidden,
                format!("you may not use models: {}", decision.reason),
            ));
        }
        let usable: Vec<&str> = self
            .settings
            .models
            .iter()
            .filter(|m| allowed(&authorizer, principal, m).is_some())
            .filter(|m| switched_off(&authorizer, m).is_none())
            .map(|m| m.alias.as_str())
            .collect();
        let Some(model) = self.models.get(alias) else {
            return Err(Refusal::new(
                RefusalKind::Model,
                format!(
                    "model `{alias}` is not on this organisation's allowlist; you may use: {}",
                    list_or_none(&usable)
                ),
            ));
        };
        let Some(exception) = allowed(&authorizer, principal, model) else {
            return Err(Refusal::new(
                RefusalKind::Model,
                format!(
                    "model `{alias}` is for teams {}; you may use: {}",
                    model.teams.join(", "),
                    list_or_none(&usable)
                ),
            ));
        };
        if let Some(switch) = switched_off(&authorizer, model) {
            let mut refusal =
                Refusal::switched_off(switch, format!("model `{alias}` may not be used now"));
            refusal
                .message
                .push_str(&format!("; you may use: {}", list_or_none(&usable)));
            return Err(refusal);
        }
        let vendor = self.vendor_of(model)?;
        if vendor.kind.format() != format {
            return Err(Refusal::new(
                RefusalKind::WrongEndpoint,
                format!(
                    "model `{alias}` is served in the other wire format; send it to {}",
                    vendor.kind.format().endpoint()
                ),
            ));
        }
        if let Some(option) = prompt.options.iter().find(|o| !model.options.contains(o)) {
            return Err(Refusal::new(
                RefusalKind::Option,
                format!(
                    "`{option}` is not allowed for model `{alias}`; remove it, or ask an admin to list it in that model's [[models]] options"
                ),
            ));
        }
        if prompt.binary_parts > 0 && !self.settings.allow_binary {
            let above_internal: Vec<String> = authorizer
                .readable(&principal.user.id.0)
                .iter()
                .filter(|(repo, _)| repo.tier > Tier::Internal)
                .map(|(repo, _)| repo.name.clone())
                .collect();
            if !above_internal.is_empty() {
                return Err(Refusal::new(
                    RefusalKind::Binary,
                    format!(
                        "images and files cannot be checked for code, and you may read repositories above internal ({}); send text, or ask an admin about [gateway] allow_binary",
                        above_internal.join(", ")
                    ),
                ));
            }
        }
        let detected = self
            .fingerprints
            .detect(&authorizer, &prompt.text, self.settings.detect_min_matches)
            .await
            .map_err(|reason| Refusal::new(RefusalKind::Unavailable, reason))?;
        if let Some((found, switch)) = detected.iter().find_map(|found| {
            authorizer
                .switched_off(SwitchKind::Repo, &found.repo)
                .map(|switch| (found, switch))
        }) {
            let mut refusal = Refusal::switched_off(
                switch,
                format!(
                    "the prompt holds code of `{}`, which may not be sent to any model now",
                    found.repo
                ),
            );
            refusal.detected = detected.clone();
            return Err(refusal);
        }
        if prompt.options.iter().any(|o| o == "store")
            && let Some(found) = detected.iter().find(|found| {
                authorizer.repo(&found.repo).is_some_and(|repo| {
                    self.settings
                        .tiers
                        .get(&repo.tier)
                        .is_some_and(|t| t.require.iter().any(|r| r == "zero_retention"))
                })
            })
        {
            let mut refusal = Refusal::new(
                RefusalKind::Option,
                format!(
                    "`store: true` would have the vendor keep code of `{}`, whose tier requires zero retention; send the request without `store`",
                    found.repo
                ),
            );
            refusal.detected = detected.clone();
            return Err(refusal);
        }
        // Attestations are judged at this moment: one that expired since the
        // configuration was loaded no longer counts.
        let now = self.access.now();
        let mut exceptions: Vec<String> = exception.into_iter().collect();
        for found in &detected {
            if let Some(repo) = authorizer.repo(&found.repo)
                && let Some(reason) = egress_refusal(&vendor, repo, &self.settings.tiers, now)
            {
                // An approved vendor exception sets the refusal aside, on the record.
                if let Some(id) = authorizer.vendor_exception(&principal.user.id.0, &vendor.name) {
                    if !exceptions.iter().any(|e| e == id) {
                        exceptions.push(id.to_string());
                    }
                    continue;
                }
                let mut refusal = Refusal::new(RefusalKind::Egress, reason);
                refusal.detected = detected.clone();
                return Err(refusal);
            }
        }
        let mut routes = vec![Route {
            model: model.clone(),
            vendor,
            exceptions,
        }];
        // Fallbacks serve when the vendor fails; each must be allowed this code too.
        let mut next = model.fallback.as_deref();
        while let Some(alias) = next {
            let Some(fallback) = self.models.get(alias) else {
                break;
            };
            if routes.len() > 3 || routes.iter().any(|r| r.model.alias == fallback.alias) {
                break;
            }
            next = fallback.fallback.as_deref();
            let Ok(vendor) = self.vendor_of(fallback) else {
                continue;
            };
            // A fallback serves only those its own entry allows, with the options
            // this request uses, and only code its vendor may receive.
            let exception = allowed(&authorizer, principal, fallback);
            let vendor_exception = authorizer.vendor_exception(&principal.user.id.0, &vendor.name);
            let mut set_aside = false;
            let usable = vendor.kind.format() == format
                && exception.is_some()
                && switched_off(&authorizer, fallback).is_none()
                && prompt.options.iter().all(|o| fallback.options.contains(o))
                && detected.iter().all(|found| {
                    authorizer.repo(&found.repo).is_none_or(|repo| {
                        let refused =
                            egress_refusal(&vendor, repo, &self.settings.tiers, now).is_some();
                        set_aside |= refused && vendor_exception.is_some();
                        !refused || vendor_exception.is_some()
                    })
                });
            if let (true, Some(exception)) = (usable, exception) {
                let mut exceptions: Vec<String> = exception.into_iter().collect();
                if set_aside && let Some(id) = vendor_exception {
                    exceptions.push(id.to_string());
                }
                routes.push(Route {
                    model: fallback.clone(),
                    vendor,
                    exceptions,
                });
            }
        }
        Ok(Admission { routes, detected })
    }

    /// The first check of every model request, before its body is read or a shared
    /// slot is taken: the caller's rate limits (the request is counted) and their
    /// requests in progress. One person's flood of slow or unfinished requests uses up
    /// their own allowance, never everyone's. The slot is freed when dropped.
    pub async fn throttle(&self, principal: &Principal) -> Result<UserSlot, Refusal> {
        self.limiter
            .admit(
                &principal.user.id.0,
                &principal.user.teams,
                self.access.now().0,
            )
            .await
            .map_err(Refusal::limited)?;
        self.in_progress
            .take(&principal.user.id.0, self.settings.max_in_flight_per_user)
            .ok_or_else(|| Refusal {
                kind: RefusalKind::RateLimited,
                message: format!(
                    "you have {} model requests in progress, the most allowed at once ([gateway] max_in_flight_per_user); wait for one to finish",
                    self.settings.max_in_flight_per_user
                ),
                retry_after: Some(1),
                detected: Vec::new(),
                switch: None,
            })
    }

    /// Holds `tokens` (the most this request can spend) against the caller's daily
    /// budgets before anything is sent; refused when a budget has nothing left, spent or
    /// held by requests in progress. Settle it with [`Gateway::settle`].
    pub async fn hold_budget(
        &self,
        principal: &Principal,
        tokens: u64,
    ) -> Result<BudgetHold, Refusal> {
        self.limiter
            .hold(
                &principal.user.id.0,
                &principal.user.teams,
                tokens,
                self.access.now().0,
            )
            .await
            .map_err(Refusal::limited)
    }

    /// Replaces a hold with the tokens the vendor reported.
    pub async fn settle(&self, hold: BudgetHold, spent: u64) {
        self.limiter.settle(hold, spent).await;
    }

    /// Keeps rate-limit and budget counters in `store`, shared by every node that
    /// uses it, instead of in this process.
    pub fn with_shared_limits(mut self, store: Arc<dyn moat_store::Store>) -> Gateway {
        self.limiter.shared = Some(store);
        self
    }

    /// A fresh redactor for one request (its own placeholder key).
    pub fn redactor(&self) -> moat_dlp::Redactor<'_> {
        moat_dlp::Redactor::new(&self.detector, rand::random())
    }

    fn vendor_of(&self, model: &ModelSpec) -> Result<Arc<VendorSpec>, Refusal> {
        self.vendors.get(&model.vendor).cloned().ok_or_else(|| {
            Refusal::new(
                RefusalKind::Unavailable,
                format!("model `{}` names no configured vendor", model.alias),
            )
        })
    }
}

fn for_teams(model: &ModelSpec, teams: &[String]) -> bool {
    model.teams.iter().any(|t| t == "*" || teams.contains(t))
}

/// Whether `principal` may use `model`: `Some(None)` by their teams, `Some(Some(id))`
/// by an approved exception in force, `None` not at all.
fn allowed(
    authorizer: &moat_policy::Authorizer,
    principal: &Principal,
    model: &ModelSpec,
) -> Option<Option<String>> {
    if for_teams(model, &principal.user.teams) {
        return Some(None);
    }
    authorizer
        .model_exception(&principal.user.id.0, &model.alias)
        .map(|id| Some(id.to_string()))
}

/// The kill switch that stops `model`: its own, or its vendor's.
fn switched_off<'a>(
    authorizer: &'a moat_policy::Authorizer,
    model: &ModelSpec,
) -> Option<&'a OrgSwitch> {
    authorizer
        .switched_off(SwitchKind::Model, &model.alias)
        .or_else(|| authorizer.switched_off(SwitchKind::Vendor, &model.vendor))
}

fn list_or_none(aliases: &[&str]) -> String {
    if aliases.is_empty() {
        "none (ask an admin to add your team to a [[models]] entry)".to_string()
    } else {
        aliases.join(", ")
    }
}

#[cfg(test)]
mod tests;
