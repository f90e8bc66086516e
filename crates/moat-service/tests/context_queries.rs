//! Definitions with relations, outlines, references and overviews through the context
//! service: the same access decisions and tier shaping as search.

use moat_domain::{Disclosure, Role, Tier, UserStatus};
use moat_index::{CodeIndex, IndexOptions, IndexSettings, NoProgress, RepoSpec};
use moat_policy::{Authorizer, Org, OrgGrant, OrgRepo, OrgUser, PermissionSource};
use moat_service::{CodeContext, ContextError, RepoPolicy};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

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

struct Setup {
    context: CodeContext,
    dev: moat_domain::User,
    _dir: tempfile::TempDir,
}

fn setup(tier: Tier, disclosure: Disclosure) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("ledger");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(
        repo.join("src/ledger.rs"),
        "/// A double-entry ledger.\npub struct Ledger { total: i64 }\n\nimpl Ledger {\n    /// Posts an amount after checking it.\n    pub fn post(&mut self, amount: i64) {\n        let reason = \"posting\";\n        self.check(amount);\n        self.total += amount;\n    }\n\n    fn check(&self, amount: i64) { validate(amount); }\n}\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("src/rules.rs"),
        "pub fn validate(amount: i64) {\n    assert!(amount != 0);\n}\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("src/main.rs"),
        "use crate::ledger::Ledger;\n\nfn main() {\n    let mut ledger = Ledger { total: 0 };\n    ledger.post(5);\n    ledger.post(7);\n}\n",
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "first"]);
    let index = Arc::new(
        CodeIndex::open(
            &dir.path().join("index"),
            IndexSettings {
                options: IndexOptions::default(),
                detector: moat_dlp::Detector::builtin(),
                fingerprint_key: vec![1; 32],
                dlp_version: "t".into(),
            },
        )
        .unwrap(),
    );
    index
        .index_repo(
            &RepoSpec {
                name: "ledger",
                source: &repo,
                reference: None,
                exclude: &[],
            },
            &NoProgress,
        )
        .unwrap();
    let org = Org {
        users: vec![
            OrgUser {
                id: "u1".into(),
                email: "dev@example.com".into(),
                status: UserStatus::Active,
                roles: vec![Role::Developer],
                teams: vec!["ledger".into()],
                training_current: true,
            },
            OrgUser {
                id: "u2".into(),
                email: "other@example.com".into(),
                status: UserStatus::Active,
                roles: vec![Role::Developer],
                teams: vec![],
                training_current: true,
            },
        ],
        repos: vec![OrgRepo {
            name: "ledger".into(),
            tier,
            disclosure,
            tags: vec![],
            region: None,
            source: PermissionSource::Static,
            host_readers: vec![],
        }],
        grants: vec![OrgGrant {
            repos: vec!["ledger".into()],
            teams: vec!["ledger".into()],
            users: vec![],
        }],
        training_required: false,
        custom_policies: None,
        exceptions: vec![],
        switches: vec![],
    };
    let context = CodeContext::new(
        index,
        vec![RepoPolicy {
            name: "ledger".into(),
            source: repo,
            tier,
            disclosure,
        }],
        Arc::new(moat_dlp::Detector::builtin()),
        Arc::new(Authorizer::new(&org).unwrap()),
    );
    Setup {
        context,
        dev: user("u1", "dev@example.com"),
        _dir: dir,
    }
}

fn user(id: &str, email: &str) -> moat_domain::User {
    moat_domain::User {
        id: moat_domain::UserId(id.into()),
        email: email.into(),
        name: String::new(),
        status: UserStatus::Active,
        roles: vec![Role::Developer],
        teams: vec![],
        external: Default::default(),
        training: None,
        created_at: moat_domain::UnixTime(0),
    }
}

#[test]
fn a_symbol_comes_with_its_relations_and_its_body_where_the_tier_allows() {
    let setup = setup(Tier::Internal, Disclosure::Source);
    let details = setup.context.symbol(&setup.dev, "post", None).unwrap();
    let post = &details[0];
    assert_eq!(post.hit.qualified_name, "Ledger::post");
    assert_eq!(post.hit.repo, "ledger");
    assert_eq!(post.parent.as_deref(), Some("Ledger"));
    assert_eq!(
        post.doc.as_deref(),
        Some("Posts an amount after checking it.")
    );
    let callers: Vec<&str> = post
        .callers
        .iter()
        .map(|c| c.qualified_name.as_str())
        .collect();
    assert_eq!(callers, ["main"]);
    let callees: Vec<&str> = post
        .callees
        .iter()
        .map(|c| c.qualified_name.as_str())
        .collect();
    assert_eq!(callees, ["Ledger::check"]);
    assert!(
        post.body
            .as_deref()
            .unwrap()
            .contains("self.total += amount")
    );

    let ledger = &setup
        .context
        .symbol(&setup.dev, "Ledger", Some("ledger"))
        .unwrap()[0];
    assert_eq!(
        ledger.members,
        ["Ledger::total", "Ledger::post", "Ledger::check"]
    );

    let outline = setup
        .context
        .outline(&setup.dev, "ledger", "src/ledger.rs")
        .unwrap();
    let rendered: Vec<String> = outline
        .iter()
        .map(|e| format!("{}{} {}", "  ".repeat(e.depth), e.kind, e.name))
        .collect();
    assert_eq!(
        rendered,
        [
            "struct Ledger",
            "  field total",
            "  method post",
            "  method check"
        ]
    );

    let uses = setup.context.references(&setup.dev, "post", None).unwrap();
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0].path, "src/main.rs");
    assert_eq!(uses[0].enclosing.as_deref(), Some("main"));
    assert_eq!(uses[0].lines, [5, 6]);

    let overview = setup.context.overview(&setup.dev, "ledger").unwrap();
    assert_eq!(overview.entry_points[0].qualified_name, "main");
    assert_eq!(overview.languages[0].0, "rust");
    assert!(!overview.central.is_empty());
}

#[test]
fn tiers_shape_relations_and_access_denies_them() {
    let setup = setup(Tier::Confidential, Disclosure::Signatures);
    let post = &setup.context.symbol(&setup.dev, "post", None).unwrap()[0];
    assert!(post.body.is_none(), "signatures: no body");
    assert!(post.hit.signature.as_deref().unwrap().contains("fn post"));

    let setup = setup_restricted();
    let post = &setup.context.symbol(&setup.dev, "post", None).unwrap()[0];
    assert!(post.body.is_none() && post.hit.signature.is_none() && post.doc.is_none());
    assert_eq!(
        post.callers[0].qualified_name, "main",
        "relations are structure"
    );

    let redacted = setup_redacted();
    let body = redacted
        .context
        .symbol(&redacted.dev, "post", None)
        .unwrap()[0]
        .body
        .clone()
        .unwrap();
    assert!(
        body.contains("self.check(amount)") && !body.contains("posting"),
        "{body}"
    );

    let other = user("u2", "other@example.com");
    for result in [
        setup
            .context
            .symbol(&other, "post", Some("ledger"))
            .map(|_| ()),
        setup
            .context
            .outline(&other, "ledger", "src/ledger.rs")
            .map(|_| ()),
        setup.context.overview(&other, "ledger").map(|_| ()),
        setup.context.references(&other, "post", None).map(|_| ()),
    ] {
        assert!(matches!(result, Err(ContextError::Denied(_))), "{result:?}");
    }
}

fn setup_restricted() -> Setup {
    setup(Tier::Restricted, Disclosure::Structure)
}

fn setup_redacted() -> Setup {
    setup(Tier::Internal, Disclosure::RedactedSource)
}
