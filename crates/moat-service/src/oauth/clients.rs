//! Which clients may ask for authorization, and where each redirect may go.
//!
//! Clients are looked up in the order the MCP specification asks clients to try them:
//! those configured in `moat.toml`, then those that registered themselves (RFC 7591,
//! which can be turned off and is rate-limited and audited). Every client is public
//! (`token_endpoint_auth_method: none`): PKCE, exact redirect URIs and one-time codes
//! protect the flow, not a client secret a desktop tool cannot keep.
//!
//! Redirect URIs match exactly, except loopback ones, whose port may differ (RFC 8252
//! §7.3: a native app listens on whatever port is free). A registered URI must be
//! `https`, loopback `http`, or a private-use scheme of a native app (`cursor://…`);
//! never `javascript:`, `data:`, `file:` or a URI with a fragment.

use super::{OAuthServer, events, new_id};
use crate::AdminActor;
use moat_store::OAuthClientRow;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// A client configured in `moat.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredClient {
    pub id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
}

/// Where a client's description comes from; the consent page says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientSource {
    /// Configured by an administrator.
    Config,
    /// Registered itself (RFC 7591): its name is its own claim, unverified.
    Registered,
    /// Described by a metadata document at its `client_id` URL: its name is what the
    /// site serving that URL says.
    MetadataDocument,
}

impl ClientSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientSource::Config => "config",
            ClientSource::Registered => "registered",
            ClientSource::MetadataDocument => "metadata-document",
        }
    }
}

/// A client as the flow uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub source: ClientSource,
}

impl Client {
    /// The registered URI `given` matches, if any (exactly, or a loopback URI on
    /// another port).
    pub fn redirect_matches(&self, given: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| registered == given || same_loopback_redirect(registered, given))
    }
}

/// Why a registration was refused (RFC 7591 §3.2.2 error codes).
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("{0}")]
    InvalidRedirectUri(String),
    #[error("{0}")]
    InvalidMetadata(String),
    #[error(
        "dynamic client registration is turned off here; ask an administrator to configure the client in moat.toml ([[identity.oauth.clients]])"
    )]
    Disabled,
    #[error("too many client registrations in the last hour; try again later")]
    RateLimited,
    #[error("the registration could not be recorded, so it was not made: {0}")]
    NotRecorded(String),
    #[error(transparent)]
    Store(#[from] moat_store::StoreError),
}

impl RegistrationError {
    /// The RFC 7591 `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            RegistrationError::InvalidRedirectUri(_) => "invalid_redirect_uri",
            RegistrationError::InvalidMetadata(_) | RegistrationError::Disabled => {
                "invalid_client_metadata"
            }
            RegistrationError::RateLimited => "temporarily_unavailable",
            RegistrationError::NotRecorded(_) | RegistrationError::Store(_) => "server_error",
        }
    }
}

/// What a client sends to register (RFC 7591 §2); other fields are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistrationRequest {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub response_types: Vec<String>,
    pub client_uri: Option<String>,
}

/// Longest client name kept; longer ones are cut (it is shown on the consent page).
const MAX_NAME_CHARS: usize = 80;
const MAX_REDIRECT_URIS: usize = 10;
const MAX_URI_BYTES: usize = 2000;

impl OAuthServer {
    /// The client with this id: configured first, then registered.
    pub async fn client(&self, id: &str) -> Result<Option<Client>, moat_store::StoreError> {
        if let Some(configured) = self.settings.clients.iter().find(|c| c.id == id) {
            return Ok(Some(Client {
                id: configured.id.clone(),
                name: configured.name.clone(),
                redirect_uris: configured.redirect_uris.clone(),
                source: ClientSource::Config,
            }));
        }
        if id.len() > 200 {
            return Ok(None);
        }
        let Some(row) = self.store.oauth_client(id).await? else {
            return Ok(None);
        };
        match serde_json::from_str::<Client>(&row.metadata) {
            Ok(client) => Ok(Some(client)),
            Err(error) => Err(moat_store::StoreError::Corrupt(format!(
                "oauth client {id}: {error}"
            ))),
        }
    }

    /// Registers a public client (RFC 7591), on the record before it exists.
    pub async fn register(
        &self,
        actor: &AdminActor,
        request: RegistrationRequest,
    ) -> Result<Client, RegistrationError> {
        if !self.settings.dynamic_registration {
            return Err(RegistrationError::Disabled);
        }
        let client = validate_registration(request)?;
        if !self.registrations.admit(self.clock.now().0) {
            return Err(RegistrationError::RateLimited);
        }
        let client = Client {
            id: new_id("mcl_"),
            ..client
        };
        events::client_registered(self, actor, &client)
            .await
            .map_err(|e| RegistrationError::NotRecorded(e.to_string()))?;
        let metadata = serde_json::to_string(&client)
            .map_err(|e| RegistrationError::InvalidMetadata(e.to_string()))?;
        self.store
            .oauth_client_put(&OAuthClientRow {
                id: client.id.clone(),
                source: ClientSource::Registered.as_str().into(),
                metadata,
                created_at: self.clock.now(),
            })
            .await?;
        Ok(client)
    }
}

fn validate_registration(request: RegistrationRequest) -> Result<Client, RegistrationError> {
    if request.redirect_uris.is_empty() {
        return Err(RegistrationError::InvalidRedirectUri(
            "redirect_uris is required: where to send the person back after consent".into(),
        ));
    }
    if request.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(RegistrationError::InvalidRedirectUri(format!(
            "at most {MAX_REDIRECT_URIS} redirect_uris"
        )));
    }
    for uri in &request.redirect_uris {
        check_redirect_uri(uri).map_err(RegistrationError::InvalidRedirectUri)?;
    }
    if let Some(method) = request.token_endpoint_auth_method.as_deref()
        && !matches!(
            method,
            "none" | "client_secret_post" | "client_secret_basic"
        )
    {
        return Err(RegistrationError::InvalidMetadata(format!(
            "token_endpoint_auth_method `{method}` is not supported; clients here are public (`none`)"
        )));
    }
    if request
        .grant_types
        .iter()
        .any(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
    {
        return Err(RegistrationError::InvalidMetadata(
            "grant_types may only be authorization_code and refresh_token".into(),
        ));
    }
    if request.response_types.iter().any(|r| r != "code") {
        return Err(RegistrationError::InvalidMetadata(
            "response_types may only be `code`".into(),
        ));
    }
    let name = request
        .client_name
        .as_deref()
        .map(|n| {
            // Shown on the consent page: nothing hidden or reordered (bidi controls).
            n.chars()
                .filter(|&c| !c.is_control() && !moat_dlp::injection::is_hidden(c))
                .collect::<String>()
        })
        .map(|n| n.trim().chars().take(MAX_NAME_CHARS).collect::<String>())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "Unnamed client".to_string());
    Ok(Client {
        id: String::new(),
        name,
        redirect_uris: request.redirect_uris,
        source: ClientSource::Registered,
    })
}

/// Whether a redirect URI may be registered; the reason if not.
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_URI_BYTES || uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "redirect URI `{}` is malformed",
            uri.escape_debug()
        ));
    }
    if uri.contains('#') {
        return Err(format!(
            "redirect URI `{uri}` has a fragment, which OAuth forbids"
        ));
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err(format!("redirect URI `{uri}` has no scheme"));
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "https" => {
            let host =
                authority_host(rest).ok_or_else(|| format!("redirect URI `{uri}` has no host"))?;
            if host.is_empty() {
                return Err(format!("redirect URI `{uri}` has no host"));
            }
            Ok(())
        }
        "http" => match authority_host(rest) {
            Some(host) if is_loopback_host(&host) => Ok(()),
            _ => Err(format!(
                "redirect URI `{uri}` uses http to a host that is not loopback; use https, or http://127.0.0.1:PORT for a local app"
            )),
        },
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" | "ftp" | "ws" | "wss" => {
            Err(format!("redirect URI scheme `{scheme}` is not allowed"))
        }
        _ if scheme
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
            && scheme.as_bytes()[0].is_ascii_lowercase() =>
        {
            // A native app's private-use scheme (RFC 8252 §7.1).
            Ok(())
        }
        _ => Err(format!("redirect URI `{uri}` has an invalid scheme")),
    }
}

/// The host of `//host[:port]/…` (brackets kept off IPv6), lowercase.
fn authority_host(rest: &str) -> Option<String> {
    let authority = rest.strip_prefix("//")?;
    let authority = authority.split(['/', '?']).next()?;
    if authority.contains('@') {
        return None;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?.to_string(),
        None => authority.split(':').next()?.to_string(),
    };
    Some(host.to_ascii_lowercase())
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `http://<loopback>:<port>/path?query`, with the port (and only the port) ignored.
fn same_loopback_redirect(registered: &str, given: &str) -> bool {
    fn without_port(uri: &str) -> Option<(String, String)> {
        let rest = uri.strip_prefix("http://")?;
        let host = authority_host(&format!("//{rest}"))?;
        if !is_loopback_host(&host) {
            return None;
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let (name, port) = match authority.rsplit_once(':') {
            Some((name, port)) if !name.ends_with(']') || authority.ends_with(']') => {
                if authority.ends_with(']') {
                    (authority, "")
                } else {
                    (name, port)
                }
            }
            _ => (authority, ""),
        };
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((name.to_ascii_lowercase(), rest[authority_end..].to_string()))
    }
    match (without_port(registered), without_port(given)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// At most `per_hour` registrations in any hour, from everyone together: a flood of
/// registrations fills neither the store nor the audit log.
pub(super) struct RegistrationLimit {
    per_hour: u32,
    recent: Mutex<std::collections::VecDeque<i64>>,
}

impl RegistrationLimit {
    pub(super) fn new(per_hour: u32) -> Self {
        RegistrationLimit {
            per_hour,
            recent: Mutex::new(Default::default()),
        }
    }

    pub(super) fn admit(&self, now: i64) -> bool {
        let Ok(mut recent) = self.recent.lock() else {
            return false;
        };
        while recent.front().is_some_and(|&t| t <= now - 3600) {
            recent.pop_front();
        }
        if recent.len() >= self.per_hour as usize {
            return false;
        }
        recent.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_that_may_be_registered() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1:33418/callback",
            "http://localhost:8080/cb",
            "http://[::1]:9000/cb",
            "cursor://anysphere.cursor-retrieval/oauth/moat/callback",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://app.example/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://localhost@evil.example/cb",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "https://app.example/cb#frag",
            "https:///nohost",
            "https://app.example/c b",
            "/relative",
            "9scheme://x",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_redirects_match_on_any_port_others_exactly() {
        let client = Client {
            id: "c".into(),
            name: "c".into(),
            redirect_uris: vec![
                "http://127.0.0.1/callback".into(),
                "https://app.example/cb".into(),
            ],
            source: ClientSource::Config,
        };
        assert!(client.redirect_matches("http://127.0.0.1:51234/callback"));
        assert!(client.redirect_matches("http://127.0.0.1/callback"));
        assert!(!client.redirect_matches("http://127.0.0.1:51234/other"));
        assert!(!client.redirect_matches("http://localhost:51234/callback"));
        assert!(!client.redirect_matches("http://127.0.0.1:51234/callback?x=1"));
        assert!(client.redirect_matches("https://app.example/cb"));
        assert!(!client.redirect_matches("https://app.example/cb/"));
        assert!(!client.redirect_matches("https://app.example:8443/cb"));
        assert!(!client.redirect_matches("https://APP.example/cb"));
    }

    #[test]
    fn registrations_are_limited_per_hour() {
        let limit = RegistrationLimit::new(2);
        assert!(limit.admit(100));
        assert!(limit.admit(101));
        assert!(!limit.admit(102));
        assert!(limit.admit(100 + 3600));
    }
}
