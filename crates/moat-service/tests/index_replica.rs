//! A node's index replica: what a pass indexes, leaves unchanged or cannot index, and
//! that each outcome is recorded where `/readyz` and the metrics read it.

mod support;

use moat_service::SystemClock;
use moat_service::index_replica::{Replica, ReplicaRepo};
use std::sync::Arc;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_indexes_what_moved_keeps_what_did_not_and_records_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    let repo = one_repo(dir.path(), &[("a.py", "def first():\n    return 1\n")]);
    let replica = Replica::new(
        repo.index.clone(),
        vec![
            ReplicaRepo {
                name: REPO.into(),
                source: repo.source.clone(),
                reference: None,
                exclude: vec![],
            },
            ReplicaRepo {
                name: "gone".into(),
                source: dir.path().join("no-such-repository"),
                reference: None,
                exclude: vec![],
            },
        ],
        Arc::new(SystemClock),
    );
    let pass = replica.catch_up().await;
    assert_eq!(pass.unchanged, vec![REPO.to_string()]);
    assert_eq!(pass.failed.len(), 1, "{pass:?}");
    assert_eq!(pass.failed[0].0, "gone");

    std::fs::write(repo.source.join("b.py"), "def second():\n    return 2\n").unwrap();
    git(&repo.source, &["add", "-A"]);
    git(&repo.source, &["commit", "-qm", "second"]);
    let pass = replica.catch_up().await;
    assert_eq!(pass.indexed, vec![REPO.to_string()]);

    let runs = repo.index.runs();
    let run = |name: &str| runs.iter().find(|r| r.repo == name).unwrap().clone();
    assert!(run(REPO).last_success.is_some() && run(REPO).error.is_none());
    let head = std::process::Command::new("git")
        .current_dir(&repo.source)
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    assert_eq!(run(REPO).commit.as_deref(), Some(head.as_str()));
    assert!(run("gone").last_success.is_none());
    assert!(run("gone").error.is_some(), "{:?}", run("gone"));
}
