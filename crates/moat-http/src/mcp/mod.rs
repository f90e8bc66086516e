//! `/mcp`: the Model Context Protocol over Streamable HTTP, with the official Rust SDK
//! (`rmcp`). This is how Claude Code, Cursor and VS Code reach the index.
//!
//! The route sits behind the same token layer as the API (scope `mcp`); the caller is
//! taken from the HTTP request parts rmcp hands to each tool. Every tool asks the
//! context service (access decided by Cedar, content shaped by tier, secrets
//! redacted), records one `mcp.call` audit event and only then answers, naming
//! `repo@commit`, the tier and the audit sequence number. Denials are tool results a
//! model can act on, not protocol errors.

mod args;
mod call;
mod output_schemas;
mod render;
mod tools;

pub use tools::MoatMcp;

use crate::AppState;
use moat_service::{Access, AuditLog, RepoPolicy};
use rmcp::transport::streamable_http_server::session::store::{
    SessionState, SessionStore, SessionStoreError,
};
use std::sync::Arc;

/// What the MCP tools need, shared by every session.
pub struct McpContext {
    pub index: Arc<moat_index::CodeIndex>,
    pub repos: Vec<RepoPolicy>,
    pub detector: Arc<moat_dlp::Detector>,
    /// The detector's findings per blob, shared by every call.
    pub findings: Arc<moat_service::FindingsCache>,
    pub access: Arc<Access>,
    pub audit: Arc<AuditLog>,
    pub policy_version: String,
    /// Where sessions are kept for every node (and across restarts): who opened each
    /// and its `initialize` parameters. `None`: in this process only.
    pub sessions: Option<Arc<dyn moat_store::Store>>,
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
    telemetry: moat_service::Telemetry,
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
    config.session_store = Some(Arc::new(ParkedSessions {
        inner: Default::default(),
        shared: context.sessions.clone(),
        access: context.access.clone(),
    }));
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(idle);
    let slots = tools::tool_slots();
    StreamableHttpService::new(
        move || {
            Ok(MoatMcp::new(
                context.clone(),
                slots.clone(),
                telemetry.clone(),
            ))
        },
        Arc::new(sessions),
        config,
    )
}

/// What parked MCP sessions keep: the client's `initialize` parameters (a few hundred
/// bytes), by session id, until the client ends the session with DELETE. Bounded: at
/// most `MAX_PARKED` sessions and `MAX_PARKED_BYTES` in all, the oldest forgotten first;
/// parameters over `MAX_ONE_BYTES` are not kept. A client that comes back to a forgotten
/// session gets 404 and initializes again, as the protocol provides.
///
/// With a shared store the parameters are also kept there, so another node (or this
/// one after a restart) resumes the session; this process's copy is then a cache.
pub struct ParkedSessions {
    inner: std::sync::Mutex<Parked>,
    shared: Option<Arc<dyn moat_store::Store>>,
    /// Whose clock stamps the shared rows (the deployment's injected one).
    access: Arc<moat_service::Access>,
}

#[derive(Default)]
struct Parked {
    /// Each session's parameters and their size.
    by_id: std::collections::HashMap<String, (SessionState, usize)>,
    /// Ids in the order they were kept; ids since deleted are skipped when reached.
    order: std::collections::VecDeque<String>,
    bytes: usize,
}

const MAX_PARKED: usize = 100_000;
const MAX_PARKED_BYTES: usize = 32 << 20;
const MAX_ONE_BYTES: usize = 16 << 10;

impl Parked {
    fn keep(&mut self, session_id: &str, state: &SessionState) {
        let size = serde_json::to_vec(state).map_or(usize::MAX, |json| json.len());
        if size > MAX_ONE_BYTES {
            return;
        }
        match self
            .by_id
            .insert(session_id.to_string(), (state.clone(), size))
        {
            Some((_, old)) => self.bytes -= old,
            None => self.order.push_back(session_id.to_string()),
        }
        self.bytes += size;
        while self.by_id.len() > MAX_PARKED || self.bytes > MAX_PARKED_BYTES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some((_, size)) = self.by_id.remove(&oldest) {
                self.bytes -= size;
            }
        }
        // Deleted ids are left in `order`; drop them once they are most of it.
        if self.order.len() > 2 * self.by_id.len() + 1024 {
            let by_id = &self.by_id;
            self.order.retain(|id| by_id.contains_key(id));
        }
    }

    fn forget(&mut self, session_id: &str) {
        if let Some((_, size)) = self.by_id.remove(session_id) {
            self.bytes -= size;
        }
    }
}

#[async_trait::async_trait]
impl SessionStore for ParkedSessions {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        if let Some(state) = self
            .inner
            .lock()
            .map_err(|_| "parked sessions poisoned")?
            .by_id
            .get(session_id)
            .map(|(state, _)| state.clone())
        {
            return Ok(Some(state));
        }
        let Some(shared) = &self.shared else {
            return Ok(None);
        };
        let Some(json) = shared
            .mcp_session(session_id)
            .await
            .map_err(|e| e.to_string())?
            .and_then(|s| s.state)
        else {
            return Ok(None);
        };
        let state: SessionState = serde_json::from_str(&json).map_err(|e| e.to_string())?;
        self.inner
            .lock()
            .map_err(|_| "parked sessions poisoned")?
            .keep(session_id, &state);
        Ok(Some(state))
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        if let Some(shared) = &self.shared {
            let json = serde_json::to_string(state).map_err(|e| e.to_string())?;
            shared
                .mcp_session_keep(session_id, &json, self.access.now())
                .await
                .map_err(|e| e.to_string())?;
        }
        let mut parked = self.inner.lock().map_err(|_| "parked sessions poisoned")?;
        parked.keep(session_id, state);
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        if let Some(shared) = &self.shared {
            shared
                .mcp_session_delete(session_id)
                .await
                .map_err(|e| e.to_string())?;
        }
        let mut parked = self.inner.lock().map_err(|_| "parked sessions poisoned")?;
        parked.forget(session_id);
        Ok(())
    }
}

/// RFC 9728 protected-resource metadata for `/mcp`.
pub fn resource_metadata(public_url: &str, issuer: Option<&str>) -> serde_json::Value {
    protected_resource(public_url, moat_domain::Audience::Mcp, issuer)
}

/// RFC 9728 metadata for one of Moat's resources (`/mcp`, `/v1`), naming `issuer` as
/// the authorization server.
pub fn protected_resource(
    public_url: &str,
    audience: moat_domain::Audience,
    issuer: Option<&str>,
) -> serde_json::Value {
    let (scope, name) = match audience {
        moat_domain::Audience::Mcp => ("mcp", "Moat code context"),
        moat_domain::Audience::Gateway => ("gateway", "Moat LLM gateway"),
    };
    let mut metadata = serde_json::json!({
        "resource": format!("{}{}", public_url.trim_end_matches('/'), audience.path()),
        "bearer_methods_supported": ["header"],
        "scopes_supported": [scope],
        "resource_name": name,
    });
    if let Some(issuer) = issuer {
        metadata["authorization_servers"] = serde_json::json!([issuer]);
    }
    metadata
}

impl AppState {
    /// Adds the MCP endpoint's context.
    pub fn with_mcp(mut self, mcp: Arc<McpContext>) -> AppState {
        self.parts().mcp = Some(mcp);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{ClientCapabilities, Implementation, InitializeRequestParams};

    fn state(name: &str) -> SessionState {
        SessionState::new(InitializeRequestParams::new(
            ClientCapabilities::default(),
            Implementation::new(name, "1"),
        ))
    }

    #[test]
    fn parked_sessions_stay_within_their_bounds() {
        let mut parked = Parked::default();
        for n in 0..MAX_PARKED + 10 {
            parked.keep(&format!("s{n}"), &state("client"));
        }
        assert_eq!(parked.by_id.len(), MAX_PARKED);
        assert!(!parked.by_id.contains_key("s0"), "the oldest go first");
        assert!(parked.by_id.contains_key(&format!("s{}", MAX_PARKED + 9)));
        assert!(parked.bytes <= MAX_PARKED_BYTES);
        // Huge parameters are not kept at all.
        parked.keep("huge", &state(&"x".repeat(MAX_ONE_BYTES)));
        assert!(!parked.by_id.contains_key("huge"));
        // Ended sessions are forgotten, and their ids do not pile up in the order.
        for n in 0..MAX_PARKED + 10 {
            parked.forget(&format!("s{n}"));
        }
        assert!(parked.by_id.is_empty() && parked.bytes == 0);
        for n in 0..2_000 {
            parked.keep(&format!("t{n}"), &state("client"));
            parked.forget(&format!("t{n}"));
        }
        assert!(parked.order.len() <= 2 * parked.by_id.len() + 1025);
    }
}
