//! `moat mcp --stdio --server URL`: a bridge for MCP clients that only speak stdio.
//! Each JSON-RPC message read from stdin is POSTed to the server's `/mcp` (Streamable
//! HTTP) with the token from `MOAT_TOKEN`; answers (JSON or an SSE stream) are written
//! to stdout one message per line. The session id and protocol version the server
//! returns are carried on later requests. The token never leaves this process except
//! to the Moat server.

use crate::context::UsageError;
use anyhow::{Context as _, Result};
use std::io::{BufRead, Write};
use std::process::ExitCode;

pub async fn run(server: &str) -> Result<ExitCode> {
    let token = std::env::var("MOAT_TOKEN").map_err(|_| {
        UsageError(
            "set MOAT_TOKEN to a Moat token with the mcp scope (`moat token issue --scope mcp`)"
                .into(),
        )
    })?;
    let endpoint = format!("{}/mcp", server.trim_end_matches('/'));
    let http = reqwest::Client::builder()
        .build()
        .context("building the HTTP client")?;
    let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<String>(64);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if line.trim().is_empty() {
                continue;
            }
            if lines_tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let mut session: Option<String> = None;
    let mut protocol: Option<String> = None;
    while let Some(line) = lines.recv().await {
        let message: serde_json::Value = match serde_json::from_str(&line) {
            Ok(message) => message,
            Err(e) => {
                emit(
                    &serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": format!("parse error: {e}")}}),
                );
                continue;
            }
        };
        let id = message.get("id").cloned();
        let mut request = http
            .post(&endpoint)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(line);
        if let Some(session) = &session {
            request = request.header("mcp-session-id", session);
        }
        if let Some(protocol) = &protocol {
            request = request.header("mcp-protocol-version", protocol);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                fail(id, &format!("cannot reach {endpoint}: {e}"));
                continue;
            }
        };
        if let Some(value) = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            session = Some(value.to_string());
        }
        let status = response.status();
        let streamed = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            fail(
                id,
                &format!("{endpoint} answered {status}: {}", body.trim()),
            );
            continue;
        }
        let messages: Vec<serde_json::Value> = if streamed {
            sse_messages(&body)
        } else if body.trim().is_empty() {
            Vec::new()
        } else {
            serde_json::from_str(&body)
                .map(|v| vec![v])
                .unwrap_or_default()
        };
        for message in messages {
            if let Some(version) = message
                .pointer("/result/protocolVersion")
                .and_then(|v| v.as_str())
            {
                protocol = Some(version.to_string());
            }
            emit(&message);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The JSON messages in an SSE body (`data:` lines, events separated by blank lines).
fn sse_messages(body: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut data = String::new();
    for line in body.lines().chain(std::iter::once("")) {
        if let Some(rest) = line.strip_prefix("data:") {
            data.push_str(rest.trim_start());
        } else if line.is_empty() {
            if let Ok(value) = serde_json::from_str(&data) {
                out.push(value);
            }
            data.clear();
        }
    }
    out
}

fn emit(message: &serde_json::Value) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{message}");
    let _ = stdout.flush();
}

fn fail(id: Option<serde_json::Value>, message: &str) {
    eprintln!("moat mcp: {message}");
    if let Some(id) = id {
        emit(
            &serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": message}}),
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sse_bodies_yield_their_messages() {
        let body =
            "data: \nid: 0\nretry: 3000\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
        let messages = super::sse_messages(body);
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["id"], 1);
    }
}
