//! The scheduled permission sync a node runs: every repository's readers mirrored from
//! its host now and then every interval (webhooks and sign-in refreshes come between),
//! GitHub logins linked through the organisation's SAML identities first when
//! configured. Each failure is logged; access to a repository fails closed once its
//! mirror is past the staleness bound.

use crate::host_sync::{HostRepo, HostSync};
use std::sync::Arc;

/// Mirrors repository-host permissions now and then every `every`, linking GitHub
/// logins through SAML identities first when configured.
pub async fn keep_synced(
    sync: Arc<HostSync>,
    repos: Vec<HostRepo>,
    saml: Option<(String, String, String)>,
    every: std::time::Duration,
) {
    loop {
        if let Some((api_url, org, token)) = &saml {
            match sync.link_saml_identities(api_url, org, token).await {
                Ok(report) => tracing::info!(
                    identities = report.identities,
                    linked = report.linked,
                    changed = report.changed,
                    "GitHub SAML identities linked"
                ),
                Err(error) => {
                    tracing::warn!(%error, "GitHub SAML identities could not be read; links stay as they were")
                }
            }
        }
        for (repo, result) in sync.sync_all(&repos).await {
            match result {
                Ok(report) => tracing::info!(repo, readers = report.readers, "permissions synced"),
                Err(error) => {
                    tracing::warn!(repo, %error, "permission sync failed; access fails closed once stale")
                }
            }
        }
        tokio::time::sleep(every).await;
    }
}
