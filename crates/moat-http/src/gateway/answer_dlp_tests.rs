//! Answer redaction on shapes the stand-in does not send: JSON a model wrote under
//! envelope-looking keys, legacy function calls, fields nobody listed, a finishing
//! chunk that carries text, events that are not objects.

use super::*;
use moat_dlp::Detector;
use serde_json::json;
use std::sync::LazyLock;

static DETECTOR: LazyLock<Detector> = LazyLock::new(Detector::builtin);
const KEY: &str = "AKIAZ7VQ2MXR4HT8PLWN";
const CARD: u64 = 4111111111111111;

fn stream(format: WireFormat) -> AnswerStream<'static> {
    AnswerStream::new(|| Redactor::new(&DETECTOR, placeholder_key()), format)
}

fn placeholder_key() -> [u8; 32] {
    [9; 32]
}

/// Everything the client would see, as text.
fn seen(events: &[Event]) -> String {
    events
        .iter()
        .map(|(_, v)| v.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn json_a_model_wrote_is_redacted_under_any_key_and_in_keys_and_numbers() {
    let mut redactor = Redactor::new(&DETECTOR, [1; 32]);
    let arguments = json!({"id": KEY, "name": {"card": CARD}, KEY: "x"}).to_string();
    let mut answer = json!({
        "id": "chatcmpl-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "write", "arguments": arguments}}]}}],
    });
    let counts = redact_whole(&mut answer, &mut redactor);
    let text = answer.to_string();
    assert!(
        !text.contains(KEY) && !text.contains(&CARD.to_string()),
        "{text}"
    );
    assert!(counts.values().sum::<u64>() >= 3, "{counts:?}");
    assert_eq!(answer["id"], "chatcmpl-1", "the envelope stays");
    let mut anthropic = json!({"content": [{"type": "tool_use", "id": "toolu_1", "name": "w",
        "input": {"type": KEY, "signature": KEY}}]});
    redact_whole(&mut anthropic, &mut redactor);
    assert!(!anthropic.to_string().contains(KEY), "{anthropic}");
    assert_eq!(anthropic["content"][0]["id"], "toolu_1");
}

#[test]
fn a_legacy_function_call_and_fields_nobody_listed_are_redacted_in_a_stream() {
    let mut s = stream(WireFormat::OpenAi);
    let mut out = Vec::new();
    let arguments = json!({"key": KEY}).to_string();
    let (first, second) = arguments.split_at(12);
    for piece in [first, second] {
        out.extend(s.process(
            None,
            json!({"id": "c", "choices": [{"index": 0, "delta": {"function_call": {"arguments": piece}}, "finish_reason": null}]}),
        ));
    }
    out.extend(s.process(
        None,
        json!({"id": "c", "choices": [{"index": 0, "delta": {"audio": {"transcript": format!("say {KEY}")},
            "custom": {"input": KEY}}, "finish_reason": null}]}),
    ));
    out.extend(s.process(
        None,
        json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    ));
    out.extend(s.finish());
    let text = seen(&out);
    assert!(!text.contains(KEY), "{text}");
    let rejoined: String = out
        .iter()
        .filter_map(|(_, v)| v["choices"][0]["delta"]["function_call"]["arguments"].as_str())
        .collect();
    let parsed: Value = serde_json::from_str(&rejoined).unwrap();
    assert!(
        parsed["key"]
            .as_str()
            .unwrap()
            .starts_with("[REDACTED:aws-access-key-id:")
    );
}

#[test]
fn text_released_at_a_finishing_chunk_stays_in_order() {
    let mut s = stream(WireFormat::OpenAi);
    let mut out = Vec::new();
    let long = "word ".repeat(2_000);
    out.extend(s.process(
        None,
        json!({"id": "c", "choices": [{"index": 0, "delta": {"content": long.clone()}, "finish_reason": null}]}),
    ));
    // The last text comes with the finish: it follows everything held.
    out.extend(s.process(
        None,
        json!({"id": "c", "choices": [{"index": 0, "delta": {"content": "THE END"}, "finish_reason": "stop"}]}),
    ));
    out.extend(s.finish());
    let text: String = out
        .iter()
        .filter_map(|(_, v)| v["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, format!("{long}THE END"));
    // A whole tool call in its finishing chunk keeps its id and name with its arguments.
    let mut s = stream(WireFormat::OpenAi);
    let out = s.process(
        None,
        json!({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1",
            "type": "function", "function": {"name": "w", "arguments": json!({"k": KEY}).to_string()}}]},
            "finish_reason": "tool_calls"}]}),
    );
    assert_eq!(out.len(), 1, "{out:?}");
    let call = &out[0].1["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(call["id"], "call_1");
    assert!(!call.to_string().contains(KEY), "{call}");
    assert!(
        call["function"]["arguments"]
            .as_str()
            .unwrap()
            .contains("[REDACTED:")
    );
}

#[test]
fn events_that_are_not_objects_are_dropped_without_a_panic() {
    for format in [WireFormat::OpenAi, WireFormat::Anthropic] {
        let mut s = stream(format);
        assert!(s.process(None, json!(1)).is_empty());
        assert!(s.process(None, json!(["x"])).is_empty());
        let odd = s.process(None, json!({"choices": ["x", 3], "delta": 7, "type": 5}));
        assert_eq!(odd.len(), 1);
        let odd = s.process(
            Some("content_block_delta".into()),
            json!({"type": "content_block_delta", "delta": "x"}),
        );
        assert_eq!(odd.len(), 1);
    }
}

#[test]
fn oversized_tool_arguments_fail_the_stream() {
    let mut s = stream(WireFormat::Anthropic);
    let piece = "a".repeat(64 * 1024);
    for _ in 0..17 {
        s.process(
            Some("content_block_delta".into()),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": piece}}),
        );
    }
    assert!(s.failure().unwrap().contains("1 MiB"));
}

#[test]
fn a_finish_reason_that_is_empty_on_every_chunk_does_not_end_the_choice() {
    let mut s = stream(WireFormat::OpenAi);
    let text = format!("the key is {KEY} and that is all");
    let mut out = Vec::new();
    for piece in text.as_bytes().chunks(3) {
        let piece = std::str::from_utf8(piece).unwrap();
        out.extend(s.process(
            None,
            json!({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": ""}]}),
        ));
    }
    out.extend(s.process(
        None,
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "null"}]}),
    ));
    out.extend(s.finish());
    let seen: String = out
        .iter()
        .filter_map(|(_, v)| v["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!seen.contains(KEY), "{seen}");
    assert!(
        seen.starts_with("the key is [REDACTED:aws-access-key-id:"),
        "{seen}"
    );
}

#[test]
fn text_as_parts_token_ids_and_log_probabilities_do_not_pass() {
    let mut s = stream(WireFormat::OpenAi);
    let out = s.process(
        None,
        json!({"choices": [{"index": 0, "delta": {"content": [{"type": "text", "text": format!("k {KEY}")}]},
            "logprobs": {"content": [{"token": "AK", "bytes": [65, 75]}]}, "token_ids": [1, 2, 3],
            "finish_reason": null}]}),
    );
    let text = seen(&out);
    assert!(
        !text.contains(KEY) && !text.contains("logprobs") && !text.contains("token_ids"),
        "{text}"
    );
    let mut redactor = Redactor::new(&DETECTOR, [1; 32]);
    let mut whole = json!({"choices": [{"index": 0, "message": {"content": "x"},
        "logprobs": {"content": [{"token": "AK"}]}, "token_ids": [5, 6]}], "prompt_token_ids": [1]});
    redact_whole(&mut whole, &mut redactor);
    let text = whole.to_string();
    assert!(
        !text.contains("logprobs") && !text.contains("token_ids"),
        "{text}"
    );
}

#[test]
fn a_key_given_twice_in_written_json_cannot_carry_a_value_past_redaction() {
    let mut redactor = Redactor::new(&DETECTOR, [1; 32]);
    let mut counts = Counts::new();
    let text = format!(r#"{{"k":"{KEY}","k":"x"}}"#);
    let out = redact_json_text(&text, &mut redactor, &mut counts);
    assert!(!out.contains(KEY), "{out}");
    // A delta that is not an object is still read.
    let mut s = stream(WireFormat::OpenAi);
    let out = s.process(
        None,
        json!({"choices": [{"index": 0, "delta": format!("k {KEY}")}]}),
    );
    assert!(!seen(&out).contains(KEY));
    let mut s = stream(WireFormat::Anthropic);
    let out = s.process(
        None,
        json!({"type": "content_block_delta", "index": 0, "delta": format!("k {KEY}")}),
    );
    assert!(!seen(&out).contains(KEY));
}
