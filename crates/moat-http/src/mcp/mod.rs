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
pub fn service(
    context: Arc<McpContext>,
    allowed_hosts: Vec<String>,
    allowed_origins: Vec<String>,
) -> rmcp::transport::streamable_http_server::StreamableHttpService<
    MoatMcp,
    rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
> {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    // Origin is always checked: with no allowed origins, a request that carries one
    // (a browser page) is refused; agents and CLIs send none.
    let mut config = StreamableHttpServerConfig::default().enforce_origin_validation();
    config.allowed_hosts = allowed_hosts;
    config.allowed_origins = allowed_origins;
    config.json_response = true;
    StreamableHttpService::new(
        move || Ok(MoatMcp::new(context.clone())),
        Default::default(),
        config,
    )
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
