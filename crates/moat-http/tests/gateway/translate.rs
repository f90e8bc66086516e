//! Any approved model for any client: an Anthropic-format client (Claude Code) on an
//! OpenAI-format model and an OpenAI-format client (Cursor) on an Anthropic one, whole
//! answers, streams and tool calls, against the stand-in (which checks nothing of the
//! translation: the vendor side is read back from what it recorded). What has no
//! counterpart is refused before anything is sent.

use super::*;
use standin_vendor::{MARKER_WRITE_SECRET, WRITTEN_AWS_KEY};

#[tokio::test]
async fn a_messages_client_is_served_by_an_openai_format_model() {
    let server = start(false).await;
    let answer = server.anthropic_echo_of_a_key("gpt").await;
    assert_eq!(answer["type"], "message");
    assert_eq!(answer["stop_reason"], "end_turn");
    assert!(answer["usage"]["input_tokens"].as_u64().unwrap() > 0);
    let sent = &server.vendor.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.body["model"], "gpt-4.1-2025-04-14");
    assert_eq!(sent.body["max_completion_tokens"], 64);
    assert!(!sent.raw_body.contains(SECRET));
    assert_eq!(sent.headers["authorization"], "Bearer vendor-key-openai");
    // Streamed, with a tool call: Anthropic's events, blocks opened and closed.
    let mut body = ask("gpt", "STANDIN_TOOL weather in Paris");
    body["stream"] = json!(true);
    body["tools"] = json!([{"name": "get_weather", "input_schema": {"type": "object"}}]);
    let (status, _, text) = server.anthropic(&server.dev, body).await;
    assert_eq!(status, 200, "{text}");
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().filter_map(|(n, _)| n.as_deref()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{text}");
    assert_eq!(names.last(), Some(&"message_stop"), "{text}");
    let start = events
        .iter()
        .find(|(n, e)| {
            n.as_deref() == Some("content_block_start") && e["content_block"]["type"] == "tool_use"
        })
        .expect("a tool use");
    assert_eq!(start.1["content_block"]["name"], "get_weather");
    let input: String = events
        .iter()
        .filter_map(|(_, e)| e["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap()["echo"],
        "STANDIN_TOOL weather in Paris"
    );
    let delta = events
        .iter()
        .find(|(n, _)| n.as_deref() == Some("message_delta"))
        .unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
    let outcome = server.events().await;
    assert!(
        outcome[1].body.details["tokens_out"].as_u64().unwrap() > 0,
        "usage from the translated stream"
    );
}

#[tokio::test]
async fn an_openai_client_is_served_by_an_anthropic_model() {
    let server = start(false).await;
    let (status, body) = server
        .openai(
            &server.dev,
            json!({"model": "claude", "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": format!("key {SECRET}")}
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["object"], "chat.completion");
    assert!(
        answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with("echo: key [REDACTED:"),
        "{answer}"
    );
    assert!(answer["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let sent = &server.vendor.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.body["system"], "be brief");
    assert_eq!(sent.body["max_tokens"], 4096);
    assert_eq!(sent.headers["x-api-key"], "vendor-key-anthropic");
    assert!(!sent.raw_body.contains(SECRET));
    // Streamed, with a tool call: OpenAI's chunks, ending with [DONE].
    let (status, text) = server
        .openai(
            &server.dev,
            json!({"model": "claude", "stream": true, "stream_options": {"include_usage": true},
                   "messages": [{"role": "user", "content": "STANDIN_TOOL weather"}],
                   "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]}),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let events = sse_events(&text);
    let calls: Vec<&Value> = events
        .iter()
        .filter_map(|(_, e)| e.pointer("/choices/0/delta/tool_calls/0"))
        .collect();
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let arguments: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).unwrap()["echo"],
        "STANDIN_TOOL weather"
    );
    assert!(
        events
            .iter()
            .any(|(_, e)| e.pointer("/choices/0/finish_reason") == Some(&json!("tool_calls")))
    );
    assert!(
        events
            .iter()
            .any(|(_, e)| e["usage"]["total_tokens"].as_u64().is_some_and(|t| t > 0)),
        "usage asked for, given"
    );
    // Without asking for usage, the usage chunk is kept from the client.
    let (_, text) = server
        .openai(&server.dev, json!({"model": "claude", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert!(!text.contains("\"usage\""), "{text}");
    let written: String = sse_events(&text)
        .iter()
        .filter_map(|(_, e)| {
            e.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect();
    assert_eq!(written, "echo: hi");
}

#[tokio::test]
async fn what_has_no_counterpart_is_refused_before_anything_is_sent() {
    let server = start(false).await;
    let mut top_k = ask("gpt", "hi");
    top_k["top_k"] = json!(5);
    let (status, _, body) = server.anthropic(&server.dev, top_k).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("`top_k`") && body.contains("\"type\":\"error\""),
        "{body}"
    );
    let (status, body) = server
        .openai(
            &server.dev,
            json!({"model": "claude", "n": 2, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("`n`"), "{body}");
    // Token counting and embeddings have no counterpart at the other format's vendors.
    let response = server
        .http
        .post(format!("{}/v1/messages/count_tokens", server.url))
        .header("x-api-key", &server.dev)
        .json(&json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let (status, body) = server
        .post_bearer(
            "/v1/embeddings",
            &server.dev,
            json!({"model": "claude", "input": "hi"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(server.vendor.requests().is_empty(), "nothing was sent");
    // Each refusal is on the record.
    assert_eq!(server.events().await.len(), 4);
}

#[tokio::test]
async fn a_translated_stream_is_redacted_in_the_clients_format() {
    let server = start_with(false, 64, true).await;
    let mut body = ask("gpt", MARKER_WRITE_SECRET);
    body["stream"] = json!(true);
    let (status, _, text) = server.anthropic(&server.dev, body).await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains(WRITTEN_AWS_KEY), "{text}");
    let written: String = sse_events(&text)
        .iter()
        .filter_map(|(_, e)| e["delta"]["text"].as_str())
        .collect();
    assert!(
        written.contains("[REDACTED:aws-access-key-id:"),
        "{written}"
    );
    assert!(written.contains("[REDACTED:private-key-rsa:"), "{written}");
    let (status, text) = server
        .openai(&server.dev, json!({"model": "claude", "stream": true, "messages": [{"role": "user", "content": MARKER_WRITE_SECRET}]}))
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains(WRITTEN_AWS_KEY), "{text}");
    assert!(text.contains("[REDACTED:private-key-rsa:"), "{text}");
}

#[tokio::test]
async fn what_translation_parses_or_joins_is_redacted_again() {
    let server = start(false).await;
    // Escaped in the arguments' JSON: what parsing them yields is a key.
    let (status, body) = server
        .openai(
            &server.dev,
            json!({"model": "claude", "messages": [
                {"role": "user", "content": "run it"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "sh", "arguments": "{\"cmd\":\"\\u0041KIAQ3EGRBJXZ7KLMN4P\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "done"}
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Two text blocks, each harmless alone, one string once translated.
    let body = json!({"model": "gpt", "max_tokens": 64, "messages": [
        {"role": "user", "content": "go on"},
        {"role": "assistant", "content": [{"type": "text", "text": "AKIAQ3EGRB"}, {"type": "text", "text": "JXZ7KLMN4P"}]},
        {"role": "user", "content": "and?"}
    ]});
    let (status, _, text) = server.anthropic(&server.dev, body).await;
    assert_eq!(status, 200, "{text}");
    for sent in server.vendor.requests() {
        assert!(!sent.raw_body.contains(SECRET), "{}", sent.raw_body);
    }
    let events = server.events().await;
    assert!(
        events[1]
            .body
            .redactions
            .get("aws-access-key-id")
            .copied()
            .unwrap_or(0)
            >= 1,
        "counted on the record: {:?}",
        events[1].body.redactions
    );
}

/// A Responses API request (Codex CLI's format) to `model`.
async fn respond(server: &Server, body: Value) -> (u16, String) {
    server.post_bearer("/v1/responses", &server.dev, body).await
}

#[tokio::test]
async fn a_responses_client_is_served_by_an_anthropic_model() {
    let server = start(false).await;
    let (status, body) = respond(
        &server,
        json!({"model": "claude", "instructions": format!("deploy with {SECRET}"),
               "input": [{"role": "user", "content": [{"type": "input_text", "text": format!("key {SECRET}")}]}],
               "include": ["reasoning.encrypted_content"], "prompt_cache_key": "conv-1"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["object"], "response");
    assert_eq!(answer["status"], "completed");
    let text = answer["output"][0]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("echo: key [REDACTED:aws-access-key-id:"),
        "{text}"
    );
    assert!(answer["usage"]["input_tokens"].as_u64().unwrap() > 0);
    let sent = &server.vendor.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.headers["x-api-key"], "vendor-key-anthropic");
    assert!(
        sent.body["system"]
            .as_str()
            .unwrap()
            .starts_with("deploy with [REDACTED:")
    );
    assert!(
        sent.body.get("store").is_none() && sent.body.get("input").is_none(),
        "{}",
        sent.body
    );
    assert!(!sent.raw_body.contains(SECRET), "{}", sent.raw_body);
    let outcome = server.events().await;
    assert_eq!(
        outcome[0].body.details["status"], 200,
        "{:?}",
        outcome[0].body.details
    );
    assert!(outcome[0].body.details["tokens_out"].as_u64().unwrap() > 0);
    // Streamed, with a tool call: the Responses API's events, numbered, the call whole
    // in its item, the response last.
    let (status, text) = respond(
        &server,
        json!({"model": "claude", "stream": true, "input": "STANDIN_TOOL weather in Paris",
               "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let events = sse_events(&text);
    for (n, (name, event)) in events.iter().enumerate() {
        assert_eq!(event["sequence_number"], n as u64, "{text}");
        assert_eq!(name.as_deref(), event["type"].as_str(), "named as typed");
    }
    assert_eq!(events[0].1["type"], "response.created");
    let last = &events.last().unwrap().1;
    assert_eq!(last["type"], "response.completed", "{text}");
    let call = events
        .iter()
        .find(|(_, e)| {
            e["type"] == "response.output_item.done" && e["item"]["type"] == "function_call"
        })
        .expect("a function call");
    assert_eq!(call.1["item"]["name"], "get_weather");
    let arguments: Value =
        serde_json::from_str(call.1["item"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments["echo"], "STANDIN_TOOL weather in Paris");
    assert!(
        last["response"]["output"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["type"] == "function_call")
    );
    assert!(last["response"]["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let outcome = server.events().await;
    assert!(
        outcome[1].body.details["tokens_out"].as_u64().unwrap() > 0,
        "usage from the translated stream"
    );
    // The call's result goes back as a tool result in the next turn.
    let (status, body) = respond(
        &server,
        json!({"model": "claude", "input": [
            {"role": "user", "content": "weather?"},
            call.1["item"].clone(),
            {"type": "function_call_output", "call_id": call.1["item"]["call_id"], "output": format!("sunny, key {SECRET}")}
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sent = server.vendor.requests().pop().unwrap();
    assert_eq!(sent.body["messages"][1]["content"][0]["type"], "tool_use");
    assert_eq!(
        sent.body["messages"][2]["content"][0]["type"],
        "tool_result"
    );
    assert!(!sent.raw_body.contains(SECRET), "{}", sent.raw_body);
    // What has no counterpart is refused, naming it, before anything is sent.
    let before = server.vendor.requests().len();
    for (extra, says) in [
        (
            json!({"reasoning": {"effort": "high"}}),
            "`reasoning.effort`",
        ),
        (
            json!({"text": {"format": {"type": "json_schema", "name": "x", "schema": {}}}}),
            "`text.format`",
        ),
        (
            json!({"tools": [{"type": "custom", "name": "apply_patch"}]}),
            "`custom` tool",
        ),
    ] {
        let mut body = json!({"model": "claude", "input": "hi"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, text) = respond(&server, body).await;
        assert_eq!(status, 400, "{extra}: {text}");
        assert!(text.contains(says), "{extra}: {text}");
    }
    assert_eq!(
        server.vendor.requests().len(),
        before,
        "nothing refused was sent"
    );
}

#[tokio::test]
async fn a_translated_responses_stream_cut_off_still_counts_its_prompt() {
    let server = start(false).await;
    let (status, text) = respond(
        &server,
        json!({"model": "claude", "stream": true, "input": format!("STANDIN_FAIL_MIDSTREAM {}", "x".repeat(4000))}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains("response.completed"), "{text}");
    let outcome = server.events().await;
    let details = &outcome.last().unwrap().body.details;
    assert_eq!(details["status"], 502, "{details:?}");
    assert!(
        details["tokens_in"].as_u64().unwrap() >= 1000,
        "{details:?}"
    );
}

#[tokio::test]
async fn a_translated_responses_stream_is_redacted() {
    let server = start_with(false, 64, true).await;
    for stream in [true, false] {
        let (status, text) = respond(
            &server,
            json!({"model": "claude", "stream": stream, "input": MARKER_WRITE_SECRET}),
        )
        .await;
        assert_eq!(status, 200, "{text}");
        assert!(!text.contains(WRITTEN_AWS_KEY), "{text}");
        assert!(text.contains("[REDACTED:aws-access-key-id:"), "{text}");
        if stream {
            let written: String = sse_events(&text)
                .iter()
                .filter(|(_, e)| e["type"] == "response.output_text.delta")
                .filter_map(|(_, e)| e["delta"].as_str())
                .collect();
            let done = sse_events(&text)
                .into_iter()
                .find(|(_, e)| e["type"] == "response.output_text.done")
                .unwrap();
            assert_eq!(
                done.1["text"],
                written.as_str(),
                "the deltas and the done text agree"
            );
        }
    }
}
