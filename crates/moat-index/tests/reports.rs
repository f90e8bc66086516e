//! Pasted bug reports against real git repositories: what a stack frame names is
//! lifted, an environment dump does not pull lock files up, and which words of a long
//! report are ranked on is chosen with the statistics of the searched repositories
//! only.

mod common;

use common::{commit_all, git, index_repo, settings, write};
use moat_index::{CodeIndex, Hit, MAX_TERMS, SearchQuery, SearchRepo, Shown};
use std::path::Path;

fn search(index: &CodeIndex, text: &str, repo: &str) -> Vec<Hit> {
    index
        .search(&SearchQuery {
            text: text.into(),
            repos: vec![SearchRepo::new(repo, Shown::Everything)],
            limit: 20,
            ..SearchQuery::default()
        })
        .unwrap()
}

fn first_files(hits: &[Hit]) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    for hit in hits {
        if !files.contains(&hit.path) {
            files.push(hit.path.clone());
        }
    }
    files
}

/// A service whose upload code fails; a report module full of the report's words;
/// and a lock file and CI file full of package names.
fn upload_service(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    write(
        dir,
        "uploader/client.py",
        "class Client:\n    def send_chunk(self, index):\n        part = self._parts[index]\n        return self._post(part)\n\n    def _post(self, part):\n        return part\n",
    );
    write(
        dir,
        "uploader/report.py",
        "def summarize_upload_failures(failures):\n    \"\"\"Upload fails, upload retries, chunk size, upload errors since the upgrade.\"\"\"\n    upload_failures = [f for f in failures if f.upload and f.chunk]\n    return upload_failures\n",
    );
    write(
        dir,
        "requirements.lock",
        "anyio==4.3.0\ncertifi==2024.2.2\nhttpx==0.27.0\nidna==3.6\nsniffio==1.3.1\nrequests==2.31.0\n",
    );
    write(
        dir,
        "ci/versions.py",
        "PINNED = {'anyio': '4.3.0', 'certifi': '2024.2.2', 'httpx': '0.27.0', 'idna': '3.6', 'sniffio': '1.3.1'}\n",
    );
    commit_all(dir, "service");
}

const REPORT: &str = r#"Upload fails since the upgrade.

Traceback (most recent call last):
  File "/srv/venv/lib/python3.11/site-packages/uploader/client.py", line 3, in send_chunk
    part = self._parts[index]
KeyError: 4

pip freeze:
anyio==4.3.0
certifi==2024.2.2
httpx==0.27.0
idna==3.6
sniffio==1.3.1
"#;

#[test]
fn the_file_a_stack_frame_names_comes_first_and_the_environment_dump_pulls_nothing_up() {
    let repo = tempfile::tempdir().unwrap();
    upload_service(repo.path());
    let data = tempfile::tempdir().unwrap();
    let index = CodeIndex::open(data.path(), settings()).unwrap();
    index_repo(&index, "svc", repo.path());
    let (hits, understood) = index
        .search_understood(&SearchQuery {
            text: REPORT.into(),
            repos: vec![SearchRepo::new("svc", Shown::Everything)],
            limit: 20,
            ..SearchQuery::default()
        })
        .unwrap();
    let files = first_files(&hits);
    assert_eq!(
        files.first().map(String::as_str),
        Some("uploader/client.py"),
        "{files:?}"
    );
    assert!(
        hits[0].name == "send_chunk" || hits[0].name == "client.py",
        "{:?}",
        hits[0]
    );
    for pulled in ["requirements.lock", "ci/versions.py"] {
        assert!(
            !files.iter().any(|f| f == pulled),
            "{pulled} ranked: {files:?}"
        );
    }
    assert_eq!(understood.files, vec!["uploader/client.py"]);
    assert!(understood.symbols.iter().any(|s| s == "send_chunk"));
    // Without the frame, the words alone favour the report module: the lift above
    // is the frame's doing.
    let words_only = first_files(&search(
        &index,
        "Upload fails since the upgrade: upload failures, chunk size, retries",
        "svc",
    ));
    assert_eq!(
        words_only.first().map(String::as_str),
        Some("uploader/report.py")
    );
}

/// `count` distinct made-up words: `zqaa`, `zqab`, ….
fn words(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let a = (b'a' + (i / 26) as u8) as char;
            let b = (b'a' + (i % 26) as u8) as char;
            format!("zq{a}{b}")
        })
        .collect()
}

#[test]
fn a_repository_not_searched_chooses_no_word_of_a_long_report() {
    let all = words(MAX_TERMS * 2);
    // The searched repository: each word in its own function, the later words in
    // more functions (so they are less informative there).
    let searched = tempfile::tempdir().unwrap();
    git(searched.path(), &["init", "-q", "-b", "main"]);
    let mut source = String::new();
    for (i, word) in all.iter().enumerate() {
        for copy in 0..=(i / 20) {
            source.push_str(&format!("pub fn f_{i}_{copy}() {{ let {word} = 1; }}\n"));
        }
    }
    write(searched.path(), "src/lib.rs", &source);
    commit_all(searched.path(), "searched");
    // Another repository holds the first half of the words everywhere, which would
    // make them uninformative were its statistics counted.
    let with_words = |dir: &Path, text: &str| {
        git(dir, &["init", "-q", "-b", "main"]);
        write(dir, "src/other.rs", text);
        commit_all(dir, "other");
    };
    let mut crowded = String::new();
    for i in 0..200 {
        let used: Vec<&str> = all[..MAX_TERMS].iter().map(String::as_str).collect();
        crowded.push_str(&format!("pub fn g_{i}() {{ {} }}\n", used.join("; ")));
    }
    let quiet: String = (0..200)
        .map(|i| format!("pub fn g_{i}() {{ }}\n"))
        .collect();
    let report = all.join(" ");
    let mut answers = Vec::new();
    for other_text in [&crowded, &quiet] {
        let other = tempfile::tempdir().unwrap();
        with_words(other.path(), other_text);
        let data = tempfile::tempdir().unwrap();
        let index = CodeIndex::open(data.path(), settings()).unwrap();
        index_repo(&index, "searched", searched.path());
        index_repo(&index, "other", other.path());
        let found: Vec<(String, u32, f32)> = search(&index, &report, "searched")
            .into_iter()
            .map(|h| (h.qualified_name, h.start_line, h.score))
            .collect();
        assert!(!found.is_empty());
        answers.push(found);
    }
    assert_eq!(answers[0], answers[1]);
    // The comparison can fail: searched with the other repository, the crowded words
    // are chosen differently and the order changes.
    let other = tempfile::tempdir().unwrap();
    with_words(other.path(), &crowded);
    let data = tempfile::tempdir().unwrap();
    let index = CodeIndex::open(data.path(), settings()).unwrap();
    index_repo(&index, "searched", searched.path());
    index_repo(&index, "other", other.path());
    let both: Vec<(String, u32, f32)> = index
        .search(&SearchQuery {
            text: report.clone(),
            repos: vec![
                SearchRepo::new("searched", Shown::Everything),
                SearchRepo::new("other", Shown::Everything),
            ],
            limit: 20,
            ..SearchQuery::default()
        })
        .unwrap()
        .into_iter()
        .filter(|h| h.repo == "searched")
        .map(|h| (h.qualified_name, h.start_line, h.score))
        .collect();
    assert_ne!(both, answers[0]);
}

#[test]
fn the_projects_source_outranks_its_docs_config_and_vendored_copies_unless_asked_for() {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    let code = "def backoff_delay(attempt, redirect_count):\n    \"\"\"Delay before a retry after a redirect.\"\"\"\n    return min(60, 2 ** attempt) + redirect_count\n";
    write(repo.path(), "src/retrying/backoff.py", code);
    // The same words, more of them, in a vendored copy, the docs and CI.
    write(
        repo.path(),
        "src/retrying/_vendor/retrylib/backoff.py",
        code.repeat(3),
    );
    write(
        repo.path(),
        "docs/backoff.md",
        "# Backoff\nThe backoff delay grows with each retry attempt; a redirect adds to the backoff delay of the retry.\n",
    );
    write(
        repo.path(),
        ".github/workflows/backoff.yml",
        "name: backoff\non: push\njobs:\n  retry:\n    steps:\n      - run: pytest -k backoff_delay --retry-attempt 3 --redirect\n",
    );
    commit_all(repo.path(), "service");
    let data = tempfile::tempdir().unwrap();
    let index = CodeIndex::open(data.path(), settings()).unwrap();
    index_repo(&index, "svc", repo.path());
    let files = first_files(&search(
        &index,
        "The backoff delay after a redirect is too long on the third retry attempt",
        "svc",
    ));
    assert_eq!(
        files.first().map(String::as_str),
        Some("src/retrying/backoff.py"),
        "{files:?}"
    );
    // Asked about the docs, the docs are not ranked down: their score is what it is
    // with no penalty at all; not asked, it is lower.
    let docs_score = |index: &CodeIndex, text: &str| {
        search(index, text, "svc")
            .into_iter()
            .find(|h| h.path == "docs/backoff.md")
            .map(|h| h.score)
            .unwrap()
    };
    let about_docs = "The docs on the backoff delay of a retry after a redirect are out of date";
    let not_about_docs = "The backoff delay of a retry after a redirect is out of date";
    let (asked, not_asked) = (
        docs_score(&index, about_docs),
        docs_score(&index, not_about_docs),
    );
    index.set_ranking(moat_index::Ranking {
        support_penalty: 1.0,
        ..moat_index::Ranking::default()
    });
    assert_eq!(asked, docs_score(&index, about_docs));
    assert!(not_asked < docs_score(&index, not_about_docs));
}
