//! Bearer JWTs from an OIDC identity provider. The provider is a stand-in: a local HTTP
//! server that serves the discovery document and JWKS as OpenID Connect Discovery 1.0
//! and RFC 7517 describe them (no real IdP is reachable from here). Tokens are signed
//! with the test keys in `fixtures/oidc` by `jsonwebtoken`, as an IdP would sign them.

mod common;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use moat_domain::{Role, Scope};
use moat_service::{
    AuthError, Identity, IdentitySettings, NewUser, OidcSettings, OidcVerifier, SystemClock,
};
use moat_store::{SqliteStore, Store};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const AUDIENCE: &str = "https://moat.example.com/mcp";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oidc");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

fn jwk(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

/// The stand-in provider: what its JWKS holds can change (key rotation), it can fail,
/// and it counts fetches.
struct Provider {
    issuer: String,
    keys: Arc<Mutex<Vec<Value>>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
    fetches: Arc<AtomicUsize>,
    /// The `Cache-Control` header the key set is served with.
    cache_control: Arc<Mutex<Option<String>>>,
}

async fn provider() -> Provider {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let keys = Arc::new(Mutex::new(vec![
        jwk("rsa.jwk.json"),
        jwk("ed25519.jwk.json"),
    ]));
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fetches = Arc::new(AtomicUsize::new(0));
    let cache_control = Arc::new(Mutex::new(None::<String>));
    let discovery = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/keys"),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "id_token_signing_alg_values_supported": ["RS256", "EdDSA"],
    });
    let app = {
        use axum::http::StatusCode;
        use axum::routing::get;
        let (keys, failing, fetches, cache) = (
            keys.clone(),
            failing.clone(),
            fetches.clone(),
            cache_control.clone(),
        );
        axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { axum::Json(discovery) }),
            )
            .route(
                "/keys",
                get(move || async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    if failing.load(Ordering::SeqCst) {
                        return Err(StatusCode::INTERNAL_SERVER_ERROR);
                    }
                    let keys = keys.lock().unwrap().clone();
                    let mut response = axum::response::IntoResponse::into_response(axum::Json(
                        json!({ "keys": keys }),
                    ));
                    if let Some(value) = cache.lock().unwrap().clone() {
                        response
                            .headers_mut()
                            .insert("cache-control", value.parse().unwrap());
                    }
                    Ok(response)
                }),
            )
    };
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Provider {
        issuer,
        keys,
        failing,
        fetches,
        cache_control,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(provider: &Provider, email: &str, scope: &str) -> Value {
    json!({
        "iss": provider.issuer,
        "aud": AUDIENCE,
        "sub": "00u1abcd",
        "email": email,
        "email_verified": true,
        "scope": scope,
        "iat": now(),
        "exp": now() + 600,
        "jti": "jwt-1",
    })
}

fn sign(claims: &Value, alg: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn rsa() -> EncodingKey {
    EncodingKey::from_rsa_pem(fixture("rsa.pem").as_bytes()).unwrap()
}

async fn identity(provider: &Provider) -> (Identity, Arc<dyn Store>, tempfile::TempDir) {
    identity_with(provider, |_| {}).await
}

async fn identity_with(
    provider: &Provider,
    tweak: impl FnOnce(&mut OidcSettings),
) -> (Identity, Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let mut settings = OidcSettings {
        issuer: provider.issuer.clone(),
        audience: AUDIENCE.into(),
        jwks_url: None,
        min_refresh: Duration::from_secs(3600),
        max_key_age: Duration::from_secs(3600),
        login_claims: vec![],
    };
    tweak(&mut settings);
    let verifier = OidcVerifier::new(settings);
    let identity = Identity::new(
        store.clone(),
        Arc::new(SystemClock),
        IdentitySettings::default(),
    )
    .with_oidc(Arc::new(verifier));
    // Links from login claims are recorded before they are made.
    identity.record_links_with(common::mirror_writer(store.clone()).await);
    for (email, roles) in [
        ("dev@example.com", vec![Role::Developer]),
        ("admin@example.com", vec![Role::Admin]),
        ("gone@example.com", vec![Role::Developer]),
    ] {
        identity
            .add_user(NewUser {
                email: email.into(),
                name: String::new(),
                roles,
                teams: vec![],
            })
            .await
            .unwrap();
    }
    identity.suspend_user("gone@example.com").await.unwrap();
    (identity, store, dir)
}

#[tokio::test]
async fn a_valid_token_names_the_moat_user_and_its_scopes() {
    let provider = provider().await;
    let (identity, _store, _dir) = identity(&provider).await;
    let jwt = sign(
        &claims(&provider, "Dev@Example.com", "openid mcp"),
        Algorithm::RS256,
        Some("rsa-1"),
        &rsa(),
    );
    let principal = identity.authenticate(&jwt, Scope::Mcp).await.unwrap();
    assert_eq!(principal.user.email, "dev@example.com");
    assert_eq!(principal.token_id.0, "oidc:jwt-1");
    assert_eq!(principal.scopes, vec![Scope::Mcp]);

    // EdDSA keys from the same set, and `scp` as an array (Entra, Okta).
    let mut ed_claims = claims(&provider, "dev@example.com", "");
    ed_claims["scp"] = json!(["mcp", "gateway"]);
    let ed = EncodingKey::from_ed_pem(fixture("ed25519.pem").as_bytes()).unwrap();
    let jwt = sign(&ed_claims, Algorithm::EdDSA, Some("ed-1"), &ed);
    let principal = identity.authenticate(&jwt, Scope::Gateway).await.unwrap();
    assert_eq!(principal.scopes, vec![Scope::Mcp, Scope::Gateway]);
    // Keys were fetched once, through discovery.
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn forged_foreign_expired_and_confused_tokens_are_refused() {
    let provider = provider().await;
    let (identity, _store, _dir) = identity(&provider).await;
    let good = claims(&provider, "dev@example.com", "mcp");
    let refused = async |jwt: String| match identity.authenticate(&jwt, Scope::Mcp).await {
        Err(AuthError::InvalidJwt(reason)) => reason,
        other => panic!("expected an invalid JWT, got {other:?}"),
    };

    let mut other_audience = good.clone();
    other_audience["aud"] = json!("https://other-service.example.com");
    let reason = refused(sign(
        &other_audience,
        Algorithm::RS256,
        Some("rsa-1"),
        &rsa(),
    ))
    .await;
    assert!(reason.contains("not for this resource"), "{reason}");

    let mut other_issuer = good.clone();
    other_issuer["iss"] = json!("https://evil.example.com");
    let reason = refused(sign(&other_issuer, Algorithm::RS256, Some("rsa-1"), &rsa())).await;
    assert!(reason.contains("issued by someone else"), "{reason}");

    let mut expired = good.clone();
    expired["exp"] = json!(now() - 3600);
    let reason = refused(sign(&expired, Algorithm::RS256, Some("rsa-1"), &rsa())).await;
    assert!(reason.contains("expired"), "{reason}");

    let mut early = good.clone();
    early["nbf"] = json!(now() + 3600);
    let reason = refused(sign(&early, Algorithm::RS256, Some("rsa-1"), &rsa())).await;
    assert!(reason.contains("not valid yet"), "{reason}");

    // Signed by a key the provider does not publish, under a published kid.
    let rotated = EncodingKey::from_rsa_pem(fixture("rsa-rotated.pem").as_bytes()).unwrap();
    let reason = refused(sign(&good, Algorithm::RS256, Some("rsa-1"), &rotated)).await;
    assert!(reason.contains("signature"), "{reason}");

    // A payload changed after signing.
    let jwt = sign(&good, Algorithm::RS256, Some("rsa-1"), &rsa());
    let mut parts: Vec<String> = jwt.split('.').map(str::to_string).collect();
    let mut admin = good.clone();
    admin["email"] = json!("admin@example.com");
    use base64::Engine;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(admin.to_string());
    let reason = refused(parts.join(".")).await;
    assert!(reason.contains("signature"), "{reason}");

    // HS256 "signed" with the public modulus: the algorithm-confusion attack.
    let n = jwk("rsa.jwk.json")["n"].as_str().unwrap().to_string();
    let hs = sign(
        &good,
        Algorithm::HS256,
        Some("rsa-1"),
        &EncodingKey::from_secret(n.as_bytes()),
    );
    let reason = refused(hs).await;
    assert!(reason.contains("not accepted"), "{reason}");

    // `alg: none`.
    let none_header =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(good.to_string());
    let reason = refused(format!("{none_header}.{body}.")).await;
    assert!(!reason.is_empty());

    // No email claim at all.
    let mut anonymous = good.clone();
    anonymous.as_object_mut().unwrap().remove("email");
    let reason = refused(sign(&anonymous, Algorithm::RS256, Some("rsa-1"), &rsa())).await;
    assert!(reason.contains("no email"), "{reason}");
}

#[tokio::test]
async fn scopes_accounts_and_roles_still_apply() {
    let provider = provider().await;
    let (identity, _store, _dir) = identity(&provider).await;
    let token = |email: &str, scope: &str| {
        sign(
            &claims(&provider, email, scope),
            Algorithm::RS256,
            Some("rsa-1"),
            &rsa(),
        )
    };
    assert_eq!(
        identity
            .authenticate(&token("dev@example.com", "openid profile"), Scope::Mcp)
            .await
            .unwrap_err(),
        AuthError::InsufficientScope {
            required: Scope::Mcp
        }
    );
    assert_eq!(
        identity
            .authenticate(&token("stranger@example.com", "mcp"), Scope::Mcp)
            .await
            .unwrap_err(),
        AuthError::NoAccount("stranger@example.com".into())
    );
    assert!(matches!(
        identity
            .authenticate(&token("gone@example.com", "mcp"), Scope::Mcp)
            .await
            .unwrap_err(),
        AuthError::UserInactive(..)
    ));
    assert!(matches!(
        identity
            .authenticate(&token("dev@example.com", "admin"), Scope::Admin)
            .await
            .unwrap_err(),
        AuthError::MissingRole(Scope::Admin)
    ));
    assert!(
        identity
            .authenticate(&token("admin@example.com", "admin"), Scope::Admin)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn rotated_keys_are_fetched_once_and_an_unreachable_provider_fails_closed() {
    let provider = provider().await;
    let (identity, _store, _dir) = identity(&provider).await;
    let good = claims(&provider, "dev@example.com", "mcp");
    let jwt = sign(&good, Algorithm::RS256, Some("rsa-1"), &rsa());
    identity.authenticate(&jwt, Scope::Mcp).await.unwrap();
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 1);

    // The provider rotates to a new key. Within the refresh interval an unknown kid is
    // refused without hammering the provider...
    provider
        .keys
        .lock()
        .unwrap()
        .push(jwk("rsa-rotated.jwk.json"));
    let rotated = EncodingKey::from_rsa_pem(fixture("rsa-rotated.pem").as_bytes()).unwrap();
    let new_jwt = sign(&good, Algorithm::RS256, Some("rsa-2"), &rotated);
    for _ in 0..3 {
        match identity.authenticate(&new_jwt, Scope::Mcp).await {
            Err(AuthError::InvalidJwt(reason)) => assert!(reason.contains("no key rsa-2")),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 1);

    // ...and a verifier whose keys are due for refresh picks the new key up.
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let eager = Identity::new(store, Arc::new(SystemClock), IdentitySettings::default()).with_oidc(
        Arc::new(OidcVerifier::new(OidcSettings {
            issuer: provider.issuer.clone(),
            audience: AUDIENCE.into(),
            jwks_url: Some(format!("{}/keys", provider.issuer)),
            min_refresh: Duration::ZERO,
            max_key_age: Duration::from_secs(3600),
            login_claims: vec![],
        })),
    );
    eager
        .add_user(NewUser {
            email: "dev@example.com".into(),
            name: String::new(),
            roles: vec![Role::Developer],
            teams: vec![],
        })
        .await
        .unwrap();
    provider.keys.lock().unwrap().remove(2);
    eager.authenticate(&jwt, Scope::Mcp).await.unwrap();
    provider
        .keys
        .lock()
        .unwrap()
        .push(jwk("rsa-rotated.jwk.json"));
    eager.authenticate(&new_jwt, Scope::Mcp).await.unwrap();

    // The provider is down and the key is unknown: refused as unavailable, not let in,
    // and counted for the operator (`moat_idp_key_fetch_failures_total`).
    let verifier = eager.oidc().expect("configured").clone();
    assert_eq!(verifier.key_fetch_failures(), 0);
    provider.failing.store(true, Ordering::SeqCst);
    let ed = EncodingKey::from_ed_pem(fixture("ed25519.pem").as_bytes()).unwrap();
    let unknown_kid = sign(&good, Algorithm::EdDSA, Some("ed-9"), &ed);
    assert_eq!(
        eager
            .authenticate(&unknown_kid, Scope::Mcp)
            .await
            .unwrap_err(),
        AuthError::Unavailable
    );
    assert_eq!(verifier.key_fetch_failures(), 1);
}

/// Records what the identity service tells a sign-in hook.
#[derive(Default)]
struct Told(std::sync::Mutex<Vec<(String, String)>>);

impl moat_service::SignInHook for Told {
    fn signed_in(self: Arc<Self>, user: &moat_domain::User, token: &str) {
        self.0
            .lock()
            .unwrap()
            .push((user.email.clone(), token.to_string()));
    }
}

#[tokio::test]
async fn accepted_provider_tokens_tell_the_sign_in_hook() {
    let provider = provider().await;
    let (identity, _store, _dir) = identity(&provider).await;
    let told = Arc::new(Told::default());
    identity.on_sign_in(told.clone());
    let token = |email: &str| {
        sign(
            &claims(&provider, email, "mcp"),
            Algorithm::RS256,
            Some("rsa-1"),
            &rsa(),
        )
    };
    identity
        .authenticate(&token("dev@example.com"), Scope::Mcp)
        .await
        .unwrap();
    // Refused tokens (a suspended person, an unknown one) are no sign-in.
    assert!(
        identity
            .authenticate(&token("gone@example.com"), Scope::Mcp)
            .await
            .is_err()
    );
    assert!(
        identity
            .authenticate(&token("stranger@example.com"), Scope::Mcp)
            .await
            .is_err()
    );
    assert_eq!(
        told.0.lock().unwrap().clone(),
        [("dev@example.com".to_string(), "jwt-1".to_string())]
    );
}

#[tokio::test]
async fn an_email_the_provider_has_not_verified_is_refused() {
    let provider = provider().await;
    let (identity, _store, _dir) = identity(&provider).await;
    for verified in [json!(false), json!("false"), json!(null), json!(1)] {
        let mut unverified = claims(&provider, "dev@example.com", "mcp");
        unverified["email_verified"] = verified.clone();
        let jwt = sign(&unverified, Algorithm::RS256, Some("rsa-1"), &rsa());
        match identity.authenticate(&jwt, Scope::Mcp).await {
            Err(AuthError::InvalidJwt(reason)) => {
                assert!(reason.contains("not verified"), "{reason}")
            }
            other => panic!("email_verified = {verified}: {other:?}"),
        }
    }
    // Missing altogether, with a verified-looking `upn` beside it: still refused, the
    // unverified email is not swapped for another claim.
    let mut missing = claims(&provider, "dev@example.com", "mcp");
    missing.as_object_mut().unwrap().remove("email_verified");
    missing["upn"] = json!("dev@example.com");
    let jwt = sign(&missing, Algorithm::RS256, Some("rsa-1"), &rsa());
    assert!(identity.authenticate(&jwt, Scope::Mcp).await.is_err());
    // "true" as a string (some providers) is accepted; so is a token without an
    // `email` claim that names the person by `upn` (Entra ID).
    let mut as_text = claims(&provider, "dev@example.com", "mcp");
    as_text["email_verified"] = json!("true");
    let jwt = sign(&as_text, Algorithm::RS256, Some("rsa-1"), &rsa());
    identity.authenticate(&jwt, Scope::Mcp).await.unwrap();
    let mut upn = claims(&provider, "dev@example.com", "mcp");
    let object = upn.as_object_mut().unwrap();
    object.remove("email");
    object.remove("email_verified");
    upn["upn"] = json!("dev@example.com");
    let jwt = sign(&upn, Algorithm::RS256, Some("rsa-1"), &rsa());
    identity.authenticate(&jwt, Scope::Mcp).await.unwrap();
}

#[tokio::test]
async fn a_key_the_provider_removed_stops_being_accepted_within_its_cache_lifetime() {
    // The provider says the key set may be kept a second; then it drops the RSA key.
    let provider = provider().await;
    *provider.cache_control.lock().unwrap() = Some("public, max-age=1".into());
    let (identity, _store, _dir) = identity_with(&provider, |s| {
        s.min_refresh = Duration::from_millis(500);
    })
    .await;
    let jwt = sign(
        &claims(&provider, "dev@example.com", "mcp"),
        Algorithm::RS256,
        Some("rsa-1"),
        &rsa(),
    );
    identity.authenticate(&jwt, Scope::Mcp).await.unwrap();
    provider.keys.lock().unwrap().remove(0);
    identity.authenticate(&jwt, Scope::Mcp).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(
        identity.authenticate(&jwt, Scope::Mcp).await.is_err(),
        "a removed key is still accepted after its max-age"
    );

    // A provider asking for a day is held to the configured bound (an hour in
    // production, a second here).
    let provider = provider_with_day_cache().await;
    let (identity, _store, _dir) = identity_with(&provider, |s| {
        s.min_refresh = Duration::from_millis(500);
        s.max_key_age = Duration::from_secs(1);
    })
    .await;
    let jwt = sign(
        &claims(&provider, "dev@example.com", "mcp"),
        Algorithm::RS256,
        Some("rsa-1"),
        &rsa(),
    );
    identity.authenticate(&jwt, Scope::Mcp).await.unwrap();
    provider.keys.lock().unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(identity.authenticate(&jwt, Scope::Mcp).await.is_err());
    // The provider is unreachable once the keys are past their age: refused.
    let ed = EncodingKey::from_ed_pem(fixture("ed25519.pem").as_bytes()).unwrap();
    let ed_jwt = sign(
        &claims(&provider, "dev@example.com", "mcp"),
        Algorithm::EdDSA,
        Some("ed-1"),
        &ed,
    );
    identity.authenticate(&ed_jwt, Scope::Mcp).await.unwrap();
    provider.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(
        identity
            .authenticate(&ed_jwt, Scope::Mcp)
            .await
            .unwrap_err(),
        AuthError::Unavailable
    );
}

async fn provider_with_day_cache() -> Provider {
    let provider = provider().await;
    *provider.cache_control.lock().unwrap() = Some("max-age=86400".into());
    provider
}

#[tokio::test]
async fn a_login_claim_links_the_host_login_but_takes_none_from_another_source() {
    let provider = provider().await;
    let (identity, store, _dir) = identity_with(&provider, |s| {
        s.login_claims = vec![("github".into(), "github_login".into())];
    })
    .await;
    let admin = store
        .user_by_email("admin@example.com")
        .await
        .unwrap()
        .unwrap();
    store
        .host_link_set(&moat_store::HostLink {
            host: "github".into(),
            login: "taken".into(),
            user: admin.id.clone(),
            source: "saml".into(),
            linked_at: moat_domain::UnixTime(1),
        })
        .await
        .unwrap();
    for login in ["Octo-Dev", "taken"] {
        let mut with_login = claims(&provider, "dev@example.com", "mcp");
        with_login["github_login"] = json!(login);
        let jwt = sign(&with_login, Algorithm::RS256, Some("rsa-1"), &rsa());
        identity.authenticate(&jwt, Scope::Mcp).await.unwrap();
    }
    let links: Vec<(String, String, String)> = store
        .host_links()
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.login, l.user.0, l.source))
        .collect();
    let dev = store
        .user_by_email("dev@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        links,
        [
            ("octo-dev".to_string(), dev.id.0.clone(), "idp".to_string()),
            ("taken".to_string(), admin.id.0, "saml".to_string()),
        ]
    );
    // The link made is on the record (the one refused is not), durable before it was
    // written.
    assert_eq!(
        common::link_events(store.as_ref()).await,
        [("octo-dev".to_string(), None, Some(dev.id.0))]
    );
}
