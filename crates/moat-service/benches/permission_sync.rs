//! Issue #6's sync figure: a full permission sync of 5,000 GitHub repositories and
//! 10,000 people from a local stand-in that speaks GitHub's collaborators API
//! (`Link` pagination, 100 per page; every repository has 20–230 readers, so a third
//! of them need two or three pages), into the real SQLite store; then the authorizer
//! rebuilt over that mirror, a webhook's revocation until the next decision denies, and
//! one decision's latency with the mirror loaded.
//! Every change is an `access.mirror` audit event, so the first full sync also writes
//! one event per reader row (group commit batches them); the logins are linked to the
//! people by the `users` table, as nothing maps a login by the look of an email.
//! `cargo bench -p moat-service --bench permission_sync` (`MOAT_BENCH_STORE=postgres`
//! for the PostgreSQL store).
//! github.com cannot be reached from here; the stand-in answers at once, so the figure
//! is Moat's own cost (HTTP client, parsing, SQLite), not GitHub's latency.

use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use hmac::{Hmac, Mac};
use moat_domain::{Disclosure, Role, Tier};
use moat_policy::{Action, OrgRepo, PermissionSource};
use moat_service::access::states::{AccessStates, json_of, org_of};
use moat_service::host_sync::{HostKind, HostRepo, HostSync};
use moat_service::mirror::MirrorWriter;
use moat_service::webhooks::{WebhookOutcome, Webhooks};
use moat_service::{
    Access, AccessSettings, AuditLog, AuditSettings, Identity, IdentitySettings, SystemClock,
    TrainingRule,
};
use moat_store::{SqliteStore, Store};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

const USERS: usize = 10_000;
const REPOS: usize = 5_000;

fn readers_of(repo: usize) -> usize {
    20 + (repo * 37) % 211
}

async fn collaborators(
    Path((_owner, repo)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> axum::response::Response {
    let index: usize = repo.trim_start_matches("repo").parse().unwrap_or(0);
    let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let total = readers_of(index);
    let members: Vec<serde_json::Value> = ((page - 1) * 100..(page * 100).min(total))
        .map(|k| {
            let user = (index * 131 + k * 7) % USERS;
            serde_json::json!({"login": format!("user{user}"), "permissions": {"pull": true}, "role_name": "read"})
        })
        .collect();
    let mut response = axum::Json(members).into_response();
    if page * 100 < total {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let link = format!(
            "<http://{host}/repos/acme/{repo}/collaborators?affiliation=all&per_page=100&page={}>; rel=\"next\"",
            page + 1
        );
        response.headers_mut().insert("link", link.parse().unwrap());
    }
    response
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let app = axum::Router::new().route(
            "/repos/{owner}/{repo}/collaborators",
            axum::routing::get(collaborators),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let dir = tempfile::tempdir().unwrap();
        // `MOAT_BENCH_STORE=postgres`: a scratch database on the server
        // `MOAT_TEST_POSTGRES` names (default the local one) instead of SQLite.
        let (store, _scratch): (Arc<dyn Store>, _) =
            if std::env::var("MOAT_BENCH_STORE").as_deref() == Ok("postgres") {
                let scratch = moat_store::conformance::scratch::ScratchPostgres::new().await;
                let store = moat_store::PostgresStore::connect(&moat_store::PostgresOptions::new(&scratch.url))
                    .await
                    .unwrap();
                println!("store: PostgreSQL (scratch database on the local server)");
                (Arc::new(store), Some(scratch))
            } else {
                (Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap()), None)
            };
        let identity = Arc::new(Identity::new(store.clone(), Arc::new(SystemClock), IdentitySettings::default()));
        for i in 0..USERS {
            identity
                .add_user(moat_service::NewUser {
                    email: format!("user{i}@example.com"),
                    name: String::new(),
                    roles: vec![Role::Developer],
                    teams: vec![],
                })
                .await
                .unwrap();
        }
        let repos: Vec<HostRepo> = (0..REPOS)
            .map(|i| HostRepo {
                repo: format!("repo{i}"),
                kind: HostKind::Github,
                path: format!("acme/repo{i}"),
                api_url: url.clone(),
                token: "bench".into(),
            })
            .collect();
        let audit = AuditLog::open(
            store.clone(),
            moat_audit::checkpoint::SigningKey::from_seed("moat-bench", [5; 32]).unwrap(),
            AuditSettings {
                origin: "bench/moat".into(),
                max_batch: 1024,
            },
            vec![],
            Arc::new(SystemClock),
        )
        .await
        .unwrap();
        let audit = Arc::new(audit);
        let writer = Arc::new(MirrorWriter::new(store.clone(), audit.clone(), "sha256:bench".into()));
        let sync = Arc::new(HostSync::new(writer.clone(), Arc::new(SystemClock)));
        let started = Instant::now();
        let results = sync.sync_all(&repos).await;
        let took = started.elapsed();
        let failed = results.iter().filter(|(_, r)| r.is_err()).count();
        let readers: usize = results.iter().filter_map(|(_, r)| r.as_ref().ok()).map(|r| r.readers).sum();
        let pages: usize = results.iter().filter_map(|(_, r)| r.as_ref().ok()).map(|r| r.pages).sum();
        println!(
            "full sync: {REPOS} repositories, {pages} pages, {readers} reader rows, {USERS} people: {:.1} s ({failed} failed)",
            took.as_secs_f64()
        );

        let settings = AccessSettings {
            repos: (0..REPOS)
                .map(|i| OrgRepo {
                    name: format!("repo{i}"),
                    tier: Tier::Internal,
                    disclosure: Disclosure::Source,
                    tags: vec![],
                    region: None,
                    source: PermissionSource::Mirrored { host: "github".into(), fresh: false },
                    host_readers: vec![],
                })
                .collect(),
            grants: vec![],
            training: TrainingRule { required: false, current_version: None, renewal_seconds: 0 },
            custom_policies: None,
            max_staleness: HashMap::from([("github".to_string(), 3600)]),
            logins: HashMap::from([(
                "github".to_string(),
                (0..USERS).map(|i| (format!("user{i}"), format!("user{i}@example.com"))).collect(),
            )]),
        };
        let access = Arc::new(Access::new(identity, store.clone(), settings));
        let started = Instant::now();
        let authorizer = access.authorizer().await.unwrap();
        println!("authorizer over the mirror built in {:.2} s", started.elapsed().as_secs_f64());
        let started = Instant::now();
        let again = access.authorizer().await.unwrap();
        println!(
            "authorizer when nothing changed (one read of the access version): {:.3} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
        assert!(Arc::ptr_eq(&authorizer, &again));
        // A webhook's revocation at this scale, through the real receiver (HMAC check,
        // its audit event, mirror row removed with the delivery id): the time until the next
        // request's authorizer denies.
        let webhooks = Webhooks {
            writer: writer.clone(),
            clock: Arc::new(SystemClock),
            sync: sync.clone(),
            repos: repos.clone(),
            github_secret: Some(b"bench-secret".to_vec()),
            gitlab_token: None,
        };
        let sign = |body: &[u8]| {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"bench-secret").unwrap();
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        };
        // Twenty people have searched (their readable repositories are kept); the
        // updates below carry what a revocation cannot have moved.
        let searched = access.authorizer().await.unwrap();
        let started = Instant::now();
        for k in 0..20usize {
            searched.readable(&format!("user{}@example.com", 5000 + k));
        }
        println!(
            "readable repositories, first search of 20 people: {:.0} ms each",
            started.elapsed().as_secs_f64() * 1000.0 / 20.0
        );
        let mut revocations = Vec::new();
        for k in 0..20usize {
            let user = (k * 7) % USERS;
            let email = format!("user{user}@example.com");
            let before = access.authorizer().await.unwrap();
            assert!(before.decide(&email, Action::QueryContext, "repo0").allow, "{email} reads repo0");
            let body = format!(
                r#"{{"action":"removed","member":{{"login":"user{user}"}},"repository":{{"full_name":"acme/repo0"}}}}"#
            );
            let started = Instant::now();
            let outcome = webhooks
                .github("member", Some(&format!("bench-{k}")), Some(&sign(body.as_bytes())), body.as_bytes())
                .await
                .unwrap();
            let after = access.authorizer().await.unwrap();
            let decision = after.decide(&email, Action::QueryContext, "repo0");
            revocations.push(started.elapsed());
            assert!(matches!(outcome, WebhookOutcome::Applied(_)), "{outcome:?}");
            assert!(!decision.allow, "revoked {email} still reads repo0: {decision:?}");
        }
        revocations.sort();
        let after = access.authorizer().await.unwrap();
        let started = Instant::now();
        for k in 0..20usize {
            after.readable(&format!("user{}@example.com", 5000 + k));
        }
        println!(
            "readable repositories of the same 20 people after the 20 revocations (carried): {:.3} ms each",
            started.elapsed().as_secs_f64() * 1000.0 / 20.0
        );
        println!(
            "revocation by webhook (`member` removed: verified, stored, authorizer updated, next decision denies), 20 in a row: median {:.0} ms, max {:.0} ms",
            revocations[revocations.len() / 2].as_secs_f64() * 1000.0,
            revocations[revocations.len() - 1].as_secs_f64() * 1000.0
        );

        // Someone leaves the organisation: out of every repository at once. (The
        // receiver also starts a full resync in the background, as it should; it runs
        // after this measurement and the figures below are taken before it.)
        let leaver = 1usize;
        let email = format!("user{leaver}@example.com");
        let before = access.authorizer().await.unwrap();
        let readable = before.readable(&email).len();
        assert!(readable > 0);
        let body = format!(r#"{{"action":"member_removed","membership":{{"user":{{"login":"user{leaver}"}}}}}}"#);
        let started = Instant::now();
        webhooks
            .github("organization", Some("bench-org"), Some(&sign(body.as_bytes())), body.as_bytes())
            .await
            .unwrap();
        let stored = started.elapsed();
        let after = access.authorizer().await.unwrap();
        let took = started.elapsed();
        assert!(after.readable(&email).is_empty(), "the leaver still reads something");
        println!(
            "organisation member removed (out of {readable} repositories): next decision denies after {:.0} ms ({:.0} ms of it storing the removal from all {REPOS})",
            took.as_secs_f64() * 1000.0,
            stored.as_secs_f64() * 1000.0
        );

        let authorizer = access.authorizer().await.unwrap();
        let mut times = Vec::new();
        let mut allowed = 0;
        for k in 0..50_000usize {
            let user = format!("user{}@example.com", (k * 7919) % USERS);
            let repo = format!("repo{}", (k * 104_729) % REPOS);
            let started = Instant::now();
            allowed += authorizer.decide(&user, Action::QueryContext, &repo).allow as usize;
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "decision with the mirror loaded: p50 {:.1} µs, p99 {:.1} µs ({allowed} of 50,000 allowed)",
            times[times.len() / 2].as_secs_f64() * 1e6,
            times[times.len() * 99 / 100].as_secs_f64() * 1e6
        );

        // The day's access state, from which an evidence pack decides the matrix at its
        // period's start: taken over the whole mirror, then read back, checked against
        // its SHA-256 and decided again.
        let states = AccessStates {
            access: access.clone(),
            audit: audit.clone(),
            policy_version: "sha256:bench".into(),
        };
        let current = access.authorizer().await.unwrap();
        let started = Instant::now();
        let taken = states.take(moat_service::access::states::moat_itself()).await.unwrap();
        let took = started.elapsed();
        assert!(taken.new);
        let state = store.access_state_near(moat_domain::UnixTime(i64::MAX), true).await.unwrap().unwrap();
        let started = Instant::now();
        let json = json_of(store.as_ref(), &state).await.unwrap();
        let org = org_of(&state, &json).unwrap();
        let rebuilt = moat_policy::Authorizer::new(&org).unwrap();
        let read = started.elapsed();
        for k in 0..1_000usize {
            let user = format!("user{}@example.com", (k * 7919) % USERS);
            let repo = format!("repo{}", (k * 104_729) % REPOS);
            assert_eq!(
                rebuilt.decide(&user, Action::QueryContext, &repo).allow,
                current.decide(&user, Action::QueryContext, &repo).allow,
                "{user} on {repo}"
            );
        }
        println!(
            "access state of {} people and {} repositories: recorded in {:.2} s ({:.1} MB of JSON, {:.1} MB kept); read back, checked and decided again in {:.2} s",
            taken.people,
            taken.repos,
            took.as_secs_f64(),
            taken.bytes as f64 / 1e6,
            taken.stored_bytes as f64 / 1e6,
            read.as_secs_f64()
        );
    });
}
