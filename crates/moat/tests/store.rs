//! Moving an embedded deployment to PostgreSQL through the real binary: `moat store
//! migrate --to postgres` into a scratch database on the local server, then the same
//! data directory run on PostgreSQL, whose audit log verifies against the checkpoints
//! (and the witness) the SQLite log signed.

mod nodes;

use nodes::*;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// `moat store migrate --to postgres --url-env VAR` on `config` (then `extra`), with
/// `database` in MOAT_TEST_DATABASE_URL.
fn migrate(config: &Path, database: &str, var: &str, extra: &[&str]) -> Output {
    moat(config, database)
        .args(["store", "migrate", "--to", "postgres", "--url-env", var])
        .args(extra)
        .output()
        .unwrap()
}

fn audit_section(dir: &Path) -> String {
    format!(
        "[audit]\ncheckpoint_every_events = 4\nwitness_files = [\"{}\"]\n",
        dir.join("witness.checkpoint").display()
    )
}

#[test]
fn an_embedded_deployment_moves_to_postgres_and_its_log_verifies_against_the_same_checkpoints() {
    let (_runtime, db) = scratch();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("moat.toml");
    std::fs::write(&sqlite, format!("{ORG}{}", audit_section(dir.path()))).unwrap();
    let postgres = dir.path().join("moat-postgres.toml");
    std::fs::write(
        &postgres,
        format!(
            "{ORG}[store]\nbackend = \"postgres\"\nurl_env = \"MOAT_TEST_DATABASE_URL\"\n{}",
            audit_section(dir.path())
        ),
    )
    .unwrap();
    let on = |config: &Path, args: &[&str]| moat(config, &db.url).args(args).output().unwrap();

    for email in ["ada@example.com", "bob@example.com", "cy@example.com"] {
        ok(on(&sqlite, &["user", "add", email, "--team", "payments"]));
    }
    let issued = json(on(
        &sqlite,
        &[
            "token",
            "issue",
            "--user",
            "ada@example.com",
            "--scope",
            "mcp",
            "--json",
        ],
    ));
    let id = issued["token"]["id"].as_str().expect("token id");
    // A rotated token points at its replacement: the copy keeps the link.
    ok(on(&sqlite, &["token", "rotate", id]));
    ok(on(&sqlite, &["user", "suspend", "bob@example.com"]));
    // An engaged kill switch is security state: it must not be lost on the way.
    let db_file = rusqlite::Connection::open(dir.path().join("moat.db")).unwrap();
    db_file
        .execute_batch(
            "INSERT INTO kill_switches (kind, target, reason, engaged_by, engaged_at) \
             VALUES ('repo', 'ledger', 'incident 4711', 'sec@example.com', 1794096000);",
        )
        .unwrap();
    drop(db_file);
    let switches = json(on(&sqlite, &["kill-switch", "list", "--json"]));
    assert_eq!(
        switches["switches"].as_array().unwrap().len(),
        1,
        "{switches}"
    );
    let users = json(on(&sqlite, &["user", "list", "--json"]));
    let tokens = json(on(&sqlite, &["token", "list", "--json"]));
    let verified = json(on(&sqlite, &["audit", "verify", "--json"]));
    assert!(verified["events"].as_u64().unwrap() >= 6, "{verified}");

    let migrated = json(migrate(
        &sqlite,
        &db.url,
        "MOAT_TEST_DATABASE_URL",
        &["--json"],
    ));
    let rows = |table: &str| {
        migrated["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == table)
            .unwrap_or_else(|| panic!("{table} in {migrated}"))["rows"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(rows("users"), 3);
    assert_eq!(rows("tokens"), 2);
    assert_eq!(rows("audit_events"), verified["events"].as_u64().unwrap());
    assert_eq!(migrated["audit_events"], verified["events"]);
    assert_eq!(migrated["latest_checkpoint"], verified["signed_size"]);

    // The same deployment on PostgreSQL: the same people, tokens and log.
    let on_postgres = json(on(&postgres, &["audit", "verify", "--json"]));
    for field in ["events", "checkpoints", "signed_size", "root"] {
        assert_eq!(
            on_postgres[field], verified[field],
            "{field}: {on_postgres}"
        );
    }
    assert_eq!(json(on(&postgres, &["user", "list", "--json"])), users);
    assert_eq!(json(on(&postgres, &["token", "list", "--json"])), tokens);
    assert_eq!(
        json(on(&postgres, &["kill-switch", "list", "--json"])),
        switches
    );

    // It goes on from there: a change on PostgreSQL extends the same log, which stays
    // consistent with what the witness saw of the SQLite one.
    ok(on(&postgres, &["user", "add", "dee@example.com"]));
    let extended = json(on(&postgres, &["audit", "verify", "--json"]));
    assert!(
        extended["events"].as_u64() > verified["events"].as_u64(),
        "{extended}"
    );

    // A second copy into a database that holds data is refused and changes nothing.
    let again = migrate(&sqlite, &db.url, "MOAT_TEST_DATABASE_URL", &[]);
    assert_eq!(again.status.code(), Some(1));
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("already holds data"), "{said}");
    let after = json(on(&postgres, &["user", "list", "--json"]));
    assert_eq!(after["users"].as_array().unwrap().len(), 4, "{after}");
}

#[test]
fn migrate_says_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("moat.toml");
    std::fs::write(&config, ORG).unwrap();
    ok(moat(&config, "unused")
        .args(["user", "add", "ada@example.com"])
        .output()
        .unwrap());

    let unset = migrate(&config, "unused", "NOT_SET_ANYWHERE", &[]);
    assert_eq!(unset.status.code(), Some(2));
    let said = String::from_utf8_lossy(&unset.stderr);
    assert!(said.contains("NOT_SET_ANYWHERE is not set"), "{said}");

    let unreachable = migrate(
        &config,
        "postgres://moat:hunter2@127.0.0.1:1/moat?sslmode=disable&connect_timeout=2",
        "MOAT_TEST_DATABASE_URL",
        &[],
    );
    assert_eq!(unreachable.status.code(), Some(1));
    let said = String::from_utf8_lossy(&unreachable.stderr);
    assert!(said.contains("127.0.0.1:1/moat"), "{said}");
    assert!(
        !said.contains("hunter2"),
        "the password is never printed: {said}"
    );

    // Without a destination at all, clap says which flag is missing.
    let missing = moat(&config, "unused")
        .args(["store", "migrate", "--to", "postgres"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn nodes_on_one_database_see_a_revocation_or_a_suspension_at_once() {
    let (runtime, db) = scratch();
    let (_dir, config) = on_postgres("");
    let on = |args: &[&str]| moat(&config, &db.url).args(args).output().unwrap();
    for email in ["ada@example.com", "bob@example.com"] {
        ok(on(&["user", "add", email, "--role", "developer,admin"]));
    }
    let secret = |email: &str| {
        let issued = json(on(&[
            "token", "issue", "--user", email, "--scope", "admin", "--json",
        ]));
        (
            issued["token"]["id"].as_str().unwrap().to_string(),
            issued["secret"].as_str().unwrap().to_string(),
        )
    };
    let (ada_id, ada) = secret("ada@example.com");
    let (_, bob) = secret("bob@example.com");

    let nodes = [serve(&config, &db.url), serve(&config, &db.url)];
    // One node is the audit log's elected sequencer, the other follows it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let roles: Vec<String> = nodes
            .iter()
            .map(|node| {
                let (status, ready) = get(&format!("{}/readyz", node.url), None);
                assert_eq!(status, 200, "{ready}");
                assert_eq!(ready["checks"][0]["name"], "store", "{ready}");
                ready["sequencer"].as_str().unwrap().to_string()
            })
            .collect();
        if roles.iter().any(|r| r == "leader") && roles.iter().any(|r| r == "follower") {
            // /metrics says the same: one node counts 1, the other 0.
            let leaders: Vec<f64> = nodes
                .iter()
                .map(|node| {
                    let text = reqwest::blocking::get(format!("{}/metrics", node.url))
                        .unwrap()
                        .text()
                        .unwrap();
                    text.lines()
                        .find_map(|l| l.strip_prefix("moat_audit_sequencer_leader "))
                        .expect("the sequencer gauge")
                        .parse()
                        .unwrap()
                })
                .collect();
            let expected: Vec<f64> = roles
                .iter()
                .map(|r| if r == "leader" { 1.0 } else { 0.0 })
                .collect();
            assert_eq!(leaders, expected);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{roles:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for node in &nodes {
        for token in [&ada, &bob] {
            let (status, _) = get(&format!("{}/api/v1/whoami", node.url), Some(token));
            assert_eq!(status, 200);
        }
    }

    // Revoked through the first node's API: the second refuses it on the next request.
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/tokens/{ada_id}/revoke", nodes[0].url))
        .bearer_auth(&bob)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{:?}", response.text());
    let (status, _) = get(&format!("{}/api/v1/whoami", nodes[1].url), Some(&ada));
    assert_eq!(status, 401, "a token revoked on one node works on another");

    // Suspended from the command line: neither node lets the person in.
    ok(on(&["user", "suspend", "bob@example.com"]));
    for node in &nodes {
        let (status, _) = get(&format!("{}/api/v1/whoami", node.url), Some(&bob));
        assert_eq!(
            status, 403,
            "a suspended person still gets in at {}",
            node.url
        );
    }

    // The database goes away: nodes stay alive but say they are not ready, and why.
    drop(runtime);
    drop(db);
    for node in &nodes {
        let (status, _) = get(&format!("{}/healthz", node.url), None);
        assert_eq!(status, 200);
        let (status, ready) = get(&format!("{}/readyz", node.url), None);
        assert_eq!(status, 503, "{ready}");
        assert_eq!(ready["ready"], false);
        let store = &ready["checks"][0];
        assert_eq!(store["ok"], false, "{ready}");
    }
}

#[test]
fn an_mcp_session_opened_on_one_node_goes_on_on_another_after_the_first_dies() {
    let (_runtime, db) = scratch();
    let (_dir, config) = on_postgres("");
    let on = |args: &[&str]| moat(&config, &db.url).args(args).output().unwrap();
    let mut secrets = Vec::new();
    for email in ["ada@example.com", "bob@example.com"] {
        ok(on(&["user", "add", email]));
        let issued = json(on(&[
            "token", "issue", "--user", email, "--scope", "mcp", "--json",
        ]));
        secrets.push(issued["secret"].as_str().unwrap().to_string());
    }
    let (ada, bob) = (&secrets[0], &secrets[1]);
    let mut first = serve(&config, &db.url);
    let second = serve(&config, &db.url);

    let opened = mcp(
        &first,
        ada,
        None,
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "store-test", "version": "1"}}}),
    );
    assert_eq!(opened.status().as_u16(), 200);
    let session = opened
        .headers()
        .get("mcp-session-id")
        .expect("a session id")
        .to_str()
        .unwrap()
        .to_string();
    let initialized = mcp(
        &first,
        ada,
        Some(&session),
        serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert!(initialized.status().is_success());

    // The node that opened the session dies (SIGKILL) while it is the audit log's
    // sequencer; the other takes the role over and serves the session's next call,
    // audited.
    let sequencer = |node: &Node| {
        let (_, ready) = get(&format!("{}/readyz", node.url), None);
        ready["sequencer"].as_str().unwrap_or_default().to_string()
    };
    let roles = wait_until(|| {
        let roles = (sequencer(&first), sequencer(&second));
        (roles == ("leader".into(), "follower".into())).then_some(roles)
    });
    assert!(roles.is_some(), "the first node never became the sequencer");
    let _ = first.child.kill();
    let _ = first.child.wait();
    let killed = std::time::Instant::now();
    assert!(
        wait_until(|| (sequencer(&second) == "leader").then_some(())).is_some(),
        "the second node never took the sequencer's role over"
    );
    let took_over = killed.elapsed();
    assert!(
        took_over < std::time::Duration::from_secs(3),
        "{took_over:?}"
    );
    let listed = mcp(
        &second,
        ada,
        Some(&session),
        serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    );
    assert_eq!(listed.status().as_u16(), 200);
    let listed = answer(listed);
    let tools = listed["result"]["tools"].as_array().expect("tools");
    assert!(tools.iter().any(|t| t["name"] == "search_code"), "{listed}");

    // Another person's token presenting the session id gets nothing, on any node.
    let stolen = mcp(
        &second,
        bob,
        Some(&session),
        serde_json::json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}),
    );
    assert_eq!(stolen.status().as_u16(), 404);

    // Ended by its client on one node, it is gone for all of them.
    let ended = reqwest::blocking::Client::new()
        .delete(format!("{}/mcp", second.url))
        .bearer_auth(ada)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .unwrap();
    assert_eq!(ended.status().as_u16(), 204);
    let third = serve(&config, &db.url);
    let after = mcp(
        &third,
        ada,
        Some(&session),
        serde_json::json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}),
    );
    assert_eq!(after.status().as_u16(), 404);
    let verified = json(on(&["audit", "verify", "--json"]));
    assert_eq!(verified["ok"], true, "{verified}");
}

/// Polls `check` every 50 ms for up to 10 s.
fn wait_until<T>(mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Some(found) = check() {
            return Some(found);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    None
}

#[test]
fn a_copy_that_cannot_be_whole_writes_nothing() {
    let (_runtime, db) = scratch();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("moat.toml");
    std::fs::write(&config, ORG).unwrap();
    ok(moat(&config, &db.url)
        .args(["user", "add", "ada@example.com"])
        .output()
        .unwrap());
    // A table the PostgreSQL schema has no place for (a later migration, or someone's
    // own): the copy refuses before writing anything rather than leave it behind.
    let sqlite = rusqlite::Connection::open(dir.path().join("moat.db")).unwrap();
    sqlite
        .execute_batch(
            "CREATE TABLE local_notes (note TEXT); INSERT INTO local_notes VALUES ('x');",
        )
        .unwrap();
    drop(sqlite);
    let refused = migrate(&config, &db.url, "MOAT_TEST_DATABASE_URL", &[]);
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("local_notes"),
        "the error names the table: {said}"
    );

    // Nothing was written: once the table is gone, the same database takes the copy.
    let sqlite = rusqlite::Connection::open(dir.path().join("moat.db")).unwrap();
    sqlite.execute_batch("DROP TABLE local_notes").unwrap();
    drop(sqlite);
    let copied = json(migrate(
        &config,
        &db.url,
        "MOAT_TEST_DATABASE_URL",
        &["--json"],
    ));
    assert_eq!(copied["tables"][0]["table"], "users", "{copied}");
    assert_eq!(copied["tables"][0]["rows"], 1, "{copied}");
}

#[test]
fn three_nodes_share_one_rate_limit_and_one_token_budget() {
    let (runtime, db) = scratch();
    let deployment = GatewayDeployment::new(
        &runtime,
        &db,
        "[gateway]\nrequests_per_minute = 5\n\n[gateway.teams.budgeted]\ntokens_per_day = 10\n",
    );
    let ada = deployment.person("ada@example.com", &[]);
    let bob = deployment.person("bob@example.com", &["--team", "budgeted"]);
    let nodes = deployment.nodes(3);

    // Five requests a minute, whichever node takes them: the sixth is refused on
    // every node. (Not across a minute boundary, where the count starts again.)
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if second > 45 {
        std::thread::sleep(std::time::Duration::from_secs(61 - second));
    }
    let outcomes: Vec<(u16, String)> = (0..12).map(|i| complete(&nodes[i % 3], &ada)).collect();
    let passed = outcomes.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(passed, 5, "{outcomes:?}");
    for (status, message) in &outcomes[5..] {
        assert_eq!(*status, 429, "{outcomes:?}");
        assert!(message.contains("5 requests per minute"), "{message}");
    }

    // A team's day budget spent through one node is spent for all of them.
    let (status, _) = complete(&nodes[0], &bob);
    assert_eq!(status, 200, "the budget was not spent yet");
    for node in &nodes {
        let (status, message) = complete(node, &bob);
        assert_eq!(status, 429, "{message}");
        assert!(
            message.contains("team budgeted has used its 10 tokens"),
            "{message}"
        );
    }
}

/// Thirty clients at once, ten per node, spend one team's day budget: the requests in
/// flight when it runs out hold what they may spend, so together they overspend by at
/// most one request's tokens (as the vendor counts them).
#[test]
fn concurrent_requests_across_three_nodes_overspend_a_budget_by_at_most_one_request() {
    const BUDGET: u64 = 1_500;
    let (runtime, db) = scratch();
    // The stand-in counts tokens from bytes, as the gateway's hold assumes none shorter.
    let deployment = GatewayDeployment::new(
        &runtime,
        &db,
        &format!("[gateway.teams.budgeted]\ntokens_per_day = {BUDGET}\n"),
    );
    let bob = deployment.person("bob@example.com", &["--team", "budgeted"]);
    let nodes = deployment.nodes(3);
    let spent = std::sync::Mutex::new(Vec::<u64>::new());
    let held_refusals = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for client in 0..30 {
            let (node, bob, spent, held_refusals) =
                (&nodes[client % 3], &bob, &spent, &held_refusals);
            scope.spawn(move || {
                let http = reqwest::blocking::Client::new();
                loop {
                    let response = http
                        .post(format!("{}/v1/chat/completions", node.url))
                        .bearer_auth(bob)
                        .json(&serde_json::json!({
                            "model": "gpt",
                            "max_tokens": 16,
                            "messages": [{"role": "user", "content": format!("Say hello to client {client}.")}],
                        }))
                        .send()
                        .unwrap();
                    let status = response.status().as_u16();
                    let body: Value = response.json().unwrap_or(Value::Null);
                    match status {
                        200 => {
                            let usage = &body["usage"];
                            let tokens = usage["prompt_tokens"].as_u64().unwrap()
                                + usage["completion_tokens"].as_u64().unwrap();
                            spent.lock().unwrap().push(tokens);
                        }
                        429 => {
                            let message = body["error"]["message"].as_str().unwrap_or("");
                            if message.contains("has used its 1500 tokens") {
                                return;
                            }
                            assert!(message.contains("requests in progress hold the rest"), "{message}");
                            held_refusals.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            std::thread::sleep(std::time::Duration::from_millis(20));
                        }
                        other => panic!("{other}: {body}"),
                    }
                }
            });
        }
    });
    let spent = spent.into_inner().unwrap();
    let total: u64 = spent.iter().sum();
    let largest = spent.iter().copied().max().unwrap();
    assert!(
        spent.len() > 20,
        "the budget paid for {} answers",
        spent.len()
    );
    assert!(
        total >= BUDGET,
        "every client stopped at a spent budget: {total}"
    );
    assert!(
        total < BUDGET + largest,
        "{} answers spent {total} tokens of {BUDGET}, more than one request ({largest}) over",
        spent.len()
    );
    // Every node refuses the next request, as spent (until midnight), not as held.
    for node in &nodes {
        let (status, message) = complete(node, &bob);
        assert_eq!(status, 429, "{message}");
        assert!(message.contains("has used its 1500 tokens"), "{message}");
    }
    eprintln!(
        "{} answers, {total} tokens of {BUDGET}, {} refusals while holds filled the budget",
        spent.len(),
        held_refusals.into_inner()
    );
}

/// `moat store migrate` killed (SIGKILL) while it is writing rows: the database keeps
/// nothing of the copy (one transaction), and the same command then copies everything.
#[test]
fn a_copy_killed_midway_leaves_nothing_and_runs_again() {
    let (_runtime, db) = scratch();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("moat.toml");
    std::fs::write(&config, format!("{ORG}{}", audit_section(dir.path()))).unwrap();
    ok(moat(&config, &db.url)
        .args(["user", "add", "ada@example.com"])
        .output()
        .unwrap());
    // Enough rows that the copy takes a while: 300,000 webhook deliveries seen.
    let sqlite = rusqlite::Connection::open(dir.path().join("moat.db")).unwrap();
    sqlite
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
             INSERT INTO webhook_deliveries (id, received_at)
             SELECT 'github:delivery-' || i, 1700000000 + i FROM n;",
        )
        .unwrap();
    drop(sqlite);
    let verified = json(
        moat(&config, &db.url)
            .args(["audit", "verify", "--json"])
            .output()
            .unwrap(),
    );

    let mut copying = moat(&config, &db.url)
        .args([
            "store",
            "migrate",
            "--to",
            "postgres",
            "--url-env",
            "MOAT_TEST_DATABASE_URL",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once it is writing rows (its INSERT is running in the copy's transaction).
    let writing = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                   AND pid <> pg_backend_pid() AND query LIKE 'INSERT INTO%'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while psql(&db.url, writing) == "0" {
        assert!(
            copying.try_wait().unwrap().is_none(),
            "the copy ended before it was seen writing"
        );
        assert!(std::time::Instant::now() < deadline, "never seen writing");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    copying.kill().unwrap();
    copying.wait().unwrap();
    // The server rolls the transaction back once it sees the client gone.
    let connected = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND pid <> pg_backend_pid()";
    while psql(&db.url, connected) != "0" {
        assert!(
            std::time::Instant::now() < deadline,
            "the killed copy's session stayed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for table in ["users", "audit_events", "webhook_deliveries"] {
        assert_eq!(
            psql(&db.url, &format!("SELECT count(*) FROM {table}")),
            "0",
            "{table} kept rows of a copy that never committed"
        );
    }

    // Run again, the same copy goes through whole.
    let copied = json(migrate(
        &config,
        &db.url,
        "MOAT_TEST_DATABASE_URL",
        &["--json"],
    ));
    assert_eq!(copied["audit_events"], verified["events"], "{copied}");
    assert_eq!(
        psql(&db.url, "SELECT count(*) FROM webhook_deliveries"),
        "300000"
    );
    assert_eq!(psql(&db.url, "SELECT count(*) FROM users"), "1");
}

/// The commit this node's index holds for `repo` (`moat repo list`).
fn indexed_commit(config: &Path, database: &str, repo: &str) -> Option<String> {
    let listed = json(
        moat(config, database)
            .args(["repo", "list", "--json"])
            .output()
            .unwrap(),
    );
    listed["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == repo)
        .and_then(|r| r["indexed_commit"].as_str().map(str::to_string))
}

/// Every node keeps its own replica of the index: a node started with an empty data
/// directory indexes the repositories itself and is not ready until it has; a new
/// commit is found by one node's indexing job and reaches every node's replica.
#[test]
fn a_node_added_later_builds_its_own_index_and_every_node_follows_new_commits() {
    let (_runtime, db) = scratch();
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = repo_dir.path();
    git(repo, &["init", "-q"]);
    std::fs::write(
        repo.join("ledger.py"),
        "def post_transfer(amount):\n    return amount\n",
    )
    .unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "first"]);
    let first = git(repo, &["rev-parse", "HEAD"]);
    let node_config = || {
        on_postgres(&format!(
            "\n[server]\nindex_interval = \"1s\"\n\n[[repos]]\nname = \"ledger\"\nsource = \"{}\"\ntier = \"internal\"\n",
            repo.display()
        ))
    };
    let (_a_dir, a_config) = node_config();
    let a = serve(&a_config, &db.url);
    eventually("node a indexed the first commit", || {
        indexed_commit(&a_config, &db.url, "ledger").as_deref() == Some(first.as_str())
    });
    eventually("node a is ready", || {
        get(&format!("{}/readyz", a.url), None).0 == 200
    });

    // A node added later, with nothing in its data directory.
    let (_b_dir, b_config) = node_config();
    assert_eq!(indexed_commit(&b_config, &db.url, "ledger"), None);
    let b = serve(&b_config, &db.url);
    eventually("node b indexed the first commit itself", || {
        indexed_commit(&b_config, &db.url, "ledger").as_deref() == Some(first.as_str())
    });
    eventually("node b is ready once caught up", || {
        get(&format!("{}/readyz", b.url), None).0 == 200
    });

    // A new commit reaches both replicas.
    std::fs::write(
        repo.join("settle.py"),
        "def settle_ledger():\n    return 0\n",
    )
    .unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "second"]);
    let second = git(repo, &["rev-parse", "HEAD"]);
    for config in [&a_config, &b_config] {
        eventually("the second commit is indexed on every node", || {
            indexed_commit(config, &db.url, "ledger").as_deref() == Some(second.as_str())
        });
    }
    // The commit was resolved once, by a job one node took, and recorded as the head
    // every replica follows; no job is left.
    let head = psql(
        &db.url,
        "SELECT commit_id || ' ' || indexed_by FROM index_heads WHERE repo = 'ledger'",
    );
    let (commit, by) = head.split_once(' ').unwrap();
    assert_eq!(commit, second);
    assert!(by.contains(':'), "a node (host:pid) took the job: {by}");
    eventually("the queue is drained", || {
        psql(
            &db.url,
            "SELECT count(*) FROM index_jobs WHERE claimed_by IS NOT NULL",
        ) == "0"
    });
    drop((a, b));
}
