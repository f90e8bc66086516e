//! This node's copy of the code index, kept by `moat serve` itself. Every node indexes
//! each connected repository from its git source into its own data directory: at start
//! (so a node added later, or one whose data directory was lost, builds its replica
//! and `/readyz` answers 503 "not indexed yet" until it has) and again every interval,
//! incrementally (a repository whose commit has not moved costs a read of its ref).
//! Nothing is shared between the nodes' indexes, so no node waits on another's.

use crate::clock::Clock;
use moat_index::{CodeIndex, NoProgress, RepoSpec};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A repository as the replica indexes it (owned: passes run on a blocking thread).
#[derive(Debug, Clone)]
pub struct ReplicaRepo {
    pub name: String,
    /// The git repository on this machine.
    pub source: PathBuf,
    /// Branch, tag or commit; `None` follows HEAD.
    pub reference: Option<String>,
    pub exclude: Vec<String>,
}

/// What one pass over every repository did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Indexed at a new commit (or for the first time).
    pub indexed: Vec<String>,
    /// Already at the repository's commit.
    pub unchanged: Vec<String>,
    /// `(repository, why)`: left as it was (searches keep the last good copy).
    pub failed: Vec<(String, String)>,
    /// Being indexed by another process at the moment (`moat index`), which records
    /// its own outcome: left to it.
    pub busy: Vec<String>,
}

pub struct Replica {
    index: Arc<CodeIndex>,
    repos: Vec<ReplicaRepo>,
    clock: Arc<dyn Clock>,
}

impl Replica {
    pub fn new(index: Arc<CodeIndex>, repos: Vec<ReplicaRepo>, clock: Arc<dyn Clock>) -> Replica {
        Replica {
            index,
            repos,
            clock,
        }
    }

    /// Brings every repository up to date, one at a time on a blocking thread; each
    /// outcome is recorded as `moat index` records it (`/readyz`, the metrics).
    pub async fn catch_up(&self) -> Pass {
        let mut pass = Pass::default();
        for repo in &self.repos {
            let index = self.index.clone();
            let owned = repo.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let spec = RepoSpec {
                    name: &owned.name,
                    source: &owned.source,
                    reference: owned.reference.as_deref(),
                    exclude: &owned.exclude,
                };
                index.index_repo(&spec, &NoProgress)
            })
            .await;
            let now = self.clock.now().0;
            let recorded = match outcome {
                Ok(Ok(report)) => {
                    if report.unchanged {
                        pass.unchanged.push(repo.name.clone());
                    } else {
                        pass.indexed.push(repo.name.clone());
                    }
                    self.index.record_run(&repo.name, now, Ok(&report.commit))
                }
                Ok(Err(moat_index::IndexError::Busy)) => {
                    pass.busy.push(repo.name.clone());
                    continue;
                }
                Ok(Err(error)) => {
                    let why = error.to_string();
                    pass.failed.push((repo.name.clone(), why.clone()));
                    self.index.record_run(&repo.name, now, Err(&why))
                }
                Err(panicked) => {
                    let why = format!("indexing stopped: {panicked}");
                    pass.failed.push((repo.name.clone(), why.clone()));
                    self.index.record_run(&repo.name, now, Err(&why))
                }
            };
            if let Err(error) = recorded {
                tracing::warn!(repo = repo.name, %error, "index run could not be recorded");
            }
        }
        pass
    }

    /// Catches up now and then every `every`, logging what each pass did.
    pub async fn keep(self: Arc<Self>, every: Duration) {
        loop {
            let pass = self.catch_up().await;
            for repo in &pass.indexed {
                tracing::info!(repo, "index replica brought up to date");
            }
            for (repo, error) in &pass.failed {
                tracing::warn!(repo, %error, "index replica could not be brought up to date; searches use the last good copy");
            }
            tokio::time::sleep(every).await;
        }
    }
}
