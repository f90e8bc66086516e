//! A model served only through the Responses API (`api = "responses"`: `codex`, pinned
//! to `gpt-5-codex` at the OpenAI stand-in) for every client: Messages and Chat
//! Completions requests translated into the Responses API (redacted again, `store:
//! false`), its response and typed events translated back, tool calls both ways; a
//! Responses API client's request passed as it is. The stand-in checks the body as the
//! API does (known fields, item and part types, each output answering a call).

use super::*;
use standin_vendor::{MARKER_FAIL_MIDSTREAM, MARKER_TOOL};

#[tokio::test]
async fn a_messages_client_is_served_by_a_responses_only_model() {
    let server = start(false).await;
    let answer = server.anthropic_echo_of_a_key("codex").await;
    assert_eq!(answer["stop_reason"], "end_turn");
    assert!(answer["usage"]["input_tokens"].as_u64().unwrap() > 0);
    let sent = &server.vendor.requests()[0];
    assert_eq!(sent.path, "/v1/responses");
    assert_eq!(sent.body["model"], "gpt-5-codex");
    assert_eq!(sent.body["store"], false, "nothing kept at the vendor");
    assert_eq!(sent.body["max_output_tokens"], 64);
    assert_eq!(sent.body["input"][0]["content"][0]["type"], "input_text");
    assert!(!sent.raw_body.contains(SECRET), "{}", sent.raw_body);
    // Streamed, with a tool call, and the call's result sent back.
    let tools = json!([{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}]);
    let mut body = ask("codex", &format!("{MARKER_TOOL} weather in Paris"));
    body["stream"] = json!(true);
    body["tools"] = tools.clone();
    let (status, _, text) = server.anthropic(&server.dev, body).await;
    assert_eq!(status, 200, "{text}");
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().filter_map(|(n, _)| n.as_deref()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{text}");
    assert_eq!(names.last(), Some(&"message_stop"), "{text}");
    let (_, start) = events
        .iter()
        .find(|(n, e)| {
            n.as_deref() == Some("content_block_start") && e["content_block"]["type"] == "tool_use"
        })
        .expect("a tool use");
    let call_id = start["content_block"]["id"].as_str().unwrap().to_string();
    assert_eq!(start["content_block"]["name"], "get_weather");
    let arguments: String = events
        .iter()
        .filter_map(|(_, e)| e["delta"]["partial_json"].as_str())
        .collect();
    assert!(serde_json::from_str::<Value>(&arguments).unwrap()["echo"].is_string());
    let stop = events
        .iter()
        .find(|(n, _)| n.as_deref() == Some("message_delta"))
        .unwrap();
    assert_eq!(stop.1["delta"]["stop_reason"], "tool_use");
    let round_trip = json!({
        "model": "codex", "max_tokens": 64, "tools": tools,
        "messages": [
            {"role": "user", "content": "weather in Paris"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": call_id, "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "sunny"}]},
        ],
    });
    let (status, _, body) = server.anthropic(&server.dev, round_trip).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["content"][0]["text"], "echo: sunny");
    let sent = server.vendor.requests().pop().unwrap();
    assert_eq!(sent.body["input"][1]["type"], "function_call");
    assert_eq!(
        sent.body["input"][2],
        json!({"type": "function_call_output", "call_id": call_id, "output": "sunny"})
    );
    // Every answer was recorded with its tokens.
    let recorded = server.events().await;
    assert_eq!(recorded.len(), 3);
    assert!(
        recorded
            .iter()
            .all(|e| e.body.details["tokens_out"].as_u64().unwrap() > 0)
    );
}

#[tokio::test]
async fn a_chat_client_is_served_by_a_responses_only_model() {
    let server = start(false).await;
    let (status, body) = server
        .openai(&server.dev, json!({"model": "codex", "reasoning_effort": "low", "messages": [{"role": "user", "content": format!("key {SECRET}")}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert!(
        answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with("echo: key [REDACTED:aws-access-key-id:"),
        "{answer}"
    );
    let sent = &server.vendor.requests()[0];
    assert_eq!(sent.path, "/v1/responses");
    assert_eq!(sent.body["reasoning"], json!({"effort": "low"}));
    assert!(
        sent.body.get("max_output_tokens").is_none(),
        "no limit the client did not set"
    );
    assert!(!sent.raw_body.contains(SECRET));
    let (status, text) = server
        .openai(&server.dev, json!({"model": "codex", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hello codex"}]}))
        .await;
    assert_eq!(status, 200, "{text}");
    let chunks = sse_events(&text);
    let written: String = chunks
        .iter()
        .filter_map(|(_, c)| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(written, "echo: hello codex");
    assert_eq!(chunks.last().unwrap().1, json!("[DONE]"));
    assert!(
        chunks
            .iter()
            .any(|(_, c)| c["usage"]["prompt_tokens"].as_u64().is_some_and(|n| n > 0))
    );
}

#[tokio::test]
async fn a_responses_client_goes_as_it_is_and_what_has_no_counterpart_is_refused() {
    let server = start(false).await;
    let (status, body) = server
        .post_bearer(
            "/v1/responses",
            &server.dev,
            json!({"model": "codex", "input": "hi", "store": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let sent = &server.vendor.requests()[0];
    assert_eq!(
        (sent.path.as_str(), &sent.body["input"]),
        ("/v1/responses", &json!("hi"))
    );
    server.vendor.clear();
    let mut stops = ask("codex", "hi");
    stops["stop_sequences"] = json!(["END"]);
    let (status, _, body) = server.anthropic(&server.dev, stops).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("`stop_sequences`") && body.contains("Responses API"),
        "{body}"
    );
    assert!(server.vendor.requests().is_empty(), "nothing sent");
}

#[tokio::test]
async fn a_responses_stream_cut_off_fails_the_translated_stream_and_is_still_counted() {
    let server = start(false).await;
    let mut body = ask("codex", &format!("{MARKER_FAIL_MIDSTREAM} long answer"));
    body["stream"] = json!(true);
    let (status, _, text) = server.anthropic(&server.dev, body).await;
    assert_eq!(status, 200, "{text}");
    let events = sse_events(&text);
    assert!(
        !events
            .iter()
            .any(|(n, _)| n.as_deref() == Some("message_stop")),
        "{text}"
    );
    assert_eq!(events.last().unwrap().0.as_deref(), Some("error"), "{text}");
    let recorded = server.events().await;
    assert!(recorded[0].body.details["tokens_in"].as_u64().unwrap() > 0);
}
