//! What the gateway is configured with: wire formats, vendors, pinned models, what each
//! tier may send where, limits.

use moat_domain::Tier;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The wire formats clients speak: OpenAI Chat Completions, Anthropic Messages and
/// OpenAI's Responses API (served by the vendors that serve Chat Completions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    OpenAi,
    Anthropic,
    Responses,
}

impl WireFormat {
    /// The endpoint a client of this format sends messages to.
    pub fn endpoint(self) -> &'static str {
        match self {
            WireFormat::OpenAi => "/v1/chat/completions",
            WireFormat::Anthropic => "/v1/messages",
            WireFormat::Responses => "/v1/responses",
        }
    }

    /// The vendor format that serves this one: OpenAI's vendors serve the Responses API.
    pub fn vendor_format(self) -> WireFormat {
        match self {
            WireFormat::Responses => WireFormat::OpenAi,
            other => other,
        }
    }

    /// Whether a model called in `served` format takes this format's requests as they
    /// are (a Responses API request goes as it is to a model of OpenAI's format).
    pub fn passes_to(self, served: WireFormat) -> bool {
        self == served || self.vendor_format() == served
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VendorKind {
    OpenAi,
    Anthropic,
    /// An OpenAI-compatible server, typically on-premises (vLLM, TGI, Ollama).
    OpenAiCompatible,
    /// Azure OpenAI: OpenAI's format at `/openai/deployments/<version>/...` with an
    /// `api-version`; a key as `api-key`, or an Entra ID token as a bearer token.
    AzureOpenAi,
    /// Amazon Bedrock: Anthropic's models through `InvokeModel` (the Messages body,
    /// signed with SigV4), streams as AWS event-stream frames.
    Bedrock,
    /// Google Vertex AI: Anthropic's models through `rawPredict`/`streamRawPredict`
    /// with a service account's access token.
    Vertex,
}

impl VendorKind {
    pub fn format(self) -> WireFormat {
        match self {
            VendorKind::Anthropic | VendorKind::Bedrock | VendorKind::Vertex => {
                WireFormat::Anthropic
            }
            VendorKind::OpenAi | VendorKind::OpenAiCompatible | VendorKind::AzureOpenAi => {
                WireFormat::OpenAi
            }
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
    /// Azure OpenAI: the `api-version` every request names.
    pub api_version: Option<String>,
    /// Azure OpenAI: an Entra ID token read from a file, sent instead of `api_key`.
    pub token_file: Option<super::credential::TokenFile>,
    /// Several hosts serving this vendor (`base_url` first), with their health.
    pub replicas: Option<std::sync::Arc<super::replicas::Replicas>>,
    /// Amazon Bedrock: the AWS region and credentials requests are signed with.
    pub aws: Option<std::sync::Arc<super::aws::AwsSigner>>,
    /// Google Vertex AI: the project, location and service account's tokens.
    pub vertex: Option<std::sync::Arc<super::gcp::Vertex>>,
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
    /// Served only through the Responses API (an OpenAI-format vendor's).
    pub responses_api: bool,
}

impl ModelSpec {
    /// The format this model is called in at `vendor`.
    pub fn served(&self, vendor: &VendorSpec) -> WireFormat {
        if self.responses_api {
            WireFormat::Responses
        } else {
            vendor.kind.format()
        }
    }
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
    /// Redact what a model writes in its answers (`[gateway] redact_answers`).
    pub redact_answers: bool,
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
