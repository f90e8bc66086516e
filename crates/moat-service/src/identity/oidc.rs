//! Bearer JWTs from the organisation's OIDC identity provider (`[identity.oidc]`), as
//! an OAuth 2.1 resource server checks them: signature by a key from the issuer's JWKS,
//! `iss` equal to the configured issuer, `aud` naming this resource, `exp`/`nbf` with a
//! minute of leeway, and only asymmetric algorithms (an `HS256` token signed with a
//! public key is the classic confusion attack).
//!
//! Keys are fetched from `jwks_url`, or from the issuer's discovery document, and kept
//! for as long as the answer's `Cache-Control: max-age` allows, at most
//! [`OidcSettings::max_key_age`] (1 h): a key the provider has removed stops being
//! accepted within that time. A token naming a key id they do not hold fetches them
//! again, at most once every [`OidcSettings::min_refresh`]. When the keys cannot be
//! fetched, tokens are refused (fail closed).
//!
//! The email a token names is used only if the provider vouches for it: when the
//! `email` claim is present, `email_verified` must be true (an unverified email is
//! refused, not replaced by another claim). Configured claims may also carry the
//! person's repository-host logins (`login_claims`), which link those logins to them.

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
    /// Least time between two fetches of the keys for an unknown key id.
    pub min_refresh: Duration,
    /// Longest time fetched keys are trusted, whatever `Cache-Control` says.
    pub max_key_age: Duration,
    /// `(host, claim)`: a claim holding the person's login on that repository host
    /// (`github`, `gitlab`), set by the identity provider from an attribute people
    /// cannot edit themselves.
    pub login_claims: Vec<(String, String)>,
}

/// Keys are trusted at most this long by default (the bound).
pub const MAX_KEY_AGE: Duration = Duration::from_secs(3600);

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
    /// `(host, login)` from the configured login claims.
    pub host_logins: Vec<(String, String)>,
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    /// A boolean, or the string "true" as some providers send it.
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
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
    /// ID tokens: the value the sign-in request sent, echoed.
    #[serde(default)]
    nonce: Option<String>,
    /// ID tokens: the client the token was issued to, when `aud` names several.
    #[serde(default)]
    azp: Option<String>,
    #[serde(flatten)]
    other: HashMap<String, serde_json::Value>,
}

#[derive(Default)]
struct Keys {
    by_id: HashMap<String, (DecodingKey, Option<Algorithm>)>,
    /// Keys published without a `kid` (usable only when they are the only key).
    unnamed: Vec<(DecodingKey, Option<Algorithm>)>,
    fetched_at: Option<Instant>,
    /// Past this the keys are fetched again before any is used.
    expires_at: Option<Instant>,
}

impl Keys {
    fn expired(&self) -> bool {
        self.expires_at.is_some_and(|at| Instant::now() >= at)
    }
}

/// Verifies JWTs from one issuer.
pub struct OidcVerifier {
    settings: OidcSettings,
    http: reqwest::Client,
    keys: RwLock<Keys>,
    fetching: Mutex<()>,
    /// Fetches of the signing keys that failed since the server started.
    key_fetch_failures: std::sync::atomic::AtomicU64,
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
            key_fetch_failures: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Fetches of the identity provider's signing keys that failed (while they fail,
    /// JWTs whose key is not held are refused).
    pub fn key_fetch_failures(&self) -> u64 {
        self.key_fetch_failures
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// Checks a bearer JWT for this resource and returns who it names.
    pub async fn verify(&self, jwt: &str) -> Result<OidcIdentity, AuthError> {
        let claims = self.decode(jwt, &self.settings.audience).await?;
        self.identity_of(claims)
    }

    /// Checks an ID token from a sign-in Moat started (OpenID Connect Core §3.1.3.7):
    /// signed by the issuer, for `client_id` (and, if it names an authorized party,
    /// that one), carrying the `nonce` the request sent; an email it names must be
    /// verified. (Many providers put the email only in the userinfo answer.)
    pub async fn verify_id_token(
        &self,
        jwt: &str,
        client_id: &str,
        nonce: &str,
    ) -> Result<OidcIdentity, AuthError> {
        let invalid = |reason: &str| AuthError::InvalidJwt(reason.to_string());
        let claims = self.decode(jwt, client_id).await?;
        if claims.azp.as_deref().is_some_and(|azp| azp != client_id) {
            return Err(invalid("the ID token was issued to another client (azp)"));
        }
        let sent = claims.nonce.as_deref().unwrap_or_default();
        let same = sent.len() == nonce.len()
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                sent.as_bytes(),
                nonce.as_bytes(),
            ));
        if !same {
            return Err(invalid(
                "the ID token does not carry this sign-in's nonce (a replayed or injected token)",
            ));
        }
        self.identity_of(claims)
    }

    /// Signature, issuer, audience and time checks; the claims.
    async fn decode(&self, jwt: &str, audience: &str) -> Result<Claims, AuthError> {
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
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 60;
        let data = jsonwebtoken::decode::<Claims>(jwt, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired; sign in again".into(),
                ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
                ErrorKind::InvalidAudience => {
                    format!("the token is not for this resource (aud must include {audience})")
                }
                ErrorKind::InvalidIssuer => format!(
                    "the token was issued by someone else (iss must be {})",
                    self.settings.issuer
                ),
                ErrorKind::InvalidSignature => "the signature does not verify".into(),
                ErrorKind::MissingRequiredClaim(claim) => format!("the token has no `{claim}`"),
                other => format!("{other:?}"),
            })
        })?;
        Ok(data.claims)
    }

    fn identity_of(&self, claims: Claims) -> Result<OidcIdentity, AuthError> {
        let invalid = |reason: String| AuthError::InvalidJwt(reason);
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
        if claims.email.is_some() && !is_true(claims.email_verified.as_ref()) {
            return Err(invalid(
                "the token's email is not verified (email_verified is not true); the identity provider must verify it"
                    .into(),
            ));
        }
        let email = [claims.email, claims.upn, claims.preferred_username]
            .into_iter()
            .flatten()
            .find(|value| value.contains('@'))
            .map(|value| value.to_lowercase());
        let host_logins = self
            .settings
            .login_claims
            .iter()
            .filter_map(|(host, claim)| {
                let login = claims.other.get(claim)?.as_str()?.trim();
                (!login.is_empty()).then(|| (host.clone(), login.to_lowercase()))
            })
            .collect();
        Ok(OidcIdentity {
            subject: claims.sub,
            email,
            scopes,
            token_id: claims.jti,
            host_logins,
        })
    }

    async fn key_for(
        &self,
        kid: Option<&str>,
    ) -> Result<(DecodingKey, Option<Algorithm>), AuthError> {
        {
            let keys = self.keys.read().await;
            if !keys.expired()
                && let Some(found) = Self::lookup(&keys, kid)
            {
                return Ok(found);
            }
        }
        // Expired keys, or an unknown key (the provider may have rotated). Fetch again,
        // for an unknown key not more often than the settings allow; one fetch at a time.
        let _fetching = self.fetching.lock().await;
        {
            let keys = self.keys.read().await;
            if !keys.expired() {
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
        }
        let fetched = self.fetch().await;
        let mut keys = self.keys.write().await;
        keys.fetched_at = Some(Instant::now());
        match fetched {
            Ok((set, max_age)) => {
                keys.by_id.clear();
                keys.unnamed.clear();
                // Never past the bound; never so short that every token fetches
                // (`no-cache` means the least refresh interval).
                let age = max_age
                    .unwrap_or(self.settings.max_key_age)
                    .max(self.settings.min_refresh)
                    .min(self.settings.max_key_age);
                keys.expires_at = Some(Instant::now() + age);
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
                // Keys past their age are not used while the provider cannot confirm them.
                if keys.expired() {
                    keys.by_id.clear();
                    keys.unnamed.clear();
                    keys.expires_at = None;
                }
                self.key_fetch_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

    /// The key set and how long the provider lets it be cached (`max-age`; zero for
    /// `no-cache`/`no-store`).
    async fn fetch(&self) -> Result<(JwkSet, Option<Duration>), String> {
        let url = match &self.settings.jwks_url {
            Some(url) => url.clone(),
            None => {
                let discovery = format!(
                    "{}/.well-known/openid-configuration",
                    self.settings.issuer.trim_end_matches('/')
                );
                let (document, _): (serde_json::Value, _) = self.get_json(&discovery).await?;
                document["jwks_uri"]
                    .as_str()
                    .ok_or_else(|| format!("{discovery} has no jwks_uri"))?
                    .to_string()
            }
        };
        let (set, cache_control) = self.get_json(&url).await?;
        Ok((set, cache_control.as_deref().and_then(max_age)))
    }

    /// The provider's authorization, token and userinfo endpoints, from its discovery
    /// document.
    pub async fn endpoints(&self) -> Result<(String, String, Option<String>), String> {
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            self.settings.issuer.trim_end_matches('/')
        );
        let (document, _): (serde_json::Value, _) = self.get_json(&discovery).await?;
        let endpoint = |name: &str| {
            document[name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{discovery} has no {name}"))
        };
        Ok((
            endpoint("authorization_endpoint")?,
            endpoint("token_endpoint")?,
            endpoint("userinfo_endpoint").ok(),
        ))
    }

    /// The email the userinfo endpoint gives for `subject` (OpenID Connect Core §5.3):
    /// the answer must name the same `sub`, and the email must be verified.
    pub async fn userinfo_email(
        &self,
        endpoint: &str,
        access_token: &str,
        subject: &str,
    ) -> Result<String, AuthError> {
        let invalid = |reason: String| AuthError::InvalidJwt(reason);
        let response = self
            .http
            .get(endpoint)
            .bearer_auth(access_token)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "the identity provider's userinfo endpoint cannot be reached");
                AuthError::Unavailable
            })?;
        if !response.status().is_success() {
            return Err(invalid(format!("userinfo answered {}", response.status())));
        }
        let info: serde_json::Value = response
            .json()
            .await
            .map_err(|e| invalid(format!("unreadable userinfo answer ({e})")))?;
        if info["sub"].as_str() != Some(subject) {
            return Err(invalid(
                "the userinfo answer is about someone else than the ID token (sub)".into(),
            ));
        }
        let email = info["email"].as_str().ok_or_else(|| {
            invalid("the identity provider gives no email; Moat's client must be allowed the `email` scope".into())
        })?;
        if !is_true(info.get("email_verified")) {
            return Err(invalid(
                "the email is not verified (email_verified is not true); the identity provider must verify it"
                    .into(),
            ));
        }
        Ok(email.to_lowercase())
    }

    /// The client the verifier fetches with (10 s timeout), for the token request.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The JSON at `url` and its `Cache-Control` header.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<(T, Option<String>), String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: {}", response.status()));
        }
        let cache_control = response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if body.len() > 1 << 20 {
            return Err(format!("GET {url}: the answer is over 1 MiB"));
        }
        serde_json::from_slice(&body)
            .map(|value| (value, cache_control))
            .map_err(|e| format!("GET {url}: {e}"))
    }
}

/// `email_verified` as providers send it: `true` or `"true"`.
fn is_true(value: Option<&serde_json::Value>) -> bool {
    match value {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// How long a `Cache-Control` header lets a response be kept: `max-age`, or zero for
/// `no-cache`/`no-store`; `None` when it says neither.
fn max_age(header: &str) -> Option<Duration> {
    let mut age = None;
    for directive in header.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-cache" || directive == "no-store" {
            return Some(Duration::ZERO);
        }
        if let Some(seconds) = directive.strip_prefix("max-age=") {
            age = seconds
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_and_email_verified() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("max-age=60, no-cache"), Some(Duration::ZERO));
        assert_eq!(max_age("private"), None);
        assert_eq!(max_age("max-age=soon"), None);
        assert!(is_true(Some(&serde_json::json!(true))));
        assert!(is_true(Some(&serde_json::json!("TRUE"))));
        assert!(!is_true(Some(&serde_json::json!(false))));
        assert!(!is_true(Some(&serde_json::json!("yes"))));
        assert!(!is_true(None));
    }
}
