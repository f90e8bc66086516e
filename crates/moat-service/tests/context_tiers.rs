//! The same fixtures (one per language, `moat-index/tests/fixtures/tiers/`) connected
//! four times, once per disclosure, and searched together: no tier is found by, or
//! shows, a word it hides. Planted words: `zqsig` (a signature) and `zqdoc` (a doc
//! comment) are shown from `signatures` up; `zqvalue`, `zqdefault`, `zqbody` (code)
//! from `redacted-source` up; `zqcomment`, `zqstring`, `zqinterp` and `zqmacro` only
//! by `source` (the first three are masked in `redacted-source` snippets, the last is
//! `#define` text, which `redacted-source` shows but does not rank on).

use moat_domain::{Disclosure, Role, Tier, UserStatus};
use moat_index::{CodeIndex, IndexOptions, IndexSettings, NoProgress, RepoSpec};
use moat_policy::{Authorizer, Org, OrgGrant, OrgRepo, OrgUser, PermissionSource};
use moat_service::{CodeContext, RepoPolicy, SearchRequest};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

const FIXTURES: &[(&str, &str)] = &[
    (
        "src/tiers.rs",
        include_str!("../../moat-index/tests/fixtures/tiers/tiers.rs"),
    ),
    (
        "web/tiers.ts",
        include_str!("../../moat-index/tests/fixtures/tiers/tiers.ts"),
    ),
    (
        "web/tiers.js",
        include_str!("../../moat-index/tests/fixtures/tiers/tiers.js"),
    ),
    (
        "dotnet/tiers.cs",
        include_str!("../../moat-index/tests/fixtures/tiers/tiers.cs"),
    ),
    (
        "native/tiers.c",
        include_str!("../../moat-index/tests/fixtures/tiers/tiers.c"),
    ),
    (
        "native/tiers.cpp",
        include_str!("../../moat-index/tests/fixtures/tiers/tiers.cpp"),
    ),
    (
        "jvm/Tiers.java",
        include_str!("../../moat-index/tests/fixtures/tiers/Tiers.java"),
    ),
    (
        "go/tiers.go",
        include_str!("../../moat-index/tests/fixtures/tiers/tiers.go"),
    ),
    (
        "py/tiers.py",
        include_str!("../../moat-index/tests/fixtures/tiers/tiers.py"),
    ),
    (
        "rb/tiers.rb",
        include_str!("../../moat-index/tests/fixtures/tiers/tiers.rb"),
    ),
];

const TIERS: [(&str, Disclosure); 4] = [
    ("t-source", Disclosure::Source),
    ("t-redacted", Disclosure::RedactedSource),
    ("t-signatures", Disclosure::Signatures),
    ("t-structure", Disclosure::Structure),
];

/// How much a disclosure shows, least first.
fn rank(disclosure: Disclosure) -> u8 {
    match disclosure {
        Disclosure::Structure => 0,
        Disclosure::Signatures => 1,
        Disclosure::RedactedSource => 2,
        Disclosure::Source => 3,
    }
}

/// A planted word and the least disclosure that may be found by it.
const MARKERS: &[(&str, Disclosure)] = &[
    ("zqsig", Disclosure::Signatures),
    ("zqdoc", Disclosure::Signatures),
    ("zqvalue", Disclosure::RedactedSource),
    ("zqdefault", Disclosure::RedactedSource),
    ("zqbody", Disclosure::RedactedSource),
    ("zqmacro", Disclosure::RedactedSource),
    ("zqcomment", Disclosure::Source),
    ("zqstring", Disclosure::Source),
    ("zqinterp", Disclosure::Source),
];

fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(output.status.success());
}

fn context(dir: &Path) -> (CodeContext, moat_domain::User) {
    let repo = dir.join("fixtures");
    git(dir, &["init", "-q", "-b", "main", "fixtures"]);
    for (path, text) in FIXTURES {
        let path = repo.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "fixtures"]);
    let index = Arc::new(
        CodeIndex::open(
            &dir.join("index"),
            IndexSettings {
                options: IndexOptions::default(),
                detector: moat_dlp::Detector::builtin(),
                fingerprint_key: vec![1; 32],
                dlp_version: "t".into(),
            },
        )
        .unwrap(),
    );
    for (name, _) in TIERS {
        index
            .index_repo(
                &RepoSpec {
                    name,
                    source: &repo,
                    reference: None,
                    exclude: &[],
                },
                &NoProgress,
            )
            .unwrap();
    }
    let org = Org {
        users: vec![OrgUser {
            id: "u1".into(),
            email: "dev@example.com".into(),
            status: UserStatus::Active,
            roles: vec![Role::Developer],
            teams: vec!["all".into()],
            training_current: true,
        }],
        repos: TIERS
            .iter()
            .map(|(name, disclosure)| OrgRepo {
                name: name.to_string(),
                tier: Tier::Confidential,
                disclosure: *disclosure,
                tags: vec![],
                region: None,
                source: PermissionSource::Static,
                host_readers: vec![],
            })
            .collect(),
        grants: vec![OrgGrant {
            repos: vec!["*".into()],
            teams: vec!["all".into()],
            users: vec![],
        }],
        training_required: false,
        custom_policies: None,
        exceptions: vec![],
        switches: vec![],
    };
    let policies = TIERS
        .iter()
        .map(|(name, disclosure)| RepoPolicy {
            name: name.to_string(),
            source: repo.clone(),
            tier: Tier::Confidential,
            disclosure: *disclosure,
        })
        .collect();
    let context = CodeContext::new(
        index,
        policies,
        Arc::new(moat_dlp::Detector::builtin()),
        Arc::new(Authorizer::new(&org).unwrap()),
    );
    let user = moat_domain::User {
        id: moat_domain::UserId("u1".into()),
        email: "dev@example.com".into(),
        name: String::new(),
        status: UserStatus::Active,
        roles: vec![Role::Developer],
        teams: vec!["all".into()],
        external: Default::default(),
        training: None,
        created_at: moat_domain::UnixTime(0),
    };
    (context, user)
}

/// Words a disclosure hides from what it returns (signatures, summaries, docs,
/// outlines, snippets).
fn hidden_from(disclosure: Disclosure) -> Vec<&'static str> {
    let mut hidden: Vec<&str> = MARKERS
        .iter()
        .filter(|(_, least)| rank(disclosure) < rank(*least))
        .map(|(marker, _)| *marker)
        .collect();
    // Shown by redacted-source only inside masked bodies: never as a signature or doc.
    if disclosure != Disclosure::Source {
        hidden.extend(["zqvalue", "zqdefault", "zqbody", "zqmacro"]);
    }
    hidden
}

#[test]
fn each_tier_is_found_by_and_shows_only_what_it_discloses() {
    let dir = tempfile::tempdir().unwrap();
    let (context, user) = context(dir.path());
    let mut checked = 0;
    for (marker, least) in MARKERS {
        // All four connections searched at once, as an AI tool would.
        let results = context
            .search(
                &user,
                &SearchRequest {
                    query: marker.to_string(),
                    limit: 50,
                    ..SearchRequest::default()
                },
            )
            .unwrap();
        for (name, disclosure) in TIERS {
            let found = results.hits.iter().any(|h| h.repo == name);
            if rank(disclosure) < rank(*least) {
                assert!(!found, "{marker} finds {name}: {:#?}", results.hits);
            } else if *marker != "zqmacro" || disclosure == Disclosure::Source {
                assert!(found, "{marker} finds nothing in {name}");
            }
            checked += 1;
        }
        for hit in &results.hits {
            let declarations = [&hit.signature, &hit.summary];
            for word in hidden_from(hit.disclosure) {
                for text in declarations.iter().copied().flatten() {
                    assert!(!text.contains(word), "{} shows {word}: {text}", hit.repo);
                    checked += 1;
                }
            }
            // A snippet (source tiers) shows code, never what the tier masks.
            for (word, least) in MARKERS {
                if let Some(snippet) = &hit.snippet
                    && rank(hit.disclosure) < rank(*least)
                {
                    assert!(!snippet.contains(word), "{}: {snippet}", hit.repo);
                    checked += 1;
                }
            }
        }
    }
    // Symbols, docs and outlines follow the same rules.
    for (name, disclosure) in TIERS {
        for (path, _) in FIXTURES {
            for entry in context.outline(&user, name, path).unwrap() {
                for word in hidden_from(disclosure) {
                    let signature = entry.signature.as_deref().unwrap_or_default();
                    assert!(!signature.contains(word), "{name} {path}: {signature}");
                    checked += 1;
                }
            }
        }
        for symbol in [
            "settle_ledger",
            "settleLedger",
            "SettleLedger",
            "settle",
            "Settle",
        ] {
            for detail in context.symbol(&user, symbol, Some(name)).unwrap() {
                for word in hidden_from(disclosure) {
                    for text in [&detail.doc, &detail.hit.signature, &detail.hit.summary]
                        .into_iter()
                        .flatten()
                    {
                        assert!(!text.contains(word), "{name} {symbol}: {text}");
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 500, "{checked} checks");
}
