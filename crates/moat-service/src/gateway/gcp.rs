//! Google Cloud access tokens for Vertex AI from a service account's key file, as
//! Google documents the OAuth 2.0 flow for server-to-server use: a JWT (RS256, the
//! key's id in its header) claiming `iss` = the account, `scope` = cloud-platform,
//! `aud` = the key's `token_uri`, valid for an hour, exchanged at `token_uri`
//! (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`) for an access token,
//! which is used until five minutes before it expires. The key file is read when the
//! first token is needed and again for each new token (a rotated key is picked up); a
//! file that cannot be read, or an exchange that fails, refuses the request without
//! sending it.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The scope Vertex AI's API takes.
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Access tokens are renewed this long before they expire.
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// A Vertex AI vendor: where its models are, and whose tokens call them (none when no
/// key file was named: every request is refused, saying so).
pub struct Vertex {
    pub project: String,
    pub location: String,
    pub tokens: Option<GcpTokens>,
}

impl Vertex {
    /// Forgets the access token held (the vendor refused it).
    pub fn forget(&self) {
        if let Some(tokens) = &self.tokens {
            tokens.forget();
        }
    }

    /// An access token, or why none can be had.
    pub async fn token(&self) -> Result<String, String> {
        match &self.tokens {
            Some(tokens) => tokens.token().await,
            None => Err(
                "no service account key: set `credentials_file` or GOOGLE_APPLICATION_CREDENTIALS"
                    .into(),
            ),
        }
    }
}

/// Access tokens for one service account.
pub struct GcpTokens {
    key_file: PathBuf,
    client: reqwest::Client,
    cached: Mutex<Option<(String, Instant)>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl GcpTokens {
    pub fn new(key_file: &Path) -> GcpTokens {
        GcpTokens {
            key_file: key_file.to_path_buf(),
            // A redirect would carry the signed assertion elsewhere.
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            cached: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The service account's key file (`GOOGLE_APPLICATION_CREDENTIALS` when the
    /// vendor names none).
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// A current access token, or why none can be had (never a secret).
    pub async fn token(&self) -> Result<String, String> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let _one = self.refreshing.lock().await;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let key = read_key(&self.key_file).await?;
        let assertion = assertion(&key, SystemTime::now())?;
        let answer = self
            .client
            .post(&key.token_uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ]))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "the token endpoint cannot be reached ({})",
                    if e.is_timeout() {
                        "timed out"
                    } else {
                        "no answer"
                    }
                )
            })?;
        let status = answer.status();
        let body = super::aws::read_capped(answer, 64 * 1024)
            .await
            .map_err(|why| format!("the token endpoint {why}"))?;
        let body: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            format!("the token endpoint answered {status} with something other than JSON")
        })?;
        let Some(token) = body["access_token"]
            .as_str()
            .filter(|_| status.is_success())
        else {
            let why = body["error_description"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("no reason given");
            return Err(format!(
                "the token endpoint refused the service account ({status}): {why}"
            ));
        };
        let lasts = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(3600).min(3600));
        let until = Instant::now() + lasts.saturating_sub(EXPIRY_MARGIN);
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((token.to_string(), until));
        }
        Ok(token.to_string())
    }

    /// Forgets the token held (the vendor refused it): the next request gets another.
    pub fn forget(&self) {
        if let Ok(mut cached) = self.cached.lock() {
            *cached = None;
        }
    }

    fn fresh(&self) -> Option<String> {
        let cached = self.cached.lock().ok()?;
        cached
            .as_ref()
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(token, _)| token.clone())
    }
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://form.invalid/").expect("a fixed URL parses");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_string()
}

/// What a service account key file holds that the flow needs.
pub struct ServiceAccountKey {
    pub client_email: String,
    pub private_key: String,
    pub private_key_id: Option<String>,
    pub token_uri: String,
}

/// Reads and checks a key file off the async workers (at most 64 KiB).
async fn read_key(path: &Path) -> Result<ServiceAccountKey, String> {
    let path = path.to_path_buf();
    let text = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut text = String::new();
        std::fs::File::open(&path)
            .and_then(|f| f.take(64 * 1024 + 1).read_to_string(&mut text))
            .map_err(|e| format!("the service account key file cannot be read: {}", e.kind()))?;
        if text.len() > 64 * 1024 {
            return Err("the service account key file is larger than 64 KiB".to_string());
        }
        Ok(text)
    })
    .await
    .map_err(|_| "the service account key file could not be read".to_string())??;
    parse_key(&text)
}

/// A service account key file's fields (Google's JSON format, `"type":
/// "service_account"`).
pub fn parse_key(text: &str) -> Result<ServiceAccountKey, String> {
    let key: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| "the service account key file is not JSON".to_string())?;
    if key["type"] != "service_account" {
        return Err(
            "the key file is not a service account's (`type` is not `service_account`)".into(),
        );
    }
    let field = |name: &str| {
        key[name]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(String::from)
    };
    Ok(ServiceAccountKey {
        client_email: field("client_email").ok_or("the key file has no `client_email`")?,
        private_key: field("private_key").ok_or("the key file has no `private_key`")?,
        private_key_id: field("private_key_id"),
        token_uri: match field("token_uri") {
            // The assertion goes only over TLS, or to this machine.
            Some(uri) if !super::aws::is_tls_or_loopback(&uri) => {
                return Err(
                    "the key file's `token_uri` is neither https nor on this machine".into(),
                );
            }
            Some(uri) => uri,
            None => "https://oauth2.googleapis.com/token".into(),
        },
    })
}

/// The signed JWT exchanged for an access token, issued at `now`.
pub fn assertion(key: &ServiceAccountKey, now: SystemTime) -> Result<String, String> {
    let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let claims = serde_json::json!({
        "iss": key.client_email,
        "scope": SCOPE,
        "aud": key.token_uri,
        "iat": iat,
        "exp": iat + 3600,
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = key.private_key_id.clone();
    let signing = EncodingKey::from_rsa_pem(key.private_key.as_bytes())
        .map_err(|_| "the key file's `private_key` is not an RSA private key".to_string())?;
    jsonwebtoken::encode(&header, &claims, &signing).map_err(|e| format!("cannot sign: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = include_str!("../../tests/fixtures/oidc/rsa.pem");

    #[test]
    fn a_key_file_gives_a_signed_assertion_for_its_token_endpoint() {
        let file = serde_json::json!({
            "type": "service_account", "client_email": "gw@p.iam.gserviceaccount.com",
            "private_key": KEY, "private_key_id": "k1", "token_uri": "https://oauth2.example/token",
        })
        .to_string();
        let key = parse_key(&file).unwrap();
        let jwt = assertion(&key, UNIX_EPOCH + Duration::from_secs(1_765_000_000)).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(
            (header.alg, header.kid.as_deref()),
            (Algorithm::RS256, Some("k1"))
        );
        let payload = jwt.split('.').nth(1).unwrap();
        use base64::Engine;
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["iss"], "gw@p.iam.gserviceaccount.com");
        assert_eq!(claims["aud"], "https://oauth2.example/token");
        assert_eq!(claims["scope"], SCOPE);
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            3600
        );
        for (broken, says) in [
            ("{", "not JSON"),
            (r#"{"type": "authorized_user"}"#, "not a service account"),
            (
                r#"{"type": "service_account", "private_key": "x"}"#,
                "client_email",
            ),
        ] {
            let error = parse_key(broken).err().unwrap();
            assert!(error.contains(says), "{error}");
        }
        let cleartext = file.replace(
            "https://oauth2.example/token",
            "http://oauth2.example/token",
        );
        assert!(
            parse_key(&cleartext)
                .err()
                .unwrap()
                .contains("neither https")
        );
        let mut bad = key;
        bad.private_key = "not a key".into();
        assert!(
            assertion(&bad, SystemTime::now())
                .unwrap_err()
                .contains("not an RSA private key")
        );
    }
}
