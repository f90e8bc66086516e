//! Vendors of Anthropic's format reached through another wire format: Bedrock's other
//! makers' models through Converse, Google's Gemini models on Vertex AI through
//! `generateContent`. The Messages body goes out in the dialect, and the answer (whole,
//! or event by event) comes back as Anthropic's before anything else reads it, so DLP,
//! translation to the client and the record are the same as for Anthropic.

use moat_service::gateway::translate::{converse, gemini};
use moat_service::gateway::{Route, VendorKind};
use serde_json::Value;

/// The dialect a route's model is called in, with the model's id.
pub(super) enum Dialect {
    Converse(String),
    Gemini(String),
}

impl Dialect {
    /// The dialect `route` needs, if any.
    pub(super) fn of(route: &Route) -> Option<Dialect> {
        let id = &route.model.version;
        match route.vendor.kind {
            VendorKind::Bedrock if converse::serves(id) => Some(Dialect::Converse(id.clone())),
            VendorKind::Vertex if gemini::serves(id) => Some(Dialect::Gemini(id.clone())),
            _ => None,
        }
    }

    /// The Messages body (with `model`) in the dialect.
    pub(super) fn request(&self, body: &Value) -> Result<Value, String> {
        match self {
            Dialect::Converse(_) => converse::request(body),
            Dialect::Gemini(_) => gemini::request(body),
        }
    }

    /// A whole answer in the dialect as Anthropic's; `id` is the message id when the
    /// dialect gives none.
    pub(super) fn answer(&self, answer: &Value, id: &str) -> Result<Value, String> {
        match self {
            Dialect::Converse(model) => converse::answer(answer, model, id),
            Dialect::Gemini(model) => gemini::answer(answer, model, id),
        }
    }

    /// The tokens an answer in the dialect says it used (input, output), for an answer
    /// that cannot be read otherwise: the vendor generated it all the same.
    pub(super) fn usage(&self, answer: &Value) -> (u64, u64) {
        let count = |pointer: &str| answer.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
        match self {
            Dialect::Converse(_) => (count("/usage/inputTokens"), count("/usage/outputTokens")),
            Dialect::Gemini(_) => (
                count("/usageMetadata/promptTokenCount"),
                count("/usageMetadata/candidatesTokenCount")
                    + count("/usageMetadata/thoughtsTokenCount"),
            ),
        }
    }

    /// A translator of a Gemini stream's SSE events, for the dialect that streams SSE
    /// (Converse's events come in frames: see `bedrock::EventStream`).
    pub(super) fn sse_stream(&self, id: &str) -> Option<GeminiEvents> {
        match self {
            Dialect::Gemini(model) => Some(GeminiEvents(gemini::GeminiStream::new(model, id))),
            Dialect::Converse(_) => None,
        }
    }
}

/// A Gemini stream's SSE events as Anthropic's.
pub(super) struct GeminiEvents(gemini::GeminiStream);

impl GeminiEvents {
    /// Anthropic's SSE events for Gemini's SSE events.
    pub(super) fn push(&mut self, events: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, String> {
        let mut out = Vec::new();
        for raw in events {
            let (_, data) = super::wire::parse_event(&raw);
            if data.trim().is_empty() {
                continue;
            }
            for (name, data) in self.0.push(&data)? {
                out.push(
                    format!("event: {}\ndata: {data}\n\n", name.unwrap_or_default()).into_bytes(),
                );
            }
        }
        Ok(out)
    }
}

/// The message id for a dialect's answer when it names none: AWS's request id, or
/// Google's.
pub(super) fn message_id(headers: &reqwest::header::HeaderMap) -> String {
    let id = ["x-amzn-requestid", "x-goog-request-id"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 128
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    match id {
        Some(id) => format!("msg_{id}"),
        None => format!("msg_moat_{:016x}", rand::random::<u64>()),
    }
}
