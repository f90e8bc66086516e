//! Helpers the integration tests share: repositories made with the `git` command and
//! the index settings they are indexed with.
#![allow(dead_code)]

use moat_index::{CodeIndex, IndexOptions, IndexSettings, NoProgress, RepoSpec};
use std::path::Path;
use std::process::Command;

pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

pub fn write(dir: &Path, path: &str, contents: impl AsRef<[u8]>) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

pub fn commit_all(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", message, "--allow-empty"]);
    git(dir, &["rev-parse", "HEAD"])
}

pub fn settings() -> IndexSettings {
    IndexSettings {
        options: IndexOptions {
            parse_deadline: std::time::Duration::from_secs(20),
            ..IndexOptions::default()
        },
        detector: moat_dlp::Detector::builtin(),
        fingerprint_key: vec![7; 32],
        dlp_version: "test".into(),
    }
}

/// Indexes the repository at `dir` at its HEAD as `name`.
pub fn index_repo(index: &CodeIndex, name: &str, dir: &Path) {
    index
        .index_repo(
            &RepoSpec {
                name,
                source: dir,
                reference: None,
                exclude: &[],
            },
            &NoProgress,
        )
        .unwrap();
}
