//! The accept loop: HTTP/1.1 connections served by hyper under limits no client can
//! talk its way around.
//!
//! - **Header timeout**: a connection has `header_timeout` to send a request's headers,
//!   and an idle keep-alive connection the same time to start its next request; a
//!   half-sent header set or a silent connection is closed then (hyper's header-read
//!   timer, which `axum::serve` leaves unset).
//! - **Connection cap**: at most `max_connections` at once; past it the listener
//!   stops accepting (new clients wait in the kernel's backlog) instead of the server
//!   running out of file descriptors.
//! - Bodies and handlers are bounded by the router's own limits (`limits.rs`, the
//!   gateway's body timeout and deadline).
//!
//! Shutdown stops accepting and waits for the requests in flight to finish.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// Limits on connections, whatever they send.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time to send a request's headers, and the longest a connection may sit idle
    /// between requests.
    pub header_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            max_connections: 10_000,
        }
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown`, then waits for the
/// requests in flight.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (_keep, apps) = tokio::sync::watch::channel(app);
    serve_swapping(listener, apps, limits, shutdown).await
}

/// As [`serve_with`], each request answered by the app `apps` holds when it arrives:
/// a new app sent there (a configuration swapped in) answers every request from then
/// on, on connections already open too; requests under way finish with the app that
/// took them.
pub async fn serve_swapping(
    listener: tokio::net::TcpListener,
    apps: tokio::sync::watch::Receiver<Router>,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or a connection reset before accept: wait a
                    // moment rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without TCP_NODELAY a response written in two parts (headers, then a
        // streamed body) waits for the client's delayed ACK: ~40 ms added to every MCP
        // call.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let apps = apps.clone();
        let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = apps.borrow().clone();
            app.oneshot(request)
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
