//! Webhook deliveries are deduplicated across nodes: a host that sends the same
//! delivery to every node behind a load balancer (a retry after a timeout lands on
//! another node) gets it applied once. Three nodes here are three connection pools,
//! each with its own audit writer and mirror writer, on one PostgreSQL database
//! (`MOAT_TEST_POSTGRES`, default the local server).

mod common;

use common::*;
use moat_service::SystemClock;
use moat_service::host_sync::HostSync;
use moat_service::webhooks::{WebhookOutcome, Webhooks};
use moat_store::conformance::scratch::ScratchPostgres;
use moat_store::{PostgresOptions, PostgresStore, Store};
use std::sync::Arc;

async fn node(url: &str) -> Arc<dyn Store> {
    Arc::new(
        PostgresStore::connect(&PostgresOptions::new(url))
            .await
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_delivery_sent_to_three_nodes_at_once_is_applied_once() {
    let db = ScratchPostgres::new().await;
    let world = world_on(node(&db.url).await, tempfile::tempdir().unwrap()).await;
    let first = Arc::new(HostSync::new(world.writer.clone(), Arc::new(SystemClock)));
    first.sync_all(&world.repos).await;
    assert!(decide(&world, "alice@example.com", "payments").await.allow);
    let mut nodes = vec![webhooks(&world)];
    for _ in 0..2 {
        let writer = mirror_writer(node(&db.url).await).await;
        nodes.push(Webhooks {
            writer: writer.clone(),
            clock: Arc::new(SystemClock),
            sync: Arc::new(HostSync::new(writer, Arc::new(SystemClock))),
            repos: world.repos.clone(),
            github_secret: Some(b"webhook-secret".to_vec()),
            gitlab_token: Some("gitlab-hook-token".into()),
        });
    }

    for round in 0..5 {
        let login = ["alice", "bobby-gh", "outside-1", "outside-2", "outside-3"][round];
        let removed = format!(
            r#"{{"action":"removed","member":{{"login":"{login}"}},"repository":{{"full_name":"acme/payments"}}}}"#
        );
        let signature = signed(b"webhook-secret", removed.as_bytes());
        let delivery = format!("d-{round}");
        let outcomes = futures_join(&nodes, &delivery, &signature, removed.as_bytes()).await;
        let applied: Vec<_> = outcomes
            .iter()
            .filter(|o| matches!(o, WebhookOutcome::Applied(_)))
            .collect();
        assert_eq!(applied.len(), 1, "round {round}: {outcomes:?}");
        assert_eq!(
            *applied[0],
            WebhookOutcome::Applied(vec![("payments".into(), login.into(), None)])
        );
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == WebhookOutcome::Duplicate)
                .count(),
            2,
            "round {round}: {outcomes:?}"
        );
    }
    assert!(!decide(&world, "alice@example.com", "payments").await.allow);
    // On the record: each node that received a delivery put its intent there first (a
    // change is never made unrecorded), and the two that lost say the change was not
    // applied because the delivery had been: net, each delivery changed the mirror once.
    let events: Vec<_> = moat_service::audit::read::events(world.store.as_ref(), 0, 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.body.action == "access.mirror" && e.body.details["source"] == "webhook")
        .collect();
    for round in 0..5 {
        let delivery = format!("github:d-{round}");
        let of: Vec<_> = events
            .iter()
            .filter(|e| e.body.details["delivery"] == delivery.as_str())
            .collect();
        let intents = of
            .iter()
            .filter(|e| e.body.details.get("phase").is_none())
            .count();
        let not_applied: Vec<_> = of
            .iter()
            .filter(|e| e.body.details["phase"] == "failed")
            .map(|e| e.body.decision.reason.clone().unwrap_or_default())
            .collect();
        assert_eq!(intents, 3, "{delivery}");
        assert_eq!(not_applied.len(), 2, "{delivery}");
        assert!(
            not_applied
                .iter()
                .all(|r| r.contains("the delivery was applied already")),
            "{not_applied:?}"
        );
    }
}

/// The same signed delivery handed to every node at once.
async fn futures_join(
    nodes: &[Webhooks],
    delivery: &str,
    signature: &str,
    body: &[u8],
) -> Vec<WebhookOutcome> {
    let (a, b, c) = tokio::join!(
        nodes[0].github("member", Some(delivery), Some(signature), body),
        nodes[1].github("member", Some(delivery), Some(signature), body),
        nodes[2].github("member", Some(delivery), Some(signature), body),
    );
    vec![a.unwrap(), b.unwrap(), c.unwrap()]
}
