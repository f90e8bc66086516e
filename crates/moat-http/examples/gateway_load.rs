//! Load generator for the LLM gateway benchmark (`bench/gateway/run`): a separate
//! process sending Chat Completions or Messages requests at a fixed rate (open loop:
//! a late answer does not slow the sending), and printing one JSON line of results.
//!
//! ```text
//! gateway_load --url URL --token T --format openai|anthropic --model M
//!              [--rate 2000] [--seconds 10] [--prompt-file F] [--prompt-bytes 4096]
//!              [--stream] [--hold N] [--append TEXT]
//! ```
//! `--append TEXT` ends the prompt with TEXT (the stand-in's markers, e.g.
//! `STANDIN_WRITE_CODE` for an answer with a code block).
//! `--hold N` opens N slow streams at once instead (the stand-in paces them) and
//! reports how many completed.

use std::time::{Duration, Instant};

struct Args {
    url: String,
    token: String,
    anthropic: bool,
    model: String,
    rate: f64,
    seconds: f64,
    prompt: String,
    stream: bool,
    hold: usize,
}

fn parse() -> Args {
    let mut args = Args {
        url: String::new(),
        token: String::new(),
        anthropic: false,
        model: String::new(),
        rate: 2000.0,
        seconds: 10.0,
        prompt: String::new(),
        stream: false,
        hold: 0,
    };
    let mut prompt_file = None;
    let mut prompt_bytes = 4096;
    let mut append = String::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => args.url = value(),
            "--token" => args.token = value(),
            "--format" => args.anthropic = value() == "anthropic",
            "--model" => args.model = value(),
            "--rate" => args.rate = value().parse().expect("--rate"),
            "--seconds" => args.seconds = value().parse().expect("--seconds"),
            "--prompt-file" => prompt_file = Some(value()),
            "--prompt-bytes" => prompt_bytes = value().parse().expect("--prompt-bytes"),
            "--stream" => args.stream = true,
            "--hold" => args.hold = value().parse().expect("--hold"),
            "--append" => append = value(),
            other => panic!("unknown flag {other}"),
        }
    }
    let text = match prompt_file {
        Some(path) => std::fs::read_to_string(path).expect("prompt file"),
        None => "fn example() { let x = 1; }\n".repeat(200),
    };
    let mut cut = prompt_bytes.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    args.prompt = format!("{}{append}", &text[..cut]);
    args
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One request: (total ms, first byte ms, ok).
async fn one(client: &reqwest::Client, args: &Args, n: u64, extra: &str) -> (f64, f64, bool) {
    let text = format!("request {n}{extra}\n{}", args.prompt);
    let body = if args.anthropic {
        serde_json::json!({"model": args.model, "max_tokens": 256, "stream": args.stream,
            "messages": [{"role": "user", "content": text}]})
    } else {
        serde_json::json!({"model": args.model, "stream": args.stream,
            "messages": [{"role": "user", "content": text}]})
    };
    let path = if args.anthropic {
        "/v1/messages"
    } else {
        "/v1/chat/completions"
    };
    let started = Instant::now();
    let mut request = client.post(format!("{}{path}", args.url)).json(&body);
    request = if args.anthropic {
        request
            .header("x-api-key", &args.token)
            .header("anthropic-version", "2023-06-01")
    } else {
        request.bearer_auth(&args.token)
    };
    let Ok(mut response) = request.send().await else {
        return (ms(started), ms(started), false);
    };
    let ok = response.status().is_success();
    let mut first = None;
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                first.get_or_insert_with(|| ms(started));
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(_) => return (ms(started), first.unwrap_or(0.0), false),
        }
    }
    let complete = !args.stream
        || body.ends_with(b"data: [DONE]\n\n")
        || body.windows(12).any(|w| w == b"message_stop");
    (
        ms(started),
        first.unwrap_or_else(|| ms(started)),
        ok && complete,
    )
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

async fn run(args: &'static Args) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .tcp_nodelay(true)
        .build()
        .unwrap();
    if args.hold > 0 {
        let started = Instant::now();
        let tasks: Vec<_> = (0..args.hold as u64)
            .map(|n| {
                let client = client.clone();
                tokio::spawn(async move { one(&client, args, n, " STANDIN_SLOW_STREAM").await })
            })
            .collect();
        let mut completed = 0;
        let mut longest: f64 = 0.0;
        for task in tasks {
            let (total, _, ok) = task.await.unwrap();
            completed += ok as usize;
            longest = longest.max(total);
        }
        println!(
            "{}",
            serde_json::json!({"held": args.hold, "completed": completed,
                "longest_ms": longest, "wall_ms": ms(started)})
        );
        return;
    }
    // Warm the connection pool and the server's caches first.
    for n in 0..50 {
        one(&client, args, n, "").await;
    }
    let total = (args.rate * args.seconds) as u64;
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        ticker.tick().await;
        let client = client.clone();
        tasks.push(tokio::spawn(async move { one(&client, args, n, "").await }));
    }
    let sent_in = started.elapsed().as_secs_f64();
    let mut totals = Vec::with_capacity(tasks.len());
    let mut firsts = Vec::with_capacity(tasks.len());
    let mut errors = 0;
    for task in tasks {
        let (total, first, ok) = task.await.unwrap();
        if ok {
            totals.push(total);
            firsts.push(first);
        } else {
            errors += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    totals.sort_by(f64::total_cmp);
    firsts.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({
            "requests": total, "ok": totals.len(), "errors": errors,
            "offered_rate": args.rate, "sent_rate": total as f64 / sent_in,
            "completed_rate": totals.len() as f64 / elapsed,
            "p50_ms": percentile(&totals, 0.5), "p90_ms": percentile(&totals, 0.9),
            "p99_ms": percentile(&totals, 0.99), "max_ms": totals.last().copied().unwrap_or(0.0),
            "ttfb_p50_ms": percentile(&firsts, 0.5), "ttfb_p99_ms": percentile(&firsts, 0.99),
        })
    );
}

fn main() {
    let args: &'static Args = Box::leak(Box::new(parse()));
    // Two worker threads: enough to offer 2,000 requests/s without becoming the
    // bottleneck, few enough to leave the server its share of a 2-core machine.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(args));
}
