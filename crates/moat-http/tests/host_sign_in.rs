//! A person links their GitHub or GitLab login by signing in to the host, against a
//! local stand-in for both hosts (github.com and gitlab.com are outside these
//! machines), speaking their documented OAuth web flows: GitHub's
//! `/login/oauth/authorize`, `/login/oauth/access_token` (errors as 200 with an `error`
//! field) and `/user` (`login`); GitLab's `/oauth/authorize`, `/oauth/token` (errors as
//! 400) and `/api/v4/user` (`username`); client secret and PKCE checked. Tried as an
//! attacker would: no Moat session, another person's pending sign-in, a forged state, a
//! code the host refuses, a login another source already links to someone else, a
//! GitHub sign-in finished at GitLab's callback.

use axum::extract::{Form, Query, State};
use axum::http::HeaderMap;
use axum::response::Redirect;
use axum::routing::{get, post};
use base64::Engine;
use moat_domain::{Role, UnixTime};
use moat_http::{AppState, HttpSettings};
use moat_service::host_sign_in::{HostApp, HostKind, HostSignIn};
use moat_service::mirror::MirrorWriter;
use moat_service::oauth::{OAuthServer, OAuthSettings};
use moat_service::{
    AdminActor, AuditLog, AuditSettings, Identity, IdentitySettings, NewUser, SystemClock,
};
use moat_store::{HostLink, SqliteStore, Store};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENT_ID: &str = "Iv1.standin";
const CLIENT_SECRET: &str = "standin-secret-0123456789";

/// The stand-in for GitHub: codes it handed out, with their PKCE challenge and login.
#[derive(Clone, Default)]
struct Github {
    codes: Arc<Mutex<HashMap<String, (String, String)>>>,
    /// The login the next person signing in at "GitHub" has.
    next_login: Arc<Mutex<String>>,
}

async fn authorize(State(gh): State<Github>, Query(q): Query<HashMap<String, String>>) -> Redirect {
    let code = format!("code-{}", gh.codes.lock().unwrap().len());
    let login = gh.next_login.lock().unwrap().clone();
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["code_challenge_method"], "S256");
    gh.codes
        .lock()
        .unwrap()
        .insert(code.clone(), (q["code_challenge"].clone(), login));
    Redirect::to(&format!(
        "{}?code={code}&state={}",
        q["redirect_uri"], q["state"]
    ))
}

/// The token for a code, or why not (`None`: the code is unknown or its verifier wrong).
fn spend(gh: &Github, f: &HashMap<String, String>) -> Option<String> {
    if f.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET) {
        return None;
    }
    let (challenge, login) = gh.codes.lock().unwrap().remove(f.get("code")?)?;
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(f.get("code_verifier")?.as_bytes()));
    (computed == challenge).then(|| format!("tok_{login}"))
}

/// GitHub: errors are 200 with an `error` field.
async fn github_token(
    State(gh): State<Github>,
    Form(f): Form<HashMap<String, String>>,
) -> axum::Json<Value> {
    match spend(&gh, &f) {
        Some(token) => {
            axum::Json(json!({"access_token": token, "token_type": "bearer", "scope": "read:user"}))
        }
        None => axum::Json(json!({"error": "bad_verification_code",
            "error_description": "The code passed is incorrect or expired."})),
    }
}

/// GitLab: errors are 400.
async fn gitlab_token(
    State(gh): State<Github>,
    Form(f): Form<HashMap<String, String>>,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    assert_eq!(
        f.get("grant_type").map(String::as_str),
        Some("authorization_code")
    );
    match spend(&gh, &f) {
        Some(token) => (
            axum::http::StatusCode::OK,
            axum::Json(
                json!({"access_token": token, "token_type": "Bearer", "scope": "read_user"}),
            ),
        ),
        None => (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant",
                "error_description": "The provided authorization grant is invalid"})),
        ),
    }
}

fn bearer(headers: &HeaderMap) -> String {
    headers["authorization"]
        .to_str()
        .unwrap()
        .strip_prefix("Bearer tok_")
        .unwrap()
        .to_string()
}

async fn github_user(headers: HeaderMap) -> axum::Json<Value> {
    axum::Json(json!({"login": bearer(&headers), "id": 1, "type": "User"}))
}

async fn gitlab_user(headers: HeaderMap) -> axum::Json<Value> {
    axum::Json(json!({"username": bearer(&headers), "id": 1, "state": "active"}))
}

struct World {
    url: String,
    gh_url: String,
    github: Github,
    store: Arc<dyn Store>,
    oauth: Arc<OAuthServer>,
    _dir: tempfile::TempDir,
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn world() -> World {
    let github = Github::default();
    let gh_url = serve(
        axum::Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(github_token))
            .route("/api/v3/user", get(github_user))
            .route("/oauth/authorize", get(authorize))
            .route("/oauth/token", post(gitlab_token))
            .route("/api/v4/user", get(gitlab_user))
            .with_state(github.clone()),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let identity = Arc::new(Identity::new(
        store.clone(),
        Arc::new(SystemClock),
        IdentitySettings::default(),
    ));
    for email in ["ada@example.com", "bob@example.com"] {
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
    let audit = Arc::new(
        AuditLog::open(
            store.clone(),
            moat_audit::checkpoint::SigningKey::from_seed("moat-test", [1; 32]).unwrap(),
            AuditSettings {
                origin: "test/moat".into(),
                max_batch: 256,
            },
            vec![],
            Arc::new(SystemClock),
        )
        .await
        .unwrap(),
    );
    let oauth = Arc::new(OAuthServer::new(
        store.clone(),
        Arc::new(SystemClock),
        audit.clone(),
        OAuthSettings::default(),
        "sha256:test".into(),
    ));
    let writer = Arc::new(MirrorWriter::new(
        store.clone(),
        audit.clone(),
        "sha256:test".into(),
    ));
    let linker = HostSignIn::new(
        vec![
            HostApp {
                host: HostKind::Github,
                web_url: gh_url.clone(),
                api_url: format!("{gh_url}/api/v3"),
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
            },
            HostApp {
                host: HostKind::Gitlab,
                web_url: gh_url.clone(),
                api_url: format!("{gh_url}/api/v4"),
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
            },
        ],
        store.clone(),
        writer,
        Arc::new(SystemClock),
    );
    let settings = HttpSettings {
        public_url: None,
        oidc_issuer: None,
        mcp_allowed_hosts: vec!["127.0.0.1".into()],
        mcp_allowed_origins: vec![],
        mcp_session_idle: Duration::from_secs(60),
        max_body_bytes: 256 * 1024,
        request_timeout: Duration::from_secs(30),
        policy_version: "sha256:test".into(),
    };
    let app = moat_http::router(
        AppState::new(identity, audit, settings)
            .with_oauth(oauth.clone())
            .with_host_sign_in(Arc::new(linker)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(moat_http::serve(listener, app, std::future::pending()));
    World {
        url,
        gh_url,
        github,
        store,
        oauth,
        _dir: dir,
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A Moat browser session for `email` (through a sign-in link).
async fn session(world: &World, email: &str) -> String {
    let actor = AdminActor {
        client: "test".into(),
        ..AdminActor::default()
    };
    let code = world
        .oauth
        .sign_in_link(&actor, email)
        .await
        .unwrap()
        .secret;
    let response = http()
        .post(format!("{}/oauth/sign-in", world.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("code={code}&return_to="))
        .send()
        .await
        .unwrap();
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with(&format!("{name}=")))
}

/// Starts a link for the session `cookie`; returns the pending cookie and the GitHub URL.
async fn start(world: &World, cookie: &str) -> (String, String) {
    start_at(world, "github", cookie).await
}

async fn start_at(world: &World, host: &str, cookie: &str) -> (String, String) {
    let started = http()
        .get(format!("{}/oauth/host/{host}/start", world.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 303);
    let location = started.headers()["location"].to_str().unwrap().to_string();
    let path = if host == "github" {
        "/login/oauth/authorize?"
    } else {
        "/oauth/authorize?"
    };
    assert!(
        location.starts_with(&format!("{}{path}", world.gh_url)),
        "{location}"
    );
    let name = format!("moat_host_{host}");
    (set_cookie(&started, &name).unwrap(), location)
}

/// The person signs in at "GitHub" as `login`: where GitHub sends them back.
async fn at_github(world: &World, location: &str, login: &str) -> String {
    *world.github.next_login.lock().unwrap() = login.into();
    let back = http().get(location).send().await.unwrap();
    back.headers()["location"].to_str().unwrap().to_string()
}

async fn callback(url: &str, cookies: &[&str]) -> (u16, String) {
    let response = http()
        .get(url)
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn github_links(store: &dyn Store) -> Vec<(String, String, String)> {
    links_at(store, "github").await
}

async fn links_at(store: &dyn Store, host: &str) -> Vec<(String, String, String)> {
    store
        .host_links()
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.host == host)
        .map(|l| (l.login, l.user.0, l.source))
        .collect()
}

#[tokio::test]
async fn signing_in_to_github_links_that_login_and_nothing_else_does() {
    let world = world().await;
    let ada = session(&world, "ada@example.com").await;
    let bob = session(&world, "bob@example.com").await;
    let ada_id = world
        .store
        .user_by_email("ada@example.com")
        .await
        .unwrap()
        .unwrap()
        .id
        .0;

    // Not signed in at Moat: nothing starts.
    let anonymous = http()
        .get(format!("{}/oauth/host/github/start", world.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // Ada links her login.
    let (pending, location) = start(&world, &ada).await;
    let back = at_github(&world, &location, "Ada-GH").await;
    let (status, page) = callback(&back, &[&ada, &pending]).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("ada-gh") && page.contains("ada@example.com"),
        "{page}"
    );
    assert_eq!(
        github_links(world.store.as_ref()).await,
        [("ada-gh".into(), ada_id.clone(), "host-sign-in".into())]
    );

    // The callback replayed: GitHub's code is spent.
    let (status, page) = callback(&back, &[&ada, &pending]).await;
    assert_eq!(status, 400, "{page}");

    // Bob's browser finishing Ada's pending sign-in (a stolen callback URL): refused.
    let (pending, location) = start(&world, &ada).await;
    let back = at_github(&world, &location, "bob-gh").await;
    let (status, page) = callback(&back, &[&bob, &pending]).await;
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("not started in this browser by you"),
        "{page}"
    );
    // No pending cookie at all, and a forged state.
    let (status, _) = callback(&back, &[&ada]).await;
    assert_eq!(status, 400);
    let forged = back.replace("state=", "state=x");
    let (status, _) = callback(&forged, &[&ada, &pending]).await;
    assert_eq!(status, 400);

    // A login another source links to someone else is not taken by signing in.
    let bob_id = world
        .store
        .user_by_email("bob@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    world
        .store
        .host_link_set(&HostLink {
            host: "github".into(),
            login: "bob-saml".into(),
            user: bob_id.clone(),
            source: "saml".into(),
            linked_at: UnixTime::now(),
        })
        .await
        .unwrap();
    let (pending, location) = start(&world, &ada).await;
    let back = at_github(&world, &location, "bob-saml").await;
    let (status, page) = callback(&back, &[&ada, &pending]).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("already linked to someone else"), "{page}");
    assert!(github_links(world.store.as_ref()).await.contains(&(
        "bob-saml".into(),
        bob_id.0.clone(),
        "saml".into()
    )));

    // A code GitHub refuses (as GitHub answers: 200 with an error field).
    let (pending, location) = start(&world, &ada).await;
    let state = location
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let (status, page) = callback(
        &format!(
            "{}/oauth/host/github/callback?code=made-up&state={state}",
            world.url
        ),
        &[&ada, &pending],
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("bad_verification_code"), "{page}");

    // GitLab: the same flow with GitLab's endpoints and answers.
    let (pending, location) = start_at(&world, "gitlab", &ada).await;
    let back = at_github(&world, &location, "ada.gitlab").await;
    assert!(
        back.starts_with(&format!("{}/oauth/host/gitlab/callback?", world.url)),
        "{back}"
    );
    // A GitLab sign-in finished at GitHub's callback is not this browser's GitHub sign-in.
    let crossed = back.replace("/oauth/host/gitlab/", "/oauth/host/github/");
    let (status, _) = callback(
        &crossed,
        &[
            &ada,
            &pending.replace("moat_host_gitlab", "moat_host_github"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    let (status, page) = callback(&back, &[&ada, &pending]).await;
    assert_eq!(status, 200, "refused before the code was spent: {page}");
    assert_eq!(
        links_at(world.store.as_ref(), "gitlab").await,
        [("ada.gitlab".into(), ada_id.clone(), "host-sign-in".into())]
    );
    let unknown = http()
        .get(format!("{}/oauth/host/bitbucket/start", world.url))
        .header("cookie", &ada)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // Every link is an access.link event from source host-sign-in.
    let events = moat_service::audit::read::events(world.store.as_ref(), 0, 1000)
        .await
        .unwrap();
    let links: Vec<&Value> = events
        .iter()
        .filter(|e| e.body.action == "access.link")
        .map(|e| &e.body.details)
        .collect();
    assert_eq!(links.len(), 2, "{links:?}");
    assert_eq!(links[0]["source"], "host-sign-in");
    assert_eq!(links[0]["login"], "ada-gh");
    assert_eq!(links[0]["after"], json!(ada_id));
}
