//! No search result ever comes from a repository, or shows more of it than its tier
//! allows, when an independent reference model says no. Random organisations (people,
//! teams, roles, status, training, static grants, mirrored readers and freshness, tiers
//! and disclosure overrides) over real git repositories indexed once.

use moat_domain::{Disclosure, Role, Tier, UserStatus};
use moat_index::{CodeIndex, IndexOptions, IndexSettings, NoProgress, RepoSpec};
use moat_policy::{Authorizer, Org, OrgGrant, OrgRepo, OrgUser, PermissionSource};
use moat_service::{CodeContext, RepoPolicy, SearchRequest};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const REPOS: usize = 4;

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap()
        .status;
    assert!(status.success());
}

/// Every repository defines `settle_ledger` (so one query could match all of them)
/// plus a name of its own.
fn make_repos(root: &Path) -> Vec<PathBuf> {
    (0..REPOS)
        .map(|i| {
            let dir = root.join(format!("r{i}"));
            std::fs::create_dir_all(dir.join("src")).unwrap();
            git(&dir, &["init", "-q", "-b", "main"]);
            std::fs::write(
                dir.join("src/lib.rs"),
                format!(
                    "/// Settles the ledger for repository {i}.\npub fn settle_ledger() -> u32 {{\n    // internal remark {i}\n    let note = \"literal text {i}\";\n    let secret_marker_{i} = {i};\n    secret_marker_{i}\n}}\n\npub fn only_in_r{i}() {{}}\n"
                ),
            )
            .unwrap();
            git(&dir, &["add", "-A"]);
            git(&dir, &["commit", "-qm", "first"]);
            dir
        })
        .collect()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn coin(&mut self) -> bool {
        self.next().is_multiple_of(2)
    }
}

fn random_org(rng: &mut Rng) -> Org {
    let teams = ["a", "b", "c"];
    let users: Vec<OrgUser> = (0..1 + rng.below(6))
        .map(|i| OrgUser {
            id: format!("u{i}"),
            email: format!("u{i}@example.com"),
            status: if rng.below(4) == 0 {
                UserStatus::Suspended
            } else {
                UserStatus::Active
            },
            roles: [Role::Developer, Role::Auditor, Role::Admin]
                .into_iter()
                .filter(|_| rng.coin())
                .collect(),
            teams: teams
                .iter()
                .filter(|_| rng.coin())
                .map(|t| t.to_string())
                .collect(),
            training_current: rng.below(4) != 0,
        })
        .collect();
    let repos: Vec<OrgRepo> = (0..REPOS)
        .map(|i| {
            let tier = Tier::ALL[rng.below(4)];
            OrgRepo {
                name: format!("r{i}"),
                tier,
                disclosure: if rng.coin() {
                    tier.default_disclosure()
                } else {
                    Disclosure::ALL[rng.below(4)]
                },
                tags: vec![],
                region: None,
                source: match rng.below(3) {
                    0 => PermissionSource::Static,
                    1 => PermissionSource::Mirrored {
                        host: "github".into(),
                        fresh: true,
                    },
                    _ => PermissionSource::Mirrored {
                        host: "github".into(),
                        fresh: false,
                    },
                },
                host_readers: (0..6)
                    .filter(|_| rng.coin())
                    .map(|u| format!("u{u}@example.com"))
                    .collect(),
            }
        })
        .collect();
    let grants: Vec<OrgGrant> = (0..rng.below(4))
        .map(|_| OrgGrant {
            repos: vec![if rng.below(5) == 0 {
                "*".to_string()
            } else {
                format!("r{}", rng.below(REPOS))
            }],
            teams: teams
                .iter()
                .filter(|_| rng.coin())
                .map(|t| t.to_string())
                .collect(),
            users: (0..6)
                .filter(|_| rng.below(4) == 0)
                .map(|u| format!("u{u}@example.com"))
                .collect(),
        })
        .collect();
    Org {
        users,
        repos,
        grants,
        training_required: rng.coin(),
        custom_policies: None,
        exceptions: vec![],
        switches: vec![],
    }
}

/// The reference model, written independently of moat-policy.
fn may_query(org: &Org, user: &OrgUser, repo: &OrgRepo) -> bool {
    let reader = match &repo.source {
        PermissionSource::Static => org.grants.iter().any(|g| {
            g.repos.iter().any(|r| r == "*" || r == &repo.name)
                && (g.users.contains(&user.email) || user.teams.iter().any(|t| g.teams.contains(t)))
        }),
        PermissionSource::Mirrored { fresh, .. } => {
            *fresh && repo.host_readers.contains(&user.email)
        }
    };
    user.status == UserStatus::Active
        && user.roles.contains(&Role::Developer)
        && (!org.training_required || user.training_current)
        && reader
}

#[test]
fn search_results_never_exceed_what_the_reference_model_allows() {
    let root = tempfile::tempdir().unwrap();
    let sources = make_repos(root.path());
    let index = Arc::new(
        CodeIndex::open(
            &root.path().join("index"),
            IndexSettings {
                options: IndexOptions::default(),
                detector: moat_dlp::Detector::builtin(),
                fingerprint_key: vec![3; 32],
                dlp_version: "t".into(),
            },
        )
        .unwrap(),
    );
    for (i, source) in sources.iter().enumerate() {
        let name = format!("r{i}");
        index
            .index_repo(
                &RepoSpec {
                    name: &name,
                    source,
                    reference: None,
                    exclude: &[],
                },
                &NoProgress,
            )
            .unwrap();
    }
    let detector = Arc::new(moat_dlp::Detector::builtin());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut checked_hits = 0;
    let mut source_snippets = 0;
    let mut redacted_snippets = 0;
    let mut denials = 0;
    for _ in 0..60 {
        let org = random_org(&mut rng);
        let authorizer = Arc::new(Authorizer::new(&org).unwrap());
        let policies: Vec<RepoPolicy> = org
            .repos
            .iter()
            .zip(&sources)
            .map(|(r, source)| RepoPolicy {
                name: r.name.clone(),
                source: source.clone(),
                tier: r.tier,
                disclosure: r.disclosure,
            })
            .collect();
        let context = CodeContext::new(index.clone(), policies, detector.clone(), authorizer);
        for user in &org.users {
            let domain_user = moat_domain::User {
                id: moat_domain::UserId(user.id.clone()),
                email: user.email.clone(),
                name: String::new(),
                status: user.status,
                roles: user.roles.clone(),
                teams: user.teams.clone(),
                external: Default::default(),
                training: None,
                created_at: moat_domain::UnixTime(0),
            };
            let allowed: Vec<&OrgRepo> = org
                .repos
                .iter()
                .filter(|r| may_query(&org, user, r))
                .collect();
            for query in ["settle ledger", "secret_marker_0", "only_in_r3"] {
                let request = SearchRequest {
                    query: query.into(),
                    limit: 20,
                    ..SearchRequest::default()
                };
                match context.search(&domain_user, &request) {
                    Ok(results) => {
                        for hit in &results.hits {
                            let repo =
                                allowed
                                    .iter()
                                    .find(|r| r.name == hit.repo)
                                    .unwrap_or_else(|| {
                                        panic!(
                                            "{} got {} which the model denies",
                                            user.email, hit.repo
                                        )
                                    });
                            assert_eq!(hit.disclosure, repo.disclosure);
                            match repo.disclosure {
                                Disclosure::Source => {}
                                Disclosure::RedactedSource => {
                                    if let Some(snippet) = &hit.snippet {
                                        assert!(
                                            !snippet.contains("literal text")
                                                && !snippet.contains("internal remark"),
                                            "literals and comments masked: {snippet}"
                                        );
                                    }
                                }
                                _ => assert!(
                                    hit.snippet.is_none(),
                                    "no source at {}",
                                    repo.disclosure
                                ),
                            }
                            if repo.disclosure == Disclosure::Source && hit.name == "settle_ledger"
                            {
                                let snippet = hit.snippet.as_deref().unwrap_or_default();
                                assert!(
                                    snippet.contains("literal text"),
                                    "source shows it all: {snippet}"
                                );
                                source_snippets += 1;
                            }
                            if repo.disclosure == Disclosure::RedactedSource
                                && hit.name == "settle_ledger"
                            {
                                assert!(
                                    hit.snippet
                                        .as_deref()
                                        .unwrap_or_default()
                                        .contains("settle_ledger")
                                );
                                redacted_snippets += 1;
                            }
                            if repo.disclosure == Disclosure::Structure {
                                assert!(hit.signature.is_none() && hit.summary.is_none());
                            }
                            checked_hits += 1;
                        }
                        if query == "settle ledger" {
                            // Everything allowed is found: filtering did not over-deny.
                            let mut found: Vec<&str> =
                                results.hits.iter().map(|h| h.repo.as_str()).collect();
                            found.sort();
                            found.dedup();
                            let expected: Vec<&str> =
                                allowed.iter().map(|r| r.name.as_str()).collect();
                            assert_eq!(found, expected, "{}", user.email);
                        }
                    }
                    Err(moat_service::ContextError::Denied(_)) => {
                        assert!(
                            allowed.is_empty(),
                            "{} denied but the model allows {:?}",
                            user.email,
                            allowed.iter().map(|r| &r.name).collect::<Vec<_>>()
                        );
                        denials += 1;
                    }
                    Err(other) => panic!("{other}"),
                }
            }
        }
    }
    assert!(
        checked_hits > 100,
        "the test looked at results: {checked_hits}"
    );
    assert!(denials > 10, "and at denials: {denials}");
    assert!(
        source_snippets > 5 && redacted_snippets > 5,
        "{source_snippets} {redacted_snippets}"
    );
}
