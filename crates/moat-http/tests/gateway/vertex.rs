//! Google Vertex AI (`kind = "vertex"`), against the stand-in's token endpoint (which
//! checks the service account's signed JWT as Google does) and its `rawPredict` and
//! `streamRawPredict` (which want a token it issued): the access token had once and
//! reused, Anthropic's models with the body Vertex wants, streams as Anthropic's; a key
//! Google does not know refused at the token endpoint and nothing sent to the model.

use super::*;

#[tokio::test]
async fn anthropic_models_on_vertex_get_a_service_accounts_token() {
    let server = start(false).await;
    server.anthropic_echo_of_a_key("claude-vertex").await;
    let mut streamed = ask("claude-vertex", "hello vertex");
    streamed["stream"] = json!(true);
    let (status, _, text) = server.anthropic(&server.dev, streamed).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.trim_end().ends_with("\"type\":\"message_stop\"}"),
        "{text}"
    );
    let received = server.vendor.requests();
    let paths: Vec<&str> = received.iter().map(|r| r.path.as_str()).collect();
    let model = "/v1/projects/standin-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929";
    assert_eq!(
        paths,
        [
            "/token".to_string(),
            format!("{model}:rawPredict"),
            format!("{model}:streamRawPredict")
        ],
        "one token for both requests"
    );
    let predicted = &received[1];
    assert_eq!(predicted.body["anthropic_version"], "vertex-2023-10-16");
    assert!(predicted.body.get("model").is_none());
    assert!(predicted.headers["authorization"].starts_with("Bearer ya29.standin-"));
    assert!(!predicted.raw_body.contains(SECRET));
    assert_eq!(received[2].body["stream"], true);
}

#[tokio::test]
async fn a_key_google_does_not_know_sends_nothing_to_the_model() {
    let server = start(false).await;
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude-vertex-other-key", "hi"))
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("credential cannot be read"), "{body}");
    let paths: Vec<String> = server
        .vendor
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(paths, ["/token"], "only the token endpoint was asked");
    let events = server.events().await;
    assert_eq!(events[0].body.details["status"], 502);
}

#[tokio::test]
async fn gemini_models_on_vertex_are_called_with_generate_content() {
    let server = start(false).await;
    let answer = server.anthropic_echo_of_a_key("gemini").await;
    assert_eq!(answer["type"], "message");
    assert_eq!(answer["model"], "gemini-2.5-pro");
    assert!(
        answer["id"]
            .as_str()
            .unwrap()
            .starts_with("msg_gemini_standin"),
        "{answer}"
    );
    let received = server.vendor.requests();
    let model =
        "/v1/projects/standin-project/locations/us-east5/publishers/google/models/gemini-2.5-pro";
    assert_eq!(received[1].path, format!("{model}:generateContent"));
    let sent = &received[1];
    assert_eq!(sent.body["contents"][0]["role"], "user");
    assert_eq!(sent.body["generationConfig"]["maxOutputTokens"], 64);
    assert!(sent.headers["authorization"].starts_with("Bearer ya29.standin-"));
    assert!(!sent.raw_body.contains(SECRET));
    // Streamed with a function call: Gemini's SSE chunks as Anthropic's events.
    let mut body = ask("gemini", "STANDIN_TOOL weather");
    body["stream"] = json!(true);
    body["tools"] = json!([{"name": "get_weather", "input_schema": {"type": "object"}}]);
    let (status, _, text) = server.anthropic(&server.dev, body).await;
    assert_eq!(status, 200, "{text}");
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().filter_map(|(n, _)| n.as_deref()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{text}");
    assert_eq!(names.last(), Some(&"message_stop"), "{text}");
    let call = events
        .iter()
        .find(|(_, e)| e["content_block"]["type"] == "tool_use")
        .expect("a tool use");
    assert_eq!(call.1["content_block"]["name"], "get_weather");
    let input: String = events
        .iter()
        .filter_map(|(_, e)| e["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap()["echo"],
        "STANDIN_TOOL weather"
    );
    assert_eq!(
        server.vendor.requests()[2].path,
        format!("{model}:streamGenerateContent?alt=sse")
    );
    let outcome = server.events().await;
    assert!(
        outcome[1].body.details["tokens_out"].as_u64().unwrap() > 0,
        "usage from the last chunk"
    );
    // The result goes back named by its function; Chat Completions and the Responses API
    // reach Gemini through translation.
    let (status, _, text) = server
        .anthropic(
            &server.dev,
            json!({"model": "gemini", "max_tokens": 64, "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [call.1["content_block"].clone()]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.1["content_block"]["id"], "content": "sunny"}]}
            ], "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]}),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("echo: sunny"), "{text}");
    let sent = server.vendor.requests().pop().unwrap();
    assert_eq!(
        sent.body["contents"][2]["parts"][0]["functionResponse"]["name"],
        "get_weather"
    );
    // Gemini's signature of the call went back with it, carried in the call's id; to
    // another model the id goes without it (found by review: its characters and length
    // are more than other vendors take).
    assert_eq!(
        sent.body["contents"][1]["parts"][0]["thoughtSignature"],
        "c3RhbmRpbi1zaWduYXR1cmU+/w=="
    );
    let id = call.1["content_block"]["id"].as_str().unwrap();
    assert!(id.contains("__thought__"), "{id}");
    let (status, _, text) = server
        .anthropic(
            &server.dev,
            json!({"model": "claude", "max_tokens": 64, "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [call.1["content_block"].clone()]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "sunny"}]}
            ], "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]}),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    let sent = server.vendor.requests().pop().unwrap();
    let plain = id.split("__thought__").next().unwrap();
    assert!(
        plain.len() <= 40 && !sent.raw_body.contains("__thought__"),
        "{}",
        sent.raw_body
    );
    assert_eq!(sent.body["messages"][1]["content"][0]["id"], plain);
    assert_eq!(sent.body["messages"][2]["content"][0]["tool_use_id"], plain);
    let (status, text) = server
        .post_bearer(
            "/v1/chat/completions",
            &server.dev,
            json!({"model": "gemini", "stream": true, "messages": [{"role": "user", "content": "hi gemini"}]}),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("\"content\":\"echo:") && text.trim_end().ends_with("data: [DONE]"),
        "{text}"
    );
    let (status, text) = server
        .post_bearer(
            "/v1/responses",
            &server.dev,
            json!({"model": "gemini", "input": "hi again"}),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["output"][0]["content"][0]["text"],
        "echo: hi again"
    );
}

#[tokio::test]
async fn a_gemini_stream_cut_off_fails_and_a_written_secret_is_redacted() {
    let server = start_with(false, 64, true).await;
    let mut body = ask("gemini", standin_vendor::MARKER_WRITE_SECRET);
    body["stream"] = json!(true);
    let (status, _, text) = server.anthropic(&server.dev, body).await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains(standin_vendor::WRITTEN_AWS_KEY), "{text}");
    assert!(text.contains("[REDACTED:aws-access-key-id:"), "{text}");
    let mut cut = ask("gemini", "STANDIN_FAIL_MIDSTREAM");
    cut["stream"] = json!(true);
    let (status, _, text) = server.anthropic(&server.dev, cut).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("\"type\":\"error\"") && !text.contains("message_stop"),
        "{text}"
    );
    // Cut off before its usage, the stream still counts what was sent (found by review).
    let outcome = server.events().await;
    let cut = &outcome.last().unwrap().body.details;
    assert_eq!(cut["status"], 502, "{cut:?}");
    assert!(cut["tokens_in"].as_u64().unwrap() > 0, "{cut:?}");
}

#[tokio::test]
async fn without_a_key_file_the_metadata_servers_token_is_used() {
    let server = start(false).await;
    for _ in 0..2 {
        let (status, _, body) = server
            .anthropic(&server.dev, ask("claude-vertex-gke", "hi"))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let received = server.vendor.requests();
    assert!(
        received[0]
            .path
            .starts_with("/computeMetadata/v1/instance/service-accounts/default/token?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform"),
        "{}",
        received[0].path
    );
    assert_eq!(received[0].headers["metadata-flavor"], "Google");
    assert_eq!(received.len(), 3, "one token for both requests");
    assert!(received[1].path.ends_with(":rawPredict"));
    assert!(received[1].headers["authorization"].starts_with("Bearer ya29.standin-metadata-"));
}
