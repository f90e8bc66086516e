//! The extractor every vendor route starts with: read the request, record it, parse it.
//!
//! Recording happens here, before a handler looks at credentials, so a test sees even the
//! requests the stand-in rejects. Only a body over the size limit goes unrecorded.

use crate::recorder::{Recorded, Recorder};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A request that has been recorded, with its body read and parsed.
pub(crate) struct Incoming {
    /// Path and query, as recorded.
    pub path: String,
    pub headers: HeaderMap,
    /// The body exactly as received; usage counts are taken from its length.
    pub raw_body: Bytes,
    /// The parsed body, or why it could not be parsed.
    json: Result<Value, String>,
}

impl Incoming {
    /// The body as a JSON object, or a message saying why it is not one.
    pub fn json_object(&self) -> Result<&Map<String, Value>, String> {
        match &self.json {
            Ok(Value::Object(object)) => Ok(object),
            Ok(_) => Err("the request body must be a JSON object".to_owned()),
            Err(reason) => Err(reason.clone()),
        }
    }
}

impl FromRequest<Recorder> for Incoming {
    type Rejection = Response;

    async fn from_request(request: Request, recorder: &Recorder) -> Result<Self, Response> {
        let method = request.method().as_str().to_owned();
        let path = request.uri().path_and_query().map_or_else(
            || request.uri().path().to_owned(),
            |pq| pq.as_str().to_owned(),
        );
        let headers = request.headers().clone();
        let raw_body = Bytes::from_request(request, recorder)
            .await
            .map_err(IntoResponse::into_response)?;

        let json = if raw_body.is_empty() {
            Err("the request body is empty; send a JSON object".to_owned())
        } else {
            serde_json::from_slice::<Value>(&raw_body)
                .map_err(|error| format!("the request body is not valid JSON: {error}"))
        };
        recorder.record(Recorded {
            method,
            path: path.clone(),
            headers: header_map_to_strings(&headers),
            body: json.as_ref().map_or(Value::Null, Clone::clone),
            raw_body: String::from_utf8_lossy(&raw_body).into_owned(),
        });
        Ok(Incoming {
            path,
            headers,
            raw_body,
            json,
        })
    }
}

/// The non-empty key in `Authorization: Bearer <key>`, if there is one.
pub(crate) fn bearer_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|key| !key.is_empty())
}

/// Headers by (already lowercase) name, repeated values joined with `", "`.
fn header_map_to_strings(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut strings: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        strings
            .entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    strings
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn joins_repeated_headers() {
        let mut headers = HeaderMap::new();
        headers.append("X-Thing", HeaderValue::from_static("a"));
        headers.append("x-thing", HeaderValue::from_static("b"));
        headers.insert("authorization", HeaderValue::from_static("Bearer k"));
        let strings = header_map_to_strings(&headers);
        assert_eq!(strings["x-thing"], "a, b");
        assert_eq!(strings["authorization"], "Bearer k");
    }
}
