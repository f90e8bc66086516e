//! The index against real git repositories made with the `git` command: search,
//! incremental re-indexing, and inputs that must be skipped and counted, not crash.

mod common;

use common::{commit_all, git, settings, write};
use moat_index::{CodeIndex, NoProgress, RepoSpec, SearchQuery, SearchRepo, Shown, SymbolKind};
use std::path::Path;

fn sample_repo(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    write(
        dir,
        "src/webhook.rs",
        r#"/// Checks the HMAC signature of an incoming webhook payload.
pub fn verify_webhook_signature(payload: &[u8], signature: &str) -> bool {
    let expected = compute_hmac(payload);
    constant_time_eq(expected.as_bytes(), signature.as_bytes())
}

fn compute_hmac(payload: &[u8]) -> String { hex(payload) }
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool { a == b }
fn hex(p: &[u8]) -> String { format!("{p:?}") }
"#,
    );
    write(
        dir,
        "app/billing.py",
        r#""""Billing."""

class InvoiceRepository:
    """Stores invoices in the database."""

    def find_overdue(self, today):
        """Invoices whose due date has passed."""
        return [i for i in self.all() if i.due < today]
"#,
    );
    write(
        dir,
        "config/settings.py",
        "AWS_KEY = 'AKIAZ3MSJV4WWNKWW5FQ'\ndef load_settings():\n    return AWS_KEY\n",
    );
    write(dir, "README.md", "# Payments\nHow webhooks are verified.\n");
    write(
        dir,
        "fixtures/secret_dump.rs",
        "fn excluded_function() {}\n",
    );
}

fn query(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        repos: vec![SearchRepo::new("payments", Shown::Everything)],
        limit: 10,
        ..SearchQuery::default()
    }
}

#[test]
fn natural_language_and_identifier_queries_find_the_symbol() {
    let repo = tempfile::tempdir().unwrap();
    sample_repo(repo.path());
    let commit = commit_all(repo.path(), "first");
    let data = tempfile::tempdir().unwrap();
    let index = CodeIndex::open(data.path(), settings()).unwrap();
    let exclude = vec!["fixtures/**".to_string()];
    let spec = RepoSpec {
        name: "payments",
        source: repo.path(),
        reference: Some("main"),
        exclude: &exclude,
    };
    let report = index.index_repo(&spec, &NoProgress).unwrap();
    assert_eq!(report.commit, commit);
    assert_eq!(report.skipped.get("excluded"), Some(&1));
    assert!(report.findings >= 1, "the AWS key is found: {report:?}");

    let hits = index
        .search(&query("where do we validate webhook signatures?"))
        .unwrap();
    assert_eq!(hits[0].name, "verify_webhook_signature", "{hits:#?}");
    assert_eq!(hits[0].kind, SymbolKind::Function);
    assert_eq!(hits[0].commit, commit);
    assert_eq!((hits[0].start_line, hits[0].end_line), (2, 5));

    let hits = index.search(&query("findOverdue")).unwrap();
    assert_eq!(hits[0].qualified_name, "InvoiceRepository.find_overdue");
    let hits = index.search(&query("InvoiceRepository")).unwrap();
    assert_eq!(hits[0].kind, SymbolKind::Class);

    // Filters restrict before ranking.
    let mut python_only = query("webhook signature");
    python_only.language = Some(moat_index::Language::Python);
    assert!(
        index
            .search(&python_only)
            .unwrap()
            .iter()
            .all(|h| h.path.ends_with(".py"))
    );
    let mut classes = query("invoice");
    classes.kind = Some(SymbolKind::Class);
    assert!(
        index
            .search(&classes)
            .unwrap()
            .iter()
            .all(|h| h.kind == SymbolKind::Class)
    );
    let mut under_app = query("invoice");
    under_app.path_prefix = Some("app/".into());
    let hits = index.search(&under_app).unwrap();
    assert!(!hits.is_empty() && hits.iter().all(|h| h.path.starts_with("app/")));

    // Excluded paths never enter the index; other repositories are not searched.
    assert!(
        index
            .search(&query("excluded_function"))
            .unwrap()
            .is_empty()
    );
    let mut elsewhere = query("webhook");
    elsewhere.repos = vec![SearchRepo::new("other", Shown::Everything)];
    assert!(index.search(&elsewhere).unwrap().is_empty());
    elsewhere.repos = vec![];
    assert!(index.search(&elsewhere).unwrap().is_empty());

    // The secret's text is not searchable, but the function around it is.
    assert!(
        index
            .search(&query("AKIAZ3MSJV4WWNKWW5FQ"))
            .unwrap()
            .is_empty()
    );
    assert!(!index.search(&query("load_settings")).unwrap().is_empty());
    let graph = index.graph("payments").unwrap().unwrap();
    let findings = &graph.files["config/settings.py"].findings;
    assert_eq!(findings[0].line, 1);
    assert!(!findings[0].fingerprint.contains("AKIA"));
}

#[test]
fn reindexing_touches_only_changed_blobs_and_removes_deleted_files() {
    let repo = tempfile::tempdir().unwrap();
    sample_repo(repo.path());
    commit_all(repo.path(), "first");
    let data = tempfile::tempdir().unwrap();
    let index = CodeIndex::open(data.path(), settings()).unwrap();
    let spec = RepoSpec {
        name: "payments",
        source: repo.path(),
        reference: None,
        exclude: &[],
    };
    let first = index.index_repo(&spec, &NoProgress).unwrap();
    assert_eq!(first.parsed, 5);

    let again = index.index_repo(&spec, &NoProgress).unwrap();
    assert!(again.unchanged);

    write(
        repo.path(),
        "app/billing.py",
        "def settle_payments():\n    \"\"\"Settles.\"\"\"\n",
    );
    std::fs::remove_file(repo.path().join("README.md")).unwrap();
    let second_commit = commit_all(repo.path(), "second");
    let second = index.index_repo(&spec, &NoProgress).unwrap();
    assert_eq!(second.commit, second_commit);
    assert_eq!((second.parsed, second.removed, second.reused), (1, 1, 3));
    assert!(index.search(&query("find_overdue")).unwrap().is_empty());
    assert_eq!(
        index.search(&query("settle payments")).unwrap()[0].name,
        "settle_payments"
    );
    let readme = query("README.md");
    assert!(
        index
            .search(&readme)
            .unwrap()
            .iter()
            .all(|h| h.path != "README.md")
    );

    // A new process sees the same index.
    drop(index);
    let reopened = CodeIndex::open(data.path(), settings()).unwrap();
    assert_eq!(
        reopened.search(&query("settle payments")).unwrap()[0].name,
        "settle_payments"
    );
    assert!(reopened.index_repo(&spec, &NoProgress).unwrap().unchanged);

    // Removing the repository removes its documents.
    assert!(reopened.remove_repo("payments").unwrap());
    assert!(
        reopened
            .search(&query("settle payments"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_index_of_another_format_is_rebuilt_not_misread() {
    let repo = tempfile::tempdir().unwrap();
    sample_repo(repo.path());
    commit_all(repo.path(), "first");
    let data = tempfile::tempdir().unwrap();
    let spec = RepoSpec {
        name: "payments",
        source: repo.path(),
        reference: None,
        exclude: &[],
    };
    {
        let index = CodeIndex::open(data.path(), settings()).unwrap();
        index.index_repo(&spec, &NoProgress).unwrap();
    }
    std::fs::write(data.path().join("FORMAT"), "moat-index 0\n").unwrap();
    let index = CodeIndex::open(data.path(), settings()).unwrap();
    assert!(index.graph("payments").unwrap().is_none());
    assert_eq!(index.documents(), 0);
    let report = index.index_repo(&spec, &NoProgress).unwrap();
    assert!(!report.unchanged);
    assert!(index.documents() > 0);
}

#[test]
fn hostile_inputs_are_skipped_and_counted() {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    git(dir, &["init", "-q", "-b", "main"]);
    write(dir, "ok.rs", "pub fn still_indexed() {}\n");
    write(dir, "latin1.py", b"def caf\xe9(): pass\n");
    let minified = format!("var a={};", "1+".repeat(5_000_000) + "1");
    write(dir, "bundle.js", minified);
    let nested = format!(
        "fn deep() {{ let x = {}1{}; }}\n",
        "(\n".repeat(3000),
        ")\n".repeat(3000)
    );
    write(
        dir,
        "small.min.js",
        format!("var b={};", "2*".repeat(50_000) + "2"),
    );
    write(dir, "nested.rs", nested);
    let mut binary = b"\x7fELF\x00\x00binary".to_vec();
    binary.extend(std::iter::repeat_n(0u8, 1000));
    write(dir, "blob.rs", binary);
    write(dir, "huge.py", "x = 1\n".repeat(400_000));
    std::os::unix::fs::symlink("does/not/exist.rs", dir.join("broken.rs")).unwrap();
    write(dir, "victim.go", "package victim\nfunc Victim() {}\n");
    git(dir, &["add", "-A"]);
    // A submodule entry whose commit is not here.
    git(
        dir,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            "160000,1111111111111111111111111111111111111111,vendored-lib",
        ],
    );
    git(dir, &["commit", "-qm", "hostile"]);
    // Corrupt the loose object of one blob.
    let victim = git(dir, &["rev-parse", "HEAD:victim.go"]);
    let object = dir
        .join(".git/objects")
        .join(&victim[..2])
        .join(&victim[2..]);
    let mut permissions = std::fs::metadata(&object).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&object, permissions).unwrap();
    std::fs::write(&object, b"this is not zlib").unwrap();

    let data = tempfile::tempdir().unwrap();
    let index = CodeIndex::open(data.path(), settings()).unwrap();
    let spec = RepoSpec {
        name: "hostile",
        source: dir,
        reference: None,
        exclude: &[],
    };
    let report = index.index_repo(&spec, &NoProgress).unwrap();
    let count = |reason: &str| report.skipped.get(reason).copied().unwrap_or(0);
    assert_eq!(count("not-utf8"), 1, "{report:#?}");
    assert_eq!(count("generated"), 1, "the minified file: {report:#?}");
    assert_eq!(count("binary"), 1, "{report:#?}");
    assert_eq!(
        count("oversized"),
        2,
        "10 MB bundle and 2 MB file: {report:#?}"
    );
    assert_eq!(count("not-a-file"), 2, "symlink and submodule: {report:#?}");
    assert_eq!(count("unreadable"), 1, "corrupt object: {report:#?}");
    assert!(report.warnings.iter().any(|w| w.contains("victim.go")));
    let mut q = query("still_indexed");
    q.repos = vec![SearchRepo::new("hostile", Shown::Everything)];
    assert_eq!(index.search(&q).unwrap()[0].name, "still_indexed");
    q.text = "deep".into();
    assert_eq!(index.search(&q).unwrap()[0].name, "deep");
}

#[test]
fn an_index_updated_in_place_ranks_as_one_built_fresh_at_the_same_commit() {
    let repo = tempfile::tempdir().unwrap();
    sample_repo(repo.path());
    let first = commit_all(repo.path(), "first");
    // The second commit rewrites one file, deletes one and adds one: the updated
    // index holds deleted documents whose words a fresh one never saw.
    write(
        repo.path(),
        "src/webhook.rs",
        "/// Checks a webhook.\npub fn verify_webhook(payload: &[u8]) -> bool {\n    !payload.is_empty()\n}\n",
    );
    std::fs::remove_file(repo.path().join("app/billing.py")).unwrap();
    write(
        repo.path(),
        "app/invoices.py",
        "def overdue_invoices(invoices, today):\n    \"\"\"Invoices past due: the webhook signature does not matter here.\"\"\"\n    return [i for i in invoices if i.due < today]\n",
    );
    // Fields longer than 40 tokens, whose lengths tantivy keeps only approximately.
    let long_body: String = (0..120)
        .map(|i| format!("    total_{i} = verify_signature(payload_{i}, webhook_{i})\n"))
        .collect();
    write(
        repo.path(),
        "app/long.py",
        format!("def settle_webhooks(payload):\n{long_body}    return payload\n"),
    );
    let second = commit_all(repo.path(), "second");
    let open = |commits: &[&str]| {
        let data = tempfile::tempdir().unwrap();
        let index = CodeIndex::open(data.path(), settings()).unwrap();
        for commit in commits {
            index_commit(&index, repo.path(), commit);
        }
        (data, index)
    };
    let (_a, updated) = open(&[&first, &second]);
    let (_b, fresh) = open(&[&second]);
    for text in [
        "webhook signature",
        "find overdue invoices",
        "InvoiceRepository",
        "load settings",
        "verify the hmac of a webhook payload",
    ] {
        let ranked = |index: &CodeIndex| -> Vec<(String, String, u32, f32)> {
            index
                .search(&query(text))
                .unwrap()
                .into_iter()
                .map(|h| (h.path, h.qualified_name, h.start_line, h.score))
                .collect()
        };
        assert_eq!(ranked(&updated), ranked(&fresh), "`{text}`");
    }
}

#[test]
fn a_run_stopped_after_its_commit_and_before_its_graph_is_saved_leaves_no_file_twice() {
    let repo = tempfile::tempdir().unwrap();
    sample_repo(repo.path());
    let first = commit_all(repo.path(), "first");
    write(
        repo.path(),
        "src/refunds.rs",
        "/// Issues a refund.\npub fn issue_zqrefund(amount: u64) -> u64 { amount }\n",
    );
    let second = commit_all(repo.path(), "second");
    let data = tempfile::tempdir().unwrap();
    let graphs = data.path().join("repos");
    let index_at = |commit: &str| {
        let index = CodeIndex::open(data.path(), settings()).unwrap();
        index_commit(&index, repo.path(), commit);
        index
    };
    drop(index_at(&first));
    // Keep the first commit's graph, index the second, then put the first graph back:
    // the search index holds the second commit, the saved graph the first, as after a
    // crash between the two.
    let saved: Vec<(std::path::PathBuf, Vec<u8>)> = std::fs::read_dir(&graphs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    drop(index_at(&second));
    for (path, bytes) in &saved {
        std::fs::write(path, bytes).unwrap();
    }
    let index = index_at(&second);
    let hits = index.search(&query("issue_zqrefund")).unwrap();
    let refunds: Vec<_> = hits.iter().filter(|h| h.name == "issue_zqrefund").collect();
    assert_eq!(refunds.len(), 1, "{hits:?}");
}

/// Indexes `source` at `commit` as the repository `payments`.
fn index_commit(index: &CodeIndex, source: &Path, commit: &str) {
    index
        .index_repo(
            &RepoSpec {
                name: "payments",
                source,
                reference: Some(commit),
                exclude: &[],
            },
            &NoProgress,
        )
        .unwrap();
}
