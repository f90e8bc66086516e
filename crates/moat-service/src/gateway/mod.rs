//! The LLM gateway's decisions, without HTTP: who may use which pinned model at which
//! vendor, whether the code in a prompt may go to that vendor, budgets and rate limits,
//! redaction of what leaves, and the one audit event per request.
//!
//! The HTTP crate parses the vendor wire formats, streams bytes and calls, per request:
//! [`scrub_request`] → [`Gateway::admit`] (identity already checked) → for each
//! [`Route`] tried, [`Gateway::record_requested`], durable before the first byte goes
//! to that vendor → [`Gateway::record`], the outcome, linked to the requested events.
//! Refusals are [`Refusal`]s that the edge renders in the caller's own wire format.

pub mod aws;
pub mod credential;
mod egress;
pub mod from_config;
pub mod gcp;
pub mod kept;
pub mod limits;
mod outcome;
mod prompt;
mod record;
pub mod replicas;
mod settings;
pub mod translate;

pub use egress::{DetectedRepo, FingerprintMap, egress_refusal};
pub use limits::{BudgetHold, UserSlot};
pub use outcome::{Admission, Refusal, RefusalKind, RequestRecord, Route};
pub use prompt::{POLICY_OPTIONS, Scrubbed, restore_json, scrub_embeddings, scrub_request};
pub use record::code_blocks;
pub use settings::{
    GatewaySettings, Limits, ModelSpec, TierEgress, VendorKind, VendorSpec, WireFormat,
};

use crate::access::Access;
use crate::audit::AuditLog;
use crate::identity::Principal;

use moat_domain::Tier;
use moat_policy::{Action, OrgSwitch, SwitchKind};
use std::collections::HashMap;
use std::sync::Arc;

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
    /// With `translate`, a model of the other format serves it where
    /// [`translate::between`] can. Counts the request against rate limits when admitted.
    pub async fn admit(
        &self,
        principal: &Principal,
        alias: &str,
        format: WireFormat,
        translate: bool,
        prompt: &Scrubbed,
    ) -> Result<Admission, Refusal> {
        let serves = |model: &ModelSpec, vendor: &VendorSpec| {
            let served = model.served(vendor);
            format.passes_to(served) || (translate && translate::between(format, served))
        };
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
        if !serves(model, &vendor) {
            return Err(Refusal::new(
                RefusalKind::WrongEndpoint,
                format!(
                    "model `{alias}` is served in another wire format, and requests to this endpoint are not translated into it (token counting and embeddings are not); send it to {}",
                    model.served(&vendor).endpoint()
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
            let usable = serves(fallback, &vendor)
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

    /// A fresh, random key for [`Gateway::redactor_with`].
    pub fn placeholder_key(&self) -> [u8; 32] {
        rand::random()
    }

    /// A redactor whose placeholders are those of every other redactor given `key`:
    /// the pieces of one answer name the same value the same way.
    pub fn redactor_with(&self, key: [u8; 32]) -> moat_dlp::Redactor<'_> {
        moat_dlp::Redactor::new(&self.detector, key)
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
