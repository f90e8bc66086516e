//! Google Vertex AI as Google documents it for Anthropic's models: `rawPredict` and
//! `streamRawPredict` at `/v1/projects/<project>/locations/<location>/publishers/
//! anthropic/models/<model id>`, the Messages body without `model` and with
//! `anthropic_version: "vertex-2023-10-16"`, a service account's access token as the
//! bearer. Answers and streams are Anthropic's own. Google's Gemini models are called
//! at `publishers/google/models/<id>:generateContent` (`:streamGenerateContent?alt=sse`
//! for streams) in Gemini's format (see `dialect.rs`).

use serde_json::{Value, json};

/// The body Vertex takes for an Anthropic model (`stream` stays: it selects streaming).
pub(super) fn body(sent: &mut Value) {
    if let Some(fields) = sent.as_object_mut() {
        fields.remove("model");
        fields.insert("anthropic_version".into(), json!("vertex-2023-10-16"));
    }
}

/// The address of a model's prediction, each part a path segment of its own.
pub(super) fn url(
    base: &str,
    vertex: &moat_service::gateway::gcp::Vertex,
    model: &str,
    stream: bool,
) -> Result<String, String> {
    let mut url =
        reqwest::Url::parse(base).map_err(|e| format!("its base URL is not a URL: {e}"))?;
    let gemini = moat_service::gateway::translate::gemini::serves(model);
    let (publisher, action) = match (gemini, stream) {
        (false, true) => ("anthropic", "streamRawPredict"),
        (false, false) => ("anthropic", "rawPredict"),
        (true, true) => ("google", "streamGenerateContent"),
        (true, false) => ("google", "generateContent"),
    };
    url.path_segments_mut()
        .map_err(|()| "its base URL cannot take a path".to_string())?
        .pop_if_empty()
        .extend([
            "v1",
            "projects",
            &vertex.project,
            "locations",
            &vertex.location,
            "publishers",
            publisher,
            "models",
            &format!("{model}:{action}"),
        ]);
    // Gemini streams as SSE only when asked to.
    if gemini && stream {
        url.set_query(Some("alt=sse"));
    }
    Ok(url.into())
}
