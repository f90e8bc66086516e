//! AWS credentials and Signature Version 4 for Amazon Bedrock, signed with the
//! `aws-sigv4` crate. Credentials come, in the order AWS's own tools find them, from the
//! environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, read
//! when the configuration loads), else the shared credentials file
//! (`AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`, the vendor's `aws_profile`,
//! `AWS_PROFILE` or `default`; read again after a minute), else a web identity
//! (`AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`, exchanged at STS), else the
//! container's role (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI`), else
//! the instance's role through the EC2 instance metadata service (IMDSv2). Temporary
//! keys ([`roles`]) are used until five minutes before they expire. A source that
//! fails is an error naming it, never an unsigned request nor the next source's
//! identity.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// How long keys read from the shared file are used before it is read again.
const FILE_REREAD: Duration = Duration::from_secs(60);
/// The metadata endpoints answer within this or not at all (STS gets longer).
const METADATA_TIMEOUT: Duration = Duration::from_secs(2);

/// An access key, its secret and (for temporary keys) the session token.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKeys")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Where keys come from, in the order they are tried.
#[derive(Clone, Debug)]
pub enum AwsSource {
    /// Keys given outright (the environment at load, or a test).
    Fixed(AwsKeys),
    /// A profile of a shared credentials file; when the profile (`aws_profile`,
    /// `AWS_PROFILE`) or the file (`AWS_SHARED_CREDENTIALS_FILE`) was named, both must
    /// be there and readable.
    SharedFile {
        path: PathBuf,
        profile: String,
        required: bool,
    },
    /// A role assumed with a web identity token at STS.
    WebIdentity(roles::WebIdentity),
    /// The container's role, from its credentials endpoint.
    Container {
        url: String,
        token: Option<roles::ContainerToken>,
    },
    /// The instance's role, from the metadata service at this address.
    Instance { endpoint: String },
    /// A setup Moat cannot sign for (a key id without its secret, a web identity
    /// without its role, a credentials endpoint off this machine in cleartext):
    /// refused, not passed over for the next identity.
    Refuse(String),
}

/// Signs Bedrock requests for one vendor (one AWS region).
pub struct AwsSigner {
    region: String,
    sources: Vec<AwsSource>,
    /// For the metadata endpoints on this machine: never through a proxy.
    client: reqwest::Client,
    /// For STS (https): through the proxy the environment names, as AWS's SDKs go.
    sts: reqwest::Client,
    cached: Mutex<Option<(AwsKeys, Instant)>>,
    /// The source that gave keys first: the only one asked from then on, so a file
    /// that is briefly missing never hands over to another identity.
    pinned: Mutex<Option<usize>>,
    failed: super::credential::HeldFailure,
    refreshing: tokio::sync::Mutex<()>,
}

impl AwsSigner {
    /// A signer for `region` trying `sources` in order.
    pub fn new(region: &str, sources: Vec<AwsSource>) -> AwsSigner {
        AwsSigner {
            region: region.to_string(),
            sources,
            // A redirect would carry the metadata session token, and take keys, from
            // elsewhere.
            client: reqwest::Client::builder()
                .timeout(METADATA_TIMEOUT)
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            sts: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            cached: Mutex::new(None),
            pinned: Mutex::new(None),
            failed: Default::default(),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The sources AWS's tools use, from this process's environment.
    pub fn from_environment(region: &str, profile: Option<&str>) -> AwsSigner {
        AwsSigner::new(
            region,
            sources(region, profile, |name| std::env::var(name).ok()),
        )
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The headers that sign a `POST` of `body` to `url` for Bedrock (`x-amz-date`,
    /// `authorization`, and `x-amz-security-token` with temporary keys).
    pub async fn sign_post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, String> {
        let keys = self.keys().await?;
        sign_with(&keys, &self.region, SystemTime::now(), url, headers, body)
    }

    /// The current keys, or why none can be had (naming each source tried).
    pub async fn keys(&self) -> Result<AwsKeys, String> {
        if let Some(keys) = self.fresh() {
            return Ok(keys);
        }
        let _one = self.refreshing.lock().await;
        if let Some(keys) = self.fresh() {
            return Ok(keys);
        }
        if let Some(why) = self.failed.recent() {
            return Err(why);
        }
        let found = self.find().await;
        if let Err(why) = &found {
            self.failed.hold(why);
        }
        found
    }

    /// Tries the sources in order (only the pinned one, once one gave keys).
    async fn find(&self) -> Result<AwsKeys, String> {
        let pinned = self.pinned.lock().ok().and_then(|p| *p);
        let mut tried = Vec::new();
        for (index, source) in self.sources.iter().enumerate() {
            if pinned.is_some_and(|p| p != index) {
                continue;
            }
            let found = match source {
                AwsSource::Fixed(keys) => Ok(Some((keys.clone(), None))),
                AwsSource::SharedFile {
                    path,
                    profile,
                    required,
                } => read_shared_file(path, profile, *required || pinned.is_some())
                    .await
                    .map(|keys| keys.map(|keys| (keys, Some(Instant::now() + FILE_REREAD)))),
                AwsSource::WebIdentity(role) => {
                    roles::web_identity(&self.sts, role).await.map(Some)
                }
                AwsSource::Container { url, token } => {
                    roles::container(&self.client, url, token.as_ref())
                        .await
                        .map(Some)
                }
                AwsSource::Instance { endpoint } => {
                    roles::instance(&self.client, endpoint).await.map(Some)
                }
                AwsSource::Refuse(why) => Err(why.clone()),
            };
            match found {
                Ok(Some((keys, until))) => {
                    let until =
                        until.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
                    if let Ok(mut cached) = self.cached.lock() {
                        *cached = Some((keys.clone(), until));
                    }
                    if let Ok(mut pinned) = self.pinned.lock() {
                        *pinned = Some(index);
                    }
                    return Ok(keys);
                }
                Ok(None) => tried.push(describe(source, "has none")),
                // A source that is there but fails is not passed over: the next one
                // would sign as another identity.
                Err(why) => {
                    tried.push(describe(source, &why));
                    return Err(format!("no AWS credentials: {}", tried.join("; ")));
                }
            }
        }
        Err(format!("no AWS credentials: {}", tried.join("; ")))
    }

    /// Forgets the keys held (the vendor refused them): the next request finds them
    /// again.
    pub fn forget(&self) {
        if let Ok(mut cached) = self.cached.lock() {
            *cached = None;
        }
        self.failed.clear();
    }

    fn fresh(&self) -> Option<AwsKeys> {
        let cached = self.cached.lock().ok()?;
        cached
            .as_ref()
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(keys, _)| keys.clone())
    }
}

/// The sources AWS's tools would try for `region`, in their order, from the variables
/// `env` reads (blank counts as unset).
pub fn sources(
    region: &str,
    profile: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Vec<AwsSource> {
    let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let mut sources = Vec::new();
    match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => sources.push(AwsSource::Fixed(AwsKeys {
            access_key_id: id,
            secret_access_key: secret,
            session_token: env("AWS_SESSION_TOKEN"),
        })),
        (Some(_), None) | (None, Some(_)) => sources.push(AwsSource::Refuse(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together".into(),
        )),
        (None, None) => {}
    }
    // A profile named, or a file named, must be there: the roles below are not what
    // was asked for. The default profile of the default file comes after a web
    // identity (a pod's role is what its variables name; a file baked into an image
    // is not), as AWS's Python and Java SDKs order them.
    let named = profile.map(String::from).or_else(|| env("AWS_PROFILE"));
    let named_file = env("AWS_SHARED_CREDENTIALS_FILE");
    let file = named_file
        .clone()
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| PathBuf::from(home).join(".aws/credentials")))
        .or_else(|| named.as_ref().map(|_| PathBuf::from("~/.aws/credentials")));
    let required = named.is_some() || named_file.is_some();
    let mut file = file.map(|path| AwsSource::SharedFile {
        path,
        profile: named.clone().unwrap_or_else(|| "default".to_string()),
        required,
    });
    if required {
        sources.extend(file.take());
    }
    if let Some(token_file) = env("AWS_WEB_IDENTITY_TOKEN_FILE") {
        // AWS_IGNORE_CONFIGURED_ENDPOINT_URLS turns the endpoint variables off.
        let configured = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_none_or(|v| !v.eq_ignore_ascii_case("true"));
        let sts = configured
            .then(|| env("AWS_ENDPOINT_URL_STS").or_else(|| env("AWS_ENDPOINT_URL")))
            .flatten()
            .unwrap_or_else(|| {
                // China's regions are in their own partition.
                let domain = if region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                format!("https://sts.{region}.{domain}")
            });
        sources.push(match env("AWS_ROLE_ARN") {
            None => AwsSource::Refuse(
                "AWS_WEB_IDENTITY_TOKEN_FILE is set without AWS_ROLE_ARN, the role to assume"
                    .into(),
            ),
            // The token goes only over TLS, or to this machine.
            Some(_) if !is_tls_or_loopback(&sts) => AwsSource::Refuse(format!(
                "STS at {sts} is neither https nor on this machine; the web identity token is not sent there"
            )),
            Some(role_arn) => AwsSource::WebIdentity(roles::WebIdentity {
                token_file: PathBuf::from(token_file),
                role_arn,
                session_name: env("AWS_ROLE_SESSION_NAME")
                    .unwrap_or_else(|| "moat-gateway".to_string()),
                sts,
            }),
        });
    }
    sources.extend(file);
    let container = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .map(|relative| format!("http://169.254.170.2{relative}"))
        .or_else(|| env("AWS_CONTAINER_CREDENTIALS_FULL_URI"));
    if let Some(url) = container {
        let token = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
            .map(|path| roles::ContainerToken::File(PathBuf::from(path)))
            .or_else(|| env("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(roles::ContainerToken::Value));
        sources.push(if is_container_endpoint(&url) {
            AwsSource::Container { url, token }
        } else {
            AwsSource::Refuse(format!(
                "the container credentials endpoint {} is neither https, on this machine, nor ECS's or EKS's address",
                shown(&url)
            ))
        });
    }
    if env("AWS_EC2_METADATA_DISABLED").is_none_or(|v| !v.eq_ignore_ascii_case("true")) {
        let endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .unwrap_or_else(|| "http://169.254.169.254".to_string());
        sources.push(AwsSource::Instance {
            endpoint: endpoint.trim_end_matches('/').to_string(),
        });
    }
    sources
}

/// Where keys may be fetched in cleartext, as AWS's SDKs allow: this machine, ECS's
/// endpoint (169.254.170.2) and EKS Pod Identity's (169.254.170.23, fd00:ec2::23); any
/// other over https.
fn is_container_endpoint(url: &str) -> bool {
    is_tls_or_loopback(url)
        || reqwest::Url::parse(url).is_ok_and(|url| {
            url.scheme() == "http"
                && matches!(
                    url.host_str(),
                    Some("169.254.170.2" | "169.254.170.23" | "[fd00:ec2::23]")
                )
        })
}

/// A response's body, up to `limit` bytes (more is an error).
pub(super) async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| "broke off".to_string())?
    {
        if body.len() + chunk.len() > limit {
            return Err(format!("answered with more than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether `url` is https, or plain http to this machine (a stand-in, a sidecar).
pub fn is_tls_or_loopback(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match url.scheme() {
        "https" => true,
        "http" => {
            host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
}

/// A URL as a log may show it: without credentials or a query, which may hold tokens.
fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.to_string()
        }
        Err(_) => "(not a URL)".to_string(),
    }
}

fn describe(source: &AwsSource, why: &str) -> String {
    match source {
        AwsSource::Fixed(_) => format!("the environment's keys {why}"),
        AwsSource::SharedFile { path, profile, .. } => {
            format!("profile `{profile}` of {} {why}", path.display())
        }
        AwsSource::Refuse(_) => why.to_string(),
        AwsSource::WebIdentity(role) => format!(
            "the web identity for {} at STS {} {why}",
            role.role_arn, role.sts
        ),
        AwsSource::Container { url, .. } => {
            format!("the container credentials endpoint {} {why}", shown(url))
        }
        AwsSource::Instance { endpoint } => {
            format!("the instance metadata service at {endpoint} {why}")
        }
    }
}

/// A profile's keys from a shared credentials file; `None` when the file or the
/// profile is not there. Read off the async workers, at most 64 KiB.
async fn read_shared_file(
    path: &std::path::Path,
    profile: &str,
    required: bool,
) -> Result<Option<AwsKeys>, String> {
    let path = path.to_path_buf();
    let text = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if required => {
                return Err(format!(
                    "cannot be read ({}); Moat reads the shared credentials file, not ~/.aws/config",
                    e.kind()
                ));
            }
            // The default file, not there or not this process's to read: not a source.
            Err(_) => return Ok(None),
        };
        let mut text = String::new();
        file.take(64 * 1024 + 1)
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot be read: {e}"))?;
        if text.len() > 64 * 1024 {
            return Err("is larger than 64 KiB".to_string());
        }
        Ok(Some(text))
    })
    .await
    .map_err(|_| "could not be read".to_string())??;
    let Some(text) = text else {
        return Ok(None);
    };
    match profile_keys(&text, profile)? {
        None if required => Err("has no such profile".into()),
        found => Ok(found),
    }
}

/// A profile's keys in a shared credentials file's text (INI: `[profile]`, then
/// `key = value` lines; `#` and `;` start comments): none when the profile is not
/// there, an error when it is there without both its key id and its secret.
pub fn profile_keys(text: &str, profile: &str) -> Result<Option<AwsKeys>, String> {
    let mut found = false;
    let mut section = None;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.trim().to_string());
            continue;
        }
        if section.as_deref() != Some(profile) {
            continue;
        }
        found = true;
        if let Some((key, value)) = line.split_once('=') {
            let value = Some(value.trim().to_string()).filter(|v| !v.is_empty());
            match key.trim() {
                "aws_access_key_id" => id = value,
                "aws_secret_access_key" => secret = value,
                "aws_session_token" => token = value,
                _ => {}
            }
        }
    }
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Some(AwsKeys {
            access_key_id: id,
            secret_access_key: secret,
            session_token: token,
        })),
        (None, None) if !found => Ok(None),
        _ => Err(format!(
            "profile `{profile}` lacks its key id or its secret"
        )),
    }
}

/// SigV4 headers for a `POST` of `body` to `url` at `at`, for the `bedrock` service.
pub fn sign_with(
    keys: &AwsKeys,
    region: &str,
    at: SystemTime,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Vec<(String, String)>, String> {
    let identity = Credentials::new(
        &keys.access_key_id,
        &keys.secret_access_key,
        keys.session_token.clone(),
        None,
        "moat",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("bedrock")
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("cannot sign: {e}"))?
        .into();
    let request = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| format!("cannot sign: {e}"))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| format!("cannot sign: {e}"))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect())
}

mod roles;

pub use roles::{ContainerToken, WebIdentity};

#[cfg(test)]
#[path = "aws/tests.rs"]
mod tests;
