//! Bearer JWTs from the organisation's OIDC identity provider (`[identity.oidc]`), as
//! an OAuth 2.1 resource server checks them: signature by a key from the issuer's JWKS,
//! `iss` equal to the configured issuer, `aud` naming this resource, `exp`/`nbf` with a
//! minute of leeway, and only asymmetric algorithms (an `HS256` token signed with a
//! public key is the classic confusion attack).
//!
//! Keys are fetched from `jwks_url`, or from the issuer's discovery document, and kept
//! until a token names a key id they do not hold; then they are fetched again, at most
//! once every [`OidcSettings::min_refresh`]. When the keys cannot be fetched, tokens are
//! refused (fail closed).

use super::AuthError;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

/// Algorithms an identity provider signs with; symmetric ones are never accepted.
const ACCEPTED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Longest JWT accepted, in bytes: real ones are 1-2 KiB.
const MAX_JWT_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    /// What `aud` must contain: this resource (usually Moat's public URL).
    pub audience: String,
    /// Where the keys are; `None` reads `jwks_uri` from the issuer's discovery document.
    pub jwks_url: Option<String>,
    /// Least time between two fetches of the keys.
    pub min_refresh: Duration,
}

/// What Moat takes from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIdentity {
    pub subject: String,
    /// The email the user is known by in Moat.
    pub email: Option<String>,
    /// From `scope` (space-separated) or `scp` (array or string).
    pub scopes: Vec<String>,
    /// `jti`, when the provider sets one.
    pub token_id: Option<String>,
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    upn: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scp: Option<serde_json::Value>,
    #[serde(default)]
    jti: Option<String>,
}

#[derive(Default)]
struct Keys {
    by_id: HashMap<String, (DecodingKey, Option<Algorithm>)>,
    /// Keys published without a `kid` (usable only when they are the only key).
    unnamed: Vec<(DecodingKey, Option<Algorithm>)>,
    fetched_at: Option<Instant>,
}

/// Verifies JWTs from one issuer.
pub struct OidcVerifier {
    settings: OidcSettings,
    http: reqwest::Client,
    keys: RwLock<Keys>,
    fetching: Mutex<()>,
}

fn unknown_key(kid: Option<&str>) -> AuthError {
    AuthError::InvalidJwt(format!(
        "no key {} in the identity provider's key set",
        kid.unwrap_or("(unnamed)")
    ))
}

/// True when `secret` has the shape of a JWS compact serialization.
pub fn looks_like_jwt(secret: &str) -> bool {
    secret.len() <= MAX_JWT_BYTES
        && secret.split('.').count() == 3
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl OidcVerifier {
    pub fn new(settings: OidcSettings) -> OidcVerifier {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        OidcVerifier {
            settings,
            http,
            keys: RwLock::new(Keys::default()),
            fetching: Mutex::new(()),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// Checks a JWT and returns who it names.
    pub async fn verify(&self, jwt: &str) -> Result<OidcIdentity, AuthError> {
        let invalid = |reason: String| AuthError::InvalidJwt(reason);
        if !looks_like_jwt(jwt) {
            return Err(invalid("not a compact JWT".into()));
        }
        let header = jsonwebtoken::decode_header(jwt)
            .map_err(|e| invalid(format!("unreadable header ({e})")))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(invalid(format!(
                "algorithm {:?} is not accepted; the identity provider must sign with RS256, PS256, ES256 or EdDSA",
                header.alg
            )));
        }
        let (key, key_alg) = self.key_for(header.kid.as_deref()).await?;
        if let Some(key_alg) = key_alg
            && key_alg != header.alg
        {
            return Err(invalid(format!(
                "the token says {:?} but its key is for {key_alg:?}",
                header.alg
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 60;
        let data = jsonwebtoken::decode::<Claims>(jwt, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired; sign in again".into(),
                ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
                ErrorKind::InvalidAudience => format!(
                    "the token is not for this resource (aud must include {})",
                    self.settings.audience
                ),
                ErrorKind::InvalidIssuer => format!(
                    "the token was issued by someone else (iss must be {})",
                    self.settings.issuer
                ),
                ErrorKind::InvalidSignature => "the signature does not verify".into(),
                ErrorKind::MissingRequiredClaim(claim) => format!("the token has no `{claim}`"),
                other => format!("{other:?}"),
            })
        })?;
        let claims = data.claims;
        let mut scopes: Vec<String> = claims
            .scope
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        match claims.scp {
            Some(serde_json::Value::Array(items)) => {
                scopes.extend(items.iter().filter_map(|v| v.as_str().map(str::to_string)))
            }
            Some(serde_json::Value::String(list)) => {
                scopes.extend(list.split_whitespace().map(str::to_string))
            }
            _ => {}
        }
        let email = [claims.email, claims.upn, claims.preferred_username]
            .into_iter()
            .flatten()
            .find(|value| value.contains('@'))
            .map(|value| value.to_lowercase());
        Ok(OidcIdentity {
            subject: claims.sub,
            email,
            scopes,
            token_id: claims.jti,
        })
    }

    async fn key_for(
        &self,
        kid: Option<&str>,
    ) -> Result<(DecodingKey, Option<Algorithm>), AuthError> {
        if let Some(found) = Self::lookup(&*self.keys.read().await, kid) {
            return Ok(found);
        }
        // Unknown key: the provider may have rotated. Fetch again, but not more often
        // than the settings allow, and only one fetch at a time.
        let _fetching = self.fetching.lock().await;
        {
            let keys = self.keys.read().await;
            if let Some(found) = Self::lookup(&keys, kid) {
                return Ok(found);
            }
            if keys
                .fetched_at
                .is_some_and(|at| at.elapsed() < self.settings.min_refresh)
            {
                return Err(unknown_key(kid));
            }
        }
        let fetched = self.fetch().await;
        let mut keys = self.keys.write().await;
        keys.fetched_at = Some(Instant::now());
        match fetched {
            Ok(set) => {
                keys.by_id.clear();
                keys.unnamed.clear();
                for jwk in &set.keys {
                    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
                        continue; // symmetric keys never verify a bearer token here
                    }
                    let Ok(key) = DecodingKey::from_jwk(jwk) else {
                        continue;
                    };
                    let alg = jwk
                        .common
                        .key_algorithm
                        .and_then(|a| a.to_string().parse::<Algorithm>().ok());
                    match &jwk.common.key_id {
                        Some(id) => {
                            keys.by_id.insert(id.clone(), (key, alg));
                        }
                        None => keys.unnamed.push((key, alg)),
                    }
                }
            }
            Err(reason) => {
                tracing::error!(%reason, issuer = %self.settings.issuer, "cannot fetch the OIDC signing keys; refusing JWTs");
                return Err(AuthError::Unavailable);
            }
        }
        Self::lookup(&keys, kid).ok_or_else(|| unknown_key(kid))
    }

    fn lookup(keys: &Keys, kid: Option<&str>) -> Option<(DecodingKey, Option<Algorithm>)> {
        match kid {
            Some(kid) => keys.by_id.get(kid).cloned(),
            None if keys.by_id.len() + keys.unnamed.len() == 1 => keys
                .unnamed
                .first()
                .cloned()
                .or_else(|| keys.by_id.values().next().cloned()),
            None => None,
        }
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let url = match &self.settings.jwks_url {
            Some(url) => url.clone(),
            None => {
                let discovery = format!(
                    "{}/.well-known/openid-configuration",
                    self.settings.issuer.trim_end_matches('/')
                );
                let document: serde_json::Value = self.get_json(&discovery).await?;
                document["jwks_uri"]
                    .as_str()
                    .ok_or_else(|| format!("{discovery} has no jwks_uri"))?
                    .to_string()
            }
        };
        self.get_json(&url).await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: {}", response.status()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if body.len() > 1 << 20 {
            return Err(format!("GET {url}: the answer is over 1 MiB"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))
    }
}
