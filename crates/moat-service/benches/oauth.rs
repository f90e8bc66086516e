//! The authorization server's figures (issue #18): code exchange and refresh latency
//! at 200 requests/s, and the request-path check of an OAuth access token beside a
//! Moat token's. Real SQLite store and audit log (durable group commit, signed
//! checkpoints) in a temp dir, 10,000 other tokens present.
//!
//! Open loop: a request is started every 5 ms whatever the previous ones do, and its
//! latency counts from when it was due, so a stall is not hidden by waiting for it.
//! `cargo bench -p moat-service --bench oauth` prints the table for bench/RESULTS.md.

use base64::Engine;
use moat_domain::{Role, Scope};
use moat_service::oauth::{AuthorizeRequest, OAuthServer, OAuthSettings, TokenGrant};
use moat_service::{
    AdminActor, AuditLog, AuditSettings, Identity, IdentitySettings, IssueToken, NewUser,
    SystemClock,
};
use moat_store::{SqliteStore, Store};
use sha2::Digest;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BASE: &str = "http://127.0.0.1:8480";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const RATE: u32 = 200;
const SECONDS: u32 = 15;

fn actor() -> AdminActor {
    AdminActor {
        client: "bench".into(),
        ..AdminActor::default()
    }
}

fn request(client: &str) -> AuthorizeRequest {
    AuthorizeRequest {
        response_type: Some("code".into()),
        client_id: Some(client.into()),
        redirect_uri: Some("http://127.0.0.1:5000/cb".into()),
        code_challenge: Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(VERIFIER.as_bytes())),
        ),
        code_challenge_method: Some("S256".into()),
        state: Some("s".into()),
        scope: None,
        resource: Some(format!("{BASE}/mcp")),
    }
}

/// A fresh authorization code for `user` (consent given), not timed.
async fn code(server: &OAuthServer, client: &str, user: &moat_domain::User) -> String {
    let consent = server.check_request(request(client), BASE).await.unwrap();
    let id = server.ask_consent(&consent, user).await.unwrap();
    let location = server
        .decide(&id, user, true, BASE, &actor())
        .await
        .unwrap();
    let query = location.split_once('?').unwrap().1;
    query
        .split('&')
        .find_map(|p| p.strip_prefix("code="))
        .unwrap()
        .to_string()
}

fn exchange(code: String) -> TokenGrant {
    TokenGrant {
        grant_type: Some("authorization_code".into()),
        code: Some(code),
        redirect_uri: Some("http://127.0.0.1:5000/cb".into()),
        code_verifier: Some(VERIFIER.into()),
        client_id: Some("bench".into()),
        resource: Some(format!("{BASE}/mcp")),
        ..TokenGrant::default()
    }
}

fn floor_event() -> moat_audit::event::EventBody {
    use moat_audit::event::{Actor, Decision, EventBody, Outcome, Resources};
    EventBody {
        actor: Actor {
            client: Some("bench".into()),
            ..Actor::default()
        },
        action: "oauth.token".into(),
        resources: Resources {
            objects: vec!["tok_floor".into()],
            ..Resources::default()
        },
        decision: Decision {
            outcome: Outcome::Allow,
            rule: Some("oauth:grant".into()),
            reason: None,
        },
        policy_version: "sha256:bench".into(),
        disclosed: Default::default(),
        redactions: Default::default(),
        egress: None,
        content_ref: None,
        details: serde_json::json!({"operation": "floor"}),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn report(name: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "| {name} | {} | {:.2} ms | {:.2} ms | {:.2} ms |",
        latencies.len(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
}

/// Runs `op(i)` every 1/RATE s for SECONDS, each in its own task; latencies from when due.
async fn paced<F, Fut>(op: F) -> Vec<Duration>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    let period = Duration::from_secs(1) / RATE;
    let mut tasks = Vec::new();
    for i in 0..(RATE * SECONDS) as usize {
        let due = start + period * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let work = op(i);
        tasks.push(tokio::spawn(async move {
            work.await;
            due.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        latencies.push(task.await.unwrap());
    }
    latencies
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
    let identity = Arc::new(Identity::new(
        store.clone(),
        clock.clone(),
        IdentitySettings::default(),
    ));
    let mut users = Vec::new();
    let mut moat_secret = String::new();
    for n in 0..100 {
        let user = identity
            .add_user(NewUser {
                email: format!("user{n}@example.com"),
                name: String::new(),
                roles: vec![Role::Developer],
                teams: vec![],
            })
            .await
            .unwrap();
        for _ in 0..100 {
            moat_secret = identity
                .issue_token(IssueToken {
                    user: user.email.clone(),
                    name: "bench".into(),
                    scopes: vec![Scope::Mcp],
                    ttl_seconds: None,
                })
                .await
                .unwrap()
                .secret;
        }
        users.push(user);
    }
    let audit = Arc::new(
        AuditLog::open(
            store.clone(),
            moat_audit::checkpoint::SigningKey::from_seed("bench", [7; 32]).unwrap(),
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
    let server = Arc::new(OAuthServer::new(
        store.clone(),
        clock,
        audit.clone(),
        OAuthSettings {
            clients: vec![moat_service::oauth::ConfiguredClient {
                id: "bench".into(),
                name: "Bench".into(),
                redirect_uris: vec!["http://127.0.0.1/cb".into()],
            }],
            ..OAuthSettings::default()
        },
        "sha256:bench".into(),
    ));

    // The request-path check: an OAuth access token against a Moat token.
    let oauth_secret = server
        .exchange(
            exchange(code(&server, "bench", &users[0]).await),
            BASE,
            &actor(),
        )
        .await
        .unwrap()
        .access_token;
    let mut rounds = Vec::new();
    for _ in 0..5 {
        for (name, secret) in [
            ("moat token", &moat_secret),
            ("oauth access token", &oauth_secret),
        ] {
            let n = 100_000;
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(identity.authenticate(secret, Scope::Mcp).await.unwrap());
            }
            rounds.push((name, start.elapsed() / n));
        }
    }
    println!("| check | median of 5 rounds × 100,000 |");
    println!("|---|---|");
    for name in ["moat token", "oauth access token"] {
        let mut times: Vec<Duration> = rounds.iter().filter(|r| r.0 == name).map(|r| r.1).collect();
        times.sort();
        println!("| {name} | {:.2} µs |", times[2].as_secs_f64() * 1e6);
    }

    println!();
    println!("| {RATE}/s for {SECONDS} s, open loop | requests | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    // The floor under both: one durable audit event, and one durable SQLite write
    // transaction, alone at the same rate (an exchange or refresh needs at least one of each).
    let latencies = paced(|_| {
        let audit = audit.clone();
        async move {
            audit.record(floor_event()).await.unwrap();
        }
    })
    .await;
    report("floor: one durable audit event", latencies);
    let latencies = paced(|i| {
        let store = store.clone();
        async move {
            store
                .oauth_client_put(&moat_store::OAuthClientRow {
                    id: format!("floor-{i}"),
                    source: "bench".into(),
                    metadata: "{}".into(),
                    created_at: moat_domain::UnixTime(0),
                })
                .await
                .unwrap();
        }
    })
    .await;
    report("floor: one durable SQLite write transaction", latencies);

    // Code exchange: the codes are made (consent given) before the run, untimed; they
    // live a minute, longer than making them and the run take.
    let mut codes = Vec::new();
    for i in 0..(RATE * SECONDS) as usize {
        codes.push(code(&server, "bench", &users[i % users.len()]).await);
    }
    let codes = Arc::new(std::sync::Mutex::new(codes));
    let latencies = paced(|i| {
        let server = server.clone();
        let code = codes.lock().unwrap()[i].clone();
        async move {
            server
                .exchange(exchange(code), BASE, &actor())
                .await
                .unwrap();
        }
    })
    .await;
    report("authorization code exchange", latencies);

    // Refresh: one grant per request slot, each refreshed with its latest token.
    let mut refresh_tokens = Vec::new();
    for i in 0..(RATE * SECONDS) as usize {
        let grant = exchange(code(&server, "bench", &users[i % users.len()]).await);
        refresh_tokens.push(
            server
                .exchange(grant, BASE, &actor())
                .await
                .unwrap()
                .refresh_token,
        );
    }
    let refresh_tokens = Arc::new(refresh_tokens);
    let latencies = paced(|i| {
        let server = server.clone();
        let token = refresh_tokens[i].clone();
        async move {
            let grant = TokenGrant {
                grant_type: Some("refresh_token".into()),
                refresh_token: Some(token),
                client_id: Some("bench".into()),
                ..TokenGrant::default()
            };
            server.exchange(grant, BASE, &actor()).await.unwrap();
        }
    })
    .await;
    report("refresh (rotation)", latencies);
    audit.close().await.unwrap();
}
