//! A push announced by the host asks for the repository's indexing job, so the node
//! that takes it finds the pushed commit and every node follows, without waiting for
//! the interval. Only a delivery the shared secret signs (GitHub) or the shared token
//! accompanies (GitLab) asks; a push to a repository Moat does not connect asks for
//! nothing; a replayed push is absorbed by the job already pending.

mod common;

use common::{signed, webhooks, world};
use moat_service::webhooks::{WebhookError, WebhookOutcome};

fn jobs(reasons: &[moat_store::IndexJob]) -> Vec<(String, String)> {
    reasons
        .iter()
        .map(|job| (job.repo.clone(), job.reason.clone()))
        .collect()
}

#[tokio::test]
async fn a_signed_push_asks_for_its_repositorys_indexing_job_and_nothing_else_does() {
    let world = world().await;
    let hooks = webhooks(&world);
    let push = br#"{"ref":"refs/heads/main","after":"0123abc","repository":{"full_name":"Acme/Payments"}}"#;

    // Forged, or signed with another secret: refused, nothing asked for.
    let forged = hooks
        .github(
            "push",
            Some("p-0"),
            Some(&signed(b"not-the-secret", push)),
            push,
        )
        .await;
    assert!(matches!(forged, Err(WebhookError::Forged)), "{forged:?}");
    assert!(world.store.index_jobs().await.unwrap().is_empty());

    // Signed: the job is asked for (the host's path matched without regard to case).
    let sig = signed(b"webhook-secret", push);
    let outcome = hooks.github("push", Some("p-1"), Some(&sig), push).await;
    assert_eq!(
        outcome.unwrap(),
        WebhookOutcome::Reindex(vec!["payments".into()])
    );
    assert_eq!(
        jobs(&world.store.index_jobs().await.unwrap()),
        [("payments".to_string(), "push".to_string())]
    );
    // Replayed, under the same id and a new one: still one job.
    for id in ["p-1", "p-2"] {
        hooks
            .github("push", Some(id), Some(&sig), push)
            .await
            .unwrap();
    }
    assert_eq!(world.store.index_jobs().await.unwrap().len(), 1);

    // A repository Moat does not connect, and a payload without one.
    let other = br#"{"repository":{"full_name":"acme/elsewhere"}}"#;
    let outcome = hooks
        .github(
            "push",
            Some("p-3"),
            Some(&signed(b"webhook-secret", other)),
            other,
        )
        .await;
    assert_eq!(outcome.unwrap(), WebhookOutcome::Ignored);
    let empty = br#"{"ref":"refs/heads/main"}"#;
    let outcome = hooks
        .github(
            "push",
            Some("p-4"),
            Some(&signed(b"webhook-secret", empty)),
            empty,
        )
        .await;
    assert!(
        matches!(outcome, Err(WebhookError::Payload(_))),
        "{outcome:?}"
    );
    assert_eq!(world.store.index_jobs().await.unwrap().len(), 1);

    // GitLab: the shared token decides; a push and a tag push ask for the job.
    let gitlab = br#"{"event_name":"push","project":{"path_with_namespace":"group/ledger"}}"#;
    let wrong = hooks.gitlab(Some("u-1"), Some("guess"), gitlab).await;
    assert!(matches!(wrong, Err(WebhookError::Forged)), "{wrong:?}");
    assert_eq!(world.store.index_jobs().await.unwrap().len(), 1);
    let outcome = hooks
        .gitlab(Some("u-2"), Some("gitlab-hook-token"), gitlab)
        .await;
    assert_eq!(
        outcome.unwrap(),
        WebhookOutcome::Reindex(vec!["ledger".into()])
    );
    let tag = br#"{"event_name":"tag_push","project":{"path_with_namespace":"group/ledger"}}"#;
    let outcome = hooks.gitlab(None, Some("gitlab-hook-token"), tag).await;
    assert_eq!(
        outcome.unwrap(),
        WebhookOutcome::Reindex(vec!["ledger".into()])
    );
    let mut asked = jobs(&world.store.index_jobs().await.unwrap());
    asked.sort();
    assert_eq!(
        asked,
        [
            ("ledger".to_string(), "push".to_string()),
            ("payments".to_string(), "push".to_string())
        ]
    );
}
