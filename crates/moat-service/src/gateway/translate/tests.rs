use super::*;
use serde_json::{Value, json};

#[test]
fn a_messages_request_becomes_a_chat_completion_request() {
    let body = json!({
        "model": "gpt", "max_tokens": 100, "stream": true, "stop_sequences": ["END"],
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        "metadata": {"user_id": "u1"},
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "what is in it?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "let me look"},
                {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {"path": "a.rs"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "fn main() {}"}]},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "no such file", "is_error": true},
                {"type": "text", "text": "and now?"}
            ]}
        ],
        "tools": [{"name": "read", "description": "reads", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true}
    });
    let out = request(WireFormat::Anthropic, WireFormat::OpenAi, &body).unwrap();
    assert_eq!(
        out["messages"][0],
        json!({"role": "system", "content": "be brief"})
    );
    assert_eq!(
        out["messages"][1]["content"][1]["image_url"]["url"],
        "data:image/png;base64,iVBOR"
    );
    assert_eq!(
        out["messages"][2]["tool_calls"][0]["function"]["arguments"],
        "{\"path\":\"a.rs\"}"
    );
    assert_eq!(
        out["messages"][3],
        json!({"role": "tool", "tool_call_id": "toolu_1", "content": "fn main() {}"})
    );
    assert_eq!(out["messages"][4]["content"], "Error: no such file");
    assert_eq!(out["messages"][5]["content"][0]["text"], "and now?");
    assert_eq!(out["max_completion_tokens"], 100);
    assert_eq!(out["stop"], json!(["END"]));
    assert_eq!(out["stream_options"]["include_usage"], true);
    assert_eq!(out["user"], "u1");
    assert_eq!(out["tools"][0]["function"]["name"], "read");
    assert_eq!(out["tool_choice"], "required");
    assert_eq!(out["parallel_tool_calls"], false);
    for (field, value) in [
        ("top_k", json!(5)),
        (
            "thinking",
            json!({"type": "enabled", "budget_tokens": 1024}),
        ),
    ] {
        let mut refused = body.clone();
        refused[field] = value;
        let error = request(WireFormat::Anthropic, WireFormat::OpenAi, &refused).unwrap_err();
        assert!(error.contains(&format!("`{field}`")), "{error}");
    }
    let mut server_tool = body.clone();
    server_tool["tools"] = json!([{"type": "web_search_20250305", "name": "web_search"}]);
    let error = request(WireFormat::Anthropic, WireFormat::OpenAi, &server_tool).unwrap_err();
    assert!(error.contains("web_search_20250305"), "{error}");
    let mut document = body.clone();
    document["messages"][0]["content"][1] =
        json!({"type": "document", "source": {"type": "text", "data": "x"}});
    let error = request(WireFormat::Anthropic, WireFormat::OpenAi, &document).unwrap_err();
    assert!(error.contains("`document`"), "{error}");
}

#[test]
fn a_chat_completion_request_becomes_a_messages_request() {
    let body = json!({
        "model": "claude", "stop": "END", "user": "u1", "parallel_tool_calls": false, "n": 1, "logprobs": false,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "use tools"}]},
            {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}}]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "read", "arguments": "{\"path\":\"a.rs\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "read", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "fn main() {}"},
            {"role": "tool", "tool_call_id": "call_2", "content": "empty"}
        ],
        "tools": [{"type": "function", "function": {"name": "read", "parameters": {"type": "object"}}}],
    });
    let out = request(WireFormat::OpenAi, WireFormat::Anthropic, &body).unwrap();
    assert_eq!(out["system"], "be brief\n\nuse tools");
    assert_eq!(out["max_tokens"], 4096, "Messages needs one");
    assert_eq!(
        out["messages"][0]["content"][1]["source"],
        json!({"type": "base64", "media_type": "image/jpeg", "data": "/9j/"})
    );
    assert_eq!(
        out["messages"][1]["content"][0]["input"],
        json!({"path": "a.rs"})
    );
    assert_eq!(out["messages"][1]["content"][1]["input"], json!({}));
    let results = out["messages"][2]["content"].as_array().unwrap();
    assert_eq!(results.len(), 2, "one turn's results in one user message");
    assert_eq!(results[1]["tool_use_id"], "call_2");
    assert_eq!(out["messages"].as_array().unwrap().len(), 3);
    assert_eq!(out["stop_sequences"], json!(["END"]));
    assert_eq!(out["metadata"]["user_id"], "u1");
    assert_eq!(out["tools"][0]["input_schema"], json!({"type": "object"}));
    assert_eq!(
        out["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    for (field, value) in [
        ("n", json!(2)),
        ("logprobs", json!(true)),
        ("seed", json!(1)),
        (
            "response_format",
            json!({"type": "json_schema", "json_schema": {}}),
        ),
        ("temperature", json!(1.5)),
        ("functions", json!([])),
    ] {
        let mut refused = body.clone();
        refused[field] = value;
        let error = request(WireFormat::OpenAi, WireFormat::Anthropic, &refused).unwrap_err();
        assert!(error.contains(&format!("`{field}`")), "{field}: {error}");
    }
    let mut bad = body.clone();
    bad["messages"][3]["tool_calls"][0]["function"]["arguments"] = json!("{not json");
    assert!(
        request(WireFormat::OpenAi, WireFormat::Anthropic, &bad)
            .unwrap_err()
            .contains("not JSON")
    );
    assert!(between(WireFormat::Responses, WireFormat::Anthropic));
}

#[test]
fn whole_answers_are_translated_both_ways() {
    let completion = json!({
        "id": "chatcmpl-1", "model": "gpt-4.1", "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "reading",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "read", "arguments": "{\"path\":\"a\"}"}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    });
    let message = answer(WireFormat::OpenAi, WireFormat::Anthropic, &completion, &[]).unwrap();
    assert_eq!(message["type"], "message");
    assert_eq!(
        message["content"][0],
        json!({"type": "text", "text": "reading"})
    );
    assert_eq!(message["content"][1]["input"], json!({"path": "a"}));
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(
        message["usage"],
        json!({"input_tokens": 10, "output_tokens": 5})
    );
    let back = answer(WireFormat::Anthropic, WireFormat::OpenAi, &message, &[]).unwrap();
    assert_eq!(back["choices"][0]["message"]["content"], "reading");
    assert_eq!(
        back["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"path\":\"a\"}"
    );
    assert_eq!(back["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(back["usage"]["total_tokens"], 15);
}

fn run(
    translator: &mut StreamTranslator,
    events: &[(Option<&str>, Value)],
) -> Vec<(Option<String>, Value)> {
    events
        .iter()
        .flat_map(|(name, data)| {
            let data = match data {
                Value::String(done) => done.clone(),
                other => other.to_string(),
            };
            translator.push(*name, &data)
        })
        .map(|(name, data)| {
            (
                name,
                serde_json::from_str(&data).unwrap_or(Value::String(data)),
            )
        })
        .collect()
}

#[test]
fn an_openai_stream_becomes_messages_events() {
    let chunk = |delta: Value, finish: Value| json!({"id": "c1", "model": "gpt", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    let mut translator =
        StreamTranslator::new(WireFormat::OpenAi, WireFormat::Anthropic, Vec::new());
    let events = run(
        &mut translator,
        &[
            (
                None,
                chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            ),
            (None, chunk(json!({"content": "let me "}), Value::Null)),
            (None, chunk(json!({"content": "look"}), Value::Null)),
            (
                None,
                chunk(
                    json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "read", "arguments": ""}}]}),
                    Value::Null,
                ),
            ),
            (
                None,
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"path\":"}}]}),
                    Value::Null,
                ),
            ),
            (
                None,
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"a\"}"}}]}),
                    Value::Null,
                ),
            ),
            (None, chunk(json!({}), json!("tool_calls"))),
            (
                None,
                json!({"id": "c1", "model": "gpt", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}),
            ),
            (None, json!("[DONE]")),
        ],
    );
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
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
    assert_eq!(events[5].1["content_block"]["name"], "read");
    assert_eq!(events[5].1["index"], 1);
    assert_eq!(
        events[6].1["delta"]["partial_json"], "{\"path\":\"a\"}",
        "a call's arguments whole"
    );
    assert_eq!(events[8].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(
        events[8].1["usage"],
        json!({"input_tokens": 9, "output_tokens": 4})
    );
}

#[test]
fn interleaved_tool_calls_become_whole_blocks_one_after_the_other() {
    let chunk = |delta: Value, finish: Value| json!({"id": "c1", "model": "gpt", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    let call = |index: u64, id: Option<&str>, arguments: &str| {
        let mut call = json!({"index": index, "function": {"arguments": arguments}});
        if let Some(id) = id {
            call["id"] = json!(id);
            call["function"]["name"] = json!("sh");
        }
        chunk(json!({"tool_calls": [call]}), Value::Null)
    };
    let mut translator =
        StreamTranslator::new(WireFormat::OpenAi, WireFormat::Anthropic, Vec::new());
    let events = run(
        &mut translator,
        &[
            (None, call(0, Some("call_a"), "{\"cmd\":\"AKIAZ7VQ2M")),
            (None, call(1, Some("call_b"), "")),
            (None, call(0, None, "XR4HT8PLWN\"}")),
            (None, call(1, None, "{}")),
            (None, chunk(json!({}), json!("tool_calls"))),
            (None, json!("[DONE]")),
        ],
    );
    // Each block opens, carries its whole arguments and closes before the next opens.
    let mut open = None;
    let mut by_block: std::collections::BTreeMap<u64, String> = Default::default();
    for (name, event) in &events {
        let index = event["index"].as_u64();
        match name.as_deref() {
            Some("content_block_start") => {
                assert!(open.is_none());
                open = index;
            }
            Some("content_block_delta") => {
                assert_eq!(index, open, "a delta only into the open block");
                by_block
                    .entry(index.unwrap())
                    .or_default()
                    .push_str(event["delta"]["partial_json"].as_str().unwrap());
            }
            Some("content_block_stop") => open = None,
            _ => {}
        }
    }
    assert_eq!(by_block[&0], "{\"cmd\":\"AKIAZ7VQ2MXR4HT8PLWN\"}");
    assert_eq!(by_block[&1], "{}");
}

#[test]
fn a_messages_stream_becomes_openai_chunks() {
    let mut translator =
        StreamTranslator::new(WireFormat::Anthropic, WireFormat::OpenAi, Vec::new());
    let events = run(
        &mut translator,
        &[
            (
                Some("message_start"),
                json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude", "usage": {"input_tokens": 7, "cache_read_input_tokens": 3}}}),
            ),
            (
                Some("content_block_start"),
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
            ),
            (
                Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}}),
            ),
            (
                Some("content_block_start"),
                json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
            ),
            (
                Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "hi"}}),
            ),
            (
                Some("content_block_start"),
                json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {}}}),
            ),
            (
                Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
            ),
            (Some("ping"), json!({"type": "ping"})),
            (
                Some("message_delta"),
                json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 6}}),
            ),
            (Some("message_stop"), json!({"type": "message_stop"})),
        ],
    );
    let deltas: Vec<&Value> = events
        .iter()
        .filter_map(|(_, e)| e.pointer("/choices/0/delta"))
        .collect();
    assert_eq!(deltas[0]["role"], "assistant");
    assert_eq!(deltas[1]["content"], "hi", "thinking is not passed on");
    assert_eq!(
        deltas[2]["tool_calls"][0],
        json!({"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "read", "arguments": ""}})
    );
    assert_eq!(deltas[3]["tool_calls"][0]["function"]["arguments"], "{}");
    let finishing = events
        .iter()
        .find(|(_, e)| {
            e.pointer("/choices/0/finish_reason")
                .is_some_and(|f| !f.is_null())
        })
        .unwrap();
    assert_eq!(finishing.1["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        events[events.len() - 2].1["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 6, "total_tokens": 16})
    );
    assert_eq!(events.last().unwrap().1, Value::String("[DONE]".into()));
}

#[test]
fn tool_calls_held_past_their_cap_fail_the_stream() {
    let mut translator =
        StreamTranslator::new(WireFormat::OpenAi, WireFormat::Anthropic, Vec::new());
    let piece = "x".repeat(64 * 1024);
    let mut failed = false;
    for i in 0..20 {
        let call = if i == 0 {
            json!({"index": 0, "id": "call_1", "function": {"name": "f", "arguments": piece}})
        } else {
            json!({"index": 0, "function": {"arguments": piece}})
        };
        let chunk = json!({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}]});
        let events = translator.push(None, &chunk.to_string());
        if events
            .iter()
            .any(|(name, _)| name.as_deref() == Some("error"))
        {
            failed = true;
            break;
        }
    }
    assert!(failed, "held without bound");
}

#[test]
fn a_long_tool_call_streamed_token_by_token_is_not_cut() {
    // 20,000 deltas of a few bytes each, the id and name repeated on every one (as some
    // servers send them): about 100 KB of arguments, well under the cap.
    let mut translator =
        StreamTranslator::new(WireFormat::OpenAi, WireFormat::Anthropic, Vec::new());
    let mut sent = String::new();
    for i in 0..20_000 {
        let piece = format!("t{:04}", i % 10_000);
        sent.push_str(&piece);
        let chunk = json!({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "function": {"name": "write_file", "arguments": piece}}
        ]}, "finish_reason": null}]});
        let events = translator.push(None, &chunk.to_string());
        assert!(
            !events
                .iter()
                .any(|(name, _)| name.as_deref() == Some("error")),
            "cut at delta {i}"
        );
    }
    let finish = json!({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]});
    let events = translator.push(None, &finish.to_string());
    let arguments: String = events
        .iter()
        .filter_map(|(_, data)| serde_json::from_str::<Value>(data).ok())
        .filter_map(|e| e["delta"]["partial_json"].as_str().map(String::from))
        .collect();
    assert_eq!(arguments, sent);
}
