//! Issue #6's decision figure: one decision's latency with 10,000 users and 5,000
//! repositories loaded (static grants by team, 200 teams, every user in two teams,
//! every team granted 40 repositories, a quarter of the repositories mirrored).
//! `cargo bench -p moat-policy --bench decision` prints p50, p99 and max over 200,000
//! decisions, each timed alone, plus how long building the authorizer takes.

use moat_domain::{Role, Tier, UserStatus};
use moat_policy::{
    Action, Authorizer, Decision, Org, OrgGrant, OrgRepo, OrgUser, PermissionSource,
};
use std::time::{Duration, Instant};

fn main() {
    let users = 10_000usize;
    let repos = 5_000usize;
    let teams = 200usize;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let org = Org {
        users: (0..users)
            .map(|i| OrgUser {
                id: format!("usr_{i}"),
                email: format!("user{i}@example.com"),
                status: if i % 97 == 0 {
                    UserStatus::Suspended
                } else {
                    UserStatus::Active
                },
                roles: vec![Role::Developer],
                teams: vec![
                    format!("team{}", i % teams),
                    format!("team{}", (i * 7) % teams),
                ],
                training_current: i % 13 != 0,
            })
            .collect(),
        repos: (0..repos)
            .map(|i| OrgRepo {
                name: format!("repo{i}"),
                tier: Tier::ALL[i % 4],
                disclosure: Tier::ALL[i % 4].default_disclosure(),
                tags: if i % 10 == 0 {
                    vec!["phi".into()]
                } else {
                    vec![]
                },
                region: Some("us".into()),
                source: if i % 4 == 0 {
                    PermissionSource::Mirrored {
                        host: "github".into(),
                        fresh: true,
                    }
                } else {
                    PermissionSource::Static
                },
                host_readers: if i % 4 == 0 {
                    (0..20)
                        .map(|k| format!("user{}@example.com", (i * 31 + k) % users))
                        .collect()
                } else {
                    vec![]
                },
            })
            .collect(),
        grants: (0..teams)
            .map(|t| OrgGrant {
                repos: (0..40)
                    .map(|k| format!("repo{}", (t * 25 + k) % repos))
                    .collect(),
                teams: vec![format!("team{t}")],
                users: vec![],
            })
            .collect(),
        training_required: true,
        custom_policies: Some(
            r#"@id("phi-needs-team0") forbid(principal, action, resource is Moat::Repository)
when { resource.tags.contains("phi") && !(principal in Moat::Team::"team0") };"#
                .into(),
        ),
        exceptions: vec![],
        switches: vec![],
    };
    let started = Instant::now();
    let authorizer = Authorizer::new(&org).expect("builds");
    let build = started.elapsed();

    let mut times = Vec::with_capacity(200_000);
    let mut allowed = 0usize;
    for _ in 0..200_000 {
        let user = format!("usr_{}", next() as usize % users);
        let repo = format!("repo{}", next() as usize % repos);
        let started = Instant::now();
        let decision = authorizer.decide(&user, Action::QueryContext, &repo);
        times.push(started.elapsed());
        allowed += decision.allow as usize;
    }
    times.sort();
    let at = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "authorizer for {users} users, {repos} repositories, {teams} teams built in {:.0} ms",
        build.as_secs_f64() * 1000.0
    );
    println!(
        "decision (QueryContext, 200,000 random pairs, {allowed} allowed): p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        us(at(0.5)),
        us(at(0.99)),
        us(*times.last().unwrap())
    );

    // The same pair over and over: the decision's own CPU cost with everything in
    // cache (a repository decision runs five policies; an organisation one, two).
    let same = |decide: &dyn Fn() -> Decision| {
        let mut times: Vec<Duration> = (0..100_000)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(decide());
                started.elapsed()
            })
            .collect();
        times.sort();
        (us(times[50_000]), us(times[99_000]))
    };
    let repo = same(&|| authorizer.decide("usr_17", Action::QueryContext, "repo5"));
    let org_wide = same(&|| authorizer.decide_org("usr_17", Action::Administer));
    println!(
        "one pair repeated (all in cache): repository decision p50 {:.1} µs, p99 {:.1} µs; organisation decision p50 {:.1} µs, p99 {:.1} µs",
        repo.0, repo.1, org_wide.0, org_wide.1
    );

    // What every search asks first: the repositories a person may query. The first
    // answer per person decides every repository; later ones are kept.
    let mut first = Vec::new();
    let mut kept = Vec::new();
    for k in 0..20 {
        let user = format!("usr_{}", (k * 487) % users);
        let started = Instant::now();
        let count = authorizer.readable(&user).len();
        first.push(started.elapsed());
        let started = Instant::now();
        assert_eq!(authorizer.readable(&user).len(), count);
        kept.push(started.elapsed());
    }
    first.sort();
    kept.sort();
    println!(
        "readable repositories of one person (all {repos} decided): median {:.1} ms; asked again: median {:.1} µs",
        first[first.len() / 2].as_secs_f64() * 1000.0,
        us(kept[kept.len() / 2])
    );
}
