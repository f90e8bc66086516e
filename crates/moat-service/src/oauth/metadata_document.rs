//! Client ID Metadata Documents: a `client_id` that is an https URL names a JSON
//! document, served by the client's own site, that describes it (the registration
//! the MCP specification asks clients to try before dynamic registration).
//!
//! Fetching a URL a stranger chose is a server-side request forgery waiting to happen,
//! so the fetch is fenced: `https` only (plain `http` only to a loopback address, and
//! only where private addresses are allowed); the host's addresses are resolved first
//! and a private, loopback, link-local or otherwise internal one is refused unless
//! `[identity.oauth] metadata_private_addresses = true`; the connection goes to the
//! address that was checked (no second lookup to rebind); no redirects, no credentials
//! in the URL, 5 s, 5 KiB, a few fetches at once. The document must name this URL as
//! its `client_id`, list redirect URIs that pass the same checks as a registration,
//! and be a public client. Good documents are cached for their `Cache-Control` max-age,
//! between 1 minute and 1 day (5 minutes without one); failures are not cached.

use super::clients::{Client, ClientSource, check_redirect_uri};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_BYTES: usize = 5 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CACHED: usize = 1_000;
const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// Why a metadata document was not accepted. Safe to show the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the client's metadata document at {url} cannot be used: {reason}")]
pub struct DocumentError {
    pub url: String,
    pub reason: String,
}

pub struct MetadataDocuments {
    allow_private: bool,
    cache: Mutex<HashMap<String, (Client, Instant)>>,
    fetching: tokio::sync::Semaphore,
}

/// Whether a `client_id` is a metadata document URL (rather than an opaque id).
pub fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

impl MetadataDocuments {
    pub fn new(allow_private: bool) -> MetadataDocuments {
        MetadataDocuments {
            allow_private,
            cache: Mutex::new(HashMap::new()),
            fetching: tokio::sync::Semaphore::new(4),
        }
    }

    /// The client the document at `url` describes.
    pub async fn client(&self, url: &str) -> Result<Client, DocumentError> {
        let refuse = |reason: String| DocumentError {
            url: url.chars().take(200).collect(),
            reason,
        };
        if let Some((client, until)) = self.cache.lock().ok().and_then(|c| c.get(url).cloned())
            && until > Instant::now()
        {
            return Ok(client);
        }
        let target = self.target(url).await.map_err(refuse)?;
        let _slot = self
            .fetching
            .acquire()
            .await
            .map_err(|_| refuse("shutting down".into()))?;
        let (client, ttl) = self.fetch(url, target).await.map_err(refuse)?;
        if let Ok(mut cache) = self.cache.lock() {
            let now = Instant::now();
            cache.retain(|_, (_, until)| *until > now);
            if cache.len() < MAX_CACHED {
                cache.insert(url.to_string(), (client.clone(), now + ttl));
            }
        }
        Ok(client)
    }

    /// The checked host, port and address to connect to.
    async fn target(&self, url: &str) -> Result<(String, SocketAddr), String> {
        if url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("the URL is malformed".into());
        }
        let (https, rest) = match url.split_once("://") {
            Some(("https", rest)) => (true, rest),
            Some(("http", rest)) => (false, rest),
            _ => return Err("it must be an https URL".into()),
        };
        if url.contains('#') {
            return Err("it has a fragment".into());
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err("it carries credentials".into());
        }
        if path.len() <= 1 || path.split('/').any(|s| s == "." || s == "..") {
            return Err("it must have a path (and no dot segments)".into());
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or("the host is malformed")?;
                (host.to_string(), after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_string(), Some(port)),
                None => (authority.to_string(), None),
            },
        };
        let port: u16 = match port {
            Some(port) => port
                .parse()
                .map_err(|_| "the port is malformed".to_string())?,
            None if https => 443,
            None => 80,
        };
        if host.is_empty() {
            return Err("it has no host".into());
        }
        let addresses: Vec<SocketAddr> =
            tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((host.as_str(), port)))
                .await
                .map_err(|_| "its host did not resolve in time".to_string())?
                .map_err(|e| format!("its host does not resolve: {e}"))?
                .collect();
        let Some(first) = addresses.first().copied() else {
            return Err("its host has no address".into());
        };
        // Every address the name has must be public: one internal address is enough
        // for a later lookup to land there.
        if !self.allow_private
            && let Some(internal) = addresses.iter().find(|a| is_internal(a.ip()))
        {
            return Err(format!(
                "its host resolves to the internal address {}; set [identity.oauth] metadata_private_addresses = true to allow that",
                internal.ip()
            ));
        }
        if !https && !addresses.iter().all(|a| a.ip().is_loopback()) {
            return Err("it must be an https URL (plain http only on loopback)".into());
        }
        Ok((host, first))
    }

    async fn fetch(
        &self,
        url: &str,
        (host, address): (String, SocketAddr),
    ) -> Result<(Client, Duration), String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .resolve(&host, address)
            .build()
            // Never an unpinned client: a second lookup could land inside the network.
            .map_err(|e| format!("it cannot be fetched safely here: {e}"))?;
        let mut response = http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("it could not be fetched: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("it answered HTTP {}", response.status().as_u16()));
        }
        let ttl = max_age(response.headers()).unwrap_or(DEFAULT_TTL);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("it could not be read: {e}"))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BYTES {
                return Err(format!("it is larger than {MAX_BYTES} bytes"));
            }
        }
        let document: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("it is not JSON: {e}"))?;
        Ok((client_from(url, &document)?, ttl))
    }
}

fn client_from(url: &str, document: &serde_json::Value) -> Result<Client, String> {
    if document["client_id"].as_str() != Some(url) {
        return Err("its client_id is not its own URL".into());
    }
    if document.get("client_secret").is_some() || document.get("client_secret_expires_at").is_some()
    {
        return Err("it carries a client secret; such clients are public".into());
    }
    if let Some(method) = document["token_endpoint_auth_method"].as_str()
        && method != "none"
    {
        return Err(format!(
            "token_endpoint_auth_method `{method}` is not supported; use `none`"
        ));
    }
    let uris: Vec<String> = document["redirect_uris"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if uris.is_empty() || uris.len() > 10 {
        return Err("it must list 1 to 10 redirect_uris".into());
    }
    for uri in &uris {
        check_redirect_uri(uri)?;
    }
    let host = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or(url);
    let name = document["client_name"]
        .as_str()
        .map(|n| {
            n.chars()
                .filter(|&c| !c.is_control() && !moat_dlp::injection::is_hidden(c))
                .take(80)
                .collect::<String>()
        })
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| host.to_string());
    Ok(Client {
        id: url.to_string(),
        name,
        redirect_uris: uris,
        source: ClientSource::MetadataDocument,
    })
}

/// `Cache-Control: max-age`, bounded to between a minute and a day.
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    if value.contains("no-store") || value.contains("no-cache") {
        return Some(Duration::from_secs(60));
    }
    let seconds: u64 = value
        .split(',')
        .find_map(|part| part.trim().strip_prefix("max-age="))?
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds.clamp(60, 86_400)))
}

/// Loopback, private (RFC 1918, ULA), link-local (cloud metadata at 169.254.169.254),
/// shared (CGNAT), unspecified, multicast, documentation and benchmarking ranges, and
/// IPv4 mapped or translated into IPv6.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064 && v6.segments()[1] == 0xff9b
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "8.8.8.8",
        ] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn a_document_must_describe_itself_as_a_public_client() {
        let url = "https://tool.example/oauth/client.json";
        let good = serde_json::json!({
            "client_id": url, "client_name": "Tool", "redirect_uris": ["http://127.0.0.1/cb"],
            "token_endpoint_auth_method": "none"
        });
        let client = client_from(url, &good).unwrap();
        assert_eq!(client.name, "Tool");
        assert_eq!(client.source, ClientSource::MetadataDocument);
        let mut other = good.clone();
        other["client_id"] = "https://other.example/c.json".into();
        assert!(client_from(url, &other).is_err());
        let mut secret = good.clone();
        secret["client_secret"] = "s".into();
        assert!(client_from(url, &secret).is_err());
        let mut evil = good.clone();
        evil["redirect_uris"] = serde_json::json!(["javascript:alert(1)"]);
        assert!(client_from(url, &evil).is_err());
        let mut basic = good;
        basic["token_endpoint_auth_method"] = "client_secret_basic".into();
        assert!(client_from(url, &basic).is_err());
    }

    #[tokio::test]
    async fn urls_are_fenced_before_anything_is_fetched() {
        let fenced = MetadataDocuments::new(false);
        for url in [
            "ftp://tool.example/c.json",
            "https://tool.example",
            "https://tool.example/",
            "https://user:pw@tool.example/c.json",
            "https://tool.example/a/../c.json",
            "https://tool.example/c.json#x",
            "http://127.0.0.1:9/c.json",
            "https://127.0.0.1:9/c.json",
            "https://169.254.169.254/latest/meta-data",
            "https://[::ffff:10.0.0.1]/c.json",
            "https://localhost:9/c.json",
        ] {
            assert!(fenced.client(url).await.is_err(), "{url}");
        }
    }
}
