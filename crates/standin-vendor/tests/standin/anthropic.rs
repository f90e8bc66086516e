//! The Anthropic routes against a real stand-in on a loopback port.

use crate::common::{anthropic_post, events, read_body_until_failure, tokens};
use serde_json::{Value, json};
use standin_vendor::StandIn;

#[tokio::test]
async fn whole_message_echoes_the_last_user_text_with_usage() {
    let standin = StandIn::spawn().await.unwrap();
    let request = json!({
        "model": "claude-test",
        "max_tokens": 64,
        "system": "be brief",
        "messages": [
            {"role": "user", "content": "an earlier question"},
            {"role": "assistant", "content": [{"type": "text", "text": "an answer"}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "42"}]},
                {"type": "text", "text": "and then?"}
            ]}
        ]
    });
    let response = anthropic_post(&standin, "/v1/messages", &request).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["id"].as_str().unwrap().starts_with("msg_standin_"));
    let expected_text = "echo: 42\nand then?";
    assert_eq!(
        body,
        json!({
            "id": body["id"],
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": [{"type": "text", "text": expected_text}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {
                "input_tokens": tokens(request.to_string().len()),
                "output_tokens": tokens(expected_text.len()),
            },
        })
    );
}

#[tokio::test]
async fn stream_sends_the_documented_event_sequence() {
    let standin = StandIn::spawn().await.unwrap();
    let request = json!({"model": "claude-test", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "stream me"}]});
    let response = anthropic_post(&standin, "/v1/messages", &request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = events(&response.text().await.unwrap());

    let names: Vec<&str> = events.iter().map(|e| e.name.as_deref().unwrap()).collect();
    let deltas = names
        .iter()
        .filter(|name| **name == "content_block_delta")
        .count();
    assert!(deltas >= 2, "the reply comes in pieces: {names:?}");
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(std::iter::repeat_n("content_block_delta", deltas));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    for event in &events {
        assert_eq!(event.json()["type"], event.name.as_deref().unwrap());
    }

    let start = events[0].json();
    assert_eq!(start["message"]["content"], json!([]));
    assert_eq!(start["message"]["stop_reason"], Value::Null);
    assert_eq!(start["message"]["model"], "claude-test");
    assert_eq!(
        start["message"]["usage"],
        json!({"input_tokens": tokens(request.to_string().len()), "output_tokens": 1})
    );
    assert_eq!(
        events[1].json(),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    );
    let text: String = events[3..3 + deltas]
        .iter()
        .map(|event| {
            let delta = event.json()["delta"].clone();
            assert_eq!(delta["type"], "text_delta");
            delta["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, "echo: stream me");
    let message_delta = events[events.len() - 2].json();
    assert_eq!(
        message_delta,
        json!({"type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": tokens(text.len())}})
    );
}

#[tokio::test]
async fn tool_marker_uses_the_first_tool_whole_and_streamed() {
    let standin = StandIn::spawn().await.unwrap();
    let prompt = "STANDIN_TOOL please";
    let mut request = json!({"model": "m", "max_tokens": 64,
        "tools": [{"name": "lookup", "input_schema": {"type": "object"}}, {"name": "other", "input_schema": {}}],
        "messages": [{"role": "user", "content": prompt}]});
    let body: Value = anthropic_post(&standin, "/v1/messages", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["stop_reason"], "tool_use");
    assert_eq!(
        body["content"],
        json!([{"type": "tool_use", "id": "toolu_standin_1", "name": "lookup", "input": {"echo": prompt}}])
    );
    let arguments = json!({"echo": prompt}).to_string();
    assert_eq!(body["usage"]["output_tokens"], tokens(arguments.len()));

    request["stream"] = json!(true);
    let response = anthropic_post(&standin, "/v1/messages", &request).await;
    let events = events(&response.text().await.unwrap());
    assert_eq!(
        events[1].json()["content_block"],
        json!({"type": "tool_use", "id": "toolu_standin_1", "name": "lookup", "input": {}})
    );
    let partial: String = events
        .iter()
        .filter(|event| event.name.as_deref() == Some("content_block_delta"))
        .map(|event| {
            let delta = event.json()["delta"].clone();
            assert_eq!(delta["type"], "input_json_delta");
            delta["partial_json"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&partial).unwrap(),
        json!({"echo": prompt})
    );
    let message_delta = events[events.len() - 2].json();
    assert_eq!(message_delta["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn missing_key_or_version_is_401_in_anthropic_format() {
    let standin = StandIn::spawn().await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/messages", standin.url);
    let request = json!({"model": "m", "max_tokens": 1, "messages": []});
    for builder in [
        client.post(&url).json(&request),
        client
            .post(&url)
            .bearer_auth("")
            .header("anthropic-version", "2023-06-01")
            .json(&request),
        client
            .post(&url)
            .header("x-api-key", "")
            .header("anthropic-version", "2023-06-01")
            .json(&request),
        client.post(&url).header("x-api-key", "k").json(&request),
    ] {
        let response = builder.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "authentication_error");
        assert!(body["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn a_bearer_key_is_accepted_as_the_python_sdk_sends_it() {
    let standin = StandIn::spawn().await.unwrap();
    let request =
        json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]});
    let response = reqwest::Client::new()
        .post(format!("{}/v1/messages", standin.url))
        .bearer_auth("sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn fail_before_is_500_api_error_whether_streamed_or_not() {
    let standin = StandIn::spawn().await.unwrap();
    for (prompt, stream) in [
        ("STANDIN_FAIL_BEFORE", false),
        ("STANDIN_FAIL_BEFORE", true),
        ("STANDIN_FAIL_MIDSTREAM", false),
    ] {
        let request = json!({"model": "m", "max_tokens": 1, "stream": stream,
            "messages": [{"role": "user", "content": prompt}]});
        let response = anthropic_post(&standin, "/v1/messages", &request).await;
        assert_eq!(response.status(), 500, "{prompt} stream={stream}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "api_error");
    }
}

#[tokio::test]
async fn fail_midstream_cuts_the_stream_before_message_stop() {
    let standin = StandIn::spawn().await.unwrap();
    let request = json!({"model": "m", "max_tokens": 1, "stream": true,
        "messages": [{"role": "user", "content": "STANDIN_FAIL_MIDSTREAM"}]});
    let response = anthropic_post(&standin, "/v1/messages", &request).await;
    assert_eq!(response.status(), 200);
    let (received, failed) = read_body_until_failure(response).await;
    assert!(
        failed,
        "the body read fails when the stream is cut: {received}"
    );
    assert!(
        !received.contains("message_stop"),
        "a cut-off stream has no message_stop"
    );
    let events = events(&received);
    assert_eq!(events[0].name.as_deref(), Some("message_start"));
    assert!(
        events.len() <= 4,
        "only the first events are sent: {received}"
    );
}

#[tokio::test]
async fn malformed_json_is_400_invalid_request_error() {
    let standin = StandIn::spawn().await.unwrap();
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", standin.url))
            .header("x-api-key", "k")
            .header("anthropic-version", "2023-06-01")
            .body("{\"model\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
}

#[tokio::test]
async fn count_tokens_estimates_from_the_body_length() {
    let standin = StandIn::spawn().await.unwrap();
    let request =
        json!({"model": "m", "messages": [{"role": "user", "content": "count these words"}]});
    let response = anthropic_post(&standin, "/v1/messages/count_tokens", &request).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"input_tokens": tokens(request.to_string().len())})
    );
}

#[tokio::test]
async fn a_slow_stream_sends_every_event_with_a_pause_before_each() {
    let standin = StandIn::spawn().await.unwrap();
    let request = json!({
        "model": "claude-test",
        "max_tokens": 64,
        "stream": true,
        "messages": [{"role": "user", "content": "STANDIN_SLOW_STREAM hi"}]
    });
    let started = std::time::Instant::now();
    let response = anthropic_post(&standin, "/v1/messages", &request).await;
    let body = response.text().await.unwrap();
    let names: Vec<String> = events(&body)
        .into_iter()
        .map(|e| e.name.unwrap_or_default())
        .collect();
    assert_eq!(names.first().map(String::as_str), Some("message_start"));
    assert_eq!(names.last().map(String::as_str), Some("message_stop"));
    // Held open: at least one pause per event, so many streams can be open at once.
    assert!(started.elapsed() >= std::time::Duration::from_millis(500) * names.len() as u32);
}
