//! Alerts and incidents through the real binary on PostgreSQL: a burst of refusals
//! raises an alert that a webhook receiver (a local stand-in speaking Slack's
//! incoming-webhook format; Slack itself is outside) gets once as a Slack message, and
//! that opens an incident; the admin API and the command line work it — a developer
//! cannot, each step is taken once, a resolved incident takes only notes — and every
//! step is on the record.

mod nodes;

use nodes::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// A webhook receiver on loopback keeping each JSON body it is sent.
fn receiver(runtime: &tokio::runtime::Runtime) -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/services/T0/B0/secret",
        axum::routing::post(move |body: String| {
            let kept = kept.clone();
            async move {
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_str::<Value>(&body).unwrap());
                "ok"
            }
        }),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!(
        "http://{}/services/T0/B0/secret",
        listener.local_addr().unwrap()
    );
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        axum::serve(listener, app).await
    });
    (url, got)
}

fn api(node: &Node, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::blocking::Client::new();
    let url = format!("{}/api/v1{path}", node.url);
    let request = match method {
        "GET" => client.get(url),
        _ => client.post(url).json(&body.unwrap_or(Value::Null)),
    };
    let response = request.bearer_auth(token).send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

#[test]
fn an_alert_reaches_the_webhook_once_opens_an_incident_and_people_work_it() {
    let (runtime, db) = scratch();
    let (hook, got) = receiver(&runtime);
    let (_dir, config) = on_postgres(
        "[[alerts.sinks]]\nname = \"security\"\nkind = \"webhook\"\nformat = \"slack\"\nurl_env = \"TEST_SLACK_WEBHOOK\"\n",
    );
    let on = |args: &[&str]| moat(&config, &db.url).args(args).output().unwrap();
    let token = |email: &str, role: &str, scope: &str| {
        ok(on(&["user", "add", email, "--role", role]));
        json(on(&[
            "token", "issue", "--user", email, "--scope", scope, "--json",
        ]))["secret"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mal = token("mal@example.com", "developer", "mcp");
    let boss = token("boss@example.com", "admin", "admin");
    ok(on(&[
        "user",
        "add",
        "sec@example.com",
        "--role",
        "security",
    ]));
    // A webhook URL read from the environment is checked at start: plain http off the
    // machine stops `moat serve` before it listens.
    let mut refused = moat(&config, &db.url);
    refused
        .env(
            "TEST_SLACK_WEBHOOK",
            "http://hooks.example.com/services/T0/B0/x",
        )
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let refused = refused.output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("in the clear") && !said.contains("/services/T0"),
        "{said}"
    );
    let mut command = moat(&config, &db.url);
    command.env("TEST_SLACK_WEBHOOK", &hook);
    let node = serve_with(command);
    eventually("the node leads", || {
        get(&format!("{}/readyz", node.url), None).1["sequencer"] == "leader"
    });

    for _ in 0..12 {
        let called = tool_call(
            &node,
            &mal,
            "read_source",
            json!({"repo": "payroll", "path": "salaries.csv"}),
        );
        assert_eq!(called["isError"], true, "{called}");
    }
    eventually("the webhook has the alert", || {
        !got.lock().unwrap().is_empty()
    });
    let incidents = || json(on(&["incident", "list", "--json"]))["incidents"].clone();
    eventually("an incident is open", || {
        incidents().as_array().is_some_and(|list| !list.is_empty())
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    let messages = got.lock().unwrap().clone();
    assert_eq!(messages.len(), 1, "one alert, one message: {messages:#?}");
    let text = messages[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Moat alert: denials (mal@example.com)"),
        "{text}"
    );
    let listed = incidents();
    let incident = &listed[0];
    assert_eq!(incident["subject"], "mal@example.com");
    assert_eq!(incident["status"], "open");
    let id = incident["id"].as_str().unwrap().to_string();
    let alert_seq = incident["alerts"][0]["seq"].as_u64().unwrap();
    assert!(
        messages[0]
            .to_string()
            .contains(&format!("seq {alert_seq}")),
        "the message names the alert the incident holds"
    );

    // The person concerned cannot handle it; refused on the record.
    let refused = on(&["incident", "ack", &id, "--operator", "mal@example.com"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Contain"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // The security person acknowledges from the command line...
    let acked = json(on(&[
        "incident",
        "ack",
        &id,
        "--operator",
        "sec@example.com",
        "--note",
        "looking",
        "--json",
    ]));
    assert_eq!(
        acked["timeline"].as_array().unwrap().last().unwrap()["by"],
        "sec@example.com"
    );
    // ...an admin works it through the API; a step taken is not taken twice.
    let (status, body) = api(
        &node,
        &boss,
        "POST",
        &format!("/incidents/{id}/steps"),
        Some(json!({"step": "acknowledge"})),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sec@example.com"),
        "{body}"
    );
    let (status, body) = api(
        &node,
        &boss,
        "POST",
        &format!("/incidents/{id}/owner"),
        Some(json!({"owner": "sec@example.com"})),
    );
    assert_eq!(
        (status, body["owner"].clone()),
        (200, json!("sec@example.com")),
        "{body}"
    );
    let (status, body) = api(
        &node,
        &boss,
        "POST",
        &format!("/incidents/{id}/owner"),
        Some(json!({"owner": "nobody@example.com"})),
    );
    assert_eq!(status, 404, "{body}");
    let (status, body) = api(
        &node,
        &boss,
        "POST",
        &format!("/incidents/{id}/steps"),
        Some(json!({"step": "notify"})),
    );
    assert_eq!(status, 409, "no data class or vendor was touched: {body}");
    let (status, body) = api(
        &node,
        &boss,
        "POST",
        &format!("/incidents/{id}/notes"),
        Some(json!({"note": "called the person"})),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = api(
        &node,
        &boss,
        "POST",
        &format!("/incidents/{id}/steps"),
        Some(json!({"step": "resolve", "note": "token revoked"})),
    );
    assert_eq!(
        (status, body["status"].clone()),
        (200, json!("resolved")),
        "{body}"
    );
    let (status, _) = api(
        &node,
        &boss,
        "POST",
        &format!("/incidents/{id}/steps"),
        Some(json!({"step": "contain"})),
    );
    assert_eq!(status, 409);
    let (status, shown) = api(&node, &boss, "GET", &format!("/incidents/{id}"), None);
    assert_eq!(status, 200);
    let steps: Vec<&str> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["detected", "acknowledged", "assigned", "note", "resolved"]
    );
    let (status, _) = api(&node, &boss, "GET", "/incidents?status=closed", None);
    assert_eq!(status, 400, "a status that does not exist cannot be read");
    let (status, _) = api(&node, &boss, "GET", "/incidents/inc_0000000000000000", None);
    assert_eq!(status, 404);
    let (status, _) = api(&node, &mal, "GET", "/incidents", None);
    assert_eq!(status, 403, "a developer's token has no admin scope");

    // Every step on the record, the refused one included.
    let changes = json(on(&[
        "audit",
        "search",
        "--action",
        "admin.change",
        "--json",
    ]))["events"]
        .clone();
    let applied: Vec<String> = changes
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["details"]["phase"] == "applied")
        .filter_map(|e| e["details"]["operation"].as_str().map(String::from))
        .filter(|op| op.starts_with("incident."))
        .collect();
    assert_eq!(
        applied,
        [
            "incident.open",
            "incident.acknowledge",
            "incident.assign",
            "incident.note",
            "incident.resolve"
        ]
    );
    let denied = json(on(&[
        "audit",
        "search",
        "--action",
        "access.denied",
        "--json",
    ]))["events"]
        .clone();
    assert!(
        denied
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["details"]["action"] == "Contain"),
        "the developer's attempt is on the record"
    );

    // The evidence pack for today holds the incident with its timeline and deadlines.
    let now = time::OffsetDateTime::now_utc();
    let day = format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    );
    let pack = _dir.path().join("pack.zip");
    let pack_arg = pack.display().to_string();
    ok(on(&[
        "evidence", "export", "--from", &day, "--to", &day, "--out", &pack_arg,
    ]));
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&pack).unwrap()).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut zip.by_name("alerts/incidents.json").unwrap(),
        &mut text,
    )
    .unwrap();
    let held: Value = serde_json::from_str(&text).unwrap();
    let held = &held["incidents"][0];
    assert_eq!(
        (held["id"].as_str(), held["status"].as_str()),
        (Some(id.as_str()), Some("resolved")),
        "{text}"
    );
    assert_eq!(held["timeline"].as_array().unwrap().len(), 5, "{text}");
    assert_eq!(held["deadlines"][0]["key"], "acknowledged", "{text}");
}
