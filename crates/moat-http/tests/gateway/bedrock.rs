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
