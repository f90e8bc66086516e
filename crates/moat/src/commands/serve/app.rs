//! What `moat serve` runs, in two lifetimes: the [`Process`] (store, audit log, sinks,
//! the index, counters: kept from start to stop) and the [`Routes`] built from one
//! configuration (identity, access, MCP, the gateway, OAuth, SCIM, webhooks and the
//! tasks that follow them), which a published configuration replaces while serving.

use crate::context::Context;
use anyhow::Result;
use moat_http::{AppState, HttpCounters, HttpSettings};
use moat_service::AuditLog;
use moat_service::audit::refusals::Refusals;
use moat_service::audit::sinks::Forwarder;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

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

/// The application for this deployment's configuration, recorded as loaded.
pub async fn build_app(context: &Context) -> Result<App> {
    let process = Process::start(context, None).await?;
    let routes = routes(context, &process, None).await?;
    commit(context, &process, routes).await?;
    let Process {
        audit,
        forwarder,
        refusals,
        apps,
        ..
    } = process;
    Ok(App {
        router: apps.borrow().clone(),
        audit,
        forwarder,
        refusals,
    })
}

/// What lives from start to stop, whichever configuration is in force.
pub struct Process {
    pub store: Arc<dyn moat_store::Store>,
    pub audit: Arc<AuditLog>,
    pub forwarder: Forwarder,
    pub refusals: Arc<Refusals>,
    pub index: Arc<moat_index::CodeIndex>,
    telemetry: moat_service::Telemetry,
    http_counters: HttpCounters,
    /// The app in force; requests take it from here as they arrive.
    pub apps: tokio::sync::watch::Sender<axum::Router>,
    /// Tasks of the configuration in force, stopped when another replaces it.
    tasks: std::sync::Mutex<Vec<tokio::task::AbortHandle>>,
    /// The detector last built, by the `[dlp]` version it was built from: compiling
    /// the rules is the slowest part of building an app, and most changes leave them.
    detector: std::sync::Mutex<Option<(String, Arc<moat_dlp::Detector>)>>,
}

impl Process {
    /// Opens the store, the audit log and the index; starts the sinks and the hourly
    /// pruning. Audit sinks are the process's: changing them takes a restart.
    /// Starts what lives as long as the process, on `store` if it is already open.
    pub async fn start(
        context: &Context,
        store: Option<Arc<dyn moat_store::Store>>,
    ) -> Result<Process> {
        context.check_references()?;
        let store = match store {
            Some(store) => store,
            None => context.open_store().await?,
        };
        let sinks = context.audit_sinks()?;
        let audit = Arc::new(context.audit_log(store.clone()).await?);
        let forwarder = Forwarder::start(store.clone(), sinks, Arc::new(moat_service::SystemClock));
        let refusals = Arc::new(Refusals::new(
            audit.clone(),
            Arc::new(moat_service::SystemClock),
            &context.policy_version(),
        ));
        tokio::spawn(refusals.clone().flush_every_window());
        tokio::spawn(moat_service::housekeeping::keep_pruning(
            store.clone(),
            Arc::new(moat_service::SystemClock),
            context.config.audit.body_retention.seconds,
        ));
        let index = context.open_index()?;
        Ok(Process {
            store,
            audit,
            forwarder,
            refusals,
            index,
            telemetry: moat_service::Telemetry::default(),
            http_counters: HttpCounters::default(),
            apps: tokio::sync::watch::channel(axum::Router::new()).0,
            tasks: std::sync::Mutex::new(Vec::new()),
            detector: std::sync::Mutex::new(None),
        })
    }

    /// The detector for `context`'s `[dlp]`, built again only when that changed.
    fn detector(&self, context: &Context) -> Result<Arc<moat_dlp::Detector>> {
        let version = context.dlp_version();
        let mut kept = self.detector.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((built_for, detector)) = kept.as_ref()
            && *built_for == version
        {
            return Ok(detector.clone());
        }
        let detector = Arc::new(context.detector()?);
        *kept = Some((version, detector.clone()));
        Ok(detector)
    }
}

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The app for one configuration, not yet serving: its tasks start, and the index takes
/// its detection rules, only once it is committed.
pub struct Routes {
    router: axum::Router,
    tasks: Vec<Task>,
    index_settings: Option<moat_index::IndexSettings>,
    policy_version: String,
}

/// Puts `routes` in force: the configuration on the record first (a node whose log
/// refuses it keeps the configuration it had), then the index's rules, the tasks of the
/// configuration before stopped and these started, and requests answered by it.
pub async fn commit(context: &Context, process: &Process, routes: Routes) -> Result<()> {
    super::record_config_load(context, process).await?;
    if let Some(settings) = routes.index_settings {
        process.index.set_settings(settings);
    }
    let started: Vec<_> = routes
        .tasks
        .into_iter()
        .map(|task| tokio::spawn(task).abort_handle())
        .collect();
    let stopped = match process.tasks.lock() {
        Ok(mut tasks) => std::mem::replace(&mut *tasks, started),
        Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), started),
    };
    for task in stopped {
        task.abort();
    }
    process.refusals.set_policy_version(&routes.policy_version);
    // The app before is dropped once the requests under way on it finish.
    drop(process.apps.send_replace(routes.router));
    Ok(())
}

/// Builds the app for `context`'s configuration over `process`; nothing is in force
/// until [`commit`]. `published`: the published configuration this node follows, for
/// `/readyz`.
pub async fn routes(
    context: &Context,
    process: &Process,
    published: Option<Arc<moat_service::published::Watch>>,
) -> Result<Routes> {
    let store = &process.store;
    let audit = &process.audit;
    let mut tasks: Vec<Task> = Vec::new();
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
        let permissions = &context.config.permissions;
        let every = [
            permissions
                .github
                .as_ref()
                .map(|g| g.sync_interval.as_std()),
            permissions
                .gitlab
                .as_ref()
                .map(|g| g.sync_interval.as_std()),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(std::time::Duration::from_secs(900));
        if permissions.refresh_on_sign_in {
            identity.on_sign_in(Arc::new(moat_service::SignInRefresh::new(
                access.clone(),
                host_sync.clone(),
                host_repos.clone(),
                Arc::new(moat_service::SystemClock),
            )));
        }
        tasks.push(Box::pin(moat_service::permission_sync::keep_synced(
            host_sync.clone(),
            host_repos,
            context.saml_links()?,
            every,
        )));
    }
    let settings = http_settings(context);
    let oauth = super::super::oauth::server(context, store.clone(), audit.clone())?;
    let scim = context.scim(
        store.clone(),
        identity.clone(),
        audit.clone(),
        writer.clone(),
    )?;
    let host_sign_in = context.host_sign_in(store.clone(), writer.clone())?;
    let index = process.index.clone();
    let index_settings =
        (context.dlp_version() != index.dlp_version()).then(|| context.index_settings());
    let index_settings = index_settings.transpose()?;
    let every = context.config.server.index_interval.seconds;
    if every > 0 && !context.config.repos.is_empty() {
        // This node's replica of the index: built at start (until then /readyz says
        // which repositories are not indexed yet) and kept up to date.
        // Which commit each repository is served at is decided through the store's
        // indexing jobs, one node per repository at a time; every replica follows.
        let replica = moat_service::index_replica::Replica::new(
            index.clone(),
            context.replica_repos(),
            Arc::new(moat_service::SystemClock),
        )
        .with_queue(store.clone(), node_name());
        tasks.push(Box::pin(
            Arc::new(replica).keep(std::time::Duration::from_secs(every as u64)),
        ));
    }
    if !context.config.vendors.is_empty() {
        // Attestations within 30 or 7 days of their last day, or past it, on the
        // record (and so at the SIEM) once per configuration this process applies.
        let watch = moat_service::vendor_register::Watch::new(
            Arc::new(context.config.clone()),
            audit.clone(),
            Arc::new(moat_service::SystemClock),
            context.policy_version(),
        );
        tasks.push(Box::pin(
            Arc::new(watch).keep(std::time::Duration::from_secs(6 * 3600)),
        ));
    }
    // Exception requests waiting past the review SLA, alerted on the record.
    let overdue = moat_service::exceptions::OverdueWatch::new(
        process.store.clone(),
        audit.clone(),
        Arc::new(moat_service::SystemClock),
        moat_service::exceptions::ExceptionRules::from_config(&context.config.exceptions),
        context.policy_version(),
    );
    tasks.push(Box::pin(
        Arc::new(overdue).keep(std::time::Duration::from_secs(300)),
    ));
    // Who may reach what, recorded once a day (UTC; of several nodes, one keeps it), so
    // an evidence pack can show the matrix at the start of its period.
    let states = moat_service::access::states::AccessStates {
        access: access.clone(),
        audit: audit.clone(),
        policy_version: context.policy_version(),
    };
    tasks.push(Box::pin(states.keep(std::time::Duration::from_secs(60))));
    let incident_rules = moat_service::incidents::IncidentRules::from_config(&context.config);
    // Incident deadlines passed, flagged and alerted once (of several nodes checking,
    // the one whose write lands).
    let overdue = moat_service::incidents::OverdueIncidents {
        store: process.store.clone(),
        audit: audit.clone(),
        identity: identity.clone(),
        clock: Arc::new(moat_service::SystemClock),
        rules: incident_rules.clone(),
        policy_version: context.policy_version(),
    };
    tasks.push(Box::pin(overdue.keep(std::time::Duration::from_secs(15))));
    if context.config.detect.enabled {
        // The anomaly rules over the audit stream, on the node that evaluates (the
        // sequencer, or the embedded store's only writer); alerts on the record, each
        // joining its subject's incident.
        let watch = moat_service::detect::watch::Watch::new(
            process.store.clone(),
            audit.clone(),
            Arc::new(moat_service::SystemClock),
            &context.config.detect,
            context.policy_version(),
        )
        .with_containment(identity.clone())
        .with_incidents(identity.clone(), incident_rules);
        tasks.push(Box::pin(watch.keep(std::time::Duration::from_secs(1))));
    }
    let detector = process.detector(context)?;
    let rule_docs = detector.rule_docs();
    let telemetry = process.telemetry.clone();
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
    let gateway_settings = context.gateway_settings()?;
    let console = super::console::console(
        context,
        super::console::Parts {
            store: store.clone(),
            identity: identity.clone(),
            access: access.clone(),
            audit: audit.clone(),
            oauth: oauth.clone(),
        },
        gateway_settings.as_ref(),
    )?;
    let gateway = match gateway_settings {
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
    let mut readiness = moat_service::readiness::Readiness::new(
        store.clone(),
        audit.clone(),
        Some((
            mcp.index.clone(),
            mcp.repos.iter().map(|r| r.name.clone()).collect(),
        )),
    );
    if let Some(watch) = published {
        readiness = readiness.with_config(watch);
    }
    let mut state = AppState::new(identity, audit.clone(), settings)
        .with_readiness(Arc::new(readiness))
        .with_audit_sinks(process.forwarder.statuses().to_vec())
        .with_refusals(process.refusals.clone())
        .with_rule_docs(rule_docs)
        .with_telemetry(telemetry)
        .with_audit_reading(moat_http::AuditReading {
            store: store.clone(),
            keys: crate::audit_keys::trusted_keys(context, &[])?,
            witness_files: context.config.audit.witness_files.clone(),
        })
        .with_access(access)
        .with_exception_rules(moat_service::exceptions::ExceptionRules::from_config(
            &context.config.exceptions,
        ))
        .with_incident_rules(moat_service::incidents::IncidentRules::from_config(
            &context.config,
        ))
        .with_mcp(mcp)
        .with_oauth(oauth)
        .with_console(console)
        .with_http_counters(process.http_counters.clone());
    if let Some(gateway) = gateway {
        state = state.with_gateway(gateway);
    }
    if let Some(scim) = scim {
        state = state.with_scim(Arc::new(scim));
    }
    if let Some(linker) = host_sign_in {
        state = state.with_host_sign_in(Arc::new(linker));
    }
    if let Some(webhooks) = webhooks {
        state = state.with_webhooks(Arc::new(webhooks));
    }
    Ok(Routes {
        router: moat_http::router(state),
        tasks,
        index_settings,
        policy_version: context.policy_version(),
    })
}

/// This node's name in the indexing queue: its host and process.
fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    format!("{host}:{}", std::process::id())
}

/// What the HTTP layer needs from `[server]` and `[identity]`.
fn http_settings(context: &Context) -> HttpSettings {
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
    HttpSettings {
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
    }
}
