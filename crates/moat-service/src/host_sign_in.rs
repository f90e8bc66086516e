//! A person links their GitHub or GitLab login by signing in to the host (an OAuth app
//! of the organisation there): the login the host reports for that sign-in is theirs,
//! so it is linked to them (source `host-sign-in`) — an explicit link, never a guess
//! from the login's looks. The person must already be signed in at Moat (a browser
//! session).
//!
//! The flow is the host's web application flow with PKCE: `state`, the verifier, the
//! host and the person travel in a 10-minute `HttpOnly` cookie; the callback must bring
//! the same `state` for the same signed-in person, the code is exchanged with the
//! verifier, and `GET /user` with the token gives the login (GitHub's `login`, GitLab's
//! `username`). The token is used once and not kept. The link is an `access.link`
//! event, durable before it is written; a login another source links to someone else
//! is refused, not taken.

use crate::Clock;
use crate::mirror::{LinkChange, MirrorWriter};
use base64::Engine;
use moat_domain::User;
use moat_store::{HostLink, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

const PENDING_SECONDS: i64 = 600;

/// A repository host people can sign in to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    Github,
    Gitlab,
}

impl HostKind {
    pub fn name(self) -> &'static str {
        match self {
            HostKind::Github => "github",
            HostKind::Gitlab => "gitlab",
        }
    }
}

/// The organisation's OAuth app at one host.
#[derive(Debug, Clone)]
pub struct HostApp {
    pub host: HostKind,
    /// `https://github.com`, `https://gitlab.com`, or a self-hosted base URL.
    pub web_url: String,
    /// `https://api.github.com`, `https://gitlab.com/api/v4`, ...
    pub api_url: String,
    pub client_id: String,
    pub client_secret: String,
}

/// The web URL beside a REST API URL: `https://github.com` for `api.github.com`, the
/// host for GitHub Enterprise Server (`https://HOST/api/v3`).
pub fn github_web_url(api_url: &str) -> String {
    let base = api_url.trim_end_matches('/');
    if let Some(host) = base.strip_suffix("/api/v3") {
        return host.to_string();
    }
    match base.strip_prefix("https://api.") {
        Some(rest) => format!("https://{rest}"),
        None => base.to_string(),
    }
}

/// GitLab's web URL beside its API URL (`https://HOST/api/v4` → `https://HOST`).
pub fn gitlab_web_url(api_url: &str) -> String {
    let base = api_url.trim_end_matches('/');
    base.strip_suffix("/api/v4").unwrap_or(base).to_string()
}

#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    host: String,
    state: String,
    verifier: String,
    user: String,
    expires_at: i64,
}

/// Why a host sign-in did not link. Safe to show the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostSignInError {
    #[error("linking a {0} login by signing in to it is not configured here")]
    NotConfigured(String),
    #[error("this sign-in was not started in this browser by you, or took too long; start again")]
    NotThisBrowser,
    #[error("the host refused the sign-in: {0}")]
    Host(String),
    #[error(
        "the {host} login {login} is already linked to someone else (by {by}); ask an administrator"
    )]
    Taken {
        host: &'static str,
        login: String,
        by: String,
    },
    #[error("the link cannot be made or recorded right now; try again shortly")]
    Unavailable,
}

/// Links host logins to people who sign in to the host.
pub struct HostSignIn {
    apps: Vec<HostApp>,
    store: Arc<dyn Store>,
    writer: Arc<MirrorWriter>,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
}

/// What the host sent back to the callback.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HostCallback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

fn random(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::fill(&mut raw[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::oauth::flow::percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn unavailable(error: &dyn std::fmt::Display) -> HostSignInError {
    tracing::error!(%error, "a host sign-in cannot be finished");
    HostSignInError::Unavailable
}

impl HostSignIn {
    pub fn new(
        apps: Vec<HostApp>,
        store: Arc<dyn Store>,
        writer: Arc<MirrorWriter>,
        clock: Arc<dyn Clock>,
    ) -> HostSignIn {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        HostSignIn {
            apps,
            store,
            writer,
            clock,
            http,
        }
    }

    fn app(&self, host: &str) -> Result<&HostApp, HostSignInError> {
        self.apps
            .iter()
            .find(|a| a.host.name() == host)
            .ok_or_else(|| HostSignInError::NotConfigured(host.to_string()))
    }

    /// Where to send `user`'s browser to sign in at `host`, and the cookie value that
    /// remembers the request.
    pub fn start(
        &self,
        host: &str,
        user: &User,
        base: &str,
    ) -> Result<(String, String), HostSignInError> {
        let app = self.app(host)?;
        let pending = Pending {
            host: host.to_string(),
            state: random(24),
            verifier: random(48),
            user: user.id.0.clone(),
            expires_at: self.clock.now().0 + PENDING_SECONDS,
        };
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(pending.verifier.as_bytes()));
        let redirect = format!("{base}/oauth/host/{host}/callback");
        let web = app.web_url.trim_end_matches('/');
        let (path, scope) = match app.host {
            HostKind::Github => ("/login/oauth/authorize", "read:user"),
            HostKind::Gitlab => ("/oauth/authorize", "read_user"),
        };
        let location = format!(
            "{web}{path}?{}",
            form(&[
                ("client_id", &app.client_id),
                ("redirect_uri", &redirect),
                ("response_type", "code"),
                ("scope", scope),
                ("state", &pending.state),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
        );
        let cookie = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&pending).unwrap_or_default());
        Ok((location, cookie))
    }

    /// Finishes the sign-in of `user` (signed in at Moat in this browser) at `host`: the
    /// login the host names is linked to them. Returns the login.
    pub async fn finish(
        &self,
        host: &str,
        user: &User,
        base: &str,
        cookie: Option<&str>,
        answer: &HostCallback,
    ) -> Result<String, HostSignInError> {
        let app = self.app(host)?;
        let pending: Pending = cookie
            .and_then(|c| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(c.trim())
                    .ok()
            })
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .filter(|p: &Pending| {
                p.expires_at > self.clock.now().0 && p.user == user.id.0 && p.host == host
            })
            .ok_or(HostSignInError::NotThisBrowser)?;
        let state = answer.state.as_deref().unwrap_or_default();
        let same = state.len() == pending.state.len()
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                state.as_bytes(),
                pending.state.as_bytes(),
            ));
        if !same {
            return Err(HostSignInError::NotThisBrowser);
        }
        if let Some(error) = &answer.error {
            return Err(HostSignInError::Host(error.clone()));
        }
        let code = answer
            .code
            .as_deref()
            .filter(|c| !c.is_empty() && c.len() <= 1024)
            .ok_or_else(|| HostSignInError::Host("no code".into()))?;
        let token = self.exchange(app, base, code, &pending.verifier).await?;
        let login = self.login(app, &token).await?.to_lowercase();
        self.link(app.host, user, &login).await?;
        Ok(login)
    }

    /// The code for a token: GitHub's `/login/oauth/access_token` (errors come as 200
    /// with an `error` field) or GitLab's `/oauth/token` (errors as 4xx with one).
    async fn exchange(
        &self,
        app: &HostApp,
        base: &str,
        code: &str,
        verifier: &str,
    ) -> Result<String, HostSignInError> {
        let web = app.web_url.trim_end_matches('/');
        let endpoint = match app.host {
            HostKind::Github => format!("{web}/login/oauth/access_token"),
            HostKind::Gitlab => format!("{web}/oauth/token"),
        };
        let redirect = format!("{base}/oauth/host/{}/callback", app.host.name());
        let answer: serde_json::Value = self
            .http
            .post(endpoint)
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("client_id", &app.client_id),
                ("client_secret", &app.client_secret),
                ("code", code),
                ("grant_type", "authorization_code"),
                ("redirect_uri", &redirect),
                ("code_verifier", verifier),
            ]))
            .send()
            .await
            .map_err(|e| unavailable(&e))?
            .json()
            .await
            .map_err(|e| HostSignInError::Host(format!("unreadable token answer ({e})")))?;
        if let Some(error) = answer["error"].as_str() {
            let detail = answer["error_description"].as_str().unwrap_or_default();
            return Err(HostSignInError::Host(
                format!("{error} {detail}").trim().to_string(),
            ));
        }
        answer["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| HostSignInError::Host("the token answer has no access_token".into()))
    }

    async fn login(&self, app: &HostApp, token: &str) -> Result<String, HostSignInError> {
        let response = self
            .http
            .get(format!("{}/user", app.api_url.trim_end_matches('/')))
            .bearer_auth(token)
            .header("accept", "application/json")
            .header("user-agent", "moat")
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        if !response.status().is_success() {
            return Err(HostSignInError::Host(format!(
                "GET /user answered {}",
                response.status()
            )));
        }
        let user: serde_json::Value = response
            .json()
            .await
            .map_err(|e| HostSignInError::Host(format!("unreadable /user answer ({e})")))?;
        let field = match app.host {
            HostKind::Github => "login",
            HostKind::Gitlab => "username",
        };
        user[field]
            .as_str()
            .filter(|l| !l.is_empty() && l.len() <= 100)
            .map(str::to_string)
            .ok_or_else(|| HostSignInError::Host("the host named no login".into()))
    }

    async fn link(&self, host: HostKind, user: &User, login: &str) -> Result<(), HostSignInError> {
        let name = host.name();
        let links = self.store.host_links().await.map_err(|e| unavailable(&e))?;
        let existing = links.iter().find(|l| l.host == name && l.login == login);
        if let Some(other) = existing {
            if other.user == user.id {
                return Ok(());
            }
            if other.source != "host-sign-in" {
                return Err(HostSignInError::Taken {
                    host: name,
                    login: login.to_string(),
                    by: other.source.clone(),
                });
            }
        }
        let change = LinkChange {
            login: login.to_string(),
            before: existing.map(|l| l.user.0.clone()),
            after: Some(user.id.0.clone()),
        };
        self.writer
            .record_links(name, "host-sign-in", &[change])
            .await
            .map_err(|e| unavailable(&e))?;
        self.store
            .host_link_set(&HostLink {
                host: name.into(),
                login: login.to_string(),
                user: user.id.clone(),
                source: "host-sign-in".into(),
                linked_at: self.clock.now(),
            })
            .await
            .map_err(|e| unavailable(&e))?;
        tracing::info!(user = %user.id, host = name, login, "host login linked by signing in to the host");
        Ok(())
    }
}
