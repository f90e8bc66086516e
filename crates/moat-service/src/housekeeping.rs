//! What a node forgets on schedule: stored request and answer bodies past `[audit]
//! body_retention` (events keep their `content_ref` hashes, so verification is
//! unaffected), shared rate-limit windows that ended, MCP sessions a week old, whom
//! responses a vendor kept belong to after 31 days (vendors keep them 30), and OAuth
//! secrets a day past their expiry (a replay of one that old is refused as unknown, as
//! it would be as expired). `moat audit prune` runs the first by hand.

use crate::clock::Clock;
use moat_domain::UnixTime;
use moat_store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// How often `keep_pruning` runs.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Deletes stored bodies older than `keep_seconds`; how many, and the cut.
pub async fn prune_bodies(
    store: &dyn Store,
    clock: &dyn Clock,
    keep_seconds: i64,
) -> Result<(u64, UnixTime), StoreError> {
    let before = clock.now().plus_seconds(-keep_seconds);
    Ok((store.audit_delete_bodies_before(before).await?, before))
}

/// Everything this module forgets, once; each part logged, none stopping the others.
pub async fn prune_once(store: &dyn Store, clock: &dyn Clock, keep_seconds: i64) {
    let now = clock.now();
    let log = |what: &str, result: Result<u64, StoreError>| match result {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "{what}"),
        Err(error) => tracing::warn!(%error, "could not do: {what}"),
    };
    log(
        "pruned stored bodies past retention",
        prune_bodies(store, clock, keep_seconds)
            .await
            .map(|(n, _)| n),
    );
    log(
        "forgot ended rate-limit windows",
        crate::gateway::limits::expire_shared(store, now.0).await,
    );
    log(
        "forgot MCP sessions older than a week",
        store
            .mcp_sessions_expire(now.plus_seconds(-7 * 86_400))
            .await,
    );
    log(
        "forgot the owners of responses kept longer than a vendor keeps them",
        store
            .gateway_kept_expire(now.plus_seconds(-31 * 86_400))
            .await,
    );
    log(
        "dropped expired OAuth secrets",
        store.oauth_secrets_expire(now.plus_seconds(-86_400)).await,
    );
}

/// [`prune_once`] every [`EVERY`], for as long as the node runs.
pub async fn keep_pruning(store: Arc<dyn Store>, clock: Arc<dyn Clock>, keep_seconds: i64) {
    let mut hourly = tokio::time::interval(EVERY);
    loop {
        hourly.tick().await;
        prune_once(store.as_ref(), clock.as_ref(), keep_seconds).await;
    }
}
