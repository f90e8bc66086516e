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
