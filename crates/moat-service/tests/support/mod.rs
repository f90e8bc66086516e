//! What the context tests share: a real git repository with the given files, indexed,
//! and a context service for it with one developer who may read it.

#![allow(dead_code)]

use moat_domain::{Disclosure, Role, Tier, UserStatus};
use moat_index::{CodeIndex, IndexOptions, IndexSettings, NoProgress, RepoSpec};
use moat_policy::{Authorizer, Org, OrgGrant, OrgRepo, OrgUser, PermissionSource};
use moat_service::{CodeContext, RepoPolicy};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

pub const REPO: &str = "vault";

pub fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

/// One repository of these `(path, text)` files, committed and indexed under `dir`.
pub struct OneRepo {
    pub index: Arc<CodeIndex>,
    pub source: std::path::PathBuf,
}

pub fn one_repo(dir: &Path, files: &[(&str, &str)]) -> OneRepo {
    let source = dir.join(REPO);
    std::fs::create_dir_all(&source).unwrap();
    git(&source, &["init", "-q", "-b", "main"]);
    for (path, text) in files {
        let path = source.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    git(&source, &["add", "-A"]);
    git(&source, &["commit", "-qm", "files"]);
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
    index
        .index_repo(
            &RepoSpec {
                name: REPO,
                source: &source,
                reference: None,
                exclude: &[],
            },
            &NoProgress,
        )
        .unwrap();
    OneRepo { index, source }
}

/// The organisation: the developer `u1` reads the repository through a static grant.
pub fn org(tier: Tier, disclosure: Disclosure, custom_policies: Option<&str>) -> Org {
    Org {
        users: vec![OrgUser {
            id: "u1".into(),
            email: "dev@example.com".into(),
            status: UserStatus::Active,
            roles: vec![Role::Developer],
            teams: vec![REPO.into()],
            training_current: true,
        }],
        repos: vec![OrgRepo {
            name: REPO.into(),
            tier,
            disclosure,
            tags: vec![],
            region: None,
            source: PermissionSource::Static,
            host_readers: vec![],
        }],
        grants: vec![OrgGrant {
            repos: vec![REPO.into()],
            teams: vec![REPO.into()],
            users: vec![],
        }],
        training_required: false,
        custom_policies: custom_policies.map(str::to_string),
        exceptions: vec![],
        switches: vec![],
    }
}

impl OneRepo {
    pub fn context(&self, org: &Org) -> (CodeContext, Arc<Authorizer>) {
        let repo = &org.repos[0];
        let authorizer = Arc::new(Authorizer::new(org).unwrap());
        let context = CodeContext::new(
            self.index.clone(),
            vec![RepoPolicy {
                name: REPO.into(),
                source: self.source.clone(),
                tier: repo.tier,
                disclosure: repo.disclosure,
            }],
            Arc::new(moat_dlp::Detector::builtin()),
            authorizer.clone(),
        );
        (context, authorizer)
    }
}

pub fn developer() -> moat_domain::User {
    moat_domain::User {
        id: moat_domain::UserId("u1".into()),
        email: "dev@example.com".into(),
        name: String::new(),
        status: UserStatus::Active,
        roles: vec![Role::Developer],
        teams: vec![REPO.into()],
        external: Default::default(),
        training: None,
        created_at: moat_domain::UnixTime(0),
    }
}
