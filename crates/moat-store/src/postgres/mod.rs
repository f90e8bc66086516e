//! The scale-out backend: PostgreSQL through a pool of natively async connections
//! (tokio-postgres, deadpool), so no request ever blocks a runtime worker on it.
//!
//! Several Moat nodes share one database. Writes that read before they write (the
//! mirror's check of what the caller saw, a one-time secret taken, a SCIM version
//! compared) run in transactions that take one advisory lock first: they are as
//! serial as on SQLite's single writer, and they are the rare writes (people,
//! grants, the mirror). The audit log's appends, body storage, sink cursors and token
//! touches need no lock: each is atomic on its own, and two writers of the same
//! sequence number collide on its primary key.

mod access_states;
mod audit;
mod counters;
mod exceptions;
mod incidents;
mod index_jobs;
mod kept;
mod kill_switches;
mod links;
mod migrations;
mod mirror;
mod oauth;
mod published;
mod scim;
mod sequencer;
mod sessions;
mod store;
mod tokens;
mod users;

use crate::{StoreError, StoreResult};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Transaction};
use std::path::PathBuf;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// A connection URL or libpq key/value string. `sslmode=require` insists on TLS;
    /// whenever TLS is used the server's certificate is checked.
    pub url: String,
    /// PEM file of the CA that signed the server's certificate; the system's roots
    /// otherwise.
    pub ca_file: Option<PathBuf>,
    /// Connections this node keeps at most.
    pub max_connections: usize,
}

impl PostgresOptions {
    pub fn new(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            ca_file: None,
            max_connections: 16,
        }
    }
}

/// PostgreSQL-backed [`crate::Store`].
pub struct PostgresStore {
    pool: Pool,
    /// Where the database is, without credentials, for messages.
    target: String,
    /// How the pool connects, for the audit sequencer's connection of its own.
    config: tokio_postgres::Config,
    tls: tokio_rustls::rustls::ClientConfig,
}

/// The advisory lock that serialises read-then-write transactions across nodes.
pub(crate) const WRITER_LOCK: i64 = 0x6d6f_6174_0001;

/// Longest a caller waits for a pooled connection, or for a new one to open.
const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl PostgresStore {
    /// Connects, checks the schema and applies pending migrations (one node at a time).
    pub async fn connect(options: &PostgresOptions) -> StoreResult<PostgresStore> {
        let config: tokio_postgres::Config = options.url.parse().map_err(|e| StoreError::Open {
            path: "the PostgreSQL URL".into(),
            reason: format!("it does not parse: {e}"),
        })?;
        let target = describe(&config);
        let ca_pem = match &options.ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| StoreError::Open {
                path: target.clone(),
                reason: format!("cannot read the CA file {}: {e}", path.display()),
            })?),
            None => None,
        };
        let tls =
            crate::tls::client_config(ca_pem.as_deref()).map_err(|reason| StoreError::Open {
                path: target.clone(),
                reason,
            })?;
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres_rustls::MakeRustlsConnect::new(tls.clone()),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            // A request waits this long for a connection, then fails (503) instead of
            // queueing without bound behind a database that stopped answering.
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| StoreError::Open {
                path: target.clone(),
                reason: e.to_string(),
            })?;
        let store = PostgresStore {
            pool,
            target,
            config,
            tls,
        };
        let mut client = store.client().await?;
        migrations::apply(&mut client).await?;
        Ok(store)
    }

    /// `host:port/database` as configured, for messages (never the password).
    pub fn target(&self) -> &str {
        &self.target
    }

    pub(crate) async fn client(&self) -> StoreResult<Object> {
        self.pool.get().await.map_err(|e| StoreError::Open {
            path: self.target.clone(),
            reason: match e {
                deadpool_postgres::PoolError::Backend(e) => pg_reason(&e),
                other => other.to_string(),
            },
        })
    }
}

/// Starts a transaction that runs alone among the read-then-write transactions of
/// every node.
pub(crate) async fn serial(client: &mut Object) -> StoreResult<Transaction<'_>> {
    // Read committed whatever the server's default: each statement after the lock sees
    // everything committed before it was granted.
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
        .start()
        .await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITER_LOCK])
        .await?;
    Ok(tx)
}

fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("postgres://{host}:{port}/{database}")
}

/// The message of a database error with its code, or the connection failure.
fn pg_reason(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut reason = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(inner) = source {
                reason.push_str(": ");
                reason.push_str(&inner.to_string());
                source = inner.source();
            }
            reason
        }
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        match error.as_db_error() {
            // Class 23: integrity constraint violations (unique, foreign key, check).
            Some(db) if db.code().code().starts_with("23") => StoreError::Conflict(
                db.detail()
                    .map(|d| format!("{}: {d}", db.message()))
                    .unwrap_or_else(|| db.message().to_string()),
            ),
            _ => StoreError::Backend(pg_reason(&error)),
        }
    }
}

/// A `u64` as PostgreSQL's `bigint`.
fn to_i64(value: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::Backend(format!("{what} {value} is out of range")))
}

#[cfg(test)]
mod tests;
