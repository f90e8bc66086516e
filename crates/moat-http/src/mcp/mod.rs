//! `/mcp`: the Model Context Protocol over Streamable HTTP, with the official Rust SDK
//! (`rmcp`). This is how Claude Code, Cursor and VS Code reach the index.
//!
//! The route sits behind the same token layer as the API (scope `mcp`); the caller is
//! taken from the HTTP request parts rmcp hands to each tool. Every tool asks the
//! context service (access decided by Cedar, content shaped by tier, secrets
//! redacted), records one `mcp.call` audit event and only then answers, naming
//! `repo@commit`, the tier and the audit sequence number. Denials are tool results a
//! model can act on, not protocol errors.

mod render;
mod tools;

pub use tools::MoatMcp;

use crate::AppState;
use moat_service::{Access, AuditLog, RepoPolicy};
use std::sync::Arc;

/// What the MCP tools need, shared by every session.
pub struct McpContext {
    pub index: Arc<moat_index::CodeIndex>,
    pub repos: Vec<RepoPolicy>,
    pub detector: Arc<moat_dlp::Detector>,
    pub access: Arc<Access>,
    pub audit: Arc<AuditLog>,
    pub policy_version: String,
}

/// The `/mcp` service for axum: rmcp's Streamable HTTP transport with sessions.
///
/// Sessions unused for `idle` are parked: rmcp's per-session worker (tasks and
/// channels, ~60 KiB resident each) is dropped and only the client's `initialize`
/// parameters stay, in [`ParkedSessions`]; the next request with that session id
/// replays the handshake from them, so the client notices nothing.
pub fn service(
    context: Arc<McpContext>,
    allowed_hosts: Vec<String>,
    allowed_origins: Vec<String>,
    idle: std::time::Duration,
) -> rmcp::transport::streamable_http_server::StreamableHttpService<
    MoatMcp,
    rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
> {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };
    // Origin is always checked: with no allowed origins, a request that carries one
    // (a browser page) is refused; agents and CLIs send none.
    let mut config = StreamableHttpServerConfig::default().enforce_origin_validation();
    config.allowed_hosts = allowed_hosts;
    config.allowed_origins = allowed_origins;
    config.json_response = true;
    config.session_store = Some(Arc::new(ParkedSessions::default()));
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(idle);
    StreamableHttpService::new(
        move || Ok(MoatMcp::new(context.clone())),
        Arc::new(sessions),
        config,
    )
}

/// What parked MCP sessions keep: the client's `initialize` parameters (a few hundred
/// bytes), by session id, until the client ends the session with DELETE. At most
/// `MAX_PARKED`; past that the oldest are forgotten, and a client that comes back to
/// one gets 404 and initializes again, as the protocol provides.
#[derive(Default)]
pub struct ParkedSessions {
    inner: std::sync::Mutex<Parked>,
}

#[derive(Default)]
struct Parked {
    by_id: std::collections::HashMap<String, SessionState>,
    order: std::collections::VecDeque<String>,
}

/// Sessions kept at most (~1 KB each).
const MAX_PARKED: usize = 100_000;

use rmcp::transport::streamable_http_server::session::store::{
    SessionState, SessionStore, SessionStoreError,
};

#[async_trait::async_trait]
impl SessionStore for ParkedSessions {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let parked = self.inner.lock().map_err(|_| "parked sessions poisoned")?;
        Ok(parked.by_id.get(session_id).cloned())
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let mut parked = self.inner.lock().map_err(|_| "parked sessions poisoned")?;
        if parked
            .by_id
            .insert(session_id.to_string(), state.clone())
            .is_none()
        {
            parked.order.push_back(session_id.to_string());
        }
        while parked.by_id.len() > MAX_PARKED {
            let Some(oldest) = parked.order.pop_front() else {
                break;
            };
            parked.by_id.remove(&oldest);
        }
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        let mut parked = self.inner.lock().map_err(|_| "parked sessions poisoned")?;
        if parked.by_id.remove(session_id).is_some() {
            parked.order.retain(|id| id != session_id);
        }
        Ok(())
    }
}

/// RFC 9728 protected-resource metadata for `/mcp`.
pub fn resource_metadata(public_url: &str, issuer: Option<&str>) -> serde_json::Value {
    let mut metadata = serde_json::json!({
        "resource": format!("{}/mcp", public_url.trim_end_matches('/')),
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["mcp"],
        "resource_name": "Moat code context",
    });
    if let Some(issuer) = issuer {
        metadata["authorization_servers"] = serde_json::json!([issuer]);
    }
    metadata
}

impl AppState {
    /// Adds the MCP endpoint's context.
    pub fn with_mcp(mut self, mcp: Arc<McpContext>) -> AppState {
        self.mcp = Some(mcp);
        self
    }
}
