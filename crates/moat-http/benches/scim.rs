//! SCIM figures (issue #18): a `PATCH` of a 10,000-member group through the whole
//! router (JSON decoding, the admin record, the store transaction that moves every
//! member's team names), and deprovision-to-refusal: from the start of Okta's
//! deactivation `PATCH` to the person's next request being refused.
//!
//! Real SQLite store and audit log (durable commits, signed checkpoints) in a temp
//! dir, 10,000 people. `cargo bench -p moat-http --bench scim` prints the table for
//! bench/RESULTS.md.

use axum::body::Body;
use axum::http::Request;
use moat_domain::{ExternalIds, Role, Scope, UnixTime, User, UserId, UserStatus};
use moat_http::scim::ScimEndpoint;
use moat_http::{AppState, HttpSettings};
use moat_service::scim::{Scim, ScimToken};
use moat_service::{AuthError, Identity, IdentitySettings, IssueToken, SystemClock};
use moat_store::{ScimUser, SqliteStore, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const PEOPLE: usize = 10_000;
const TOKEN: &str = "bench-scim-token-0123456789abcdef0123";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn row(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "| {what} | {} | {:.1} | {:.1} | {:.1} |",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
    );
}

async fn call(app: &axum::Router, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/scim+json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn ops(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let clock = Arc::new(SystemClock);
    let identity = Arc::new(Identity::new(
        store.clone(),
        clock.clone(),
        IdentitySettings::default(),
    ));
    let audit = Arc::new(
        moat_service::AuditLog::open(
            store.clone(),
            moat_audit::checkpoint::SigningKey::from_seed("bench", [1; 32]).unwrap(),
            moat_service::AuditSettings {
                origin: "bench/moat".into(),
                max_batch: 1024,
            },
            vec![],
            clock.clone(),
        )
        .await
        .unwrap(),
    );
    let started = Instant::now();
    let mut ids = Vec::with_capacity(PEOPLE);
    for n in 0..PEOPLE {
        let id = UserId(format!("usr_{n:016x}"));
        let email = format!("person{n}@example.com");
        store
            .scim_user_insert(&ScimUser {
                user: User {
                    id: id.clone(),
                    email: email.clone(),
                    name: format!("Person {n}"),
                    status: UserStatus::Active,
                    roles: vec![Role::Developer],
                    teams: vec![],
                    external: ExternalIds::default(),
                    training: None,
                    created_at: UnixTime::now(),
                },
                user_name: email.clone(),
                attributes: json!({"emails": [{"value": email, "primary": true}]}),
                version: 1,
                updated_at: UnixTime::now(),
            })
            .await
            .unwrap();
        ids.push(id);
    }
    eprintln!(
        "{PEOPLE} people stored in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let scim = Scim::new(
        store.clone(),
        identity.clone(),
        audit.clone(),
        clock,
        "bench".into(),
    );
    let endpoint = ScimEndpoint {
        service: Arc::new(scim),
        token: ScimToken::new(TOKEN),
    };
    let settings = HttpSettings {
        public_url: None,
        oidc_issuer: None,
        mcp_allowed_hosts: vec!["127.0.0.1".into()],
        mcp_allowed_origins: vec![],
        mcp_session_idle: Duration::from_secs(60),
        max_body_bytes: 2 * 1024 * 1024,
        request_timeout: Duration::from_secs(60),
        policy_version: "bench".into(),
    };
    let app = moat_http::router(
        AppState::new(
            identity.clone(),
            // One log per store: a second writer would fight the first.
            audit,
            settings,
        )
        .with_scim(Arc::new(endpoint)),
    );

    let (status, group) = call(
        &app,
        "POST",
        "/scim/v2/Groups",
        Some(json!({"displayName": "everyone"})),
    )
    .await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_string();
    let path = format!("/scim/v2/Groups/{gid}");
    let all_members: Vec<Value> = ids.iter().map(|id| json!({"value": id.0})).collect();

    println!("| operation ({PEOPLE} people) | runs | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    // 10,000 members added in one PATCH, then removed in one, alternately.
    let mut add_all = Vec::new();
    let mut remove_all = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (status, _) = call(
            &app,
            "PATCH",
            &path,
            Some(ops(
                json!([{"op": "add", "path": "members", "value": all_members}]),
            )),
        )
        .await;
        add_all.push(t.elapsed());
        assert_eq!(status, 200);
        let t = Instant::now();
        let (status, _) = call(
            &app,
            "PATCH",
            &path,
            Some(ops(json!([{"op": "remove", "path": "members"}]))),
        )
        .await;
        remove_all.push(t.elapsed());
        assert_eq!(status, 200);
    }
    let (status, _) = call(
        &app,
        "PATCH",
        &path,
        Some(ops(
            json!([{"op": "add", "path": "members", "value": all_members[..PEOPLE - 100]}]),
        )),
    )
    .await;
    assert_eq!(status, 200);
    row("PATCH add 10,000 members to an empty group", add_all);
    row("PATCH remove all 10,000 members", remove_all);
    // One member in, one out, on a group of ~10,000 (what an IdP sends day to day).
    let mut one_in = Vec::new();
    let mut one_out = Vec::new();
    for id in &ids[PEOPLE - 100..PEOPLE - 50] {
        let t = Instant::now();
        let (status, _) = call(
            &app,
            "PATCH",
            &path,
            Some(ops(
                json!([{"op": "add", "path": "members", "value": [{"value": id.0}]}]),
            )),
        )
        .await;
        one_in.push(t.elapsed());
        assert_eq!(status, 200);
        let t = Instant::now();
        let (status, _) = call(
            &app,
            "PATCH",
            &path,
            Some(ops(
                json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", id.0)}]),
            )),
        )
        .await;
        one_out.push(t.elapsed());
        assert_eq!(status, 200);
    }
    row("PATCH add one member to a 9,900-member group", one_in);
    row(
        "PATCH remove one member by filter from a 9,901-member group",
        one_out,
    );

    // Deprovision-to-refusal: Okta's deactivation, then the person's next request.
    let mut to_refusal = Vec::new();
    for id in &ids[..50] {
        let secret = identity
            .issue_token(IssueToken {
                user: id.0.clone(),
                name: "laptop".into(),
                scopes: vec![Scope::Mcp],
                ttl_seconds: None,
            })
            .await
            .unwrap()
            .secret;
        identity.authenticate(&secret, Scope::Mcp).await.unwrap();
        let t = Instant::now();
        let (status, _) = call(
            &app,
            "PATCH",
            &format!("/scim/v2/Users/{}", id.0),
            Some(ops(json!([{"op": "replace", "value": {"active": false}}]))),
        )
        .await;
        let refused = identity.authenticate(&secret, Scope::Mcp).await;
        to_refusal.push(t.elapsed());
        assert_eq!(status, 200);
        assert!(matches!(
            refused.unwrap_err(),
            AuthError::UserInactive(UserStatus::Suspended, _)
        ));
    }
    row(
        "deactivation PATCH to the next request refused (member of the 9,900 group)",
        to_refusal,
    );
    let mut delete_to_refusal = Vec::new();
    for id in &ids[50..100] {
        let secret = identity
            .issue_token(IssueToken {
                user: id.0.clone(),
                name: "laptop".into(),
                scopes: vec![Scope::Mcp],
                ttl_seconds: None,
            })
            .await
            .unwrap()
            .secret;
        let t = Instant::now();
        let (status, _) = call(&app, "DELETE", &format!("/scim/v2/Users/{}", id.0), None).await;
        let refused = identity.authenticate(&secret, Scope::Mcp).await;
        delete_to_refusal.push(t.elapsed());
        assert_eq!(status, 204);
        assert!(matches!(refused.unwrap_err(), AuthError::Revoked(_)));
    }
    row(
        "DELETE (deprovision) to the next request refused",
        delete_to_refusal,
    );
}
