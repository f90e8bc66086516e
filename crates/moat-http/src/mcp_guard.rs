//! What `/mcp` checks around the SDK's transport, where rmcp's own answers fall short of
//! the protocol or of Moat's guarantees:
//!
//! - a body that is not JSON gets 400 with JSON-RPC error -32700 (rmcp answers 415), and
//!   JSON that is not a JSON-RPC message gets 400 with -32600;
//! - `DELETE` of a session answers 204 (rmcp answers 202, which the official Python SDK
//!   logs as "Session termination failed" on every close);
//! - a session id is bound to the caller that opened it (user and token): another
//!   token presenting it gets 404, as for an unknown session, so a leaked or guessed
//!   session id is worth nothing without the token that opened it.

use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Method, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use moat_service::Principal;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

const SESSION_HEADER: &str = "mcp-session-id";
/// Sessions whose owner is remembered (as many as parked sessions are kept); past this
/// the oldest binding is forgotten and that session answers 404, so its client opens a
/// new one: fail closed.
const MAX_BINDINGS: usize = 100_000;

/// Who opened each session: `user id` and `token id`. With a shared store the binding
/// is kept there too, so every node checks it; this process's copy is then a cache.
#[derive(Default)]
pub struct SessionOwners {
    inner: Mutex<Owners>,
    /// The store shared by the nodes, and the deployment's clock that stamps its rows.
    shared: Option<(Arc<dyn moat_store::Store>, Arc<moat_service::Access>)>,
}

#[derive(Default)]
struct Owners {
    by_session: HashMap<String, (String, String)>,
    order: VecDeque<String>,
}

impl SessionOwners {
    /// Records the opener; `false` when the shared store could not (the session is
    /// then not handed out: fail closed).
    async fn bind(&self, session: &str, owner: (String, String)) -> bool {
        if let Some((shared, access)) = &self.shared
            && let Err(error) = shared
                .mcp_session_bind(session, &owner.0, &owner.1, access.now())
                .await
        {
            tracing::warn!(%error, "cannot record who opened an MCP session");
            return false;
        }
        self.remember(session, owner);
        true
    }

    fn remember(&self, session: &str, owner: (String, String)) {
        let Ok(mut owners) = self.inner.lock() else {
            return;
        };
        if owners
            .by_session
            .insert(session.to_string(), owner)
            .is_none()
        {
            owners.order.push_back(session.to_string());
        }
        while owners.order.len() > MAX_BINDINGS {
            if let Some(oldest) = owners.order.pop_front() {
                owners.by_session.remove(&oldest);
            }
        }
    }

    /// Who opened `session`: this process's record, else the shared store's.
    async fn owner(&self, session: &str) -> Option<(String, String)> {
        let cached = self.inner.lock().ok()?.by_session.get(session).cloned();
        if cached.is_some() {
            return cached;
        }
        let owner = self
            .shared
            .as_ref()?
            .0
            .mcp_session(session)
            .await
            .ok()
            .flatten()?
            .owner?;
        self.remember(session, owner.clone());
        Some(owner)
    }

    fn forget(&self, session: &str) {
        if let Ok(mut owners) = self.inner.lock() {
            owners.by_session.remove(session);
            owners.order.retain(|s| s != session);
        }
    }
}

#[derive(Clone)]
pub struct Guard {
    pub owners: Arc<SessionOwners>,
    pub max_body_bytes: usize,
}

fn jsonrpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": {"code": code, "message": message},
        })
        .to_string(),
    )
        .into_response()
}

/// Runs inside the token layer: the caller is known.
pub async fn guard(State(guard): State<Guard>, request: Request<Body>, next: Next) -> Response {
    let owner = request
        .extensions()
        .get::<Principal>()
        .map(|p| (p.user.id.0.clone(), p.token_id.0.clone()));
    let Some(owner) = owner else {
        return jsonrpc_error(StatusCode::UNAUTHORIZED, -32001, "no authenticated caller");
    };
    let session = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(session) = &session
        && guard.owners.owner(session).await.as_ref() != Some(&owner)
    {
        return jsonrpc_error(
            StatusCode::NOT_FOUND,
            -32001,
            "session not found for this token; initialize a new session",
        );
    }
    let method = request.method().clone();
    let request = if method == Method::POST {
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, guard.max_body_bytes).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return jsonrpc_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    -32600,
                    "the request body is too large or could not be read",
                );
            }
        };
        if let Some(refusal) = malformed(&bytes) {
            return refusal;
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        request
    };
    let mut response = next.run(request).await;
    match (&method, &session) {
        (&Method::DELETE, Some(session)) if response.status().is_success() => {
            guard.owners.forget(session);
            *response.status_mut() = StatusCode::NO_CONTENT;
        }
        (&Method::POST, None) => {
            if let Some(opened) = response
                .headers()
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
                && !guard.owners.bind(opened, owner).await
            {
                return jsonrpc_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    -32001,
                    "the session could not be recorded; retry",
                );
            }
        }
        _ => {}
    }
    response
}

/// 400 for a body that is not JSON (-32700) or not a JSON-RPC message (-32600).
fn malformed(bytes: &Bytes) -> Option<Response> {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(e) => {
            return Some(jsonrpc_error(
                StatusCode::BAD_REQUEST,
                -32700,
                &format!("parse error: the body is not JSON ({e})"),
            ));
        }
    };
    if serde_json::from_value::<rmcp::model::ClientJsonRpcMessage>(value).is_err() {
        return Some(jsonrpc_error(
            StatusCode::BAD_REQUEST,
            -32600,
            "invalid request: the body is JSON but not a JSON-RPC request, notification or response an MCP client sends",
        ));
    }
    None
}

impl AppState {
    pub(crate) fn mcp_guard(&self) -> Guard {
        Guard {
            owners: Arc::new(SessionOwners {
                inner: Default::default(),
                shared: self
                    .mcp
                    .as_ref()
                    .and_then(|m| Some((m.sessions.clone()?, m.access.clone()))),
            }),
            max_body_bytes: self.settings.max_body_bytes,
        }
    }
}
