//! `moat store migrate --to postgres`: an embedded deployment copied into PostgreSQL.

use crate::cli::{MigrateArgs, StoreCommand, StoreTarget};
use crate::context::{Context, UsageError, open_postgres};
use crate::output;
use anyhow::{Context as _, Result};
use moat_config::StoreBackend;
use moat_store::{SqliteStore, Store};
use serde::Serialize;
use std::process::ExitCode;

pub async fn run(context: &Context, command: StoreCommand, json: bool) -> Result<ExitCode> {
    match command {
        StoreCommand::Migrate(args) => migrate(context, args, json).await,
    }
}

#[derive(Serialize)]
struct Migrated {
    from: String,
    to: String,
    tables: Vec<Table>,
    audit_events: u64,
    /// Size of the latest signed checkpoint, the same on both sides.
    latest_checkpoint: Option<u64>,
}

#[derive(Serialize)]
struct Table {
    table: &'static str,
    rows: u64,
}

async fn migrate(context: &Context, args: MigrateArgs, json: bool) -> Result<ExitCode> {
    let StoreTarget::Postgres = args.to;
    if context.config.store.backend != StoreBackend::Sqlite {
        return Err(UsageError(
            "this deployment already runs on PostgreSQL: `moat store migrate` copies an embedded (SQLite) deployment"
                .into(),
        )
        .into());
    }
    let path = moat_config::resolve(&context.data_dir, &context.config.store.path, "moat.db");
    if !path.exists() {
        return Err(UsageError(format!(
            "no SQLite store at {}: nothing to copy",
            path.display()
        ))
        .into());
    }
    // Opening applies pending migrations, so the copy starts from this build's schema.
    let source = SqliteStore::open(&path)
        .with_context(|| format!("opening the SQLite store at {}", path.display()))?;
    let options = context.postgres_options(
        args.url_env.as_deref(),
        args.url_file.as_deref(),
        args.ca_file.as_deref(),
    )?;
    let destination = open_postgres(&options).await?;

    let bar = if json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new_spinner()
    };
    let copied = moat_store::copy::sqlite_to_postgres(&path, &destination, |table, rows| {
        bar.set_message(format!("{table}: {rows} rows"));
        bar.tick();
    })
    .await
    .with_context(|| format!("copying into {}", destination.target()))?;
    bar.finish_and_clear();

    let (size, latest) = (
        destination.audit_size().await?,
        destination.audit_latest_checkpoint().await?,
    );
    if source.audit_size().await? != size || source.audit_latest_checkpoint().await? != latest {
        anyhow::bail!(
            "the SQLite store changed while it was copied (a server still running?): the copy in {} \
             holds the log up to event {size}. Stop `moat serve`, empty the PostgreSQL database and run this again",
            destination.target()
        );
    }
    let report = Migrated {
        from: path.display().to_string(),
        to: destination.target().to_string(),
        tables: copied
            .iter()
            .map(|c| Table {
                table: c.table,
                rows: c.rows,
            })
            .collect(),
        audit_events: size,
        latest_checkpoint: latest.map(|(size, _)| size),
    };
    if json {
        output::json(&report)?;
    } else {
        outln!("copied {} into {}", report.from, report.to);
        for table in &report.tables {
            outln!("  {:<24} {:>10} rows", table.table, table.rows);
        }
        outln!(
            "audit log: {} events, latest signed checkpoint at {}",
            report.audit_events,
            report
                .latest_checkpoint
                .map_or_else(|| "none".to_string(), |s| s.to_string())
        );
        outln!(
            "next: set [store] backend = \"postgres\" with the same url_env or url_file, remove `path`, and run `moat audit verify`"
        );
    }
    Ok(ExitCode::SUCCESS)
}
