//! The gateway's guarantees at their edges: nothing reaches a vendor before it is on
//! the record, every string is scanned, options and binary content are policy, a
//! stream cannot bypass the token budget, fallbacks respect teams, and one person's
//! flood of slow requests does not hold up anyone else.

use super::*;

/// The stand-in's requests to chat or messages endpoints (not `/v1/models`).
fn model_requests(server: &Server) -> Vec<standin_vendor::Recorded> {
    server
        .vendor
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect()
}

#[tokio::test]
async fn a_requested_event_is_durable_before_the_vendor_sees_a_byte_and_the_outcome_links_it() {
    let server = start(false).await;
    let (status, _, body) = server.anthropic(&server.dev, ask("claude", "hello")).await;
    assert_eq!(status, 200, "{body}");
    let requested = server.events_of("gateway.requested").await;
    let outcomes = server.events().await;
    assert_eq!(requested.len(), 1);
    assert_eq!(outcomes.len(), 1);
    let egress = requested[0].body.egress.as_ref().unwrap();
    assert_eq!(egress.vendor, "anthropic");
    assert_eq!(egress.model, "claude-sonnet-4-5-20250929");
    assert!(egress.bytes > 0);
    assert!(requested[0].seq < outcomes[0].seq);
    assert_eq!(
        outcomes[0].body.details["requested_seq"],
        json!([requested[0].seq])
    );
    assert_eq!(outcomes[0].body.details["outcome"], "answered");

    // A fallback to another vendor is a second send: recorded before it, too.
    let (status, _, body) = server.anthropic(&server.dev, ask("flaky", "hi")).await;
    assert_eq!(status, 200, "{body}");
    let requested = server.events_of("gateway.requested").await;
    assert_eq!(requested.len(), 3, "flaky's route, then its fallback");
    assert_eq!(requested[1].body.egress.as_ref().unwrap().vendor, "down");
    assert_eq!(
        requested[2].body.egress.as_ref().unwrap().vendor,
        "anthropic-hipaa"
    );
    let last = server.events().await.pop().unwrap();
    assert_eq!(
        last.body.details["requested_seq"],
        json!([requested[1].seq, requested[2].seq])
    );

    // When the record cannot be written, nothing is sent: 503, the vendor saw nothing.
    let before = model_requests(&server).len();
    server.audit.close().await.unwrap();
    let (status, _, body) = server.anthropic(&server.dev, ask("claude", "hello")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("nothing was sent"), "{body}");
    assert_eq!(model_requests(&server).len(), before);
}

#[tokio::test]
async fn a_client_that_goes_away_leaves_an_aborted_outcome_beside_its_request() {
    let server = start(false).await;
    // The vendor takes 2 s; the client gives up after 300 ms.
    let request = server
        .http
        .post(format!("{}/v1/messages", server.url))
        .header("x-api-key", &server.dev)
        .header("anthropic-version", "2023-06-01")
        .json(&ask("claude", "STANDIN_SLOW_ANSWER please"))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(request.is_err(), "the client gave up");
    let mut outcome = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(event) = server.events().await.pop() {
            outcome = Some(event);
            break;
        }
    }
    let outcome = outcome.expect("an outcome was recorded for the abandoned request");
    let requested = server.events_of("gateway.requested").await;
    assert_eq!(requested.len(), 1);
    assert_eq!(outcome.body.details["outcome"], "aborted");
    assert_eq!(
        outcome.body.details["requested_seq"],
        json!([requested[0].seq])
    );

    // A stream the client leaves: the same.
    let mut body = ask("claude", "STANDIN_SLOW_STREAM go");
    body["stream"] = json!(true);
    let mut response = server
        .http
        .post(format!("{}/v1/messages", server.url))
        .header("x-api-key", &server.dev)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    let _first = response.chunk().await.unwrap();
    drop(response);
    let mut aborted = false;
    for _ in 0..80 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if server.events().await.len() == 2 {
            aborted = server.events().await[1].body.details["outcome"] == "aborted";
            break;
        }
    }
    assert!(
        aborted,
        "{:?}",
        server.events().await.last().map(|e| &e.body.details)
    );
}

#[tokio::test]
async fn every_string_leaves_redacted_and_unknown_fields_are_refused() {
    let server = start(false).await;
    let card: u64 = 4111111111111111;
    let body = json!({
        "model": "claude",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "be brief"}],
        "metadata": {"user_id": SECRET},
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "read the attached notes"},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": format!("deploy key {SECRET}")}},
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "ok"}]}
        ]}],
        "tools": [{"name": "lookup", "description": format!("uses {SECRET}"), "input_schema": {"type": "object", "properties": {SECRET: {"type": "string"}, "card": {"type": "number", "default": card}}}}]
    });
    let (status, _, text) = server.anthropic(&server.dev, body).await;
    assert_eq!(status, 200, "{text}");
    let sent = model_requests(&server).pop().unwrap().body.to_string();
    assert!(!sent.contains(SECRET), "{sent}");
    assert!(!sent.contains(&card.to_string()), "{sent}");

    let body = json!({
        "model": "gpt",
        "messages": [{"role": "user", "name": format!("dev-{SECRET}"), "content": [
            {"type": "text", "text": "hi"},
            {"type": "image_url", "image_url": {"url": format!("https://img.example/{SECRET}.png")}}
        ]}],
        "prediction": {"type": "content", "content": format!("key = \"{SECRET}\"")}
    });
    let (status, text) = server.openai(&server.dev, body).await;
    assert_eq!(status, 200, "{text}");
    let sent = model_requests(&server).pop().unwrap().body.to_string();
    assert!(!sent.contains(SECRET), "{sent}");

    let before = model_requests(&server).len();
    let mut body = ask("claude", "hi");
    body["x_extra"] = json!(SECRET);
    let (status, _, text) = server.anthropic(&server.dev, body).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("`x_extra`"), "{text}");
    assert_eq!(model_requests(&server).len(), before);
}

#[tokio::test]
async fn options_that_change_what_the_vendor_keeps_are_allowed_per_model() {
    let server = start(false).await;
    let mut body =
        json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "store": true});
    let (status, text) = server.openai(&server.dev, body.clone()).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("`store`"), "{text}");
    body["n"] = json!(2);
    body["model"] = json!("gpt-store");
    let (status, text) = server.openai(&server.dev, body.clone()).await;
    assert_eq!(status, 200, "a model that lists store and n: {text}");
    body["service_tier"] = json!("flex");
    let (status, text) = server.openai(&server.dev, body).await;
    assert_eq!(status, 400, "{text}");
    // store: false changes nothing the vendor keeps.
    let body =
        json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "store": false});
    let (status, text) = server.openai(&server.dev, body).await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test]
async fn images_go_only_from_people_who_read_nothing_above_internal() {
    let server = start(false).await;
    let image = |model: &str| {
        json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="}},
            {"type": "text", "text": "what is this?"}
        ]}]})
    };
    let (status, _, text) = server.anthropic(&server.keeper, image("claude")).await;
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("vault") && text.contains("allow_binary"),
        "{text}"
    );
    let (status, _, text) = server.anthropic(&server.dev, image("claude")).await;
    assert_eq!(status, 200, "dev reads only internal code: {text}");
    let outcome = server.events().await.pop().unwrap();
    assert_eq!(outcome.body.details["binary_parts"], 1);
}

#[tokio::test]
async fn a_stream_that_did_not_ask_for_usage_still_counts_against_the_budget() {
    let server = start(false).await;
    let body = json!({"model": "gpt", "stream": true, "messages": [{"role": "user", "content": "hello there"}]});
    let (status, text) = server.openai(&server.dev, body).await;
    assert_eq!(status, 200, "{text}");
    // Moat asked the vendor for usage, and kept the usage chunk from this client.
    let asked = model_requests(&server).pop().unwrap();
    assert_eq!(asked.body["stream_options"]["include_usage"], true);
    assert!(!text.contains("\"prompt_tokens\""), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"));
    let outcome = server.events().await.pop().unwrap();
    assert!(outcome.body.details["tokens_in"].as_u64().unwrap() > 0);
    assert!(outcome.body.details["tokens_out"].as_u64().unwrap() > 0);
    // A vendor that reports no usage at all: counted from bytes.
    let body = json!({"model": "gpt", "stream": true, "messages": [{"role": "user", "content": "STANDIN_NO_USAGE hello"}]});
    let (status, _) = server.openai(&server.dev, body).await;
    assert_eq!(status, 200);
    let outcome = server.events().await.pop().unwrap();
    assert!(
        outcome.body.details["tokens_in"].as_u64().unwrap() > 0,
        "{}",
        outcome.body.details
    );
    assert!(outcome.body.details["tokens_out"].as_u64().unwrap() > 0);
}

/// What a request may spend is held against the day budget while it is in progress:
/// an answer settles the hold into what the vendor counted, and a client that goes
/// away once the vendor has the request leaves the whole hold spent (it used to be
/// charged nothing, a way around the budget).
#[tokio::test]
async fn a_budget_holds_what_a_request_may_spend_and_an_abandoned_one_keeps_it_spent() {
    let server = start(false).await;
    let mut body = ask("claude", "hello");
    body["max_tokens"] = json!(4_950);
    // Held: the body's bytes plus 4,950, the whole budget; settled: what the stand-in
    // counted.
    let (status, _, text) = server.anthropic(&server.metered, body.clone()).await;
    assert_eq!(status, 200, "{text}");
    let answered = server.events().await.pop().unwrap();
    let spent = answered.body.details["tokens_in"].as_u64().unwrap()
        + answered.body.details["tokens_out"].as_u64().unwrap();
    assert!(spent > 0 && spent < 100, "{spent}");
    let (status, _, text) = server.anthropic(&server.metered, body.clone()).await;
    assert_eq!(status, 200, "the first request's hold was settled: {text}");

    // The client gives up while the vendor works: the hold stays spent.
    body["messages"][0]["content"] = json!("STANDIN_SLOW_ANSWER please");
    let gave_up = server
        .http
        .post(format!("{}/v1/messages", server.url))
        .header("x-api-key", &server.metered)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client gave up");
    // Nothing is admitted while it holds the budget, nor after: it is spent.
    let mut refused = String::new();
    for _ in 0..50 {
        let (status, _, text) = server.anthropic(&server.metered, ask("claude", "hi")).await;
        assert_eq!(status, 429, "{text}");
        if text.contains("has used its 5000 tokens") {
            refused = text;
            break;
        }
        assert!(
            text.contains("requests in progress hold the rest"),
            "{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !refused.is_empty(),
        "the abandoned request's hold was charged"
    );
    // People outside the team are not affected.
    let (status, _, text) = server.anthropic(&server.dev, ask("claude", "hi")).await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test]
async fn a_fallback_serves_only_the_teams_its_own_entry_allows() {
    let server = start(false).await;
    let (status, _, text) = server
        .anthropic(&server.dev, ask("flaky-for-payments", "hi"))
        .await;
    assert_ne!(status, 200, "dev is not in payments: {text}");
    assert!(
        !model_requests(&server)
            .iter()
            .any(|r| r.body["model"] == "claude-haiku-4-5-20251001"),
        "the payments-only model was not used"
    );
    let (status, _, text) = server
        .anthropic(&server.payer, ask("flaky-for-payments", "hi"))
        .await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test]
async fn one_persons_unfinished_bodies_do_not_hold_up_anyone_else() {
    let server = start_with_per_user(false, 8).await;
    let address = server.url.trim_start_matches("http://").to_string();
    // The developer opens more requests than they may have in progress, each sending
    // headers and a few body bytes, then nothing.
    let mut held = Vec::new();
    for _ in 0..40 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let head = format!(
            "POST /v1/messages HTTP/1.1\r\nhost: {address}\r\nx-api-key: {}\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{{\"mo",
            server.dev
        );
        tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes())
            .await
            .unwrap();
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Someone else is served at once.
    let started = std::time::Instant::now();
    let (status, _, text) = server.anthropic(&server.keeper, ask("claude", "hi")).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // The developer is told to wait, then served again once their bodies time out.
    let (status, _, text) = server.anthropic(&server.dev, ask("claude", "hi")).await;
    assert_eq!(status, 429, "{text}");
    assert!(text.contains("max_in_flight_per_user"), "{text}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, _, text) = server.anthropic(&server.dev, ask("claude", "hi")).await;
    assert_eq!(status, 200, "{text}");
    drop(held);
}
