//! Alert sinks against the real SQLite store and a local receiver speaking Slack's and
//! Teams' incoming-webhook wire format (a stand-in: the real services are outside).

use super::*;
use crate::SystemClock;
use crate::audit::tests::{body, fixture, open};
use axum::http::StatusCode;
use serde_json::{Value, json};

/// A webhook receiver on loopback: refuses the first `refuse` POSTs with 500 (as Slack
/// does when it is down), then keeps each body it accepts.
async fn receiver(refuse: u64) -> (String, Arc<Mutex<Vec<Value>>>, Arc<AtomicU64>) {
    use axum::extract::State;
    type Shared = (Arc<Mutex<Vec<Value>>>, Arc<AtomicU64>);
    let got = Arc::new(Mutex::new(Vec::new()));
    let posts = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new()
        .route(
            "/services/T000/B000/secret-part",
            axum::routing::post(
                move |State((got, posts)): State<Shared>, body: String| async move {
                    if posts.fetch_add(1, Ordering::SeqCst) < refuse {
                        return (StatusCode::INTERNAL_SERVER_ERROR, "rollup_error");
                    }
                    got.lock()
                        .unwrap()
                        .push(serde_json::from_str(&body).unwrap());
                    (StatusCode::OK, "ok")
                },
            ),
        )
        .with_state((got.clone(), posts.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/services/T000/B000/secret-part",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got, posts)
}

fn alert(rule: &str, seqs: &[u64]) -> moat_audit::event::EventBody {
    let mut event = body(&format!("alert.{rule}"));
    event.actor.email = Some("mallory@example.com".into());
    event.decision.rule = Some(format!("detect.{rule}"));
    event.decision.reason = Some(format!("{rule}: <b>42</b> files & more"));
    event.details = json!({"rule": rule, "subject": "mallory@example.com", "seqs": seqs});
    event
}

fn webhook(url: &str, format: WebhookFormat, start: SinkStart) -> SinkSettings {
    SinkSettings {
        name: "security".into(),
        target: SinkTarget::Webhook {
            url: url.into(),
            format,
            token: None,
        },
        batch: 100,
        start,
        select: Select::Alerts {
            also: vec!["access.denied".into()],
        },
    }
}

async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not done in 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_webhook_gets_each_alert_once_and_nothing_else_across_failures() {
    let f = fixture();
    let log = open(&f, vec![]).await;
    let (url, got, posts) = receiver(2).await;
    // Ordinary events, two alerts and a refusal named in `on`, interleaved.
    log.record(body("mcp.call")).await.unwrap();
    let first = log.record(alert("enumeration", &[0])).await.unwrap();
    log.record(body("mcp.call")).await.unwrap();
    let denied = log.record(body("access.denied")).await.unwrap();
    let second = log.record(alert("volume", &[0, 2])).await.unwrap();
    log.record(body("mcp.call")).await.unwrap();
    let forwarder = Forwarder::start(
        f.store.clone(),
        vec![webhook(&url, WebhookFormat::Slack, SinkStart::Beginning)],
        Arc::new(SystemClock),
    );
    let status = forwarder.statuses()[0].clone();
    assert_eq!(
        status.name, "alert:security",
        "apart from the audit sinks' cursors"
    );
    until(|| status.next() == 6).await;
    forwarder.stop(Duration::from_secs(5)).await;
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(
        posts.load(Ordering::SeqCst),
        5,
        "two refused, then one POST per alert: a refusal re-sends only the alert it carried"
    );
    assert_eq!(status.failures(), 2);
    let seq_of = |message: &Value| {
        let text = message["text"].as_str().unwrap().to_string();
        let fields = message["blocks"][2]["fields"].as_array().unwrap();
        let event = fields[0]["text"].as_str().unwrap().to_string();
        (text, event)
    };
    let (text, event) = seq_of(&got[0]);
    assert!(
        text.starts_with("Moat alert: enumeration (mallory@example.com)"),
        "{text}"
    );
    assert!(event.ends_with(&format!("seq {first}")), "{event}");
    // Slack markup in a value is escaped: the reason cannot forge a link or mention.
    let section = got[0]["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(
        section.contains("&lt;b&gt;42&lt;/b&gt; files &amp; more"),
        "{section}"
    );
    assert!(seq_of(&got[1]).1.ends_with(&format!("seq {denied}")));
    assert!(seq_of(&got[2]).1.ends_with(&format!("seq {second}")));
    let triggered = got[2]["blocks"][2]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["text"] == "*triggered by*\nevents 0, 2");
    assert!(triggered, "{:#?}", got[2]);
    assert_eq!(
        f.store.audit_sink_cursor("security").await.unwrap(),
        None,
        "an audit sink named `security` would start on its own"
    );
    log.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_alert_sink_starts_at_the_end_and_a_teams_card_carries_the_alert() {
    let f = fixture();
    let log = open(&f, vec![]).await;
    let (url, got, _) = receiver(0).await;
    log.record(alert("denials", &[])).await.unwrap();
    let forwarder = Forwarder::start(
        f.store.clone(),
        vec![webhook(&url, WebhookFormat::Teams, SinkStart::End)],
        Arc::new(SystemClock),
    );
    let status = forwarder.statuses()[0].clone();
    until(|| status.next() == 1).await;
    let seq = log.record(alert("breadth", &[0])).await.unwrap();
    until(|| status.next() == seq + 1).await;
    forwarder.stop(Duration::from_secs(5)).await;
    let got = got.lock().unwrap().clone();
    assert_eq!(
        got.len(),
        1,
        "the alert from before the sink existed is not sent"
    );
    let message = &got[0];
    assert_eq!(message["type"], "message");
    let attachment = &message["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    let runs = |block: &Value| -> Vec<String> {
        block["inlines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|run| run["text"].as_str().unwrap().to_string())
            .collect()
    };
    let blocks = card["body"].as_array().unwrap();
    assert!(
        blocks.iter().all(|b| b["type"] == "RichTextBlock"),
        "only blocks that show text as written: {card:#}"
    );
    assert_eq!(
        runs(&blocks[0]),
        ["Moat alert: breadth (mallory@example.com)"]
    );
    assert_eq!(
        runs(&blocks[1]),
        ["breadth: <b>42</b> files & more"],
        "the reason shown as written, never read as markup"
    );
    assert!(
        blocks
            .iter()
            .any(|b| runs(b) == ["see: ".to_string(), format!("moat audit show {seq}")]),
        "{card:#}"
    );
    log.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ocsf_alert_file_holds_only_detection_findings() {
    let f = fixture();
    let log = open(&f, vec![]).await;
    log.record(body("mcp.call")).await.unwrap();
    log.record(alert("egress", &[0])).await.unwrap();
    log.record(body("mcp.call")).await.unwrap();
    let path = f.dir.path().join("alerts.jsonl");
    let forwarder = Forwarder::start(
        f.store.clone(),
        vec![SinkSettings {
            name: "findings".into(),
            target: SinkTarget::File {
                path: path.clone(),
                ocsf: true,
            },
            batch: 2,
            start: SinkStart::Beginning,
            select: Select::Alerts { also: vec![] },
        }],
        Arc::new(SystemClock),
    );
    let status = forwarder.statuses()[0].clone();
    until(|| status.next() == 3).await;
    forwarder.stop(Duration::from_secs(5)).await;
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["class_uid"], 2004);
    assert_eq!(
        lines[0]["finding_info"]["related_events"],
        json!([{"uid": "0"}])
    );
    log.close().await.unwrap();
}

#[test]
fn a_slack_message_stays_within_slacks_limits_however_long_and_marked_up_the_alert() {
    let reason = "<".repeat(5_000);
    let event = json!({
        "seq": 9, "time": "2026-12-06T00:00:00Z", "action": "alert.volume",
        "actor": {"email": "<!channel>@example.com"},
        "decision": {"rule": "detect.volume", "reason": reason},
        "details": {"seqs": (0..50).collect::<Vec<u64>>()},
    });
    let message = super::webhook::slack(&super::webhook::Summary::of(&event));
    let text = message["text"].as_str().unwrap();
    assert!(
        text.chars().count() <= 3000 && !text.contains('<'),
        "escaped, then cut"
    );
    assert!(!text.contains("&amp") || text.ends_with(';') || text.ends_with('…'));
    let section = message["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(section.chars().count() <= 3000, "{}", section.len());
    for field in message["blocks"][2]["fields"].as_array().unwrap() {
        assert!(field["text"].as_str().unwrap().chars().count() <= 2000);
    }
    assert!(
        message["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .chars()
            .count()
            <= 150
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_slack_refuses_is_sent_again_short_and_later_alerts_are_not_held_up() {
    use axum::extract::State;
    type Got = Arc<Mutex<Vec<Value>>>;
    let got: Got = Arc::new(Mutex::new(Vec::new()));
    // A stand-in that refuses any message over 2,000 bytes (as Slack refuses blocks
    // past its limits) with 400.
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(|State(got): State<Got>, body: String| async move {
                if body.len() > 2_000 {
                    return (StatusCode::BAD_REQUEST, "invalid_blocks");
                }
                got.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap());
                (StatusCode::OK, "ok")
            }),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let f = fixture();
    let log = open(&f, vec![]).await;
    let mut long = alert("volume", &[]);
    long.decision.reason = Some("x".repeat(2_500));
    let first = log.record(long).await.unwrap();
    let second = log.record(alert("breadth", &[])).await.unwrap();
    let forwarder = Forwarder::start(
        f.store.clone(),
        vec![webhook(&url, WebhookFormat::Slack, SinkStart::Beginning)],
        Arc::new(SystemClock),
    );
    let status = forwarder.statuses()[0].clone();
    until(|| status.next() == second + 1).await;
    forwarder.stop(Duration::from_secs(5)).await;
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:#?}");
    let short = got[0].to_string();
    assert!(
        short.contains("could not be posted here")
            && short.contains(&format!("moat audit show {first}")),
        "{short}"
    );
    assert!(got[1]["text"].as_str().unwrap().contains("breadth"));
    assert_eq!(status.failures(), 0, "delivered in its short form");
    log.close().await.unwrap();
}
