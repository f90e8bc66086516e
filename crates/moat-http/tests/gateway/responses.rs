//! `POST /v1/responses` (OpenAI's Responses API), against the stand-in's Responses
//! routes: every string of the request redacted, the pinned version sent with
//! `store: false` unless a model allows keeping it; what the vendor would keep or run
//! on its own refused unless the model lists it; streams relayed event by event with
//! `response.completed` held until the outcome is durable; answers redacted
//! (`redact_answers`) and placeholders restored in every event; Azure's route.

use super::*;
use standin_vendor::{MARKER_WRITE_SECRET, WRITTEN_AWS_KEY, WRITTEN_PEM_KEY};

/// Each SSE event's name (`""` for none) and data.
fn events_of(body: &str) -> Vec<(String, Value)> {
    sse_events(body)
        .into_iter()
        .map(|(name, value)| (name.unwrap_or_default(), value))
        .collect()
}

async fn respond(server: &Server, body: Value) -> (u16, String) {
    server.post_bearer("/v1/responses", &server.dev, body).await
}

#[tokio::test]
async fn a_response_is_redacted_pinned_recorded_and_not_kept_at_the_vendor() {
    let server = start(false).await;
    let (status, body) = respond(
        &server,
        json!({
            "model": "gpt",
            "instructions": format!("deploy with {SECRET}"),
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": format!("key {SECRET}")}]}
            ],
            "tools": [{"type": "function", "name": "lookup", "description": format!("like {SECRET}"), "parameters": {"type": "object"}}],
            "metadata": {"ticket": SECRET},
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["object"], "response");
    let text = answer["output"][0]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("echo: key [REDACTED:aws-access-key-id:"),
        "{text}"
    );
    let sent = &server.vendor.requests()[0];
    assert_eq!(sent.path, "/v1/responses");
    assert_eq!(sent.body["model"], "gpt-4.1-2025-04-14");
    assert_eq!(
        sent.body["store"], false,
        "never kept unless asked and allowed"
    );
    assert!(!sent.raw_body.contains(SECRET), "{}", sent.raw_body);
    assert_eq!(sent.headers["authorization"], "Bearer vendor-key-openai");
    let requested = server.events_of("gateway.requested").await;
    assert_eq!(requested.len(), 1);
    let events = server.events().await;
    assert_eq!(events.len(), 1);
    let outcome = &events[0].body;
    assert_eq!(
        outcome.details["endpoint"], "responses",
        "{:?}",
        outcome.details
    );
    assert!(outcome.details["tokens_in"].as_u64().unwrap() > 0);
    assert!(outcome.details["tokens_out"].as_u64().unwrap() > 0);
    assert!(
        outcome
            .redactions
            .get("aws-access-key-id")
            .copied()
            .unwrap_or(0)
            >= 4,
        "{:?}",
        outcome.redactions
    );
}

#[tokio::test]
async fn what_the_vendor_would_keep_or_run_itself_passes_only_where_the_model_allows_it() {
    let server = start(false).await;
    let ask = |model: &str, extra: Value| {
        let mut body = json!({"model": model, "input": "hi"});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    for (extra, says) in [
        (json!({"store": true}), "`store`"),
        (
            json!({"previous_response_id": "resp_x"}),
            "`previous_response_id`",
        ),
        (
            json!({"input": [{"type": "item_reference", "id": "msg_1"}]}),
            "`previous_response_id`",
        ),
        (json!({"tools": [{"type": "web_search"}]}), "`web_search`"),
        (
            json!({"tools": [{"type": "mcp", "server_label": "x", "server_url": "https://mcp.example"}]}),
            "`mcp`",
        ),
        (
            json!({"prompt_cache_retention": "24h"}),
            "`prompt_cache_retention`",
        ),
    ] {
        let (status, body) = respond(&server, ask("gpt", extra.clone())).await;
        assert_eq!(status, 400, "{extra}: {body}");
        assert!(body.contains(says), "{extra}: {body}");
        assert!(body.contains("option_not_allowed"), "{body}");
    }
    for (extra, says) in [
        (json!({"conversation": "conv_1"}), "`conversation`"),
        (json!({"prompt": {"id": "pmpt_1"}}), "`prompt`"),
        (json!({"background": true}), "`background`"),
        (json!({"tools": [{"type": "telepathy"}]}), "telepathy"),
        (json!({"messages": []}), "`messages`"),
    ] {
        let (status, body) = respond(&server, ask("gpt", extra.clone())).await;
        assert_eq!(status, 400, "{extra}: {body}");
        assert!(body.contains(says), "{extra}: {body}");
    }
    assert!(server.vendor.requests().is_empty(), "nothing was sent");
    // A model that lists them: kept at the vendor, and continued from there.
    let (status, body) = respond(&server, ask("gpt-store", json!({"store": true}))).await;
    assert_eq!(status, 200, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = respond(
        &server,
        ask(
            "gpt-store",
            json!({"store": true, "previous_response_id": id, "tools": [{"type": "web_search_preview"}]}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A response not kept cannot be continued: Moat never saw it kept, so it is
    // refused before anything is sent.
    let (status, body) = respond(&server, ask("gpt", json!({}))).await;
    assert_eq!(status, 200, "{body}");
    let unkept = serde_json::from_str::<Value>(&body).unwrap()["id"].clone();
    server.vendor.clear();
    let (status, body) = respond(
        &server,
        ask("gpt-store", json!({"previous_response_id": unkept})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("was not kept for you"), "{body}");
    assert!(server.vendor.requests().is_empty(), "nothing was sent");
    // An Anthropic-format model keeps nothing: asking it to keep is refused.
    let (status, body) = respond(&server, ask("claude", json!({"store": true}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("store"), "{body}");
}

#[tokio::test]
async fn a_stream_is_relayed_event_by_event_and_ends_once_recorded() {
    let server = start(false).await;
    let (status, body) = respond(
        &server,
        json!({"model": "gpt", "stream": true, "input": "hello there"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let events = events_of(&body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"response.created"), "{body}");
    assert_eq!(names.last(), Some(&"response.completed"), "{body}");
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, e)| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "echo: hello there");
    let outcome = &server.events().await[0].body;
    assert!(
        outcome.details["tokens_out"].as_u64().unwrap() > 0,
        "usage from response.completed"
    );
    assert!(
        outcome.details.get("error").is_none_or(Value::is_null),
        "{:?}",
        outcome.details
    );
    // A tool call streams its arguments.
    let (status, body) = respond(
        &server,
        json!({"model": "gpt", "stream": true, "input": "STANDIN_TOOL now",
               "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("response.function_call_arguments.done"),
        "{body}"
    );
    // A stream cut off before its last event ends with the Responses API's error event.
    let (status, body) = respond(
        &server,
        json!({"model": "gpt", "stream": true, "input": "STANDIN_FAIL_MIDSTREAM"}),
    )
    .await;
    assert_eq!(status, 200);
    let events = events_of(&body);
    let (name, last) = events.last().unwrap();
    assert_eq!(name, "error", "{body}");
    assert_eq!(last["type"], "error");
    assert!(last["error"]["message"].is_string(), "{last}");
    assert!(!body.contains("response.completed"), "{body}");
    // An event named otherwise than its type (a finished response named as if still in
    // progress) ends the stream: the client never reads a finished response sent
    // before it was on the record.
    let (status, body) = respond(
        &server,
        json!({"model": "gpt", "stream": true, "input": "STANDIN_MISNAMED_EVENT"}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(!body.contains("\"type\":\"response.completed\""), "{body}");
    assert_eq!(events_of(&body).last().unwrap().0, "error", "{body}");
    let outcome = server.events().await.pop().unwrap();
    assert_eq!(outcome.body.details["status"], 502);
    assert!(
        outcome.body.details["error"]
            .as_str()
            .unwrap()
            .contains("whose type is `response.completed`"),
        "{:?}",
        outcome.body.details
    );
}

#[tokio::test]
async fn a_hosted_shell_is_the_vendors_tool_and_needs_the_models_option() {
    let server = start(false).await;
    let (status, body) = respond(
        &server,
        json!({"model": "gpt", "input": "list /mnt/data",
               "tools": [{"type": "shell", "environment": {"type": "container_auto"}}]}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("`shell`") && body.contains("option_not_allowed"),
        "{body}"
    );
    assert!(server.vendor.requests().is_empty());
    let (status, body) = respond(
        &server,
        json!({"model": "gpt", "input": "hi", "tools": [{"type": "shell", "environment": {"type": "local"}}]}),
    )
    .await;
    assert_eq!(status, 200, "a shell on the client is the client's: {body}");
}

#[tokio::test]
async fn every_event_of_a_streamed_answer_is_redacted_and_numbered_in_order() {
    let server = start_with(false, 64, true).await;
    for (input, tools) in [
        (MARKER_WRITE_SECRET.to_string(), json!([])),
        (
            format!("STANDIN_TOOL {MARKER_WRITE_SECRET}"),
            json!([{"type": "function", "name": "write_file", "parameters": {"type": "object"}}]),
        ),
    ] {
        let (status, body) = respond(
            &server,
            json!({"model": "gpt", "stream": true, "input": input, "tools": tools}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(!body.contains(WRITTEN_AWS_KEY), "{body}");
        for line in WRITTEN_PEM_KEY.lines().filter(|l| !l.starts_with("-----")) {
            for start in (0..line.len().saturating_sub(12)).step_by(12) {
                assert!(!body.contains(&line[start..start + 12]), "{body}");
            }
        }
        let events = events_of(&body);
        let numbers: Vec<u64> = events
            .iter()
            .map(|(_, e)| e["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, (0..numbers.len() as u64).collect::<Vec<_>>());
        assert_eq!(events.last().unwrap().0, "response.completed", "{body}");
        // The deltas, the finished text and the whole response say the same.
        let (deltas, done, whole) = if tools == json!([]) {
            (
                "response.output_text.delta",
                events
                    .iter()
                    .find(|(n, _)| n == "response.output_text.done")
                    .unwrap()
                    .1["text"]
                    .clone(),
                events.last().unwrap().1["response"]["output"][0]["content"][0]["text"].clone(),
            )
        } else {
            (
                "response.function_call_arguments.delta",
                events
                    .iter()
                    .find(|(n, _)| n == "response.function_call_arguments.done")
                    .unwrap()
                    .1["arguments"]
                    .clone(),
                events.last().unwrap().1["response"]["output"][0]["arguments"].clone(),
            )
        };
        let streamed: String = events
            .iter()
            .filter(|(n, _)| n == deltas)
            .map(|(_, e)| e["delta"].as_str().unwrap())
            .collect();
        assert!(
            streamed.contains("[REDACTED:private-key-rsa:"),
            "{streamed}"
        );
        assert_eq!(Value::String(streamed), done);
        assert_eq!(done, whole);
    }
    // The whole answer too.
    let (status, body) = respond(
        &server,
        json!({"model": "gpt", "input": MARKER_WRITE_SECRET}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(WRITTEN_AWS_KEY), "{body}");
    assert!(body.contains("[REDACTED:aws-access-key-id:"), "{body}");
    // Log probabilities would show the answer token by token.
    for extra in [
        json!({"include": ["message.output_text.logprobs"]}),
        json!({"top_logprobs": 3}),
    ] {
        let mut ask = json!({"model": "gpt", "input": "hi"});
        for (key, value) in extra.as_object().unwrap() {
            ask[key] = value.clone();
        }
        let (status, body) = respond(&server, ask).await;
        assert_eq!(status, 400, "{body}");
    }
}

#[tokio::test]
async fn placeholders_are_restored_in_every_event_and_azure_gets_its_route() {
    let server = start(true).await;
    let (status, body) = respond(
        &server,
        json!({"model": "gpt", "stream": true, "input": format!("key {SECRET}")}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("[REDACTED:"), "{body}");
    let events = events_of(&body);
    let completed = &events.last().unwrap().1;
    assert_eq!(
        completed["response"]["output"][0]["content"][0]["text"],
        format!("echo: key {SECRET}")
    );
    assert!(!server.vendor.requests()[0].raw_body.contains(SECRET));
    let (status, body) = respond(&server, json!({"model": "azure-gpt", "input": "hi"})).await;
    assert_eq!(status, 200, "{body}");
    let sent = server.vendor.requests().pop().unwrap();
    assert_eq!(sent.path, "/openai/responses?api-version=2024-10-21");
    assert_eq!(sent.body["model"], "gpt-4o-prod", "the deployment, by name");
    assert_eq!(sent.headers["api-key"], "vendor-key-azure");
}

#[tokio::test]
async fn only_the_person_a_response_was_kept_for_continues_it_or_cites_its_items() {
    let server = start(false).await;
    let kept = |stream: bool| json!({"model": "gpt-store", "store": true, "stream": stream, "input": "remember this"});
    // Kept whole, and kept streamed (its id from the first event, its items' from the
    // last).
    let (status, body) = respond(&server, kept(false)).await;
    assert_eq!(status, 200, "{body}");
    let whole: Value = serde_json::from_str(&body).unwrap();
    let (status, body) = respond(&server, kept(true)).await;
    assert_eq!(status, 200, "{body}");
    let (_, finished) = events_of(&body).pop().unwrap();
    let streamed = finished["response"].clone();
    for response in [&whole, &streamed] {
        let id = response["id"].as_str().unwrap();
        let item = response["output"][0]["id"].as_str().unwrap();
        let continues = json!({"model": "gpt-store", "store": true, "previous_response_id": id, "input": "and now?"});
        let cites = json!({"model": "gpt-store", "store": true, "input": [{"type": "item_reference", "id": item}, {"role": "user", "content": "again"}]});
        // A reasoning item by its id alone, which the vendor would load from what it
        // keeps.
        let loads = json!({"model": "gpt", "input": [{"type": "reasoning", "id": item, "summary": []}, {"role": "user", "content": "again"}]});
        // Someone else holding the ids: refused, nothing sent.
        server.vendor.clear();
        for body in [&continues, &cites, &loads] {
            let (status, text) = server
                .post_bearer("/v1/responses", &server.keeper, body.clone())
                .await;
            assert_eq!(status, 403, "{text}");
            assert!(
                text.contains("was not kept for you") && text.contains("kept_for_another"),
                "{text}"
            );
        }
        assert!(server.vendor.requests().is_empty(), "nothing was sent");
        // The person it was kept for.
        let (status, text) = respond(&server, continues).await;
        assert_eq!(status, 200, "{text}");
        let (status, text) = respond(&server, cites).await;
        assert_eq!(status, 200, "{text}");
    }
    // The refusals are on the record, with their rule.
    let refused = server
        .events()
        .await
        .into_iter()
        .filter(|e| e.body.details["status"] == 403)
        .count();
    assert_eq!(refused, 6);
    // A file kept at the vendor (uploaded some other way) is no one's to cite here; a
    // reference that is not a string is no reference.
    server.vendor.clear();
    let file = json!({"model": "gpt", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-abc"}, {"type": "input_text", "text": "summarise"}]}]});
    let (status, text) = respond(&server, file).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("`file-abc`"), "{text}");
    // A client's own ids on items that bring their content (Codex CLI's) pass.
    let own = json!({"model": "gpt", "input": [{"type": "message", "role": "user", "id": "msg_client_1", "content": "hello"}]});
    let (status, text) = respond(&server, own).await;
    assert_eq!(status, 200, "{text}");
    server.vendor.clear();
    let odd = json!({"model": "gpt-store", "input": [{"type": "item_reference", "id": 7}]});
    let (status, text) = respond(&server, odd).await;
    assert_eq!(status, 400, "{text}");
    assert!(server.vendor.requests().is_empty(), "nothing was sent");
}
