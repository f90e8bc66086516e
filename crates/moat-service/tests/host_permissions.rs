//! The permission mirror against local stand-ins for the GitHub and GitLab REST APIs.
//! No machine here can reach github.com or a GitLab server, so these small servers
//! speak the documented wire formats instead: `Link` pagination and `ETag`/304 and
//! `X-RateLimit-*` headers (GitHub), `X-Next-Page` pagination (GitLab), 404 for a
//! repository the token cannot see. Decisions go through the real Access service.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hmac::Mac;
use moat_domain::{Disclosure, Role, Tier, UnixTime};
use moat_policy::{Action, OrgRepo, PermissionSource};
use moat_service::host_sync::{HostKind, HostRepo, HostSync, SyncError};
use moat_service::webhooks::{WebhookError, WebhookOutcome, Webhooks};
use moat_service::{
    Access, AccessSettings, FixedClock, Identity, IdentitySettings, NewUser, SignInRefresh,
    SystemClock, TrainingRule,
};
use moat_store::{SqliteStore, Store};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Hosts {
    requests: AtomicUsize,
    rate_limited_once: AtomicUsize,
    auth_headers: Mutex<Vec<String>>,
    github_readers: Mutex<Vec<String>>,
    /// GitLab usernames the project no longer lists.
    gitlab_removed: Mutex<Vec<String>>,
    /// Per-person requests (sign-in refreshes), as `host:login`.
    person_requests: Mutex<Vec<String>>,
}

/// GitLab's fixed membership of `group/ledger`: (id, username, access level).
const LEDGER: [(i64, &str, i64); 3] = [(3, "carol", 30), (7, "guest-gary", 10), (1, "alice", 20)];

/// `GET /repos/{owner}/{repo}/collaborators/{username}/permission`: `permission` is
/// `none` for someone without access.
async fn github_permission(
    State(hosts): State<Arc<Hosts>>,
    Path((owner, repo, login)): Path<(String, String, String)>,
) -> Response {
    hosts
        .person_requests
        .lock()
        .unwrap()
        .push(format!("github:{login}"));
    if owner != "acme" || repo != "payments" {
        return (StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#).into_response();
    }
    let reads = hosts.github_readers.lock().unwrap().contains(&login);
    let permission = if reads { "read" } else { "none" };
    axum::Json(serde_json::json!({
        "permission": permission,
        "role_name": permission,
        "user": {"login": login},
    }))
    .into_response()
}

/// `GET /users?username=`: a list with zero or one user.
async fn gitlab_users(Query(query): Query<HashMap<String, String>>) -> Response {
    let username = query.get("username").cloned().unwrap_or_default();
    let users: Vec<serde_json::Value> = LEDGER
        .iter()
        .filter(|(_, name, _)| *name == username)
        .map(|(id, name, _)| serde_json::json!({"id": id, "username": name, "state": "active"}))
        .collect();
    axum::Json(users).into_response()
}

/// `GET /projects/{project}/members/all/{user_id}`: 404 for someone not a member.
async fn gitlab_member(
    State(hosts): State<Arc<Hosts>>,
    Path((project, id)): Path<(String, i64)>,
) -> Response {
    let member = LEDGER.iter().find(|(user, _, _)| *user == id);
    if let Some((_, name, _)) = member {
        hosts
            .person_requests
            .lock()
            .unwrap()
            .push(format!("gitlab:{name}"));
    }
    let removed = hosts.gitlab_removed.lock().unwrap().clone();
    match member {
        Some((id, name, level))
            if project == "group/ledger" && !removed.iter().any(|r| r == name) =>
        {
            axum::Json(serde_json::json!({"id": id, "username": name, "access_level": level, "state": "active"}))
                .into_response()
        }
        _ => (StatusCode::NOT_FOUND, r#"{"message":"404 Not found"}"#).into_response(),
    }
}

async fn github_collaborators(
    State(hosts): State<Arc<Hosts>>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    hosts.requests.fetch_add(1, Ordering::SeqCst);
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        hosts.auth_headers.lock().unwrap().push(auth.to_string());
    }
    if owner != "acme" || repo != "payments" {
        return (StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#).into_response();
    }
    // The first request of all meets an exhausted rate limit resetting in a second.
    if hosts.rate_limited_once.fetch_add(1, Ordering::SeqCst) == 0 {
        let reset = UnixTime::now().0 + 1;
        return (
            StatusCode::FORBIDDEN,
            [
                ("x-ratelimit-remaining", "0".to_string()),
                ("x-ratelimit-reset", reset.to_string()),
            ],
            r#"{"message":"API rate limit exceeded"}"#,
        )
            .into_response();
    }
    let readers = hosts.github_readers.lock().unwrap().clone();
    let etag = format!("\"{}\"", readers.len());
    let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    if page == 1 && headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(&etag) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let per_page = 100;
    let members: Vec<serde_json::Value> = readers
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|login| serde_json::json!({"login": login, "permissions": {"pull": true, "push": false, "admin": false}, "role_name": "read"}))
        .collect();
    let pages = readers.len().div_ceil(per_page);
    let base = format!(
        "http://{}",
        headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
    );
    let mut response = axum::Json(members).into_response();
    if page < pages {
        let link = format!(
            "<{base}/repos/acme/payments/collaborators?affiliation=all&per_page=100&page={}>; rel=\"next\", <{base}/repos/acme/payments/collaborators?affiliation=all&per_page=100&page={pages}>; rel=\"last\"",
            page + 1
        );
        response.headers_mut().insert("link", link.parse().unwrap());
    }
    if page == 1 {
        response.headers_mut().insert("etag", etag.parse().unwrap());
    }
    response
        .headers_mut()
        .insert("x-ratelimit-remaining", "4999".parse().unwrap());
    response
}

async fn gitlab_members(
    State(hosts): State<Arc<Hosts>>,
    Path(project): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if project != "group/ledger" || headers.get("private-token").is_none() {
        return (
            StatusCode::NOT_FOUND,
            r#"{"message":"404 Project Not Found"}"#,
        )
            .into_response();
    }
    let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let removed = hosts.gitlab_removed.lock().unwrap().clone();
    let on_page = if page == 1 {
        &LEDGER[..2]
    } else {
        &LEDGER[2..]
    };
    let members: Vec<serde_json::Value> = on_page
        .iter()
        .filter(|(_, name, _)| !removed.iter().any(|r| r == name))
        .map(|(_, name, level)| serde_json::json!({"username": name, "access_level": level, "state": "active"}))
        .collect();
    let mut response = axum::Json(members).into_response();
    let next = if page == 1 { "2" } else { "" };
    response
        .headers_mut()
        .insert("x-next-page", next.parse().unwrap());
    response
}

async fn start_hosts(hosts: Arc<Hosts>) -> String {
    let app = axum::Router::new()
        .route(
            "/repos/{owner}/{repo}/collaborators",
            get(github_collaborators),
        )
        .route(
            "/repos/{owner}/{repo}/collaborators/{login}/permission",
            get(github_permission),
        )
        .route("/projects/{project}/members/all", get(gitlab_members))
        .route("/projects/{project}/members/all/{id}", get(gitlab_member))
        .route("/users", get(gitlab_users))
        .with_state(hosts);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn mirrored(name: &str, host: &str) -> OrgRepo {
    OrgRepo {
        name: name.into(),
        tier: Tier::Internal,
        disclosure: Disclosure::Source,
        tags: vec![],
        region: None,
        source: PermissionSource::Mirrored {
            host: host.into(),
            fresh: false,
        },
        host_readers: vec![],
    }
}

struct World {
    store: Arc<dyn Store>,
    access: Arc<Access>,
    repos: Vec<HostRepo>,
    hosts: Arc<Hosts>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let identity = Arc::new(Identity::new(
        store.clone(),
        Arc::new(SystemClock),
        IdentitySettings::default(),
    ));
    for email in [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "zed@example.com",
    ] {
        identity
            .add_user(NewUser {
                email: email.into(),
                name: String::new(),
                roles: vec![Role::Developer],
                teams: vec![],
            })
            .await
            .unwrap();
    }
    let hosts = Arc::new(Hosts::default());
    *hosts.github_readers.lock().unwrap() = ["alice".to_string(), "bobby-gh".to_string()]
        .into_iter()
        .chain((0..248).map(|i| format!("outside-{i}")))
        .collect();
    let url = start_hosts(hosts.clone()).await;
    let settings = AccessSettings {
        repos: vec![
            mirrored("payments", "github"),
            mirrored("hidden", "github"),
            mirrored("ledger", "gitlab"),
        ],
        grants: vec![],
        training: TrainingRule {
            required: false,
            current_version: None,
            renewal_seconds: 0,
        },
        custom_policies: None,
        max_staleness: HashMap::from([("github".to_string(), 3600), ("gitlab".to_string(), 3600)]),
        logins: HashMap::from([("bobby-gh".to_string(), "bob@example.com".to_string())]),
    };
    let access = Arc::new(Access::new(identity, store.clone(), settings));
    let repo = |name: &str, kind: HostKind, path: &str| HostRepo {
        repo: name.into(),
        kind,
        path: path.into(),
        api_url: url.clone(),
        token: "test-token-not-a-secret".into(),
    };
    World {
        store,
        access,
        repos: vec![
            repo("payments", HostKind::Github, "acme/payments"),
            repo("hidden", HostKind::Github, "acme/hidden"),
            repo("ledger", HostKind::Gitlab, "group/ledger"),
        ],
        hosts,
        _dir: dir,
    }
}

async fn decide(world: &World, email: &str, repo: &str) -> moat_policy::Decision {
    world
        .access
        .authorizer()
        .await
        .unwrap()
        .decide(email, Action::QueryContext, repo)
}

#[tokio::test]
async fn the_mirror_follows_the_hosts_and_fails_closed_until_synced() {
    let world = world().await;
    // Never synced: denied, naming the stale mirror.
    let before = decide(&world, "alice@example.com", "payments").await;
    assert!(!before.allow);
    assert_eq!(before.rules, ["permission-mirror-fresh"]);

    let sync = Arc::new(HostSync::new(world.store.clone(), Arc::new(SystemClock)));
    let results = sync.sync_all(&world.repos).await;
    let payments = results[0].1.as_ref().unwrap();
    assert_eq!(
        (payments.readers, payments.pages),
        (250, 3),
        "three pages after a rate-limit wait"
    );
    assert!(
        matches!(results[1].1, Err(SyncError::NotVisible { .. })),
        "{:?}",
        results[1].1
    );
    let ledger = results[2].1.as_ref().unwrap();
    assert_eq!(
        ledger.readers, 2,
        "carol and alice; a guest cannot read code"
    );
    assert!(
        world
            .hosts
            .auth_headers
            .lock()
            .unwrap()
            .iter()
            .all(|h| h == "Bearer test-token-not-a-secret")
    );

    assert!(decide(&world, "alice@example.com", "payments").await.allow);
    assert!(
        decide(&world, "bob@example.com", "payments").await.allow,
        "mapped login"
    );
    let zed = decide(&world, "zed@example.com", "payments").await;
    assert!(!zed.allow);
    assert!(
        zed.reason.contains("github does not list"),
        "{}",
        zed.reason
    );
    let hidden = decide(&world, "alice@example.com", "hidden").await;
    assert_eq!(
        hidden.rules,
        ["permission-mirror-fresh"],
        "a failed sync leaves it closed"
    );
    assert!(decide(&world, "carol@example.com", "ledger").await.allow);

    // Unchanged on the host: one conditional request answered 304.
    let requests = world.hosts.requests.load(Ordering::SeqCst);
    let again = sync.sync_repo(&world.repos[0]).await.unwrap();
    assert!(again.unchanged);
    assert_eq!(world.hosts.requests.load(Ordering::SeqCst), requests + 1);
    assert!(decide(&world, "alice@example.com", "payments").await.allow);
}

#[tokio::test]
async fn a_mirror_older_than_the_bound_denies() {
    let world = world().await;
    let two_hours_ago = UnixTime(UnixTime::now().0 - 7200);
    let sync = Arc::new(HostSync::new(
        world.store.clone(),
        Arc::new(FixedClock::at(two_hours_ago)),
    ));
    sync.sync_repo(&world.repos[2]).await.unwrap();
    let stale = decide(&world, "carol@example.com", "ledger").await;
    assert!(!stale.allow);
    assert_eq!(stale.rules, ["permission-mirror-fresh"]);
    assert!(stale.reason.contains("fails closed"));
}

#[tokio::test]
async fn a_sign_in_refresh_removes_access_the_hosts_no_longer_grant() {
    let world = world().await;
    let sync = Arc::new(HostSync::new(world.store.clone(), Arc::new(SystemClock)));
    sync.sync_all(&world.repos).await;
    assert!(decide(&world, "alice@example.com", "payments").await.allow);
    assert!(decide(&world, "alice@example.com", "ledger").await.allow);

    // Both hosts take alice's access away and no webhook reaches Moat: the mirror
    // still says she reads both.
    world
        .hosts
        .github_readers
        .lock()
        .unwrap()
        .retain(|login| login != "alice");
    world
        .hosts
        .gitlab_removed
        .lock()
        .unwrap()
        .push("alice".into());
    assert!(decide(&world, "alice@example.com", "payments").await.allow);

    let clock = Arc::new(FixedClock::at(UnixTime::now()));
    let refresh = SignInRefresh::new(
        world.access.clone(),
        sync.clone(),
        world.repos.clone(),
        clock.clone(),
    );
    let user = |email: &'static str| {
        let store = world.store.clone();
        async move { store.user_by_email(email).await.unwrap().unwrap() }
    };
    let alice = user("alice@example.com").await;
    let report = refresh.refresh(&alice).await.unwrap();
    assert_eq!(
        report.checked, 2,
        "the two mirrored repositories she could read"
    );
    assert_eq!(report.revoked, ["ledger", "payments"]);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    for repo in ["payments", "ledger"] {
        let denied = decide(&world, "alice@example.com", repo).await;
        assert!(!denied.allow, "{repo}: {denied:?}");
        assert!(denied.reason.contains("does not list"), "{}", denied.reason);
    }
    assert!(
        decide(&world, "carol@example.com", "ledger").await.allow,
        "others are untouched"
    );

    // Bob is `bobby-gh` on GitHub (the logins table) and still a reader: nothing goes.
    // `bob`, his email's local part, is asked about too, and has no row to remove.
    let bob = user("bob@example.com").await;
    let report = refresh.refresh(&bob).await.unwrap();
    assert_eq!((report.checked, report.revoked.len()), (2, 0), "{report:?}");
    assert!(
        world
            .hosts
            .person_requests
            .lock()
            .unwrap()
            .contains(&"github:bobby-gh".to_string())
    );
    assert!(decide(&world, "bob@example.com", "payments").await.allow);

    // Zed reads nothing mirrored: no request to any host.
    let before = world.hosts.person_requests.lock().unwrap().len();
    let zed = user("zed@example.com").await;
    assert_eq!(refresh.refresh(&zed).await.unwrap().checked, 0);
    assert_eq!(world.hosts.person_requests.lock().unwrap().len(), before);

    // A sign-in is a provider token not seen before for that person, at most once a
    // minute however many tokens they present.
    assert!(refresh.is_new_sign_in(&bob, "jwt-1"));
    assert!(
        !refresh.is_new_sign_in(&bob, "jwt-1"),
        "same token: same session"
    );
    assert!(!refresh.is_new_sign_in(&bob, "jwt-2"), "within a minute");
    clock.advance(moat_service::sign_in::MIN_SECONDS_BETWEEN_REFRESHES);
    assert!(
        refresh.is_new_sign_in(&bob, "jwt-2"),
        "the token that came too soon starts one later"
    );
    assert!(!refresh.is_new_sign_in(&bob, "jwt-3"));
    clock.advance(moat_service::sign_in::MIN_SECONDS_BETWEEN_REFRESHES);
    assert!(refresh.is_new_sign_in(&bob, "jwt-3"));
    assert!(refresh.is_new_sign_in(&alice, "jwt-1"), "per person");
}

fn signed(secret: &[u8], body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn webhooks_revoke_at_once_and_refuse_forgeries_and_replays() {
    let world = world().await;
    let sync = Arc::new(HostSync::new(world.store.clone(), Arc::new(SystemClock)));
    sync.sync_all(&world.repos).await;
    assert!(decide(&world, "alice@example.com", "payments").await.allow);
    let webhooks = Webhooks {
        store: world.store.clone(),
        clock: Arc::new(SystemClock),
        sync: sync.clone(),
        repos: world.repos.clone(),
        github_secret: Some(b"webhook-secret".to_vec()),
        gitlab_token: Some("gitlab-hook-token".into()),
    };
    let removed = br#"{"action":"removed","member":{"login":"alice"},"repository":{"full_name":"acme/payments"}}"#;

    let forged = webhooks
        .github(
            "member",
            Some("d-1"),
            Some(&signed(b"wrong-secret", removed)),
            removed,
        )
        .await;
    assert!(matches!(forged, Err(WebhookError::Forged)));
    assert!(matches!(
        webhooks.github("member", Some("d-1"), None, removed).await,
        Err(WebhookError::Forged)
    ));
    assert!(
        decide(&world, "alice@example.com", "payments").await.allow,
        "nothing changed"
    );

    let signature = signed(b"webhook-secret", removed);
    let outcome = webhooks
        .github("member", Some("d-1"), Some(&signature), removed)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        WebhookOutcome::Applied(vec![("payments".into(), "alice".into(), None)])
    );
    assert!(
        !decide(&world, "alice@example.com", "payments").await.allow,
        "revoked as the event arrives"
    );

    // The same delivery id again is a replay: acknowledged, not applied.
    let added = br#"{"action":"added","member":{"login":"alice"},"repository":{"full_name":"acme/payments"}}"#;
    let replay = webhooks
        .github(
            "member",
            Some("d-1"),
            Some(&signed(b"webhook-secret", added)),
            added,
        )
        .await
        .unwrap();
    assert_eq!(replay, WebhookOutcome::Duplicate);
    assert!(!decide(&world, "alice@example.com", "payments").await.allow);

    // GitLab: the shared token, then a removal from the project.
    let body = br#"{"event_name":"user_remove_from_team","user_username":"carol","project_path_with_namespace":"group/ledger","access_level":"Developer"}"#;
    assert!(matches!(
        webhooks.gitlab(Some("u-1"), Some("nope"), body).await,
        Err(WebhookError::Forged)
    ));
    assert!(decide(&world, "carol@example.com", "ledger").await.allow);
    let outcome = webhooks
        .gitlab(Some("u-1"), Some("gitlab-hook-token"), body)
        .await
        .unwrap();
    assert!(matches!(outcome, WebhookOutcome::Applied(_)));
    assert!(!decide(&world, "carol@example.com", "ledger").await.allow);
    assert_eq!(
        webhooks
            .gitlab(Some("u-1"), Some("gitlab-hook-token"), body)
            .await
            .unwrap(),
        WebhookOutcome::Duplicate
    );

    // Leaving the organisation (GitHub) or being blocked (GitLab) removes the person
    // from every repository of that host in one step.
    assert!(decide(&world, "bob@example.com", "payments").await.allow);
    world
        .hosts
        .github_readers
        .lock()
        .unwrap()
        .retain(|login| login != "bobby-gh");
    let left = br#"{"action":"member_removed","membership":{"user":{"login":"bobby-gh"}}}"#;
    let outcome = webhooks
        .github(
            "organization",
            Some("d-3"),
            Some(&signed(b"webhook-secret", left)),
            left,
        )
        .await
        .unwrap();
    assert_eq!(
        outcome,
        WebhookOutcome::Applied(vec![("payments".into(), "bobby-gh".into(), None)])
    );
    assert!(!decide(&world, "bob@example.com", "payments").await.allow);
    assert!(decide(&world, "alice@example.com", "ledger").await.allow);
    let blocked = br#"{"event_name":"user_block","username":"alice"}"#;
    let outcome = webhooks
        .gitlab(Some("u-2"), Some("gitlab-hook-token"), blocked)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        WebhookOutcome::Applied(vec![("ledger".into(), "alice".into(), None)])
    );
    assert!(!decide(&world, "alice@example.com", "ledger").await.allow);
}
