//! What `moat serve` does in the background: hourly pruning (the process's) and the
//! permission sync (the configuration's, replaced with it).

use std::sync::Arc;

/// Deletes stored request/response bodies past `[audit] body_retention`, hourly (events
/// keep their `content_ref` hashes, so verification is unaffected), and OAuth secrets
/// long expired.
pub async fn prune(store: Arc<dyn moat_store::Store>, keep_seconds: i64) {
    let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        hourly.tick().await;
        let before = moat_domain::UnixTime::now().plus_seconds(-keep_seconds);
        match store.audit_delete_bodies_before(before).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "pruned stored bodies past retention"),
            Err(error) => tracing::warn!(%error, "could not prune stored bodies"),
        }
        // Shared rate-limit and budget counters of windows that have ended.
        match moat_service::gateway::limits::expire_shared(
            store.as_ref(),
            moat_domain::UnixTime::now().0,
        )
        .await
        {
            Ok(0) => {}
            Ok(dropped) => tracing::info!(dropped, "forgot ended rate-limit windows"),
            Err(error) => tracing::warn!(%error, "could not forget ended rate-limit windows"),
        }
        // MCP sessions opened more than a week ago: their clients open new ones.
        let week_ago = moat_domain::UnixTime::now().plus_seconds(-7 * 86_400);
        match store.mcp_sessions_expire(week_ago).await {
            Ok(0) => {}
            Ok(dropped) => tracing::info!(dropped, "forgot MCP sessions older than a week"),
            Err(error) => tracing::warn!(%error, "could not forget old MCP sessions"),
        }
        // OAuth codes, refresh tokens, links and sessions a day past their expiry (a
        // replay of one that old is refused as unknown, as it would be as expired).
        let expired = moat_domain::UnixTime::now().plus_seconds(-86_400);
        match store.oauth_secrets_expire(expired).await {
            Ok(0) => {}
            Ok(dropped) => tracing::info!(dropped, "dropped expired OAuth secrets"),
            Err(error) => tracing::warn!(%error, "could not drop expired OAuth secrets"),
        }
    }
}

/// Mirrors repository-host permissions now and then every `every`, linking GitHub
/// logins through SAML identities first when configured.
pub async fn sync_permissions(
    sync: Arc<moat_service::host_sync::HostSync>,
    repos: Vec<moat_service::host_sync::HostRepo>,
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
