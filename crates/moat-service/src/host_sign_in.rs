//! A person links their GitHub login by signing in to GitHub (an OAuth app of the
//! organisation): the login GitHub reports for that sign-in is theirs, so it is linked
//! to them (source `host-sign-in`) — an explicit link, never a guess from the login's
//! looks. The person must already be signed in at Moat (a browser session).
//!
//! The flow is GitHub's web application flow with PKCE: `state`, the verifier and the
//! person travel in a 10-minute `HttpOnly` cookie; the callback must bring the same
//! `state` for the same signed-in person, the code is exchanged with the verifier, and
//! `GET /user` with the token gives the login. The token is used once and not kept.
//! The link is an `access.link` event, durable before it is written; a login another
//! source links to someone else is refused, not taken.

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

/// The organisation's GitHub OAuth app.
#[derive(Debug, Clone)]
pub struct GithubApp {
    /// `https://github.com`, or a GitHub Enterprise Server's base URL.
    pub web_url: String,
    /// `https://api.github.com`, or `https://HOST/api/v3`.
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

#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    state: String,
    verifier: String,
    user: String,
    expires_at: i64,
}

/// Why a host sign-in did not link. Safe to show the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostSignInError {
    #[error("linking a GitHub login by signing in to GitHub is not configured here")]
    NotConfigured,
    #[error("this sign-in was not started in this browser by you, or took too long; start again")]
    NotThisBrowser,
    #[error("GitHub refused the sign-in: {0}")]
    Host(String),
    #[error(
        "the GitHub login {login} is already linked to someone else (by {by}); ask an administrator"
    )]
    Taken { login: String, by: String },
    #[error("the link cannot be made or recorded right now; try again shortly")]
    Unavailable,
}

/// Links GitHub logins to people who sign in to GitHub.
pub struct HostSignIn {
    app: GithubApp,
    store: Arc<dyn Store>,
    writer: Arc<MirrorWriter>,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
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

impl HostSignIn {
    pub fn new(
        app: GithubApp,
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
            app,
            store,
            writer,
            clock,
            http,
        }
    }

    /// Where to send `user`'s browser, and the cookie value that remembers the request.
    pub fn start(&self, user: &User, base: &str) -> (String, String) {
        let pending = Pending {
            state: random(24),
            verifier: random(48),
            user: user.id.0.clone(),
            expires_at: self.clock.now().0 + PENDING_SECONDS,
        };
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(pending.verifier.as_bytes()));
        let location = format!(
            "{}/login/oauth/authorize?{}",
            self.app.web_url.trim_end_matches('/'),
            form(&[
                ("client_id", &self.app.client_id),
                (
                    "redirect_uri",
                    &format!("{base}/oauth/host/github/callback")
                ),
                ("scope", "read:user"),
                ("state", &pending.state),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("allow_signup", "false"),
            ])
        );
        let cookie = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&pending).unwrap_or_default());
        (location, cookie)
    }

    /// Finishes the sign-in of `user` (signed in at Moat in this browser): the login
    /// GitHub names is linked to them. Returns the login.
    pub async fn finish(
        &self,
        user: &User,
        base: &str,
        cookie: Option<&str>,
        code: Option<&str>,
        state: Option<&str>,
        error: Option<&str>,
    ) -> Result<String, HostSignInError> {
        let pending: Pending = cookie
            .and_then(|c| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(c.trim())
                    .ok()
            })
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .filter(|p: &Pending| p.expires_at > self.clock.now().0 && p.user == user.id.0)
            .ok_or(HostSignInError::NotThisBrowser)?;
        let state = state.unwrap_or_default();
        let same = state.len() == pending.state.len()
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                state.as_bytes(),
                pending.state.as_bytes(),
            ));
        if !same {
            return Err(HostSignInError::NotThisBrowser);
        }
        if let Some(error) = error {
            return Err(HostSignInError::Host(error.to_string()));
        }
        let code = code
            .filter(|c| !c.is_empty() && c.len() <= 1024)
            .ok_or_else(|| HostSignInError::Host("no code".into()))?;
        let token = self.exchange(base, code, &pending.verifier).await?;
        let login = self.login(&token).await?.to_lowercase();
        self.link(user, &login).await?;
        Ok(login)
    }

    async fn exchange(
        &self,
        base: &str,
        code: &str,
        verifier: &str,
    ) -> Result<String, HostSignInError> {
        let unavailable = |e: reqwest::Error| {
            tracing::error!(error = %e, "GitHub's token endpoint cannot be reached");
            HostSignInError::Unavailable
        };
        let answer: serde_json::Value = self
            .http
            .post(format!(
                "{}/login/oauth/access_token",
                self.app.web_url.trim_end_matches('/')
            ))
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("client_id", &self.app.client_id),
                ("client_secret", &self.app.client_secret),
                ("code", code),
                (
                    "redirect_uri",
                    &format!("{base}/oauth/host/github/callback"),
                ),
                ("code_verifier", verifier),
            ]))
            .send()
            .await
            .map_err(unavailable)?
            .json()
            .await
            .map_err(|e| HostSignInError::Host(format!("unreadable token answer ({e})")))?;
        // GitHub answers errors with 200 and an `error` field.
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

    async fn login(&self, token: &str) -> Result<String, HostSignInError> {
        let response = self
            .http
            .get(format!("{}/user", self.app.api_url.trim_end_matches('/')))
            .bearer_auth(token)
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "moat")
            .send()
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "GitHub's API cannot be reached");
                HostSignInError::Unavailable
            })?;
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
        user["login"]
            .as_str()
            .filter(|l| !l.is_empty() && l.len() <= 100)
            .map(str::to_string)
            .ok_or_else(|| HostSignInError::Host("GitHub named no login".into()))
    }

    async fn link(&self, user: &User, login: &str) -> Result<(), HostSignInError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "a host sign-in link cannot be made");
            HostSignInError::Unavailable
        };
        let links = self.store.host_links().await.map_err(|e| unavailable(&e))?;
        let existing = links
            .iter()
            .find(|l| l.host == "github" && l.login == login);
        if let Some(other) = existing {
            if other.user == user.id {
                return Ok(());
            }
            if other.source != "host-sign-in" {
                return Err(HostSignInError::Taken {
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
            .record_links("github", "host-sign-in", &[change])
            .await
            .map_err(|e| unavailable(&e))?;
        self.store
            .host_link_set(&HostLink {
                host: "github".into(),
                login: login.to_string(),
                user: user.id.clone(),
                source: "host-sign-in".into(),
                linked_at: self.clock.now(),
            })
            .await
            .map_err(|e| unavailable(&e))?;
        tracing::info!(user = %user.id, login, "GitHub login linked by signing in to GitHub");
        Ok(())
    }
}
