//! A whole authenticated request through the router, every layer included (limits,
//! metrics, auth with its SQLite lookup, the handler, JSON encoding), without a socket.
//! Complements `moat-service`'s `token_check`, which times the check alone.

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use moat_domain::{Role, Scope};
use moat_http::{AppState, HttpSettings};
use moat_service::{Identity, IdentitySettings, IssueToken, NewUser, SystemClock};
use moat_store::SqliteStore;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

fn authenticated_request(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn moat_store::Store> =
        Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let identity = Arc::new(Identity::new(
        store.clone(),
        Arc::new(SystemClock),
        IdentitySettings::default(),
    ));
    let audit = runtime.block_on(async {
        let settings = moat_service::AuditSettings {
            origin: "bench/moat".into(),
            max_batch: 256,
        };
        let key = moat_audit::checkpoint::SigningKey::from_seed("bench", [1; 32]).unwrap();
        let log = moat_service::AuditLog::open(store, key, settings, vec![], Arc::new(SystemClock));
        Arc::new(log.await.unwrap())
    });
    let secret = runtime.block_on(async {
        identity
            .add_user(NewUser {
                email: "dev@example.com".into(),
                name: String::new(),
                roles: vec![Role::Developer],
                teams: vec![],
            })
            .await
            .unwrap();
        identity
            .issue_token(IssueToken {
                user: "dev@example.com".into(),
                name: "bench".into(),
                scopes: vec![Scope::Mcp],
                ttl_seconds: None,
            })
            .await
            .unwrap()
            .secret
    });
    let settings = HttpSettings {
        public_url: None,
        oidc_issuer: None,
        mcp_allowed_hosts: vec!["127.0.0.1".into(), "localhost".into()],
        mcp_allowed_origins: vec![],
        mcp_session_idle: std::time::Duration::from_secs(60),
        max_body_bytes: 1 << 20,
        request_timeout: Duration::from_secs(30),
        policy_version: "bench".into(),
    };
    let app = moat_http::router(AppState::new(identity, audit, settings));
    let authorization = format!("Bearer {secret}");

    c.bench_function("GET /api/v1/whoami (router, auth + sqlite lookup)", |b| {
        b.iter(|| {
            let request = Request::get("/api/v1/whoami")
                .header("authorization", &authorization)
                .body(Body::empty())
                .unwrap();
            let response = runtime.block_on(app.clone().oneshot(request)).unwrap();
            assert_eq!(response.status(), 200);
        })
    });
}

criterion_group!(benches, authenticated_request);
criterion_main!(benches);
