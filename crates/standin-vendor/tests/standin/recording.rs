//! What the stand-in records, and the `/_standin/requests` control routes.

use crate::common::{anthropic_post, openai_chat};
use serde_json::{Value, json};
use standin_vendor::{Recorded, StandIn};

#[tokio::test]
async fn records_method_path_headers_and_body_in_order() {
    let standin = StandIn::spawn().await.unwrap();
    let openai_request = json!({"model": "gpt", "messages": [{"role": "user", "content": "one"}]});
    openai_chat(&standin, &openai_request).await;
    let anthropic_request = json!({"model": "claude", "max_tokens": 5, "messages": []});
    anthropic_post(&standin, "/v1/messages", &anthropic_request).await;

    let requests = standin.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(requests[0].headers["authorization"], "Bearer sk-test");
    assert_eq!(requests[0].body, openai_request);
    assert_eq!(requests[0].raw_body, openai_request.to_string());
    assert_eq!(requests[1].path, "/v1/messages");
    assert_eq!(requests[1].headers["x-api-key"], "sk-ant-test");
    assert_eq!(requests[1].headers["anthropic-version"], "2023-06-01");
    assert_eq!(requests[1].body, anthropic_request);

    standin.clear();
    assert!(standin.requests().is_empty());
}

#[tokio::test]
async fn records_rejected_and_unparsable_requests_too() {
    let standin = StandIn::spawn().await.unwrap();
    let client = reqwest::Client::new();
    let unauthorized = client
        .post(format!("{}/v1/chat/completions", standin.url))
        .header("x-custom", "kept")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    let unknown = client
        .get(format!("{}/v1/unknown?x=1", standin.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let requests = standin.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].headers["x-custom"], "kept");
    assert_eq!(requests[0].body, Value::Null);
    assert_eq!(requests[0].raw_body, "not json");
    assert_eq!(requests[1].method, "GET");
    assert_eq!(requests[1].path, "/v1/unknown?x=1");
}

#[tokio::test]
async fn control_routes_list_and_clear_without_recording_themselves() {
    let standin = StandIn::spawn().await.unwrap();
    let request = json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]});
    openai_chat(&standin, &request).await;

    let client = reqwest::Client::new();
    let control = format!("{}/_standin/requests", standin.url);
    let listed: Vec<Recorded> = client
        .get(&control)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, standin.requests());
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].body, request);

    let cleared = client.delete(&control).send().await.unwrap();
    assert_eq!(cleared.status(), 204);
    let listed: Vec<Recorded> = client
        .get(&control)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed.is_empty());
}

#[tokio::test]
async fn response_ids_differ_between_answers() {
    let standin = StandIn::spawn().await.unwrap();
    let request = json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]});
    let first: Value = openai_chat(&standin, &request).await.json().await.unwrap();
    let second: Value = openai_chat(&standin, &request).await.json().await.unwrap();
    assert_ne!(first["id"], second["id"]);
}
