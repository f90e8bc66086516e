//! A PostgreSQL database of its own for one test, dropped when the test ends.
//!
//! The server is the one `MOAT_TEST_POSTGRES` names (a URL to its `postgres`
//! database as a role that may create databases), by default the local server these
//! machines run: `postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable`.
//! `.ci/run` installs and starts one where none runs. A test that needs it and cannot
//! reach it fails and says so: it never passes without having run.

use std::sync::atomic::{AtomicU32, Ordering};

pub const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";

pub struct ScratchPostgres {
    /// The URL of the new, empty database.
    pub url: String,
    server: String,
    name: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn server() -> String {
    std::env::var("MOAT_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_SERVER.to_string())
}

async fn admin(server: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "this test needs PostgreSQL and cannot reach it at {server}: {e}. Start it \
                 (`.ci/run` shows how) or point MOAT_TEST_POSTGRES at one"
            )
        });
    tokio::spawn(connection);
    client
}

impl ScratchPostgres {
    pub async fn new() -> ScratchPostgres {
        let server = server();
        let name = format!(
            "moat_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        admin(&server)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create a scratch database on {server}: {e}"));
        let url = with_database(&server, &name);
        ScratchPostgres { url, server, name }
    }
}

/// `server` with its database replaced by `name`: the URL's path, or a `dbname`
/// key added to a key/value string.
fn with_database(server: &str, name: &str) -> String {
    if !server.starts_with("postgres://") && !server.starts_with("postgresql://") {
        return format!("{server} dbname={name}");
    }
    let (address, query) = server.split_once('?').unwrap_or((server, ""));
    let scheme_end = address.find("://").map_or(0, |i| i + 3);
    let base = match address[scheme_end..].find('/') {
        Some(slash) => &address[..scheme_end + slash],
        None => address,
    };
    if query.is_empty() {
        format!("{base}/{name}")
    } else {
        format!("{base}/{name}?{query}")
    }
}

impl Drop for ScratchPostgres {
    /// Drops the database from a thread of its own (drop cannot wait on the test's
    /// runtime); a failure leaves it behind, which costs disk, never a wrong result.
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let client = admin(&server).await;
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
    }
}
