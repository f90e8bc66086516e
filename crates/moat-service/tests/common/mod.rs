//! Local stand-ins for the GitHub and GitLab APIs and a world of people, repositories
//! and services over them, shared by the permission-mirror tests. No machine here can
//! reach github.com or a GitLab server, so these small servers speak the documented
//! wire formats instead: `Link` pagination and `ETag`/304 and `X-RateLimit-*` headers
//! (GitHub), `X-Next-Page` pagination (GitLab), 404 for a repository the token cannot
//! see, the per-person permission endpoints.
#![allow(dead_code)]

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hmac::Mac;
use moat_domain::{Disclosure, Role, Tier, UnixTime};
use moat_policy::{Action, OrgRepo, PermissionSource};
use moat_service::host_sync::{HostKind, HostRepo};
use moat_service::mirror::MirrorWriter;
use moat_service::{
    Access, AccessSettings, AuditLog, AuditSettings, Identity, IdentitySettings, NewUser,
    SystemClock, TrainingRule,
};
use moat_store::{SqliteStore, Store};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Hosts {
    pub requests: AtomicUsize,
    pub rate_limited_once: AtomicUsize,
    pub auth_headers: Mutex<Vec<String>>,
    pub github_readers: Mutex<Vec<String>>,
    /// GitLab usernames the project no longer lists.
    pub gitlab_removed: Mutex<Vec<String>>,
    /// Per-person requests (sign-in refreshes), as `host:login`.
    pub person_requests: Mutex<Vec<String>>,
    /// The per-person permission endpoints answer 502 while set.
    pub permission_down: std::sync::atomic::AtomicBool,
    /// The organisation's SAML external identities: (GitHub login if linked, NameID).
    /// `None` for an organisation without SAML single sign-on.
    pub saml: Mutex<Option<Vec<SamlIdentity>>>,
}

/// An external identity: the GitHub login it is linked to (if any) and its NameID.
pub type SamlIdentity = (Option<String>, String);

/// `POST /graphql` with GitHub's `externalIdentities` query: the documented shape
/// (`data.organization.samlIdentityProvider.externalIdentities` with `pageInfo` and
/// `nodes`), two identities a page so the cursor is followed.
async fn github_graphql(
    State(hosts): State<Arc<Hosts>>,
    headers: HeaderMap,
    axum::Json(request): axum::Json<serde_json::Value>,
) -> Response {
    if headers.get("authorization").is_none() {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"message":"Requires authentication"}"#,
        )
            .into_response();
    }
    let query = request["query"].as_str().unwrap_or_default();
    if !query.contains("externalIdentities") || request["variables"]["org"] != "acme" {
        return axum::Json(serde_json::json!({
            "data": {"organization": null},
            "errors": [{"type": "NOT_FOUND", "message": "Could not resolve to an Organization"}]
        }))
        .into_response();
    }
    let Some(identities) = hosts.saml.lock().unwrap().clone() else {
        return axum::Json(serde_json::json!({
            "data": {"organization": {"samlIdentityProvider": null}}
        }))
        .into_response();
    };
    let start: usize = request["variables"]["after"]
        .as_str()
        .and_then(|c| c.strip_prefix("cursor-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let end = (start + 2).min(identities.len());
    let nodes: Vec<serde_json::Value> = identities[start..end]
        .iter()
        .map(|(login, name_id)| {
            serde_json::json!({
                "samlIdentity": {"nameId": name_id, "emails": []},
                "user": login.as_ref().map(|l| serde_json::json!({"login": l})),
            })
        })
        .collect();
    axum::Json(serde_json::json!({
        "data": {"organization": {"samlIdentityProvider": {"externalIdentities": {
            "pageInfo": {"hasNextPage": end < identities.len(), "endCursor": format!("cursor-{end}")},
            "nodes": nodes,
        }}}}
    }))
    .into_response()
}

/// GitLab's fixed membership of `group/ledger`: (id, username, access level).
pub const LEDGER: [(i64, &str, i64); 3] =
    [(3, "carol", 30), (7, "guest-gary", 10), (1, "alice", 20)];

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
    if hosts.permission_down.load(Ordering::SeqCst) {
        return (StatusCode::BAD_GATEWAY, "upstream unavailable").into_response();
    }
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
    if hosts.permission_down.load(Ordering::SeqCst) {
        return (StatusCode::BAD_GATEWAY, "upstream unavailable").into_response();
    }
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

pub async fn start_hosts(hosts: Arc<Hosts>) -> String {
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
        .route("/graphql", axum::routing::post(github_graphql))
        .with_state(hosts);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

pub fn mirrored(name: &str, host: &str) -> OrgRepo {
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

pub struct World {
    pub store: Arc<dyn Store>,
    pub access: Arc<Access>,
    pub writer: Arc<MirrorWriter>,
    pub repos: Vec<HostRepo>,
    pub hosts: Arc<Hosts>,
    pub api_url: String,
    pub _dir: tempfile::TempDir,
}

pub async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    world_on(store, dir).await
}

/// The same world over `store` (PostgreSQL, for several nodes).
pub async fn world_on(store: Arc<dyn Store>, dir: tempfile::TempDir) -> World {
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
        logins: HashMap::from([
            (
                "github".to_string(),
                HashMap::from([
                    ("alice".to_string(), "alice@example.com".to_string()),
                    ("bobby-gh".to_string(), "bob@example.com".to_string()),
                ]),
            ),
            (
                "gitlab".to_string(),
                HashMap::from([
                    ("carol".to_string(), "carol@example.com".to_string()),
                    ("alice".to_string(), "alice@example.com".to_string()),
                ]),
            ),
        ]),
    };
    let access = Arc::new(Access::new(identity, store.clone(), settings));
    let writer = mirror_writer(store.clone()).await;
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
        writer,
        api_url: url.clone(),
        repos: vec![
            repo("payments", HostKind::Github, "acme/payments"),
            repo("hidden", HostKind::Github, "acme/hidden"),
            repo("ledger", HostKind::Gitlab, "group/ledger"),
        ],
        hosts,
        _dir: dir,
    }
}

pub async fn decide(world: &World, email: &str, repo: &str) -> moat_policy::Decision {
    world
        .access
        .authorizer()
        .await
        .unwrap()
        .decide(email, Action::QueryContext, repo)
}

pub fn signed(secret: &[u8], body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A mirror writer over `store`, recording to an audit log of its own.
pub async fn mirror_writer(store: Arc<dyn Store>) -> Arc<MirrorWriter> {
    let audit = AuditLog::open(
        store.clone(),
        moat_audit::checkpoint::SigningKey::from_seed("moat-test", [3; 32]).unwrap(),
        AuditSettings {
            origin: "test/moat".into(),
            max_batch: 1024,
        },
        vec![],
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    Arc::new(MirrorWriter::new(
        store,
        Arc::new(audit),
        "sha256:test".into(),
    ))
}

/// The events with `action` recorded so far in `store`.
async fn events_of(store: &dyn Store, action: &str) -> Vec<moat_audit::event::Event> {
    moat_service::audit::read::events(store, 0, 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.body.action == action)
        .collect()
}

/// The `access.mirror` events recorded so far, as their details.
pub async fn mirror_events(world: &World) -> Vec<serde_json::Value> {
    events_of(world.store.as_ref(), "access.mirror")
        .await
        .into_iter()
        .map(|e| {
            let mut details = e.body.details;
            details["outcome"] = serde_json::json!(e.body.decision.outcome);
            details
        })
        .collect()
}

/// `access.link` events: (login, user before, user after).
pub async fn link_events(store: &dyn Store) -> Vec<(String, Option<String>, Option<String>)> {
    events_of(store, "access.link")
        .await
        .into_iter()
        .map(|e| {
            let d = e.body.details;
            let user = |v: &serde_json::Value| v.as_str().map(str::to_string);
            (
                d["login"].as_str().unwrap().to_string(),
                user(&d["before"]),
                user(&d["after"]),
            )
        })
        .collect()
}

/// The webhook receiver over `world`, with a sync that uses the same writer.
pub fn webhooks(world: &World) -> moat_service::webhooks::Webhooks {
    let sync = Arc::new(moat_service::host_sync::HostSync::new(
        world.writer.clone(),
        Arc::new(SystemClock),
    ));
    moat_service::webhooks::Webhooks {
        writer: world.writer.clone(),
        clock: Arc::new(SystemClock),
        sync,
        repos: world.repos.clone(),
        github_secret: Some(b"webhook-secret".to_vec()),
        gitlab_token: Some("gitlab-hook-token".into()),
    }
}
