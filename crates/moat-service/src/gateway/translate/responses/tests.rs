use super::super::{StreamTranslator, WireFormat, answer, between, request};
use serde_json::{Value, json};

/// A request as Codex CLI sends one mid-task: instructions, a developer message, its
/// earlier reasoning, a function call and its output, tools in a `namespace`.
fn codex_request() -> Value {
    json!({
        "model": "claude", "instructions": "You are Codex.", "stream": true, "store": false,
        "parallel_tool_calls": false, "tool_choice": "auto", "prompt_cache_key": "conv-1",
        "include": ["reasoning.encrypted_content"], "reasoning": {"summary": "auto"},
        "client_metadata": {"x": "y"}, "max_output_tokens": 2000, "temperature": 0.2,
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "sandbox: read-only"}]},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "what is in a.rs?"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBOR", "detail": "auto"}
            ]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "let me look"}]},
            {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": "{\"command\":[\"cat\",\"a.rs\"]}"},
            {"type": "function_call", "call_id": "call_2", "name": "list", "namespace": "mcp", "arguments": ""},
            {"type": "function_call_output", "call_id": "call_1", "output": "fn main() {}"},
            {"type": "message", "role": "user", "content": "(approved)"},
            {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "a.rs"}]},
            {"role": "user", "content": "and now?"}
        ],
        "tools": [
            {"type": "function", "name": "shell", "description": "runs", "parameters": {"type": "object"}, "strict": false},
            {"type": "namespace", "name": "mcp", "tools": [{"type": "function", "name": "list", "parameters": null}]}
        ]
    })
}

#[test]
fn a_responses_request_becomes_a_messages_request() {
    assert!(between(WireFormat::Responses, WireFormat::Anthropic));
    // An OpenAI-format model serves the Responses API itself: nothing to translate.
    assert!(!between(WireFormat::Responses, WireFormat::OpenAi));
    let out = request(
        WireFormat::Responses,
        WireFormat::Anthropic,
        &codex_request(),
    )
    .unwrap();
    assert_eq!(out["system"], "You are Codex.\n\nsandbox: read-only");
    assert_eq!(out["max_tokens"], 2000);
    assert_eq!(out["temperature"], 0.2);
    assert_eq!(out["stream"], true);
    let messages = out["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{out}");
    assert_eq!(
        messages[0]["content"][0],
        json!({"type": "text", "text": "what is in a.rs?"})
    );
    assert_eq!(
        messages[0]["content"][1]["source"],
        json!({"type": "base64", "media_type": "image/png", "data": "iVBOR"})
    );
    // The assistant's text and both its calls are one turn; both results the next.
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["content"][0]["text"], "let me look");
    assert_eq!(
        messages[1]["content"][1],
        json!({"type": "tool_use", "id": "call_1", "name": "shell", "input": {"command": ["cat", "a.rs"]}})
    );
    assert_eq!(messages[1]["content"][2]["input"], json!({}));
    assert_eq!(messages[1]["content"][2]["name"], "mcp__list");
    assert_eq!(messages[2]["role"], "user");
    assert_eq!(messages[2]["content"][0]["tool_use_id"], "call_1");
    assert_eq!(messages[2]["content"][0]["content"], "fn main() {}");
    // Tool results first in their turn, as Messages wants, then the user's text.
    assert_eq!(messages[2]["content"][1]["content"][0]["text"], "a.rs");
    assert_eq!(messages[2]["content"][2]["text"], "(approved)");
    assert_eq!(messages[2]["content"][3]["text"], "and now?");
    assert_eq!(
        out["tools"][1],
        json!({"name": "mcp__list", "input_schema": {"type": "object"}})
    );
    assert_eq!(out["tools"][0]["description"], "runs");
    assert_eq!(
        out["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    for dropped in [
        "store",
        "include",
        "reasoning",
        "prompt_cache_key",
        "client_metadata",
        "input",
    ] {
        assert!(out.get(dropped).is_none(), "{dropped}: {out}");
    }
    let plain =
        json!({"model": "claude", "input": "hi", "tool_choice": {"type": "function", "name": "f"}});
    let out = request(WireFormat::Responses, WireFormat::Anthropic, &plain).unwrap();
    assert_eq!(out["messages"], json!([{"role": "user", "content": "hi"}]));
    assert_eq!(out["max_tokens"], 4096, "Messages needs one");
    assert_eq!(out["tool_choice"], json!({"type": "tool", "name": "f"}));
}

#[test]
fn what_has_no_counterpart_in_messages_is_refused_naming_it() {
    let set = |pointer: &str, value: Value| {
        let mut body = codex_request();
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    let with = |field: &str, value: Value| {
        let mut body = codex_request();
        body[field] = value;
        body
    };
    for (body, says) in [
        (with("store", json!(true)), "`store`"),
        (
            with("previous_response_id", json!("resp_1")),
            "`previous_response_id`",
        ),
        (
            with(
                "text",
                json!({"format": {"type": "json_schema", "schema": {}}}),
            ),
            "`text.format`",
        ),
        (
            with("text", json!({"verbosity": "low"})),
            "`text.verbosity`",
        ),
        (
            with("reasoning", json!({"effort": "high"})),
            "`reasoning.effort`",
        ),
        (
            with("include", json!(["message.output_text.logprobs"])),
            "logprobs",
        ),
        (with("temperature", json!(1.5)), "`temperature`"),
        (with("truncation", json!("auto")), "`truncation`"),
        (with("service_tier", json!("flex")), "`service_tier`"),
        (with("max_tool_calls", json!(3)), "`max_tool_calls`"),
        (with("top_logprobs", json!(2)), "`top_logprobs`"),
        (
            with("tool_choice", json!({"type": "allowed_tools", "tools": []})),
            "`tool_choice`",
        ),
        (with("user", json!(7)), "`user`"),
        (
            with("a_field_from_next_year", json!(1)),
            "`a_field_from_next_year`",
        ),
        (
            set("/tools/0", json!({"type": "web_search"})),
            "`web_search` tool",
        ),
        (
            set(
                "/tools/1/tools/0",
                json!({"type": "custom", "name": "apply_patch"}),
            ),
            "tools[1].tools[0] is a `custom` tool",
        ),
        (
            set("/input/2", json!({"type": "item_reference", "id": "msg_1"})),
            "`item_reference` item",
        ),
        (
            set(
                "/input/1/content/1",
                json!({"type": "input_image", "file_id": "file-1"}),
            ),
            "kept at the vendor",
        ),
        (
            set(
                "/input/1/content/1",
                json!({"type": "input_file", "file_data": "JVBER"}),
            ),
            "`input_file` part",
        ),
        (
            set(
                "/input/0/content/0",
                json!({"type": "input_image", "image_url": "https://x"}),
            ),
            "only text",
        ),
        (set("/input/4/arguments", json!("{not json")), "not JSON"),
        (set("/input/8/output", json!(5)), "input[8].output"),
        (
            json!({"model": "claude", "input": [{"type": "reasoning", "summary": []}]}),
            "no turns",
        ),
    ] {
        let error = request(WireFormat::Responses, WireFormat::Anthropic, &body).unwrap_err();
        assert!(error.contains(says), "{says}: {error}");
    }
}

fn messages_answer(stop_reason: &str) -> Value {
    json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "I will look."},
            {"type": "tool_use", "id": "toolu_1", "name": "shell", "input": {"command": ["ls"]}}
        ],
        "stop_reason": stop_reason, "stop_sequence": null,
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 7},
    })
}

#[test]
fn a_messages_answer_becomes_a_response() {
    let out = answer(
        WireFormat::Anthropic,
        WireFormat::Responses,
        &messages_answer("tool_use"),
        &[],
    )
    .unwrap();
    assert_eq!(out["object"], "response");
    assert_eq!(out["status"], "completed");
    let output = out["output"].as_array().unwrap();
    assert_eq!(output.len(), 2, "thinking is not passed on: {out}");
    assert_eq!(output[0]["type"], "message");
    assert_eq!(
        output[0]["content"][0],
        json!({"type": "output_text", "text": "I will look.", "annotations": []})
    );
    assert_eq!(output[1]["type"], "function_call");
    assert_eq!(output[1]["call_id"], "toolu_1");
    assert_eq!(
        serde_json::from_str::<Value>(output[1]["arguments"].as_str().unwrap()).unwrap(),
        json!({"command": ["ls"]})
    );
    assert_ne!(output[0]["id"], output[1]["id"]);
    assert_eq!(out["usage"]["input_tokens"], 100);
    assert_eq!(out["usage"]["input_tokens_details"]["cached_tokens"], 90);
    assert_eq!(out["usage"]["total_tokens"], 107);
    let cut = answer(
        WireFormat::Anthropic,
        WireFormat::Responses,
        &messages_answer("max_tokens"),
        &[],
    )
    .unwrap();
    assert_eq!(cut["status"], "incomplete");
    assert_eq!(cut["incomplete_details"]["reason"], "max_output_tokens");
}

/// Anthropic's events for the answer above, the tool's arguments cut mid-value.
fn messages_stream() -> Vec<(&'static str, Value)> {
    vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-sonnet-4-5", "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "secret plan"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "I will "}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "look."}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "shell", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"command\": [\"l"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "s\"]}"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 2}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 3, "content_block": {"type": "tool_use", "id": "toolu_2", "name": "list", "input": {}}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 3}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 30}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ]
}

fn translate(events: &[(&str, Value)]) -> Vec<Value> {
    let mut translator =
        StreamTranslator::new(WireFormat::Anthropic, WireFormat::Responses, Vec::new());
    let mut out = Vec::new();
    for (name, data) in events {
        for (event_name, data) in translator.push(Some(name), &data.to_string()) {
            let value: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(
                event_name.as_deref(),
                value["type"].as_str(),
                "named as typed"
            );
            out.push(value);
        }
    }
    out
}

#[test]
fn a_messages_stream_becomes_the_responses_api_events() {
    let events = translate(&messages_stream());
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (n, event) in events.iter().enumerate() {
        assert_eq!(event["sequence_number"], n as u64);
    }
    assert!(
        !events.iter().any(|e| e.to_string().contains("secret plan")),
        "thinking is not passed on"
    );
    assert_eq!(
        events[4]["output_index"], 0,
        "the skipped thinking block takes no place"
    );
    assert_eq!(events[6]["text"], "I will look.");
    assert_eq!(events[12]["arguments"], "{\"command\": [\"ls\"]}");
    assert_eq!(events[12]["output_index"], 1);
    assert_eq!(
        events[15]["arguments"], "{}",
        "a call without arguments has empty ones"
    );
    let response = &events[17]["response"];
    assert_eq!(response["status"], "completed");
    assert_eq!(response["output"].as_array().unwrap().len(), 3);
    assert_eq!(response["output"][1]["call_id"], "toolu_1");
    assert_eq!(response["output"][2]["arguments"], "{}");
    assert_eq!(response["usage"]["input_tokens"], 12);
    assert_eq!(response["usage"]["output_tokens"], 30);
    assert_eq!(events[0]["response"]["status"], "in_progress");
    // Cut off by max_tokens mid-text: the text so far, the response incomplete.
    let mut cut = messages_stream();
    cut.truncate(7);
    cut.push(("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 5}})));
    cut.push(("message_stop", json!({"type": "message_stop"})));
    let events = translate(&cut);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(
        last["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
    assert_eq!(
        last["response"]["output"][0]["content"][0]["text"],
        "I will "
    );
    // The vendor's error is the Responses API's `error` event.
    let events = translate(&[(
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
    )]);
    assert_eq!(events[0]["type"], "error");
    assert_eq!(events[0]["code"], "overloaded_error");
    assert_eq!(events[0]["message"], "busy");
}

#[test]
fn an_answer_larger_than_the_translator_holds_fails_the_stream() {
    let mut events = messages_stream();
    events.truncate(6);
    let chunk = "x".repeat(1 << 20);
    for _ in 0..17 {
        events.push(("content_block_delta", json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": chunk}})));
    }
    events.extend(messages_stream().split_off(8));
    let out = translate(&events);
    let last = out.last().unwrap();
    assert_eq!(last["type"], "error", "{}", last["type"]);
    assert!(last["message"].as_str().unwrap().contains("16 MiB"));
    assert!(
        !out.iter().any(|e| e["type"] == "response.completed"),
        "nothing after the failure"
    );
}

#[test]
fn a_namespace_s_functions_travel_joined_to_it_and_come_back_in_it() {
    let body = json!({"model": "claude", "input": [
        {"role": "user", "content": "spawn one"},
        {"type": "function_call", "call_id": "c1", "name": "spawn_agent", "namespace": "multi_agent_v1", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"}
    ], "tools": [
        {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
        {"type": "namespace", "name": "multi_agent_v1", "description": "agents", "tools": [
            {"type": "function", "name": "spawn_agent", "parameters": {"type": "object"}}
        ]}
    ], "tool_choice": {"type": "function", "name": "spawn_agent", "namespace": "multi_agent_v1"}});
    let out = request(WireFormat::Responses, WireFormat::Anthropic, &body).unwrap();
    assert_eq!(out["tools"][1]["name"], "multi_agent_v1__spawn_agent");
    assert_eq!(
        out["messages"][1]["content"][0]["name"],
        "multi_agent_v1__spawn_agent"
    );
    assert_eq!(out["tool_choice"]["name"], "multi_agent_v1__spawn_agent");
    let namespaces = super::namespaces(&body);
    let mut called = messages_answer("tool_use");
    called["content"][2]["name"] = json!("multi_agent_v1__spawn_agent");
    let back = answer(
        WireFormat::Anthropic,
        WireFormat::Responses,
        &called,
        &namespaces,
    )
    .unwrap();
    assert_eq!(back["output"][1]["name"], "spawn_agent");
    assert_eq!(back["output"][1]["namespace"], "multi_agent_v1");
    let mut translator = StreamTranslator::new(
        WireFormat::Anthropic,
        WireFormat::Responses,
        namespaces.clone(),
    );
    let mut events = Vec::new();
    for (name, mut data) in messages_stream() {
        if data["content_block"]["name"] == "shell" {
            data["content_block"]["name"] = json!("multi_agent_v1__spawn_agent");
        }
        events.extend(translator.push(Some(name), &data.to_string()));
    }
    let added: Value = serde_json::from_str(
        &events
            .iter()
            .find(|(n, d)| {
                n.as_deref() == Some("response.output_item.added") && d.contains("function_call")
            })
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(added["item"]["name"], "spawn_agent");
    assert_eq!(added["item"]["namespace"], "multi_agent_v1");
    let done: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(done["response"]["output"][1]["namespace"], "multi_agent_v1");
    // A name outside any namespace that reads as one inside is refused; a name that
    // only starts like a namespace is itself.
    let mut clash = body.clone();
    clash["tools"][0]["name"] = json!("multi_agent_v1__spawn_agent");
    let error = request(WireFormat::Responses, WireFormat::Anthropic, &clash).unwrap_err();
    assert!(error.contains("rename one"), "{error}");
    // A namespaced function whose joined name reads as another namespace's (found by
    // review: `git` + `hub__push` came back as `git__hub` + `push`).
    let mut inner = body.clone();
    inner["tools"] = json!([
        {"type": "namespace", "name": "git", "tools": [{"type": "function", "name": "hub__push"}]},
        {"type": "namespace", "name": "git__hub", "tools": [{"type": "function", "name": "pull"}]}
    ]);
    inner["tool_choice"] = json!("auto");
    let error = request(WireFormat::Responses, WireFormat::Anthropic, &inner).unwrap_err();
    assert!(error.contains("`hub__push` in namespace `git`"), "{error}");
    let mut plain = messages_answer("tool_use");
    plain["content"][2]["name"] = json!("multi_agent_v1__");
    let back = answer(
        WireFormat::Anthropic,
        WireFormat::Responses,
        &plain,
        &namespaces,
    )
    .unwrap();
    assert_eq!(back["output"][1]["name"], "multi_agent_v1__");
    assert!(back["output"][1].get("namespace").is_none());
    let mut nested = body.clone();
    nested["tools"][1]["tools"][0] = json!({"type": "namespace", "name": "inner", "tools": []});
    assert!(
        request(WireFormat::Responses, WireFormat::Anthropic, &nested)
            .unwrap_err()
            .contains("`namespace` tool")
    );
}

#[test]
fn a_stream_that_writes_outside_its_open_block_fails() {
    let ends_in_error = |events: Vec<(&'static str, Value)>| {
        let out = translate(&events);
        let last = out.last().unwrap();
        assert_eq!(last["type"], "error", "{out:?}");
        assert!(
            !out.iter().any(|e| e["type"] == "response.completed"),
            "{out:?}"
        );
        last["message"].as_str().unwrap().to_string()
    };
    // Text for block 1 while block 2 (a call) is open.
    let mut events = messages_stream();
    events.insert(11, ("content_block_delta", json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "late"}})));
    assert!(ends_in_error(events).contains("not open"));
    // Text written into a call's block.
    let mut events = messages_stream();
    events.insert(11, ("content_block_delta", json!({"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "odd"}})));
    assert!(ends_in_error(events).contains("another kind"));
    // A delta before any block.
    let mut events = messages_stream();
    events.insert(1, ("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "early"}})));
    assert!(ends_in_error(events).contains("not open"));
}

#[test]
fn endless_empty_blocks_fail_the_stream_too() {
    let mut translator =
        StreamTranslator::new(WireFormat::Anthropic, WireFormat::Responses, Vec::new());
    translator.push(Some("message_start"), &messages_stream()[0].1.to_string());
    let mut failed = false;
    for index in 0..100_000u64 {
        let start = json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}});
        let stop = json!({"type": "content_block_stop", "index": index});
        let mut out = translator.push(Some("content_block_start"), &start.to_string());
        out.extend(translator.push(Some("content_block_stop"), &stop.to_string()));
        if out.iter().any(|(name, _)| name.as_deref() == Some("error")) {
            failed = true;
            break;
        }
    }
    assert!(
        failed,
        "each empty item counts against what the translator holds"
    );
}
