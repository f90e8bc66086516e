//! The floor under the gateway's added latency (`bench/gateway/run`): a reverse proxy
//! that does nothing but forward each request to the stand-in vendor and answer with
//! what came back, with the same HTTP stack as the gateway (axum in, a pooled reqwest
//! client out). With `--fsync FILE` it also appends each answer to FILE and waits for
//! `fdatasync` before answering, as the gateway waits for its audit event to be durable,
//! with the same group commit: one thread writes whatever answers are waiting and syncs
//! once for all of them. With `--durable-before` too, it also makes each request durable
//! the same way before forwarding it, as the gateway records `gateway.requested` before
//! a vendor sees a byte: the floor under two durable events per request. No auth, no
//! DLP, no fingerprints, no hashing, no SQLite: whatever it adds, Moat cannot add less.
//!
//! ```text
//! null_proxy --upstream http://127.0.0.1:PORT [--fsync FILE [--durable-before]]
//! ```
//! Prints `listening on http://ADDR` once ready.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use std::io::Write;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

type Durable = oneshot::Sender<std::io::Result<()>>;

struct Proxy {
    upstream: String,
    client: reqwest::Client,
    log: Option<mpsc::UnboundedSender<(Bytes, Durable)>>,
    /// Make the request durable before forwarding it, too.
    durable_before: bool,
}

impl Proxy {
    async fn durable(&self, record: Bytes) -> bool {
        let Some(log) = &self.log else {
            return true;
        };
        let (durable, written) = oneshot::channel();
        log.send((record, durable)).is_ok() && matches!(written.await, Ok(Ok(())))
    }
}

/// The group commit: take the first waiting answer and every one behind it, write them,
/// sync once, release them all.
fn commit_loop(mut file: std::fs::File, mut waiting: mpsc::UnboundedReceiver<(Bytes, Durable)>) {
    while let Some(first) = waiting.blocking_recv() {
        let mut batch = vec![first];
        while let Ok(next) = waiting.try_recv() {
            batch.push(next);
        }
        let mut result = Ok(());
        for (record, _) in &batch {
            if result.is_ok() {
                result = file.write_all(record);
            }
        }
        if result.is_ok() {
            result = file.sync_data();
        }
        for (_, reply) in batch {
            let _ = reply.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            });
        }
    }
}

#[tokio::main]
async fn main() {
    let mut upstream = None;
    let mut fsync = None;
    let mut durable_before = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--upstream" => upstream = args.next(),
            "--fsync" => fsync = args.next(),
            "--durable-before" => durable_before = true,
            other => panic!(
                "unknown argument {other}; usage: null_proxy --upstream URL [--fsync FILE [--durable-before]]"
            ),
        }
    }
    let upstream = upstream.expect("--upstream URL is required");
    let log = fsync.map(|path| {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
        let (sender, receiver) = mpsc::unbounded_channel();
        std::thread::spawn(move || commit_loop(file, receiver));
        sender
    });
    let proxy = Arc::new(Proxy {
        upstream: upstream.trim_end_matches('/').to_string(),
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()
            .expect("HTTP client"),
        log,
        durable_before,
    });
    let app = axum::Router::new()
        .fallback(axum::routing::post(forward))
        .with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    println!(
        "listening on http://{}",
        listener.local_addr().expect("address")
    );
    std::io::stdout().flush().expect("stdout");
    axum::serve(listener, app).await.expect("serves");
}

async fn forward(
    State(proxy): State<Arc<Proxy>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    if proxy.durable_before && !proxy.durable(body.clone()).await {
        return (StatusCode::SERVICE_UNAVAILABLE, "log write failed").into_response();
    }
    let mut request = proxy
        .client
        .post(format!("{}{}", proxy.upstream, uri.path()))
        .body(body);
    for name in [
        "authorization",
        "x-api-key",
        "anthropic-version",
        "content-type",
    ] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::OK);
    let answer = match response.bytes().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    if !proxy.durable(answer.clone()).await {
        return (StatusCode::INTERNAL_SERVER_ERROR, "log write failed").into_response();
    }
    (status, [("content-type", "application/json")], answer).into_response()
}
