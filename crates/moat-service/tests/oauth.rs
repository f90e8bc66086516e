//! Moat's authorization server, driven through its use cases: the code flow with PKCE,
//! one-time codes and sign-in links, refresh rotation with reuse detection, tokens
//! bound to one resource, suspension mid-grant, registration limits, and the record.

use base64::Engine;
use moat_domain::{Role, Scope, UnixTime};
use moat_service::oauth::clients::RegistrationRequest;
use moat_service::oauth::{
    AuthorizeError, AuthorizeRequest, ConfiguredClient, OAuthServer, OAuthSettings, TokenError,
    TokenGrant,
};
use moat_service::{
    AdminActor, AuditLog, AuditSettings, AuthError, FixedClock, Identity, IdentitySettings,
    NewUser, TrainingRule,
};
use moat_store::{SqliteStore, Store};
use sha2::Digest;
use std::sync::Arc;

const BASE: &str = "http://127.0.0.1:8480";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "http://127.0.0.1:40123/callback";

struct World {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    clock: Arc<FixedClock>,
    identity: Arc<Identity>,
    audit: Arc<AuditLog>,
    server: OAuthServer,
    ada: moat_domain::User,
}

async fn world_with(settings: OAuthSettings) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let clock = Arc::new(FixedClock::at(UnixTime(1_800_000_000)));
    let audit = Arc::new(
        AuditLog::open(
            store.clone(),
            moat_audit::checkpoint::SigningKey::from_seed("moat-test", [3; 32]).unwrap(),
            AuditSettings {
                origin: "test/moat".into(),
                max_batch: 1024,
            },
            vec![],
            clock.clone(),
        )
        .await
        .unwrap(),
    );
    let identity = Arc::new(Identity::new(
        store.clone(),
        clock.clone(),
        IdentitySettings::default(),
    ));
    let ada = identity
        .add_user(NewUser {
            email: "ada@example.com".into(),
            name: "Ada".into(),
            roles: vec![Role::Developer, Role::Admin],
            teams: vec![],
        })
        .await
        .unwrap();
    let server = OAuthServer::new(
        store.clone(),
        clock.clone(),
        audit.clone(),
        settings,
        "sha256:test".into(),
    );
    World {
        _dir: dir,
        store,
        clock,
        identity,
        audit,
        server,
        ada,
    }
}

fn settings() -> OAuthSettings {
    OAuthSettings {
        clients: vec![ConfiguredClient {
            id: "claude".into(),
            name: "Claude Code".into(),
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
        }],
        ..OAuthSettings::default()
    }
}

fn actor() -> AdminActor {
    AdminActor {
        client: "oauth".into(),
        ..AdminActor::default()
    }
}

fn challenge() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(VERIFIER.as_bytes()))
}

fn request(resource: &str) -> AuthorizeRequest {
    AuthorizeRequest {
        response_type: Some("code".into()),
        client_id: Some("claude".into()),
        redirect_uri: Some(REDIRECT.into()),
        code_challenge: Some(challenge()),
        code_challenge_method: Some("S256".into()),
        state: Some("st-1".into()),
        scope: Some("mcp".into()),
        resource: Some(resource.into()),
    }
}

fn query_param(url: &str, key: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.replace("%3A", ":").replace("%2F", "/"))
    })
}

/// Consent given by Ada: the code the redirect carries.
async fn code_for(world: &World, request: AuthorizeRequest) -> String {
    let consent = world.server.check_request(request, BASE).await.unwrap();
    let id = world
        .server
        .ask_consent(&consent, &world.ada)
        .await
        .unwrap();
    let redirect = world
        .server
        .decide(&id, &world.ada, true, BASE, &actor())
        .await
        .unwrap();
    assert!(redirect.starts_with(REDIRECT), "{redirect}");
    assert_eq!(query_param(&redirect, "state").as_deref(), Some("st-1"));
    assert_eq!(
        query_param(&redirect, "iss").as_deref(),
        Some(BASE),
        "RFC 9207 iss"
    );
    query_param(&redirect, "code").unwrap()
}

fn exchange(code: &str) -> TokenGrant {
    TokenGrant {
        grant_type: Some("authorization_code".into()),
        code: Some(code.into()),
        redirect_uri: Some(REDIRECT.into()),
        code_verifier: Some(VERIFIER.into()),
        client_id: Some("claude".into()),
        resource: Some(format!("{BASE}/mcp")),
        ..TokenGrant::default()
    }
}

fn refresh(token: &str) -> TokenGrant {
    TokenGrant {
        grant_type: Some("refresh_token".into()),
        refresh_token: Some(token.into()),
        client_id: Some("claude".into()),
        ..TokenGrant::default()
    }
}

async fn actions(store: &dyn Store) -> Vec<(String, String)> {
    moat_service::audit::read::events(store, 0, 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.body.action.starts_with("oauth."))
        .map(|e| {
            let what = e.body.details["operation"]
                .as_str()
                .or(e.body.decision.reason.as_deref())
                .unwrap_or("")
                .to_string();
            (e.body.action, what)
        })
        .collect()
}

#[tokio::test]
async fn the_code_flow_issues_a_token_for_one_resource_only() {
    let world = world_with(settings()).await;
    let code = code_for(&world, request(&format!("{BASE}/mcp"))).await;
    let tokens = world
        .server
        .exchange(exchange(&code), BASE, &actor())
        .await
        .unwrap();
    assert_eq!(tokens.scope, "mcp");
    assert_eq!(tokens.expires_in, 3600);

    let principal = world
        .identity
        .authenticate(&tokens.access_token, Scope::Mcp)
        .await
        .expect("the access token works on /mcp");
    assert_eq!(principal.user.id, world.ada.id);
    for elsewhere in [Scope::Gateway, Scope::Admin] {
        assert!(
            matches!(
                world
                    .identity
                    .authenticate(&tokens.access_token, elsewhere)
                    .await,
                Err(AuthError::WrongAudience { .. })
            ),
            "a token for /mcp is refused where {elsewhere} is needed"
        );
    }
    assert!(matches!(
        world.identity.identify(&tokens.access_token).await,
        Err(AuthError::WrongAudience { .. })
    ));
    // The access token expires: an hour, not the 90 days of an admin-issued token.
    world.clock.advance(3601);
    assert!(
        world
            .identity
            .authenticate(&tokens.access_token, Scope::Mcp)
            .await
            .is_err()
    );

    let recorded = actions(world.store.as_ref()).await;
    assert!(
        recorded.contains(&("oauth.grant".into(), "".into())),
        "{recorded:?}"
    );
    assert!(
        recorded.contains(&("oauth.token".into(), "code".into())),
        "{recorded:?}"
    );
}

#[tokio::test]
async fn a_code_works_once_and_its_replay_revokes_what_it_issued() {
    let world = world_with(settings()).await;
    let code = code_for(&world, request(&format!("{BASE}/mcp"))).await;
    let tokens = world
        .server
        .exchange(exchange(&code), BASE, &actor())
        .await
        .unwrap();
    let replay = world.server.exchange(exchange(&code), BASE, &actor()).await;
    assert!(
        matches!(replay, Err(TokenError::InvalidGrant(_))),
        "{replay:?}"
    );
    assert!(
        world
            .identity
            .authenticate(&tokens.access_token, Scope::Mcp)
            .await
            .is_err(),
        "the first exchange's token is revoked"
    );
    let again = world
        .server
        .exchange(refresh(&tokens.refresh_token), BASE, &actor())
        .await;
    assert!(again.is_err(), "and its refresh token");
    let recorded = actions(world.store.as_ref()).await;
    assert!(
        recorded.contains(&("oauth.revoke".into(), "authorization code reused".into())),
        "{recorded:?}"
    );
}

#[tokio::test]
async fn a_code_needs_its_verifier_client_redirect_resource_and_time() {
    let world = world_with(settings()).await;
    type Spoil = Box<dyn Fn(&mut TokenGrant)>;
    let cases: Vec<(&str, Spoil)> = vec![
        ("no verifier", Box::new(|g| g.code_verifier = None)),
        (
            "wrong verifier",
            Box::new(|g| g.code_verifier = Some("x".repeat(43))),
        ),
        (
            "another client",
            Box::new(|g| g.client_id = Some("other".into())),
        ),
        (
            "another redirect",
            Box::new(|g| g.redirect_uri = Some("http://127.0.0.1:40123/other".into())),
        ),
        ("no redirect", Box::new(|g| g.redirect_uri = None)),
        (
            "another resource",
            Box::new(|g| g.resource = Some(format!("{BASE}/v1"))),
        ),
    ];
    for (what, spoil) in cases {
        let code = code_for(&world, request(&format!("{BASE}/mcp"))).await;
        let mut grant = exchange(&code);
        spoil(&mut grant);
        let refused = world.server.exchange(grant, BASE, &actor()).await;
        assert!(refused.is_err(), "{what}: {refused:?}");
        // The code was spent by the failed attempt: a retry with the right values fails too.
        assert!(
            world
                .server
                .exchange(exchange(&code), BASE, &actor())
                .await
                .is_err(),
            "{what}: a code is spent by any attempt"
        );
    }
    let code = code_for(&world, request(&format!("{BASE}/mcp"))).await;
    world.clock.advance(61);
    assert!(
        world
            .server
            .exchange(exchange(&code), BASE, &actor())
            .await
            .is_err(),
        "a code older than a minute is refused"
    );
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_revokes_the_grant() {
    let world = world_with(settings()).await;
    let code = code_for(&world, request(&format!("{BASE}/mcp"))).await;
    let first = world
        .server
        .exchange(exchange(&code), BASE, &actor())
        .await
        .unwrap();
    let second = world
        .server
        .exchange(refresh(&first.refresh_token), BASE, &actor())
        .await
        .unwrap();
    assert_ne!(second.refresh_token, first.refresh_token, "rotated");
    assert_eq!(second.grant, first.grant);
    world
        .identity
        .authenticate(&second.access_token, Scope::Mcp)
        .await
        .expect("the new access token works");

    // The old refresh token again: a copy is in other hands.
    let reuse = world
        .server
        .exchange(refresh(&first.refresh_token), BASE, &actor())
        .await;
    assert!(matches!(reuse, Err(TokenError::InvalidGrant(_))));
    for token in [&first.access_token, &second.access_token] {
        assert!(
            world
                .identity
                .authenticate(token, Scope::Mcp)
                .await
                .is_err(),
            "every access token of the grant is revoked"
        );
    }
    assert!(
        world
            .server
            .exchange(refresh(&second.refresh_token), BASE, &actor())
            .await
            .is_err(),
        "the newest refresh token is revoked too"
    );
    let grant = world
        .store
        .oauth_grant(&first.grant)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        grant.revoked_reason.as_deref(),
        Some("refresh token reused")
    );
    let recorded = actions(world.store.as_ref()).await;
    assert!(recorded.contains(&("oauth.token".into(), "refresh".into())));
    assert!(recorded.contains(&("oauth.revoke".into(), "refresh token reused".into())));

    // A refresh by another client is refused; it spends the token, so the rightful
    // client's next refresh is a reuse and ends the grant (a copy is in other hands).
    let code = code_for(&world, request(&format!("{BASE}/mcp"))).await;
    let third = world
        .server
        .exchange(exchange(&code), BASE, &actor())
        .await
        .unwrap();
    let mut stolen = refresh(&third.refresh_token);
    stolen.client_id = Some("other".into());
    assert!(world.server.exchange(stolen, BASE, &actor()).await.is_err());
    assert!(
        world
            .server
            .exchange(refresh(&third.refresh_token), BASE, &actor())
            .await
            .is_err()
    );
    assert!(
        world
            .identity
            .authenticate(&third.access_token, Scope::Mcp)
            .await
            .is_err(),
        "the grant is revoked"
    );
}

#[tokio::test]
async fn suspending_a_person_mid_grant_ends_it() {
    let world = world_with(settings()).await;
    let code = code_for(&world, request(&format!("{BASE}/mcp"))).await;
    let tokens = world
        .server
        .exchange(exchange(&code), BASE, &actor())
        .await
        .unwrap();
    world
        .identity
        .suspend_user("ada@example.com")
        .await
        .unwrap();
    assert!(
        world
            .identity
            .authenticate(&tokens.access_token, Scope::Mcp)
            .await
            .is_err()
    );
    world
        .identity
        .reactivate_user("ada@example.com")
        .await
        .unwrap();
    assert!(
        world
            .identity
            .authenticate(&tokens.access_token, Scope::Mcp)
            .await
            .is_err(),
        "reactivation does not bring the grant back"
    );
    assert!(
        world
            .server
            .exchange(refresh(&tokens.refresh_token), BASE, &actor())
            .await
            .is_err(),
        "nor its refresh token"
    );
}

#[tokio::test]
async fn authorization_requests_are_checked_before_anything_is_shown() {
    let world = world_with(settings()).await;
    let mcp = format!("{BASE}/mcp");
    let shown = |r: Result<_, AuthorizeError>| matches!(r, Err(AuthorizeError::Show(_)));
    let mut unknown = request(&mcp);
    unknown.client_id = Some("nobody".into());
    assert!(shown(world.server.check_request(unknown, BASE).await));
    let mut elsewhere = request(&mcp);
    elsewhere.redirect_uri = Some("https://evil.example/cb".into());
    assert!(
        shown(world.server.check_request(elsewhere, BASE).await),
        "an unregistered redirect is shown an error, never redirected to"
    );
    let back = |r: Result<_, AuthorizeError>| match r {
        Err(AuthorizeError::Redirect { error, .. }) => error,
        other => panic!("expected a redirect with an error, got {other:?}"),
    };
    let mut no_pkce = request(&mcp);
    no_pkce.code_challenge = None;
    assert_eq!(
        back(world.server.check_request(no_pkce, BASE).await),
        "invalid_request"
    );
    let mut plain = request(&mcp);
    plain.code_challenge_method = Some("plain".into());
    assert_eq!(
        back(world.server.check_request(plain, BASE).await),
        "invalid_request"
    );
    let mut no_resource = request(&mcp);
    no_resource.resource = None;
    assert_eq!(
        back(world.server.check_request(no_resource, BASE).await),
        "invalid_target"
    );
    assert_eq!(
        back(
            world
                .server
                .check_request(request("http://evil.example/mcp"), BASE)
                .await
        ),
        "invalid_target"
    );
    let mut admin = request(&mcp);
    admin.scope = Some("mcp admin".into());
    assert_eq!(
        back(world.server.check_request(admin, BASE).await),
        "invalid_scope"
    );
    let mut implicit = request(&mcp);
    implicit.response_type = Some("token".into());
    assert_eq!(
        back(world.server.check_request(implicit, BASE).await),
        "unsupported_response_type"
    );
}

#[tokio::test]
async fn consent_is_one_time_and_bound_to_the_person_who_saw_it() {
    let world = world_with(settings()).await;
    let bob = world
        .identity
        .add_user(NewUser {
            email: "bob@example.com".into(),
            name: "Bob".into(),
            roles: vec![Role::Developer],
            teams: vec![],
        })
        .await
        .unwrap();
    let consent = world
        .server
        .check_request(request(&format!("{BASE}/mcp")), BASE)
        .await
        .unwrap();
    let id = world
        .server
        .ask_consent(&consent, &world.ada)
        .await
        .unwrap();
    assert!(
        world
            .server
            .decide(&id, &bob, true, BASE, &actor())
            .await
            .is_err(),
        "another person cannot answer Ada's consent"
    );
    let denied = world
        .server
        .decide(&id, &world.ada, false, BASE, &actor())
        .await
        .unwrap();
    assert!(denied.contains("error=access_denied"), "{denied}");
    assert!(
        world
            .server
            .decide(&id, &world.ada, true, BASE, &actor())
            .await
            .is_err(),
        "an answered consent cannot be answered again"
    );
}

#[tokio::test]
async fn sign_in_links_work_once_for_a_short_time_and_respect_the_training_gate() {
    let world = world_with(OAuthSettings {
        training: TrainingRule {
            required: true,
            current_version: Some("2026".into()),
            renewal_seconds: 365 * 86_400,
        },
        ..settings()
    })
    .await;
    let link = world
        .server
        .sign_in_link(&actor(), "ada@example.com")
        .await
        .unwrap();
    assert!(
        world
            .server
            .redeem_sign_in_link(&link.secret, &actor())
            .await
            .is_err(),
        "untrained people cannot sign in"
    );
    world
        .identity
        .attest_training("ada@example.com", "2026")
        .await
        .unwrap();
    assert!(
        world
            .server
            .redeem_sign_in_link(&link.secret, &actor())
            .await
            .is_err(),
        "the link was spent by the refused attempt"
    );
    let link = world
        .server
        .sign_in_link(&actor(), "ada@example.com")
        .await
        .unwrap();
    let (session, user) = world
        .server
        .redeem_sign_in_link(&link.secret, &actor())
        .await
        .unwrap();
    assert_eq!(user.id, world.ada.id);
    assert_eq!(
        world
            .server
            .session_user(&session)
            .await
            .unwrap()
            .map(|u| u.id),
        Some(world.ada.id.clone())
    );
    assert!(
        world
            .server
            .redeem_sign_in_link(&link.secret, &actor())
            .await
            .is_err(),
        "once"
    );
    let late = world
        .server
        .sign_in_link(&actor(), "ada@example.com")
        .await
        .unwrap();
    world.clock.advance(15 * 60 + 1);
    assert!(
        world
            .server
            .redeem_sign_in_link(&late.secret, &actor())
            .await
            .is_err(),
        "expired"
    );
    world
        .identity
        .suspend_user("ada@example.com")
        .await
        .unwrap();
    assert_eq!(
        world.server.session_user(&session).await.unwrap(),
        None,
        "suspension ends the session"
    );
    let recorded = actions(world.store.as_ref()).await;
    assert!(recorded.contains(&("oauth.sign_in".into(), "link.issue".into())));
    assert!(recorded.contains(&("oauth.sign_in".into(), "sign-in".into())));
}

#[tokio::test]
async fn registration_checks_uris_can_be_turned_off_and_is_rate_limited() {
    let world = world_with(OAuthSettings {
        registrations_per_hour: 2,
        ..settings()
    })
    .await;
    let asked = |uris: &[&str]| RegistrationRequest {
        redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
        client_name: Some("Tool\u{202e}evil".into()),
        ..RegistrationRequest::default()
    };
    assert!(
        world
            .server
            .register(&actor(), asked(&["http://evil.example/cb"]))
            .await
            .is_err()
    );
    assert!(world.server.register(&actor(), asked(&[])).await.is_err());
    let client = world
        .server
        .register(&actor(), asked(&["http://127.0.0.1/cb"]))
        .await
        .unwrap();
    assert!(client.id.starts_with("mcl_"));
    assert_eq!(
        client.name, "Toolevil",
        "control characters are dropped from names"
    );
    assert_eq!(
        world.server.client(&client.id).await.unwrap(),
        Some(client.clone())
    );
    world
        .server
        .register(&actor(), asked(&["http://127.0.0.1/cb"]))
        .await
        .unwrap();
    assert!(
        world
            .server
            .register(&actor(), asked(&["http://127.0.0.1/cb"]))
            .await
            .is_err(),
        "the third registration in an hour is refused"
    );
    let recorded = actions(world.store.as_ref()).await;
    assert_eq!(
        recorded.iter().filter(|(a, _)| a == "oauth.client").count(),
        2
    );

    let closed = world_with(OAuthSettings {
        dynamic_registration: false,
        ..settings()
    })
    .await;
    assert!(
        closed
            .server
            .register(&actor(), asked(&["http://127.0.0.1/cb"]))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn nothing_is_issued_that_cannot_be_recorded() {
    let world = world_with(settings()).await;
    let code = code_for(&world, request(&format!("{BASE}/mcp"))).await;
    world.audit.close().await.unwrap();
    let refused = world.server.exchange(exchange(&code), BASE, &actor()).await;
    assert!(
        matches!(refused, Err(TokenError::Unavailable(_))),
        "{refused:?}"
    );
    let tokens = world.store.tokens(None).await.unwrap();
    assert!(
        tokens
            .iter()
            .filter(|t| t.oauth.is_some())
            .all(|t| t.revoked_at.is_some()),
        "an access token stored before the record failed is revoked (its secret was never shown)"
    );
    assert!(
        world
            .server
            .sign_in_link(&actor(), "ada@example.com")
            .await
            .is_err(),
        "nor a sign-in link"
    );
}

/// Two requests with one refresh token at once. Whichever way they interleave, at most
/// one pair is issued and the grant ends. (The store's conformance suite checks the
/// interleaving this cannot force: a spend that finds the token already spent.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_refreshes_racing_with_one_token_end_the_grant() {
    let world = world_with(settings()).await;
    for _ in 0..5 {
        let code = code_for(&world, request(&format!("{BASE}/mcp"))).await;
        let first = world
            .server
            .exchange(exchange(&code), BASE, &actor())
            .await
            .unwrap();
        let who = actor();
        let (a, b) = tokio::join!(
            world
                .server
                .exchange(refresh(&first.refresh_token), BASE, &who),
            world
                .server
                .exchange(refresh(&first.refresh_token), BASE, &who)
        );
        assert!(
            a.is_ok() as u8 + b.is_ok() as u8 <= 1,
            "one refresh token never yields two live pairs"
        );
        let grant = world
            .store
            .oauth_grant(&first.grant)
            .await
            .unwrap()
            .unwrap();
        assert!(
            grant.revoked_at.is_some(),
            "the race is a reuse: the grant ends"
        );
        for winner in [a, b].into_iter().flatten() {
            assert!(
                world
                    .identity
                    .authenticate(&winner.access_token, Scope::Mcp)
                    .await
                    .is_err()
            );
        }
    }
}

/// A client's own site, serving its metadata document (and misbehaving on request).
async fn client_site() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use axum::routing::get;
    let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let counted = fetches.clone();
    let own = base.clone();
    let app = axum::Router::new()
        .route(
            "/client.json",
            get(move || {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let own = own.clone();
                async move {
                    (
                        [("cache-control", "max-age=600")],
                        axum::Json(serde_json::json!({
                            "client_id": format!("{own}/client.json"),
                            "client_name": "Documented Tool",
                            "redirect_uris": ["http://127.0.0.1/callback"],
                            "token_endpoint_auth_method": "none"
                        })),
                    )
                }
            }),
        )
        .route(
            "/other.json",
            get(|| async {
                axum::Json(serde_json::json!({
                    "client_id": "https://someone-else.example/client.json",
                    "redirect_uris": ["http://127.0.0.1/callback"]
                }))
            }),
        )
        .route("/huge.json", get(|| async { "x".repeat(6 * 1024) }))
        .route(
            "/moved.json",
            get(|| async { axum::response::Redirect::temporary("/client.json") }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, fetches)
}

#[tokio::test]
async fn a_client_named_by_its_metadata_document_signs_in() {
    let (site, fetches) = client_site().await;
    let world = world_with(OAuthSettings {
        metadata_private_addresses: true,
        ..settings()
    })
    .await;
    let client_id = format!("{site}/client.json");
    let mut asked = request(&format!("{BASE}/mcp"));
    asked.client_id = Some(client_id.clone());
    let consent = world
        .server
        .check_request(asked.clone(), BASE)
        .await
        .unwrap();
    assert_eq!(consent.client.name, "Documented Tool");
    let id = world
        .server
        .ask_consent(&consent, &world.ada)
        .await
        .unwrap();
    let redirect = world
        .server
        .decide(&id, &world.ada, true, BASE, &actor())
        .await
        .unwrap();
    let code = query_param(&redirect, "code").unwrap();
    let mut grant = exchange(&code);
    grant.client_id = Some(client_id.clone());
    let tokens = world.server.exchange(grant, BASE, &actor()).await.unwrap();
    world
        .identity
        .authenticate(&tokens.access_token, Scope::Mcp)
        .await
        .unwrap();
    world.server.check_request(asked, BASE).await.unwrap();
    assert_eq!(
        fetches.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the document is cached for its max-age"
    );

    let shown = |r: Result<_, AuthorizeError>| match r {
        Err(AuthorizeError::Show(message)) => message,
        other => panic!("expected an error shown to the person, got {other:?}"),
    };
    for (path, why) in [
        ("/other.json", "client_id is not its own URL"),
        ("/huge.json", "larger than"),
        ("/moved.json", "HTTP 307"),
        ("/missing.json", "HTTP 404"),
    ] {
        let mut asked = request(&format!("{BASE}/mcp"));
        asked.client_id = Some(format!("{site}{path}"));
        let message = shown(world.server.check_request(asked, BASE).await);
        assert!(message.contains(why), "{path}: {message}");
    }

    // By default a document on an internal address is not even fetched.
    let fenced = world_with(settings()).await;
    let before = fetches.load(std::sync::atomic::Ordering::SeqCst);
    let mut asked = request(&format!("{BASE}/mcp"));
    asked.client_id = Some(client_id);
    let message = shown(fenced.server.check_request(asked, BASE).await);
    assert!(message.contains("internal address 127.0.0.1"), "{message}");
    assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), before);
}
