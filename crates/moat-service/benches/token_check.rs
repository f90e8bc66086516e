//! The token check on the request path, store lookup included (issue #2 target: under
//! 20 µs per authenticated request). Runs against the real SQLite store in a temp dir,
//! with 10,000 other tokens present so the lookup is an index probe, not a scan.

use criterion::{Criterion, criterion_group, criterion_main};
use moat_domain::{Role, Scope};
use moat_service::{Identity, IdentitySettings, IssueToken, NewUser, SystemClock};
use moat_store::SqliteStore;
use std::hint::black_box;
use std::sync::Arc;

fn token_check(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let identity = Identity::new(store, Arc::new(SystemClock), IdentitySettings::default());

    let secret = runtime.block_on(async {
        let mut last = String::new();
        for user in 0..100 {
            let email = format!("user{user}@example.com");
            identity
                .add_user(NewUser {
                    email: email.clone(),
                    name: String::new(),
                    roles: vec![Role::Developer],
                    teams: vec![],
                })
                .await
                .unwrap();
            for _ in 0..100 {
                last = identity
                    .issue_token(IssueToken {
                        user: email.clone(),
                        name: "bench".into(),
                        scopes: vec![Scope::Mcp, Scope::Gateway],
                        ttl_seconds: None,
                    })
                    .await
                    .unwrap()
                    .secret;
            }
        }
        last
    });

    c.bench_function("authenticate (valid token, sqlite, 10k tokens)", |b| {
        b.iter(|| {
            runtime
                .block_on(identity.authenticate(black_box(&secret), Scope::Mcp))
                .unwrap()
        })
    });

    let unknown = format!("moat_{}", "ab".repeat(32));
    c.bench_function("authenticate (unknown token, sqlite)", |b| {
        b.iter(|| {
            runtime
                .block_on(identity.authenticate(black_box(&unknown), Scope::Mcp))
                .unwrap_err()
        })
    });
}

criterion_group!(benches, token_check);
criterion_main!(benches);
