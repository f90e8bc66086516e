//! Amazon Bedrock (`kind = "bedrock"`), against the stand-in's Bedrock routes, which
//! check the SigV4 signature as AWS does (the request signed again with the key it
//! knows, at the request's own date, over the headers it names): Anthropic's models
//! through InvokeModel with the Messages body Bedrock wants, streams from AWS
//! event-stream frames back as Anthropic's events; a wrong key refused by the vendor,
//! no credentials at all refused before anything is sent; an OpenAI-format client
//! served through translation; the same egress rules.

use super::*;
use standin_vendor::{MARKER_WRITE_SECRET, WRITTEN_AWS_KEY};

#[tokio::test]
async fn anthropic_models_on_bedrock_are_signed_invoked_and_streamed() {
    let server = start(false).await;
    server.anthropic_echo_of_a_key("claude-bedrock").await;
    let sent = &server.vendor.requests()[0];
    assert_eq!(
        sent.path,
        "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke"
    );
    assert_eq!(sent.body["anthropic_version"], "bedrock-2023-05-31");
    assert!(sent.body.get("model").is_none() && sent.body.get("stream").is_none());
    assert!(!sent.raw_body.contains(SECRET));
    assert!(
        sent.headers["authorization"].starts_with(&format!(
            "AWS4-HMAC-SHA256 Credential={}/",
            standin_vendor::AWS_ACCESS_KEY_ID
        )),
        "{:?}",
        sent.headers
    );
    assert!(!sent.headers.contains_key("x-api-key"));
    // Streamed: frames become Anthropic's events, ending with message_stop once recorded.
    let mut streamed = ask("claude-bedrock", "hello bedrock");
    streamed["stream"] = json!(true);
    let (status, _, text) = server.anthropic(&server.dev, streamed).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.starts_with("event: message_start\n"), "{text}");
    assert!(
        text.trim_end().ends_with("\"type\":\"message_stop\"}"),
        "{text}"
    );
    let written: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|e| e["delta"]["text"].as_str().map(String::from))
        .collect();
    assert_eq!(written, "echo: hello bedrock");
    assert!(
        server.vendor.requests()[1]
            .path
            .ends_with("/invoke-with-response-stream")
    );
    let events = server.events().await;
    assert_eq!(events.len(), 2);
    assert!(
        events[1].body.details["tokens_out"].as_u64().unwrap() > 0,
        "usage from the frames"
    );
    assert_eq!(events[1].body.egress.as_ref().unwrap().vendor, "bedrock");
    // An OpenAI-format client on the same model, translated.
    let (status, body) = server
        .openai(
            &server.dev,
            json!({"model": "claude-bedrock", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "echo: hi");
}

#[tokio::test]
async fn a_bad_signature_is_refused_by_the_vendor_and_no_credentials_send_nothing() {
    let server = start(false).await;
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude-bedrock-wrong-key", "hi"))
        .await;
    assert_eq!(status, 403, "{body}");
    // The cloud's own words (which may echo what was signed) stay in the log.
    assert!(body.contains("refused the request's credential"), "{body}");
    assert!(!body.contains("signature we calculated"), "{body}");
    let refused = server.events().await.pop().unwrap();
    assert!(
        !serde_json::to_string(&refused.body)
            .unwrap()
            .contains("signature we calculated")
    );
    assert_eq!(server.vendor.requests().len(), 1, "the vendor refused it");
    server.vendor.clear();
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude-bedrock-no-keys", "hi"))
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("credential cannot be read"), "{body}");
    assert!(
        !body.contains("no-aws-credentials"),
        "the path is the log's: {body}"
    );
    assert!(
        server.vendor.requests().is_empty(),
        "nothing unsigned was sent"
    );
    // Restricted code stays on premises, Bedrock or not.
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude-bedrock", VAULT))
        .await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn what_a_model_writes_on_bedrock_is_redacted_from_its_frames() {
    let server = start_with(false, 64, true).await;
    let mut streamed = ask("claude-bedrock", MARKER_WRITE_SECRET);
    streamed["stream"] = json!(true);
    let (status, _, text) = server.anthropic(&server.dev, streamed).await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains(WRITTEN_AWS_KEY), "{text}");
    assert!(text.contains("[REDACTED:private-key-rsa:"), "{text}");
}

/// A Responses API or Chat Completions request, for the translated clients below.
async fn post(server: &Server, path: &str, body: Value) -> (u16, String) {
    server.post_bearer(path, &server.dev, body).await
}

#[tokio::test]
async fn other_models_on_bedrock_are_called_through_converse() {
    let server = start(false).await;
    let answer = server.anthropic_echo_of_a_key("llama-bedrock").await;
    assert_eq!(answer["type"], "message");
    assert_eq!(answer["model"], "meta.llama3-1-70b-instruct-v1:0");
    assert!(
        answer["id"].as_str().unwrap().starts_with("msg_standin-"),
        "{answer}"
    );
    let sent = &server.vendor.requests()[0];
    assert_eq!(
        sent.path,
        "/model/meta.llama3-1-70b-instruct-v1%3A0/converse"
    );
    assert!(
        sent.body["messages"][0]["content"][0]["text"].is_string(),
        "{}",
        sent.body
    );
    assert_eq!(sent.body["inferenceConfig"]["maxTokens"], 64);
    assert!(!sent.raw_body.contains(SECRET));
    assert!(sent.headers["authorization"].starts_with("AWS4-HMAC-SHA256 "));
    // Streamed with a tool call: ConverseStream frames as Anthropic's events.
    let mut body = ask("llama-bedrock", "STANDIN_TOOL weather");
    body["stream"] = json!(true);
    body["tools"] = json!([{"name": "get_weather", "description": "weather", "input_schema": {"type": "object"}}]);
    let (status, _, text) = server.anthropic(&server.dev, body).await;
    assert_eq!(status, 200, "{text}");
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().filter_map(|(n, _)| n.as_deref()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{text}");
    assert_eq!(names.last(), Some(&"message_stop"), "{text}");
    let start = events
        .iter()
        .find(|(_, e)| e["content_block"]["type"] == "tool_use")
        .expect("a tool use");
    assert_eq!(start.1["content_block"]["name"], "get_weather");
    let input: String = events
        .iter()
        .filter_map(|(_, e)| e["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap()["echo"],
        "STANDIN_TOOL weather"
    );
    let sent = &server.vendor.requests()[1];
    assert!(sent.path.ends_with("/converse-stream"));
    assert_eq!(
        sent.body["toolConfig"]["tools"][0]["toolSpec"]["name"],
        "get_weather"
    );
    let outcome = server.events().await;
    assert!(
        outcome[1].body.details["tokens_out"].as_u64().unwrap() > 0,
        "usage from metadata"
    );
    // The call's result goes back as Converse's toolResult.
    let (status, _, text) = server
        .anthropic(
            &server.dev,
            json!({"model": "llama-bedrock", "max_tokens": 64, "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [start.1["content_block"].clone()]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": start.1["content_block"]["id"], "content": "sunny"}]}
            ], "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]}),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("echo: sunny"), "{text}");
    // Chat Completions and the Responses API through translation, then Converse.
    let (status, text) = post(
        &server,
        "/v1/chat/completions",
        json!({"model": "llama-bedrock", "stream": true, "messages": [{"role": "user", "content": "hi llama"}]}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let (status, text) = post(
        &server,
        "/v1/responses",
        json!({"model": "llama-bedrock", "input": "hi again"}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["output"][0]["content"][0]["text"],
        "echo: hi again"
    );
    // What Converse has no field for is refused before anything is sent.
    let before = server.vendor.requests().len();
    let mut top_k = ask("llama-bedrock", "hi");
    top_k["top_k"] = json!(5);
    let (status, _, text) = server.anthropic(&server.dev, top_k).await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("`top_k`") && text.contains("Converse"),
        "{text}"
    );
    assert_eq!(server.vendor.requests().len(), before);
}

#[tokio::test]
async fn a_converse_stream_cut_off_or_redacted_is_handled_as_any_other() {
    let server = start_with(false, 64, true).await;
    let mut body = ask("llama-bedrock", MARKER_WRITE_SECRET);
    body["stream"] = json!(true);
    let (status, _, text) = server.anthropic(&server.dev, body).await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains(WRITTEN_AWS_KEY), "{text}");
    assert!(text.contains("[REDACTED:aws-access-key-id:"), "{text}");
    let mut cut = ask("llama-bedrock", "STANDIN_FAIL_MIDSTREAM");
    cut["stream"] = json!(true);
    let (status, _, text) = server.anthropic(&server.dev, cut).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("vendor_stream_failed") || text.contains("\"type\":\"error\""),
        "{text}"
    );
    assert!(!text.contains("message_stop"), "{text}");
}

#[tokio::test]
async fn a_pods_web_identity_or_container_role_signs_bedrock_requests() {
    let server = start(false).await;
    for (model, credentials) in [
        ("claude-bedrock-irsa", "/_aws/sts"),
        ("claude-bedrock-pod", "/_aws/container-credentials"),
    ] {
        server.vendor.clear();
        for _ in 0..2 {
            let (status, _, body) = server.anthropic(&server.dev, ask(model, "hi")).await;
            assert_eq!(status, 200, "{model}: {body}");
        }
        let received = server.vendor.requests();
        let paths: Vec<&str> = received.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths[0], credentials,
            "{model}: keys asked for once, then kept"
        );
        assert!(
            paths[1..].iter().all(|p| p.ends_with("/invoke")) && paths.len() == 3,
            "{paths:?}"
        );
        // The role's temporary keys, with their session token, signed both.
        for invoked in &received[1..] {
            assert_eq!(
                invoked.headers["x-amz-security-token"],
                standin_vendor::SESSION_TOKEN
            );
        }
        if model == "claude-bedrock-pod" {
            assert_eq!(
                received[0].headers["authorization"],
                standin_vendor::CONTAINER_AUTHORIZATION_TOKEN,
                "the pod's token, read from its file"
            );
        }
    }
}

#[tokio::test]
async fn a_web_identity_sts_refuses_sends_nothing_and_says_why_in_the_log() {
    let server = start(false).await;
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude-bedrock-irsa-stale", "hi"))
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("credential cannot be read"), "{body}");
    let received = server.vendor.requests();
    let paths: Vec<&str> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/_aws/sts"], "nothing went to the model");
    // What STS was sent: the role, the session's name and the token, as a form.
    let form = &received[0].raw_body;
    for field in [
        "Action=AssumeRoleWithWebIdentity",
        "Version=2011-06-15",
        "RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fmoat-gateway",
        "RoleSessionName=moat-gateway",
        "WebIdentityToken=eyJ.stale.token",
    ] {
        assert!(form.contains(field), "{field} in {form}");
    }
    assert!(
        !body.contains("eyJ.stale.token"),
        "the token stays out of the answer: {body}"
    );
}
