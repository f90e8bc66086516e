//! The permission mirror: who each repository host (GitHub, GitLab) says may read each
//! repository, fetched in full on a schedule and patched by webhooks.
//!
//! GitHub: `GET /repos/{owner}/{repo}/collaborators?affiliation=all` (direct, team and
//! organisation access), paginated by `Link: <...>; rel="next"`, conditional on the
//! first page's `ETag`. GitLab: `GET /projects/{path}/members/all` (inherited members
//! included), paginated by `X-Next-Page`; reporters (access level 20) and above read
//! code. Rate limits are honoured (`Retry-After`, `X-RateLimit-Reset`) up to a bound;
//! a repository the token cannot see (404) is a failed sync, so its mirror goes stale
//! and access to it fails closed.

mod config;
mod wire;

pub use config::{HostTokens, repos_from_config};

use crate::clock::Clock;
use crate::mirror::{ChangeSource, MirrorError, MirrorWriter, diff};
use moat_store::{MirrorApplied, MirrorSynced, MirrorUpdate, ReaderChange, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wire::{encode_path, parse_members, with_page};

/// Longest wait for a rate limit to reset before the sync gives up on a repository.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// Pages fetched per repository at most (100 members each).
const MAX_PAGES: usize = 500;
/// Times a mirror write is computed again when another writer changed the same rows.
const MAX_WRITE_ATTEMPTS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKind {
    Github,
    Gitlab,
}

impl HostKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            HostKind::Github => "github",
            HostKind::Gitlab => "gitlab",
        }
    }
}

/// One repository as its host names it.
#[derive(Debug, Clone)]
pub struct HostRepo {
    /// Moat's name for it.
    pub repo: String,
    pub kind: HostKind,
    /// `owner/name` (GitHub) or `group/subgroup/project` (GitLab).
    pub path: String,
    pub api_url: String,
    pub token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(
        "{host} says `{path}` does not exist or the token cannot see it (404); check the token's access"
    )]
    NotVisible { host: &'static str, path: String },
    #[error(
        "{host} refused the token for `{path}` ({status}); check that it is valid and has read access to members"
    )]
    Refused {
        host: &'static str,
        path: String,
        status: u16,
    },
    #[error("{host} rate limit: would wait {wait:?}, more than allowed; the next sync will retry")]
    RateLimited { host: &'static str, wait: Duration },
    #[error("{host} answered {status} for `{path}`")]
    Status {
        host: &'static str,
        path: String,
        status: u16,
    },
    #[error("{host} request failed: {message}")]
    Transport { host: &'static str, message: String },
    #[error("{host} answered something that is not its documented JSON: {message}")]
    Shape { host: &'static str, message: String },
    #[error("storing the mirror failed: {0}")]
    Store(#[from] moat_store::StoreError),
    #[error("{0}")]
    Mirror(#[from] MirrorError),
    #[error("the mirror of `{repo}` kept changing under the sync; the next sync will retry")]
    Contended { repo: String },
}

/// What one repository's sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub repo: String,
    pub readers: usize,
    pub pages: usize,
    /// The host said nothing changed (HTTP 304).
    pub unchanged: bool,
}

/// What a per-person refresh did (see [`HostSync::refresh_user`]).
#[derive(Debug, Default)]
pub struct UserRefresh {
    /// Repositories the host was asked about.
    pub checked: usize,
    /// Repositories the host no longer lets the person read; their mirror rows are gone.
    pub revoked: Vec<String>,
    /// Repositories whose host did not answer. Their rows stay as the last sync left
    /// them; the scheduled sync and the staleness bound still apply.
    pub failed: Vec<(String, SyncError)>,
}

/// `(login, level)` pairs a host lists for a repository.
type Readers = Vec<(String, String)>;
/// The first page's ETag and the readers it stood for.
type Conditional = (String, Readers);

pub struct HostSync {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) writer: Arc<MirrorWriter>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) http: reqwest::Client,
    /// First-page ETag and readers per repository, for conditional requests.
    etags: Mutex<HashMap<String, Conditional>>,
}

impl HostSync {
    /// Every change goes through `writer`, so each is on the record.
    pub fn new(writer: Arc<MirrorWriter>, clock: Arc<dyn Clock>) -> HostSync {
        HostSync {
            store: writer.store().clone(),
            writer,
            clock,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .user_agent(concat!("moat/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
            etags: Mutex::new(HashMap::new()),
        }
    }

    /// Syncs every repository, eight at a time; one failure does not stop the others.
    /// Results come back in the order of `repos`.
    pub async fn sync_all(
        self: &Arc<Self>,
        repos: &[HostRepo],
    ) -> Vec<(String, Result<SyncReport, SyncError>)> {
        let mut results: Vec<Option<(String, Result<SyncReport, SyncError>)>> =
            (0..repos.len()).map(|_| None).collect();
        let mut running = tokio::task::JoinSet::new();
        let mut next = 0;
        while next < repos.len() || !running.is_empty() {
            while next < repos.len() && running.len() < 8 {
                let sync = self.clone();
                let repo = repos[next].clone();
                let index = next;
                running.spawn(async move {
                    let result = sync.sync_repo(&repo).await;
                    (index, repo.repo, result)
                });
                next += 1;
            }
            if let Some(Ok((index, name, result))) = running.join_next().await {
                results[index] = Some((name, result));
            }
        }
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    (
                        repos[i].repo.clone(),
                        Err(SyncError::Transport {
                            host: repos[i].kind.as_str(),
                            message: "the sync task stopped unexpectedly".into(),
                        }),
                    )
                })
            })
            .collect()
    }

    /// Fetches every reader of one repository and replaces its mirror.
    pub async fn sync_repo(&self, repo: &HostRepo) -> Result<SyncReport, SyncError> {
        let first = match repo.kind {
            HostKind::Github => format!(
                "{}/repos/{}/collaborators?affiliation=all&per_page=100",
                repo.api_url.trim_end_matches('/'),
                repo.path
            ),
            HostKind::Gitlab => format!(
                "{}/projects/{}/members/all?per_page=100",
                repo.api_url.trim_end_matches('/'),
                encode_path(&repo.path)
            ),
        };
        let cached = self
            .etags
            .lock()
            .ok()
            .and_then(|etags| etags.get(&repo.repo).cloned());
        let mut url = Some(first);
        let mut readers = Vec::new();
        let mut pages = 0;
        let mut first_etag = None;
        while let Some(next) = url.take() {
            let etag = if pages == 0 {
                cached.as_ref().map(|(etag, _)| etag.as_str())
            } else {
                None
            };
            let response = self.get(repo, &next, etag).await?;
            if pages == 0 && response.status == 304 {
                let readers = cached.map(|(_, r)| r).unwrap_or_default();
                self.store_sync(repo, &readers).await?;
                return Ok(SyncReport {
                    repo: repo.repo.clone(),
                    readers: readers.len(),
                    pages: 1,
                    unchanged: true,
                });
            }
            if pages == 0 {
                first_etag = response.etag.clone();
            }
            pages += 1;
            readers.extend(parse_members(&repo.kind, &response.body)?);
            url = match repo.kind {
                HostKind::Github => response.next_link,
                HostKind::Gitlab => response
                    .next_page
                    .filter(|p| !p.is_empty())
                    .map(|page| with_page(&next, &page)),
            };
            if pages >= MAX_PAGES {
                break;
            }
        }
        for reader in &mut readers {
            reader.0 = reader.0.to_lowercase();
        }
        readers.sort();
        readers.dedup_by(|a, b| a.0 == b.0);
        self.store_sync(repo, &readers).await?;
        if let (Some(etag), Ok(mut etags)) = (first_etag, self.etags.lock()) {
            etags.insert(repo.repo.clone(), (etag, readers.clone()));
        }
        Ok(SyncReport {
            repo: repo.repo.clone(),
            readers: readers.len(),
            pages,
            unchanged: false,
        })
    }

    /// Makes the mirror of `repo` what the host listed and records the sync: only the
    /// readers that changed are written (each an `access.mirror` event), computed
    /// again if another writer changed them meanwhile.
    async fn store_sync(
        &self,
        repo: &HostRepo,
        readers: &[(String, String)],
    ) -> Result<(), SyncError> {
        let host = repo.kind.as_str();
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let current = self.store.mirror_readers(&repo.repo).await?;
            let update = MirrorUpdate {
                changes: diff(&repo.repo, &current, readers),
                synced: Some(MirrorSynced {
                    repo: repo.repo.clone(),
                    host: host.to_string(),
                    at: self.clock.now(),
                }),
                delivery: None,
            };
            match self.writer.write(host, ChangeSource::Sync, update).await? {
                MirrorApplied::Applied => return Ok(()),
                MirrorApplied::Conflict { .. } | MirrorApplied::Duplicate => continue,
            }
        }
        Err(SyncError::Contended {
            repo: repo.repo.clone(),
        })
    }

    /// Removes `login` from `repo` if the mirror has them, on the record; whether a
    /// row went.
    async fn revoke(
        &self,
        repo: &HostRepo,
        login: &str,
        source: ChangeSource,
    ) -> Result<bool, SyncError> {
        let login = login.to_lowercase();
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let current = self.store.mirror_readers(&repo.repo).await?;
            let Some((_, level)) = current.into_iter().find(|(l, _)| *l == login) else {
                return Ok(false);
            };
            let update = MirrorUpdate {
                changes: vec![ReaderChange {
                    repo: repo.repo.clone(),
                    login: login.clone(),
                    before: Some(level),
                    after: None,
                }],
                synced: None,
                delivery: None,
            };
            if self
                .writer
                .write(repo.kind.as_str(), source, update)
                .await?
                == MirrorApplied::Applied
            {
                return Ok(true);
            }
        }
        Err(SyncError::Contended {
            repo: repo.repo.clone(),
        })
    }

    /// Asks each host whether `login` may still read each of `repos` (eight at a time)
    /// and removes from the mirror every row the host no longer backs. This is the
    /// sign-in refresh: one request per repository (two on GitLab) instead of a full
    /// sync, so a person whose access was taken away while no webhook reached Moat
    /// loses it when they next sign in.
    ///
    /// GitHub: `GET /repos/{owner}/{repo}/collaborators/{username}/permission`
    /// (`permission` is `none` without access; 404 when the user is unknown there).
    /// GitLab: `GET /users?username=` for the id, then
    /// `GET /projects/{path}/members/all/{id}` (404 when not a member, inherited
    /// membership included). Either 404 removes the row: refreshes fail closed.
    pub async fn refresh_user(self: &Arc<Self>, login: &str, repos: &[HostRepo]) -> UserRefresh {
        let mut report = UserRefresh::default();
        let mut running = tokio::task::JoinSet::new();
        let mut pending = repos.iter().cloned();
        loop {
            while running.len() < 8 {
                let Some(repo) = pending.next() else { break };
                let sync = self.clone();
                let login = login.to_string();
                running.spawn(async move {
                    let result = match sync.reads(&repo, &login).await {
                        Ok(Some(_)) => Ok(false),
                        // Reported as revoked only when the mirror had the row.
                        Ok(None) => sync.revoke(&repo, &login, ChangeSource::SignIn).await,
                        Err(error) => Err(error),
                    };
                    (repo.repo, result)
                });
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            report.checked += 1;
            match joined {
                Ok((repo, Ok(true))) => report.revoked.push(repo),
                Ok((_, Ok(false))) => {}
                Ok((repo, Err(error))) => report.failed.push((repo, error)),
                Err(error) => report.failed.push((
                    String::new(),
                    SyncError::Transport {
                        host: "host",
                        message: format!("the refresh task stopped: {error}"),
                    },
                )),
            }
        }
        report.revoked.sort();
        report
    }

    /// The level at which the host lets `login` read `repo`, or `None`: what a
    /// webhook's addition is confirmed with.
    pub async fn reads(&self, repo: &HostRepo, login: &str) -> Result<Option<String>, SyncError> {
        let base = repo.api_url.trim_end_matches('/');
        let host = repo.kind.as_str();
        let shape = |message: String| SyncError::Shape { host, message };
        let json = |body: &[u8]| -> Result<serde_json::Value, SyncError> {
            serde_json::from_slice(body).map_err(|e| shape(e.to_string()))
        };
        match repo.kind {
            HostKind::Github => {
                let url = format!(
                    "{base}/repos/{}/collaborators/{}/permission",
                    repo.path,
                    encode_path(login)
                );
                let page = match self.get(repo, &url, None).await {
                    Ok(page) => page,
                    Err(SyncError::NotVisible { .. }) => return Ok(None),
                    Err(error) => return Err(error),
                };
                let value = json(&page.body)?;
                let permission = value
                    .get("permission")
                    .and_then(|p| p.as_str())
                    .ok_or_else(|| shape("no `permission` in the answer".into()))?;
                Ok((permission != "none").then(|| {
                    value
                        .get("role_name")
                        .and_then(|r| r.as_str())
                        .unwrap_or(permission)
                        .to_string()
                }))
            }
            HostKind::Gitlab => {
                let url = format!("{base}/users?username={}", encode_path(login));
                let users = json(&self.get(repo, &url, None).await?.body)?;
                let Some(id) = users
                    .as_array()
                    .ok_or_else(|| shape("expected a JSON array of users".into()))?
                    .first()
                    .and_then(|u| u.get("id"))
                    .and_then(|id| id.as_i64())
                else {
                    return Ok(None);
                };
                let url = format!(
                    "{base}/projects/{}/members/all/{id}",
                    encode_path(&repo.path)
                );
                let page = match self.get(repo, &url, None).await {
                    Ok(page) => page,
                    Err(SyncError::NotVisible { .. }) => return Ok(None),
                    Err(error) => return Err(error),
                };
                let member = [&b"["[..], &page.body, &b"]"[..]].concat();
                Ok(parse_members(&HostKind::Gitlab, &member)?
                    .into_iter()
                    .next()
                    .map(|(_, level)| level))
            }
        }
    }
}
