//! The real `moat` binary, run as a user would: `moat demo` from nothing, `moat serve`
//! on its configuration, people and token commands, and exit codes.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn moat() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_moat"));
    command
        .env_remove("MOAT_CONFIG")
        .env_remove("MOAT_DATA_DIR")
        .env("MOAT_LOG", "warn");
    command
}

fn run(args: &[&str]) -> Output {
    moat().args(args).output().expect("moat runs")
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// A child process that is interrupted (Ctrl-C) and reaped when dropped.
struct Running(Child);

impl Running {
    fn interrupt(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "moat did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `moat demo` on a free port and waits for its demo.json.
fn start_demo(data_dir: &Path) -> (Running, Value) {
    let _ = std::fs::remove_file(data_dir.join("demo.json"));
    let child = moat()
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let stdout = running.0.stdout.take().unwrap();
    let (first_line_tx, first_line) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let _ = first_line_tx.send(line);
        // Keep reading, as a terminal would, so the demo's output never hits a closed pipe.
        std::io::copy(&mut reader, &mut std::io::sink()).ok();
    });
    let demo_file = data_dir.join("demo.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !demo_file.exists() {
        assert!(
            running.0.try_wait().unwrap().is_none(),
            "moat demo exited early"
        );
        assert!(Instant::now() < deadline, "demo.json never appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    let line = first_line.recv_timeout(Duration::from_secs(10)).unwrap();
    let demo: Value = serde_json::from_slice(&std::fs::read(&demo_file).unwrap()).unwrap();
    assert_eq!(
        line.trim(),
        format!("moat listening on {}", demo["url"].as_str().unwrap())
    );
    (running, demo)
}

fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let client = reqwest::blocking::Client::new();
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

#[test]
fn demo_goes_from_nothing_to_a_running_deployment_and_reuses_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("moat-demo");
    let (mut demo, info) = start_demo(&data_dir);
    let url = info["url"].as_str().unwrap().to_string();
    let developer = info["developer_token"].as_str().unwrap().to_string();
    let admin = info["admin_token"].as_str().unwrap().to_string();
    assert_eq!(info["repos"][0]["name"], "acme-payments");

    assert_eq!(get(&format!("{url}/healthz"), None).0, 200);
    let (status, me) = get(&format!("{url}/api/v1/whoami"), Some(&developer));
    assert_eq!(status, 200);
    assert_eq!(me["user"]["email"], "developer@example.com");
    assert_eq!(get(&format!("{url}/api/v1/users"), Some(&developer)).0, 403);
    let (status, users) = get(&format!("{url}/api/v1/users"), Some(&admin));
    assert_eq!(status, 200);
    assert_eq!(users["users"].as_array().unwrap().len(), 2);
    assert!(demo.interrupt().success(), "Ctrl-C stops the demo cleanly");

    // The sample is a real git repository that git itself reads.
    let source = info["repos"][0]["source"].as_str().unwrap();
    let log = Command::new("git")
        .args(["--git-dir", source, "log", "--format=%s", "main"])
        .output();
    if let Ok(log) = log {
        assert!(
            String::from_utf8_lossy(&log.stdout).contains("acme-payments"),
            "{log:?}"
        );
    }

    // `moat serve --config` accepts the demo's configuration as it is.
    let config = data_dir.join("moat.toml");
    let mut serve = moat()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut serve = Running(serve);
    let served = line
        .trim()
        .strip_prefix("moat listening on ")
        .expect(&line)
        .to_string();
    assert_eq!(
        get(&format!("{served}/api/v1/whoami"), Some(&developer)).0,
        200
    );
    assert!(serve.interrupt().success());

    // A re-run reuses the directory: same users, fresh tokens, previous ones revoked.
    let (mut again, info2) = start_demo(&data_dir);
    let url2 = info2["url"].as_str().unwrap();
    let (status, body) = get(&format!("{url2}/api/v1/whoami"), Some(&developer));
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    let new_developer = info2["developer_token"].as_str().unwrap();
    assert_eq!(
        get(&format!("{url2}/api/v1/whoami"), Some(new_developer)).0,
        200
    );
    let (_, users) = get(
        &format!("{url2}/api/v1/users"),
        Some(info2["admin_token"].as_str().unwrap()),
    );
    assert_eq!(users["users"].as_array().unwrap().len(), 2);
    assert!(again.interrupt().success());
}

#[test]
fn demo_refuses_a_path_that_is_not_a_git_repository() {
    let dir = tempfile::tempdir().unwrap();
    let output = moat()
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("d"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not a git repository"), "{stderr}");
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("moat.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn people_and_tokens_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[org]\nname = \"Example Health\"\n");
    let c = ["--config", config.as_str()];

    let added = stdout_json(&run(&[
        &c[..],
        &[
            "user",
            "add",
            "ada@example.com",
            "--role",
            "developer,security",
            "--team",
            "payments",
            "--json",
        ],
    ]
    .concat()));
    assert_eq!(added["status"], "active");
    assert_eq!(added["roles"], serde_json::json!(["security", "developer"]));

    let list = stdout_json(&run(&[&c[..], &["user", "list", "--json"]].concat()));
    let user = &list["users"][0];
    for field in [
        "id", "email", "name", "status", "roles", "teams", "training",
    ] {
        assert!(
            user.get(field).is_some(),
            "user list --json lacks `{field}`: {user}"
        );
    }

    let issued = stdout_json(&run(&[
        &c[..],
        &[
            "token",
            "issue",
            "--user",
            "ada@example.com",
            "--scope",
            "mcp",
            "--scope",
            "gateway",
            "--ttl",
            "7d",
            "--json",
        ],
    ]
    .concat()));
    let secret = issued["secret"].as_str().unwrap();
    let id = issued["token"]["id"].as_str().unwrap();
    assert!(secret.starts_with("moat_"));

    let tokens = run(&[&c[..], &["token", "list", "--json"]].concat());
    let text = String::from_utf8_lossy(&tokens.stdout);
    assert!(text.contains(id) && !text.contains(secret), "{text}");

    let rotated = stdout_json(&run(&[
        &c[..],
        &["token", "rotate", id, "--grace", "1h", "--json"],
    ]
    .concat()));
    assert_ne!(rotated["secret"], issued["secret"]);
    let after = stdout_json(&run(&[
        &c[..],
        &["token", "list", "--user", "ada@example.com", "--json"],
    ]
    .concat()));
    let old = after["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap();
    assert_eq!(old["replaced_by"], rotated["token"]["id"]);

    let revoked = stdout_json(&run(&[
        &c[..],
        &[
            "token",
            "revoke",
            rotated["token"]["id"].as_str().unwrap(),
            "--json",
        ],
    ]
    .concat()));
    assert!(revoked["revoked_at"].is_string());

    let suspended = stdout_json(&run(&[
        &c[..],
        &["user", "suspend", "ada@example.com", "--json"],
    ]
    .concat()));
    assert_eq!(suspended["status"], "suspended");
    let gone = stdout_json(&run(&[
        &c[..],
        &["user", "deprovision", "ada@example.com", "--json"],
    ]
    .concat()));
    assert_eq!(gone["status"], "deprovisioned");

    let table = run(&[&c[..], &["user", "list"]].concat());
    assert!(String::from_utf8_lossy(&table.stdout).contains("deprovisioned"));
}

#[test]
fn exit_codes_separate_failures_from_bad_usage() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[org]\nname = \"Example Health\"\n");

    let missing_user = run(&["--config", &config, "user", "suspend", "nobody@example.com"]);
    assert_eq!(missing_user.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing_user.stderr).contains("moat user list"));

    let duplicate = run(&["--config", &config, "user", "add", "x@example.com"]);
    assert!(duplicate.status.success());
    let again = run(&["--config", &config, "user", "add", "x@example.com"]);
    assert_eq!(again.status.code(), Some(1));

    let bad_scope = run(&[
        "--config",
        &config,
        "token",
        "issue",
        "--user",
        "x@example.com",
        "--scope",
        "root",
    ]);
    assert_eq!(bad_scope.status.code(), Some(2));

    let no_config = moat()
        .current_dir(dir.path().join(".."))
        .args(["user", "list"])
        .output()
        .unwrap();
    assert_eq!(no_config.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_config.stderr).contains("--config"));
}

#[test]
fn policy_check_prints_the_version_or_the_line_and_key_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_config(dir.path(), "[org]\nname = \"Example Health\"\n");
    let checked = stdout_json(&run(&["--config", &good, "policy", "check", "--json"]));
    assert_eq!(checked["valid"], true);
    assert!(
        checked["policy_version"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );

    let bad = write_config(
        dir.path(),
        "[org]\nname = \"Example Health\"\n\n[[vendors]]\nname = \"openai\"\nkind = \"openai\"\nbase_url = \"https://api.openai.com\"\napi_key = \"sk-live\"\nregion = \"us\"\n",
    );
    let output = run(&["--config", &bad, "policy", "check"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("moat.toml:8:")
            && stderr.contains("vendors[0].api_key")
            && stderr.contains("api_key_env"),
        "{stderr}"
    );

    // A redirect URI `moat serve` would refuse is refused by the check too.
    let remote_http = write_config(
        dir.path(),
        "[org]\nname = \"Example Health\"\n\n[[identity.oauth.clients]]\nid = \"cursor\"\nname = \"Cursor\"\nredirect_uris = [\"http://tools.example.com/cb\"]\n",
    );
    let output = run(&["--config", &remote_http, "policy", "check"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("[[identity.oauth.clients]] #1 (cursor)"),
        "{stderr}"
    );
}

#[test]
fn serve_help_describes_what_it_serves() {
    let help = run(&["serve", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    for served in ["/mcp", "/v1", "/oauth", "/scim/v2", "/api/v1", "/metrics"] {
        assert!(text.contains(served), "serve --help names {served}: {text}");
    }
    assert!(
        !text.contains("follow)"),
        "nothing is promised for later: {text}"
    );
}

#[test]
fn serve_writes_json_logs_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[org]\nname = \"Example Health\"\n");
    let mut child = moat()
        .env("MOAT_LOG", "info")
        .args([
            "--config",
            &config,
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut running = Running(child);
    assert!(
        line.starts_with("moat listening on http://127.0.0.1:"),
        "{line}"
    );
    assert!(running.interrupt().success());
    // It says when it has stopped (and that the log was closed).
    let mut last = String::new();
    stdout.read_line(&mut last).unwrap();
    assert!(last.starts_with("moat stopped:"), "{last}");
    let mut log = String::new();
    BufReader::new(stderr).read_line(&mut log).unwrap();
    let parsed: Value = serde_json::from_str(&log).unwrap_or_else(|e| panic!("{e}: {log}"));
    assert!(
        parsed["level"].is_string() && parsed["fields"].is_object(),
        "{parsed}"
    );
}

#[test]
fn the_stdio_bridge_speaks_mcp_to_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (_demo, demo) = start_demo(dir.path());
    let url = demo["url"].as_str().unwrap();
    let token = demo["developer_token"].as_str().unwrap();
    let mut bridge = moat()
        .args(["mcp", "--stdio", "--server", url])
        .env("MOAT_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"stdio-client","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"repo_overview","arguments":{"repo":"acme-payments"}}}"#,
        r#"not json"#,
    ];
    {
        use std::io::Write;
        let mut stdin = bridge.stdin.take().unwrap();
        for line in input {
            writeln!(stdin, "{line}").unwrap();
        }
    }
    let output = bridge.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 4, "{answers:?}");
    assert_eq!(answers[0]["result"]["serverInfo"]["name"], "moat");
    assert_eq!(answers[1]["result"]["tools"].as_array().unwrap().len(), 7);
    let overview = &answers[2]["result"]["structuredContent"];
    assert_eq!(overview["repo"], "acme-payments");
    assert!(overview["audit_seq"].as_u64().is_some());
    assert_eq!(answers[3]["error"]["code"], -32700);

    // Without a token it says what to do, exit 2.
    let out = moat()
        .args(["mcp", "--stdio", "--server", url])
        .env_remove("MOAT_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MOAT_TOKEN"));
}

#[test]
fn the_readme_client_setups_name_the_real_endpoint_and_header() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let section = |title: &str| {
        let start = readme
            .find(title)
            .unwrap_or_else(|| panic!("README has {title}"));
        readme[start..]
            .split("```")
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    // The tools sign in by OAuth: no header to paste.
    for title in ["**Claude Code**", "**Cursor**", "**VS Code**"] {
        let setup = section(title);
        assert!(
            setup.contains("http://127.0.0.1:8480/mcp"),
            "{title}: {setup}"
        );
        assert!(!setup.contains("Authorization"), "{title}: {setup}");
    }
    // CI and scripts send the token, for each tool.
    let ci = readme[readme
        .find("**CI and scripts**")
        .expect("README has the CI form")..]
        .split("**Clients that only speak stdio**")
        .next()
        .unwrap()
        .to_string();
    for needle in [
        "claude mcp add --transport http moat http://127.0.0.1:8480/mcp --header \"Authorization: Bearer moat_...\"",
        "{\"mcpServers\": {\"moat\": {\"url\": \"http://127.0.0.1:8480/mcp\", \"headers\": {\"Authorization\": \"Bearer moat_...\"}}}}",
        "{\"servers\": {\"moat\": {\"type\": \"http\", \"url\": \"http://127.0.0.1:8480/mcp\", \"headers\": {\"Authorization\": \"Bearer moat_...\"}}}}",
    ] {
        assert!(ci.contains(needle), "{needle}");
    }
    let stdio = section("**Clients that only speak stdio**");
    assert!(stdio.contains("\"mcp\", \"--stdio\", \"--server\"") && stdio.contains("MOAT_TOKEN"));
    // And the server really answers there: /mcp without a token names its metadata.
    let dir = tempfile::tempdir().unwrap();
    let (_demo, demo) = start_demo(dir.path());
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/mcp", demo["url"].as_str().unwrap()))
        .header("accept", "application/json, text/event-stream")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("resource_metadata")
    );
    // ... which names the demo itself as the authorization server, whose metadata is there.
    let url = demo["url"].as_str().unwrap();
    let resource: serde_json::Value =
        reqwest::blocking::get(format!("{url}/.well-known/oauth-protected-resource/mcp"))
            .unwrap()
            .json()
            .unwrap();
    assert_eq!(resource["authorization_servers"], serde_json::json!([url]));
    let server: serde_json::Value =
        reqwest::blocking::get(format!("{url}/.well-known/oauth-authorization-server"))
            .unwrap()
            .json()
            .unwrap();
    assert_eq!(server["issuer"], url);
    assert!(server["registration_endpoint"].is_string());
}

/// `moat ... --json | head`: a reader that goes away ends the command quietly, exit 0
/// and no panic, for one-shot listings and for `audit tail -f`, which would otherwise
/// follow forever into a closed pipe.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    std::fs::write(dir.path().join("moat.toml"), "[org]\nname = \"Pipes\"\n").unwrap();
    let config = dir.path().join("moat.toml");
    let config = config.to_str().unwrap();
    for n in 0..3 {
        let out = run(&[
            "--config",
            config,
            "--data-dir",
            d,
            "user",
            "add",
            &format!("person{n}@example.com"),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for args in [
        vec!["user", "list", "--json"],
        vec!["user", "list"],
        vec!["audit", "tail", "-n", "5"],
        vec!["audit", "tail", "-f"],
    ] {
        let mut child = moat()
            .args(["--config", config, "--data-dir", d])
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before the command has written anything.
        drop(child.stdout.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{args:?} kept running after its reader left");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn commands_find_the_configuration_without_flags_where_the_demo_left_it() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("moat-demo");
    std::fs::create_dir_all(&demo).unwrap();
    write_config(&demo, "[org]\nname = \"Found\"\n");
    // From the directory `moat demo` ran in: the demo's ./moat-demo/moat.toml.
    let added = moat()
        .current_dir(dir.path())
        .args([
            "user",
            "add",
            "ada@example.com",
            "--role",
            "admin",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(
        demo.join("moat.db").exists(),
        "the data directory is the config's"
    );
    // --data-dir DIR alone, and MOAT_DATA_DIR, find DIR/moat.toml.
    let elsewhere = tempfile::tempdir().unwrap();
    for command in [
        moat()
            .current_dir(elsewhere.path())
            .args([
                "--data-dir",
                demo.to_str().unwrap(),
                "user",
                "list",
                "--json",
            ])
            .output()
            .unwrap(),
        moat()
            .current_dir(elsewhere.path())
            .env("MOAT_DATA_DIR", &demo)
            .args(["user", "list", "--json"])
            .output()
            .unwrap(),
        moat()
            .current_dir(elsewhere.path())
            .env("MOAT_CONFIG", demo.join("moat.toml"))
            .args(["user", "list", "--json"])
            .output()
            .unwrap(),
    ] {
        let listed = stdout_json(&command);
        assert!(listed.to_string().contains("ada@example.com"), "{listed}");
    }
    // `token list` names people by email, as `user list` does (JSON keeps the ids).
    let in_demo = |args: &[&str]| {
        let output = moat()
            .current_dir(elsewhere.path())
            .env("MOAT_CONFIG", demo.join("moat.toml"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    in_demo(&[
        "token",
        "issue",
        "--user",
        "ada@example.com",
        "--scope",
        "mcp",
    ]);
    let tokens = in_demo(&["token", "list"]);
    assert!(tokens.contains("ada@example.com"), "{tokens}");
    // Nowhere to be found: the places looked at, and what to do.
    let nothing = moat()
        .current_dir(elsewhere.path())
        .args(["user", "list"])
        .output()
        .unwrap();
    assert_eq!(nothing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&nothing.stderr);
    assert!(
        stderr.contains("moat-demo/moat.toml") && stderr.contains("--data-dir"),
        "{stderr}"
    );
}

#[test]
fn serve_names_every_unresolved_secret_reference_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[org]\nname = \"x\"\n[identity]\nscim_token_env = \"MOAT_TEST_UNSET_SCIM\"\n[[vendors]]\nname = \"openai\"\nkind = \"openai\"\nbase_url = \"https://api.openai.com\"\nkey_env = \"MOAT_TEST_UNSET_KEY\"\nregion = \"us\"\nattestations = { soc2_type2 = true }\n[[audit.sinks]]\nname = \"archive\"\nkind = \"http\"\nurl = \"https://siem.example.com/in\"\ntoken_file = \"/nonexistent/moat-token\"\n",
    );
    let output = moat()
        .env_remove("MOAT_TEST_UNSET_SCIM")
        .env_remove("MOAT_TEST_UNSET_KEY")
        .args(["--config", &config, "serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for named in [
        "MOAT_TEST_UNSET_SCIM",
        "MOAT_TEST_UNSET_KEY",
        "/nonexistent/moat-token",
        "3 references",
    ] {
        assert!(stderr.contains(named), "{named} missing from: {stderr}");
    }
}

/// `moat demo PATH` indexes the repository given before it serves, with progress on a
/// terminal (a pseudo-terminal from util-linux's `script` here) in files and bytes.
#[test]
fn demo_of_a_repository_shows_indexing_progress_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    for i in 0..40 {
        std::fs::write(
            repo.join(format!("m{i}.py")),
            format!("def f{i}():\n    return {i}\n"),
        )
        .unwrap();
    }
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .current_dir(&repo)
            .args(["-c", "user.email=a@example.com", "-c", "user.name=a"])
            .args(args)
            .status()
            .unwrap();
        assert!(status.success());
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "init"]);
    let command = format!(
        "{} demo {} --listen 127.0.0.1:0",
        env!("CARGO_BIN_EXE_moat"),
        repo.display()
    );
    let mut child = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .current_dir(dir.path())
        .env_remove("MOAT_CONFIG")
        .env_remove("MOAT_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = String::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.contains("moat listening on") && Instant::now() < deadline {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&String::from_utf8_lossy(&line));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("moat listening on"), "{seen}");
    assert!(seen.contains("/40 files"), "no progress in files: {seen}");
    assert!(
        seen.contains(" B/") || seen.contains("KiB/"),
        "no progress in bytes: {seen}"
    );
}

/// `moat audit new-key` needs no configuration, writes the key owner-only, never
/// overwrites one, and a node configured with it signs its checkpoints with it.
#[test]
fn a_new_signing_key_is_written_once_and_signs_the_log() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("audit.key");
    let made = stdout_json(
        &moat()
            .current_dir(dir.path())
            .args(["--json", "audit", "new-key", "--out"])
            .arg(&key)
            .args(["--name", "acme-audit"])
            .output()
            .unwrap(),
    );
    let public = made["public_key"].as_str().unwrap().to_string();
    assert!(public.starts_with("acme-audit+"), "{made}");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "owner-only: {mode:o}");
    let before = std::fs::read(&key).unwrap();
    let again = moat()
        .args(["audit", "new-key", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwritten"));
    assert_eq!(std::fs::read(&key).unwrap(), before);

    let config = write_config(
        dir.path(),
        &format!(
            "[org]\nname = \"Keyed\"\n[audit]\nsigning_key_file = \"{}\"\n",
            key.display()
        ),
    );
    let added = moat()
        .args(["--config", &config, "user", "add", "ada@example.com"])
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let checkpoint = moat()
        .args(["--config", &config, "audit", "checkpoint"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&checkpoint.stdout);
    assert!(
        text.contains("— acme-audit "),
        "signed by the new key: {text}"
    );
    let known = dir.path().join("audit/keys/acme-audit.vkey");
    assert_eq!(std::fs::read_to_string(known).unwrap().trim(), public);
}
