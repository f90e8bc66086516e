//! Server time per console page with 10,000 people, 5,000 repositories and 30,000 audit
//! events loaded (issue #21's figure: under 100 ms at p99). Each page is requested
//! through the whole router (every layer, the session lookup, Cedar, the store, the
//! HTML), without a socket, one request at a time, 200 times after one warm-up request;
//! the first view of the models page (which counts the log's gateway events once) is
//! reported on its own.
//!
//! Run: `cargo bench -p moat-http --bench console`.

use axum::body::Body;
use axum::http::Request;
use moat_audit::event::{Actor, Decision, EventBody, Outcome, Resources};
use moat_domain::{ExternalIds, Role, Tier, UnixTime, User, UserId, UserStatus};
use moat_http::{AppState, AuditReading, HttpSettings};
use moat_policy::{OrgGrant, OrgRepo, PermissionSource};
use moat_service::console::{Console, ConsoleParts, ConsoleSettings, Deployment, RepoRow};
use moat_service::oauth::{OAuthServer, OAuthSettings};
use moat_service::{
    Access, AccessSettings, AdminActor, AuditLog, AuditSettings, Identity, IdentitySettings,
    SystemClock, TrainingRule,
};
use moat_store::{SqliteStore, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const PEOPLE: usize = 10_000;
const REPOS: usize = 5_000;
const TEAMS: usize = 100;
const EVENTS: usize = 30_000;
const RUNS: usize = 200;

fn event(user: &User, gateway: bool, i: usize) -> EventBody {
    EventBody {
        actor: Actor {
            user: Some(user.id.0.clone()),
            email: Some(user.email.clone()),
            client: Some("bench".into()),
            ..Actor::default()
        },
        action: if gateway {
            "gateway.request"
        } else {
            "mcp.call"
        }
        .into(),
        resources: Resources {
            repos: vec![format!("repo-{:04}", i % REPOS)],
            ..Resources::default()
        },
        decision: Decision {
            outcome: Outcome::Allow,
            rule: Some("repo-readers".into()),
            reason: None,
        },
        policy_version: "sha256:bench".into(),
        disclosed: Default::default(),
        redactions: Default::default(),
        egress: None,
        content_ref: None,
        details: serde_json::json!({"alias": if i.is_multiple_of(3) { "claude" } else { "gpt" }, "tokens_in": 800, "tokens_out": 200, "tool": "search_code"}),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let clock = Arc::new(SystemClock);
    let started = Instant::now();
    let mut people = Vec::with_capacity(PEOPLE);
    for i in 0..PEOPLE {
        let user = User {
            id: UserId(format!("usr_{i:05}")),
            email: format!("person{i:05}@example.com"),
            name: format!("Person {i}"),
            status: if i % 50 == 1 {
                UserStatus::Suspended
            } else {
                UserStatus::Active
            },
            roles: if i == 0 {
                vec![Role::Admin, Role::Security]
            } else {
                vec![Role::Developer]
            },
            teams: vec![format!("team-{:02}", i % TEAMS)],
            external: ExternalIds::default(),
            training: None,
            created_at: UnixTime(1_800_000_000),
        };
        store.insert_user(&user).await.unwrap();
        people.push(user);
    }
    let repos: Vec<OrgRepo> = (0..REPOS)
        .map(|i| OrgRepo {
            name: format!("repo-{i:04}"),
            tier: [
                Tier::Public,
                Tier::Internal,
                Tier::Confidential,
                Tier::Restricted,
            ][i % 4],
            disclosure: [
                Tier::Public,
                Tier::Internal,
                Tier::Confidential,
                Tier::Restricted,
            ][i % 4]
                .default_disclosure(),
            tags: vec![format!("area-{}", i % 20)],
            region: Some("us".into()),
            source: PermissionSource::Static,
            host_readers: vec![],
        })
        .collect();
    let grants = (0..TEAMS)
        .map(|t| OrgGrant {
            repos: (0..REPOS)
                .filter(|r| r % TEAMS == t)
                .map(|r| format!("repo-{r:04}"))
                .collect(),
            teams: vec![format!("team-{t:02}")],
            users: vec![],
        })
        .collect();
    let identity = Arc::new(Identity::new(
        store.clone(),
        clock.clone(),
        IdentitySettings::default(),
    ));
    let key = moat_audit::checkpoint::SigningKey::from_seed("bench", [1; 32]).unwrap();
    let verifier = key.verifier();
    let audit = Arc::new(
        AuditLog::open(
            store.clone(),
            key,
            AuditSettings {
                origin: "bench/moat".into(),
                max_batch: 1024,
            },
            vec![],
            clock.clone(),
        )
        .await
        .unwrap(),
    );
    for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(1_000) {
        let records = chunk
            .iter()
            .map(|&i| audit.record(event(&people[i % PEOPLE], i.is_multiple_of(3), i)));
        for done in futures_util::future::join_all(records).await {
            done.unwrap();
        }
    }
    let access = Arc::new(Access::new(
        identity.clone(),
        store.clone(),
        AccessSettings {
            repos: repos.clone(),
            grants,
            training: TrainingRule {
                required: false,
                current_version: None,
                renewal_seconds: 0,
            },
            custom_policies: None,
            max_staleness: Default::default(),
            logins: Default::default(),
        },
    ));
    access.authorizer().await.unwrap();
    let oauth = Arc::new(OAuthServer::new(
        store.clone(),
        clock.clone(),
        audit.clone(),
        OAuthSettings::default(),
        "sha256:bench".into(),
    ));
    let console = Arc::new(Console::new(ConsoleParts {
        store: store.clone(),
        clock: clock.clone(),
        identity: identity.clone(),
        access: access.clone(),
        audit: audit.clone(),
        oauth: oauth.clone(),
        policy_version: "sha256:bench".into(),
        settings: ConsoleSettings::default(),
        deployment: Deployment {
            repos: repos
                .iter()
                .map(|r| RepoRow {
                    name: r.name.clone(),
                    tier: r.tier,
                    disclosure: r.disclosure.to_string(),
                    tags: r.tags.clone(),
                    region: r.region.clone(),
                    permissions: "static (moat.toml)".into(),
                })
                .collect(),
            models: vec![],
            vendors: vec![],
            follows_published: false,
            policy: None,
            evidence: None,
        },
    }));
    let actor = AdminActor {
        client: "bench".into(),
        ..AdminActor::default()
    };
    let link = oauth
        .sign_in_link(&actor, "person00000@example.com")
        .await
        .unwrap();
    let (cookie, _) = console.sign_in(&link.secret, &actor).await.unwrap();
    let cookie = format!("moat_console={cookie}");
    let settings = HttpSettings {
        public_url: None,
        oidc_issuer: None,
        mcp_allowed_hosts: vec!["localhost".into()],
        mcp_allowed_origins: vec![],
        mcp_session_idle: Duration::from_secs(60),
        max_body_bytes: 1 << 20,
        request_timeout: Duration::from_secs(30),
        policy_version: "sha256:bench".into(),
    };
    let app = moat_http::router(
        AppState::new(identity, audit.clone(), settings)
            .with_access(access)
            .with_oauth(oauth)
            .with_audit_reading(AuditReading {
                store: store.clone(),
                keys: vec![verifier],
                witness_files: vec![],
            })
            .with_console(console),
    );
    println!(
        "loaded {PEOPLE} people, {REPOS} repositories, {EVENTS} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let get = |path: String| {
        let app = app.clone();
        let cookie = cookie.clone();
        async move {
            let request = Request::get(&path)
                .header("cookie", cookie)
                .header("host", "localhost")
                .body(Body::empty())
                .unwrap();
            let at = Instant::now();
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 16 << 20)
                .await
                .unwrap();
            let took = at.elapsed();
            assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
            took
        }
    };
    let first_models = get("/console/models".into()).await;
    println!(
        "first view of /console/models (counts {EVENTS} events once): {:.1} ms",
        first_models.as_secs_f64() * 1e3
    );
    let pages = [
        "/console".to_string(),
        "/console/people".into(),
        "/console/people?q=person04242&page=1".into(),
        "/console/people?page=150".into(),
        "/console/people/usr_04242".into(),
        "/console/repos".into(),
        "/console/repos?q=area-7&tier=restricted&page=2".into(),
        "/console/access?repo=repo-0042".into(),
        "/console/access?person=person04242%40example.com&page=20".into(),
        "/console/access?person=person04242%40example.com&repo=repo-0042".into(),
        "/console/models".into(),
        "/console/audit".into(),
        "/console/audit?action=gateway.request".into(),
        "/console/audit?actor=person04242%40example.com".into(),
        format!("/console/audit/{}", EVENTS / 2),
        "/console/me".into(),
    ];
    println!(
        "{:<68} {:>8} {:>8} {:>8}",
        "page", "p50 ms", "p99 ms", "max ms"
    );
    let mut worst = Duration::ZERO;
    for path in pages {
        get(path.clone()).await;
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            times.push(get(path.clone()).await);
        }
        times.sort();
        let p99 = percentile(&times, 0.99);
        worst = worst.max(p99);
        println!(
            "{:<68} {:>8.2} {:>8.2} {:>8.2}",
            path,
            percentile(&times, 0.50).as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            times.last().unwrap().as_secs_f64() * 1e3
        );
    }
    println!(
        "worst p99: {:.2} ms (target 100 ms)",
        worst.as_secs_f64() * 1e3
    );
    audit.close().await.unwrap();
}
