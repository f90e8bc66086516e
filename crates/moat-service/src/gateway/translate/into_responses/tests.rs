use super::super::{StreamTranslator, answer, request};
use super::*;
use crate::gateway::WireFormat;

fn messages(body: Value) -> Result<Value, String> {
    request(WireFormat::Anthropic, WireFormat::Responses, &body)
}

#[test]
fn a_messages_conversation_with_tools_becomes_responses_input_items() {
    let body = json!({
        "model": "gpt-5-codex", "max_tokens": 8, "stream": true, "temperature": 0.2,
        "system": [{"type": "text", "text": "Be terse."}, {"type": "text", "text": "Use tools.", "cache_control": {"type": "ephemeral"}}],
        "metadata": {"user_id": "dev-1"},
        "tools": [{"name": "read", "description": "Read a file", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "messages": [
            {"role": "user", "content": "read a.py"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hm", "signature": "s"},
                {"type": "text", "text": "Reading."},
                {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {"path": "a.py"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "no such file"}], "is_error": true},
                {"type": "text", "text": "try b.py"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
            ]},
        ],
    });
    let sent = messages(body).unwrap();
    assert_eq!(
        sent,
        json!({
            "model": "gpt-5-codex", "instructions": "Be terse.\nUse tools.",
            "input": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "read a.py"}]},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Reading."}]},
                {"type": "function_call", "call_id": "toolu_1", "name": "read", "arguments": "{\"path\":\"a.py\"}"},
                {"type": "function_call_output", "call_id": "toolu_1", "output": "Error: no such file"},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "try b.py"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBOR", "detail": "auto"},
                ]},
            ],
            "max_output_tokens": 16, "temperature": 0.2, "stream": true,
            // SHA-256 of "dev-1": at most 64 characters, and no account or session id.
            "safety_identifier": "0388fb626ca89a127847443989334b8c29e17567bc03a7a2ed13effca701a4a1",
            "tools": [{"type": "function", "name": "read", "description": "Read a file", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}, "strict": false}],
            "tool_choice": "required", "parallel_tool_calls": false, "store": false,
        })
    );
}

#[test]
fn what_the_responses_api_has_no_field_for_is_refused_by_name() {
    let base =
        json!({"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    for (field, value) in [
        ("top_k", json!(5)),
        ("stop_sequences", json!(["END"])),
        (
            "thinking",
            json!({"type": "enabled", "budget_tokens": 2048}),
        ),
        ("service_tier", json!("auto")),
        ("mcp_servers", json!([])),
    ] {
        let mut body = base.clone();
        body[field] = value;
        let error = messages(body).unwrap_err();
        assert!(error.contains(&format!("`{field}`")), "{error}");
    }
    let mut off = base.clone();
    off["thinking"] = json!({"type": "disabled"});
    assert!(messages(off).is_ok());
    for (content, says) in [
        (json!([{"type": "document", "source": {}}]), "`document`"),
        (
            json!([{"type": "server_tool_use", "id": "x"}]),
            "`server_tool_use`",
        ),
        (
            json!([{"type": "image", "source": {"type": "file", "file_id": "f"}}]),
            "image of a kind",
        ),
    ] {
        let mut body = base.clone();
        body["messages"] = json!([{"role": "user", "content": content}]);
        let error = messages(body).unwrap_err();
        assert!(error.contains(says), "{error}");
    }
    let mut body = base.clone();
    body["tools"] = json!([{"type": "web_search_20250305", "name": "web_search"}]);
    assert!(messages(body).unwrap_err().contains("web_search_20250305"));
}

#[test]
fn a_chat_request_goes_through_messages_keeping_effort_and_no_made_up_limit() {
    let chat = json!({
        "model": "m", "reasoning_effort": "high", "verbosity": "low",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    });
    let sent = request(WireFormat::OpenAi, WireFormat::Responses, &chat).unwrap();
    assert_eq!(sent["instructions"], "sys");
    assert_eq!(sent["reasoning"], json!({"effort": "high"}));
    assert_eq!(sent["text"], json!({"verbosity": "low"}));
    assert!(sent.get("max_output_tokens").is_none(), "{sent}");
    assert_eq!(sent["input"][1]["type"], "function_call");
    assert_eq!(
        sent["input"][2],
        json!({"type": "function_call_output", "call_id": "call_1", "output": "42"})
    );
    assert_eq!(sent["store"], false);
    let mut limited = chat.clone();
    limited["max_completion_tokens"] = json!(500);
    let sent = request(WireFormat::OpenAi, WireFormat::Responses, &limited).unwrap();
    assert_eq!(sent["max_output_tokens"], 500);
    // What Messages refuses, a Chat request to this model is refused for too.
    let mut stored = chat.clone();
    stored["store"] = json!(true);
    assert!(
        request(WireFormat::OpenAi, WireFormat::Responses, &stored)
            .unwrap_err()
            .contains("`store`")
    );
}

fn response(output: Value, status: &str, incomplete: Value) -> Value {
    json!({
        "id": "resp_1", "object": "response", "model": "gpt-5-codex", "status": status,
        "incomplete_details": incomplete, "output": output,
        "usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 60}, "output_tokens": 7},
    })
}

#[test]
fn a_response_becomes_a_messages_answer_and_a_chat_completion() {
    let whole = response(
        json!([
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "id": "msg_1", "role": "assistant", "content": [{"type": "output_text", "text": "Calling.", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_9", "name": "read", "arguments": "{\"path\":\"a\"}"},
        ]),
        "completed",
        Value::Null,
    );
    let messages = answer(WireFormat::Responses, WireFormat::Anthropic, &whole, &[]).unwrap();
    assert_eq!(
        messages["content"],
        json!([{"type": "text", "text": "Calling."}, {"type": "tool_use", "id": "call_9", "name": "read", "input": {"path": "a"}}])
    );
    assert_eq!(messages["stop_reason"], "tool_use");
    assert_eq!(
        messages["usage"],
        json!({"input_tokens": 40, "cache_read_input_tokens": 60, "output_tokens": 7})
    );
    let chat = answer(WireFormat::Responses, WireFormat::OpenAi, &whole, &[]).unwrap();
    assert_eq!(chat["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        chat["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "read"
    );
    assert_eq!(chat["usage"]["prompt_tokens"], 100);
    let cut = response(
        json!([]),
        "incomplete",
        json!({"reason": "max_output_tokens"}),
    );
    assert_eq!(to_messages(&cut).unwrap()["stop_reason"], "max_tokens");
    let refused = response(
        json!([{"type": "message", "content": [{"type": "refusal", "refusal": "I can't."}]}]),
        "completed",
        Value::Null,
    );
    let refused = to_messages(&refused).unwrap();
    assert_eq!(
        (
            refused["stop_reason"].as_str(),
            refused["content"][0]["text"].as_str()
        ),
        (Some("refusal"), Some("I can't."))
    );
    for (broken, says) in [
        (
            response(
                json!([{"type": "web_search_call", "id": "ws"}]),
                "completed",
                Value::Null,
            ),
            "`web_search_call` output item",
        ),
        (
            response(
                json!([{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{oops"}]),
                "completed",
                Value::Null,
            ),
            "not JSON",
        ),
        (
            json!({"status": "failed", "error": {"message": "overloaded"}}),
            "overloaded",
        ),
    ] {
        let error = to_messages(&broken).unwrap_err();
        assert!(error.contains(says), "{error}");
    }
}

/// The Responses API events of an answer that writes text, then calls a function.
fn vendor_events() -> Vec<Value> {
    vec![
        json!({"type": "response.created", "sequence_number": 0, "response": {"id": "resp_1", "model": "gpt-5-codex", "status": "in_progress"}}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning", "id": "rs"}}),
        json!({"type": "response.reasoning_summary_text.delta", "output_index": 0, "delta": "thinking"}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "reasoning"}}),
        json!({"type": "response.output_item.added", "output_index": 1, "item": {"type": "message", "id": "msg"}}),
        json!({"type": "response.content_part.added", "output_index": 1, "content_index": 0, "part": {"type": "output_text", "text": ""}}),
        json!({"type": "response.output_text.delta", "output_index": 1, "content_index": 0, "delta": "Hel"}),
        json!({"type": "response.output_text.delta", "output_index": 1, "content_index": 0, "delta": "lo"}),
        json!({"type": "response.output_text.done", "output_index": 1, "content_index": 0, "text": "Hello"}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": {"type": "message"}}),
        json!({"type": "response.output_item.added", "output_index": 2, "item": {"type": "function_call", "call_id": "call_1", "name": "read", "arguments": ""}}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 2, "delta": "{\"path\":"}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 2, "delta": "\"a\"}"}),
        json!({"type": "response.output_item.done", "output_index": 2, "item": {"type": "function_call", "arguments": "{\"path\":\"a\"}"}}),
        json!({"type": "response.completed", "response": {"status": "completed", "usage": {"input_tokens": 10, "output_tokens": 5}}}),
    ]
}

fn run(translator: &mut StreamTranslator, events: &[Value]) -> Vec<(Option<String>, Value)> {
    events
        .iter()
        .flat_map(|e| translator.push(e["type"].as_str(), &e.to_string()))
        .map(|(name, data)| {
            (
                name,
                serde_json::from_str(&data).unwrap_or(Value::String(data)),
            )
        })
        .collect()
}

#[test]
fn a_responses_stream_becomes_messages_events_and_chat_chunks() {
    let mut translator =
        StreamTranslator::new(WireFormat::Responses, WireFormat::Anthropic, vec![]);
    let out = run(&mut translator, &vendor_events());
    let names: Vec<&str> = out
        .iter()
        .map(|(n, _)| n.as_deref().unwrap_or(""))
        .collect();
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
    assert_eq!(out[0].1["message"]["id"], "resp_1");
    assert_eq!(
        out[5].1["content_block"],
        json!({"type": "tool_use", "id": "call_1", "name": "read", "input": {}})
    );
    assert_eq!(out[5].1["index"], 1);
    let arguments: String = out[6..8]
        .iter()
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(arguments, "{\"path\":\"a\"}");
    assert_eq!(out[9].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(out[9].1["usage"]["output_tokens"], 5);
    // The same stream for a Chat Completions client: chunks, usage, [DONE].
    let mut translator = StreamTranslator::new(WireFormat::Responses, WireFormat::OpenAi, vec![]);
    let chunks = run(&mut translator, &vendor_events());
    let text: String = chunks
        .iter()
        .filter_map(|(_, c)| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello");
    assert!(
        chunks
            .iter()
            .any(|(_, c)| c["choices"][0]["finish_reason"] == "tool_calls")
    );
    assert_eq!(chunks.last().unwrap().1, Value::String("[DONE]".into()));
    assert!(
        chunks
            .iter()
            .any(|(_, c)| c["usage"]["prompt_tokens"] == 10)
    );
}

#[test]
fn a_stream_that_does_not_fit_or_fails_ends_with_an_error() {
    let events = vendor_events();
    // Arguments for a call that is not the open one.
    let mut stray = events[..13].to_vec();
    stray[12]["output_index"] = json!(7);
    // A failed response; an error event; an item Messages has no block for.
    let failed = vec![
        events[0].clone(),
        json!({"type": "response.failed", "response": {"error": {"message": "overloaded"}}}),
    ];
    let error = vec![
        events[0].clone(),
        json!({"type": "error", "code": "server_error", "message": "boom"}),
    ];
    let hosted = vec![
        events[0].clone(),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "web_search_call"}}),
    ];
    let not_json = [Value::String("{".into())];
    for (events, says) in [
        (stray, "not open"),
        (failed, "overloaded"),
        (error, "boom"),
        (hosted, "web_search_call"),
    ] {
        let mut translator =
            StreamTranslator::new(WireFormat::Responses, WireFormat::Anthropic, vec![]);
        let out = run(&mut translator, &events);
        let (name, data) = out.last().unwrap();
        assert_eq!(name.as_deref(), Some("error"));
        assert!(
            data["error"]["message"].as_str().unwrap().contains(says),
            "{data}"
        );
        // Nothing after the failure.
        assert!(
            translator
                .push(Some("response.completed"), &events_done().to_string())
                .is_empty()
        );
    }
    let mut translator =
        StreamTranslator::new(WireFormat::Responses, WireFormat::Anthropic, vec![]);
    let out: Vec<_> = not_json
        .iter()
        .flat_map(|e| translator.push(None, e.as_str().unwrap()))
        .collect();
    assert_eq!(out[0].0.as_deref(), Some("error"));
}

fn events_done() -> Value {
    json!({"type": "response.completed", "response": {"status": "completed", "usage": {}}})
}

#[test]
fn a_call_whose_arguments_come_only_whole_is_sent_in_one_piece() {
    let events = [
        json!({"type": "response.created", "response": {"id": "r", "model": "m"}}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "function_call", "call_id": "c", "name": "f", "arguments": ""}}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{\"x\":1}"}}),
        events_done(),
    ];
    let mut translator =
        StreamTranslator::new(WireFormat::Responses, WireFormat::Anthropic, vec![]);
    let out = run(&mut translator, &events);
    let deltas: Vec<&Value> = out
        .iter()
        .filter(|(n, _)| n.as_deref() == Some("content_block_delta"))
        .map(|(_, d)| d)
        .collect();
    assert_eq!(deltas.len(), 1);
    assert_eq!(deltas[0]["delta"]["partial_json"], "{\"x\":1}");
}

#[test]
fn defaults_reasoning_models_refuse_are_not_sent_and_chat_keeps_its_own_ranges() {
    let mut body = json!({"model": "m", "max_tokens": 100, "temperature": 1, "top_p": 1.0, "messages": [{"role": "user", "content": "hi"}]});
    let sent = messages(body.clone()).unwrap();
    assert!(
        sent.get("temperature").is_none() && sent.get("top_p").is_none(),
        "{sent}"
    );
    body["temperature"] = json!(0.5);
    assert_eq!(messages(body).unwrap()["temperature"], 0.5);
    // A Chat Completions client's 0–2 range and a function's `strict` carry across;
    // refusals name the Responses API.
    let chat = json!({
        "model": "m", "temperature": 1.5, "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "strict": true, "parameters": {"type": "object"}}}],
    });
    let sent = request(WireFormat::OpenAi, WireFormat::Responses, &chat).unwrap();
    assert_eq!(sent["temperature"], 1.5);
    assert_eq!(sent["tools"][0]["strict"], true);
    let mut seeded = chat.clone();
    seeded["seed"] = json!(7);
    let error = request(WireFormat::OpenAi, WireFormat::Responses, &seeded).unwrap_err();
    assert!(
        error.contains("`seed`") && error.contains("Responses API") && !error.contains("Anthropic"),
        "{error}"
    );
}

#[test]
fn an_unfinished_response_is_no_answer_and_a_call_cut_by_the_limit_is_dropped() {
    for status in [json!("in_progress"), json!("cancelled"), Value::Null] {
        let mut unfinished = response(json!([]), "completed", Value::Null);
        unfinished["status"] = status;
        assert!(
            to_messages(&unfinished)
                .unwrap_err()
                .contains("not finished")
        );
    }
    let cut = response(
        json!([
            {"type": "message", "content": [{"type": "output_text", "text": "Calling"}]},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{\"pa"},
        ]),
        "incomplete",
        json!({"reason": "max_output_tokens"}),
    );
    let answer = to_messages(&cut).unwrap();
    assert_eq!(answer["content"].as_array().unwrap().len(), 1);
    assert_eq!(answer["stop_reason"], "max_tokens");
    let other = response(json!([]), "incomplete", json!({"reason": "something_new"}));
    assert_eq!(to_messages(&other).unwrap()["stop_reason"], "max_tokens");
}

#[test]
fn a_call_left_without_its_arguments_or_a_delta_that_is_not_text_fails_the_stream() {
    let created = json!({"type": "response.created", "response": {"id": "r", "model": "m"}});
    let call = |n: u64, id: &str| json!({"type": "response.output_item.added", "output_index": n, "item": {"type": "function_call", "call_id": id, "name": "f", "arguments": ""}});
    let done = |n: u64, arguments: &str| json!({"type": "response.output_item.done", "output_index": n, "item": {"type": "function_call", "arguments": arguments}});
    for (events, says) in [
        // Another call begins before the first one's arguments.
        (
            vec![created.clone(), call(0, "a"), call(1, "b")],
            "before a call's arguments",
        ),
        // Text begins before the call's arguments.
        (
            vec![
                created.clone(),
                call(0, "a"),
                json!({"type": "response.output_text.delta", "output_index": 1, "content_index": 0, "delta": "x"}),
            ],
            "before a call's arguments",
        ),
        // A call is finished, with arguments, that is not the one open.
        (
            vec![
                created.clone(),
                call(0, "a"),
                json!({"type": "response.function_call_arguments.delta", "output_index": 0, "delta": "{}"}),
                done(0, "{}"),
                done(0, "{\"x\":1}"),
            ],
            "not the one open",
        ),
        (
            vec![
                created.clone(),
                json!({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": {"text": "x"}}),
            ],
            "not text",
        ),
    ] {
        let mut translator =
            StreamTranslator::new(WireFormat::Responses, WireFormat::Anthropic, vec![]);
        let out = run(&mut translator, &events);
        let (name, data) = out.last().unwrap();
        assert_eq!(name.as_deref(), Some("error"), "{out:?}");
        assert!(
            data["error"]["message"].as_str().unwrap().contains(says),
            "{data}"
        );
        assert!(
            !out.iter()
                .any(|(n, d)| n.as_deref() == Some("content_block_delta")
                    && d["delta"]["text"].is_object())
        );
    }
    // A call with no arguments at all, finished in order, is a call with none.
    let mut translator =
        StreamTranslator::new(WireFormat::Responses, WireFormat::Anthropic, vec![]);
    let out = run(
        &mut translator,
        &[created, call(0, "a"), done(0, ""), events_done()],
    );
    assert_eq!(out.last().unwrap().0.as_deref(), Some("message_stop"));
}
