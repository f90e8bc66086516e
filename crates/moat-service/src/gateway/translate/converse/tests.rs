use super::*;

#[test]
fn a_messages_request_becomes_a_converse_request() {
    assert!(serves("meta.llama3-1-70b-instruct-v1:0"));
    assert!(serves("us.amazon.nova-pro-v1:0"));
    assert!(!serves("us.anthropic.claude-sonnet-4-5-20250929-v1:0"));
    let body = json!({
        "model": "llama", "max_tokens": 100, "temperature": 0.5, "top_p": 0.9, "stream": true,
        "stop_sequences": ["END"], "metadata": {"user_id": "u1"},
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
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
                {"type": "tool_result", "tool_use_id": "t2", "content": "no such file", "is_error": true},
                {"type": "text", "text": "and now?"}
            ]},
            {"role": "user", "content": "plain"}
        ],
        "tools": [{"name": "read", "description": "reads", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "read", "disable_parallel_tool_use": true}
    });
    let out = request(&body).unwrap();
    assert_eq!(out["system"], json!([{"text": "be brief"}]));
    assert_eq!(
        out["inferenceConfig"],
        json!({"maxTokens": 100, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]})
    );
    let messages = out["messages"].as_array().unwrap();
    assert_eq!(
        messages[0]["content"][1],
        json!({"image": {"format": "png", "source": {"bytes": "iVBOR"}}})
    );
    assert_eq!(
        messages[1]["content"].as_array().unwrap().len(),
        2,
        "thinking dropped"
    );
    assert_eq!(
        messages[1]["content"][1],
        json!({"toolUse": {"toolUseId": "t1", "name": "read", "input": {"path": "a.rs"}}})
    );
    assert_eq!(
        messages[2]["content"][0],
        json!({"toolResult": {"toolUseId": "t1", "content": [{"text": "fn main() {}"}], "status": "success"}})
    );
    assert_eq!(messages[2]["content"][1]["toolResult"]["status"], "error");
    assert_eq!(
        messages[2]["content"][3],
        json!({"text": "plain"}),
        "a user turn after a user turn joins it"
    );
    assert_eq!(
        out["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "read", "description": "reads", "inputSchema": {"json": {"type": "object"}}}}],
               "toolChoice": {"tool": {"name": "read"}}})
    );
    for dropped in ["model", "stream", "metadata", "max_tokens", "tools"] {
        assert!(out.get(dropped).is_none(), "{dropped}");
    }
    for (field, value, says) in [
        ("top_k", json!(5), "`top_k`"),
        (
            "thinking",
            json!({"type": "enabled", "budget_tokens": 1024}),
            "`thinking`",
        ),
        ("service_tier", json!("auto"), "`service_tier`"),
        (
            "tool_choice",
            json!({"type": "none"}),
            "`tool_choice: none`",
        ),
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
            json!([{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "Qk"}}]}]),
            "WebP",
        ),
        ("system", json!([{"type": "image"}]), "system prompt"),
    ] {
        let mut refused = body.clone();
        refused[field] = value;
        let error = request(&refused).unwrap_err();
        assert!(error.contains(says), "{field}: {error}");
    }
}

#[test]
fn a_converse_answer_becomes_a_messages_answer() {
    let converse = json!({
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "hmm"}}},
            {"text": "I will look."},
            {"toolUse": {"toolUseId": "tooluse_1", "name": "read", "input": {"path": "a.rs"}}}
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 12, "outputTokens": 7, "totalTokens": 19, "cacheReadInputTokens": 3},
        "metrics": {"latencyMs": 100}
    });
    let out = answer(&converse, "meta.llama3", "msg_1").unwrap();
    assert_eq!(
        out["content"],
        json!([
            {"type": "text", "text": "I will look."},
            {"type": "tool_use", "id": "tooluse_1", "name": "read", "input": {"path": "a.rs"}}
        ])
    );
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(out["usage"]["input_tokens"], 12);
    assert_eq!(out["usage"]["cache_read_input_tokens"], 3);
    assert_eq!(out["model"], "meta.llama3");
    let mut filtered = converse.clone();
    filtered["stopReason"] = json!("guardrail_intervened");
    assert_eq!(
        answer(&filtered, "m", "i").unwrap()["stop_reason"],
        "refusal"
    );
    assert!(answer(&json!({"message": "oops"}), "m", "i").is_err());
}

fn run(events: &[(&str, Value)]) -> Result<Vec<(String, Value)>, String> {
    let mut stream = ConverseStream::new("meta.llama3", "msg_1");
    let mut out = Vec::new();
    for (kind, payload) in events {
        for (name, data) in stream.push(kind, payload)? {
            out.push((name.unwrap(), serde_json::from_str(&data).unwrap()));
        }
    }
    Ok(out)
}

#[test]
fn converse_stream_events_become_anthropics() {
    let events = [
        ("messageStart", json!({"role": "assistant"})),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "secret plan"}}}),
        ),
        ("contentBlockStop", json!({"contentBlockIndex": 0})),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"text": "I will "}}),
        ),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"text": "look."}}),
        ),
        ("contentBlockStop", json!({"contentBlockIndex": 1})),
        (
            "contentBlockStart",
            json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "read"}}}),
        ),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"path\": \"a"}}}),
        ),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": ".rs\"}"}}}),
        ),
        ("contentBlockStop", json!({"contentBlockIndex": 2})),
        ("messageStop", json!({"stopReason": "tool_use"})),
        (
            "metadata",
            json!({"usage": {"inputTokens": 12, "outputTokens": 30, "totalTokens": 42}, "metrics": {"latencyMs": 5}}),
        ),
    ];
    let out = run(&events).unwrap();
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
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    for (name, data) in &out {
        assert_eq!(data["type"], name.as_str());
    }
    assert!(
        !out.iter()
            .any(|(_, d)| d.to_string().contains("secret plan"))
    );
    assert_eq!(out[0].1["message"]["model"], "meta.llama3");
    assert_eq!(out[1].1["content_block"]["type"], "text");
    assert_eq!(out[5].1["content_block"]["id"], "tooluse_1");
    assert_eq!(out[7].1["delta"]["partial_json"], ".rs\"}");
    assert_eq!(out[9].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(out[9].1["usage"]["output_tokens"], 30);
    // Usage first, then the stop: the end waits for both; a block left open is closed.
    let out = run(&[
        ("messageStart", json!({"role": "assistant"})),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "hi"}}),
        ),
        (
            "metadata",
            json!({"usage": {"inputTokens": 1, "outputTokens": 1}}),
        ),
        ("messageStop", json!({"stopReason": "max_tokens"})),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "after the end"}}),
        ),
    ])
    .unwrap();
    let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(out[4].1["delta"]["stop_reason"], "max_tokens");
    // A tool's input for a block that is not a tool use, text into a reasoning block.
    for bad in [
        json!({"contentBlockIndex": 4, "delta": {"toolUse": {"input": "{}"}}}),
        json!({"contentBlockIndex": 0, "delta": {"text": "x"}}),
    ] {
        let events = [
            ("messageStart", json!({"role": "assistant"})),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "r"}}}),
            ),
            ("contentBlockDelta", bad),
        ];
        assert!(run(&events).is_err());
    }
}

#[test]
fn turns_alternate_tools_are_named_and_broken_answers_fail() {
    let body = json!({"model": "llama", "max_tokens": 10, "messages": [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "x", "signature": "s"}]},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "ok"},
        {"role": "assistant", "content": "more"}
    ]});
    let out = request(&body).unwrap();
    let roles: Vec<&str> = out["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant"], "{out}");
    assert_eq!(
        out["messages"][0]["content"],
        json!([{"text": "one"}, {"text": "two"}])
    );
    let history = json!({"model": "llama", "max_tokens": 10, "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]}
    ]});
    assert!(request(&history).unwrap_err().contains("names no `tools`"));
    let broken = json!({"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}}, "stopReason": "malformed_tool_use", "usage": {}});
    assert!(
        answer(&broken, "m", "i")
            .unwrap_err()
            .contains("malformed_tool_use")
    );
    let mut stream = ConverseStream::new("m", "i");
    stream
        .push("messageStart", &json!({"role": "assistant"}))
        .unwrap();
    assert!(
        stream
            .push(
                "messageStop",
                &json!({"stopReason": "malformed_model_output"})
            )
            .is_err()
    );
    let mut stream = ConverseStream::new("m", "i");
    let mut failed = false;
    for n in 0..5000u64 {
        if stream
            .push(
                "contentBlockDelta",
                &json!({"contentBlockIndex": n, "delta": {"reasoningContent": {"text": ""}}}),
            )
            .is_err()
        {
            failed = true;
            break;
        }
    }
    assert!(failed, "endless empty blocks end the stream");
}

#[test]
fn a_user_turn_joined_to_tool_results_keeps_the_results_first() {
    let body = json!({"model": "llama", "max_tokens": 10, "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}]},
        {"role": "user", "content": "also, hurry"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]}
    ], "tools": [{"name": "w", "input_schema": {"type": "object"}}]});
    let out = request(&body).unwrap();
    let turn = &out["messages"][2]["content"];
    assert!(turn[0].get("toolResult").is_some(), "{turn}");
    assert_eq!(turn[1], json!({"text": "also, hurry"}));
}
