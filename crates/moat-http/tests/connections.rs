//! No client can stall the server by what it does not send: 500 half-sent header sets
//! and 500 silent connections are closed after the header timeout, and meanwhile
//! everyone else is answered at once; past the connection cap new clients wait to be
//! accepted instead of the process running out of descriptors.

use axum::Router;
use axum::routing::get;
use moat_http::server::{ConnectionLimits, serve_with};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(limits: ConnectionLimits) -> (String, tokio::sync::oneshot::Sender<()>) {
    let app = Router::new().route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_with(listener, app, limits, async {
        let _ = stopped.await;
    }));
    (address, stop)
}

/// Whether the server has closed `stream` (reads end) within `wait`.
async fn closed(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buffer = [0u8; 512];
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or similar before closing is fine; keep reading to the end.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn half_sent_headers_and_silent_connections_are_closed_and_others_served_meanwhile() {
    let (address, _stop) = start(ConnectionLimits {
        header_timeout: Duration::from_secs(1),
        max_connections: 5_000,
    })
    .await;
    let mut stalled = Vec::new();
    for n in 0..1000 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        if n % 2 == 0 {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ")
                .await
                .unwrap();
        }
        stalled.push(stream);
    }
    let http = reqwest::Client::new();
    let started = Instant::now();
    let answer = http
        .get(format!("http://{address}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "others wait: {:?}",
        started.elapsed()
    );
    // Every stalled connection is closed soon after the header timeout.
    let started = Instant::now();
    for stream in &mut stalled {
        assert!(closed(stream, Duration::from_secs(5)).await);
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // An idle keep-alive connection is closed after the same time.
    let mut idle = TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 256];
    let n = idle.read(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    assert!(closed(&mut idle, Duration::from_secs(5)).await);
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test]
async fn past_the_connection_cap_new_clients_wait_and_are_served_once_one_closes() {
    let (address, _stop) = start(ConnectionLimits {
        header_timeout: Duration::from_secs(2),
        max_connections: 10,
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(TcpStream::connect(&address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let http = reqwest::Client::new();
    // The eleventh waits in the backlog until a held connection is closed.
    let waiting = tokio::spawn({
        let http = http.clone();
        let url = format!("http://{address}/healthz");
        async move {
            let started = Instant::now();
            let status = http.get(url).send().await.unwrap().status();
            (status, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "served past the cap");
    held.pop();
    let (status, waited) = waiting.await.unwrap();
    assert_eq!(status, 200);
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
}
