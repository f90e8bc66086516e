//! What the multi-node tests share: `moat` commands on a configuration and a scratch
//! PostgreSQL database, `moat serve` children, and requests to them.
#![allow(dead_code)]

use moat_store::conformance::scratch::ScratchPostgres;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

pub fn moat(config: &Path, database: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_moat"));
    command
        .env_remove("MOAT_DATA_DIR")
        .env("MOAT_LOG", "warn")
        .env("MOAT_TEST_DATABASE_URL", database)
        .arg("--config")
        .arg(config);
    command
}

pub fn ok(output: Output) -> Output {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn json(output: Output) -> Value {
    serde_json::from_slice(&ok(output).stdout).expect("JSON on stdout")
}

pub fn scratch() -> (tokio::runtime::Runtime, ScratchPostgres) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(ScratchPostgres::new());
    (runtime, db)
}

pub const ORG: &str = "[org]\nname = \"Example Health\"\n";

/// A `moat serve` child, killed and reaped when dropped.
pub struct Node {
    pub child: std::process::Child,
    pub url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(config: &Path, database: &str) -> Node {
    serve_with(moat(config, database))
}

/// `moat serve` on a free port from `command` (its configuration and environment).
pub fn serve_with(mut command: Command) -> Node {
    use std::io::BufRead;
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("moat listening on ")
        .unwrap_or_else(|| panic!("moat serve said: {line}"))
        .to_string();
    Node { child, url }
}

/// A data directory whose `moat.toml` keeps its store in the database named by
/// MOAT_TEST_DATABASE_URL, with `more` configuration after it.
pub fn on_postgres(more: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("moat.toml");
    std::fs::write(
        &config,
        format!(
            "{ORG}[store]\nbackend = \"postgres\"\nurl_env = \"MOAT_TEST_DATABASE_URL\"\n{more}"
        ),
    )
    .unwrap();
    (dir, config)
}

pub fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::blocking::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// One JSON-RPC message to `/mcp` as a Streamable HTTP client sends it.
pub fn mcp(
    node: &Node,
    token: &str,
    session: Option<&str>,
    body: Value,
) -> reqwest::blocking::Response {
    let mut request = reqwest::blocking::Client::new()
        .post(format!("{}/mcp", node.url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(&body);
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18");
    }
    request.send().unwrap()
}

/// The JSON-RPC answer in a response, sent as JSON or as a server-sent event (a
/// resumed session answers with a stream, which clients accept as well).
pub fn answer(response: reqwest::blocking::Response) -> Value {
    let text = response.text().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| {
        text.lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .find_map(|data| serde_json::from_str::<Value>(data).ok())
            .unwrap_or_else(|| panic!("no JSON-RPC answer in {text:?}"))
    })
}

/// Opens an MCP session on `node` as a client would and calls `tool`; the tool result.
pub fn tool_call(node: &Node, token: &str, tool: &str, arguments: Value) -> Value {
    let opened = mcp(
        node,
        token,
        None,
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "moat-test", "version": "1"}}}),
    );
    assert_eq!(opened.status().as_u16(), 200);
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = mcp(
        node,
        token,
        Some(&session),
        serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    let called = mcp(
        node,
        token,
        Some(&session),
        serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": tool, "arguments": arguments}}),
    );
    answer(called)["result"].clone()
}

/// One chat completion through a node's gateway; the status and the error's message.
pub fn complete(node: &Node, token: &str) -> (u16, String) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/v1/chat/completions", node.url))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "model": "gpt",
            "messages": [{"role": "user", "content": "Say hello to the payments team."}],
        }))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap_or(Value::Null);
    (
        status,
        body["error"]["message"].as_str().unwrap_or("").to_string(),
    )
}

/// A deployment on a scratch database whose model `gpt` is served by a local stand-in
/// speaking OpenAI's documented wire format (the vendor is outside the company's
/// walls), with `gateway` configuration after it.
pub struct GatewayDeployment {
    _vendor: standin_vendor::StandIn,
    _dir: tempfile::TempDir,
    pub config: std::path::PathBuf,
    pub database: String,
}

impl GatewayDeployment {
    pub fn new(runtime: &tokio::runtime::Runtime, db: &ScratchPostgres, gateway: &str) -> Self {
        let vendor = runtime.block_on(standin_vendor::StandIn::spawn()).unwrap();
        let (dir, config) = on_postgres(&format!(
            "\n[[vendors]]\nname = \"openai\"\nkind = \"openai\"\nbase_url = \"{}\"\n\
             key_env = \"STANDIN_OPENAI_KEY\"\nregion = \"us\"\n\
             attestations = {{ soc2_type2 = true, dpa = true }}\n\n\
             [[models]]\nalias = \"gpt\"\nvendor = \"openai\"\nversion = \"gpt-4.1-2025-04-14\"\n\n\
             {gateway}",
            vendor.url
        ));
        GatewayDeployment {
            _vendor: vendor,
            _dir: dir,
            config,
            database: db.url.clone(),
        }
    }

    pub fn command(&self) -> Command {
        let mut command = moat(&self.config, &self.database);
        command.env("STANDIN_OPENAI_KEY", "sk-standin-0123456789");
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// A gateway token for `email`, added with `more` (`--team T`).
    pub fn person(&self, email: &str, more: &[&str]) -> String {
        ok(self.run(&[&["user", "add", email], more].concat()));
        json(self.run(&[
            "token", "issue", "--user", email, "--scope", "gateway", "--json",
        ]))["secret"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn nodes(&self, count: usize) -> Vec<Node> {
        (0..count).map(|_| serve_with(self.command())).collect()
    }
}

/// `psql` (PostgreSQL's own client) on `url`: one value.
pub fn psql(url: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args([url, "-Atc", sql])
        .output()
        .expect("psql, PostgreSQL's client, is installed with the server");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.email=dev@example.com", "-c", "user.name=dev"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Waits (at most 60 s) until `done` holds.
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
