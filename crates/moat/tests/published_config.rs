//! Configuration published for every node (`moat config publish`, `[server]
//! config_source = "store"`), through the real binary on a scratch PostgreSQL database:
//! three nodes apply a new version without a restart, a node started
//! later serves the newest, a version a node cannot apply leaves it serving the one it
//! had but not ready, and what cannot be valid is never published.

mod nodes;

use nodes::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const FOLLOW: &str = "[server]\nconfig_source = \"store\"\n";

/// The deployment's configuration with `model` as the gateway's one alias, written to
/// a file of its own (not the one the nodes were started with: nodes read only their
/// `[server]` and `[store]` from that).
fn edition(
    deployment: &GatewayDeployment,
    dir: &Path,
    name: &str,
    edit: &str,
) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&deployment.config).unwrap();
    let (before, after) = edit.split_once(" => ").unwrap();
    assert!(text.contains(before), "{text}");
    let path = dir.join(name);
    std::fs::write(&path, text.replace(before, after)).unwrap();
    path
}

fn publish(deployment: &GatewayDeployment, config: &Path) -> Value {
    let mut command = moat(config, &deployment.database);
    command.env("STANDIN_OPENAI_KEY", "sk-standin-0123456789");
    json(
        command
            .args(["config", "publish", "--json"])
            .output()
            .unwrap(),
    )
}

/// The `config` check of a node's `/readyz`: (ready, its detail).
fn config_check(node: &Node) -> (bool, String) {
    let (_, ready) = get(&format!("{}/readyz", node.url), None);
    let check = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "config")
        .unwrap_or_else(|| panic!("no config check in {ready}"))
        .clone();
    (
        check["ok"].as_bool().unwrap(),
        check["detail"].as_str().unwrap().to_string(),
    )
}

/// How long after now each node first answers `done`, polled every 10 ms for at most
/// 10 s.
fn until_every(nodes: &[Node], mut done: impl FnMut(&Node) -> bool) -> Vec<Duration> {
    let started = Instant::now();
    let mut took: Vec<Option<Duration>> = vec![None; nodes.len()];
    while took.iter().any(Option::is_none) && started.elapsed() < Duration::from_secs(10) {
        for (node, took) in nodes.iter().zip(took.iter_mut()) {
            if took.is_none() && done(node) {
                *took = Some(started.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    took.into_iter()
        .enumerate()
        .map(|(i, t)| t.unwrap_or_else(|| panic!("node {i} never applied it")))
        .collect()
}

#[test]
fn three_nodes_apply_a_published_configuration_without_a_restart() {
    let (runtime, db) = scratch();
    let deployment = GatewayDeployment::new(&runtime, &db, FOLLOW);
    let ada = deployment.person("ada@example.com", &[]);
    let nodes = deployment.nodes(3);
    // A node that keeps to its file, beside them.
    let (file_dir, file_config) = on_postgres("");
    std::fs::write(
        &file_config,
        std::fs::read_to_string(&deployment.config)
            .unwrap()
            .replace(FOLLOW, ""),
    )
    .unwrap();
    let mut file_node_command = moat(&file_config, &db.url);
    file_node_command.env("STANDIN_OPENAI_KEY", "sk-standin-0123456789");
    let file_node = serve_with(file_node_command);

    // An MCP session opened before the swap goes on after it.
    let mcp_token = json(deployment.run(&[
        "token",
        "issue",
        "--user",
        "ada@example.com",
        "--scope",
        "mcp",
        "--json",
    ]))["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let opened = mcp(
        &nodes[0],
        &mcp_token,
        None,
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "swap-test", "version": "1"}}}),
    );
    assert_eq!(opened.status().as_u16(), 200);
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let initialized = mcp(
        &nodes[0],
        &mcp_token,
        Some(&session),
        serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert!(initialized.status().is_success());

    // Nothing published yet: each node serves its own file, and says so.
    for node in &nodes {
        assert_eq!(complete(node, &ada).0, 200);
        let (ok, detail) = config_check(node);
        assert!(ok && detail.contains("own file"), "{detail}");
    }

    // Version 1 renames the model: `gpt` is refused everywhere, `gpt-pinned` served.
    let editions = tempfile::tempdir().unwrap();
    let renamed = edition(
        &deployment,
        editions.path(),
        "renamed.toml",
        "alias = \"gpt\" => alias = \"gpt-pinned\"",
    );
    let published = publish(&deployment, &renamed);
    assert_eq!(published["published"], true, "{published}");
    assert_eq!(published["version"], 1, "{published}");
    // How soon is a figure for the release build under load (`bench/config/run`); here
    // every node must apply it without a restart.
    let took = until_every(&nodes, |node| complete(node, &ada).0 != 200);
    eprintln!("published version 1 in force on three nodes after {took:?}");
    for node in &nodes {
        let (status, message) = complete(node, &ada);
        assert_eq!(status, 403, "{message}");
        assert!(message.contains("you may use: gpt-pinned"), "{message}");
        let (ok, detail) = config_check(node);
        assert!(ok && detail == "published version 1 in force", "{detail}");
        let (_, health) = get(&format!("{}/healthz", node.url), None);
        assert_eq!(health["policy_version"], published["policy_version"]);
    }
    let listed = mcp(
        &nodes[0],
        &mcp_token,
        Some(&session),
        serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    );
    assert_eq!(
        listed.status().as_u16(),
        200,
        "the session did not survive the swap"
    );
    let listed = answer(listed);
    assert!(listed["result"]["tools"].as_array().is_some(), "{listed}");
    // The node that keeps to its file is untouched.
    assert_eq!(complete(&file_node, &ada).0, 200);
    drop((file_node, file_dir));

    // A node started now serves the newest version from the start, though its own file
    // still names `gpt`.
    let late = serve_with(deployment.command());
    assert_eq!(complete(&late, &ada).0, 403);
    assert_eq!(config_check(&late).1, "published version 1 in force");

    // Publishing the same text again publishes nothing.
    let again = publish(&deployment, &renamed);
    assert_eq!(again["published"], false, "{again}");
    assert_eq!(again["version"], 1, "{again}");

    // Every node put each version in force on the record, after the publication.
    let events = json(
        deployment
            .command()
            .args(["audit", "search", "--action", "admin.change", "--json"])
            .output()
            .unwrap(),
    );
    let events = events["events"].as_array().unwrap();
    let publications: Vec<&Value> = events
        .iter()
        .filter(|e| e["details"]["operation"] == "config.publish")
        .collect();
    assert_eq!(publications.len(), 2, "requested and applied once");
    assert_eq!(publications[1]["details"]["after"]["version"], 1);
    let loads = events
        .iter()
        .filter(|e| {
            e["details"]["operation"] == "config.load"
                && e["details"]["after"]["file"] == "published configuration version 1"
                && e["details"]["after"]["policy_version"] == published["policy_version"]
        })
        .count();
    assert_eq!(
        loads, 4,
        "three nodes swapped it in and one started with it"
    );
    drop(late);
    drop(runtime);
}

#[test]
fn a_version_a_node_cannot_apply_leaves_the_one_in_force_and_the_node_not_ready() {
    let (runtime, db) = scratch();
    let deployment = GatewayDeployment::new(&runtime, &db, FOLLOW);
    let ada = deployment.person("ada@example.com", &[]);
    let nodes = deployment.nodes(2);
    let editions = tempfile::tempdir().unwrap();

    // The vendor's key moves to a variable the publisher has and the nodes do not.
    let moved = edition(
        &deployment,
        editions.path(),
        "moved.toml",
        "key_env = \"STANDIN_OPENAI_KEY\" => key_env = \"ROTATED_OPENAI_KEY\"",
    );
    let mut command = moat(&moved, &deployment.database);
    command.env("ROTATED_OPENAI_KEY", "sk-standin-0123456789");
    let published = json(
        command
            .args(["config", "publish", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(published["version"], 1, "{published}");
    until_every(&nodes, |node| !config_check(node).0);
    for node in &nodes {
        let (status, ready) = get(&format!("{}/readyz", node.url), None);
        assert_eq!(status, 503, "{ready}");
        let (_, detail) = config_check(node);
        assert!(
            detail.contains("published version 1 cannot be applied here")
                && detail.contains("ROTATED_OPENAI_KEY")
                && detail.contains("own file (nothing published yet) still in force"),
            "{detail}"
        );
        // It still answers with what it had (the load balancer takes it out).
        assert_eq!(complete(node, &ada).0, 200);
    }

    // A node starting now cannot apply the newest version either: it does not start,
    // and says why, rather than serve the file it was given.
    let refused = deployment
        .command()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("published configuration version 1") && said.contains("ROTATED_OPENAI_KEY"),
        "{said}"
    );

    // A later version that every node can apply makes them ready again.
    let tighter = edition(
        &deployment,
        editions.path(),
        "tighter.toml",
        "[server] => [gateway]\nrequests_per_minute = 100\n\n[server]",
    );
    assert_eq!(publish(&deployment, &tighter)["version"], 2);
    until_every(&nodes, |node| config_check(node).0);
    for node in &nodes {
        assert_eq!(get(&format!("{}/readyz", node.url), None).0, 200);
        assert_eq!(config_check(node).1, "published version 2 in force");
        assert_eq!(complete(node, &ada).0, 200);
    }
    drop(runtime);
}

#[test]
fn what_cannot_be_valid_is_never_published() {
    let (runtime, db) = scratch();
    let deployment = GatewayDeployment::new(&runtime, &db, FOLLOW);
    let editions = tempfile::tempdir().unwrap();
    // A model naming a vendor that does not exist.
    let broken = edition(
        &deployment,
        editions.path(),
        "broken.toml",
        "vendor = \"openai\" => vendor = \"nobody\"",
    );
    let mut command = moat(&broken, &deployment.database);
    command.env("STANDIN_OPENAI_KEY", "sk-standin-0123456789");
    let refused = command.args(["config", "publish"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("broken.toml") && said.contains("nobody"),
        "{said}"
    );
    // Cedar policies that do not parse are refused too, before anything is stored.
    let policies = editions.path().join("org.cedar");
    std::fs::write(&policies, "permit(principal, action resource);").unwrap();
    let with_policies = edition(
        &deployment,
        editions.path(),
        "policies.toml",
        "[server] => [permissions]\npolicies_file = \"org.cedar\"\n\n[server]",
    );
    let mut command = moat(&with_policies, &deployment.database);
    command.env("STANDIN_OPENAI_KEY", "sk-standin-0123456789");
    let refused = command.args(["config", "publish"]).output().unwrap();
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let history = json(
        deployment
            .command()
            .args(["config", "history", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(history, serde_json::json!([]), "nothing was published");
    let shown = deployment
        .command()
        .args(["config", "show"])
        .output()
        .unwrap();
    assert_eq!(shown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&shown.stderr).contains("nothing published yet"));

    // Valid policies travel with the configuration: `show --json` carries them.
    std::fs::write(&policies, "forbid(principal, action == Moat::Action::\"ExportEvidence\", resource) when { principal.email like \"local:*\" };").unwrap();
    let published = publish(&deployment, &with_policies);
    assert_eq!(published["version"], 1, "{published}");
    let shown = json(
        deployment
            .command()
            .args(["config", "show", "--json"])
            .output()
            .unwrap(),
    );
    assert!(
        shown["policies"]
            .as_str()
            .unwrap()
            .contains("ExportEvidence")
    );
    assert_eq!(shown["sha256"], published["sha256"]);
    drop(runtime);
}
