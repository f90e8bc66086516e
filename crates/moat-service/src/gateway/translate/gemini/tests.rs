use super::*;

#[test]
fn a_messages_request_becomes_a_generate_content_request() {
    assert!(serves("gemini-2.5-pro"));
    assert!(!serves("claude-sonnet-4-5@20250929"));
    let body = json!({
        "model": "gemini", "max_tokens": 100, "temperature": 1.5, "top_p": 0.9, "top_k": 40,
        "stream": true, "stop_sequences": ["END"], "metadata": {"user_id": "u1"},
        "system": "be brief",
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "what is in it?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "s"},
                {"type": "text", "text": "let me look"},
                {"type": "tool_use", "id": "t1", "name": "read", "input": {"path": "a.rs"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "fn main() {}"}]},
                {"type": "tool_result", "tool_use_id": "t1", "content": "again", "is_error": true},
                {"type": "text", "text": "and now?"}
            ]}
        ],
        "tools": [{"name": "read", "description": "reads", "input_schema": {"type": "object", "additionalProperties": false}}],
        "tool_choice": {"type": "tool", "name": "read"}
    });
    let out = request(&body).unwrap();
    assert_eq!(
        out["systemInstruction"],
        json!({"parts": [{"text": "be brief"}]})
    );
    assert_eq!(
        out["generationConfig"],
        json!({"maxOutputTokens": 100, "temperature": 1.5, "topP": 0.9, "topK": 40, "stopSequences": ["END"]})
    );
    let contents = out["contents"].as_array().unwrap();
    assert_eq!(contents[0]["role"], "user");
    assert_eq!(
        contents[0]["parts"][1],
        json!({"inlineData": {"mimeType": "image/png", "data": "iVBOR"}})
    );
    assert_eq!(contents[1]["role"], "model");
    assert_eq!(
        contents[1]["parts"].as_array().unwrap().len(),
        2,
        "thinking dropped"
    );
    assert_eq!(
        contents[1]["parts"][1],
        json!({"functionCall": {"name": "read", "args": {"path": "a.rs"}}})
    );
    assert_eq!(
        contents[2]["parts"][0],
        json!({"functionResponse": {"name": "read", "response": {"output": "fn main() {}"}}})
    );
    assert_eq!(
        contents[2]["parts"][1]["functionResponse"]["response"],
        json!({"error": "again"})
    );
    assert_eq!(
        out["tools"],
        json!([{"functionDeclarations": [{"name": "read", "description": "reads",
            "parametersJsonSchema": {"type": "object", "additionalProperties": false}}]}])
    );
    assert_eq!(
        out["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["read"]}})
    );
    for dropped in ["model", "stream", "metadata", "messages", "system"] {
        assert!(out.get(dropped).is_none(), "{dropped}");
    }
    for (field, value, says) in [
        (
            "thinking",
            json!({"type": "enabled", "budget_tokens": 1024}),
            "`thinking`",
        ),
        ("service_tier", json!("auto"), "`service_tier`"),
        (
            "tools",
            json!([{"type": "web_search_20250305", "name": "web_search"}]),
            "web_search_20250305",
        ),
        (
            "messages",
            json!([{"role": "user", "content": [{"type": "document", "source": {}}]}]),
            "`document`",
        ),
        (
            "messages",
            json!([{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://x"}}]}]),
            "inline",
        ),
        (
            "messages",
            json!([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "nowhere", "content": "x"}]}]),
            "no earlier turn made",
        ),
    ] {
        let mut refused = body.clone();
        refused[field] = value;
        let error = request(&refused).unwrap_err();
        assert!(error.contains(says), "{field}: {error}");
    }
}

#[test]
fn a_gemini_answer_becomes_a_messages_answer() {
    let gemini = json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "planning", "thought": true},
            {"text": "I will look."},
            {"functionCall": {"name": "read", "args": {"path": "a.rs"}}}
        ]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 7, "thoughtsTokenCount": 3, "cachedContentTokenCount": 2},
        "modelVersion": "gemini-2.5-pro", "responseId": "abc123"
    });
    let out = answer(&gemini, "gemini-2.5-pro", "msg_x").unwrap();
    assert_eq!(out["id"], "msg_gemini_abc123");
    assert_eq!(
        out["content"][0],
        json!({"type": "text", "text": "I will look."})
    );
    assert_eq!(out["content"][1]["type"], "tool_use");
    assert_eq!(out["content"][1]["input"], json!({"path": "a.rs"}));
    assert_eq!(
        out["content"].as_array().unwrap().len(),
        2,
        "thoughts are not passed on"
    );
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(
        out["usage"],
        json!({"input_tokens": 10, "cache_read_input_tokens": 2, "output_tokens": 10})
    );
    let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}});
    let out = answer(&blocked, "g", "msg_x").unwrap();
    assert_eq!(out["stop_reason"], "refusal");
    assert_eq!(out["content"], json!([]));
    assert!(answer(&json!({"oops": 1}), "g", "msg_x").is_err());
}

fn run(chunks: &[Value]) -> Vec<(String, Value)> {
    let mut stream = GeminiStream::new("gemini-2.5-pro", "msg_x");
    let mut out = Vec::new();
    for chunk in chunks {
        for (name, data) in stream.push(&chunk.to_string()).unwrap() {
            out.push((name.unwrap(), serde_json::from_str(&data).unwrap()));
        }
    }
    out
}

#[test]
fn gemini_stream_chunks_become_anthropics_events() {
    let part = |p: Value| json!({"candidates": [{"content": {"role": "model", "parts": [p]}}]});
    let out = run(&[
        part(json!({"text": "secret plan", "thought": true})),
        part(json!({"text": "I will "})),
        part(json!({"text": "look."})),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"name": "read", "args": {"path": "a.rs"}}}]},
               "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 30}}),
        part(json!({"text": "after the end"})),
    ]);
    let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert!(
        !out.iter()
            .any(|(_, d)| d.to_string().contains("secret plan"))
    );
    assert!(
        !out.iter()
            .any(|(_, d)| d.to_string().contains("after the end"))
    );
    assert_eq!(out[5].1["content_block"]["name"], "read");
    assert_eq!(
        serde_json::from_str::<Value>(out[6].1["delta"]["partial_json"].as_str().unwrap()).unwrap(),
        json!({"path": "a.rs"})
    );
    assert_eq!(out[8].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(out[8].1["usage"]["output_tokens"], 30);
    // Cut off at the limit; a stream error; a blocked prompt.
    let out = run(&[
        json!({"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "MAX_TOKENS"}]}),
    ]);
    assert_eq!(out[out.len() - 2].1["delta"]["stop_reason"], "max_tokens");
    let out = run(&[
        part(json!({"text": "hi"})),
        json!({"error": {"code": 500, "message": "busy"}}),
    ]);
    assert_eq!(out.last().unwrap().0, "error");
    let out = run(&[json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})]);
    assert_eq!(out[out.len() - 2].1["delta"]["stop_reason"], "refusal");
    let mut stream = GeminiStream::new("g", "m");
    assert!(stream.push("not json").is_err());
}

#[test]
fn thought_signatures_travel_in_the_call_id_and_broken_answers_fail() {
    let gemini = json!({"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "read", "args": {}}, "thoughtSignature": "c2lnbmVk+/="}
    ]}, "finishReason": "STOP"}], "responseId": "r1"});
    let out = answer(&gemini, "gemini-3-pro", "msg_x").unwrap();
    let id = out["content"][0]["id"].as_str().unwrap().to_string();
    assert!(id.ends_with("__thought__c2lnbmVk+/="), "{id}");
    let next = json!({"model": "g", "max_tokens": 5, "messages": [
        {"role": "user", "content": "read it"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": id, "name": "read", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": [
            {"type": "text", "text": "aws_secret_access_key ="}, {"type": "text", "text": "[REDACTED:x]"}
        ]}]}
    ], "tools": [{"name": "read", "input_schema": {"type": "object"}}]});
    let out = request(&next).unwrap();
    assert_eq!(
        out["contents"][1]["parts"][0]["thoughtSignature"],
        "c2lnbmVk+/="
    );
    // A result's text parts are not joined (two redacted pieces could make a value).
    assert_eq!(
        out["contents"][2]["parts"][0]["functionResponse"]["response"]["output"],
        json!(["aws_secret_access_key =", "[REDACTED:x]"])
    );
    let broken = json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "MALFORMED_FUNCTION_CALL"}]});
    assert!(
        answer(&broken, "g", "m")
            .unwrap_err()
            .contains("MALFORMED_FUNCTION_CALL")
    );
    let mut stream = GeminiStream::new("g", "m");
    assert!(stream.push(&broken.to_string()).is_err());
    let mut pdf = next.clone();
    pdf["messages"][0]["content"] = json!([{"type": "image", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"}}]);
    assert!(request(&pdf).unwrap_err().contains("PNG, JPEG"));
    // The prompt's size is in message_start when the first chunk says it.
    let mut stream = GeminiStream::new("g", "m");
    let events = stream.push(&json!({"candidates": [{"content": {"parts": [{"text": "hi"}]}}], "usageMetadata": {"promptTokenCount": 500, "cachedContentTokenCount": 400}}).to_string()).unwrap();
    let start: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(start["message"]["usage"]["input_tokens"], 100);
    assert_eq!(start["message"]["usage"]["cache_read_input_tokens"], 400);
}

#[test]
fn signatures_are_stripped_for_other_models_and_ids_stay_short() {
    let gemini = json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {}}}]},
        "finishReason": "STOP"}], "responseId": "a-very-long-response-id-from-google-0123456789"});
    let id = answer(&gemini, "g", "m").unwrap()["content"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        id.len() <= 40 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "{id}"
    );
    let mut body = json!({
        "messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1__thought__c2ln+/=", "name": "f", "input": {"id": "keep__thought__me"}}]},
                     {"role": "tool", "tool_call_id": "call_2__thought__x"}],
        "input": [{"type": "function_call", "call_id": "c3__thought__y"}, {"type": "function_call_output", "call_id": "c3__thought__y"}],
        "tool_use_id": "t4__thought__z"
    });
    strip_signatures(&mut body);
    assert_eq!(body["messages"][0]["content"][0]["id"], "toolu_1");
    assert_eq!(
        body["messages"][0]["content"][0]["input"]["id"], "keep__thought__me",
        "a tool's arguments are left alone"
    );
    assert_eq!(body["messages"][1]["tool_call_id"], "call_2");
    assert_eq!(body["input"][1]["call_id"], "c3");
    assert_eq!(body["tool_use_id"], "t4");
    let blocked = json!({"candidates": [{"content": {"parts": []}, "finishReason": "IMAGE_PROHIBITED_CONTENT"}]});
    assert_eq!(
        answer(&blocked, "g", "m").unwrap()["stop_reason"],
        "refusal"
    );
}
