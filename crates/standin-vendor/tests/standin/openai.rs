//! The OpenAI routes against a real stand-in on a loopback port.

use crate::common::{self, events, openai_chat, tokens};
use serde_json::{Value, json};
use standin_vendor::StandIn;

#[tokio::test]
async fn whole_completion_echoes_the_last_user_text_with_usage() {
    let standin = StandIn::spawn().await.unwrap();
    let request = json!({
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "an earlier question"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": [{"type": "text", "text": "hello there"}]}
        ]
    });
    let response = openai_chat(&standin, &request).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();

    assert!(
        body["id"]
            .as_str()
            .unwrap()
            .starts_with("chatcmpl-standin-")
    );
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(body["model"], "gpt-test");
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "echo: hello there");
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["logprobs"], Value::Null);

    let prompt_tokens = tokens(request.to_string().len());
    let completion_tokens = tokens("echo: hello there".len());
    assert_eq!(
        body["usage"],
        json!({
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        })
    );
}

#[tokio::test]
async fn stream_sends_role_pieces_finish_usage_and_done() {
    let standin = StandIn::spawn().await.unwrap();
    let request = json!({
        "model": "gpt-test",
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "stream me"}]
    });
    let response = openai_chat(&standin, &request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = events(&response.text().await.unwrap());

    let (done, chunks) = events.split_last().unwrap();
    assert_eq!(done.data, "[DONE]");
    let chunks: Vec<Value> = chunks.iter().map(common::Event::json).collect();
    let id = &chunks[0]["id"];
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(&chunk["id"], id);
        assert_eq!(chunk["model"], "gpt-test");
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let (usage_chunk, choice_chunks) = chunks.split_last().unwrap();
    let (finish_chunk, content_chunks) = choice_chunks.split_last().unwrap();
    let text: String = content_chunks[1..]
        .iter()
        .map(|chunk| chunk["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, "echo: stream me");
    assert!(content_chunks.len() >= 3, "the reply comes in pieces");
    assert!(
        content_chunks
            .iter()
            .all(|chunk| chunk["choices"][0]["finish_reason"].is_null())
    );
    assert_eq!(finish_chunk["choices"][0]["delta"], json!({}));
    assert_eq!(finish_chunk["choices"][0]["finish_reason"], "stop");
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(
        usage_chunk["usage"]["prompt_tokens"],
        tokens(request.to_string().len())
    );
    assert_eq!(
        usage_chunk["usage"]["completion_tokens"],
        tokens(text.len())
    );
}

#[tokio::test]
async fn stream_without_include_usage_has_no_usage_chunk() {
    let standin = StandIn::spawn().await.unwrap();
    let request =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "x"}]});
    let events = events(&openai_chat(&standin, &request).await.text().await.unwrap());
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(common::Event::json)
        .collect();
    assert!(chunks.iter().all(|chunk| chunk.get("usage").is_none()));
    assert!(
        chunks
            .iter()
            .all(|chunk| chunk["choices"].as_array().unwrap().len() == 1)
    );
}

#[tokio::test]
async fn tool_marker_calls_the_first_tool_whole_and_streamed() {
    let standin = StandIn::spawn().await.unwrap();
    let tools = json!([
        {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "other"}}
    ]);
    let prompt = "please STANDIN_TOOL";
    let mut request =
        json!({"model": "m", "tools": tools, "messages": [{"role": "user", "content": prompt}]});
    let body: Value = openai_chat(&standin, &request).await.json().await.unwrap();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["id"], "call_standin_1");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "lookup");
    let arguments = call["function"]["arguments"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(arguments).unwrap(),
        json!({"echo": prompt})
    );
    assert_eq!(body["usage"]["completion_tokens"], tokens(arguments.len()));

    request["stream"] = json!(true);
    let events = events(&openai_chat(&standin, &request).await.text().await.unwrap());
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(common::Event::json)
        .collect();
    let first_call = &chunks[1]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(first_call["id"], "call_standin_1");
    assert_eq!(first_call["function"]["name"], "lookup");
    let streamed: String = chunks[1..chunks.len() - 1]
        .iter()
        .map(|chunk| {
            chunk["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(streamed, arguments);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn missing_or_empty_bearer_key_is_401_in_openai_format() {
    let standin = StandIn::spawn().await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", standin.url);
    let request = json!({"model": "m", "messages": []});
    for builder in [
        client.post(&url).json(&request),
        client.post(&url).bearer_auth("").json(&request),
        client.post(&url).header("x-api-key", "k").json(&request),
    ] {
        let response = builder.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "authentication_error");
        assert_eq!(body["error"]["param"], Value::Null);
        assert_eq!(body["error"]["code"], Value::Null);
        assert!(body["error"]["message"].is_string());
    }
    let models = client
        .get(format!("{}/v1/models", standin.url))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 401);
}

#[tokio::test]
async fn fail_before_is_500_whether_streamed_or_not() {
    let standin = StandIn::spawn().await.unwrap();
    for stream in [false, true] {
        let request = json!({"model": "m", "stream": stream,
            "messages": [{"role": "user", "content": "STANDIN_FAIL_BEFORE"}]});
        let response = openai_chat(&standin, &request).await;
        assert_eq!(response.status(), 500);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "server_error");
    }
    let request =
        json!({"model": "m", "messages": [{"role": "user", "content": "STANDIN_FAIL_MIDSTREAM"}]});
    assert_eq!(openai_chat(&standin, &request).await.status(), 500);
}

#[tokio::test]
async fn fail_midstream_cuts_the_stream_before_done() {
    let standin = StandIn::spawn().await.unwrap();
    let request = json!({"model": "m", "stream": true,
        "messages": [{"role": "user", "content": "go STANDIN_FAIL_MIDSTREAM"}]});
    let response = openai_chat(&standin, &request).await;
    assert_eq!(response.status(), 200);
    let (received, failed) = common::read_body_until_failure(response).await;
    assert!(
        failed,
        "the body read fails when the stream is cut: {received}"
    );
    assert!(
        !received.contains("[DONE]"),
        "a cut-off stream has no [DONE]: {received}"
    );
    let events = events(&received);
    assert_eq!(events[0].json()["choices"][0]["delta"]["role"], "assistant");
    assert!(
        events.len() <= 2,
        "only the first events are sent: {received}"
    );
}

#[tokio::test]
async fn malformed_json_is_400_in_openai_format() {
    let standin = StandIn::spawn().await.unwrap();
    for body in ["{not json", "[1, 2]", ""] {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/chat/completions", standin.url))
            .bearer_auth("k")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "body {body:?}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["type"], "invalid_request_error");
    }
}

#[tokio::test]
async fn models_lists_the_standin_model() {
    let standin = StandIn::spawn().await.unwrap();
    let body: Value = reqwest::Client::new()
        .get(format!("{}/v1/models", standin.url))
        .bearer_auth("k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body,
        json!({"object": "list", "data": [{"id": "standin-model", "object": "model", "created": 0, "owned_by": "standin"}]})
    );
}

#[tokio::test]
async fn embeddings_are_one_unit_vector_per_input_as_floats_or_base64() {
    let standin = StandIn::spawn().await.unwrap();
    let post = |body: Value| {
        reqwest::Client::new()
            .post(format!("{}/v1/embeddings", standin.url))
            .bearer_auth("k")
            .json(&body)
            .send()
    };
    let body: Value =
        post(json!({"model": "e", "input": ["same", "same", "other"], "dimensions": 5}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let vectors: Vec<Vec<f64>> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| serde_json::from_value(d["embedding"].clone()).unwrap())
        .collect();
    assert_eq!(vectors.len(), 3);
    assert_eq!(vectors[0], vectors[1], "the same text, the same vector");
    assert_ne!(vectors[0], vectors[2]);
    let norm: f64 = vectors[2].iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    assert_eq!(body["data"][2]["index"], 2);
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let encoded: Value =
        post(json!({"model": "e", "input": "same", "encoding_format": "base64", "dimensions": 5}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let bytes = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        encoded["data"][0]["embedding"].as_str().unwrap(),
    )
    .unwrap();
    let floats: Vec<f64> = bytes
        .chunks(4)
        .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
        .collect();
    assert_eq!(floats, vectors[0]);
    let refused = post(json!({"model": "e", "input": [1, 2]})).await.unwrap();
    assert_eq!(refused.status(), 400);
}
