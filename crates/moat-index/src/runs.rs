//! The outcome of each repository's last indexing run (`runs/<repo>.json` in the index
//! directory), written by `moat index` and read by the server for `/metrics`: when the
//! repository was last indexed, at which commit, and the last error if the run failed.

use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexRun {
    pub repo: String,
    /// When the run ended, Unix seconds.
    pub at: i64,
    /// The last run that succeeded, Unix seconds (this one, when it did).
    pub last_success: Option<i64>,
    /// The commit the index holds.
    pub commit: Option<String>,
    /// Why the last run failed; `None` when it succeeded.
    pub error: Option<String>,
}

fn file_name(repo: &str) -> String {
    format!("{}.json", crate::index::file_stem(repo))
}

/// Records a run's outcome; a failure keeps the last success and commit it follows.
pub fn record(
    directory: &Path,
    repo: &str,
    at: i64,
    outcome: Result<&str, &str>,
) -> std::io::Result<IndexRun> {
    let runs = directory.join("runs");
    std::fs::create_dir_all(&runs)?;
    let path = runs.join(file_name(repo));
    let previous: Option<IndexRun> = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let run = match outcome {
        Ok(commit) => IndexRun {
            repo: repo.to_string(),
            at,
            last_success: Some(at),
            commit: Some(commit.to_string()),
            error: None,
        },
        Err(error) => IndexRun {
            repo: repo.to_string(),
            at,
            last_success: previous.as_ref().and_then(|p| p.last_success),
            commit: previous.and_then(|p| p.commit),
            error: Some(error.to_string()),
        },
    };
    let temporary = runs.join(format!(".{}.tmp", file_name(repo)));
    std::fs::write(&temporary, serde_json::to_vec(&run)?)?;
    std::fs::rename(&temporary, &path)?;
    Ok(run)
}

/// Every repository's last run; unreadable files are skipped.
pub fn all(directory: &Path) -> Vec<IndexRun> {
    let Ok(entries) = std::fs::read_dir(directory.join("runs")) else {
        return Vec::new();
    };
    let mut runs: Vec<IndexRun> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
        .collect();
    runs.sort_by(|a, b| a.repo.cmp(&b.repo));
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_keeps_the_last_success_and_names_its_error() {
        let dir = tempfile::tempdir().unwrap();
        record(dir.path(), "pay/ments", 100, Ok("abc")).unwrap();
        let failed = record(dir.path(), "pay/ments", 200, Err("git: object missing")).unwrap();
        assert_eq!(failed.last_success, Some(100));
        assert_eq!(failed.commit.as_deref(), Some("abc"));
        assert_eq!(failed.error.as_deref(), Some("git: object missing"));
        record(dir.path(), "other", 150, Err("no such branch")).unwrap();
        // A name that reads the same once made safe is still another repository.
        record(dir.path(), "pay_ments", 160, Ok("def")).unwrap();
        let runs = all(dir.path());
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[0].repo, "other");
        assert_eq!(runs[0].last_success, None);
        assert_eq!(runs[1], failed);
        assert_eq!(runs[2].commit.as_deref(), Some("def"));
        std::fs::write(dir.path().join("runs").join("junk.json"), b"{").unwrap();
        assert_eq!(all(dir.path()).len(), 3, "an unreadable file is skipped");
    }
}
