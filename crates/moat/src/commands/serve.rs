//! `moat serve`: one listener for everything, until Ctrl-C or SIGTERM.

use crate::cli::ServeArgs;
use crate::context::{Context, UsageError};
use anyhow::{Context as _, Result};
use moat_http::{AppState, HttpSettings};
use moat_service::AuditLog;
use moat_service::audit::refusals::Refusals;
use moat_service::audit::sinks::Forwarder;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

pub async fn run(context: &Context, args: ServeArgs) -> Result<ExitCode> {
    let listener = bind(args.listen.unwrap_or(context.config.server.listen)).await?;
    let address = listener.local_addr()?;
    let App {
        router,
        audit,
        forwarder,
        refusals,
    } = build_app(context).await?;
    let shutdown = super::shutdown_signal()?;
    crate::output::announce(&format!("moat listening on http://{address}\n"));
    tracing::info!(%address, policy_version = %context.policy_version(), "serving");
    let served =
        moat_http::server::serve_with(listener, router, connection_limits(context), shutdown).await;
    refusals.flush().await;
    forwarder.stop(SINK_GRACE).await;
    audit
        .close()
        .await
        .context("signing the final audit checkpoint")?;
    served.context("the server stopped with an error")?;
    crate::output::announce(
        "moat stopped: connections drained, audit log closed with a signed checkpoint\n",
    );
    Ok(ExitCode::SUCCESS)
}

/// `[server]`'s limits on connections.
pub fn connection_limits(context: &Context) -> moat_http::server::ConnectionLimits {
    moat_http::server::ConnectionLimits {
        header_timeout: context.config.server.header_timeout.as_std(),
        max_connections: context.config.server.max_connections,
    }
}

/// How long a delivery to an audit sink under way may finish at shutdown (what is not
/// delivered is sent after the next start: each sink resumes from its cursor).
const SINK_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// What serving this deployment runs: the application, its audit log (to close once
/// serving ends, which signs the final checkpoint) and the audit sinks' forwarder.
pub struct App {
    pub router: axum::Router,
    pub audit: Arc<AuditLog>,
    pub forwarder: Forwarder,
    /// Refused authentications not yet on the record (flushed each minute; flush
    /// once more before closing the log).
    pub refusals: Arc<Refusals>,
}

/// The application for this deployment's configuration.
pub async fn build_app(context: &Context) -> Result<App> {
    context.check_references()?;
    let store = context.open_store().await?;
    let sinks = context.audit_sinks()?;
    let audit = Arc::new(context.audit_log(store.clone()).await?);
    let forwarder = Forwarder::start(store.clone(), sinks, Arc::new(moat_service::SystemClock));
    let refusals = Arc::new(Refusals::new(
        audit.clone(),
        Arc::new(moat_service::SystemClock),
        &context.policy_version(),
    ));
    tokio::spawn(refusals.clone().flush_every_window());
    tokio::spawn(prune_bodies(
        store.clone(),
        context.config.audit.body_retention.seconds,
    ));
    let identity = Arc::new(context.identity(store.clone()));
    let access = Arc::new(context.access(identity.clone(), store.clone())?);
    let writer = context.mirror_writer(store.clone(), audit.clone());
    identity.record_links_with(writer.clone());
    let host_sync = Arc::new(moat_service::host_sync::HostSync::new(
        writer.clone(),
        Arc::new(moat_service::SystemClock),
    ));
    let webhooks = context.webhooks(writer.clone(), host_sync.clone())?;
    let host_repos = context.host_repos()?;
    if !host_repos.is_empty() {
        let every = [
            context
                .config
                .permissions
                .github
                .as_ref()
                .map(|g| g.sync_interval.as_std()),
            context
                .config
                .permissions
                .gitlab
                .as_ref()
                .map(|g| g.sync_interval.as_std()),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(std::time::Duration::from_secs(900));
        if context.config.permissions.refresh_on_sign_in {
            identity.on_sign_in(Arc::new(moat_service::SignInRefresh::new(
                access.clone(),
                host_sync.clone(),
                host_repos.clone(),
                Arc::new(moat_service::SystemClock),
            )));
        }
        tokio::spawn(sync_permissions(
            host_sync.clone(),
            host_repos,
            context.saml_links()?,
            every,
        ));
    }
    record_config_load(context, &identity, &audit).await?;
    let server = &context.config.server;
    let public_host = server
        .public_url
        .as_deref()
        .and_then(|url| url.split_once("://").map(|(_, rest)| rest))
        .map(|rest| rest.split(['/', ':']).next().unwrap_or(rest).to_string());
    let mut mcp_allowed_hosts: Vec<String> = vec![
        "localhost".into(),
        "127.0.0.1".into(),
        "::1".into(),
        "[::1]".into(),
    ];
    mcp_allowed_hosts.extend(public_host);
    mcp_allowed_hosts.push(server.listen.ip().to_string());
    let settings = HttpSettings {
        public_url: server.public_url.clone(),
        oidc_issuer: context
            .config
            .identity
            .oidc
            .as_ref()
            .map(|o| o.issuer.clone()),
        mcp_allowed_hosts,
        mcp_allowed_origins: server
            .public_url
            .iter()
            .map(|url| url.trim_end_matches('/').to_string())
            .collect(),
        mcp_session_idle: server.mcp_session_idle.as_std(),
        max_body_bytes: usize::try_from(server.max_body_bytes).unwrap_or(usize::MAX),
        request_timeout: server.request_timeout.as_std(),
        policy_version: context.policy_version(),
    };
    let oauth = super::oauth::server(context, store.clone(), audit.clone())?;
    let scim = context.scim(
        store.clone(),
        identity.clone(),
        audit.clone(),
        writer.clone(),
    )?;
    let host_sign_in = context.host_sign_in(store.clone(), writer.clone())?;
    let index = context.open_index()?;
    let every = context.config.server.index_interval.seconds;
    if every > 0 && !context.config.repos.is_empty() {
        // This node's replica of the index: built at start (until then /readyz says
        // which repositories are not indexed yet) and kept up to date.
        let replica = moat_service::index_replica::Replica::new(
            index.clone(),
            context.replica_repos(),
            Arc::new(moat_service::SystemClock),
        );
        tokio::spawn(Arc::new(replica).keep(std::time::Duration::from_secs(every as u64)));
    }
    let detector = Arc::new(context.detector()?);
    let rule_docs = detector.rule_docs();
    let telemetry = moat_service::Telemetry::default();
    let mcp = Arc::new(moat_http::mcp::McpContext {
        index: index.clone(),
        repos: context.repo_policies(),
        detector: detector.clone(),
        findings: Arc::new(moat_service::FindingsCache::new()),
        access: access.clone(),
        audit: audit.clone(),
        policy_version: context.policy_version(),
        sessions: Some(store.clone()),
    });
    let gateway = match context.gateway_settings()? {
        Some(settings) => {
            let gateway = moat_service::gateway::Gateway::new(
                settings,
                access.clone(),
                audit.clone(),
                detector,
                Some(index),
            )
            .with_telemetry(telemetry.clone());
            // Nodes sharing a database share its limits too: three nodes allow what one
            // would. One embedded node keeps them in memory (no write per request).
            let gateway = if store.is_shared() {
                gateway.with_shared_limits(store.clone())
            } else {
                gateway
            };
            let gateway = moat_http::gateway::GatewayContext::new(Arc::new(gateway))
                .map_err(anyhow::Error::msg)?;
            Some(Arc::new(gateway))
        }
        None => None,
    };
    Ok(App {
        router: moat_http::router({
            let readiness = moat_service::readiness::Readiness::new(
                store.clone(),
                audit.clone(),
                Some((
                    mcp.index.clone(),
                    mcp.repos.iter().map(|r| r.name.clone()).collect(),
                )),
            );
            let mut state = AppState::new(identity, audit.clone(), settings)
                .with_readiness(Arc::new(readiness))
                .with_audit_sinks(forwarder.statuses().to_vec())
                .with_refusals(refusals.clone())
                .with_rule_docs(rule_docs)
                .with_telemetry(telemetry)
                .with_audit_reading(moat_http::AuditReading {
                    store: store.clone(),
                    keys: crate::audit_keys::trusted_keys(context, &[])?,
                    witness_files: context.config.audit.witness_files.clone(),
                })
                .with_access(access)
                .with_mcp(mcp)
                .with_oauth(oauth);
            if let Some(gateway) = gateway {
                state = state.with_gateway(gateway);
            }
            if let Some(scim) = scim {
                state = state.with_scim(Arc::new(scim));
            }
            if let Some(linker) = host_sign_in {
                state = state.with_host_sign_in(Arc::new(linker));
            }
            match webhooks {
                Some(webhooks) => state.with_webhooks(Arc::new(webhooks)),
                None => state,
            }
        }),
        audit,
        forwarder,
        refusals,
    })
}

pub async fn bind(address: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address).await.map_err(|error| {
        let hint = match error.kind() {
            std::io::ErrorKind::AddrInUse => "something else is listening there; pass --listen 127.0.0.1:0 to pick a free port",
            std::io::ErrorKind::PermissionDenied => "ports below 1024 need privileges; pick a higher port with --listen",
            _ => "pass another address with --listen",
        };
        UsageError(format!("cannot listen on {address}: {error}; {hint}")).into()
    })
}

/// Deletes stored request/response bodies past `[audit] body_retention`, hourly (events
/// keep their `content_ref` hashes, so verification is unaffected), and OAuth secrets
/// long expired.
async fn prune_bodies(store: Arc<dyn moat_store::Store>, keep_seconds: i64) {
    let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        hourly.tick().await;
        let before = moat_domain::UnixTime::now().plus_seconds(-keep_seconds);
        match store.audit_delete_bodies_before(before).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "pruned stored bodies past retention"),
            Err(error) => tracing::warn!(%error, "could not prune stored bodies"),
        }
        // Shared rate-limit and budget counters of windows that have ended.
        match moat_service::gateway::limits::expire_shared(
            store.as_ref(),
            moat_domain::UnixTime::now().0,
        )
        .await
        {
            Ok(0) => {}
            Ok(dropped) => tracing::info!(dropped, "forgot ended rate-limit windows"),
            Err(error) => tracing::warn!(%error, "could not forget ended rate-limit windows"),
        }
        // MCP sessions opened more than a week ago: their clients open new ones.
        let week_ago = moat_domain::UnixTime::now().plus_seconds(-7 * 86_400);
        match store.mcp_sessions_expire(week_ago).await {
            Ok(0) => {}
            Ok(dropped) => tracing::info!(dropped, "forgot MCP sessions older than a week"),
            Err(error) => tracing::warn!(%error, "could not forget old MCP sessions"),
        }
        // OAuth codes, refresh tokens, links and sessions a day past their expiry (a
        // replay of one that old is refused as unknown, as it would be as expired).
        let expired = moat_domain::UnixTime::now().plus_seconds(-86_400);
        match store.oauth_secrets_expire(expired).await {
            Ok(0) => {}
            Ok(dropped) => tracing::info!(dropped, "dropped expired OAuth secrets"),
            Err(error) => tracing::warn!(%error, "could not drop expired OAuth secrets"),
        }
    }
}

/// The configuration in force is on the record before anything is served.
async fn record_config_load(
    context: &Context,
    identity: &moat_service::Identity,
    audit: &AuditLog,
) -> Result<()> {
    use sha2::Digest as _;
    let text = std::fs::read(&context.config_path).unwrap_or_default();
    let digest = hex::encode(sha2::Sha256::digest(&text));
    let policy_version = context.policy_version();
    let admin = moat_service::Admin {
        identity,
        audit,
        policy_version: &policy_version,
    };
    let actor = moat_service::AdminActor {
        client: "serve".into(),
        ..crate::context::cli_actor()
    };
    admin
        .config_loaded(&actor, &context.config_path.display().to_string(), &digest)
        .await
        .context("recording the configuration in the audit log")?;
    Ok(())
}

/// Mirrors repository-host permissions now and then every `every`, linking GitHub
/// logins through SAML identities first when configured.
async fn sync_permissions(
    sync: Arc<moat_service::host_sync::HostSync>,
    repos: Vec<moat_service::host_sync::HostRepo>,
    saml: Option<(String, String, String)>,
    every: std::time::Duration,
) {
    loop {
        if let Some((api_url, org, token)) = &saml {
            match sync.link_saml_identities(api_url, org, token).await {
                Ok(report) => tracing::info!(
                    identities = report.identities,
                    linked = report.linked,
                    changed = report.changed,
                    "GitHub SAML identities linked"
                ),
                Err(error) => {
                    tracing::warn!(%error, "GitHub SAML identities could not be read; links stay as they were")
                }
            }
        }
        for (repo, result) in sync.sync_all(&repos).await {
            match result {
                Ok(report) => tracing::info!(repo, readers = report.readers, "permissions synced"),
                Err(error) => {
                    tracing::warn!(repo, %error, "permission sync failed; access fails closed once stale")
                }
            }
        }
        tokio::time::sleep(every).await;
    }
}
