//! Azure OpenAI (`kind = "azure-openai"`), against the stand-in's Azure routes (which
//! want `api-version` and a key or token, as Azure does): the deployment in the path,
//! the API version in the query, the key as `api-key` and never as a bearer token; an
//! Entra ID token read from its file, a refreshed token used from the next request, a
//! missing one refusing the request without sending it; chat, streams and embeddings
//! all go the same way through the same checks.

use super::*;

#[tokio::test]
async fn azure_deployments_get_the_api_version_and_the_key_as_azure_wants_them() {
    let server = start(false).await;
    let (status, body) = server
        .openai(
            &server.dev,
            json!({"model": "azure-gpt", "messages": [{"role": "user", "content": format!("key {SECRET}")}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("echo: key [REDACTED:aws-access-key-id:"),
        "{body}"
    );
    let streamed = json!({
        "model": "azure-gpt", "stream": true,
        "messages": [{"role": "user", "content": "hello"}],
    });
    let (status, body) = server.openai(&server.dev, streamed).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    let embedded = server
        .http
        .post(format!("{}/v1/embeddings", server.url))
        .bearer_auth(&server.dev)
        .json(&json!({"model": "azure-gpt", "input": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(embedded.status(), 200);
    let received = server.vendor.requests();
    assert_eq!(received.len(), 3);
    assert_eq!(
        received[0].path,
        "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(
        received[2].path,
        "/openai/deployments/gpt-4o-prod/embeddings?api-version=2024-10-21"
    );
    for request in &received {
        assert_eq!(request.headers["api-key"], "vendor-key-azure");
        assert!(
            !request.headers.contains_key("authorization"),
            "{request:?}"
        );
        assert!(!request.raw_body.contains(SECRET));
    }
    // Azure is held to the same egress rules: restricted code stays on premises.
    let (status, body) = server
        .openai(
            &server.dev,
            json!({"model": "azure-gpt", "messages": [{"role": "user", "content": VAULT}]}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(server.vendor.requests().len(), 3);
    let events = server.events().await;
    assert_eq!(
        events[0].body.egress.as_ref().unwrap().vendor,
        "azure",
        "on the record as the vendor it is"
    );
}

#[tokio::test]
async fn an_entra_token_is_read_from_its_file_and_a_missing_one_sends_nothing() {
    let server = start(false).await;
    let ask =
        || json!({"model": "azure-entra-gpt", "messages": [{"role": "user", "content": "hi"}]});
    // No token yet: refused, naming the file, nothing sent, on the record.
    let (status, body) = server.openai(&server.dev, ask()).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("vendor_credential"), "{body}");
    assert!(
        !body.contains("entra-token") && !body.contains(server._dir.path().to_str().unwrap()),
        "the file's path is the server log's, not the caller's: {body}"
    );
    assert!(server.vendor.requests().is_empty());
    let token_file = server._dir.path().join("entra-token");
    std::fs::write(&token_file, "eyJ0eXAiOiJKV1Qi.first.token\n").unwrap();
    let (status, body) = server.openai(&server.dev, ask()).await;
    assert_eq!(status, 200, "{body}");
    std::fs::write(&token_file, "eyJ0eXAiOiJKV1Qi.second.token").unwrap();
    let (status, body) = server.openai(&server.dev, ask()).await;
    assert_eq!(status, 200, "{body}");
    let received = server.vendor.requests();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[0].path,
        "/openai/deployments/gpt-4o-eu/chat/completions?api-version=2025-04-01-preview"
    );
    assert_eq!(
        received[0].headers["authorization"],
        "Bearer eyJ0eXAiOiJKV1Qi.first.token"
    );
    assert_eq!(
        received[1].headers["authorization"], "Bearer eyJ0eXAiOiJKV1Qi.second.token",
        "the refreshed token, from the next request"
    );
    assert!(!received[0].headers.contains_key("api-key"));
    let outcomes: Vec<String> = server
        .events()
        .await
        .iter()
        .map(|e| e.body.details["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(outcomes, ["failed", "answered", "answered"]);
}
