//! Google Cloud access tokens for Vertex AI. From a service account's key file, as
//! Google documents the OAuth 2.0 flow for server-to-server use: a JWT (RS256, the
//! key's id in its header) claiming `iss` = the account, `scope` = cloud-platform,
//! `aud` = the key's `token_uri`, valid for an hour, exchanged at `token_uri`
//! (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`) for an access token; the
//! key file is read again for each new token (a rotated key is picked up). Without a
//! key file, from the metadata server of the machine (GCE) or pod (GKE workload
//! identity): `GET …/instance/service-accounts/default/token` with `Metadata-Flavor:
//! Google`, as Google's libraries do. A token is used until five minutes before it
//! expires; a file that cannot be read, or an exchange that fails, refuses the request
//! without sending it.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The scope Vertex AI's API takes.
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Access tokens are renewed this long before they expire.
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);
/// The metadata server, on the machine, answers within this or not at all.
const METADATA_TIMEOUT: Duration = Duration::from_secs(2);

/// The metadata server's address when `GCE_METADATA_HOST` names none (an address, not
/// `metadata.google.internal`: no name lookup to spoof).
pub const METADATA_SERVER: &str = "http://169.254.169.254";

/// A Vertex AI vendor: where its models are, and whose tokens call them.
pub struct Vertex {
    pub project: String,
    pub location: String,
    pub tokens: GcpTokens,
}

impl Vertex {
    /// Forgets the access token held (the vendor refused it).
    pub fn forget(&self) {
        self.tokens.forget();
    }

    /// An access token, or why none can be had.
    pub async fn token(&self) -> Result<String, String> {
        self.tokens.token().await
    }
}

/// Where a service account's tokens come from.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// Its JSON key file.
    KeyFile(PathBuf),
    /// The metadata server at this address (`http://host[:port]`).
    MetadataServer(String),
}

/// Access tokens for one service account.
pub struct GcpTokens {
    source: TokenSource,
    /// For the token endpoint (https): through the proxy the environment names.
    client: reqwest::Client,
    /// For the metadata server: never through a proxy, which would carry the token
    /// off the machine (or answer with its own).
    metadata: reqwest::Client,
    failed: super::credential::HeldFailure,
    cached: Mutex<Option<(String, Instant)>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl GcpTokens {
    /// Tokens for the service account whose key is in `key_file`.
    pub fn new(key_file: &Path) -> GcpTokens {
        GcpTokens::from_source(TokenSource::KeyFile(key_file.to_path_buf()))
    }

    /// Tokens for the machine's or pod's service account, from the metadata server at
    /// `endpoint`.
    pub fn metadata_server(endpoint: &str) -> GcpTokens {
        GcpTokens::from_source(TokenSource::MetadataServer(
            endpoint.trim_end_matches('/').to_string(),
        ))
    }

    fn from_source(source: TokenSource) -> GcpTokens {
        GcpTokens {
            source,
            // A redirect would carry the signed assertion elsewhere.
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            metadata: reqwest::Client::builder()
                .timeout(METADATA_TIMEOUT)
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            failed: Default::default(),
            cached: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// Where the tokens come from.
    pub fn source(&self) -> &TokenSource {
        &self.source
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
        if let Some(why) = self.failed.recent() {
            return Err(why);
        }
        let found = match &self.source {
            TokenSource::KeyFile(path) => self.exchange(path).await,
            TokenSource::MetadataServer(endpoint) => self.metadata_token(endpoint).await,
        };
        let (token, lasts) = match found {
            Ok(found) => found,
            Err(why) => {
                self.failed.hold(&why);
                return Err(why);
            }
        };
        // Used until five minutes before it expires, or halfway for a short-lived one.
        let lasts = lasts.min(Duration::from_secs(3600));
        let until = Instant::now()
            + if lasts > 2 * EXPIRY_MARGIN {
                lasts - EXPIRY_MARGIN
            } else {
                lasts / 2
            };
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((token.clone(), until));
        }
        Ok(token)
    }

    /// A token for the key in `path`, exchanged at its `token_uri`, and how long it lasts.
    async fn exchange(&self, path: &Path) -> Result<(String, Duration), String> {
        let key = read_key(path).await?;
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
        let lasts = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(3600));
        Ok((token.to_string(), lasts))
    }

    /// The metadata server's token for the default service account, with Vertex's
    /// scope (honoured on GKE; a VM's token has the scopes the VM was given).
    async fn metadata_token(&self, endpoint: &str) -> Result<(String, Duration), String> {
        let mut url = reqwest::Url::parse(&format!(
            "{endpoint}/computeMetadata/v1/instance/service-accounts/default/token"
        ))
        .ok()
        .filter(|url| url.username().is_empty() && url.password().is_none())
        .ok_or_else(|| {
            format!(
                "the metadata server's address {endpoint} is not `host[:port]` (GCE_METADATA_HOST)"
            )
        })?;
        url.query_pairs_mut().append_pair("scopes", SCOPE);
        let answer = self
            .metadata
            .get(url)
            .header("metadata-flavor", "Google")
            .send()
            .await
            .map_err(|e| {
                format!(
                    "no service account key (`credentials_file`, GOOGLE_APPLICATION_CREDENTIALS) and the metadata server at {endpoint} cannot be reached ({})",
                    if e.is_timeout() { "timed out" } else { "no answer" }
                )
            })?;
        let status = answer.status();
        // Anything else on that address is not Google's metadata server.
        if answer
            .headers()
            .get("metadata-flavor")
            .is_none_or(|v| v != "Google")
        {
            return Err(format!(
                "the server at {endpoint} answered ({status}) without `Metadata-Flavor: Google`: it is not a metadata server"
            ));
        }
        let body = super::aws::read_capped(answer, 64 * 1024)
            .await
            .map_err(|why| format!("the metadata server {why}"))?;
        // Its body is not repeated: whatever it holds stays out of the log.
        if !status.is_success() {
            return Err(format!(
                "the metadata server gave no token ({status}); is a service account attached to this machine or pod?"
            ));
        }
        let body: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            "the metadata server answered with something other than JSON".to_string()
        })?;
        let token = body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or("the metadata server answered without an access token")?;
        Ok((
            token.to_string(),
            Duration::from_secs(body["expires_in"].as_u64().unwrap_or(0)),
        ))
    }

    /// Forgets the token held (the vendor refused it): the next request gets another.
    pub fn forget(&self) {
        if let Ok(mut cached) = self.cached.lock() {
            *cached = None;
        }
        self.failed.clear();
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

    /// A server at the metadata address answering with `flavor` as its
    /// `Metadata-Flavor` and `status`.
    async fn metadata_like(flavor: Option<&'static str>, status: u16) -> String {
        let app = axum::Router::new().route(
            "/computeMetadata/v1/instance/service-accounts/default/token",
            axum::routing::get(move || async move {
                let mut response = axum::response::IntoResponse::into_response((
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    r#"{"access_token": "ya29.forged", "expires_in": 3599}"#,
                ));
                if let Some(flavor) = flavor {
                    response
                        .headers_mut()
                        .insert("metadata-flavor", flavor.parse().unwrap());
                }
                response
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    #[tokio::test]
    async fn only_googles_metadata_server_gives_a_token_and_its_failures_refuse() {
        let real = GcpTokens::metadata_server(&metadata_like(Some("Google"), 200).await);
        assert_eq!(real.token().await.unwrap(), "ya29.forged");
        for (server, says) in [
            (metadata_like(None, 200).await, "not a metadata server"),
            (
                metadata_like(Some("Azure"), 200).await,
                "not a metadata server",
            ),
            (
                metadata_like(Some("Google"), 404).await,
                "gave no token (404",
            ),
            ("http://127.0.0.1:9".to_string(), "cannot be reached"),
        ] {
            let error = GcpTokens::metadata_server(&server)
                .token()
                .await
                .unwrap_err();
            assert!(error.contains(says), "{server}: {error}");
            assert!(!error.contains("ya29"), "{error}");
        }
    }
}
