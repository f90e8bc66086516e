//! One module per command family; [`run`] dispatches.

mod access;
mod audit;
mod config;
mod demo;
mod evidence;
mod exceptions;
mod incidents;
pub use demo::DEFAULT_DATA_DIR as DEMO_DATA_DIR;
mod index;
mod kill_switches;
mod mcp_bridge;
mod oauth;
mod policy;
mod repos;
pub(crate) mod scan;
mod serve;
mod store;
mod tokens;
mod users;
mod vendors;

use crate::cli::{Cli, Command, LogFormatArg};
use crate::context::Context;
use anyhow::Result;
use moat_config::LogFormat;
use std::process::ExitCode;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let Cli {
        config,
        data_dir,
        json,
        operator,
        log_format,
        command,
    } = cli;
    match command {
        Command::Demo(args) => {
            init_logging(log_format, None, "warn");
            demo::run(args, data_dir.as_deref(), json).await
        }
        Command::Mcp(args) => {
            // Logs go to stderr only: stdout carries the protocol.
            init_logging(log_format, None, "warn");
            mcp_bridge::run(&args.server).await
        }
        Command::Audit(crate::cli::AuditCommand::NewKey { out, name }) => {
            crate::audit_keys::new_key(&out, &name, json)
        }
        Command::Evidence(crate::cli::EvidenceCommand::Verify { pack, keys })
            if config.is_none() && data_dir.is_none() && !keys.is_empty() =>
        {
            // An auditor checks a pack with the key they were given: no deployment needed.
            init_logging(log_format, None, "warn");
            evidence::verify_with(&pack, &keys, &[], json)
        }
        Command::Scan(args) if args.path.is_some() && config.is_none() => {
            // A directory scan needs no configuration; with --config, its [dlp] applies.
            init_logging(log_format, None, "warn");
            scan::run(None, args, json).await
        }
        command => {
            let mut context = Context::load(config.as_deref(), data_dir.as_deref())?;
            context.operator = operator;
            let serving = matches!(command, Command::Serve(_));
            let logging = crate::logging::init(
                log_format,
                Some(context.config.server.log_format),
                if serving { "info" } else { "warn" },
                context
                    .config
                    .server
                    .otlp_endpoint
                    .as_deref()
                    .filter(|_| serving),
            );
            if let Some(action) = crate::operator::action_for(&command) {
                crate::operator::check(&context, action, &format!("cli:{command:?}")).await?;
            }
            let result = match command {
                Command::Serve(args) => serve::run(&context, args).await,
                Command::User(command) => users::run(&context, command, json).await,
                Command::Token(command) => tokens::run(&context, command, json).await,
                Command::LoginLink { user, console } => {
                    oauth::login_link(&context, &user, console, json).await
                }
                Command::Policy(command) => policy::run(&context, command, json).await,
                Command::Config(command) => config::run(&context, command, json).await,
                Command::Vendor(command) => vendors::run(&context, command, json),
                Command::Exception(command) => exceptions::run(&context, command, json).await,
                Command::KillSwitch(command) => kill_switches::run(&context, command, json).await,
                Command::Incident(command) => incidents::run(&context, command, json).await,
                Command::Audit(command) => audit::run(&context, command, json).await,
                Command::Evidence(command) => evidence::run(&context, command, json).await,
                Command::Scan(args) => scan::run(Some(&context), args, json).await,
                Command::Repo(command) => repos::run(&context, command, json).await,
                Command::Access(command) => access::run(&context, command, json).await,
                Command::Index(args) => index::run_index(&context, args, json).await,
                Command::Search(args) => index::run_search(&context, args, json).await,
                Command::Store(command) => store::run(&context, command, json).await,
                Command::Demo(_) | Command::Mcp(_) => unreachable!("handled above"),
            };
            logging.shutdown();
            result
        }
    }
}

/// Logs go to stderr; `MOAT_LOG` (tracing's filter syntax) overrides the level.
fn init_logging(flag: Option<LogFormatArg>, configured: Option<LogFormat>, default_level: &str) {
    // Without an OTLP endpoint there is nothing to flush at exit.
    let _ = crate::logging::init(flag, configured, default_level, None);
}

/// Installs the Ctrl-C and SIGTERM handlers now, before the address is announced, so a
/// signal sent right after start-up stops the server gracefully instead of killing it.
/// The returned future resolves when either arrives.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static>
{
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            tracing::info!("shutting down: finishing requests in flight");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down: finishing requests in flight");
        })
    }
}
