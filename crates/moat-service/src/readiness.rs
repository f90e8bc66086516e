//! Whether this node should take traffic (`/readyz`, for load balancers and
//! Kubernetes): its store answers, its audit writer has room for more records, and every
//! connected repository has been indexed. Unlike `/healthz` (the process is alive),
//! any failing check makes the node not ready, and each says why.

use crate::AuditLog;
use moat_store::Store;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Longest the store may take to answer before the node counts as not ready.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Readiness {
    store: Arc<dyn Store>,
    audit: Arc<AuditLog>,
    /// The code index and the repositories it must hold, when MCP is served.
    index: Option<(Arc<moat_index::CodeIndex>, Vec<String>)>,
    /// The published configuration, when this node serves it.
    config: Option<Arc<crate::published::Watch>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ready: bool,
    pub checks: Vec<Check>,
    /// How this node's audit writer orders its events with other nodes':
    /// `single-writer` (the embedded store, one process), `leader` (this node is the
    /// elected sequencer of nodes on one PostgreSQL database: it appends every node's
    /// records) or `follower` (it queues its records for the leader).
    pub sequencer: &'static str,
}

impl Readiness {
    pub fn new(
        store: Arc<dyn Store>,
        audit: Arc<AuditLog>,
        index: Option<(Arc<moat_index::CodeIndex>, Vec<String>)>,
    ) -> Readiness {
        Readiness {
            store,
            audit,
            index,
            config: None,
        }
    }

    /// Also checks that the newest published configuration is in force here.
    pub fn with_config(mut self, watch: Arc<crate::published::Watch>) -> Readiness {
        self.config = Some(watch);
        self
    }

    pub async fn check(&self) -> Report {
        let mut checks = vec![self.store_check().await, self.audit_check()];
        if let Some((index, repos)) = &self.index {
            checks.push(index_check(index, repos));
        }
        if let Some(watch) = &self.config {
            checks.push(config_check(&watch.applied()));
        }
        Report {
            ready: checks.iter().all(|c| c.ok),
            checks,
            sequencer: self.audit.snapshot().sequencer.as_str(),
        }
    }

    async fn store_check(&self) -> Check {
        let (ok, detail) = match tokio::time::timeout(STORE_TIMEOUT, self.store.audit_size()).await
        {
            Ok(Ok(_)) => (true, "answers".to_string()),
            Ok(Err(error)) => (false, error.to_string()),
            Err(_) => (
                false,
                format!("no answer within {} s", STORE_TIMEOUT.as_secs()),
            ),
        };
        Check {
            name: "store",
            ok,
            detail,
        }
    }

    fn audit_check(&self) -> Check {
        let snapshot = self.audit.snapshot();
        Check {
            name: "audit",
            // Past three quarters full, new records are about to be refused with 503.
            ok: snapshot.queue_depth * 4 < snapshot.queue_capacity * 3,
            detail: format!(
                "{} of {} records waiting for the writer",
                snapshot.queue_depth, snapshot.queue_capacity
            ),
        }
    }
}

fn config_check(applied: &crate::published::Applied) -> Check {
    let in_force = match applied.version {
        Some(version) => format!("published version {version}"),
        None => "this node's own file (nothing published yet)".to_string(),
    };
    Check {
        name: "config",
        ok: applied.failed.is_none(),
        detail: match &applied.failed {
            None => format!("{in_force} in force"),
            Some((version, reason)) => format!(
                "published version {version} cannot be applied here ({reason}); {in_force} still in force"
            ),
        },
    }
}

fn index_check(index: &moat_index::CodeIndex, repos: &[String]) -> Check {
    let runs = index.runs();
    let missing: Vec<&str> = repos
        .iter()
        .filter(|repo| {
            !runs
                .iter()
                .any(|r| &r.repo == *repo && r.last_success.is_some())
        })
        .map(String::as_str)
        .collect();
    Check {
        name: "index",
        ok: missing.is_empty(),
        detail: if missing.is_empty() {
            format!("{} repositories indexed", repos.len())
        } else {
            format!(
                "not indexed yet: {} (moat serve indexes them at start; `moat index` does it now)",
                missing.join(", ")
            )
        },
    }
}
