use super::*;
use serde_json::json;

const KEY: &str = "AKIAQ3EGRBJXZ7KLMN4P";
const CARD: u64 = 4111111111111111;

fn scrub(format: WireFormat, body: &mut Value) -> Result<(Scrubbed, Originals), String> {
    let detector = moat_dlp::Detector::builtin();
    let mut redactor = Redactor::new(&detector, [1; 32]);
    let scrubbed = scrub_request(format, body, &mut redactor)?;
    Ok((scrubbed, redactor.into_originals()))
}

#[test]
fn every_string_key_and_number_is_redacted_but_the_model() {
    let mut body = json!({
        "model": "claude",
        "system": [{"type": "text", "text": format!("deploy with {KEY}")}],
        "messages": [
            {"role": "user", "content": format!("my key is {KEY}")},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": format!("lookup-{KEY}"), "input": {"q": KEY, KEY: "as a key", "card": CARD}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": format!("found {KEY}")}]},
            {"role": "user", "content": [
                {"type": "document", "source": {"type": "text", "media_type": format!("text/{KEY}"), "data": format!("notes: {KEY}")}},
                {"type": "image", "source": {"type": "url", "url": format!("https://img.example/{KEY}.png")}}
            ]}
        ],
        "tools": [{"name": "lookup", "description": format!("example {KEY}"), "input_schema": {"type": "object", "properties": {"q": {"type": "string", "description": format!("like {KEY}")}}}}],
        "metadata": {"user_id": KEY}
    });
    let (scrubbed, originals) = scrub(WireFormat::Anthropic, &mut body).unwrap();
    let text = body.to_string();
    assert_eq!(text.matches(KEY).count(), 0, "{text}");
    assert!(!text.contains(&CARD.to_string()), "{text}");
    assert!(text.contains("[REDACTED:payment-card:"), "{text}");
    assert_eq!(body["model"], "claude");
    assert_eq!(body["messages"][1]["content"][0]["id"], "toolu_1");
    assert_eq!(body["messages"][0]["role"], "user");
    assert!(
        scrubbed
            .counts
            .get("aws-access-key-id")
            .copied()
            .unwrap_or(0)
            >= 12
    );
    // Everything is fingerprinted, tool definitions and documents included; roles,
    // types and ids are not.
    for part in [
        format!("found {KEY}"),
        format!("example {KEY}"),
        format!("notes: {KEY}"),
        format!("like {KEY}"),
    ] {
        assert!(scrubbed.text.contains(&part), "{part}");
    }
    assert!(!scrubbed.text.lines().any(|l| l == "toolu_1" || l == "user"));
    assert_eq!(scrubbed.binary_parts, 0);

    let mut response =
        json!({"content": [{"type": "text", "text": body["messages"][0]["content"].clone()}]});
    restore_json(&mut response, &originals);
    assert_eq!(response["content"][0]["text"], format!("my key is {KEY}"));
}

#[test]
fn openai_names_predictions_images_and_tool_arguments_are_text() {
    let mut body = json!({
        "model": "gpt",
        "messages": [
            {"role": "user", "name": format!("dev-{KEY}"), "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": format!("https://x.example/a?k={KEY}"), "detail": "low"}}
            ]},
            {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": format!("{{\"k\":\"{KEY}\"}}")}}]}
        ],
        "prediction": {"type": "content", "content": format!("let k = \"{KEY}\";")},
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"description": format!("{KEY}")}}},
        "user": KEY
    });
    let (scrubbed, _) = scrub(WireFormat::OpenAi, &mut body).unwrap();
    assert_eq!(body.to_string().matches(KEY).count(), 0, "{body}");
    assert!(scrubbed.text.contains(&format!("let k = \"{KEY}\";")));
}

#[test]
fn unknown_top_level_fields_are_refused_by_name() {
    let mut body = json!({"model": "gpt", "messages": [], "x_side_channel": KEY});
    let error = scrub(WireFormat::OpenAi, &mut body).unwrap_err();
    assert!(error.contains("`x_side_channel`"), "{error}");
    // Each format knows its own fields: `system` is not an OpenAI field.
    let mut body = json!({"model": "gpt", "messages": [], "system": "x"});
    assert!(scrub(WireFormat::OpenAi, &mut body).is_err());
    let mut body = json!({"model": "c", "messages": [], "max_tokens": 5, "response_format": {}});
    assert!(scrub(WireFormat::Anthropic, &mut body).is_err());
}

#[test]
fn options_that_change_what_the_vendor_keeps_are_reported() {
    let mut body =
        json!({"model": "gpt", "messages": [], "store": true, "n": 2, "service_tier": null});
    let (scrubbed, _) = scrub(WireFormat::OpenAi, &mut body).unwrap();
    assert_eq!(scrubbed.options, vec!["n".to_string(), "store".to_string()]);
    let mut body = json!({"model": "gpt", "messages": [], "store": false});
    assert!(
        scrub(WireFormat::OpenAi, &mut body)
            .unwrap()
            .0
            .options
            .is_empty()
    );
    let mut body = json!({"model": "c", "messages": [], "max_tokens": 5, "mcp_servers": [{"url": "https://x"}]});
    let (scrubbed, _) = scrub(WireFormat::Anthropic, &mut body).unwrap();
    assert_eq!(scrubbed.options, vec!["mcp_servers".to_string()]);
}

#[test]
fn binary_parts_are_counted_and_still_scanned() {
    let mut body = json!({
        "model": "c", "max_tokens": 5,
        "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": format!("JVBERi0x {KEY}")}}
        ]}]
    });
    let (scrubbed, _) = scrub(WireFormat::Anthropic, &mut body).unwrap();
    assert_eq!(scrubbed.binary_parts, 2);
    assert!(
        !body.to_string().contains(KEY),
        "marked as base64, still scanned"
    );
    assert!(
        !scrubbed.text.contains("iVBOR"),
        "binary is not fingerprinted"
    );
    let mut body = json!({
        "model": "gpt",
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x"}}
        ]}]
    });
    let (scrubbed, _) = scrub(WireFormat::OpenAi, &mut body).unwrap();
    assert_eq!(scrubbed.binary_parts, 3);
}

#[test]
fn responses_requests_are_redacted_everywhere_and_their_vendor_side_state_is_an_option() {
    let mut body = json!({
        "model": "gpt",
        "instructions": format!("deploy with {KEY}"),
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": format!("my key is {KEY}")}]},
            {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": format!("{{\"q\":\"{KEY}\"}}")},
            {"type": "function_call_output", "call_id": "call_1", "output": format!("found {KEY}")},
            {"role": "user", "content": [{"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}]}
        ],
        "tools": [{"type": "function", "name": "lookup", "description": format!("example {KEY}"), "parameters": {"type": "object"}}],
        "metadata": {"ticket": KEY},
        "store": false
    });
    let (scrubbed, _) = scrub(WireFormat::Responses, &mut body).unwrap();
    let text = body.to_string();
    assert_eq!(text.matches(KEY).count(), 0, "{text}");
    assert!(scrubbed.options.is_empty(), "{:?}", scrubbed.options);
    assert_eq!(scrubbed.binary_parts, 1);
    assert!(scrubbed.text.contains(&format!("found {KEY}")));
    assert!(!scrubbed.text.lines().any(|l| l == "call_1"));

    // What has the vendor keep or act on its own is an option a model must allow.
    let mut body = json!({
        "model": "gpt",
        "input": [{"type": "item_reference", "id": "msg_1"}],
        "store": true,
        "previous_response_id": "resp_1",
        "tools": [{"type": "web_search_preview"}, {"type": "mcp", "server_url": "https://mcp.example"}, {"type": "custom", "name": "apply_patch"}]
    });
    let (scrubbed, _) = scrub(WireFormat::Responses, &mut body).unwrap();
    assert_eq!(
        scrubbed.options,
        ["mcp", "previous_response_id", "store", "web_search"]
    );
    // A tool nobody listed is not a way to have the vendor act unseen.
    let mut body = json!({"model": "gpt", "input": "hi", "tools": [{"type": "telepathy"}]});
    let error = scrub(WireFormat::Responses, &mut body).unwrap_err();
    assert!(
        error.contains("tools[0]") && error.contains("telepathy"),
        "{error}"
    );
    // A shell in the vendor's container is the vendor's tool; one on the client is not.
    for (environment, options) in [
        (json!(null), vec![]),
        (json!({"type": "local"}), vec![]),
        (json!({"type": "container_auto"}), vec!["shell"]),
        (
            json!({"type": "container_reference", "container_id": "cntr_1"}),
            vec!["shell"],
        ),
        (json!({"type": "Local"}), vec!["shell"]),
    ] {
        let mut body = json!({"model": "gpt", "input": "hi", "tools": [{"type": "shell", "environment": environment}]});
        assert_eq!(
            scrub(WireFormat::Responses, &mut body).unwrap().0.options,
            options,
            "{environment}"
        );
    }
    // A namespace groups tools (Codex CLI sends its own so): each is checked.
    let mut body = json!({"model": "gpt", "input": "hi", "tools": [
        {"type": "namespace", "name": "agents", "tools": [{"type": "function", "name": "spawn"}]}
    ]});
    assert!(
        scrub(WireFormat::Responses, &mut body)
            .unwrap()
            .0
            .options
            .is_empty()
    );
    let mut body = json!({"model": "gpt", "input": "hi", "tools": [
        {"type": "namespace", "name": "x", "tools": [{"type": "function", "name": "f"}, {"type": "code_interpreter"}]}
    ]});
    assert_eq!(
        scrub(WireFormat::Responses, &mut body).unwrap().0.options,
        ["code_interpreter"]
    );
    let mut body = json!({"model": "gpt", "input": "hi", "tools": [
        {"type": "namespace", "name": "x", "tools": [{"type": "telepathy"}]}
    ]});
    let error = scrub(WireFormat::Responses, &mut body).unwrap_err();
    assert!(error.contains("tools[0].tools[0]"), "{error}");
    let mut body = json!({"model": "gpt", "input": "hi", "messages": []});
    let error = scrub(WireFormat::Responses, &mut body).unwrap_err();
    assert!(
        error.contains("`messages`") && error.contains("Responses API"),
        "{error}"
    );
}

#[test]
fn tool_call_arguments_are_redacted_as_what_they_decode_to() {
    // `\u0041` is `A` to whoever parses the arguments: the vendor, or translation.
    let escaped = r#"{"cmd":"\u0041KIAQ3EGRBJXZ7KLMN4P"}"#;
    let mut body = json!({"model": "gpt", "messages": [
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "sh", "arguments": escaped}}
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "ok"}
    ]});
    let (scrubbed, _) = scrub(WireFormat::OpenAi, &mut body).unwrap();
    let arguments = body["messages"][0]["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .unwrap();
    let decoded: Value = serde_json::from_str(arguments).unwrap();
    assert!(
        decoded["cmd"]
            .as_str()
            .unwrap()
            .starts_with("[REDACTED:aws-access-key-id:"),
        "{arguments}"
    );
    assert_eq!(scrubbed.counts["aws-access-key-id"], 1);
}
