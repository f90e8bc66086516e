//! Moat's one HTTP listener: the routers and the layers every request passes through.
//!
//! Handlers are thin: extract, call one service function, map the result. Wire types
//! (JSON shapes, OpenAPI schemas) live here, next to the routes that speak them; the
//! services below know nothing of HTTP. [`router`] builds the whole app so tests can
//! drive it without a socket, and [`serve`] runs it with graceful shutdown.
//!
//! Layers, outermost first: tracing, JSON-ified error bodies, panic catcher, metrics,
//! request time limit, body size limit. Authentication is a per-router layer naming the
//! scope that router needs ([`auth::require`]).

pub mod api;
mod auth;
mod console;
mod docs;
mod error;
pub mod gateway;
mod health;
mod limits;
pub mod mcp;
mod mcp_guard;
mod mcp_routes;
mod metrics;
pub mod oauth;
pub mod scim;
pub mod server;
mod trace;
mod unread_body;
mod webhooks;

pub use error::ApiError;
pub use metrics::HttpCounters;

use axum::Router;
use moat_service::{AuditLog, Identity};
use std::sync::Arc;
use std::time::Duration;

/// What the HTTP layer needs to know about the deployment.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The URL clients use (for OAuth metadata); default: from the request's Host.
    pub public_url: Option<String>,
    /// OIDC issuer named as the authorization server in the MCP metadata.
    pub oidc_issuer: Option<String>,
    /// Hosts the MCP endpoint answers for (DNS-rebinding protection).
    pub mcp_allowed_hosts: Vec<String>,
    /// Browser origins allowed to call the MCP endpoint.
    pub mcp_allowed_origins: Vec<String>,
    /// An MCP session unused this long is parked (see `mcp::service`).
    pub mcp_session_idle: Duration,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// The policy version in force, reported by `/healthz`.
    pub policy_version: String,
}

/// Shared by every handler: the services and settings, nothing else. Each request
/// clones it (axum hands every handler and middleware its own copy), so it is one
/// shared pointer; its parts are read through it.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Clone)]
pub struct AppParts {
    pub identity: Arc<Identity>,
    pub audit: Arc<AuditLog>,
    pub settings: Arc<HttpSettings>,
    /// The authorisation service; without it access endpoints answer 503.
    pub access: Option<Arc<moat_service::Access>>,
    /// The MCP endpoint's context; without it `/mcp` answers 404.
    pub mcp: Option<Arc<mcp::McpContext>>,
    /// Repository-host webhooks; without them `/webhooks/*` answer 404.
    pub webhooks: Option<Arc<moat_service::webhooks::Webhooks>>,
    /// The LLM gateway; without it `/v1/*` answer 404 in the caller's wire format.
    pub gateway: Option<Arc<gateway::GatewayContext>>,
    /// The OAuth authorization server; without it `/oauth/*` answer 404 and the
    /// resource metadata names the identity provider, if any.
    pub oauth: Option<Arc<moat_service::oauth::OAuthServer>>,
    /// SCIM provisioning; without it `/scim/v2/*` answer 404.
    pub scim: Option<Arc<scim::ScimEndpoint>>,
    /// Linking host logins by signing in to the host; without it `/oauth/host/*` 404.
    pub host_sign_in: Option<Arc<moat_service::host_sign_in::HostSignIn>>,
    /// Counts refused authentications for the record; without it they are only logged.
    pub refusals: Option<Arc<moat_service::audit::refusals::Refusals>>,
    /// Reading the audit log (`/api/v1/audit/*`); without it those answer 503.
    pub audit_reading: Option<Arc<AuditReading>>,
    /// The sensitive-data rules in force, explained at `/docs/rules`.
    pub rule_docs: Arc<Vec<moat_dlp::describe::RuleDoc>>,
    /// The MCP endpoint's and the gateway's instruments, served at `/metrics`.
    pub telemetry: moat_service::Telemetry,
    /// Audit sinks whose lag, deliveries and failures `/metrics` reports.
    pub audit_sinks: Vec<Arc<moat_service::audit::sinks::SinkStatus>>,
    /// What `/readyz` checks; without it the node never reports ready.
    pub readiness: Option<Arc<moat_service::readiness::Readiness>>,
    /// HTTP request counters, shared with the apps this process served before.
    pub http_counters: HttpCounters,
    /// The security team's console; without it `/console` says it is not served here.
    pub console: Option<Arc<moat_service::console::Console>>,
    /// `[exceptions]`: how long an exception may last and how fast it is reviewed.
    pub exception_rules: moat_service::exceptions::ExceptionRules,
    /// `[incidents]` and the vendor register's breach-notification windows.
    pub incident_rules: Arc<moat_service::incidents::IncidentRules>,
    metrics: metrics::Metrics,
}

/// What reading and verifying the audit log needs: the store that holds it, the public
/// keys that sign its checkpoints and the witness files that hold copies of them.
pub struct AuditReading {
    pub store: Arc<dyn moat_store::Store>,
    pub keys: Vec<moat_audit::checkpoint::VerifierKey>,
    pub witness_files: Vec<std::path::PathBuf>,
}

impl AppState {
    /// The admin use cases, recorded in the audit log.
    pub fn admin(&self) -> moat_service::Admin<'_> {
        moat_service::Admin {
            identity: &self.identity,
            audit: &self.audit,
            policy_version: &self.settings.policy_version,
        }
    }

    pub fn new(identity: Arc<Identity>, audit: Arc<AuditLog>, settings: HttpSettings) -> AppState {
        AppState(Arc::new(AppParts {
            identity,
            audit,
            settings: Arc::new(settings),
            access: None,
            webhooks: None,
            mcp: None,
            gateway: None,
            oauth: None,
            scim: None,
            host_sign_in: None,
            audit_reading: None,
            refusals: None,
            readiness: None,
            rule_docs: Arc::new(moat_dlp::describe::all_builtin()),
            telemetry: moat_service::Telemetry::default(),
            audit_sinks: Vec::new(),
            http_counters: HttpCounters::default(),
            console: None,
            exception_rules: moat_service::exceptions::ExceptionRules::default(),
            incident_rules: Arc::new(moat_service::incidents::IncidentRules::standard()),
            metrics: metrics::Metrics::new(),
        }))
    }

    /// The parts, to set while the state is being built (copied first if it is
    /// already shared).
    pub(crate) fn parts(&mut self) -> &mut AppParts {
        Arc::make_mut(&mut self.0)
    }

    /// Counts HTTP requests into `counters` (shared with earlier apps of this process).
    pub fn with_http_counters(mut self, counters: HttpCounters) -> AppState {
        self.parts().http_counters = counters;
        self
    }

    /// Sets `[exceptions]` (the defaults otherwise).
    pub fn with_exception_rules(
        mut self,
        rules: moat_service::exceptions::ExceptionRules,
    ) -> AppState {
        self.parts().exception_rules = rules;
        self
    }

    /// Sets the incidents' deadlines (`[incidents]`' defaults otherwise).
    pub fn with_incident_rules(
        mut self,
        rules: moat_service::incidents::IncidentRules,
    ) -> AppState {
        self.parts().incident_rules = Arc::new(rules);
        self
    }

    /// Adds repository-host webhooks.
    pub fn with_webhooks(mut self, webhooks: Arc<moat_service::webhooks::Webhooks>) -> AppState {
        self.parts().webhooks = Some(webhooks);
        self
    }

    /// Adds the LLM gateway.
    pub fn with_gateway(mut self, gateway: Arc<gateway::GatewayContext>) -> AppState {
        self.parts().gateway = Some(gateway);
        self
    }

    /// Adds the OAuth authorization server (`/oauth/*`, RFC 8414 metadata).
    pub fn with_oauth(mut self, oauth: Arc<moat_service::oauth::OAuthServer>) -> AppState {
        self.parts().oauth = Some(oauth);
        self
    }

    /// Adds linking host logins by signing in to the host (`/oauth/host/{host}/*`).
    pub fn with_host_sign_in(
        mut self,
        linker: Arc<moat_service::host_sign_in::HostSignIn>,
    ) -> AppState {
        self.parts().host_sign_in = Some(linker);
        self
    }

    /// Adds SCIM provisioning (`/scim/v2`).
    pub fn with_scim(mut self, scim: Arc<scim::ScimEndpoint>) -> AppState {
        self.parts().scim = Some(scim);
        self
    }

    /// Records refused authentications, counted per source, route and minute.
    pub fn with_readiness(
        mut self,
        readiness: Arc<moat_service::readiness::Readiness>,
    ) -> AppState {
        self.parts().readiness = Some(readiness);
        self
    }

    pub fn with_refusals(
        mut self,
        refusals: Arc<moat_service::audit::refusals::Refusals>,
    ) -> AppState {
        self.parts().refusals = Some(refusals);
        self
    }

    /// Serves `/api/v1/audit/events` and `/api/v1/audit/verify`.
    pub fn with_audit_reading(mut self, reading: AuditReading) -> AppState {
        self.parts().audit_reading = Some(Arc::new(reading));
        self
    }

    /// Reports the audit sinks' lag, deliveries and failures at `/metrics`.
    pub fn with_audit_sinks(
        mut self,
        sinks: Vec<Arc<moat_service::audit::sinks::SinkStatus>>,
    ) -> AppState {
        self.parts().audit_sinks = sinks;
        self
    }

    /// Explains the rules in force (the organisation's own included) at `/docs/rules`;
    /// by default the built-in rules.
    pub fn with_rule_docs(mut self, docs: Vec<moat_dlp::describe::RuleDoc>) -> AppState {
        self.parts().rule_docs = Arc::new(docs);
        self
    }

    /// Counts MCP calls and gateway requests in `telemetry` (the gateway service must be
    /// given the same, see `Gateway::with_telemetry`).
    pub fn with_telemetry(mut self, telemetry: moat_service::Telemetry) -> AppState {
        self.parts().telemetry = telemetry;
        self
    }

    /// Serves the console at `/console`.
    pub fn with_console(mut self, console: Arc<moat_service::console::Console>) -> AppState {
        self.parts().console = Some(console);
        self
    }

    /// Adds the authorisation service (access endpoints, and later MCP and the gateway).
    pub fn with_access(mut self, access: Arc<moat_service::Access>) -> AppState {
        self.parts().access = Some(access);
        self
    }
}

/// The whole application.
pub fn router(mut state: AppState) -> Router {
    state.parts().metrics = metrics::Metrics::build(&state);
    let limits = limits::Limits {
        max_body_bytes: state.settings.max_body_bytes,
        request_timeout: state.settings.request_timeout,
    };
    Router::new()
        .merge(health::router())
        .merge(docs::router())
        .merge(webhooks::router())
        .merge(mcp_routes::router(state.clone()))
        .merge(oauth::router())
        .merge(console::router())
        .merge(gateway::router())
        .nest("/api/v1", api::router(state.clone()))
        .nest("/scim/v2", scim::router())
        .fallback(error::not_found)
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            limits,
            limits::enforce,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.refusals.clone(),
            error::count_refusals,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            error::panic_response,
        ))
        .layer(axum::middleware::from_fn(error::json_error_bodies))
        .layer(axum::middleware::from_fn(unread_body::finish))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(trace::request_span)
                .on_response(trace::record_status),
        )
}

/// Serves `app` on `listener` with the default connection limits until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve_with(listener, app, server::ConnectionLimits::default(), shutdown).await
}
