//! A local stand-in for the OpenAI and Anthropic HTTP APIs, for tests and benchmarks.
//!
//! Moat is a gateway in front of model vendors, but no machine that runs Moat's tests or
//! benchmarks can reach `api.openai.com` or `api.anthropic.com`. This crate serves, on
//! loopback, the slice of each vendor's documented wire format that the gateway relays,
//! answers at once with no model behind it, and records every request it receives so a
//! test can check what the gateway forwarded. The official Python SDKs (`openai`,
//! `anthropic`) parse every response it gives.
//!
//! # What it answers
//!
//! | Route | Vendor | Answer |
//! |---|---|---|
//! | `POST /v1/chat/completions` | OpenAI | chat completion, or SSE chunks ending in `[DONE]` |
//! | `GET /v1/models` | OpenAI | one model, `standin-model` |
//! | `POST /v1/embeddings` | OpenAI | one vector per input, derived from its bytes (float or base64) |
//! | `POST /v1/responses` | OpenAI | Responses API: a response, or its typed events ending in `response.completed`; `previous_response_id` must name a kept (`store`) response |
//! | `POST /openai/deployments/{d}/chat/completions`, `.../embeddings`, `POST /openai/responses` | Azure OpenAI | as OpenAI's; wants `?api-version=` and `api-key` (or a bearer token) |
//! | `POST /model/{id}/invoke`, `.../invoke-with-response-stream` | Amazon Bedrock | Anthropic's message, or event-stream frames of its events; checks the SigV4 signature against [`AWS_ACCESS_KEY_ID`] |
//! | `POST /token`, `POST /v1/projects/{p}/locations/{l}/publishers/anthropic/models/{m}:rawPredict` (`:streamRawPredict`) | Google (Vertex AI) | an access token for the test service account's signed JWT; Anthropic's message or SSE for a token it issued |
//! | `GET /computeMetadata/v1/instance/service-accounts/default/token` | Google (GCE/GKE metadata server) | an access token the Vertex routes take; wants `Metadata-Flavor: Google` |
//! | `POST /_aws/sts`, `GET /_aws/container-credentials` | AWS (STS `AssumeRoleWithWebIdentity`; ECS/EKS container credentials) | the Bedrock key pair with [`SESSION_TOKEN`], for [`WEB_IDENTITY_TOKEN`] / `Authorization:` [`CONTAINER_AUTHORIZATION_TOKEN`] |
//! | `POST /v1/messages` | Anthropic | message, or the SSE event sequence up to `message_stop` |
//! | `POST /v1/messages/count_tokens` | Anthropic | `{"input_tokens": N}` |
//! | `GET /_standin/requests` | stand-in | every recorded request, oldest first |
//! | `DELETE /_standin/requests` | stand-in | forget the recorded requests |
//!
//! The reply is `"echo: "` followed by the text of the last user message. Markers in that
//! text steer the answer: [`MARKER_FAIL_BEFORE`] (`STANDIN_FAIL_BEFORE`) gives a 500 in the
//! vendor's error format, [`MARKER_FAIL_MIDSTREAM`] cuts a stream off after its first
//! events (the connection drops with no terminator), and [`MARKER_TOOL`] turns the reply
//! into a call of the request's first tool with arguments `{"echo": <text>}`;
//! [`MARKER_WRITE_SECRET`] writes an AWS key and a PEM private key (as text, or as the
//! `content` of the tool call's arguments), streamed seven characters at a time. Usage counts
//! are a fixed estimate: a token per four bytes, rounded up, of the raw request body and of
//! the reply text (or tool arguments).
//!
//! OpenAI routes want `Authorization: Bearer <key>`; Anthropic routes want `x-api-key` (or
//! `Authorization: Bearer`, which the current Python SDK sends) and `anthropic-version`.
//! Any non-empty key passes. Requests are recorded before this check,
//! so a test can see what a rejected request carried.
//!
//! # Use
//!
//! In a Rust test, [`StandIn::spawn`] serves on `127.0.0.1:0` in a tokio task and stops
//! when the [`StandIn`] is dropped. Anything else runs the `standin-vendor` binary, reads
//! its one `listening on http://ADDR` line, and reads `GET /_standin/requests`.
//!
//! # Deliberately absent
//!
//! No model, no simulated latency, no rate limits, no request validation beyond "is this a
//! JSON object", no vendor features the gateway does not relay (images, audio, batches,
//! files). Recording keeps the newest [`Recorder::CAPACITY`] requests only, so a
//! benchmark cannot grow it without bound.

mod anthropic;
mod aws_roles;
mod azure;
mod bedrock;
mod converse;
mod embeddings;
mod gemini;
mod incoming;
mod openai;
mod recorder;
mod reply;
mod responses;
mod responses_check;
mod sse;
mod vertex;

pub use aws_roles::{CONTAINER_AUTHORIZATION_TOKEN, SESSION_TOKEN, WEB_IDENTITY_TOKEN};
pub use bedrock::{AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY};
pub use recorder::{Recorded, Recorder};
pub use reply::{
    MARKER_FAIL_BEFORE, MARKER_FAIL_MIDSTREAM, MARKER_MISNAMED_EVENT, MARKER_NO_USAGE,
    MARKER_SLOW_ANSWER, MARKER_SLOW_STREAM, MARKER_TOOL, MARKER_WRITE_CODE, MARKER_WRITE_SECRET,
    MARKER_WRITE_VULNERABLE, SECRET_PIECE_CHARS, SLOW_ANSWER_PAUSE, WRITTEN_AWS_KEY, WRITTEN_CODE,
    WRITTEN_PEM_KEY, WRITTEN_VULNERABLE_CODE, written_secrets,
};
pub use vertex::{SERVICE_ACCOUNT_EMAIL, service_account_key};

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use incoming::Incoming;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The largest request body accepted, well above any prompt a test sends.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The whole stand-in app: both vendors' routes and the `/_standin` control routes.
///
/// `state` is where requests are recorded; keep a clone to read them back.
pub fn router(state: Recorder) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/models", get(openai::list_models))
        .route("/v1/embeddings", post(embeddings::create))
        .route("/v1/responses", post(responses::create))
        .route("/openai/responses", post(azure::responses))
        .route("/token", post(vertex::token))
        .route(
            "/computeMetadata/v1/instance/service-accounts/default/token",
            get(vertex::metadata_token),
        )
        .route("/_aws/sts", post(aws_roles::sts))
        .route("/_aws/container-credentials", get(aws_roles::container))
        .route(
            "/v1/projects/{project}/locations/{location}/publishers/anthropic/models/{model}",
            post(vertex::predict),
        )
        .route(
            "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}",
            post(gemini::generate),
        )
        .route("/model/{model}/invoke", post(bedrock::invoke))
        .route("/model/{model}/converse", post(bedrock::invoke))
        .route("/model/{model}/converse-stream", post(bedrock::invoke))
        .route(
            "/model/{model}/invoke-with-response-stream",
            post(bedrock::invoke),
        )
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(azure::chat_completions),
        )
        .route(
            "/openai/deployments/{deployment}/embeddings",
            post(azure::embeddings),
        )
        .route("/v1/messages", post(anthropic::create_message))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route(
            "/_standin/requests",
            get(list_recorded).delete(clear_recorded),
        )
        .fallback(unknown_path)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// A running stand-in on a loopback port, stopped when dropped.
#[derive(Debug)]
pub struct StandIn {
    /// Base URL, `http://127.0.0.1:PORT`, with no trailing slash.
    pub url: String,
    /// The address the server listens on.
    pub addr: SocketAddr,
    recorder: Recorder,
    server: JoinHandle<()>,
}

impl StandIn {
    /// Binds `127.0.0.1:0` and serves in a tokio task; call from inside a tokio runtime.
    pub async fn spawn() -> std::io::Result<StandIn> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let recorder = Recorder::new();
        let app = router(recorder.clone());
        let server = tokio::spawn(async move {
            // `serve` only returns on an accept loop failure; the stand-in then stops
            // answering, which the test that started it will see as refused connections.
            let _ = axum::serve(listener, app).await;
        });
        Ok(StandIn {
            url: format!("http://{addr}"),
            addr,
            recorder,
            server,
        })
    }

    /// Every request received so far, in order (the newest [`Recorder::CAPACITY`]).
    pub fn requests(&self) -> Vec<Recorded> {
        self.recorder.snapshot()
    }

    /// Forgets the requests recorded so far.
    pub fn clear(&self) {
        self.recorder.clear();
    }

    /// The shared recording, for code that wants to hold it apart from the server.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// `GET /_standin/requests`: the recording as a JSON array, oldest first.
async fn list_recorded(State(recorder): State<Recorder>) -> Json<Vec<Recorded>> {
    Json(recorder.snapshot())
}

/// `DELETE /_standin/requests`: forget the recording.
async fn clear_recorded(State(recorder): State<Recorder>) -> StatusCode {
    recorder.clear();
    StatusCode::NO_CONTENT
}

/// Any other path: recorded, then a 404 in the format of the vendor the headers suggest.
async fn unknown_path(incoming: Incoming) -> Response {
    let message = format!("the stand-in does not serve {}", incoming.path);
    if incoming.headers.contains_key("anthropic-version") {
        anthropic::error(StatusCode::NOT_FOUND, "not_found_error", &message)
    } else {
        openai::error(StatusCode::NOT_FOUND, "invalid_request_error", &message)
    }
    .into_response()
}
