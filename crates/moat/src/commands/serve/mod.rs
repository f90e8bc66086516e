//! `moat serve`: one listener for everything, until Ctrl-C or SIGTERM. With `[server]
//! config_source = "store"` the node serves the newest configuration published with
//! `moat config publish` and swaps each newer one in while serving
//! (`moat_service::published`).

mod app;
mod console;

pub use app::{App, build_app};

use crate::cli::ServeArgs;
use crate::context::{Context, UsageError};
use anyhow::{Context as _, Result};
use moat_config::ConfigSource;
use moat_service::published::Watch;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

pub async fn run(context: &Context, args: ServeArgs) -> Result<ExitCode> {
    let listener = bind(args.listen.unwrap_or(context.config.server.listen)).await?;
    let address = listener.local_addr()?;
    let follows_store = context.config.server.config_source == ConfigSource::Store;
    // The configuration in force from the start: the newest published one when this node
    // follows them and one exists, else this file. What lives as long as the process
    // (the audit log's signing key and sinks, the index) comes from it too, so a node
    // that cannot apply the newest version does not start.
    // One store for the process: `[store]` is this node's own, whichever configuration
    // is in force.
    let store = if follows_store {
        Some(context.open_store().await?)
    } else {
        None
    };
    let published = match &store {
        Some(store) => store
            .config_published(None)
            .await
            .context("reading the published configuration")?,
        None => None,
    };
    let in_force = match &published {
        Some(published) => context.with_published(published)?,
        None => context.clone(),
    };
    let process = Arc::new(app::Process::start(&in_force, store).await?);
    let watch = follows_store.then(|| Arc::new(Watch::new(process.store.clone(), None)));
    let routes = app::routes(&in_force, &process, watch.clone()).await?;
    app::commit(&in_force, &process, routes).await?;
    let following = watch.map(|watch| {
        if let Some(published) = &published {
            watch.now_applied(published.version);
        }
        tokio::spawn(follow(context.clone(), process.clone(), watch))
    });
    let shutdown = super::shutdown_signal()?;
    crate::output::announce(&format!("moat listening on http://{address}\n"));
    tracing::info!(%address, policy_version = %in_force.policy_version(), "serving");
    let served = moat_http::server::serve_swapping(
        listener,
        process.apps.subscribe(),
        connection_limits(context),
        shutdown,
    )
    .await;
    if let Some(following) = following {
        following.abort();
        let _ = following.await;
    }
    let process = Arc::into_inner(process).context("the process is still in use")?;
    process.refusals.flush().await;
    process.forwarder.stop(SINK_GRACE).await;
    process
        .audit
        .close()
        .await
        .context("signing the final audit checkpoint")?;
    served.context("the server stopped with an error")?;
    crate::output::announce(
        "moat stopped: connections drained, audit log closed with a signed checkpoint\n",
    );
    Ok(ExitCode::SUCCESS)
}

/// Swaps in each configuration published after the one in force. One this node cannot
/// apply (invalid here, a file it names missing, the log refusing its record) leaves
/// the one in force and makes the node not ready until a later one applies.
async fn follow(base: Context, process: Arc<app::Process>, watch: Arc<Watch>) {
    loop {
        let published = watch.next().await;
        let version = published.version;
        let started = std::time::Instant::now();
        let applied = async {
            let context = base.with_published(&published)?;
            context.check_references()?;
            let routes = app::routes(&context, &process, Some(watch.clone())).await?;
            app::commit(&context, &process, routes).await?;
            anyhow::Ok(context.policy_version())
        }
        .await;
        match applied {
            Ok(policy_version) => {
                watch.now_applied(version);
                tracing::info!(
                    version,
                    %policy_version,
                    ms = started.elapsed().as_millis() as u64,
                    "published configuration in force"
                );
            }
            Err(error) => {
                let reason = format!("{error:#}");
                tracing::error!(version, %reason, "published configuration not applied; the one in force stays and this node reports not ready");
                watch.failed(version, reason);
            }
        }
    }
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

/// The configuration in force is on the record before anything is served by it: the
/// file, or the published version, with its SHA-256 and policy version.
async fn record_config_load(context: &Context, process: &app::Process) -> Result<()> {
    use sha2::Digest as _;
    let (source, digest) = match &context.published {
        Some(published) => (
            format!("published configuration version {}", published.version),
            published.sha256.clone(),
        ),
        None => {
            let text = std::fs::read(&context.config_path).unwrap_or_default();
            (
                context.config_path.display().to_string(),
                hex::encode(sha2::Sha256::digest(&text)),
            )
        }
    };
    let identity = context.identity(process.store.clone());
    let policy_version = context.policy_version();
    let admin = moat_service::Admin {
        identity: &identity,
        audit: &process.audit,
        policy_version: &policy_version,
    };
    let actor = moat_service::AdminActor {
        client: "serve".into(),
        ..crate::context::cli_actor()
    };
    admin
        .config_loaded(
            &actor,
            &source,
            &digest,
            &context.config,
            moat_service::Clock::now(&moat_service::SystemClock),
        )
        .await
        .context("recording the configuration in the audit log")?;
    Ok(())
}
