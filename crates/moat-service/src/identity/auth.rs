//! The token check on every request. It fails closed: when the store cannot answer, the
//! request is refused.

use super::Identity;
use super::tokens::{SECRET_HEX_LEN, SECRET_PREFIX, secret_sha256};
use moat_domain::{Scope, TokenId, User, UserStatus};

/// `last_used_at` is written at most once a minute per token, keeping the check read-only.
const LAST_USED_COARSENESS_SECONDS: i64 = 60;

/// Who is calling, established from a valid token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub token_id: TokenId,
    pub scopes: Vec<Scope>,
}

/// Why a credential was refused. The messages are safe to show the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credential: send `Authorization: Bearer moat_...` or `x-api-key: moat_...`")]
    Missing,
    #[error("the credential is not a Moat token (they start with `moat_`); ask an admin for one")]
    Malformed,
    #[error("unknown token; ask an admin to issue one with `moat token issue`")]
    Unknown,
    #[error("token {0} has been revoked; ask an admin for a new one")]
    Revoked(TokenId),
    #[error("token {0} has expired; ask an admin for a new one")]
    Expired(TokenId),
    #[error("token {0} was rotated and its grace period has ended; use its replacement")]
    RotatedAway(TokenId),
    #[error("your account is {0}; ask an admin to restore access")]
    UserInactive(UserStatus, moat_domain::UserId),
    #[error("this endpoint needs a token with the `{required}` scope; ask an admin to issue one")]
    InsufficientScope { required: Scope },
    #[error(
        "a token of the `{0}` scope needs the admin, security or auditor role; ask an admin to grant one"
    )]
    MissingRole(Scope),
    #[error("credentials cannot be checked right now; try again shortly")]
    Unavailable,
    #[error(
        "token {token} was issued for {path} only; sign in for this resource to get a token for it"
    )]
    WrongAudience { token: TokenId, path: &'static str },
    #[error("the identity provider's token was refused: {0}")]
    InvalidJwt(String),
    #[error(
        "{0} has no active Moat account; ask an admin to provision it (SCIM or `moat user add`)"
    )]
    NoAccount(String),
}

/// A refused authentication as the refusal counter takes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Refused {
    /// A short code such as `revoked_token`.
    pub reason: &'static str,
    pub subject: Option<RefusedSubject>,
}

impl Refused {
    /// A refusal of no recognised credential.
    pub fn because(reason: &'static str) -> Refused {
        Refused {
            reason,
            subject: None,
        }
    }
}

/// Whose credential was refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RefusedSubject {
    Token(String),
    User(String),
}

impl AuthError {
    /// A short name for why, as refused authentications are counted on the record
    /// (`auth.refused`); `None` when nothing was refused (the check could not run).
    pub fn refusal_reason(&self) -> Option<&'static str> {
        Some(match self {
            AuthError::Missing => "missing_credential",
            AuthError::Malformed => "malformed_credential",
            AuthError::Unknown => "unknown_token",
            AuthError::Revoked(_) => "revoked_token",
            AuthError::Expired(_) => "expired_token",
            AuthError::RotatedAway(_) => "rotated_token",
            AuthError::UserInactive(..) => "inactive_user",
            AuthError::InsufficientScope { .. } => "insufficient_scope",
            AuthError::MissingRole(_) => "missing_role",
            AuthError::WrongAudience { .. } => "wrong_audience",
            AuthError::InvalidJwt(_) => "invalid_jwt",
            AuthError::NoAccount(_) => "no_account",
            AuthError::Unavailable => return None,
        })
    }

    /// A refusal as it is counted on the record: why, and whose credential it was
    /// when it was recognised (a revoked or expired token, an inactive account), so
    /// that the first refusal after someone leaves is theirs.
    pub fn refusal(&self) -> Option<Refused> {
        let subject = match self {
            AuthError::Revoked(token)
            | AuthError::Expired(token)
            | AuthError::RotatedAway(token)
            | AuthError::WrongAudience { token, .. } => {
                Some(RefusedSubject::Token(token.0.clone()))
            }
            AuthError::UserInactive(_, user) => Some(RefusedSubject::User(user.0.clone())),
            _ => None,
        };
        Some(Refused {
            reason: self.refusal_reason()?,
            subject,
        })
    }

    /// True when the caller is known but not allowed (HTTP 403) rather than not
    /// authenticated (HTTP 401).
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            AuthError::UserInactive(..)
                | AuthError::InsufficientScope { .. }
                | AuthError::MissingRole(_)
                | AuthError::NoAccount(_)
        )
    }
}

impl Identity {
    /// Checks a presented secret and that it carries `required`.
    pub async fn authenticate(
        &self,
        secret: &str,
        required: Scope,
    ) -> Result<Principal, AuthError> {
        self.check_secret(secret, Some(required)).await
    }

    /// Checks a presented secret whatever its scopes (for "who am I").
    pub async fn identify(&self, secret: &str) -> Result<Principal, AuthError> {
        self.check_secret(secret, None).await
    }

    async fn check_secret(
        &self,
        secret: &str,
        required: Option<Scope>,
    ) -> Result<Principal, AuthError> {
        if !secret.starts_with(SECRET_PREFIX)
            && let Some(oidc) = &self.oidc
            && super::looks_like_jwt(secret)
        {
            return self.check_jwt(oidc, secret, required).await;
        }
        let well_formed = secret.len() == SECRET_PREFIX.len() + SECRET_HEX_LEN
            && secret.starts_with(SECRET_PREFIX)
            && secret[SECRET_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return Err(AuthError::Malformed);
        }
        let credential = self
            .store
            .credential_by_secret_hash(&secret_sha256(secret))
            .await
            .map_err(|error| {
                tracing::error!(%error, "token lookup failed; refusing the request");
                AuthError::Unavailable
            })?
            .ok_or(AuthError::Unknown)?;
        let token = credential.token;
        let now = self.clock.now();
        if token.revoked_at.is_some() {
            return Err(AuthError::Revoked(token.id));
        }
        if token.is_expired_at(now) {
            return Err(match token.replaced_by {
                Some(_) => AuthError::RotatedAway(token.id),
                None => AuthError::Expired(token.id),
            });
        }
        if credential.user.status != UserStatus::Active {
            return Err(AuthError::UserInactive(
                credential.user.status,
                credential.user.id.clone(),
            ));
        }
        // An OAuth token is for one resource (RFC 8707): anywhere else it is refused,
        // whatever its scopes, and so is a "who am I" that names no resource.
        if let Some(binding) = &token.oauth
            && required != Some(binding.audience.scope())
        {
            return Err(AuthError::WrongAudience {
                token: token.id,
                path: binding.audience.path(),
            });
        }
        if let Some(required) = required {
            if !token.has_scope(required) {
                return Err(AuthError::InsufficientScope { required });
            }
            // Losing the roles that hold it disables an admin token at once.
            if !credential.user.may_hold(required) {
                return Err(AuthError::MissingRole(required));
            }
        }
        if let Err(error) = self
            .store
            .touch_token(&token.id, now, LAST_USED_COARSENESS_SECONDS)
            .await
        {
            tracing::warn!(%error, token = %token.id, "could not record token use");
        }
        Ok(Principal {
            user: credential.user,
            token_id: token.id,
            scopes: token.scopes,
        })
    }
}

impl Identity {
    /// A JWT from the identity provider: verified, then mapped to the Moat user with its
    /// email. The user must exist and be active here (provisioned by SCIM or an admin),
    /// so offboarding in Moat takes effect even while the provider's token is valid.
    /// Scopes come from the token's `scope`/`scp`; admin also needs the admin role.
    async fn check_jwt(
        &self,
        oidc: &super::OidcVerifier,
        jwt: &str,
        required: Option<Scope>,
    ) -> Result<Principal, AuthError> {
        let identity = oidc.verify(jwt).await?;
        let email = identity.email.clone().ok_or_else(|| {
            AuthError::InvalidJwt(
                "the token carries no email (claims email, upn or preferred_username)".into(),
            )
        })?;
        let user = self
            .store
            .user_by_email(&email)
            .await
            .map_err(|error| {
                tracing::error!(%error, "user lookup failed; refusing the request");
                AuthError::Unavailable
            })?
            .ok_or_else(|| AuthError::NoAccount(email.clone()))?;
        if user.status != UserStatus::Active {
            return Err(AuthError::UserInactive(user.status, user.id.clone()));
        }
        let scopes: Vec<Scope> = identity
            .scopes
            .iter()
            .filter_map(|s| s.parse::<Scope>().ok())
            .collect();
        if let Some(required) = required {
            if !scopes.contains(&required) {
                return Err(AuthError::InsufficientScope { required });
            }
            if !user.may_hold(required) {
                return Err(AuthError::MissingRole(required));
            }
        }
        for (host, login) in &identity.host_logins {
            self.link_from_provider(&user, host, login).await;
        }
        // The audit log names the provider's token by its `jti`, else by a hash.
        let id = identity.token_id.unwrap_or_else(|| {
            use sha2::Digest;
            hex::encode(&sha2::Sha256::digest(jwt.as_bytes())[..8])
        });
        if let Some(hook) = self.sign_in.get() {
            hook.clone().signed_in(&user, &id);
        }
        Ok(Principal {
            user,
            token_id: TokenId(format!("oidc:{id}")),
            scopes,
        })
    }
}

impl Identity {
    /// Links `host`/`login` to `user` as the identity provider's claim says (source
    /// `idp`), once per process for each triple. A login already linked to someone else
    /// by another source (SAML, SCIM, a sign-in to the host) is left as it is: sources
    /// do not take logins from each other, and the conflict is logged for an admin.
    /// Failing to link never fails the request; the login just stays unlinked.
    async fn link_from_provider(&self, user: &User, host: &str, login: &str) {
        let key = (user.id.0.clone(), host.to_string(), login.to_string());
        if self.linked.lock().is_ok_and(|linked| linked.contains(&key)) {
            return;
        }
        let existing = match self.store.host_links().await {
            Ok(links) => links
                .into_iter()
                .find(|l| l.host == host && l.login.eq_ignore_ascii_case(login)),
            Err(error) => {
                tracing::warn!(%error, "cannot read host links; the provider's login claim is not linked now");
                return;
            }
        };
        if let Some(other) = &existing
            && other.user != user.id
            && other.source != "idp"
        {
            tracing::warn!(host, login, user = %user.email, linked_to = %other.user, source = %other.source,
                "the identity provider names a login already linked to someone else; left unchanged");
            return;
        }
        let link = moat_store::HostLink {
            host: host.to_string(),
            login: login.to_lowercase(),
            user: user.id.clone(),
            source: "idp".into(),
            linked_at: self.clock.now(),
        };
        let before = existing.map(|l| l.user.0);
        if before.as_deref() != Some(user.id.0.as_str()) {
            let Some(writer) = self.links.get() else {
                tracing::warn!(
                    host,
                    login,
                    "no audit log to record a login link on; not linked"
                );
                return;
            };
            let change = crate::mirror::LinkChange {
                login: link.login.clone(),
                before,
                after: Some(user.id.0.clone()),
            };
            if let Err(error) = writer.record_links(host, "idp", &[change]).await {
                tracing::warn!(%error, host, login, "the link could not be recorded; not linked");
                return;
            }
        }
        match self.store.host_link_set(&link).await {
            Ok(_) => {
                if let Ok(mut linked) = self.linked.lock() {
                    linked.insert(key);
                }
            }
            Err(error) => tracing::warn!(%error, host, login, "could not link a host login"),
        }
    }
}
