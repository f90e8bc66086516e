//! `/v1/embeddings` is a way out like any other: inputs redacted, code recognised and
//! held to its tier's egress rules, recorded before it leaves; token ids, unknown fields
//! and Anthropic-format vendors refused with the reason, nothing sent.

use super::*;

impl Server {
    async fn embed(&self, token: &str, body: Value) -> (u16, Value) {
        let (status, text) = self.post_bearer("/v1/embeddings", token, body).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn embeddings_are_redacted_recorded_and_held_to_egress_like_chat() {
    let server = start(true).await;
    let (status, answer) = server
        .embed(
            &server.dev,
            json!({"model": "gpt", "input": [format!("key {SECRET}"), "plain words"], "dimensions": 16}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let data = answer["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["embedding"].as_array().unwrap().len(), 16);
    let received = server.vendor.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/v1/embeddings");
    assert_eq!(received[0].body["model"], "gpt-4.1-2025-04-14");
    assert!(
        !received[0].raw_body.contains(SECRET),
        "redacted before it left"
    );
    assert!(
        received[0].body["input"][0]
            .as_str()
            .unwrap()
            .starts_with("key [REDACTED:aws-access-key-id:")
    );
    assert_eq!(
        received[0].headers["authorization"],
        "Bearer vendor-key-openai"
    );
    let events = server.events().await;
    assert_eq!(events.len(), 1);
    let event = &events[0].body;
    assert_eq!(event.details["endpoint"], "embeddings");
    assert_eq!(event.redactions.get("aws-access-key-id"), Some(&1));
    assert!(event.details["tokens_in"].as_u64().unwrap() > 0);
    assert_eq!(
        event.egress.as_ref().unwrap().bytes,
        received[0].raw_body.len() as u64
    );
    // The kept body is the answer's shape, not its vectors.
    let kept: Value = serde_json::from_slice(&server.kept_body(&events[0]).await).unwrap();
    assert_eq!(
        kept["response"]["embeddings"][1]["dimensions"], 16,
        "{kept}"
    );
    assert!(
        kept["request"]["input"][0]
            .as_str()
            .unwrap()
            .contains("[REDACTED:")
    );
    assert!(!kept.to_string().contains("\"embedding\""), "{kept}");
    assert_eq!(
        server.events_of("gateway.requested").await.len(),
        1,
        "recorded before it left"
    );

    // Restricted code goes only on premises, embedded or not.
    let (status, answer) = server
        .embed(&server.dev, json!({"model": "gpt", "input": VAULT}))
        .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"]["code"], "egress_denied", "{answer}");
    assert_eq!(server.vendor.requests().len(), 1, "nothing more was sent");
    let (status, answer) = server
        .embed(
            &server.dev,
            json!({"model": "local", "input": VAULT, "encoding_format": "base64"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["data"][0]["embedding"].is_string());
}

#[tokio::test]
async fn what_moat_cannot_read_or_pass_on_is_refused_before_anything_leaves() {
    let server = start(false).await;
    for (body, status, says) in [
        (
            json!({"model": "gpt", "input": [[1734, 2201], [88]]}),
            400,
            "token ids",
        ),
        (
            json!({"model": "gpt", "input": "x", "stream": true}),
            400,
            "`stream` is not a field",
        ),
        (
            json!({"model": "claude", "input": "hello"}),
            400,
            "/v1/messages",
        ),
        (
            json!({"model": "unlisted", "input": "hello"}),
            403,
            "unlisted",
        ),
    ] {
        let (got, answer) = server.embed(&server.dev, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body}: {answer}");
    }
    assert!(server.vendor.requests().is_empty(), "nothing was sent");
    let (status, answer) = server
        .embed(&server.mcp_only, json!({"model": "gpt", "input": "hello"}))
        .await;
    assert_eq!(status, 403, "{answer}");
}
