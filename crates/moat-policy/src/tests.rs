use super::*;
use moat_domain::{Disclosure, Role, Tier, UserStatus};

fn user(id: &str, roles: &[Role], teams: &[&str]) -> OrgUser {
    OrgUser {
        id: id.into(),
        email: format!("{id}@example.com"),
        status: UserStatus::Active,
        roles: roles.to_vec(),
        teams: teams.iter().map(|t| t.to_string()).collect(),
        training_current: true,
    }
}

fn repo(name: &str, tier: Tier, source: PermissionSource) -> OrgRepo {
    OrgRepo {
        name: name.into(),
        tier,
        disclosure: tier.default_disclosure(),
        tags: vec![],
        region: None,
        source,
        host_readers: vec![],
    }
}

fn org() -> Org {
    let mut mirrored = repo(
        "mirrored",
        Tier::Internal,
        PermissionSource::Mirrored {
            host: "github".into(),
            fresh: true,
        },
    );
    mirrored.host_readers = vec!["dev@example.com".into()];
    Org {
        users: vec![
            user("dev", &[Role::Developer], &["payments"]),
            user("other", &[Role::Developer], &["web"]),
            user("auditor", &[Role::Auditor], &["payments"]),
            user("admin", &[Role::Admin], &[]),
        ],
        repos: vec![
            repo("payments", Tier::Confidential, PermissionSource::Static),
            repo("web", Tier::Public, PermissionSource::Static),
            mirrored,
            repo(
                "stale",
                Tier::Internal,
                PermissionSource::Mirrored {
                    host: "gitlab".into(),
                    fresh: false,
                },
            ),
        ],
        grants: vec![
            OrgGrant {
                repos: vec!["payments".into()],
                teams: vec!["payments".into()],
                users: vec![],
            },
            OrgGrant {
                repos: vec!["*".into()],
                teams: vec![],
                users: vec!["other@example.com".into()],
            },
        ],
        training_required: true,
        custom_policies: None,
        exceptions: vec![],
        switches: vec![],
    }
}

#[test]
fn grants_roles_tiers_and_mirrors_decide() {
    let authorizer = Authorizer::new(&org()).unwrap();
    let allowed = authorizer.decide("dev", Action::QueryContext, "payments");
    assert!(allowed.allow, "{allowed:?}");
    assert_eq!(allowed.rules, ["repo-readers"]);
    assert_eq!(allowed.tier, Some(Tier::Confidential));
    assert_eq!(allowed.disclosure, Some(Disclosure::Signatures));

    // Confidential shows signatures: raw source is forbidden by name.
    let source = authorizer.decide("dev", Action::ReadSource, "payments");
    assert!(!source.allow);
    assert_eq!(source.rules, ["source-needs-source-tier"]);

    let denied = authorizer.decide("dev", Action::QueryContext, "web");
    assert!(!denied.allow);
    assert!(denied.rules.is_empty(), "deny by default");
    assert!(
        denied.reason.contains("[permissions.static]"),
        "{}",
        denied.reason
    );

    assert!(
        authorizer
            .decide("other", Action::QueryContext, "web")
            .allow,
        "`*` grant"
    );
    assert!(
        authorizer
            .decide("dev@example.com", Action::QueryContext, "mirrored")
            .allow
    );
    let not_listed = authorizer.decide("other", Action::QueryContext, "mirrored");
    assert!(!not_listed.allow);
    assert!(
        not_listed.reason.contains("github does not list"),
        "{}",
        not_listed.reason
    );

    let stale = authorizer.decide("other", Action::QueryContext, "stale");
    assert!(!stale.allow);

    let auditor = authorizer.decide("auditor", Action::QueryContext, "payments");
    assert!(!auditor.allow);
    assert!(
        auditor.reason.contains("developer role"),
        "{}",
        auditor.reason
    );
    assert!(authorizer.decide_org("auditor", Action::ViewAudit).allow);
    assert!(!authorizer.decide_org("dev", Action::ViewAudit).allow);
    assert!(authorizer.decide_org("admin", Action::Administer).allow);
    assert!(!authorizer.decide_org("dev", Action::Administer).allow);
}

#[test]
fn suspension_training_and_stale_mirrors_deny_with_a_reason() {
    let mut org = org();
    org.users[0].training_current = false;
    org.users[1].status = UserStatus::Suspended;
    let mut stale = org.repos[3].clone();
    stale.host_readers = vec!["dev@example.com".into()];
    org.repos[3] = stale;
    org.users[0].training_current = false;
    let authorizer = Authorizer::new(&org).unwrap();
    let training = authorizer.decide("dev", Action::QueryContext, "payments");
    assert!(!training.allow);
    assert_eq!(training.rules, ["training-current"]);
    assert!(
        training.reason.contains("moat user attest"),
        "{}",
        training.reason
    );
    let suspended = authorizer.decide("other", Action::QueryContext, "web");
    assert_eq!(suspended.rules, ["active-users-only"]);
    assert!(suspended.reason.contains("reactivate"));

    org.users[0].training_current = true;
    let authorizer = Authorizer::new(&org).unwrap();
    let stale = authorizer.decide("dev", Action::QueryContext, "stale");
    assert!(!stale.allow, "listed, but the mirror is stale");
    assert_eq!(stale.rules, ["permission-mirror-fresh"]);
    assert!(stale.reason.contains("fails closed"), "{}", stale.reason);
}

#[test]
fn organisation_policies_are_validated_and_named_in_decisions() {
    let mut org = org();
    org.custom_policies = Some(
        r#"@id("no-phi-for-contractors")
forbid(principal in Moat::Team::"web", action, resource is Moat::Repository)
when { resource.tier == "public" };"#
            .into(),
    );
    let authorizer = Authorizer::new(&org).unwrap();
    let denied = authorizer.decide("other", Action::QueryContext, "web");
    assert!(!denied.allow);
    assert_eq!(denied.rules, ["no-phi-for-contractors"]);
    assert!(denied.reason.contains("organisation's policy"));

    org.custom_policies =
        Some(r#"permit(principal, action, resource) when { resource.colour == "red" };"#.into());
    let error = Authorizer::new(&org)
        .err()
        .expect("unknown attribute refused");
    assert!(matches!(error, PolicyError::Invalid(_)), "{error}");
    org.custom_policies = Some("permit(principal, action".into());
    assert!(matches!(Authorizer::new(&org), Err(PolicyError::Parse(_))));
    org.custom_policies =
        Some(r#"@id("repo-readers") permit(principal, action, resource);"#.into());
    assert!(matches!(
        Authorizer::new(&org),
        Err(PolicyError::Invalid(_))
    ));
}

#[test]
fn evaluation_errors_deny() {
    let mut org = org();
    // Validates (the tag set exists) but fails at run time for repositories whose
    // region is empty: `decimal("")` cannot be parsed. Strict validation accepts it.
    org.custom_policies = Some(
        r#"@id("bad-arith") permit(principal, action == Moat::Action::"QueryContext", resource is Moat::Repository)
when { resource.tier_level + 9223372036854775807 > 0 };"#
            .into(),
    );
    let authorizer = Authorizer::new(&org).unwrap();
    // Overflow for tier_level ≥ 1: an evaluation error; the permit cannot apply.
    let decision = authorizer.decide("other", Action::QueryContext, "mirrored");
    assert!(!decision.allow, "{decision:?}");
    assert!(
        decision.reason.contains("could not be evaluated"),
        "{}",
        decision.reason
    );
}

#[test]
fn the_matrix_covers_every_user_and_repository() {
    let authorizer = Authorizer::new(&org()).unwrap();
    let matrix = authorizer.matrix();
    assert_eq!(matrix.len(), 4 * 4);
    let cell = matrix
        .iter()
        .find(|c| c.email == "other@example.com" && c.repo == "web")
        .unwrap();
    assert!(
        cell.decision.allow && cell.read_source,
        "public shows source"
    );
    assert_eq!(authorizer.readable("dev").len(), 2);
}

#[test]
fn matrix_pages_are_whole_rows_and_together_the_whole_matrix() {
    let authorizer = Authorizer::new(&org()).unwrap();
    let whole = authorizer.matrix();
    for limit in [1, 4, 5, 8, 9, 1000] {
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let (cells, next) = authorizer.matrix_page(after.as_deref(), limit);
            assert!(!cells.is_empty());
            assert_eq!(cells.len() % 4, 0, "whole rows of four repositories");
            assert!(cells.len() <= limit.max(4));
            paged.extend(cells);
            pages += 1;
            match next {
                Some(email) => after = Some(email),
                None => break,
            }
        }
        assert_eq!(paged, whole, "limit {limit}");
        assert_eq!(pages, 4_usize.div_ceil((limit / 4).max(1)));
    }
}

/// A differential test: random organisations decided by Cedar and by a small reference
/// model written independently here; every decision must agree.
mod differential {
    use super::*;
    use proptest::prelude::*;

    const TEAMS: [&str; 3] = ["a", "b", "c"];

    /// The optional organisation policy both sides apply.
    const CUSTOM: &str = r#"@id("team-c-not-above-internal")
forbid(principal in Moat::Team::"c", action, resource is Moat::Repository)
when { resource.tier_level >= 2 };"#;

    fn reference(org: &Org, user: &OrgUser, action: Action, repo: &OrgRepo) -> bool {
        if user.status != UserStatus::Active {
            return false;
        }
        if org.training_required && !user.training_current {
            return false;
        }
        if let PermissionSource::Mirrored { fresh: false, .. } = repo.source {
            return false;
        }
        if action == Action::ReadSource
            && !matches!(
                repo.disclosure,
                Disclosure::Source | Disclosure::RedactedSource
            )
        {
            return false;
        }
        if org.custom_policies.is_some()
            && user.teams.iter().any(|t| t == "c")
            && matches!(repo.tier, Tier::Confidential | Tier::Restricted)
        {
            return false;
        }
        let reader = match &repo.source {
            PermissionSource::Static => org.grants.iter().any(|g| {
                g.repos.iter().any(|r| r == "*" || r == &repo.name)
                    && (g.users.contains(&user.email)
                        || user.teams.iter().any(|t| g.teams.contains(t)))
            }),
            PermissionSource::Mirrored { .. } => repo.host_readers.contains(&user.email),
        };
        reader && user.roles.contains(&Role::Developer)
    }

    fn arb_org() -> impl Strategy<Value = Org> {
        let users = prop::collection::vec(
            (
                prop::collection::vec(0usize..4, 0..3),
                prop::collection::vec(0usize..3, 0..3),
                0usize..3,
                any::<bool>(),
            ),
            1..7,
        );
        let repos = prop::collection::vec(
            (
                0usize..4,
                prop::option::of(0usize..4),
                0usize..3,
                prop::collection::vec(0usize..7, 0..4),
            ),
            1..6,
        );
        let grants = prop::collection::vec(
            (
                prop::collection::vec(0usize..7, 1..3),
                prop::collection::vec(0usize..3, 0..2),
                prop::collection::vec(0usize..7, 0..3),
            ),
            0..4,
        );
        (users, repos, grants, any::<bool>(), any::<bool>()).prop_map(
            |(users, repos, grants, training_required, custom)| {
                let roles = [Role::Developer, Role::Admin, Role::Auditor, Role::Security];
                let users: Vec<OrgUser> = users
                    .into_iter()
                    .enumerate()
                    .map(|(i, (r, t, status, training))| OrgUser {
                        id: format!("u{i}"),
                        email: format!("u{i}@example.com"),
                        status: [
                            UserStatus::Active,
                            UserStatus::Suspended,
                            UserStatus::Active,
                        ][status],
                        roles: r.into_iter().map(|k| roles[k]).collect(),
                        teams: t.into_iter().map(|k| TEAMS[k].to_string()).collect(),
                        training_current: training,
                    })
                    .collect();
                let repos: Vec<OrgRepo> = repos
                    .into_iter()
                    .enumerate()
                    .map(|(i, (tier, disclosure, source, readers))| {
                        let tier = Tier::ALL[tier];
                        OrgRepo {
                            name: format!("r{i}"),
                            tier,
                            disclosure: disclosure
                                .map_or(tier.default_disclosure(), |d| Disclosure::ALL[d]),
                            tags: vec![],
                            region: None,
                            source: match source {
                                0 => PermissionSource::Static,
                                1 => PermissionSource::Mirrored {
                                    host: "github".into(),
                                    fresh: true,
                                },
                                _ => PermissionSource::Mirrored {
                                    host: "gitlab".into(),
                                    fresh: false,
                                },
                            },
                            host_readers: readers
                                .into_iter()
                                .map(|u| format!("u{u}@example.com"))
                                .collect(),
                        }
                    })
                    .collect();
                let grants = grants
                    .into_iter()
                    .map(|(r, t, u)| OrgGrant {
                        repos: r
                            .into_iter()
                            .map(|k| {
                                if k == 6 {
                                    "*".to_string()
                                } else {
                                    format!("r{k}")
                                }
                            })
                            .collect(),
                        teams: t.into_iter().map(|k| TEAMS[k].to_string()).collect(),
                        users: u.into_iter().map(|k| format!("u{k}@example.com")).collect(),
                    })
                    .collect();
                Org {
                    users,
                    repos,
                    grants,
                    training_required,
                    custom_policies: custom.then(|| CUSTOM.to_string()),
                    exceptions: vec![],
                    switches: vec![],
                }
            },
        )
    }

    /// `second` made into a change of `first` that `Authorizer::updated` patches in place
    /// (same configuration and repositories; people and readers, tiers and freshness
    /// from `second`), or not, when `keep_shape` is false.
    fn changed(first: &Org, second: &Org, keep_shape: bool) -> Org {
        if !keep_shape {
            return second.clone();
        }
        let mut next = first.clone();
        for (i, repo) in next.repos.iter_mut().enumerate() {
            let Some(other) = second.repos.get(i) else {
                continue;
            };
            repo.host_readers = other.host_readers.clone();
            repo.tier = other.tier;
            repo.disclosure = other.disclosure;
            if let (
                PermissionSource::Mirrored { fresh, .. },
                PermissionSource::Mirrored { fresh: other, .. },
            ) = (&mut repo.source, &other.source)
            {
                *fresh = *other;
            }
        }
        for (i, user) in second.users.iter().enumerate() {
            match next.users.get_mut(i) {
                Some(existing) => *existing = user.clone(),
                None => next.users.push(user.clone()),
            }
        }
        next
    }

    fn readable_names(authorizer: &Authorizer, user: &str) -> Vec<String> {
        authorizer
            .readable(user)
            .iter()
            .map(|(r, _)| r.name.clone())
            .collect()
    }

    fn expected_readable(org: &Org, user: &OrgUser) -> Vec<String> {
        org.repos
            .iter()
            .filter(|r| reference(org, user, Action::QueryContext, r))
            .map(|r| r.name.clone())
            .collect()
    }

    fn agrees(authorizer: &Authorizer, org: &Org) -> Result<(), TestCaseError> {
        for user in &org.users {
            prop_assert_eq!(
                readable_names(authorizer, &user.id),
                expected_readable(org, user)
            );
            for repo in &org.repos {
                for action in [Action::QueryContext, Action::ReadSource] {
                    let decision = authorizer.decide(&user.id, action, &repo.name);
                    prop_assert_eq!(
                        decision.allow,
                        reference(org, user, action, repo),
                        "{:?} {} on {}: {:?}",
                        action,
                        user.email,
                        repo.name,
                        decision
                    );
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// An authorizer patched from a previous organisation decides exactly as one
        /// built from scratch (whole decisions and readable answers, kept ones
        /// included) and as the reference model, through a chain of changes.
        #[test]
        fn updates_agree_with_a_fresh_build(
            first in arb_org(),
            steps in prop::collection::vec((arb_org(), any::<bool>()), 1..4),
        ) {
            let mut org = first;
            let mut authorizer = Authorizer::new(&org).unwrap();
            for (second, keep_shape) in steps {
                let next = changed(&org, &second, keep_shape);
                authorizer = authorizer.updated(&next).unwrap();
                agrees(&authorizer, &next)?;
                // Whole decisions (rules, tier, reason) and kept answers, not only
                // allow/deny, are those of an authorizer built from scratch.
                let fresh = Authorizer::new(&next).unwrap();
                for user in &next.users {
                    for repo in &next.repos {
                        for action in [Action::QueryContext, Action::ReadSource] {
                            prop_assert_eq!(
                                authorizer.decide(&user.id, action, &repo.name),
                                fresh.decide(&user.id, action, &repo.name)
                            );
                        }
                    }
                    let names = |a: &Authorizer| -> Vec<(String, Decision)> {
                        a.readable(&user.id)
                            .into_iter()
                            .map(|(r, d)| (r.name.clone(), d))
                            .collect()
                    };
                    prop_assert_eq!(names(&authorizer), names(&fresh));
                }
                org = next;
            }
        }

        #[test]
        fn cedar_agrees_with_the_reference_model(org in arb_org()) {
            let authorizer = Authorizer::new(&org).unwrap();
            for user in &org.users {
                for repo in &org.repos {
                    for action in [Action::QueryContext, Action::ReadSource] {
                        let decision = authorizer.decide(&user.id, action, &repo.name);
                        let expected = reference(&org, user, action, repo);
                        prop_assert_eq!(
                            decision.allow, expected,
                            "{:?} {} on {}: {:?}", action, user.email, repo.name, decision
                        );
                        if !decision.allow {
                            prop_assert!(!decision.reason.is_empty());
                        }
                    }
                }
                // Asked twice (the second kept from the first answer), and by email.
                let expected = expected_readable(&org, user);
                for key in [&user.id, &user.id, &user.email] {
                    prop_assert_eq!(&readable_names(&authorizer, key), &expected);
                }
            }
        }
    }
}

/// An approved exception is a permit for its one person and repository, named in the
/// decision; the forbids still hold, it never widens to a non-developer, an update
/// that adds or removes one decides afresh, and no organisation policy may pose as one.
#[test]
fn exceptions_permit_one_person_one_repository_and_say_so() {
    use crate::{ExceptionTarget, OrgException};
    let mut org = org();
    let before = Authorizer::new(&org).unwrap();
    assert!(!before.decide("dev", Action::QueryContext, "web").allow);
    org.exceptions = vec![
        OrgException {
            id: "ex_1".into(),
            user: "dev".into(),
            target: ExceptionTarget::Repo("web".into()),
        },
        OrgException {
            id: "ex_2".into(),
            user: "auditor".into(),
            target: ExceptionTarget::Repo("web".into()),
        },
        OrgException {
            id: "ex_3".into(),
            user: "other".into(),
            target: ExceptionTarget::Repo("payments".into()),
        },
    ];
    org.exceptions.push(OrgException {
        id: "ex_4".into(),
        user: "dev".into(),
        target: ExceptionTarget::Model("opus".into()),
    });
    org.users[1].status = UserStatus::Suspended;
    let with = before.updated(&org).unwrap();
    assert_eq!(with.model_exception("dev", "opus"), Some("ex_4"));
    assert_eq!(
        with.model_exception("dev", "sonnet"),
        None,
        "only that model"
    );
    assert_eq!(
        with.model_exception("admin", "opus"),
        None,
        "only that person"
    );
    let allowed = with.decide("dev", Action::QueryContext, "web");
    assert!(allowed.allow, "{allowed:?}");
    assert_eq!(allowed.rules, ["exception:ex_1"]);
    assert!(with.decide("dev", Action::ReadSource, "web").allow);
    // Only that person, only that repository.
    assert!(!with.decide("admin", Action::QueryContext, "web").allow);
    assert!(!with.decide("dev", Action::QueryContext, "stale").allow);
    // Not a developer: the exception does not make one.
    assert!(!with.decide("auditor", Action::QueryContext, "web").allow);
    // Suspended: the forbid wins.
    let suspended = with.decide("other", Action::QueryContext, "payments");
    assert!(!suspended.allow);
    assert_eq!(suspended.rules, ["active-users-only"]);
    // Removed again: decided afresh.
    org.exceptions.clear();
    let after = with.updated(&org).unwrap();
    assert!(!after.decide("dev", Action::QueryContext, "web").allow);

    let mut posing = org.clone();
    posing.custom_policies =
        Some("@id(\"exception:ex_forged\")\npermit(principal, action, resource);".into());
    let refused = Authorizer::new(&posing).err().unwrap().to_string();
    assert!(refused.contains("names approved exceptions"), "{refused}");
}

#[test]
fn only_the_security_role_reviews_exceptions() {
    let mut org = org();
    org.users.push(user("sec", &[Role::Security], &[]));
    let authorizer = Authorizer::new(&org).unwrap();
    let decision = authorizer.decide_org("sec", Action::ReviewException);
    assert!(decision.allow);
    assert_eq!(decision.rules, ["security-reviews-exceptions"]);
    let admin = authorizer.decide_org("admin", Action::ReviewException);
    assert!(!admin.allow);
    assert!(
        admin.reason.contains("no security role"),
        "{}",
        admin.reason
    );
}

/// A tier exception reads every repository of that tier and no other, still under the
/// forbids; vendor and model exceptions are no permits, asked for by the gateway.
#[test]
fn a_tier_exception_reads_that_tier_and_vendor_exceptions_are_asked_for() {
    use crate::{ExceptionTarget, OrgException};
    let mut org = org();
    org.exceptions = vec![
        OrgException {
            id: "ex_t".into(),
            user: "dev".into(),
            target: ExceptionTarget::Tier("public".into()),
        },
        OrgException {
            id: "ex_i".into(),
            user: "dev".into(),
            target: ExceptionTarget::Tier("internal".into()),
        },
        OrgException {
            id: "ex_v".into(),
            user: "dev".into(),
            target: ExceptionTarget::Vendor("acme-ai".into()),
        },
    ];
    let authorizer = Authorizer::new(&org).unwrap();
    let web = authorizer.decide("dev", Action::QueryContext, "web");
    assert!(web.allow, "{web:?}");
    assert_eq!(web.rules, ["exception:ex_t"]);
    assert!(
        !authorizer
            .decide("admin", Action::QueryContext, "web")
            .allow
    );
    // An internal repository whose mirror is stale stays closed: the forbid wins.
    let stale = authorizer.decide("dev", Action::QueryContext, "stale");
    assert!(!stale.allow, "{stale:?}");
    assert_eq!(authorizer.vendor_exception("dev", "acme-ai"), Some("ex_v"));
    assert_eq!(authorizer.vendor_exception("dev", "other-ai"), None);
    assert_eq!(authorizer.vendor_exception("admin", "acme-ai"), None);
    assert_eq!(
        authorizer.model_exception("dev", "acme-ai"),
        None,
        "a vendor exception is no model exception"
    );
}

/// A frozen repository is refused to everyone for every repository action, by a
/// forbid no permit (an exception, a grant, an organisation policy) overrides, named
/// in the decision with words that say how to release it; the other repositories are
/// untouched. Engaging and releasing through `updated` decides as a fresh build does,
/// and the answers `readable` kept before the switch are not carried past it.
#[test]
fn a_frozen_repository_is_refused_to_everyone_until_released() {
    use crate::{ExceptionTarget, OrgException, OrgSwitch, SwitchKind};
    let mut org = org();
    org.exceptions.push(OrgException {
        id: "ex_1".into(),
        user: "other".into(),
        target: ExceptionTarget::Repo("payments".into()),
    });
    let before = Authorizer::new(&org).unwrap();
    assert!(before.decide("dev", Action::QueryContext, "payments").allow);
    assert_eq!(before.readable("dev").len(), 2, "payments and mirrored");

    org.switches.push(OrgSwitch {
        kind: SwitchKind::Repo,
        target: "payments".into(),
        reason: "incident 4711".into(),
    });
    let fresh = Authorizer::new(&org).unwrap();
    let patched = before.updated(&org).unwrap();
    for authorizer in [&fresh, &patched] {
        for action in [
            Action::QueryContext,
            Action::ReadSource,
            Action::SendToModel,
        ] {
            for person in ["dev", "other", "admin"] {
                let decision = authorizer.decide(person, action, "payments");
                assert!(!decision.allow, "{person} {action:?}: {decision:?}");
            }
        }
        let refused = authorizer.decide("dev", Action::QueryContext, "payments");
        assert_eq!(refused.rules, ["kill-switch:repo:payments"]);
        assert!(
            refused
                .reason
                .contains("frozen by a kill switch (incident 4711)")
                && refused
                    .reason
                    .contains("moat kill-switch release repo payments"),
            "{}",
            refused.reason
        );
        assert!(
            authorizer
                .decide("dev", Action::QueryContext, "mirrored")
                .allow
        );
        assert!(
            authorizer
                .decide("other", Action::QueryContext, "web")
                .allow
        );
        let readable: Vec<&str> = authorizer
            .readable("dev")
            .iter()
            .map(|(r, _)| r.name.as_str())
            .collect();
        assert_eq!(readable, ["mirrored"], "the kept answer is not carried");
        assert!(
            authorizer
                .switched_off(SwitchKind::Repo, "payments")
                .is_some()
        );
        assert!(
            authorizer
                .switched_off(SwitchKind::Model, "payments")
                .is_none()
        );
    }
    // A repository name a policy could be written around: quoted, not parsed.
    org.switches.push(OrgSwitch {
        kind: SwitchKind::Repo,
        target: "web\"); permit(principal, action, resource".into(),
        reason: "odd name".into(),
    });
    let odd = patched.updated(&org).unwrap();
    assert!(!odd.decide("dev", Action::QueryContext, "payments").allow);
    assert!(odd.decide("other", Action::QueryContext, "web").allow);

    org.switches.clear();
    let released = odd.updated(&org).unwrap();
    assert!(
        released
            .decide("dev", Action::QueryContext, "payments")
            .allow
    );
    assert_eq!(released.readable("dev").len(), 2);

    let mut posing = org.clone();
    posing.custom_policies =
        Some("@id(\"kill-switch:repo:web\")\nforbid(principal, action, resource);".into());
    let refused = Authorizer::new(&posing).err().unwrap().to_string();
    assert!(refused.contains("names kill switches"), "{refused}");
}

#[test]
fn security_and_admins_engage_kill_switches() {
    let mut org = org();
    org.users.push(user("sec", &[Role::Security], &[]));
    let authorizer = Authorizer::new(&org).unwrap();
    for person in ["sec", "admin"] {
        let decision = authorizer.decide_org(person, Action::Contain);
        assert!(decision.allow, "{person}");
        assert_eq!(decision.rules, ["security-and-admins-contain"]);
    }
    for person in ["dev", "auditor"] {
        let decision = authorizer.decide_org(person, Action::Contain);
        assert!(!decision.allow, "{person}");
        assert!(
            decision
                .reason
                .contains("neither the security nor the admin role"),
            "{}",
            decision.reason
        );
    }
}
