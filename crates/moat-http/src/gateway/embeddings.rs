//! `POST /v1/embeddings` (OpenAI's shape) through the same pipeline as a chat request:
//! every input redacted and fingerprinted (so egress by tier holds for code sent to be
//! embedded), admitted, recorded before it leaves, its outcome recorded after. Inputs
//! must be text: token ids cannot be scanned or recognised as a repository's code.

use super::wire::Ask;
use serde_json::{Value, json};

/// The most inputs one request may carry (OpenAI's own limit).
const MAX_INPUTS: usize = 2048;

/// Checks an embeddings request's fields.
pub(super) fn check(body: &Value) -> Result<Ask, String> {
    let (fields, model) = super::wire::object_and_model(body)?;
    let token_ids = "send `input` as text: token ids cannot be checked for secrets or for a repository's code, so Moat does not pass them on";
    match fields.get("input") {
        None => return Err("`input` is required".into()),
        Some(Value::String(text)) if text.is_empty() => {
            return Err("`input` must not be empty".into());
        }
        Some(Value::String(_)) => {}
        Some(Value::Array(items)) => {
            if items.is_empty() || items.len() > MAX_INPUTS {
                return Err(format!(
                    "`input` must hold 1 to {MAX_INPUTS} strings; send more in several requests"
                ));
            }
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(text) if !text.is_empty() => {}
                    Value::String(_) => return Err(format!("input[{i}] must not be empty")),
                    Value::Number(_) | Value::Array(_) => return Err(token_ids.into()),
                    _ => return Err(format!("input[{i}] must be a string")),
                }
            }
        }
        Some(Value::Number(_)) => return Err(token_ids.into()),
        Some(_) => return Err("`input` must be a string or an array of strings".into()),
    }
    match fields.get("encoding_format") {
        None | Some(Value::Null) => {}
        Some(Value::String(f)) if f == "float" || f == "base64" => {}
        Some(_) => return Err("`encoding_format` must be \"float\" or \"base64\"".into()),
    }
    if let Some(d) = fields.get("dimensions")
        && !d.is_null()
        && d.as_u64().is_none_or(|n| n == 0)
    {
        return Err("`dimensions` must be a positive integer".into());
    }
    if let Some(user) = fields.get("user")
        && !user.is_null()
        && !user.is_string()
    {
        return Err("`user` must be a string".into());
    }
    Ok(Ask {
        model,
        stream: false,
        // An embedding has no answer tokens.
        max_output: Some(0),
    })
}

/// What the audit body keeps of an answer: its shape and usage, not the vectors (a
/// vector is the vendor's arithmetic on the input, which is kept already).
pub(super) fn summary(answer: &Value) -> Value {
    let vectors: Vec<Value> = answer["data"]
        .as_array()
        .map(|data| {
            data.iter()
                .map(|item| {
                    let dimensions = match &item["embedding"] {
                        Value::Array(values) => json!(values.len()),
                        Value::String(encoded) => json!({"base64_chars": encoded.len()}),
                        _ => Value::Null,
                    };
                    json!({"index": item["index"], "dimensions": dimensions})
                })
                .collect()
        })
        .unwrap_or_default();
    json!({"object": answer["object"], "model": answer["model"], "embeddings": vectors, "usage": answer["usage"]})
}

#[cfg(test)]
mod tests {
    use super::check;
    use serde_json::json;

    #[test]
    fn inputs_must_be_text_that_moat_can_read() {
        assert!(check(&json!({"model": "e", "input": "fn main() {}"})).is_ok());
        assert!(check(&json!({"model": "e", "input": ["a", "b"], "dimensions": 8})).is_ok());
        for (body, says) in [
            (json!({"model": "e", "input": [1, 2, 3]}), "token ids"),
            (json!({"model": "e", "input": [[1, 2], [3]]}), "token ids"),
            (json!({"model": "e", "input": 7}), "token ids"),
            (json!({"model": "e", "input": ["a", 1]}), "token ids"),
            (
                json!({"model": "e", "input": ["a", null]}),
                "input[1] must be a string",
            ),
            (json!({"model": "e", "input": []}), "1 to 2048"),
            (json!({"model": "e", "input": ""}), "must not be empty"),
            (json!({"model": "e"}), "`input` is required"),
            (json!({"input": "x"}), "`model` is required"),
            (
                json!({"model": "e", "input": "x", "dimensions": 0}),
                "positive integer",
            ),
            (
                json!({"model": "e", "input": "x", "encoding_format": "int8"}),
                "encoding_format",
            ),
        ] {
            let error = check(&body).unwrap_err();
            assert!(error.contains(says), "{body}: {error}");
        }
        let many: Vec<String> = (0..2049).map(|i| i.to_string()).collect();
        assert!(check(&json!({"model": "e", "input": many})).is_err());
    }
}
