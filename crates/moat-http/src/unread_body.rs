//! A request body the handler did not read must not cost the client its connection.
//!
//! A refusal (401 before the token is read, 413 on a declared length, 429) answers
//! without reading the body. If its bytes have not all arrived by the time hyper
//! looks, hyper gives up keep-alive and closes the connection *after* writing a
//! response that announced nothing, so a client that reuses the connection at once,
//! as every HTTP client does after a 401 on its way to sign in, writes its next
//! request into a closing socket and gets "server disconnected without sending a
//! response". [`finish`] settles the body before the response leaves: a small one
//! (declared length ≤ [`DRAIN_LIMIT`]) is read to its end for up to [`DRAIN_TIME`];
//! anything else (larger, unknown length, `Expect: 100-continue`, too slow) gets
//! `Connection: close` on the response, so the client knows not to reuse it.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

/// The largest unread body read to its end rather than closing the connection.
pub const DRAIN_LIMIT: u64 = 64 * 1024;
/// How long the rest of such a body may take to arrive.
pub const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Where a body dropped before its end is left for [`finish`].
type Left = Arc<Mutex<Option<Body>>>;

/// The request body as the handler sees it; dropped before its end, it hands what is
/// left back.
struct Returning {
    inner: Option<Body>,
    left: Left,
}

impl HttpBody for Returning {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.get_mut().inner.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        if let Some(body) = self.inner.take()
            && !body.is_end_stream()
        {
            *self.left.lock().unwrap_or_else(PoisonError::into_inner) = Some(body);
        }
    }
}

/// Middleware: the handler's response, once the request body it left unread has been
/// read to its end or the response says the connection closes.
pub async fn finish(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Reading a body the client is waiting to be asked for would send it a 100
    // Continue for a request already answered.
    let expects = headers.contains_key(header::EXPECT);
    let drainable = !expects && declared.is_some_and(|length| length <= DRAIN_LIMIT);
    let left = Left::default();
    let request = request.map(|body| {
        Body::new(Returning {
            inner: Some(body),
            left: left.clone(),
        })
    });
    let mut response = next.run(request).await;
    let unread = left.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(unread) = unread {
        let drained = drainable
            && matches!(
                tokio::time::timeout(
                    DRAIN_TIME,
                    axum::body::to_bytes(unread, DRAIN_LIMIT as usize)
                )
                .await,
                Ok(Ok(_))
            );
        if !drained {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    response
}
