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
                remote: None,
                reference: None,
                exclude: vec![],
            },
            ReplicaRepo {
                name: "gone".into(),
                source: dir.path().join("no-such-repository"),
                remote: None,
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

fn head_of(source: &std::path::Path) -> String {
    let out = std::process::Command::new("git")
        .current_dir(source)
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn held(index: &moat_index::CodeIndex) -> Option<String> {
    index
        .runs()
        .into_iter()
        .find(|r| r.repo == REPO)
        .and_then(|r| r.commit)
}

/// Two nodes' replicas on one store: the commit a job recorded as the head is what
/// both serve, even when a node's clone has moved past it; a new job moves both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_the_queue_serve_the_head_a_job_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let repo = one_repo(dir.path(), &[("a.py", "def first():\n    return 1\n")]);
    let first = head_of(&repo.source);
    let store: Arc<dyn moat_store::Store> =
        Arc::new(moat_store::SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    // The head says the first commit; the clone has a second one already.
    store
        .index_head_set(&moat_store::IndexHead {
            repo: REPO.into(),
            commit: first.clone(),
            indexed_at: moat_domain::UnixTime(1),
            indexed_by: "a".into(),
        })
        .await
        .unwrap();
    std::fs::write(repo.source.join("b.py"), "def second():\n    return 2\n").unwrap();
    git(&repo.source, &["add", "-A"]);
    git(&repo.source, &["commit", "-qm", "second"]);
    let second = head_of(&repo.source);

    // Node b starts with an empty replica and a long interval: it asks for nothing (the
    // repository has a head) and serves exactly the head.
    let b_dir = tempfile::tempdir().unwrap();
    let b_index = Arc::new(
        moat_index::CodeIndex::open(
            &b_dir.path().join("index"),
            moat_index::IndexSettings {
                options: moat_index::IndexOptions::default(),
                detector: moat_dlp::Detector::builtin(),
                fingerprint_key: vec![1; 32],
                dlp_version: "t".into(),
            },
        )
        .unwrap(),
    );
    let spec = ReplicaRepo {
        name: REPO.into(),
        source: repo.source.clone(),
        remote: None,
        reference: None,
        exclude: vec![],
    };
    let b = Arc::new(
        Replica::new(b_index.clone(), vec![spec.clone()], Arc::new(SystemClock))
            .with_queue(store.clone(), "b".into()),
    );
    let b_task = tokio::spawn(b.keep(std::time::Duration::from_secs(3600)));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while held(&b_index).as_deref() != Some(first.as_str()) {
        assert!(
            std::time::Instant::now() < deadline,
            "b never followed the head"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(store.index_jobs().await.unwrap().is_empty());

    // Node a asks for jobs every second: it takes one, finds the second commit, records
    // it as the head, and b follows.
    let a = Arc::new(
        Replica::new(repo.index.clone(), vec![spec], Arc::new(SystemClock))
            .with_queue(store.clone(), "a".into()),
    );
    let a_task = tokio::spawn(a.keep(std::time::Duration::from_secs(1)));
    while held(&b_index).as_deref() != Some(second.as_str()) {
        assert!(
            std::time::Instant::now() < deadline,
            "b never followed the new head"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let heads = store.index_heads().await.unwrap();
    assert_eq!(heads[0].commit, second);
    assert_eq!(heads[0].indexed_by, "a", "node a's job found it");
    assert_eq!(held(&repo.index).as_deref(), Some(second.as_str()));
    a_task.abort();
    b_task.abort();
}

fn empty_index(dir: &std::path::Path) -> Arc<moat_index::CodeIndex> {
    Arc::new(
        moat_index::CodeIndex::open(
            &dir.join("index"),
            moat_index::IndexSettings {
                options: moat_index::IndexOptions::default(),
                detector: moat_dlp::Detector::builtin(),
                fingerprint_key: vec![1; 32],
                dlp_version: "t".into(),
            },
        )
        .unwrap(),
    )
}

async fn recorded_head(store: &dyn moat_store::Store, commit: &str) -> moat_store::IndexHead {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let heads = store.index_heads().await.unwrap();
        if let Some(head) = heads.into_iter().find(|h| h.commit == commit) {
            return head;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the head {commit} was never recorded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn wait_for(index: &moat_index::CodeIndex, commit: &str, what: &str) -> impl Future<Output = ()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    async move {
        while held(index).as_deref() != Some(commit) {
            assert!(std::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// A remote repository (a `file://` URL here, fetched by git as any URL is) needs no
/// `moat repo sync` on any node: the node that takes a job clones its mirror and finds
/// the commit; a node that has no mirror at all fetches one to follow the head; a push
/// is found by the next job, and followed by fetching what the mirror lacks. An
/// unreachable URL fails the job with git's reason and leaves the last good copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_repositories_are_fetched_by_the_replicas_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let origin = one_repo(dir.path(), &[("a.py", "def first():\n    return 1\n")]);
    let url = format!("file://{}", origin.source.display());
    let store: Arc<dyn moat_store::Store> =
        Arc::new(moat_store::SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let node = |name: &str| {
        let data = dir.path().join(name);
        let index = empty_index(&data);
        let spec = ReplicaRepo {
            name: REPO.into(),
            source: data.join("git").join(format!("{REPO}.git")),
            remote: Some(url.clone()),
            reference: Some("main".into()),
            exclude: vec![],
        };
        let replica = Arc::new(
            Replica::new(index.clone(), vec![spec], Arc::new(SystemClock))
                .with_queue(store.clone(), name.into()),
        );
        (index, replica)
    };
    let first = head_of(&origin.source);
    let (a_index, a) = node("a");
    let a_task = tokio::spawn(a.keep(std::time::Duration::from_secs(1)));
    wait_for(&a_index, &first, "a never cloned and indexed the remote").await;
    assert!(dir.path().join("a/git/vault.git/HEAD").exists());
    // The job installs the index before it records the head: wait for the record.
    let head = recorded_head(store.as_ref(), &first).await;
    assert_eq!(head.indexed_by, "a");

    // Node b joins later with nothing on disk: it fetches its own mirror to follow.
    let (b_index, b) = node("b");
    let b_task = tokio::spawn(b.keep(std::time::Duration::from_secs(3600)));
    wait_for(&b_index, &first, "b never fetched the head").await;

    // A push: a's next job fetches and finds it; b fetches the commit it lacks.
    std::fs::write(origin.source.join("b.py"), "def second():\n    return 2\n").unwrap();
    git(&origin.source, &["add", "-A"]);
    git(&origin.source, &["commit", "-qm", "second"]);
    let second = head_of(&origin.source);
    wait_for(&a_index, &second, "a never fetched the push").await;
    wait_for(&b_index, &second, "b never followed the pushed head").await;
    a_task.abort();
    b_task.abort();

    // A URL that does not answer: the run fails with git's own words, and a's index
    // keeps serving the last good commit.
    let gone = Replica::new(
        a_index.clone(),
        vec![ReplicaRepo {
            name: REPO.into(),
            source: dir.path().join("elsewhere/git/vault.git"),
            remote: Some(format!(
                "file://{}/no-such-repository",
                dir.path().display()
            )),
            reference: None,
            exclude: vec![],
        }],
        Arc::new(SystemClock),
    );
    let pass = gone.catch_up().await;
    assert_eq!(pass.failed.len(), 1, "{pass:?}");
    assert!(pass.failed[0].1.contains("fetching `vault`"), "{pass:?}");
    assert!(pass.failed[0].1.contains("no-such-repository"), "{pass:?}");
    assert_eq!(held(&a_index).as_deref(), Some(second.as_str()));
}
