//! This node's copy of the code index, kept by `moat serve` itself. Every node indexes
//! each connected repository from its git source into its own data directory: at start
//! (so a node added later, or one whose data directory was lost, builds its replica
//! and `/readyz` answers 503 "not indexed yet" until it has) and again every interval,
//! incrementally (a repository whose commit has not moved costs a read of its ref).
//! Nothing is shared between the nodes' indexes, so no node waits on another's.
//!
//! With the shared queue ([`Replica::with_queue`], what `moat serve` runs), which
//! commit each repository is served at is decided once for all nodes: every interval
//! (and at start, for a repository without a head) a node asks for an indexing job in
//! the store; whichever node takes it (one at a time per repository, under a lease it
//! renews) indexes the repository at its reference and records the commit it found
//! as the repository's head. Every node's replica then follows the heads, indexing
//! exactly that commit, so all nodes answer from the same commit, and a repository
//! moved by a push is resolved once, not by each node on its own clock.
//!
//! A remote repository is read from this node's bare mirror ([`git_mirror`]): fetched
//! before each job on it, and before following a head the mirror does not hold, so
//! no node needs `moat repo sync` run on it to catch up.

use crate::clock::Clock;
use crate::git_mirror;
use moat_index::{CodeIndex, IndexReport, NoProgress, Progress, RepoSpec};
use moat_store::Store;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long a node's claim on a job holds without renewal, and how often it renews.
pub const JOB_LEASE: Duration = Duration::from_secs(60);
const RENEW_EVERY: Duration = Duration::from_secs(20);
/// How often a node looks for jobs and for heads its replica does not hold yet.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// A repository as the replica indexes it (owned: passes run on a blocking thread).
#[derive(Debug, Clone)]
pub struct ReplicaRepo {
    pub name: String,
    /// The git repository on this machine (for a remote one, its bare mirror).
    pub source: PathBuf,
    /// For a remote repository, the URL its mirror at `source` is fetched from before
    /// an indexing job and before following a head the mirror does not hold.
    pub remote: Option<String>,
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
    queue: Option<Queue>,
    /// Heads this replica could not reach, and when it last tried: tried again after a
    /// minute, or at once when the head moves.
    unreachable: std::sync::Mutex<HashMap<String, (String, std::time::Instant)>>,
}

/// The store's indexing jobs and heads, and the name this node claims jobs under.
struct Queue {
    store: Arc<dyn Store>,
    node: String,
}

/// What one indexing run of one repository did.
enum Run {
    Indexed(String),
    Unchanged(String),
    Busy,
    Failed(String),
}

impl Replica {
    pub fn new(index: Arc<CodeIndex>, repos: Vec<ReplicaRepo>, clock: Arc<dyn Clock>) -> Replica {
        Replica {
            index,
            repos,
            clock,
            queue: None,
            unreachable: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Takes indexing jobs from `store`'s shared queue as `node` and follows the
    /// heads they record (see the module's documentation).
    pub fn with_queue(mut self, store: Arc<dyn Store>, node: String) -> Replica {
        self.queue = Some(Queue { store, node });
        self
    }

    /// Indexes `repo` at `reference` (its own when `None`) on a blocking thread and
    /// records the outcome as `moat index` does (`/readyz`, the metrics).
    async fn run(&self, repo: &ReplicaRepo, reference: Option<String>) -> Run {
        if let Err(why) = self.fetch(repo, reference.as_deref()).await {
            let recorded = self
                .index
                .record_run(&repo.name, self.clock.now().0, Err(&why));
            if let Err(error) = recorded {
                tracing::warn!(repo = repo.name, %error, "index run could not be recorded");
            }
            return Run::Failed(why);
        }
        let index = self.index.clone();
        let owned = repo.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let spec = RepoSpec {
                name: &owned.name,
                source: &owned.source,
                reference: reference.as_deref().or(owned.reference.as_deref()),
                exclude: &owned.exclude,
            };
            index.index_repo(&spec, &NoProgress)
        })
        .await;
        let now = self.clock.now().0;
        let (run, recorded) = match outcome {
            Ok(Ok(report)) => {
                let recorded = self.index.record_run(&repo.name, now, Ok(&report.commit));
                let run = if report.unchanged {
                    Run::Unchanged(report.commit)
                } else {
                    Run::Indexed(report.commit)
                };
                (run, recorded)
            }
            Ok(Err(moat_index::IndexError::Busy)) => return Run::Busy,
            Ok(Err(error)) => {
                let why = error.to_string();
                let recorded = self.index.record_run(&repo.name, now, Err(&why));
                (Run::Failed(why), recorded)
            }
            Err(panicked) => {
                let why = format!("indexing stopped: {panicked}");
                let recorded = self.index.record_run(&repo.name, now, Err(&why));
                (Run::Failed(why), recorded)
            }
        };
        if let Err(error) = recorded {
            tracing::warn!(repo = repo.name, %error, "index run could not be recorded");
        }
        run
    }

    /// Brings a remote repository's mirror up to date before it is indexed at its own
    /// reference (`None`), or at a commit the mirror does not hold yet.
    async fn fetch(&self, repo: &ReplicaRepo, commit: Option<&str>) -> Result<(), String> {
        let Some(url) = repo.remote.clone() else {
            return Ok(());
        };
        let (name, target, commit) = (
            repo.name.clone(),
            repo.source.clone(),
            commit.map(str::to_string),
        );
        tokio::task::spawn_blocking(move || {
            if commit.is_some_and(|commit| git_mirror::holds(&target, &commit)) {
                return Ok(());
            }
            git_mirror::sync(&name, &url, &target).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|panicked| Err(format!("fetching stopped: {panicked}")))
    }

    /// Brings every repository up to date, one at a time on a blocking thread; each
    /// outcome is recorded as `moat index` records it (`/readyz`, the metrics).
    pub async fn catch_up(&self) -> Pass {
        let mut pass = Pass::default();
        for repo in &self.repos {
            match self.run(repo, None).await {
                Run::Indexed(_) => pass.indexed.push(repo.name.clone()),
                Run::Unchanged(_) => pass.unchanged.push(repo.name.clone()),
                Run::Busy => pass.busy.push(repo.name.clone()),
                Run::Failed(why) => pass.failed.push((repo.name.clone(), why)),
            }
        }
        pass
    }

    /// Catches up now and then every `every`, logging what each pass did; with the
    /// queue, asks for jobs every `every`, takes jobs and follows heads continuously.
    pub async fn keep(self: Arc<Self>, every: Duration) {
        if let Some(queue) = &self.queue {
            return self.keep_with(queue, every).await;
        }
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

    async fn keep_with(&self, queue: &Queue, every: Duration) {
        let mut asked_at: Option<std::time::Instant> = None;
        loop {
            if asked_at.is_none_or(|at| at.elapsed() >= every) {
                self.ask(queue, asked_at.is_none()).await;
                asked_at = Some(std::time::Instant::now());
            }
            while let Some(repo) = self.take_job(queue).await {
                tracing::debug!(repo, "indexing job done");
            }
            self.follow(queue).await;
            tokio::time::sleep(FOLLOW_EVERY).await;
        }
    }

    /// Asks for a job per repository: every one each interval, at start only those
    /// without a head yet (a node joining does not make the others index again).
    async fn ask(&self, queue: &Queue, starting: bool) {
        let heads: Vec<String> = match queue.store.index_heads().await {
            Ok(heads) => heads.into_iter().map(|h| h.repo).collect(),
            Err(error) => {
                tracing::warn!(%error, "indexing heads cannot be read; asking for every repository");
                Vec::new()
            }
        };
        let now = self.clock.now();
        for repo in &self.repos {
            if starting && heads.contains(&repo.name) {
                continue;
            }
            let reason = if starting { "start" } else { "interval" };
            if let Err(error) = queue.store.index_job_request(&repo.name, reason, now).await {
                tracing::warn!(repo = repo.name, %error, "indexing job could not be asked for");
            }
        }
    }

    /// Takes one due job and does it: indexes the repository at its reference,
    /// renewing the claim meanwhile, and records the head (or the failure). Returns
    /// the repository, `None` when no job was due.
    async fn take_job(&self, queue: &Queue) -> Option<String> {
        let now = self.clock.now();
        // A read first: an idle queue costs no write (on SQLite a claim takes the write
        // lock even when nothing is due, every two seconds on every node).
        let open = match queue.store.index_jobs().await {
            Ok(jobs) => jobs
                .iter()
                .any(|job| job.claimed.as_ref().is_none_or(|(_, until)| *until < now)),
            Err(_) => true,
        };
        if !open {
            return None;
        }
        let until = now.plus_seconds(JOB_LEASE.as_secs() as i64);
        let job = match queue.store.index_job_claim(&queue.node, now, until).await {
            Ok(job) => job?,
            Err(error) => {
                tracing::warn!(%error, "indexing jobs cannot be read");
                return None;
            }
        };
        let Some(repo) = self.repos.iter().find(|r| r.name == job.repo) else {
            // Asked for by a node with another configuration: not this node's to say.
            let retry = now.plus_seconds(JOB_LEASE.as_secs() as i64);
            let why = "no node that took it has this repository connected";
            let _ = queue
                .store
                .index_job_finish(&job.repo, &queue.node, Err(why), now, retry)
                .await;
            return None;
        };
        let renewing = {
            let store = queue.store.clone();
            let (node, name, clock) = (queue.node.clone(), repo.name.clone(), self.clock.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(RENEW_EVERY).await;
                    let until = clock.now().plus_seconds(JOB_LEASE.as_secs() as i64);
                    if !store
                        .index_job_renew(&name, &node, until)
                        .await
                        .unwrap_or(true)
                    {
                        tracing::warn!(repo = name, "indexing job taken over by another node");
                        return;
                    }
                }
            })
        };
        let run = self.run(repo, None).await;
        renewing.abort();
        let now = self.clock.now();
        let outcome = match &run {
            Run::Indexed(commit) | Run::Unchanged(commit) => Ok(commit.as_str()),
            Run::Busy => Err("this node's index was busy with another run"),
            Run::Failed(why) => Err(why.as_str()),
        };
        let wait = match run {
            Run::Busy => 5,
            _ => (30i64 << job.attempts.clamp(0, 5)).min(600),
        };
        match queue
            .store
            .index_job_finish(
                &repo.name,
                &queue.node,
                outcome,
                now,
                now.plus_seconds(wait),
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                repo = repo.name,
                "indexing job was taken over; its result is not recorded"
            ),
            Err(error) => {
                tracing::warn!(repo = repo.name, %error, "indexing job's end could not be recorded; it is taken again once its claim lapses")
            }
        }
        if let Err(why) = outcome {
            tracing::warn!(repo = repo.name, %why, "indexing job failed; it is tried again later");
        }
        Some(repo.name.clone())
    }

    /// Indexes, at its head, each repository whose head this replica does not hold.
    async fn follow(&self, queue: &Queue) {
        let heads = match queue.store.index_heads().await {
            Ok(heads) => heads,
            Err(error) => {
                tracing::warn!(%error, "indexing heads cannot be read");
                return;
            }
        };
        let held: HashMap<String, Option<String>> = self
            .index
            .runs()
            .into_iter()
            .map(|r| (r.repo, r.commit))
            .collect();
        for head in heads {
            let Some(repo) = self.repos.iter().find(|r| r.name == head.repo) else {
                continue;
            };
            if held.get(&head.repo).and_then(Option::as_ref) == Some(&head.commit) {
                continue;
            }
            let tried_lately = self.unreachable.lock().is_ok_and(|tried| {
                tried.get(&head.repo).is_some_and(|(commit, at)| {
                    *commit == head.commit && at.elapsed() < Duration::from_secs(60)
                })
            });
            if tried_lately {
                continue;
            }
            match self.run(repo, Some(head.commit.clone())).await {
                Run::Indexed(_) | Run::Unchanged(_) => {
                    tracing::info!(
                        repo = repo.name,
                        commit = head.commit,
                        "index replica follows the head"
                    );
                }
                Run::Busy => {}
                Run::Failed(why) => {
                    if let Ok(mut tried) = self.unreachable.lock() {
                        tried.insert(
                            head.repo.clone(),
                            (head.commit.clone(), std::time::Instant::now()),
                        );
                    }
                    tracing::warn!(repo = repo.name, commit = head.commit, %why, "index replica cannot reach the head; searches use the last good copy");
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IndexNowError {
    #[error("{0}")]
    Index(#[from] moat_index::IndexError),
    #[error("the repository's head could not be recorded for the other nodes: {0}")]
    Store(#[from] moat_store::StoreError),
}

/// `moat index`: indexes `repo` now (from scratch with `full`), records the run where
/// `/readyz` and the metrics read it, and records the commit as the repository's head,
/// so every node's replica follows the commit indexed here rather than the one before.
pub async fn index_now(
    index: &CodeIndex,
    store: &dyn Store,
    clock: &dyn Clock,
    repo: &ReplicaRepo,
    full: bool,
    progress: &dyn Progress,
    indexed_by: &str,
) -> Result<IndexReport, IndexNowError> {
    if full {
        index.remove_repo(&repo.name)?;
    }
    let spec = RepoSpec {
        name: &repo.name,
        source: &repo.source,
        reference: repo.reference.as_deref(),
        exclude: &repo.exclude,
    };
    let now = clock.now();
    match index.index_repo(&spec, progress) {
        Ok(report) => {
            index.record_run(&repo.name, now.0, Ok(&report.commit))?;
            store
                .index_head_set(&moat_store::IndexHead {
                    repo: repo.name.clone(),
                    commit: report.commit.clone(),
                    indexed_at: now,
                    indexed_by: indexed_by.to_string(),
                })
                .await?;
            Ok(report)
        }
        Err(error) => {
            index.record_run(&repo.name, now.0, Err(&error.to_string()))?;
            Err(error.into())
        }
    }
}
