//! Kill switches through the real binary on two nodes sharing one PostgreSQL database:
//! a repository frozen through one node's admin API is refused by the other node's very
//! next MCP call and gateway request; a model disabled from the command line likewise;
//! a developer cannot engage one; releasing restores both; every step is on the record.

mod nodes;

use nodes::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Enough distinct lines for the gateway to recognise pasted code.
const LEDGER: &str = r#"def post_transfer(ledger, source, target, amount_cents):
    if amount_cents <= 0:
        raise ValueError("a transfer moves a positive amount")
    debit = ledger.entry(source, -amount_cents, kind="transfer-out")
    credit = ledger.entry(target, amount_cents, kind="transfer-in")
    ledger.link(debit, credit)
    ledger.hold_until_settled(debit, hours=24)
    return debit.id, credit.id


def settle_window(ledger, cutoff_hour=17):
    pending = [e for e in ledger.entries() if e.state == "held"]
    for entry in sorted(pending, key=lambda e: e.created_at):
        if entry.created_at.hour < cutoff_hour:
            entry.state = "settled"
    return len(pending)
"#;

fn admin_api(node: &Node, token: &str, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1{path}", node.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn read_ledger(node: &Node, token: &str) -> Value {
    tool_call(
        node,
        token,
        "read_source",
        json!({"repo": "ledger", "path": "ledger.py", "start_line": 1, "end_line": 3}),
    )
}

/// A chat completion to `gpt` carrying `text`; the status and the error message.
fn ask(node: &Node, token: &str, text: &str) -> (u16, String) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/v1/chat/completions", node.url))
        .bearer_auth(token)
        .json(&json!({"model": "gpt", "messages": [{"role": "user", "content": text}]}))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap_or(Value::Null);
    (
        status,
        body["error"]["message"].as_str().unwrap_or("").to_string(),
    )
}

fn text_of(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn a_switch_engaged_on_one_node_holds_on_every_node_at_the_next_request() {
    let (runtime, db) = scratch();
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = repo_dir.path();
    git(repo, &["init", "-q"]);
    std::fs::write(repo.join("ledger.py"), LEDGER).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "ledger"]);
    let deployment = GatewayDeployment::new(
        &runtime,
        &db,
        &format!(
            "[server]\nindex_interval = \"1s\"\n\n\
             [[repos]]\nname = \"ledger\"\nsource = \"{}\"\ntier = \"internal\"\n\n\
             [permissions.static]\ngrants = [{{ repos = [\"ledger\"], users = [\"dev@example.com\"] }}]\n",
            repo.display()
        ),
    );
    ok(deployment.run(&["user", "add", "dev@example.com", "--role", "developer"]));
    let dev = json(deployment.run(&[
        "token",
        "issue",
        "--user",
        "dev@example.com",
        "--scope",
        "mcp,gateway",
        "--json",
    ]))["secret"]
        .as_str()
        .unwrap()
        .to_string();
    // The security person acts from the command line (and the console); the admin
    // from the API.
    ok(deployment.run(&["user", "add", "sec@example.com", "--role", "security"]));
    ok(deployment.run(&["user", "add", "boss@example.com", "--role", "admin"]));
    let admin = json(deployment.run(&[
        "token",
        "issue",
        "--user",
        "boss@example.com",
        "--scope",
        "admin",
        "--json",
    ]))["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let nodes = deployment.nodes(2);
    for node in &nodes {
        eventually("the node indexed the ledger", || {
            get(&format!("{}/readyz", node.url), None).0 == 200
        });
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    let pasted = format!("Why does this hold transfers?\n```python\n{LEDGER}```");

    // Before: node b answers about the ledger and sends its code to the model.
    let read = read_ledger(b, &dev);
    assert_ne!(read["isError"], true, "{read}");
    assert!(text_of(&read).contains("post_transfer"), "{read}");
    let (status, message) = ask(b, &dev, &pasted);
    assert_eq!(status, 200, "{message}");
    let found = tool_call(b, &dev, "search_code", json!({"query": "post_transfer"}));
    assert!(text_of(&found).contains("ledger.py"), "{found}");

    // Frozen through node a's API: node b's very next call is refused, naming the
    // switch and its reason.
    let (status, engaged) = admin_api(
        a,
        &admin,
        "/kill-switches",
        json!({"kind": "repo", "target": "ledger", "reason": "incident 4711: ledger token leaked"}),
    );
    assert_eq!(status, 201, "{engaged}");
    assert_eq!(engaged["engaged_by"], "boss@example.com");
    let engaged_at = Instant::now();
    let read = read_ledger(b, &dev);
    let (status, message) = ask(b, &dev, &pasted);
    let took = engaged_at.elapsed();
    assert_eq!(read["isError"], true, "{read}");
    assert!(
        text_of(&read).contains("frozen by a kill switch (incident 4711: ledger token leaked)"),
        "{read}"
    );
    assert_eq!(status, 403, "{message}");
    assert!(
        message.contains("code of `ledger`") && message.contains("incident 4711"),
        "{message}"
    );
    assert!(took < Duration::from_secs(1), "{took:?}");
    let found = tool_call(b, &dev, "search_code", json!({"query": "post_transfer"}));
    assert!(
        !text_of(&found).contains("ledger.py"),
        "a search shows nothing of a frozen repository: {found}"
    );
    // A prompt without its code still goes.
    let (status, message) = ask(b, &dev, "What is double-entry bookkeeping?");
    assert_eq!(status, 200, "{message}");
    // Engaged twice: refused, the first kept.
    let (status, again) = admin_api(
        b,
        &admin,
        "/kill-switches",
        json!({"kind": "repo", "target": "ledger", "reason": "again"}),
    );
    assert_eq!(status, 409, "{again}");
    let (status, unknown) = admin_api(
        a,
        &admin,
        "/kill-switches",
        json!({"kind": "vendor", "target": "nobody", "reason": "typo"}),
    );
    assert_eq!(status, 404, "{unknown}");

    // A model disabled from the command line, as the security person.
    let engaged = json(deployment.run(&[
        "--operator",
        "sec@example.com",
        "kill-switch",
        "engage",
        "model",
        "gpt",
        "--reason",
        "vendor incident",
        "--json",
    ]));
    assert_eq!(engaged["state"], "engaged");
    let (status, message) = ask(a, &dev, "What is double-entry bookkeeping?");
    assert_eq!(status, 403, "{message}");
    assert!(
        message.contains("model `gpt` may not be used now") && message.contains("vendor incident"),
        "{message}"
    );
    let listed = json(deployment.run(&["kill-switch", "list", "--json"]));
    // Listed by time engaged, then kind: both were engaged within the same second here.
    let engaged: Vec<(&str, &str)> = listed["switches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["kind"].as_str().unwrap(), s["target"].as_str().unwrap()))
        .collect();
    let mut expected = [("repo", "ledger"), ("model", "gpt")];
    if listed["switches"][0]["engaged_at"] == listed["switches"][1]["engaged_at"] {
        expected.sort();
    }
    assert_eq!(engaged, expected, "{listed}");
    let (status, listed) = get(&format!("{}/api/v1/kill-switches", b.url), Some(&admin));
    assert_eq!(status, 200);
    assert_eq!(listed["switches"].as_array().unwrap().len(), 2, "{listed}");

    // Bad input is refused before anything is recorded or changed (exit 2).
    for (args, says) in [
        (
            [
                "kill-switch",
                "engage",
                "vendor",
                "openai",
                "--reason",
                "   ",
            ],
            "say why",
        ),
        (
            [
                "kill-switch",
                "engage",
                "repo",
                "nowhere",
                "--reason",
                "typo",
            ],
            "moat repo list",
        ),
    ] {
        let refused = deployment.run(&args);
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(said.contains(says), "{said}");
    }

    // A developer may not engage or release one; the refusal is on the record.
    let refused = deployment.run(&[
        "--operator",
        "dev@example.com",
        "kill-switch",
        "release",
        "model",
        "gpt",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("neither the security nor the admin role"),
        "{said}"
    );

    // Released (one through each door): both nodes serve again at once.
    let (status, released) = admin_api(
        b,
        &admin,
        "/kill-switches/release",
        json!({"kind": "repo", "target": "ledger", "note": "token rotated"}),
    );
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["reason"], "incident 4711: ledger token leaked");
    ok(deployment.run(&[
        "--operator",
        "sec@example.com",
        "kill-switch",
        "release",
        "model",
        "gpt",
    ]));
    let read = read_ledger(a, &dev);
    assert_ne!(read["isError"], true, "{read}");
    let (status, message) = ask(a, &dev, &pasted);
    assert_eq!(status, 200, "{message}");
    let (status, none) = admin_api(
        a,
        &admin,
        "/kill-switches/release",
        json!({"kind": "repo", "target": "ledger"}),
    );
    assert_eq!(status, 404, "{none}");

    // On the record: each engagement and release as a change with before and after,
    // the refusals naming the switch, the developer's attempt refused.
    let changes = json(deployment.run(&["audit", "search", "--action", "admin.change", "--json"]));
    let applied: Vec<(String, Value, Value)> = changes["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["details"]["phase"] == "applied")
        .filter(|e| {
            e["details"]["operation"]
                .as_str()
                .is_some_and(|o| o.starts_with("kill_switch."))
        })
        .map(|e| {
            let (before, after) = (&e["details"]["before"], &e["details"]["after"]);
            let switch = if after.is_null() { before } else { after };
            (
                format!(
                    "{} {}:{}",
                    e["details"]["operation"].as_str().unwrap(),
                    switch["kind"].as_str().unwrap(),
                    switch["target"].as_str().unwrap()
                ),
                before.clone(),
                after.clone(),
            )
        })
        .collect();
    let names: Vec<&str> = applied.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "kill_switch.engage repo:ledger",
            "kill_switch.engage model:gpt",
            "kill_switch.release repo:ledger",
            "kill_switch.release model:gpt",
        ],
        "{changes}"
    );
    assert_eq!(applied[0].1, Value::Null);
    assert_eq!(applied[0].2["reason"], "incident 4711: ledger token leaked");
    assert_eq!(applied[2].1["engaged_by"], "boss@example.com");
    assert_eq!(applied[2].2, Value::Null);
    let requests =
        json(deployment.run(&["audit", "search", "--action", "gateway.request", "--json"]));
    let rules: Vec<&str> = requests["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["decision"]["outcome"] == "deny")
        .map(|e| e["decision"]["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        ["kill-switch:repo:ledger", "kill-switch:model:gpt"],
        "{requests}"
    );
    let denied = json(deployment.run(&["audit", "search", "--action", "access.denied", "--json"]));
    // The MCP refusal names the switch as its rule (not a generic "access").
    let refusal = denied["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["details"]["tool"] == "read_source")
        .expect("the read_source refusal is on the record");
    assert_eq!(
        refusal["decision"]["rule"], "kill-switch:repo:ledger",
        "{refusal}"
    );
    assert_eq!(refusal["actor"]["email"], "dev@example.com");
    assert!(
        !refusal["decision"]["reason"]
            .as_str()
            .unwrap()
            .contains("get_file_outline"),
        "a frozen repository has no way round: {refusal}"
    );
    // The developer's attempt at the switch was refused on the record too.
    let attempts =
        json(deployment.run(&["audit", "search", "--actor", "dev@example.com", "--json"]));
    assert!(
        attempts["events"].as_array().unwrap().iter().any(|e| {
            e["decision"]["outcome"] == "deny"
                && e["resources"].to_string().contains("kill-switch:model:gpt")
        }),
        "{attempts}"
    );
    let verified = json(deployment.run(&["audit", "verify", "--json"]));
    assert_eq!(verified["ok"], true, "{verified}");
}
