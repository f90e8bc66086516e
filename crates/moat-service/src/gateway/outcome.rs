//! What the gateway decides and reports for one request: a refusal, the routes it may
//! take, and the record of what happened, for its audit event.

use super::{DetectedRepo, ModelSpec, VendorSpec};
use moat_policy::OrgSwitch;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

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
    /// It continues or cites something the vendor keeps for someone else.
    KeptForAnother,
}

impl Refusal {
    pub(super) fn new(kind: RefusalKind, message: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            message: message.into(),
            retry_after: None,
            detected: Vec::new(),
            switch: None,
        }
    }

    /// A kill switch's refusal: what it stops and why, and the switch as its rule.
    pub(super) fn switched_off(switch: &OrgSwitch, what: String) -> Refusal {
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
    pub(super) fn limited((message, retry_after): (String, u64)) -> Refusal {
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
            RefusalKind::KeptForAnother => "gateway.kept-owner",
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
    /// Redactions in the answer (`[gateway] redact_answers`), by rule id.
    pub answer_redactions: BTreeMap<String, u64>,
    /// The host of a vendor with replicas that the last attempt went to.
    pub replica: Option<String>,
}
