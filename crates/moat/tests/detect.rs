//! Detection on two nodes sharing one PostgreSQL database, through the real binary:
//! a burst of refusals spread over both nodes raises one alert (exactly one node
//! evaluates each event), naming the person and the refused events; when the
//! evaluating node dies, the other takes over from the cursor, raises the next burst
//! and does not raise the first one again.

mod nodes;

use nodes::*;
use serde_json::{Value, json};

/// One refused MCP call: `read_source` on a repository that is not connected.
fn refused_call(node: &Node, token: &str) {
    let called = tool_call(
        node,
        token,
        "read_source",
        json!({"repo": "payroll", "path": "salaries.csv"}),
    );
    assert_eq!(called["isError"], true, "{called}");
}

fn sequencer(node: &Node) -> String {
    let (_, ready) = get(&format!("{}/readyz", node.url), None);
    ready["sequencer"].as_str().unwrap_or_default().to_string()
}

#[test]
fn one_node_evaluates_each_event_and_another_takes_over_from_the_cursor() {
    let (_runtime, db) = scratch();
    let (_dir, config) = on_postgres("");
    let on = |args: &[&str]| moat(&config, &db.url).args(args).output().unwrap();
    let person = |email: &str| {
        ok(on(&["user", "add", email, "--role", "developer"]));
        json(on(&[
            "token", "issue", "--user", email, "--scope", "mcp", "--json",
        ]))["secret"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let token = person("mal@example.com");
    let eve = person("eve@example.com");
    let alerts = || -> Vec<Value> {
        json(on(&[
            "audit",
            "search",
            "--action",
            "alert.denials",
            "--json",
        ]))["events"]
            .as_array()
            .unwrap()
            .clone()
    };
    let mut first = serve(&config, &db.url);
    eventually("the first node leads", || sequencer(&first) == "leader");
    let second = serve(&config, &db.url);
    eventually("the second node follows", || {
        sequencer(&second) == "follower"
    });

    // Twelve refusals, alternating between the nodes.
    for n in 0..12 {
        refused_call(if n % 2 == 0 { &first } else { &second }, &token);
    }
    eventually("the burst is raised", || !alerts().is_empty());
    std::thread::sleep(std::time::Duration::from_secs(3));
    let raised = alerts();
    assert_eq!(raised.len(), 1, "one node evaluates: {raised:#?}");
    let alert = &raised[0];
    assert_eq!(alert["actor"]["email"], "mal@example.com");
    let denied: Vec<u64> = json(on(&[
        "audit",
        "search",
        "--action",
        "access.denied",
        "--json",
    ]))["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    let seqs: Vec<u64> = alert["details"]["seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 10, "{alert}");
    assert!(
        seqs.iter().all(|s| denied.contains(s)),
        "{seqs:?} {denied:?}"
    );

    // The evaluating node dies; the other leads, resumes at the cursor, raises nothing
    // twice, and raises another person's burst.
    let _ = first.child.kill();
    let _ = first.child.wait();
    eventually("the second node leads", || sequencer(&second) == "leader");
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(alerts().len(), 1, "nothing raised twice on the hand-over");
    for _ in 0..10 {
        refused_call(&second, &eve);
    }
    eventually("the next burst is raised", || alerts().len() == 2);
    assert_eq!(alerts()[1]["actor"]["email"], "eve@example.com");
    let verified = json(on(&["audit", "verify", "--json"]));
    assert_eq!(verified["ok"], true, "{verified}");
}
