//! OpenAI's `POST /v1/embeddings`: a list of `embedding` objects, one per input, in the
//! input's order, with `usage.prompt_tokens` and `total_tokens`.
//!
//! The vectors are not meaningful: each is derived from its input's bytes (the same text
//! always gives the same vector), 8 dimensions unless the request asks for
//! `dimensions`, as floats or, with `encoding_format: "base64"`, as little-endian
//! `f32` bytes in base64 (which the official SDK decodes).

use crate::incoming::Incoming;
use crate::openai::{check_bearer, error};
use crate::reply::token_estimate;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

/// The most dimensions a request may ask for.
const MAX_DIMENSIONS: u64 = 4096;

/// `POST /v1/embeddings`.
pub(crate) async fn create(incoming: Incoming) -> Response {
    if let Err(message) = check_bearer(&incoming.headers) {
        return error(StatusCode::UNAUTHORIZED, "authentication_error", message);
    }
    answer(incoming)
}

/// Embeddings for a request whose credential was checked.
pub(crate) fn answer(incoming: Incoming) -> Response {
    let request = match incoming.json_object() {
        Ok(request) => request,
        Err(reason) => return error(StatusCode::BAD_REQUEST, "invalid_request_error", &reason),
    };
    let inputs: Vec<&str> = match request.get("input") {
        Some(Value::String(text)) => vec![text],
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(Value::as_str).collect()
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "`input` must be a string or an array of strings",
            );
        }
    };
    let dimensions = match request.get("dimensions").map(Value::as_u64) {
        None => 8,
        Some(Some(n)) if (1..=MAX_DIMENSIONS).contains(&n) => n as usize,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "`dimensions` must be a positive integer",
            );
        }
    };
    let base64 = request.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let vector = vector_of(text, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens = token_estimate(inputs.iter().map(|t| t.len()).sum());
    Json(json!({
        "object": "list",
        "data": data,
        "model": request.get("model").and_then(Value::as_str).unwrap_or("standin-embedding"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response()
}

/// A unit vector derived from the text's bytes.
fn vector_of(text: &str, dimensions: usize) -> Vec<f32> {
    let mut vector = vec![0f32; dimensions];
    for (i, byte) in text.bytes().enumerate() {
        vector[i % dimensions] += f32::from(byte) * (1.0 + (i / dimensions) as f32).recip();
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}
