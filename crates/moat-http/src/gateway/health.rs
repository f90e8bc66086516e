//! Health checks of a vendor's hosts (`replicas`): each host's `health_path` is asked
//! every `health_interval` with the vendor's key; a 2xx within five seconds marks it
//! up, anything else down. Changes are logged. The check holds its hosts weakly: when
//! the gateway they belong to is replaced (a new configuration), it stops.

use moat_service::gateway::replicas::Replicas;
use std::sync::Weak;
use std::time::Duration;

/// Longest a host may take to answer its health check.
const TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn check(
    client: reqwest::Client,
    vendor: String,
    key: String,
    replicas: Weak<Replicas>,
) {
    loop {
        let Some(replicas) = replicas.upgrade() else {
            return;
        };
        let urls: Vec<String> = replicas.urls().map(String::from).collect();
        for url in urls {
            let mut request = client
                .get(format!("{url}{}", replicas.health_path))
                .timeout(TIMEOUT);
            if !key.is_empty() {
                request = request.bearer_auth(&key);
            }
            let healthy = matches!(request.send().await, Ok(r) if r.status().is_success());
            if replicas.mark(&url, healthy) {
                if healthy {
                    tracing::info!(%vendor, host = %url, "a vendor host passed its health check; back in rotation");
                } else {
                    tracing::warn!(%vendor, host = %url, "a vendor host failed its health check; out of rotation");
                }
            }
        }
        let every = replicas.health_interval;
        drop(replicas);
        tokio::time::sleep(every).await;
    }
}
