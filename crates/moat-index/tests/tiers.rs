//! Ranking follows what the caller is shown: a word a repository's tier hides can
//! neither find a result there nor move any result, anywhere in the list.
//!
//! The fixtures (`tests/fixtures/tiers/`, one per language, also checked by the
//! extractor's tests) plant words where each tier may or may not look: `zqsig` in a
//! signature, `zqdoc` in a doc comment, `zqvalue` in a value, `zqdefault` in a parameter
//! default, `zqbody` in a body, `zqcomment` in ordinary comments, `zqstring` in string
//! literals, `zqinterp` inside interpolated strings, `zqmacro` in `#define` text.

mod common;

use common::{commit_all, git, index_repo, settings, write};
use moat_index::{CodeIndex, Hit, SearchQuery, SearchRepo, Shown};
use std::collections::BTreeSet;
use std::path::Path;

const FIXTURES: &[(&str, &str)] = &[
    ("src/tiers.rs", include_str!("fixtures/tiers/tiers.rs")),
    ("web/tiers.ts", include_str!("fixtures/tiers/tiers.ts")),
    ("web/tiers.js", include_str!("fixtures/tiers/tiers.js")),
    ("dotnet/tiers.cs", include_str!("fixtures/tiers/tiers.cs")),
    ("native/tiers.c", include_str!("fixtures/tiers/tiers.c")),
    ("native/tiers.cpp", include_str!("fixtures/tiers/tiers.cpp")),
    ("jvm/Tiers.java", include_str!("fixtures/tiers/Tiers.java")),
    ("go/tiers.go", include_str!("fixtures/tiers/tiers.go")),
    ("py/tiers.py", include_str!("fixtures/tiers/tiers.py")),
    ("rb/tiers.rb", include_str!("fixtures/tiers/tiers.rb")),
];

const LEVELS: [Shown; 4] = [
    Shown::Names,
    Shown::Declarations,
    Shown::MaskedCode,
    Shown::Everything,
];

/// A planted word, the least a caller must be shown to find it, and the level from
/// which it must be found (a `#define`'s text is shown masked, but is not code).
const MARKERS: &[(&str, Shown, Shown)] = &[
    ("zqsig", Shown::Declarations, Shown::Declarations),
    ("zqdoc", Shown::Declarations, Shown::Declarations),
    ("zqvalue", Shown::MaskedCode, Shown::MaskedCode),
    ("zqdefault", Shown::MaskedCode, Shown::MaskedCode),
    ("zqbody", Shown::MaskedCode, Shown::MaskedCode),
    ("zqmacro", Shown::MaskedCode, Shown::Everything),
    ("zqcomment", Shown::Everything, Shown::Everything),
    ("zqstring", Shown::Everything, Shown::Everything),
    ("zqinterp", Shown::Everything, Shown::Everything),
];

fn search(index: &CodeIndex, text: &str, repos: &[(&str, Shown)]) -> Vec<Hit> {
    index
        .search(&SearchQuery {
            text: text.into(),
            repos: repos
                .iter()
                .map(|(name, shown)| SearchRepo::new(*name, *shown))
                .collect(),
            limit: 100,
            ..SearchQuery::default()
        })
        .unwrap()
}

#[test]
fn every_tier_finds_only_what_it_shows() {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    for (path, text) in FIXTURES {
        write(repo.path(), path, text);
    }
    commit_all(repo.path(), "fixtures");
    let data = tempfile::tempdir().unwrap();
    let index = CodeIndex::open(data.path(), settings()).unwrap();
    index_repo(&index, "ledger", repo.path());

    let mut checked = 0;
    for level in LEVELS {
        // Names are shown at every tier: every fixture answers for its own.
        let found: BTreeSet<String> = search(&index, "settle ledger", &[("ledger", level)])
            .into_iter()
            .map(|h| h.path)
            .collect();
        for (path, _) in FIXTURES {
            assert!(
                found.contains(*path),
                "{level:?}: {path} by name: {found:?}"
            );
        }
        for (marker, hidden_below, found_from) in MARKERS {
            let hits = search(&index, marker, &[("ledger", level)]);
            let found: BTreeSet<&str> = hits.iter().map(|h| h.path.as_str()).collect();
            for (path, text) in FIXTURES {
                if !text.contains(marker) {
                    continue;
                }
                if level < *hidden_below {
                    assert!(
                        !found.contains(path),
                        "{level:?} must not find {marker} in {path}: {hits:#?}"
                    );
                    checked += 1;
                }
                if level >= *found_from {
                    assert!(found.contains(path), "{level:?} finds {marker} in {path}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 150, "{checked} checks");
}

/// Two repositories, one shown whole and one shown `shown`, in an index of their own.
fn two_repos(closed: &str, shown: Shown, query: &str) -> Vec<(String, String, String, u32, f32)> {
    let open = tempfile::tempdir().unwrap();
    git(open.path(), &["init", "-q", "-b", "main"]);
    write(
        open.path(),
        "src/open.rs",
        "/// Settles accounts.\npub fn settle_accounts(x: u32) -> u32 {\n    let zqhidden_rate = x;\n    zqhidden_rate + 1\n}\n\npub fn settle_fees() -> u32 {\n    2\n}\n\npub fn audit_zqhidden_trail() {}\n",
    );
    commit_all(open.path(), "open");
    let hidden = tempfile::tempdir().unwrap();
    git(hidden.path(), &["init", "-q", "-b", "main"]);
    write(hidden.path(), "src/closed.rs", closed);
    commit_all(hidden.path(), "closed");
    let data = tempfile::tempdir().unwrap();
    let index = CodeIndex::open(data.path(), settings()).unwrap();
    index_repo(&index, "open", open.path());
    index_repo(&index, "closed", hidden.path());
    search(
        &index,
        query,
        &[("open", Shown::Everything), ("closed", shown)],
    )
    .into_iter()
    .map(|h| (h.repo, h.path, h.qualified_name, h.start_line, h.score))
    .collect()
}

const WITH_HIDDEN_WORDS: &str = "/// Settles the ledger.\npub fn settle_ledger(batch: u32) -> u32 {\n    // zqhidden zqhidden: why the ledger settles like this\n    let zqhidden_total = \"zqhidden zqhidden\";\n    zqhidden_total.len() as u32 + batch\n}\n\npub fn settle_other() -> u32 {\n    1\n}\n";
const WITHOUT_HIDDEN_WORDS: &str = "/// Settles the ledger.\npub fn settle_ledger(batch: u32) -> u32 {\n\n    let total = 2;\n    total + batch\n}\n\npub fn settle_other() -> u32 {\n    1\n}\n";
/// Hidden from masked code too: the word only in a comment and a string.
const WITH_HIDDEN_LITERALS: &str = "/// Settles the ledger.\npub fn settle_ledger(batch: u32) -> u32 {\n    // zqhidden zqhidden: why the ledger settles like this\n    let total = \"zqhidden zqhidden\";\n    total.len() as u32 + batch\n}\n\npub fn settle_other() -> u32 {\n    1\n}\n";
const WITHOUT_HIDDEN_LITERALS: &str = "/// Settles the ledger.\npub fn settle_ledger(batch: u32) -> u32 {\n\n    let total = \"\";\n    total.len() as u32 + batch\n}\n\npub fn settle_other() -> u32 {\n    1\n}\n";

#[test]
fn hidden_words_change_neither_membership_nor_order_nor_scores() {
    for query in [
        "zqhidden settle",
        "settle zqhidden ledger accounts",
        "zqhidden",
    ] {
        for shown in [Shown::Names, Shown::Declarations] {
            let with = two_repos(WITH_HIDDEN_WORDS, shown, query);
            let without = two_repos(WITHOUT_HIDDEN_WORDS, shown, query);
            assert_eq!(with, without, "{shown:?}, `{query}`");
            assert!(
                with.iter().any(|h| h.0 == "open"),
                "the open repository answers `{query}`: {with:?}"
            );
        }
        let with = two_repos(WITH_HIDDEN_LITERALS, Shown::MaskedCode, query);
        let without = two_repos(WITHOUT_HIDDEN_LITERALS, Shown::MaskedCode, query);
        assert_eq!(with, without, "masked code, `{query}`");
    }
    // The words do count where they are shown: the comparison above can fail.
    let with = two_repos(WITH_HIDDEN_WORDS, Shown::Everything, "zqhidden settle");
    let without = two_repos(WITHOUT_HIDDEN_WORDS, Shown::Everything, "zqhidden settle");
    assert_ne!(with, without);
}

#[test]
fn a_repository_named_twice_is_shown_the_lesser() {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    write(repo.path(), "src/closed.rs", WITH_HIDDEN_WORDS);
    commit_all(repo.path(), "closed");
    let data = tempfile::tempdir().unwrap();
    let index = CodeIndex::open(data.path(), settings()).unwrap();
    index_repo(&index, "closed", repo.path());
    for pair in [
        [("closed", Shown::Everything), ("closed", Shown::Names)],
        [("closed", Shown::Names), ("closed", Shown::Everything)],
    ] {
        assert!(search(&index, "zqhidden", &pair).is_empty(), "{pair:?}");
    }
    assert!(!search(&index, "zqhidden", &[("closed", Shown::Everything)]).is_empty());
}

/// An index of `searched` and `other`, where `other` holds `other_text`.
fn beside_other(searched: &Path, other_text: &str) -> (tempfile::TempDir, CodeIndex) {
    let other = tempfile::tempdir().unwrap();
    git(other.path(), &["init", "-q", "-b", "main"]);
    write(other.path(), "src/other.rs", other_text);
    commit_all(other.path(), "other");
    let data = tempfile::tempdir().unwrap();
    let index = CodeIndex::open(data.path(), settings()).unwrap();
    index_repo(&index, "searched", searched);
    index_repo(&index, "other", other.path());
    (data, index)
}

#[test]
fn a_repository_not_searched_moves_no_score() {
    let searched = tempfile::tempdir().unwrap();
    git(searched.path(), &["init", "-q", "-b", "main"]);
    write(searched.path(), "src/lib.rs", WITH_HIDDEN_WORDS);
    commit_all(searched.path(), "searched");
    // The same names and lines; only words the caller may not see differ.
    let (_a, with) = beside_other(
        searched.path(),
        "pub fn settle_zqhidden() {\n    // settle settle zqhidden ledger ledger\n    let ledger = \"zqhidden settle settle\";\n}\n",
    );
    let (_b, without) = beside_other(
        searched.path(),
        "pub fn settle_zqhidden() {\n    // nothing\n    let x = 1;\n}\n",
    );
    for shown in LEVELS {
        let scores = |index: &CodeIndex| -> Vec<(String, String, u32, f32)> {
            search(index, "settle zqhidden ledger", &[("searched", shown)])
                .into_iter()
                .map(|h| (h.repo, h.qualified_name, h.start_line, h.score))
                .collect()
        };
        let found = scores(&with);
        assert!(!found.is_empty() && found.iter().all(|h| h.0 == "searched"));
        assert_eq!(found, scores(&without), "{shown:?}");
    }
}
