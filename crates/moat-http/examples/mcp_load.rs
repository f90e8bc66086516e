//! Load generator for `/mcp`, run as its own process against a running `moat serve`
//! (see `bench/mcp/run`). Opens sessions over Streamable HTTP exactly as a client does
//! (initialize, notifications/initialized, then tools/call with the session id),
//! drives them concurrently for a fixed time and prints throughput and latency
//! percentiles; then opens 1,000 more sessions, leaves them idle past the server's
//! `mcp_session_idle` and reports its resident memory, and checks that a sample of them
//! still answers.
//!
//! `mcp_load URL TOKEN SERVER_PID QUESTIONS_JSONL`
//!
//! `mcp_load --paced URL TOKEN SESSIONS PACE_MS SECONDS REPO PATH` (for `bench/scale/run`):
//! `SESSIONS` sessions each start a call every `PACE_MS`, a mix of `search_code`,
//! `list_repositories` and `get_file_outline` of `PATH` in `REPO`, for `SECONDS`; prints
//! one JSON line: calls answered per second, errors, p50 and p99 in milliseconds.

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Session {
    http: reqwest::Client,
    url: String,
    token: String,
    id: String,
}

async fn open(http: &reqwest::Client, url: &str, token: &str) -> Session {
    let response = http
        .post(format!("{url}/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"mcp-load","version":"1"}}}))
        .send()
        .await
        .expect("initialize");
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = response.bytes().await;
    let session = Session {
        http: http.clone(),
        url: url.to_string(),
        token: token.to_string(),
        id,
    };
    let _ = session
        .post(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
        .await;
    session
}

impl Session {
    async fn post(&self, body: &Value) -> Result<String, String> {
        let response = self
            .http
            .post(format!("{}/mcp", self.url))
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", "2025-06-18")
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{status}: {text}"));
        }
        Ok(text)
    }

    async fn call(&self, id: u64, tool: &str, arguments: Value) -> Result<(), String> {
        let text = self
            .post(&json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":arguments}}))
            .await?;
        if text.contains("\"audit_seq\"") {
            Ok(())
        } else {
            Err(format!("no audit_seq in {}", &text[..text.len().min(200)]))
        }
    }
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Every session calls back to back (closed loop) when `pace` is `None`; otherwise each
/// session starts a call every `pace` (an agent that thinks between calls), the
/// sessions' schedules spread evenly over one period.
async fn run(
    sessions: &[Arc<Session>],
    duration: Duration,
    pace: Option<Duration>,
    pick: impl Fn(usize) -> (&'static str, Value) + Send + Sync + 'static,
) -> (f64, Vec<Duration>, usize) {
    let pick = Arc::new(pick);
    let deadline = Instant::now() + duration;
    let counter = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, session) in sessions.iter().enumerate() {
        let session = session.clone();
        let counter = counter.clone();
        let errors = errors.clone();
        let pick = pick.clone();
        let offset = pace.map(|p| p.mul_f64(i as f64 / sessions.len() as f64));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut ticks = pace.map(|p| {
                let mut ticks = tokio::time::interval_at(
                    tokio::time::Instant::now() + offset.unwrap_or_default(),
                    p,
                );
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticks
            });
            while Instant::now() < deadline {
                if let Some(ticks) = ticks.as_mut() {
                    ticks.tick().await;
                    if Instant::now() >= deadline {
                        break;
                    }
                }
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let (tool, arguments) = pick(n);
                let t = Instant::now();
                if let Err(e) = session.call(n as u64 + 1, tool, arguments).await {
                    if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("error: {e}");
                    }
                } else {
                    latencies.push(t.elapsed());
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    all.sort();
    (
        all.len() as f64 / seconds,
        all,
        errors.load(Ordering::Relaxed),
    )
}

fn p(latencies: &[Duration], q: f64) -> f64 {
    if latencies.is_empty() {
        return f64::NAN;
    }
    latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0
}

/// `--paced`: mixed tool calls at a fixed pace from many sessions, one JSON line out.
async fn paced(args: &[String]) {
    let (url, token) = (&args[0], &args[1]);
    let sessions: usize = args[2].parse().unwrap();
    let pace = Duration::from_millis(args[3].parse().unwrap());
    let seconds = Duration::from_secs_f64(args[4].parse().unwrap());
    let (repo, path) = (args[5].clone(), args[6].clone());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let mut opened = Vec::new();
    for _ in 0..sessions {
        opened.push(Arc::new(open(&http, url, token).await));
    }
    const QUERIES: [&str; 6] = [
        "append the audit event",
        "token budget",
        "redact secrets before sending",
        "permission mirror webhook",
        "parse the configuration",
        "merkle tree checkpoint",
    ];
    let (rate, latencies, errors) = run(&opened, seconds, Some(pace), move |n| match n % 3 {
        0 => (
            "search_code",
            json!({"query": QUERIES[n % QUERIES.len()], "limit": 10}),
        ),
        1 => ("list_repositories", json!({})),
        _ => ("get_file_outline", json!({"repo": repo, "path": path})),
    })
    .await;
    println!(
        "{}",
        json!({
            "calls_per_s": rate,
            "answered": latencies.len(),
            "errors": errors,
            "p50_ms": p(&latencies, 0.5),
            "p99_ms": p(&latencies, 0.99),
        })
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--paced") {
        return paced(&args[2..]).await;
    }
    let (url, token, pid, questions) = (
        &args[1],
        &args[2],
        args[3].parse::<u32>().unwrap(),
        &args[4],
    );
    let queries: Arc<Vec<String>> = Arc::new(
        std::fs::read_to_string(questions)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v["question"].as_str().map(str::to_string))
            .collect(),
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let seconds = Duration::from_secs(
        std::env::var("MCP_LOAD_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(15),
    );

    let started_rss = rss_mib(pid);
    let mut sessions = Vec::new();
    for _ in 0..100 {
        sessions.push(Arc::new(open(&http, url, token).await));
    }
    // Warm up: the first call loads the repository graph (a few hundred ms), which is
    // start-up cost, not per-call latency.
    for (i, tool) in ["list_repositories", "search_code"].iter().enumerate() {
        sessions[0]
            .call(i as u64, tool, json!({"query": "warm up"}))
            .await
            .expect("warm-up call");
    }
    println!("| figure | target | measured |\n|---|---|---|");

    for (label, pace) in [
        ("each calling once a second", Some(Duration::from_secs(1))),
        (
            "each calling every 250 ms",
            Some(Duration::from_millis(250)),
        ),
        ("all calling back to back", None),
    ] {
        let q = queries.clone();
        let (rate, latencies, errors) = run(&sessions, seconds, pace, move |n| {
            ("search_code", json!({"query": q[n % q.len()], "limit": 10}))
        })
        .await;
        println!(
            "| `search_code`, 100 concurrent sessions {label}: p50 / p99 | p99 < 25 ms | **{:.1} / {:.1} ms** ({rate:.0} calls/s, {errors} errors) |",
            p(&latencies, 0.5),
            p(&latencies, 0.99)
        );
    }

    let q = queries.clone();
    let (rate, latencies, errors) = run(&sessions, seconds, None, move |n| match n % 4 {
        0 => ("search_code", json!({"query": q[n % q.len()], "limit": 5})),
        1 => ("list_repositories", json!({})),
        2 => ("get_file_outline", json!({"repo": "corpus", "path": "rust/tokio-1.54.1/src/time/sleep.rs"})),
        _ => ("read_source", json!({"repo": "corpus", "path": "rust/tokio-1.54.1/src/time/sleep.rs", "start": 1, "end": 40})),
    })
    .await;
    println!(
        "| tool calls/s, a mix of search, list, outline, read (100 sessions) | ≥ 2,000/s | **{rate:.0}/s** (p50 {:.1} ms, p99 {:.1} ms, {errors} errors) |",
        p(&latencies, 0.5),
        p(&latencies, 0.99)
    );

    let (rate, latencies, errors) = run(&sessions, seconds, None, |_| {
        ("list_repositories", json!({}))
    })
    .await;
    println!(
        "| tool calls/s, `list_repositories` only (the cheapest audited call) | ≥ 2,000/s | **{rate:.0}/s** (p99 {:.1} ms, {errors} errors) |",
        p(&latencies, 0.99)
    );

    let before = rss_mib(pid);
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(open(&http, url, token).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_mib(pid);
    println!(
        "| resident memory with 1,000 more sessions, 2 s after they opened | — | {after:.0} MiB ({before:.0} MiB before them after the load runs; {started_rss:.0} MiB when the generator started) |"
    );
    // Idle: past the server's `[server] mcp_session_idle` (MCP_IDLE_SECONDS, default
    // 60), plus time for the allocator to hand freed pages back (jemalloc's decay).
    let idle_seconds: u64 = std::env::var("MCP_IDLE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    tokio::time::sleep(Duration::from_secs(idle_seconds + 15)).await;
    let parked = rss_mib(pid);
    // Idle sessions are still sessions: every 20th answers a tool call with its id.
    let mut answered = 0;
    for (n, session) in idle.iter().enumerate().step_by(20) {
        if session
            .call(n as u64, "list_repositories", json!({}))
            .await
            .is_ok()
        {
            answered += 1;
        }
    }
    println!(
        "| resident memory with those 1,000 sessions idle for {}s (+ the 100 load sessions) | < 200 MB | **{parked:.0} MiB** ({answered}/50 of them sampled still answer a tool call) |",
        idle_seconds + 15
    );
    drop(idle);
}
