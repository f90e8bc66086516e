//! The real server on port 0, driven over HTTP with reqwest: authentication, scopes,
//! suspension, rotation grace, limits and error shapes.

use moat_audit::checkpoint::SigningKey;
use moat_domain::{Role, Scope, UnixTime};
use moat_http::{AppState, HttpSettings};
use moat_service::{
    AuditLog, AuditSettings, FixedClock, Identity, IdentitySettings, IssueToken, NewUser,
};
use moat_store::SqliteStore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

struct Server {
    base: String,
    clock: Arc<FixedClock>,
    identity: Arc<Identity>,
    store: Arc<dyn moat_store::Store>,
    admin: String,
    developer: String,
    http: reqwest::Client,
    refusals: Arc<moat_service::audit::refusals::Refusals>,
    _dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn start_with(max_body_bytes: usize, request_timeout: Duration) -> Server {
    start_with_policies(max_body_bytes, request_timeout, None).await
}

/// The server with the organisation's own Cedar policies.
async fn start_with_policies(
    max_body_bytes: usize,
    request_timeout: Duration,
    policies: Option<&str>,
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn moat_store::Store> =
        Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let clock = Arc::new(FixedClock::at(UnixTime(1_800_000_000)));
    let identity = Arc::new(Identity::new(
        store.clone(),
        clock.clone(),
        IdentitySettings::default(),
    ));
    let audit = Arc::new(
        AuditLog::open(
            store.clone(),
            SigningKey::from_seed("moat-test", [1; 32]).unwrap(),
            AuditSettings {
                origin: "test/moat".into(),
                max_batch: 256,
            },
            vec![],
            clock.clone(),
        )
        .await
        .unwrap(),
    );
    let admin = add_with_token(&identity, "admin@example.com", Role::Admin, &[Scope::Admin]).await;
    let developer = add_with_token(
        &identity,
        "dev@example.com",
        Role::Developer,
        &[Scope::Mcp, Scope::Gateway],
    )
    .await;

    let settings = HttpSettings {
        public_url: None,
        oidc_issuer: None,
        mcp_allowed_hosts: vec!["127.0.0.1".into(), "localhost".into()],
        mcp_allowed_origins: vec![],
        mcp_session_idle: std::time::Duration::from_secs(60),
        max_body_bytes,
        request_timeout,
        policy_version: "sha256:test".into(),
    };
    let access = moat_service::Access::new(
        identity.clone(),
        store.clone(),
        moat_service::AccessSettings {
            repos: vec![moat_policy::OrgRepo {
                name: "payments".into(),
                tier: moat_domain::Tier::Confidential,
                disclosure: moat_domain::Disclosure::Signatures,
                tags: vec!["pci".into()],
                region: Some("us".into()),
                source: moat_policy::PermissionSource::Static,
                host_readers: vec![],
            }],
            grants: vec![moat_policy::OrgGrant {
                repos: vec!["payments".into()],
                teams: vec![],
                users: vec!["dev@example.com".into()],
            }],
            training: moat_service::TrainingRule {
                required: false,
                current_version: None,
                renewal_seconds: 0,
            },
            custom_policies: policies.map(str::to_string),
            max_staleness: Default::default(),
            logins: Default::default(),
        },
    );
    let signer = SigningKey::from_seed("moat-test", [1; 32]).unwrap();
    let refusals = Arc::new(moat_service::audit::refusals::Refusals::new(
        audit.clone(),
        clock.clone(),
        "sha256:test",
    ));
    let app = moat_http::router(
        AppState::new(identity.clone(), audit, settings)
            .with_access(Arc::new(access))
            .with_refusals(refusals.clone())
            .with_audit_reading(moat_http::AuditReading {
                store: store.clone(),
                keys: vec![signer.verifier()],
                witness_files: vec![],
            }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(moat_http::serve(listener, app, async {
        let _ = stopped.await;
    }));
    Server {
        base,
        clock,
        identity,
        store,
        admin,
        developer,
        http: reqwest::Client::new(),
        refusals,
        _dir: dir,
        _shutdown: shutdown,
    }
}

async fn start() -> Server {
    start_with(64 * 1024, Duration::from_secs(30)).await
}

async fn add_with_token(identity: &Identity, email: &str, role: Role, scopes: &[Scope]) -> String {
    identity
        .add_user(NewUser {
            email: email.into(),
            name: String::new(),
            roles: vec![role],
            teams: vec![],
        })
        .await
        .unwrap();
    identity
        .issue_token(IssueToken {
            user: email.into(),
            name: "test".into(),
            scopes: scopes.to_vec(),
            ttl_seconds: None,
        })
        .await
        .unwrap()
        .secret
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            headers,
        )
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

#[tokio::test]
async fn health_and_metrics_need_no_token() {
    let server = start().await;
    let (status, body, _) = server.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["policy_version"], "sha256:test");

    server.get("/api/v1/users", Some(&server.admin)).await;
    let metrics = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"moat_http_requests_total{method="GET",route="/api/v1/users",status="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("moat_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    // The audit writer and the process report themselves.
    for family in [
        "moat_audit_queue_capacity 16384",
        "moat_audit_events_since_checkpoint 0",
        "moat_audit_sequencer_leader 1",
        "moat_audit_awaiting_sequencer 0",
        "moat_audit_commit_duration_seconds_count ",
        "moat_process_resident_memory_bytes ",
        "moat_process_open_fds ",
    ] {
        assert!(metrics.contains(family), "{family} in {metrics}");
    }
    // Prometheus text by default: a counter's HELP and TYPE name its samples, no EOF
    // (`promtool check metrics` reads it in .ci/run); OpenMetrics when asked for.
    assert!(
        metrics.contains("# HELP moat_http_requests_total ")
            && metrics.contains("# TYPE moat_http_requests_total counter")
            && !metrics.contains("# EOF"),
        "{metrics}"
    );
    let openmetrics = server
        .http
        .get(server.url("/metrics"))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(
        openmetrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let openmetrics = openmetrics.text().await.unwrap();
    assert!(
        openmetrics.contains("# TYPE moat_http_requests counter")
            && openmetrics.ends_with("# EOF\n"),
        "{openmetrics}"
    );
}

#[tokio::test]
async fn no_token_gets_401_with_a_challenge() {
    let server = start().await;
    let (status, body, headers) = server.get("/api/v1/users", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "unauthorized");
    let challenge = headers
        .get("www-authenticate")
        .expect("WWW-Authenticate")
        .to_str()
        .unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");

    let (status, body, headers) = server.get("/api/v1/users", Some("moat_not-a-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "invalid_token");
    assert!(
        headers
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn x_api_key_is_accepted_like_bearer() {
    let server = start().await;
    let response = server
        .http
        .get(server.url("/api/v1/whoami"))
        .header("x-api-key", &server.developer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], "dev@example.com");
    assert_eq!(body["scopes"], json!(["mcp", "gateway"]));
}

#[tokio::test]
async fn a_token_without_the_admin_scope_gets_403() {
    let server = start().await;
    let (status, body, headers) = server.get("/api/v1/users", Some(&server.developer)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "insufficient_scope");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`admin` scope")
    );
    assert!(
        headers
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .contains(r#"scope="admin""#)
    );
}

#[tokio::test]
async fn a_suspended_users_token_is_refused_at_once() {
    let server = start().await;
    let (status, _, _) = server.get("/api/v1/whoami", Some(&server.developer)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, user) = server
        .post(
            "/api/v1/users/dev@example.com/suspend",
            &server.admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["status"], "suspended");
    let (status, body, _) = server.get("/api/v1/whoami", Some(&server.developer)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("suspended"),
        "{body}"
    );
}

#[tokio::test]
async fn an_admin_cannot_lock_themselves_out() {
    let server = start().await;
    for (by, operation) in [
        ("admin@example.com", "suspend"),
        ("admin@example.com", "deprovision"),
    ] {
        let (status, body) = server
            .post(
                &format!("/api/v1/users/{by}/{operation}"),
                &server.admin,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{operation}: {body}");
        assert_eq!(body["error"]["code"], "conflict");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("another admin must"),
            "{body}"
        );
    }
    // Named by id rather than email: the same person, the same refusal.
    let (_, me, _) = server.get("/api/v1/whoami", Some(&server.admin)).await;
    let id = me["user"]["id"].as_str().unwrap().to_string();
    let (status, _) = server
        .post(
            &format!("/api/v1/users/{id}/suspend"),
            &server.admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _, _) = server.get("/api/v1/whoami", Some(&server.admin)).await;
    assert_eq!(status, StatusCode::OK, "still an admin, still able to act");
    // Another person is suspended as before.
    let (status, _) = server
        .post(
            "/api/v1/users/dev@example.com/suspend",
            &server.admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_deprovisioned_users_tokens_are_revoked() {
    let server = start().await;
    let (status, _) = server
        .post(
            "/api/v1/users/dev@example.com/deprovision",
            &server.admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, _) = server.get("/api/v1/whoami", Some(&server.developer)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );
}

#[tokio::test]
async fn a_rotated_token_is_honoured_only_within_its_grace_period() {
    let server = start().await;
    let (_, tokens, _) = server
        .get("/api/v1/tokens?user=dev@example.com", Some(&server.admin))
        .await;
    let old_id = tokens["tokens"][0]["id"].as_str().unwrap().to_string();
    let (status, rotated) = server
        .post(
            &format!("/api/v1/tokens/{old_id}/rotate"),
            &server.admin,
            json!({"grace_seconds": 300}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_string();

    server.clock.advance(299);
    assert_eq!(
        server
            .get("/api/v1/whoami", Some(&server.developer))
            .await
            .0,
        StatusCode::OK
    );
    server.clock.advance(1);
    let (status, body, _) = server.get("/api/v1/whoami", Some(&server.developer)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rotated"),
        "{body}"
    );
    assert_eq!(
        server.get("/api/v1/whoami", Some(&new_secret)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_rotation_body_is_refused_as_every_body_is() {
    let server = start().await;
    let (_, tokens, _) = server
        .get("/api/v1/tokens?user=dev@example.com", Some(&server.admin))
        .await;
    let id = tokens["tokens"][0]["id"].as_str().unwrap().to_string();
    let url = server.url(&format!("/api/v1/tokens/{id}/rotate"));
    let send = |content_type: &'static str, body: &'static str| {
        let request = server
            .http
            .post(url.clone())
            .bearer_auth(&server.admin)
            .header("content-type", content_type)
            .body(body);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(
        send("text/plain", r#"{"grace_seconds": 60}"#).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(send("application/json", "{").await, StatusCode::BAD_REQUEST);
    for shape in [
        r#"{"grace_seconds": "60"}"#,
        r#"{"grace_seconds": 1.5}"#,
        r#"{"grace_seconds": 1e300}"#,
        r#"{"grace": 60}"#,
        "[]",
        "[60]",
        "null",
    ] {
        assert_eq!(
            send("application/json", shape).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{shape}"
        );
    }
    // JSON Schema's integer: 60.0 is 60.
    assert_eq!(
        send("application/json", r#"{"grace_seconds": 60.0}"#).await,
        StatusCode::OK
    );
    // A struct serde would read from an array of its fields is still not an object.
    let (status, body) = server
        .post(
            "/api/v1/users",
            &server.admin,
            json!(["array@example.com", "", ["admin"], []]),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, users, _) = server.get("/api/v1/users", Some(&server.admin)).await;
    assert!(!users.to_string().contains("array@example.com"), "{users}");
    // The old token is rotated now: rotating it again conflicts, as does a revoked one.
    assert_eq!(
        send("application/json", r#"{"grace_seconds": 60}"#).await,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn an_oversized_body_gets_413_as_json() {
    let server = start_with(1024, Duration::from_secs(30)).await;
    let big = json!({"email": "x".repeat(4096) + "@example.com", "roles": ["developer"]});
    let (status, body) = server.post("/api/v1/users", &server.admin, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&body), "payload_too_large");

    // Without a Content-Length (chunked), the limit still holds while reading.
    let response = raw_chunked_post(&server, "/api/v1/users", &[&[b' '; 800], &[b' '; 800]]).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("payload_too_large"), "{response}");
}

/// Sends a chunked POST over a plain socket (no Content-Length) and returns the raw reply.
async fn raw_chunked_post(server: &Server, path: &str, chunks: &[&[u8]]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = server.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.admin
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    for chunk in chunks {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if socket.write_all(&framed).await.is_err() {
            break; // the server may answer and close before the whole body is sent
        }
    }
    let _ = socket.write_all(b"0\r\n\r\n").await;
    let mut reply = Vec::new();
    let _ = socket.read_to_end(&mut reply).await;
    String::from_utf8_lossy(&reply).into_owned()
}

#[tokio::test]
async fn unknown_routes_and_bad_requests_answer_in_the_error_shape() {
    let server = start().await;
    let (status, body, _) = server.get("/no/such/path", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not_found");

    let response = server
        .http
        .delete(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "method_not_allowed");

    let response = server
        .http
        .post(server.url("/api/v1/users"))
        .bearer_auth(&server.admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "bad_request");

    let (status, body) = server
        .post(
            "/api/v1/users",
            &server.admin,
            json!({"email": "a@example.com", "roles": ["wizard"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wizard"),
        "{body}"
    );
}

#[tokio::test]
async fn admin_api_manages_users_and_tokens() {
    let server = start().await;
    let (status, user) = server
        .post(
            "/api/v1/users",
            &server.admin,
            json!({"email": "new@example.com", "roles": ["developer"], "teams": ["web"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["teams"], json!(["web"]));

    let (status, again) = server
        .post(
            "/api/v1/users",
            &server.admin,
            json!({"email": "new@example.com", "roles": ["developer"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&again), "conflict");

    let (status, issued) = server
        .post(
            "/api/v1/tokens",
            &server.admin,
            json!({"user": "new@example.com", "name": "ci", "scopes": ["mcp"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let secret = issued["secret"].as_str().unwrap();
    let id = issued["token"]["id"].as_str().unwrap();
    assert_eq!(
        server.get("/api/v1/whoami", Some(secret)).await.0,
        StatusCode::OK
    );

    let (_, listed, _) = server.get("/api/v1/tokens", Some(&server.admin)).await;
    let text = listed.to_string();
    assert!(
        text.contains(id) && !text.contains(secret),
        "listing shows ids, never secrets"
    );

    let (status, revoked) = server
        .post(
            &format!("/api/v1/tokens/{id}/revoke"),
            &server.admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(
        server.get("/api/v1/whoami", Some(secret)).await.0,
        StatusCode::UNAUTHORIZED
    );

    let (status, users, _) = server.get("/api/v1/users", Some(&server.admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(users["users"].as_array().unwrap().len(), 3);
    assert!(server.identity.find_user("new@example.com").await.is_ok());
}

#[tokio::test]
async fn openapi_describes_the_admin_api() {
    let server = start().await;
    let (status, doc, _) = server.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/users",
        "/api/v1/tokens",
        "/api/v1/tokens/{token}/rotate",
        "/api/v1/users/{user}/suspend",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    // Code generators need every operation named once (`openapi-spec-validator` in
    // .ci/run checks the whole document).
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "duplicate operationId among {ids:?}");
    assert!(ids.contains(&"revoke_grant") && ids.contains(&"list_users"));
}

#[tokio::test]
async fn a_request_that_outlasts_the_time_limit_gets_408_as_json() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start_with(64 * 1024, Duration::from_millis(300)).await;
    let address = server.base.trim_start_matches("http://").to_string();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    // Announce 100 bytes, send 10, then stall: the handler waits on the body.
    let head = format!(
        "POST /api/v1/users HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"email\": ",
        server.admin
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut reply = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut reply))
        .await
        .expect("the server answers on its own within the limit")
        .unwrap();
    let reply = String::from_utf8_lossy(&reply[..read]);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains(r#""code":"timeout""#), "{reply}");
}

#[tokio::test]
async fn admin_changes_through_the_api_are_recorded_with_before_and_after() {
    let server = start().await;
    let (status, _) = server
        .post(
            "/api/v1/users/dev@example.com/suspend",
            &server.admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let events = moat_service::audit::read::events(server.store.as_ref(), 0, 100)
        .await
        .unwrap();
    let event = events.last().expect("an event was recorded");
    let request = &events[events.len() - 2];
    assert_eq!(
        request.body.details["phase"], "requested",
        "the request is recorded first"
    );
    assert_eq!(request.body.details["operation"], "user.suspend");
    assert_eq!(event.body.details["phase"], "applied");
    assert_eq!(event.body.action, "admin.change");
    assert_eq!(event.body.details["operation"], "user.suspend");
    assert_eq!(event.body.details["before"]["status"], "active");
    assert_eq!(event.body.details["after"]["status"], "suspended");
    assert_eq!(event.body.actor.email.as_deref(), Some("admin@example.com"));
    assert_eq!(event.body.actor.client.as_deref(), Some("api"));
    assert_eq!(event.body.actor.address.as_deref(), Some("127.0.0.1"));
    assert!(
        event
            .body
            .actor
            .token_id
            .as_deref()
            .unwrap()
            .starts_with("tok_")
    );
    assert_eq!(event.body.policy_version, "sha256:test");
}

#[tokio::test]
async fn reading_admin_data_is_recorded_before_it_is_answered() {
    let server = start().await;
    let (status, _, _) = server
        .get("/api/v1/tokens?user=dev@example.com", Some(&server.admin))
        .await;
    assert_eq!(status, StatusCode::OK);
    let events = moat_service::audit::read::events(server.store.as_ref(), 0, 100)
        .await
        .unwrap();
    let read = events.last().expect("the read was recorded");
    assert_eq!(read.body.action, "admin.read");
    assert_eq!(
        read.body.resources.objects,
        vec!["/api/v1/tokens?user=dev@example.com".to_string()]
    );
    assert_eq!(read.body.actor.email.as_deref(), Some("admin@example.com"));

    // A refused read (wrong scope) is not served, so it records no read.
    let before = events.len();
    let (status, _, _) = server.get("/api/v1/users", Some(&server.developer)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let after = moat_service::audit::read::events(server.store.as_ref(), 0, 100)
        .await
        .unwrap();
    assert_eq!(after.len(), before);
}

#[tokio::test]
async fn access_decisions_are_explained_to_admins_and_follow_suspension() {
    let server = start().await;
    let explain = |token: String| {
        server
            .http
            .get(format!(
                "{}/api/v1/access/explain?user=dev@example.com&repo=payments",
                server.base
            ))
            .bearer_auth(token)
            .send()
    };
    let response = explain(server.admin.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let decision: Value = response.json().await.unwrap();
    assert_eq!(decision["decision"], "allow");
    assert_eq!(decision["tier"], "confidential");
    assert_eq!(decision["disclosure"], "signatures");
    assert_eq!(decision["rules"], json!(["repo-readers"]));

    // A developer may not ask: the admin scope is needed.
    let response = explain(server.developer.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let matrix: Value = server
        .http
        .get(format!("{}/api/v1/access/matrix", server.base))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cells = matrix["matrix"].as_array().unwrap();
    assert_eq!(cells.len(), 2, "two people, one repository");
    let admin_cell = cells
        .iter()
        .find(|c| c["email"] == "admin@example.com")
        .unwrap();
    assert_eq!(admin_cell["decision"]["decision"], "deny");

    // Suspension takes effect on the next decision (the authorizer is rebuilt).
    server
        .identity
        .suspend_user("dev@example.com")
        .await
        .unwrap();
    let decision: Value = explain(server.admin.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(decision["decision"], "deny");
    assert_eq!(decision["rules"], json!(["active-users-only"]));
}

#[tokio::test]
async fn unmapped_host_logins_are_listed_to_admins_only() {
    let server = start().await;
    let (status, body, _) = server
        .get("/api/v1/access/unmapped", Some(&server.admin))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"unmapped": []}), "no mirrored repository here");
    let (status, _, _) = server
        .get("/api/v1/access/unmapped", Some(&server.developer))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, openapi, _) = server.get("/api/v1/openapi.json", None).await;
    assert!(openapi["paths"]["/api/v1/access/unmapped"]["get"].is_object());
}

/// Cedar decides `Administer` on every admin endpoint: an organisation policy that
/// forbids it holds even for a token with the admin scope and role, the refusal names
/// the policy and is on the record.
#[tokio::test]
async fn an_organisation_policy_on_administer_holds_on_the_admin_api() {
    let server = start_with_policies(
        64 * 1024,
        Duration::from_secs(30),
        Some(
            r#"@id("admins-on-call-only")
forbid(principal, action == Moat::Action::"Administer", resource)
when { principal.email == "admin@example.com" };"#,
        ),
    )
    .await;
    for path in ["/api/v1/users", "/api/v1/tokens", "/api/v1/access/matrix"] {
        let response = server
            .http
            .get(format!("{}{path}", server.base))
            .bearer_auth(&server.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("admins-on-call-only"),
            "{body}"
        );
    }
    let events = moat_service::audit::read::events(server.store.as_ref(), 0, 100)
        .await
        .unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.body.action == "access.denied")
            .count(),
        3
    );
    assert!(!events.iter().any(|e| e.body.action == "admin.read"));
    // Without the policy the same token administers.
    let open = start().await;
    let response = open
        .http
        .get(format!("{}/api/v1/users", open.base))
        .bearer_auth(&open.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_audit_log_is_searched_by_page_and_verified_over_the_api() {
    let server = start().await;
    for _ in 0..3 {
        server.get("/api/v1/users", Some(&server.admin)).await;
    }
    // Pages of two, followed by `next_from` to the end of the log.
    let mut seqs = Vec::new();
    let mut from = 0;
    loop {
        let (status, body, _) = server
            .get(
                &format!("/api/v1/audit/events?action=admin.read&limit=2&from={from}"),
                Some(&server.admin),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let events = body["events"].as_array().unwrap();
        assert!(events.len() <= 2);
        for event in events {
            assert_eq!(event["action"], "admin.read");
            seqs.push(event["seq"].as_u64().unwrap());
        }
        match body["next_from"].as_u64() {
            Some(next) => from = next,
            None => break,
        }
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // Three reads of users, then each page read of the log is itself on the record.
    assert!(seqs.len() >= 4, "{seqs:?}");
    let recorded = moat_service::audit::read::events(server.store.as_ref(), 0, 1000)
        .await
        .unwrap();
    assert!(recorded.iter().any(|e| e.body.action == "admin.read"
        && e.body.resources.objects[0].starts_with("/api/v1/audit/events?action=admin.read")));

    let (status, body, _) = server
        .get(
            "/api/v1/audit/events?actor=dev@example.com",
            Some(&server.admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["events"].as_array().unwrap().len(), 0);
    assert_eq!(body["next_from"], Value::Null);

    let (status, body, _) = server
        .get("/api/v1/audit/verify", Some(&server.admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ok"], true, "{body}");
    assert!(body["events"].as_u64().unwrap() >= 5);
    assert_eq!(body["root"].as_str().unwrap().len(), 64);
    // Verifying is a read of the whole log: on the record too.
    let recorded = moat_service::audit::read::events(server.store.as_ref(), 0, 1000)
        .await
        .unwrap();
    assert!(
        recorded.iter().any(|e| e.body.action == "admin.read"
            && e.body.resources.objects[0] == "/api/v1/audit/verify"),
        "no admin.read of /api/v1/audit/verify"
    );
}

#[tokio::test]
async fn audit_queries_that_cannot_be_answered_get_400_and_others_get_403() {
    let server = start().await;
    for query in [
        "limit=0",
        "limit=5000",
        "since=last-tuesday",
        "from=-1",
        "colour=blue",
    ] {
        let (status, body, _) = server
            .get(
                &format!("/api/v1/audit/events?{query}"),
                Some(&server.admin),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body["error"]["message"].is_string(), "{query}: {body}");
    }
    for path in ["/api/v1/audit/events", "/api/v1/audit/verify"] {
        let (status, _, _) = server.get(path, Some(&server.developer)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        let (status, _, _) = server.get(path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn verification_over_the_api_names_the_first_event_that_was_changed() {
    let server = start().await;
    for _ in 0..4 {
        server.get("/api/v1/users", Some(&server.admin)).await;
    }
    let path = server._dir.path().join("moat.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute(
        "UPDATE audit_events SET canonical = CAST(replace(CAST(canonical AS TEXT), 'admin.read', 'admin.reed') AS BLOB) WHERE seq = 2",
        [],
    )
    .unwrap();
    drop(db);
    let (status, body, _) = server
        .get("/api/v1/audit/verify", Some(&server.admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ok"], false, "{body}");
    assert_eq!(body["failure"]["first_bad_seq"], 2, "{body}");
}

#[tokio::test]
async fn refused_authentications_are_recorded_once_a_minute_per_source_and_route() {
    let server = start().await;
    for _ in 0..300 {
        let (status, _, _) = server
            .get(
                "/api/v1/users",
                Some("moat_0000000000000000000000000000000000000000000000000000000000000000"),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    for _ in 0..5 {
        let (status, _, _) = server.get("/api/v1/users", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The wrong scope is a refusal too (403), on its own route.
    let (status, _, _) = server.get("/api/v1/tokens", Some(&server.developer)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An answered request is not one.
    server.get("/api/v1/users", Some(&server.admin)).await;
    let before = moat_service::audit::read::events(server.store.as_ref(), 0, 10_000)
        .await
        .unwrap();
    assert!(
        before.iter().all(|e| e.body.action != "auth.refused"),
        "a flood is not an event per request"
    );
    assert_eq!(server.refusals.flush().await, 3);
    let refused: Vec<_> = moat_service::audit::read::events(server.store.as_ref(), 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.body.action == "auth.refused")
        .collect();
    let count = |route: &str, reason: &str| {
        refused
            .iter()
            .find(|e| e.body.details["route"] == route && e.body.details["reason"] == reason)
            .map(|e| e.body.details["count"].as_u64().unwrap())
    };
    assert_eq!(count("/api/v1/users", "unknown_token"), Some(300));
    assert_eq!(count("/api/v1/users", "missing_credential"), Some(5));
    assert_eq!(count("/api/v1/tokens", "insufficient_scope"), Some(1));
    assert!(
        refused
            .iter()
            .all(|e| e.body.actor.address.as_deref() == Some("127.0.0.1"))
    );
}

/// The security and audit roles hold admin-scoped tokens: on the admin API Cedar decides
/// each call for the person, so they read the record and are refused administration,
/// each refusal naming why; a developer cannot be given one at all.
#[tokio::test]
async fn security_and_audit_roles_use_the_admin_api_as_cedar_allows() {
    let server = start().await;
    let security = add_with_token(
        &server.identity,
        "sec@example.com",
        Role::Security,
        &[Scope::Admin],
    )
    .await;
    let auditor = add_with_token(
        &server.identity,
        "aud@example.com",
        Role::Auditor,
        &[Scope::Admin],
    )
    .await;
    for token in [&security, &auditor] {
        let (status, body, _) = server.get("/api/v1/audit/verify", Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["ok"], true, "{body}");
        let (status, body, _) = server.get("/api/v1/exceptions", Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for path in ["/api/v1/users", "/api/v1/tokens", "/api/v1/access/matrix"] {
            let (status, body, _) = server.get(path, Some(token)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("Administer"),
                "{path}: {body}"
            );
        }
        let (status, body) = server
            .post("/api/v1/users/dev@example.com/suspend", token, json!({}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let issued = server
        .identity
        .issue_token(IssueToken {
            user: "dev@example.com".into(),
            name: "sneaky".into(),
            scopes: vec![Scope::Mcp, Scope::Admin],
            ttl_seconds: None,
        })
        .await
        .unwrap_err();
    assert!(
        issued
            .to_string()
            .contains("none of the admin, security or auditor roles"),
        "{issued}"
    );
    let developer_status = server
        .identity
        .find_user("dev@example.com")
        .await
        .unwrap()
        .status;
    assert_eq!(developer_status, moat_domain::UserStatus::Active);
}
