//! `[gateway] redact_answers`: what a model writes is redacted before the client sees
//! it — whole answers, streams cut every seven characters (so each value spans many
//! events), tool calls whose arguments write the secret into a file — and the audit
//! body keeps only the redacted answer. Off by default.

use super::*;
use standin_vendor::{MARKER_WRITE_SECRET, WRITTEN_AWS_KEY, WRITTEN_PEM_KEY};

/// Every line of the PEM key's body: none may reach the client.
fn pem_lines() -> Vec<&'static str> {
    WRITTEN_PEM_KEY
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

fn assert_redacted(text: &str) {
    assert!(!text.contains(WRITTEN_AWS_KEY), "{text}");
    for line in pem_lines() {
        // Any 12 characters of a body line would be a piece of the key.
        for start in (0..line.len().saturating_sub(12)).step_by(12) {
            assert!(!text.contains(&line[start..start + 12]), "{text}");
        }
    }
    assert!(text.contains("[REDACTED:aws-access-key-id:"), "{text}");
    assert!(text.contains("[REDACTED:private-key-rsa:"), "{text}");
}

async fn answer_redactions(server: &Server) -> Vec<Value> {
    server
        .events()
        .await
        .iter()
        .map(|e| e.body.details["answer_redactions"].clone())
        .collect()
}

#[tokio::test]
async fn whole_and_streamed_answers_reach_the_client_redacted() {
    let server = start_with(false, 64, true).await;
    // Whole, both formats.
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude", MARKER_WRITE_SECRET))
        .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let text = answer["content"][0]["text"].as_str().unwrap();
    assert_redacted(text);
    assert!(text.starts_with("Put this in .env:\n```\nAWS_ACCESS_KEY_ID=[REDACTED:"));
    let (status, body) = server
        .openai(
            &server.dev,
            json!({"model": "gpt", "messages": [{"role": "user", "content": MARKER_WRITE_SECRET}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_redacted(answer["choices"][0]["message"]["content"].as_str().unwrap());

    // Streamed in seven-character pieces, both formats.
    let mut streamed = ask("claude", MARKER_WRITE_SECRET);
    streamed["stream"] = json!(true);
    let (status, _, body) = server.anthropic(&server.dev, streamed).await;
    assert_eq!(status, 200, "{body}");
    let events = sse_events(&body);
    let text: String = events
        .iter()
        .filter_map(|(_, v)| v["delta"]["text"].as_str())
        .collect();
    assert_redacted(&text);
    assert!(text.starts_with("Put this in .env:\n```\n"), "{text}");
    assert!(text.ends_with("```\n"), "nothing lost at the end: {text}");
    // Every delta of the block comes before the block's end.
    let stop = events
        .iter()
        .position(|(_, v)| v["type"] == "content_block_stop")
        .unwrap();
    let last_delta = events
        .iter()
        .rposition(|(_, v)| v["type"] == "content_block_delta")
        .unwrap();
    assert!(last_delta < stop, "{body}");
    assert!(body.contains("event: message_stop"));
    let streamed = json!({
        "model": "gpt", "stream": true,
        "messages": [{"role": "user", "content": MARKER_WRITE_SECRET}],
    });
    let (status, body) = server.openai(&server.dev, streamed).await;
    assert_eq!(status, 200, "{body}");
    let text: String = sse_events(&body)
        .iter()
        .filter_map(|(_, v)| v["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_redacted(&text);
    assert!(text.ends_with("```\n"), "{text}");
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");

    // The record counts them, and keeps only the redacted answer.
    let counts = answer_redactions(&server).await;
    assert_eq!(counts.len(), 4);
    for count in &counts {
        assert_eq!(count["aws-access-key-id"], 1, "{count}");
        assert_eq!(count["private-key-rsa"], 1, "{count}");
    }
    for event in server.events().await {
        let kept = String::from_utf8(server.kept_body(&event).await).unwrap();
        assert!(!kept.contains(WRITTEN_AWS_KEY), "{kept}");
        assert!(!kept.contains(pem_lines()[3]), "{kept}");
    }
}

#[tokio::test]
async fn a_tool_call_that_writes_a_secret_into_a_file_is_redacted_as_json() {
    let server = start_with(false, 64, true).await;
    let prompt = format!("STANDIN_TOOL {MARKER_WRITE_SECRET}");
    let anthropic_tools =
        json!([{"name": "write_file", "description": "Write", "input_schema": {"type": "object"}}]);
    let openai_tools = json!([{"type": "function", "function": {"name": "write_file", "parameters": {"type": "object"}}}]);
    // Whole answers: the arguments are JSON in a string (OpenAI) or an object
    // (Anthropic).
    let mut whole = ask("claude", &prompt);
    whole["tools"] = anthropic_tools.clone();
    let (status, _, body) = server.anthropic(&server.dev, whole).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let content = answer["content"][0]["input"]["content"].as_str().unwrap();
    assert_redacted(content);
    assert_eq!(answer["content"][0]["input"]["path"], ".env");
    let (status, body) = server
        .openai(
            &server.dev,
            json!({"model": "gpt", "tools": openai_tools, "messages": [{"role": "user", "content": prompt}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let arguments: Value = serde_json::from_str(
        answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_redacted(arguments["content"].as_str().unwrap());

    // Streamed: the pieces of the arguments rejoin into JSON whose value is redacted
    // (read as JSON text, the PEM's lines follow escaped newlines).
    let mut streamed = ask("claude", &prompt);
    streamed["tools"] = anthropic_tools;
    streamed["stream"] = json!(true);
    let (status, _, body) = server.anthropic(&server.dev, streamed).await;
    assert_eq!(status, 200, "{body}");
    let json_text: String = sse_events(&body)
        .iter()
        .filter_map(|(_, v)| v["delta"]["partial_json"].as_str())
        .collect();
    let input: Value = serde_json::from_str(&json_text).unwrap();
    assert_redacted(input["content"].as_str().unwrap());
    assert_eq!(input["path"], ".env");
    let streamed = json!({
        "model": "gpt", "stream": true, "tools": openai_tools,
        "messages": [{"role": "user", "content": prompt}],
    });
    let (status, body) = server.openai(&server.dev, streamed).await;
    assert_eq!(status, 200, "{body}");
    let events = sse_events(&body);
    let json_text: String = events
        .iter()
        .filter_map(|(_, v)| {
            v["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
        })
        .collect();
    let input: Value = serde_json::from_str(&json_text).unwrap();
    assert_redacted(input["content"].as_str().unwrap());
    let names: Vec<&str> = events
        .iter()
        .filter_map(|(_, v)| v["choices"][0]["delta"]["tool_calls"][0]["function"]["name"].as_str())
        .collect();
    assert_eq!(names, ["write_file"], "the call itself passes as it was");
}

#[tokio::test]
async fn log_probabilities_and_spoken_answers_which_redaction_cannot_reach_are_refused() {
    let server = start_with(false, 64, true).await;
    for extra in [
        json!({"logprobs": true}),
        json!({"top_logprobs": 3}),
        json!({"modalities": ["text", "audio"]}),
        json!({"audio": {"voice": "alloy", "format": "wav"}}),
    ] {
        let mut body =
            json!({"model": "gpt", "messages": [{"role": "user", "content": MARKER_WRITE_SECRET}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, answer) = server.openai(&server.dev, body).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains("redact_answers"), "{answer}");
    }
    assert!(server.vendor.requests().is_empty(), "nothing was sent");
    let (status, answer) = server
        .openai(
            &server.dev,
            json!({"model": "gpt", "logprobs": false, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn without_redact_answers_what_a_model_writes_passes_as_written() {
    let server = start(false).await;
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude", MARKER_WRITE_SECRET))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(WRITTEN_AWS_KEY), "off by default");
    assert_eq!(answer_redactions(&server).await, [json!({})]);
}
