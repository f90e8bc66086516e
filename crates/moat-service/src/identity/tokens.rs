//! Issuing, rotating and revoking tokens.

use super::{Identity, IdentityError, random_id};
use moat_domain::{Scope, Token, TokenId, UserStatus};
use sha2::{Digest, Sha256};

/// What an admin supplies to issue a token.
#[derive(Debug, Clone)]
pub struct IssueToken {
    /// User id or email.
    pub user: String,
    /// What the token is for, e.g. `laptop` or `ci`.
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Lifetime in seconds; default `[identity] token_ttl`.
    pub ttl_seconds: Option<i64>,
}

/// A freshly issued token. `secret` is shown once and never stored.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: Token,
    pub secret: String,
}

pub const SECRET_PREFIX: &str = "moat_";
/// 256 bits of randomness, hex-encoded.
pub const SECRET_HEX_LEN: usize = 64;

pub fn secret_sha256(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn new_secret() -> String {
    let mut raw = [0u8; 32];
    rand::fill(&mut raw);
    format!("{SECRET_PREFIX}{}", hex::encode(raw))
}

impl Identity {
    pub async fn issue_token(&self, request: IssueToken) -> Result<IssuedToken, IdentityError> {
        let user = self.find_user(&request.user).await?;
        if user.status != UserStatus::Active {
            return Err(IdentityError::Conflict(format!(
                "{} is {}; only active users get tokens",
                user.email, user.status
            )));
        }
        let mut scopes = request.scopes;
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(IdentityError::Invalid(
                "a token needs at least one scope: mcp, gateway or admin".into(),
            ));
        }
        if let Some(scope) = scopes.iter().find(|s| !user.may_hold(**s)) {
            // The person's roles, not the request, are what stands in the way.
            return Err(IdentityError::Conflict(format!(
                "{} has none of the admin, security or auditor roles, so cannot hold a token of the `{scope}` scope",
                user.email
            )));
        }
        let ttl = request
            .ttl_seconds
            .unwrap_or(self.settings.token_ttl_seconds);
        if ttl <= 0 || ttl > self.settings.token_max_ttl_seconds {
            return Err(IdentityError::Invalid(format!(
                "a token may live between 1 second and {} days ([identity] token_max_ttl)",
                self.settings.token_max_ttl_seconds / 86_400
            )));
        }
        let name = request.name.trim();
        if name.is_empty() || request.name.chars().count() > 100 {
            return Err(IdentityError::Invalid(
                "the token name must be 1 to 100 characters, e.g. `laptop`".into(),
            ));
        }
        let now = self.clock.now();
        let secret = new_secret();
        let token = Token {
            id: TokenId(random_id("tok_", 8)),
            user_id: user.id,
            name: name.to_string(),
            scopes,
            secret_sha256: secret_sha256(&secret),
            created_at: now,
            expires_at: Some(now.plus_seconds(ttl)),
            last_used_at: None,
            revoked_at: None,
            replaced_by: None,
            oauth: None,
        };
        self.store.insert_token(&token).await?;
        tracing::info!(token = %token.id, user = %token.user_id, "token issued");
        Ok(IssuedToken { token, secret })
    }

    /// OAuth grants (a person's consent to a tool) of one user (id or email), or of
    /// everyone, revoked ones included.
    pub async fn oauth_grants(
        &self,
        user: Option<&str>,
    ) -> Result<Vec<moat_store::OAuthGrant>, IdentityError> {
        let user_id = match user {
            Some(who) => Some(self.find_user(who).await?.id),
            None => None,
        };
        Ok(self.store.oauth_grants(user_id.as_ref()).await?)
    }

    /// Tokens of one user (id or email), or of everyone.
    pub async fn tokens(&self, user: Option<&str>) -> Result<Vec<Token>, IdentityError> {
        let user_id = match user {
            Some(who) => Some(self.find_user(who).await?.id),
            None => None,
        };
        Ok(self.store.tokens(user_id.as_ref()).await?)
    }

    pub async fn revoke_token(&self, id: &str) -> Result<Token, IdentityError> {
        let token = self.require_token(id).await?;
        let token = self.store.revoke_token(&token.id, self.clock.now()).await?;
        tracing::info!(token = %token.id, "token revoked");
        Ok(token)
    }

    /// Issues a replacement with the same user, name, scopes and lifetime; the old token
    /// keeps working for `grace_seconds` (default `[identity] rotation_grace`).
    pub async fn rotate_token(
        &self,
        id: &str,
        grace_seconds: Option<i64>,
    ) -> Result<IssuedToken, IdentityError> {
        let old = self.require_token(id).await?;
        let now = self.clock.now();
        if old.revoked_at.is_some() {
            return Err(IdentityError::Conflict(format!(
                "token {} is revoked; issue a new one with `moat token issue`",
                old.id
            )));
        }
        if old.is_expired_at(now) {
            return Err(IdentityError::Conflict(format!(
                "token {} has expired; issue a new one with `moat token issue`",
                old.id
            )));
        }
        if let Some(next) = &old.replaced_by {
            return Err(IdentityError::Conflict(format!(
                "token {} was already rotated to {next}; rotate that one instead",
                old.id
            )));
        }
        let grace = grace_seconds.unwrap_or(self.settings.rotation_grace_seconds);
        if !(0..=30 * 86_400).contains(&grace) {
            return Err(IdentityError::Invalid(
                "the grace period must be between 0 seconds and 30 days".into(),
            ));
        }
        let lifetime = old
            .expires_at
            .map(|expiry| expiry.0 - old.created_at.0)
            .unwrap_or(self.settings.token_ttl_seconds)
            .clamp(1, self.settings.token_max_ttl_seconds);
        let secret = new_secret();
        let replacement = Token {
            id: TokenId(random_id("tok_", 8)),
            user_id: old.user_id.clone(),
            name: old.name.clone(),
            scopes: old.scopes.clone(),
            secret_sha256: secret_sha256(&secret),
            created_at: now,
            expires_at: Some(now.plus_seconds(lifetime)),
            last_used_at: None,
            revoked_at: None,
            replaced_by: None,
            oauth: None,
        };
        self.store
            .rotate_token(&old.id, &replacement, now.plus_seconds(grace))
            .await?;
        tracing::info!(old = %old.id, new = %replacement.id, grace, "token rotated");
        Ok(IssuedToken {
            token: replacement,
            secret,
        })
    }

    async fn require_token(&self, id: &str) -> Result<Token, IdentityError> {
        self.store
            .token(&TokenId(id.to_string()))
            .await?
            .ok_or_else(|| {
                IdentityError::NotFound(format!(
                    "no token `{id}`; use `moat token list` to see token ids"
                ))
            })
    }
}
