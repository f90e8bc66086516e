//! The authorization code flow with PKCE, and refresh with rotation.
//!
//! 1. [`OAuthServer::check_request`]: the client and redirect URI are known (else the
//!    error is shown to the person, never sent to an unchecked URI); PKCE is S256; the
//!    resource is this server's `/mcp` or `/v1` (RFC 8707, required); scopes fit it.
//! 2. [`OAuthServer::ask_consent`] keeps the checked request for the signed-in person
//!    under a one-time secret the consent form posts back (which also stops a forged
//!    form: another site cannot know it).
//! 3. [`OAuthServer::decide`]: on consent, a grant and a one-minute code; the redirect
//!    carries `code`, `state` and `iss` (RFC 9207).
//! 4. [`OAuthServer::exchange`] (`token.rs`): the code once, by the same client, with the same
//!    redirect URI and the PKCE verifier; a second use revokes the grant.
//! 5. [`OAuthServer::exchange`] with a refresh token: replaced on every use; a replaced
//!    one presented again revokes the grant (someone else holds a copy).

use super::{Client, OAuthServer, events, new_id, new_secret, sha256};
use crate::AdminActor;
use moat_domain::{Audience, Scope, User};
use moat_store::{OAuthGrant, OAuthSecret, SecretKind, StoreError};
use serde::{Deserialize, Serialize};

/// Prefix of refresh tokens (access tokens are ordinary `moat_` tokens).
pub const REFRESH_PREFIX: &str = "moat_rt_";
/// Prefix of authorization codes.
const CODE_PREFIX: &str = "moat_ac_";
/// Prefix of consent request ids.
const CONSENT_PREFIX: &str = "moat_cr_";
/// How long a consent page stays valid.
const CONSENT_TTL_SECONDS: i64 = 600;

/// The query of `GET /authorize`, as received.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeRequest {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub state: Option<String>,
    pub scope: Option<String>,
    pub resource: Option<String>,
}

/// Why an authorization request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show this to the person, do not
    /// redirect.
    Show(String),
    /// Send the person back to the client with `error`, `error_description`, `state`
    /// and `iss`.
    Redirect {
        redirect_uri: String,
        error: &'static str,
        description: String,
        state: Option<String>,
    },
    /// The store or the audit log cannot answer.
    Unavailable(String),
}

/// A checked request waiting for consent, as the consent page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub client: Client,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub state: Option<String>,
    pub scopes: Vec<Scope>,
    pub audience: Audience,
    pub resource: String,
}

/// What a code stands for (stored with it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CodeData {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) code_challenge: String,
    pub(super) resource: String,
}

/// What a refresh token stands for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct RefreshData {
    pub(super) client_id: String,
    pub(super) resource: String,
}

/// Scope values clients commonly add that grant nothing here and are ignored.
const IGNORED_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

impl OAuthServer {
    /// Step 1: checks an authorization request against `base_url`, the public URL.
    pub async fn check_request(
        &self,
        request: AuthorizeRequest,
        base_url: &str,
    ) -> Result<Consent, AuthorizeError> {
        let client_id = request
            .client_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                AuthorizeError::Show("the request names no client (client_id)".into())
            })?;
        let configured = self
            .client(client_id)
            .await
            .map_err(|e| AuthorizeError::Unavailable(e.to_string()))?;
        let described = match configured {
            None if self.settings.metadata_documents
                && super::metadata_document::is_document_url(client_id) =>
            {
                Some(
                    self.documents
                        .client(client_id)
                        .await
                        .map_err(|e| AuthorizeError::Show(e.to_string()))?,
                )
            }
            other => other,
        };
        let client = described.ok_or_else(|| {
            AuthorizeError::Show(format!(
                "the client `{}` is not known here; the tool must register first",
                client_id.chars().take(100).collect::<String>()
            ))
        })?;
        let redirect_uri = request
            .redirect_uri
            .clone()
            .ok_or_else(|| AuthorizeError::Show("the request names no redirect_uri".into()))?;
        if !client.redirect_matches(&redirect_uri) {
            return Err(AuthorizeError::Show(format!(
                "`{}` is not a redirect URI registered for {}; nothing was sent there",
                redirect_uri.chars().take(200).collect::<String>(),
                client.name
            )));
        }
        let back = |error: &'static str, description: String| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.clone(),
            error,
            description,
            state: request.state.clone(),
        };
        if request.response_type.as_deref() != Some("code") {
            return Err(back(
                "unsupported_response_type",
                "only response_type=code is supported".into(),
            ));
        }
        let challenge = request.code_challenge.clone().unwrap_or_default();
        if challenge.is_empty() {
            return Err(back(
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256".into(),
            ));
        }
        if request.code_challenge_method.as_deref() != Some("S256") {
            return Err(back(
                "invalid_request",
                "only code_challenge_method=S256 is accepted".into(),
            ));
        }
        if challenge.len() != 43
            || !challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(back(
                "invalid_request",
                "code_challenge must be the base64url SHA-256 of the verifier (43 characters)"
                    .into(),
            ));
        }
        let resource = request.resource.clone().unwrap_or_default();
        let Some(audience) = audience_of(&resource, base_url) else {
            return Err(back(
                "invalid_target",
                format!(
                    "resource must name what the token is for: {base}/mcp or {base}/v1",
                    base = base_url.trim_end_matches('/')
                ),
            ));
        };
        let scopes = match granted_scopes(request.scope.as_deref(), audience) {
            Ok(scopes) => scopes,
            Err(description) => return Err(back("invalid_scope", description)),
        };
        if let Some(state) = &request.state
            && state.len() > 1024
        {
            return Err(back(
                "invalid_request",
                "state is longer than 1024 bytes".into(),
            ));
        }
        Ok(Consent {
            client,
            redirect_uri,
            code_challenge: challenge,
            state: request.state,
            scopes,
            audience,
            resource,
        })
    }

    /// Step 2: keeps a checked request for `user`; the returned id is what the consent
    /// form posts back.
    pub async fn ask_consent(&self, consent: &Consent, user: &User) -> Result<String, StoreError> {
        let id = new_secret(CONSENT_PREFIX);
        let now = self.clock.now();
        let data = serde_json::to_string(consent)
            .map_err(|e| StoreError::Backend(format!("consent: {e}")))?;
        self.store
            .oauth_secret_insert(&OAuthSecret {
                sha256: sha256(&id),
                kind: SecretKind::Consent,
                user: user.id.clone(),
                grant: None,
                data,
                created_at: now,
                expires_at: now.plus_seconds(CONSENT_TTL_SECONDS),
                used_at: None,
            })
            .await?;
        Ok(id)
    }

    /// Step 3: the person's answer to consent request `id`. Returns where to send the
    /// browser: the client's redirect URI with a code (or `error=access_denied`).
    pub async fn decide(
        &self,
        id: &str,
        user: &User,
        allow: bool,
        issuer: &str,
        actor: &AdminActor,
    ) -> Result<String, AuthorizeError> {
        // Only its person may answer (checked before the answer spends it).
        let mine = self
            .store
            .oauth_secret(SecretKind::Consent, &sha256(id))
            .await
            .map_err(|e| AuthorizeError::Unavailable(e.to_string()))?
            .is_some_and(|t| t.user == user.id);
        let taken = match mine {
            true => self
                .store
                .oauth_secret_take(SecretKind::Consent, &sha256(id), self.clock.now())
                .await
                .map_err(|e| AuthorizeError::Unavailable(e.to_string()))?,
            false => None,
        };
        let Some(taken) = taken else {
            return Err(AuthorizeError::Show(
                "this consent page is not yours or no longer valid; start again from your tool"
                    .into(),
            ));
        };
        if taken.used_at.is_some() || taken.expires_at <= self.clock.now() {
            return Err(AuthorizeError::Show(
                "this consent page was already answered or has expired; start again from your tool"
                    .into(),
            ));
        }
        let consent: Consent = serde_json::from_str(&taken.data)
            .map_err(|e| AuthorizeError::Unavailable(format!("stored consent: {e}")))?;
        if !allow {
            events::consent_denied(self, actor, user, &consent)
                .await
                .map_err(|e| AuthorizeError::Unavailable(e.to_string()))?;
            return Ok(redirect_with(
                &consent.redirect_uri,
                &[
                    ("error", "access_denied"),
                    ("error_description", "the person declined"),
                ],
                consent.state.as_deref(),
                issuer,
            ));
        }
        self.may_sign_in(user)
            .map_err(|e| AuthorizeError::Show(e.to_string()))?;
        let now = self.clock.now();
        let grant = OAuthGrant {
            id: new_id("grant_"),
            user: user.id.clone(),
            client_id: consent.client.id.clone(),
            client_name: consent.client.name.clone(),
            scopes: consent.scopes.clone(),
            audience: consent.audience,
            created_at: now,
            revoked_at: None,
            revoked_reason: None,
        };
        events::granted(self, actor, user, &consent, &grant.id)
            .await
            .map_err(|e| AuthorizeError::Unavailable(e.to_string()))?;
        self.store
            .oauth_grant_insert(&grant)
            .await
            .map_err(|e| AuthorizeError::Unavailable(e.to_string()))?;
        let code = new_secret(CODE_PREFIX);
        let data = CodeData {
            client_id: consent.client.id.clone(),
            redirect_uri: consent.redirect_uri.clone(),
            code_challenge: consent.code_challenge.clone(),
            resource: consent.resource.clone(),
        };
        self.store
            .oauth_secret_insert(&OAuthSecret {
                sha256: sha256(&code),
                kind: SecretKind::Code,
                user: user.id.clone(),
                grant: Some(grant.id.clone()),
                data: serde_json::to_string(&data).unwrap_or_default(),
                created_at: now,
                expires_at: now.plus_seconds(self.settings.code_ttl_seconds),
                used_at: None,
            })
            .await
            .map_err(|e| AuthorizeError::Unavailable(e.to_string()))?;
        Ok(redirect_with(
            &consent.redirect_uri,
            &[("code", &code)],
            consent.state.as_deref(),
            issuer,
        ))
    }
}

/// `{base}/mcp` or `{base}/v1` (a trailing slash allowed), as the resource it names.
pub fn audience_of(resource: &str, base_url: &str) -> Option<Audience> {
    let base = base_url.trim_end_matches('/');
    let path = resource.strip_prefix(base)?;
    let path = path.strip_suffix('/').unwrap_or(path);
    Audience::ALL.iter().copied().find(|a| a.path() == path)
}

fn granted_scopes(requested: Option<&str>, audience: Audience) -> Result<Vec<Scope>, String> {
    let needed = audience.scope();
    let Some(requested) = requested.filter(|s| !s.trim().is_empty()) else {
        return Ok(vec![needed]);
    };
    let mut asked = Vec::new();
    for word in requested.split_ascii_whitespace() {
        if IGNORED_SCOPES.contains(&word) {
            continue;
        }
        match word.parse::<Scope>() {
            Ok(Scope::Admin) => {
                return Err(
                    "the admin scope is never granted through OAuth; administrators use `moat token issue`"
                        .into(),
                );
            }
            Ok(scope) => asked.push(scope),
            Err(_) => {
                return Err(format!(
                    "unknown scope `{}`; this server grants `mcp` (for /mcp) and `gateway` (for /v1)",
                    word.chars().take(40).collect::<String>()
                ));
            }
        }
    }
    if !asked.is_empty() && !asked.contains(&needed) {
        return Err(format!(
            "the scope asked for does not include `{needed}`, which the resource needs"
        ));
    }
    Ok(vec![needed])
}

/// `uri` with `params`, `state` and `iss` added to its query.
pub fn redirect_with(
    uri: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> String {
    let mut query = String::new();
    let mut add = |key: &str, value: &str| {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(key);
        query.push('=');
        query.push_str(&percent_encode(value));
    };
    for (key, value) in params {
        add(key, value);
    }
    if let Some(state) = state {
        add("state", state);
    }
    add("iss", issuer);
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{query}")
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_name_one_audience() {
        let base = "http://127.0.0.1:8480";
        assert_eq!(
            audience_of("http://127.0.0.1:8480/mcp", base),
            Some(Audience::Mcp)
        );
        assert_eq!(
            audience_of("http://127.0.0.1:8480/mcp/", base),
            Some(Audience::Mcp)
        );
        assert_eq!(
            audience_of("http://127.0.0.1:8480/v1", base),
            Some(Audience::Gateway)
        );
        assert_eq!(audience_of("http://127.0.0.1:8480/api/v1", base), None);
        assert_eq!(audience_of("http://127.0.0.1:8480", base), None);
        assert_eq!(audience_of("http://evil.example/mcp", base), None);
        assert_eq!(audience_of("http://127.0.0.1:84800/mcp", base), None);
    }

    #[test]
    fn scopes_fit_the_resource() {
        assert_eq!(granted_scopes(None, Audience::Mcp), Ok(vec![Scope::Mcp]));
        assert_eq!(
            granted_scopes(Some("mcp offline_access"), Audience::Mcp),
            Ok(vec![Scope::Mcp])
        );
        assert!(granted_scopes(Some("admin mcp"), Audience::Mcp).is_err());
        assert!(granted_scopes(Some("gateway"), Audience::Mcp).is_err());
        assert!(granted_scopes(Some("everything"), Audience::Mcp).is_err());
    }

    #[test]
    fn redirects_carry_state_and_issuer_encoded() {
        assert_eq!(
            redirect_with(
                "http://127.0.0.1:5/cb?x=1",
                &[("code", "c")],
                Some("a b&c"),
                "http://h"
            ),
            "http://127.0.0.1:5/cb?x=1&code=c&state=a%20b%26c&iss=http%3A%2F%2Fh"
        );
    }
}
