//! Server-sent event bodies, complete or cut off part way.
//!
//! Each frame is sent as its own chunk of a chunked response. A cut-off stream sends its
//! first frames, pauses so they reach the client, then makes the body fail; hyper then
//! drops the connection without the terminating chunk, which is what a vendor outage in
//! the middle of an answer looks like to the gateway.

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream;
use serde_json::Value;
use std::io;
use std::time::Duration;

/// How long a cut-off stream waits after its last frame, so the frame is flushed first.
const PAUSE_BEFORE_ABORT: Duration = Duration::from_millis(20);

/// How an event stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Every frame is sent and the body ends properly.
    Complete,
    /// Only the first `n` frames are sent, then the connection is dropped.
    AbortAfter(usize),
    /// Every frame is sent, each after this pause: a long answer, to hold streams open.
    Paced(Duration),
}

/// The pause between frames of a [`crate::MARKER_SLOW_STREAM`] answer.
pub(crate) const SLOW_STREAM_PAUSE: Duration = Duration::from_millis(500);

/// An unnamed event: `data: <json>`, as OpenAI sends.
pub(crate) fn data_frame(data: &Value) -> String {
    format!("data: {data}\n\n")
}

/// A named event: `event: <name>` then `data: <json>`, as Anthropic sends.
pub(crate) fn named_frame(event: &str, data: &Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// A `200 text/event-stream` response sending `frames`, ended as `ending` says.
pub(crate) fn event_stream(mut frames: Vec<String>, ending: Ending) -> Response {
    let body = match ending {
        Ending::Complete => {
            Body::from_stream(stream::iter(frames.into_iter().map(Ok::<_, io::Error>)))
        }
        Ending::Paced(pause) => {
            Body::from_stream(stream::iter(frames).then(move |frame| async move {
                tokio::time::sleep(pause).await;
                Ok::<_, io::Error>(frame)
            }))
        }
        Ending::AbortAfter(sent) => {
            frames.truncate(sent);
            let failure = stream::once(async {
                tokio::time::sleep(PAUSE_BEFORE_ABORT).await;
                Err(io::Error::other(
                    "the stand-in cut this stream off, as STANDIN_FAIL_MIDSTREAM asked",
                ))
            });
            Body::from_stream(stream::iter(frames.into_iter().map(Ok)).chain(failure))
        }
    };
    (
        [
            (CONTENT_TYPE, "text/event-stream"),
            (CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
