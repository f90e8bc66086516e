//! Bare mirrors of remote repositories, kept on each node with the system git.
//!
//! A repository whose `source` is a URL (`https://…`, `ssh://…`, `git@host:path`,
//! `file://…`) is read from a bare mirror in the node's data directory. `moat repo
//! sync` fetches it by hand; a node's index replica fetches it before an indexing job
//! (so the job finds what was pushed) and before following a head its mirror does not
//! hold yet (so a node added later, or one whose mirror was lost, catches up without
//! anyone running anything on it).
//!
//! git runs without a terminal to ask for credentials (`GIT_TERMINAL_PROMPT=0`: a
//! node's background fetch fails and says so instead of hanging), without the `ext::`
//! transport, with the URL after `--` so no URL is read as an option, and under
//! [`FETCH_TIMEOUT`].

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest one clone or fetch may take before it is stopped.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("running git to fetch `{repo}`: {error}; is git installed?")]
    Spawn { repo: String, error: std::io::Error },
    #[error(
        "fetching `{repo}` from {url} failed: {detail}; check the URL and this machine's credentials for it"
    )]
    Failed {
        repo: String,
        url: String,
        detail: String,
    },
    #[error("fetching `{repo}` from {url} took longer than {}s and was stopped", FETCH_TIMEOUT.as_secs())]
    TimedOut { repo: String, url: String },
}

/// Whether `source` names a remote repository (kept as a mirror) rather than a path.
pub fn is_remote(source: &str) -> bool {
    source.contains("://") || (source.contains('@') && source.contains(':'))
}

/// Brings the bare mirror at `target` up to date with `url`, cloning it when missing.
/// Blocking: call it on a blocking thread.
pub fn sync(repo: &str, url: &str, target: &Path) -> Result<(), MirrorError> {
    let mut command = Command::new("git");
    command
        .env("GIT_TERMINAL_PROMPT", "0")
        .args(["-c", "protocol.ext.allow=never"]);
    if target.join("HEAD").exists() {
        command
            .arg("--git-dir")
            .arg(target)
            .args(["fetch", "--prune", "--quiet", "origin"]);
    } else {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|error| MirrorError::Spawn {
                repo: repo.to_string(),
                error,
            })?;
        }
        command
            .args(["clone", "--mirror", "--quiet", "--", url])
            .arg(target);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| MirrorError::Spawn {
            repo: repo.to_string(),
            error,
        })?;
    let deadline = Instant::now() + FETCH_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(MirrorError::TimedOut {
                    repo: repo.to_string(),
                    url: url.to_string(),
                });
            }
            Err(error) => {
                return Err(MirrorError::Spawn {
                    repo: repo.to_string(),
                    error,
                });
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut detail = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        use std::io::Read;
        let _ = stderr.read_to_string(&mut detail);
    }
    let detail = detail.trim();
    Err(MirrorError::Failed {
        repo: repo.to_string(),
        url: url.to_string(),
        detail: if detail.is_empty() {
            format!("git exited with {status}")
        } else {
            detail.lines().last().unwrap_or(detail).to_string()
        },
    })
}

/// Whether the repository at `git_dir` holds `commit` (a hexadecimal object name).
pub fn holds(git_dir: &Path, commit: &str) -> bool {
    if commit.is_empty() || !commit.chars().all(|c| c.is_ascii_hexdigit()) {
        return false;
    }
    Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["cat-file", "-e"])
        .arg(format!("{commit}^{{commit}}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
