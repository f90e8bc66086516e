//! Sign-in through the company's identity provider (OpenID Connect, code flow with
//! PKCE and a nonce), so people use the account they already have and Moat stores no
//! password. Moat is one confidential client of the provider, with the redirect URI
//! `{public URL}/oauth/idp/callback`.
//!
//! Nothing is kept on the server between the two legs: the `state`, `nonce`, PKCE
//! verifier and where to go back to travel in a short-lived `HttpOnly` cookie of this
//! browser (so any node can finish a sign-in another started). The callback must bring
//! the same `state` (the answer belongs to this browser's request), the code is
//! exchanged with the verifier (it was issued for this request), and the ID token must
//! carry the nonce (it was minted for it), be signed by the provider, be for Moat's
//! client, and name a verified email of an active, trained Moat user.

use super::{OAuthServer, SignInError, events};
use crate::AdminActor;
use crate::identity::OidcVerifier;
use base64::Engine;
use moat_domain::User;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// How long a sign-in at the provider may take.
const PENDING_SECONDS: i64 = 600;

/// Moat's registration at the company's identity provider.
pub struct IdentityProvider {
    pub verifier: Arc<OidcVerifier>,
    pub client_id: String,
    pub client_secret: String,
}

/// What travels in the browser between the two legs.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    return_to: String,
    expires_at: i64,
}

/// Where to send the browser, and the cookie to set first.
#[derive(Debug, Clone)]
pub struct IdpStart {
    pub location: String,
    pub cookie: String,
}

/// What the provider sent back to the callback.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IdpCallback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Why a sign-in through the provider failed. Safe to show the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdpError {
    #[error("sign-in through the identity provider is not configured here")]
    NotConfigured,
    #[error(
        "this sign-in was not started in this browser, or took too long; start again from your tool"
    )]
    NotThisBrowser,
    #[error("the identity provider refused the sign-in: {0}")]
    Provider(String),
    #[error("the identity provider's answer was refused: {0}")]
    BadToken(String),
    #[error(
        "{0} has no Moat account; ask an administrator to provision you (SCIM or `moat user add`)"
    )]
    NoAccount(String),
    #[error(transparent)]
    SignIn(#[from] SignInError),
}

fn random(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::fill(&mut raw[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn encode_pending(pending: &Pending) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(pending).unwrap_or_default())
}

fn decode_pending(cookie: &str) -> Option<Pending> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cookie.trim())
        .ok()?;
    serde_json::from_slice(&raw).ok()
}

impl OAuthServer {
    /// Adds sign-in through the company's identity provider.
    pub fn with_identity_provider(mut self, idp: IdentityProvider) -> OAuthServer {
        self.idp = Some(idp);
        self
    }

    /// Whether people can sign in through the identity provider here.
    pub fn has_identity_provider(&self) -> bool {
        self.idp.is_some()
    }

    /// The redirect to the provider's authorization endpoint, and the cookie that
    /// remembers this request in the browser. `return_to` is an `/oauth/authorize`
    /// request or the console (the caller checks it).
    pub async fn idp_start(&self, base: &str, return_to: &str) -> Result<IdpStart, IdpError> {
        let idp = self.idp.as_ref().ok_or(IdpError::NotConfigured)?;
        let (authorization_endpoint, _, _) = idp.verifier.endpoints().await.map_err(|e| {
            tracing::error!(error = %e, "cannot read the identity provider's discovery document");
            IdpError::SignIn(SignInError::Unavailable)
        })?;
        let pending = Pending {
            state: random(24),
            nonce: random(24),
            verifier: random(48),
            return_to: return_to.to_string(),
            expires_at: self.clock.now().0 + PENDING_SECONDS,
        };
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(pending.verifier.as_bytes()));
        let query = [
            ("response_type", "code"),
            ("client_id", idp.client_id.as_str()),
            ("redirect_uri", &format!("{base}/oauth/idp/callback")),
            ("scope", "openid email profile"),
            ("state", &pending.state),
            ("nonce", &pending.nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}", super::flow::percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
        let separator = if authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(IdpStart {
            location: format!("{authorization_endpoint}{separator}{query}"),
            cookie: encode_pending(&pending),
        })
    }

    /// Finishes a sign-in: checks the answer against this browser's pending request,
    /// exchanges the code, verifies the ID token and finds the person, who may sign in.
    /// Returns the person and where to go back to; the caller starts the session (at
    /// the authorization server, or the console's). Refusals after the provider named
    /// someone are on the record.
    pub async fn idp_finish(
        &self,
        base: &str,
        cookie: Option<&str>,
        answer: &IdpCallback,
        actor: &AdminActor,
    ) -> Result<(User, String), IdpError> {
        let idp = self.idp.as_ref().ok_or(IdpError::NotConfigured)?;
        let pending = cookie
            .and_then(decode_pending)
            .filter(|p| p.expires_at > self.clock.now().0)
            .ok_or(IdpError::NotThisBrowser)?;
        let state = answer.state.as_deref().unwrap_or_default();
        let same_state = state.len() == pending.state.len()
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                state.as_bytes(),
                pending.state.as_bytes(),
            ));
        if !same_state {
            return Err(IdpError::NotThisBrowser);
        }
        if let Some(error) = &answer.error {
            let detail = answer.error_description.as_deref().unwrap_or_default();
            return Err(IdpError::Provider(
                format!("{error} {detail}").trim().to_string(),
            ));
        }
        let code = answer
            .code
            .as_deref()
            .filter(|c| !c.is_empty() && c.len() <= 4096)
            .ok_or_else(|| IdpError::Provider("no authorization code".into()))?;
        let (id_token, access_token, userinfo) = self
            .exchange_at_provider(idp, base, code, &pending.verifier)
            .await?;
        let identity = idp
            .verifier
            .verify_id_token(&id_token, &idp.client_id, &pending.nonce)
            .await
            .map_err(|e| IdpError::BadToken(e.to_string()))?;
        // Providers that issue an access token often keep scope claims for userinfo.
        let email = match (&identity.email, &userinfo, &access_token) {
            (Some(email), _, _) => email.clone(),
            (None, Some(endpoint), Some(access)) => idp
                .verifier
                .userinfo_email(endpoint, access, &identity.subject)
                .await
                .map_err(|e| IdpError::BadToken(e.to_string()))?,
            _ => {
                return Err(IdpError::BadToken(
                    "the identity provider gives no email; Moat's client must be allowed the `email` scope"
                        .into(),
                ));
            }
        };
        let user = self.store.user_by_email(&email).await.map_err(|e| {
            tracing::error!(error = %e, "sign-in lookup failed");
            IdpError::SignIn(SignInError::Unavailable)
        })?;
        let Some(user) = user else {
            events::idp_refused(self, actor, &email, &identity.subject, "no Moat account")
                .await
                .map_err(|_| IdpError::SignIn(SignInError::Unavailable))?;
            return Err(IdpError::NoAccount(email));
        };
        if let Err(refused) = self.may_sign_in(&user) {
            events::idp_refused(self, actor, &email, &identity.subject, &refused.to_string())
                .await
                .map_err(|_| IdpError::SignIn(SignInError::Unavailable))?;
            return Err(refused.into());
        }
        events::signed_in(self, actor, &user, "identity-provider")
            .await
            .map_err(|_| IdpError::SignIn(SignInError::Unavailable))?;
        Ok((user, pending.return_to))
    }

    /// The token request (client_secret_basic, with the PKCE verifier); the ID token.
    async fn exchange_at_provider(
        &self,
        idp: &IdentityProvider,
        base: &str,
        code: &str,
        verifier: &str,
    ) -> Result<(String, Option<String>, Option<String>), IdpError> {
        let (_, token_endpoint, userinfo) = idp.verifier.endpoints().await.map_err(|e| {
            tracing::error!(error = %e, "cannot read the identity provider's discovery document");
            IdpError::SignIn(SignInError::Unavailable)
        })?;
        let redirect_uri = format!("{base}/oauth/idp/callback");
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}", super::flow::percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
        let response = idp
            .verifier
            .http()
            .post(&token_endpoint)
            .basic_auth(
                super::flow::percent_encode(&idp.client_id),
                Some(super::flow::percent_encode(&idp.client_secret)),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form)
            .send()
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "the identity provider's token endpoint cannot be reached");
                IdpError::SignIn(SignInError::Unavailable)
            })?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| IdpError::Provider(format!("unreadable token answer ({e})")))?;
        if !status.is_success() {
            let error = body["error"].as_str().unwrap_or("error");
            let detail = body["error_description"].as_str().unwrap_or_default();
            return Err(IdpError::Provider(
                format!("{error} {detail}").trim().to_string(),
            ));
        }
        let id_token = body["id_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| IdpError::Provider("the token answer has no id_token".into()))?;
        let access_token = body["access_token"].as_str().map(str::to_string);
        Ok((id_token, access_token, userinfo))
    }
}
