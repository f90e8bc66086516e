//! The token endpoint: a code exchanged once, by the same client, with the same
//! redirect URI and the PKCE verifier (a second use revokes the grant); a refresh token
//! replaced on every use (a replaced one presented again revokes the grant: someone
//! else holds a copy); revocation of grants and tokens.

use super::flow::{CodeData, REFRESH_PREFIX, RefreshData, audience_of};
use super::{OAuthServer, events, new_id, new_secret, sha256};
use crate::AdminActor;
use base64::Engine;
use moat_domain::{OAuthBinding, Token, TokenId, UserStatus};
use moat_store::{GrantsOf, OAuthGrant, OAuthSecret, SecretKind, StoreError};
use serde::{Deserialize, Serialize};

/// `POST /token`, as received (form fields).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenGrant {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub client_id: Option<String>,
    pub refresh_token: Option<String>,
    pub resource: Option<String>,
    pub scope: Option<String>,
}

/// A token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub scope: String,
    /// The grant, for the audit trail and `moat token list`.
    #[serde(skip)]
    pub grant: String,
}

/// Why a token request was refused (RFC 6749 §5.2 codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    InvalidClient(String),
    #[error("{0}")]
    UnsupportedGrantType(String),
    #[error("{0}")]
    InvalidTarget(String),
    #[error("{0}")]
    Unavailable(String),
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidRequest(_) => "invalid_request",
            TokenError::InvalidGrant(_) => "invalid_grant",
            TokenError::InvalidClient(_) => "invalid_client",
            TokenError::UnsupportedGrantType(_) => "unsupported_grant_type",
            TokenError::InvalidTarget(_) => "invalid_target",
            TokenError::Unavailable(_) => "server_error",
        }
    }
}

fn unavailable(error: impl std::fmt::Display) -> TokenError {
    tracing::error!(%error, "OAuth token request failed");
    TokenError::Unavailable("the authorization server cannot answer right now; try again".into())
}

impl OAuthServer {
    /// Steps 4 and 5: `POST /token`.
    pub async fn exchange(
        &self,
        request: TokenGrant,
        base_url: &str,
        actor: &AdminActor,
    ) -> Result<Tokens, TokenError> {
        match request.grant_type.as_deref() {
            Some("authorization_code") => self.exchange_code(request, base_url, actor).await,
            Some("refresh_token") => self.refresh(request, base_url, actor).await,
            Some(other) => Err(TokenError::UnsupportedGrantType(format!(
                "grant_type `{}` is not supported; use authorization_code or refresh_token",
                other.chars().take(60).collect::<String>()
            ))),
            None => Err(TokenError::InvalidRequest("grant_type is required".into())),
        }
    }

    async fn exchange_code(
        &self,
        request: TokenGrant,
        base_url: &str,
        actor: &AdminActor,
    ) -> Result<Tokens, TokenError> {
        let code = request
            .code
            .clone()
            .ok_or_else(|| TokenError::InvalidRequest("code is required".into()))?;
        let hash = sha256(&code);
        let found = self.presented(SecretKind::Code, &hash, actor).await?;
        // Any attempt with a code spends it, a malformed one included.
        let data = match check_code(&found, &request, base_url, self.clock.now()) {
            Ok(data) => data,
            Err(refused) => return Err(self.spend(SecretKind::Code, &hash, refused).await),
        };
        let grant = found.grant.unwrap_or_default();
        self.issue(
            &grant,
            (SecretKind::Code, &hash),
            &data.client_id,
            &data.resource,
            actor,
        )
        .await
    }

    async fn refresh(
        &self,
        request: TokenGrant,
        base_url: &str,
        actor: &AdminActor,
    ) -> Result<Tokens, TokenError> {
        let presented = request
            .refresh_token
            .clone()
            .ok_or_else(|| TokenError::InvalidRequest("refresh_token is required".into()))?;
        let hash = sha256(&presented);
        let found = self.presented(SecretKind::Refresh, &hash, actor).await?;
        let data = match check_refresh(&found, &request, base_url, self.clock.now()) {
            Ok(data) => data,
            Err(refused) => return Err(self.spend(SecretKind::Refresh, &hash, refused).await),
        };
        let grant = found.grant.unwrap_or_default();
        self.issue(
            &grant,
            (SecretKind::Refresh, &hash),
            &data.client_id,
            &data.resource,
            actor,
        )
        .await
    }

    /// The code or refresh token presented, read without spending it (the spend is in
    /// the transaction that issues). One already spent was copied: its grant is revoked.
    async fn presented(
        &self,
        kind: SecretKind,
        hash: &[u8; 32],
        actor: &AdminActor,
    ) -> Result<OAuthSecret, TokenError> {
        let found = self
            .store
            .oauth_secret(kind, hash)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| match kind {
                SecretKind::Code => TokenError::InvalidGrant("unknown authorization code".into()),
                _ => TokenError::InvalidGrant(
                    "unknown or revoked refresh token; sign in again".into(),
                ),
            })?;
        if found.used_at.is_some() {
            return Err(self.reused(kind, found.grant.as_deref(), actor).await);
        }
        Ok(found)
    }

    /// A code or refresh token used twice was stolen or replayed: ends the grant, with
    /// what the first use issued.
    async fn reused(
        &self,
        kind: SecretKind,
        grant: Option<&str>,
        actor: &AdminActor,
    ) -> TokenError {
        let (reason, message) = match kind {
            SecretKind::Code => (
                "authorization code reused",
                "this authorization code was already used; the grant it made is revoked",
            ),
            _ => (
                "refresh token reused",
                "this refresh token was already used, so a copy of it is in other hands; the whole grant is revoked: sign in again",
            ),
        };
        if let Err(error) = self
            .revoke_grant_for(grant.unwrap_or_default(), reason, actor)
            .await
        {
            return error;
        }
        TokenError::InvalidGrant(message.into())
    }

    /// Spends a secret a refused request presented, and returns the refusal.
    async fn spend(&self, kind: SecretKind, hash: &[u8; 32], refused: TokenError) -> TokenError {
        match self
            .store
            .oauth_secret_take(kind, hash, self.clock.now())
            .await
        {
            Ok(_) => refused,
            Err(error) => unavailable(error),
        }
    }

    /// A new access token and refresh token under a live grant of an active person,
    /// on the record before they are returned.
    async fn issue(
        &self,
        grant_id: &str,
        spend: (SecretKind, &[u8; 32]),
        client_id: &str,
        resource: &str,
        actor: &AdminActor,
    ) -> Result<Tokens, TokenError> {
        let how = match spend.0 {
            SecretKind::Code => "code",
            _ => "refresh",
        };
        let grant = self
            .store
            .oauth_grant(grant_id)
            .await
            .map_err(unavailable)?
            .filter(|g| g.revoked_at.is_none())
            .ok_or_else(|| TokenError::InvalidGrant("the grant has been revoked".into()))?;
        let user = self
            .store
            .user(&grant.user)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| TokenError::InvalidGrant("the person no longer exists".into()))?;
        if user.status != UserStatus::Active {
            return Err(TokenError::InvalidGrant(format!(
                "{} is {}; no tokens are issued",
                user.email, user.status
            )));
        }
        let now = self.clock.now();
        let access = new_secret(crate::identity::SECRET_PREFIX);
        let token = Token {
            id: TokenId(new_id("tok_")),
            user_id: user.id.clone(),
            name: format!("oauth: {}", grant.client_name),
            scopes: grant.scopes.clone(),
            secret_sha256: sha256(&access),
            created_at: now,
            expires_at: Some(now.plus_seconds(self.settings.access_ttl_seconds)),
            last_used_at: None,
            revoked_at: None,
            replaced_by: None,
            oauth: Some(OAuthBinding {
                grant: grant.id.clone(),
                audience: grant.audience,
            }),
        };
        let refresh = new_secret(REFRESH_PREFIX);
        let refresh_row = OAuthSecret {
            sha256: sha256(&refresh),
            kind: SecretKind::Refresh,
            user: user.id.clone(),
            grant: Some(grant.id.clone()),
            data: serde_json::to_string(&RefreshData {
                client_id: client_id.to_string(),
                resource: resource.to_string(),
            })
            .map_err(unavailable)?,
            created_at: now,
            expires_at: now.plus_seconds(self.settings.refresh_ttl_seconds),
            used_at: None,
        };
        // One transaction spends what was presented and stores the new tokens; the
        // record follows, and the tokens are handed out only once it is durable. Not
        // recorded, they are revoked: their secrets were never shown to anyone.
        let issued = self
            .store
            .oauth_issue(Some(spend), now, &token, &refresh_row)
            .await
            .map_err(|error| match error {
                StoreError::NotFound { .. } => {
                    TokenError::InvalidGrant("the grant has been revoked".into())
                }
                other => unavailable(other),
            })?;
        if !issued {
            // Spent between our read and our write: a concurrent use of the same secret.
            return Err(self.reused(spend.0, Some(grant_id), actor).await);
        }
        if let Err(error) = events::token_issued(self, actor, &user, &grant, &token, how).await {
            if let Err(revoke) = self.store.revoke_token(&token.id, now).await {
                tracing::error!(%revoke, token = %token.id, "an unrecorded OAuth token could not be revoked; its secret was never shown");
            }
            return Err(unavailable(error));
        }
        Ok(Tokens {
            access_token: access,
            token_type: "Bearer",
            expires_in: self.settings.access_ttl_seconds,
            refresh_token: refresh,
            scope: grant
                .scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            grant: grant.id,
        })
    }

    async fn revoke_grant_for(
        &self,
        grant_id: &str,
        reason: &str,
        actor: &AdminActor,
    ) -> Result<(), TokenError> {
        let grant = self
            .store
            .oauth_grant(grant_id)
            .await
            .map_err(unavailable)?;
        events::grant_revoked(self, actor, grant.as_ref(), grant_id, reason)
            .await
            .map_err(unavailable)?;
        self.store
            .oauth_revoke_grants(GrantsOf::Grant(grant_id), self.clock.now(), reason)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Revokes one grant (an administrator, or the person through their tool), with
    /// its tokens; on the record first.
    pub async fn revoke_grant(
        &self,
        actor: &AdminActor,
        grant_id: &str,
    ) -> Result<bool, TokenError> {
        let Some(grant) = self
            .store
            .oauth_grant(grant_id)
            .await
            .map_err(unavailable)?
        else {
            return Ok(false);
        };
        if grant.revoked_at.is_some() {
            return Ok(false);
        }
        self.revoke_grant_for(grant_id, "revoked", actor).await?;
        Ok(true)
    }

    /// RFC 7009: revokes the grant a refresh token or access token belongs to, if the
    /// client presenting it is the one it was issued to. Unknown tokens are not an
    /// error (the answer is the same either way).
    pub async fn revoke_token(
        &self,
        presented: &str,
        client_id: Option<&str>,
        actor: &AdminActor,
    ) -> Result<(), TokenError> {
        let hash = sha256(presented);
        let grant = if let Some(refresh) = self
            .store
            .oauth_secret(SecretKind::Refresh, &hash)
            .await
            .map_err(unavailable)?
        {
            let data: RefreshData = serde_json::from_str(&refresh.data).map_err(unavailable)?;
            if client_id != Some(data.client_id.as_str()) {
                return Ok(());
            }
            refresh.grant
        } else {
            match self
                .store
                .credential_by_secret_hash(&hash)
                .await
                .map_err(unavailable)?
            {
                Some(credential) => match credential.token.oauth {
                    Some(binding) => {
                        let grant = self
                            .store
                            .oauth_grant(&binding.grant)
                            .await
                            .map_err(unavailable)?;
                        grant
                            .filter(|g| client_id == Some(g.client_id.as_str()))
                            .map(|g| g.id)
                    }
                    None => None,
                },
                None => None,
            }
        };
        if let Some(grant) = grant {
            self.revoke_grant(actor, &grant).await?;
        }
        Ok(())
    }

    /// Grants of one person, or of everyone.
    pub async fn grants(
        &self,
        user: Option<&moat_domain::UserId>,
    ) -> Result<Vec<OAuthGrant>, StoreError> {
        self.store.oauth_grants(user).await
    }
}

/// Whether a found code may be exchanged by this request.
fn check_code(
    found: &OAuthSecret,
    request: &TokenGrant,
    base_url: &str,
    now: moat_domain::UnixTime,
) -> Result<CodeData, TokenError> {
    let client_id = request
        .client_id
        .as_deref()
        .ok_or_else(|| TokenError::InvalidClient("client_id is required".into()))?;
    let verifier = request
        .code_verifier
        .as_deref()
        .ok_or_else(|| TokenError::InvalidRequest("code_verifier is required (PKCE)".into()))?;
    if found.expires_at <= now {
        return Err(TokenError::InvalidGrant(
            "the authorization code has expired; start again".into(),
        ));
    }
    let data: CodeData = serde_json::from_str(&found.data).map_err(unavailable)?;
    if data.client_id != client_id {
        return Err(TokenError::InvalidGrant(
            "the code was issued to another client".into(),
        ));
    }
    if request.redirect_uri.as_deref() != Some(data.redirect_uri.as_str()) {
        return Err(TokenError::InvalidGrant(
            "redirect_uri differs from the one the code was issued for".into(),
        ));
    }
    if !pkce_matches(verifier, &data.code_challenge) {
        return Err(TokenError::InvalidGrant(
            "code_verifier does not match the code_challenge".into(),
        ));
    }
    check_resource(request.resource.as_deref(), &data.resource, base_url)?;
    Ok(data)
}

/// Whether a found refresh token may be used by this request.
fn check_refresh(
    found: &OAuthSecret,
    request: &TokenGrant,
    base_url: &str,
    now: moat_domain::UnixTime,
) -> Result<RefreshData, TokenError> {
    if found.expires_at <= now {
        return Err(TokenError::InvalidGrant(
            "the refresh token has expired; sign in again".into(),
        ));
    }
    let data: RefreshData = serde_json::from_str(&found.data).map_err(unavailable)?;
    if request.client_id.as_deref() != Some(data.client_id.as_str()) {
        return Err(TokenError::InvalidGrant(
            "the refresh token was issued to another client".into(),
        ));
    }
    check_resource(request.resource.as_deref(), &data.resource, base_url)?;
    Ok(data)
}

fn check_resource(given: Option<&str>, bound: &str, base_url: &str) -> Result<(), TokenError> {
    let Some(given) = given else {
        return Ok(());
    };
    let same = audience_of(given, base_url).is_some()
        && audience_of(given, base_url) == audience_of(bound, base_url);
    if same {
        Ok(())
    } else {
        Err(TokenError::InvalidTarget(format!(
            "this grant is for {bound} only; a token for another resource needs its own sign-in"
        )))
    }
}

fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    use sha2::Digest;
    if !(43..=128).contains(&verifier.len())
        || !verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        return false;
    }
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    computed == challenge
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_is_s256_of_the_verifier() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(challenge, challenge));
        assert!(!pkce_matches("short", challenge));
    }
}
