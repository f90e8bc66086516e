//! The authorization server's pages and endpoints over a real socket, tried as an
//! attacker would: markup in a self-registered client's name, an open redirect through
//! the sign-in form, a link scanner fetching a sign-in link, a forged `Host`.

use moat_audit::checkpoint::SigningKey;
use moat_domain::Role;
use moat_http::{AppState, HttpSettings};
use moat_service::oauth::{OAuthServer, OAuthSettings};
use moat_service::{
    AdminActor, AuditLog, AuditSettings, Identity, IdentitySettings, NewUser, SystemClock,
};
use moat_store::{SqliteStore, Store};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

struct Server {
    url: String,
    oauth: Arc<OAuthServer>,
    _dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let identity = Arc::new(Identity::new(
        store.clone(),
        Arc::new(SystemClock),
        IdentitySettings::default(),
    ));
    identity
        .add_user(NewUser {
            email: "dev@example.com".into(),
            name: "Dev".into(),
            roles: vec![Role::Developer],
            teams: vec![],
        })
        .await
        .unwrap();
    let audit = Arc::new(
        AuditLog::open(
            store.clone(),
            SigningKey::from_seed("moat-test", [1; 32]).unwrap(),
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
        store,
        Arc::new(SystemClock),
        audit.clone(),
        OAuthSettings::default(),
        "sha256:test".into(),
    ));
    let settings = HttpSettings {
        public_url: None,
        oidc_issuer: None,
        mcp_allowed_hosts: vec!["127.0.0.1".into(), "localhost".into()],
        mcp_allowed_origins: vec![],
        mcp_session_idle: Duration::from_secs(60),
        max_body_bytes: 256 * 1024,
        request_timeout: Duration::from_secs(30),
        policy_version: "sha256:test".into(),
    };
    let app = moat_http::router(AppState::new(identity, audit, settings).with_oauth(oauth.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(moat_http::serve(listener, app, async {
        let _ = stopped.await;
    }));
    Server {
        url,
        oauth,
        _dir: dir,
        _shutdown: shutdown,
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn form(fields: &[(&str, &str)]) -> String {
    use moat_service::oauth::flow::percent_encode;
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn link(server: &Server) -> String {
    let actor = AdminActor {
        client: "test".into(),
        ..AdminActor::default()
    };
    server
        .oauth
        .sign_in_link(&actor, "dev@example.com")
        .await
        .unwrap()
        .secret
}

/// Signs in through the form; returns the session cookie and the response.
async fn sign_in(
    server: &Server,
    code: &str,
    return_to: &str,
) -> (Option<String>, reqwest::Response) {
    let response = http()
        .post(format!("{}/oauth/sign-in", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("code", code), ("return_to", return_to)]))
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
    (cookie, response)
}

#[tokio::test]
async fn a_registered_name_cannot_inject_markup_into_the_consent_page() {
    let server = start().await;
    let registered: Value = http()
        .post(format!("{}/oauth/register", server.url))
        .json(&serde_json::json!({
            "client_name": "<script>alert(1)</script>\" onmouseover=\"x",
            "redirect_uris": ["http://127.0.0.1/cb"],
            "token_endpoint_auth_method": "client_secret_post"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        registered["token_endpoint_auth_method"], "none",
        "public clients only"
    );
    assert!(registered.get("client_secret").is_none());
    let client_id = registered["client_id"].as_str().unwrap();
    let authorize = format!(
        "{}/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcb&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=s&resource={}%2Fmcp",
        server.url,
        server.url.replace(':', "%3A").replace('/', "%2F")
    );
    let page = http().get(&authorize).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let text = page.text().await.unwrap();
    assert!(text.contains("Sign in to Moat"), "{text}");

    let return_to = authorize.strip_prefix(&server.url).unwrap();
    let (cookie, back) = sign_in(&server, &link(&server).await, return_to).await;
    assert_eq!(back.status(), 303);
    assert_eq!(back.headers()["location"], return_to);
    let cookie = cookie.expect("a session cookie");
    let consent = http()
        .get(&authorize)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(consent.contains("Connect a tool to Moat"), "{consent}");
    assert!(
        !consent.contains("<script>"),
        "markup is escaped: {consent}"
    );
    assert!(consent.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot; onmouseover=&quot;x"));
    assert!(consent.contains("not verified by Moat"));
}

#[tokio::test]
async fn sign_in_goes_back_only_to_an_authorization_request() {
    let server = start().await;
    for elsewhere in [
        "https://evil.example/",
        "//evil.example/oauth/authorize?x",
        "/api/v1/users",
    ] {
        let (cookie, response) = sign_in(&server, &link(&server).await, elsewhere).await;
        assert!(cookie.is_some());
        assert_eq!(response.status(), 200, "{elsewhere}: no redirect");
        assert!(response.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn opening_a_sign_in_link_does_not_spend_it() {
    let server = start().await;
    let code = link(&server).await;
    for _ in 0..3 {
        let preview = http()
            .get(format!("{}/oauth/sign-in?code={code}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(preview.status(), 200);
        assert!(preview.headers().get("set-cookie").is_none());
    }
    let (cookie, response) = sign_in(
        &server,
        &format!("{}/oauth/sign-in?code={code}", server.url),
        "",
    )
    .await;
    assert_eq!(response.status(), 200, "the whole link pasted works");
    assert!(cookie.unwrap().starts_with("moat_session=moat_ss_"));
    let (cookie, response) = sign_in(&server, &code, "").await;
    assert_eq!(response.status(), 401, "once");
    assert!(cookie.is_none());
}

#[tokio::test]
async fn metadata_names_moat_and_refuses_a_forged_host() {
    let server = start().await;
    let metadata: Value = http()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            server.url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], server.url.as_str());
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    let openid: Value = http()
        .get(format!("{}/.well-known/openid-configuration", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openid, metadata);
    let forged = http()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            server.url
        ))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        403,
        "a forged Host is not echoed as the issuer"
    );
    let token = http()
        .post(format!("{}/oauth/token", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "password"),
            ("username", "a"),
            ("password", "b"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 400);
    assert_eq!(token.headers()["cache-control"], "no-store");
    let body: Value = token.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn a_form_posted_from_another_site_signs_no_one_in() {
    let server = start().await;
    let code = link(&server).await;
    for origin in ["https://evil.example", "null", "http://127.0.0.1:1"] {
        let response = http()
            .post(format!("{}/oauth/sign-in", server.url))
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("code", &code), ("return_to", "")]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{origin}");
        assert!(response.headers().get("set-cookie").is_none(), "{origin}");
    }
    // The link was not spent by the refused posts; from Moat's own page it works.
    let response = http()
        .post(format!("{}/oauth/sign-in", server.url))
        .header("origin", &server.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("code", &code), ("return_to", "")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_some());
    let consent = http()
        .post(format!("{}/oauth/authorize", server.url))
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("consent", "moat_cr_x"), ("decision", "allow")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        consent.status(),
        403,
        "consent answers from another site are refused too"
    );
}
