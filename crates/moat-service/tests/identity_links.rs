//! Identities are linked, never guessed (issue #17, section 7): a host login maps to a
//! person only through the configured `users` tables or a stored link (identity
//! provider, SCIM, GitHub's SAML external identities); a login that merely looks like
//! someone's email grants nothing and is listed as unmapped.

mod common;

use common::{decide, world};
use moat_domain::UnixTime;
use moat_service::host_sync::HostSync;
use moat_service::{SystemClock, UnmappedLogin};
use moat_store::HostLink;
use std::sync::Arc;

async fn sync(world: &common::World) -> Arc<HostSync> {
    let sync = Arc::new(HostSync::new(world.writer.clone(), Arc::new(SystemClock)));
    sync.sync_all(&world.repos).await;
    sync
}

fn add_github_readers(world: &common::World, logins: &[&str]) {
    let mut readers = world.hosts.github_readers.lock().unwrap();
    readers.retain(|l| !l.starts_with("outside-"));
    readers.extend(logins.iter().map(|l| l.to_string()));
}

#[tokio::test]
async fn a_login_that_looks_like_an_email_local_part_grants_nothing_and_is_listed() {
    let world = world().await;
    // `zed` on GitHub is a contractor, not zed@example.com; `carol` is linked on
    // GitLab only, and carol on GitHub may be someone else.
    add_github_readers(&world, &["zed", "carol"]);
    sync(&world).await;
    assert!(
        decide(&world, "alice@example.com", "payments").await.allow,
        "linked"
    );
    assert!(
        decide(&world, "bob@example.com", "payments").await.allow,
        "linked"
    );
    for email in ["zed@example.com", "carol@example.com"] {
        let denied = decide(&world, email, "payments").await;
        assert!(!denied.allow, "{email} got access through a guessed login");
    }
    assert!(decide(&world, "carol@example.com", "ledger").await.allow);

    let unmapped = world.access.unmapped().await.unwrap();
    let listed: Vec<(&str, &str, Vec<String>)> = unmapped
        .iter()
        .map(|u| (u.host.as_str(), u.login.as_str(), u.repos.clone()))
        .collect();
    assert_eq!(
        listed,
        [
            ("github", "carol", vec!["payments".to_string()]),
            ("github", "zed", vec!["payments".to_string()]),
        ]
    );
}

#[tokio::test]
async fn a_stored_link_grants_and_removing_it_takes_access_away() {
    let world = world().await;
    add_github_readers(&world, &["zed-contracting"]);
    sync(&world).await;
    assert!(!decide(&world, "zed@example.com", "payments").await.allow);
    let zed = world
        .store
        .user_by_email("zed@example.com")
        .await
        .unwrap()
        .unwrap();
    let link = HostLink {
        host: "github".into(),
        login: "Zed-Contracting".into(),
        user: zed.id.clone(),
        source: "idp".into(),
        linked_at: UnixTime(1),
    };
    world.store.host_link_set(&link).await.unwrap();
    assert!(decide(&world, "zed@example.com", "payments").await.allow);
    assert_eq!(
        world.access.linked_logins(&zed).await.unwrap(),
        [("github".to_string(), "zed-contracting".to_string())]
    );
    // A link for one host says nothing about another.
    world
        .store
        .host_links_replace("github", "idp", &[])
        .await
        .unwrap();
    assert!(!decide(&world, "zed@example.com", "payments").await.allow);
    assert_eq!(
        world.access.unmapped().await.unwrap(),
        [UnmappedLogin {
            host: "github".into(),
            login: "zed-contracting".into(),
            repos: vec!["payments".into()],
            linked_to: None,
        }]
    );
}

#[tokio::test]
async fn github_saml_identities_link_logins_and_unlink_them_when_removed() {
    let world = world().await;
    add_github_readers(&world, &["zq-dev", "mallory", "nobody-gh"]);
    *world.hosts.saml.lock().unwrap() = Some(vec![
        (Some("ZQ-dev".into()), "Zed@Example.com".into()),
        // An identity whose account is not linked yet, and one for someone who is no
        // Moat user: neither links anything.
        (None, "bob@example.com".into()),
        (Some("nobody-gh".into()), "nobody@example.com".into()),
    ]);
    let sync = sync(&world).await;
    assert!(!decide(&world, "zed@example.com", "payments").await.allow);
    let report = sync
        .link_saml_identities(&world.api_url, "acme", "test-token-not-a-secret")
        .await
        .unwrap();
    assert_eq!(
        (report.identities, report.linked, report.changed),
        (2, 1, 1)
    );
    assert!(decide(&world, "zed@example.com", "payments").await.allow);
    let zed = world
        .store
        .users()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.email == "zed@example.com")
        .unwrap()
        .id
        .0;
    assert_eq!(
        common::link_events(world.store.as_ref()).await,
        [("zq-dev".to_string(), None, Some(zed.clone()))],
        "the new link is on the record, naming the person it maps to"
    );

    // The identity is removed at the provider: the next link sync unlinks the login.
    world
        .hosts
        .saml
        .lock()
        .unwrap()
        .as_mut()
        .unwrap()
        .retain(|(login, _)| login.as_deref() != Some("ZQ-dev"));
    sync.link_saml_identities(&world.api_url, "acme", "test-token-not-a-secret")
        .await
        .unwrap();
    assert!(!decide(&world, "zed@example.com", "payments").await.allow);
    assert_eq!(
        common::link_events(world.store.as_ref()).await[1..],
        [("zq-dev".to_string(), Some(zed), None)],
        "and so is its removal"
    );

    // An organisation Moat cannot see fails and keeps the links as they were; one
    // without SAML single sign-on has no SAML links.
    assert!(
        sync.link_saml_identities(&world.api_url, "other-org", "t")
            .await
            .is_err()
    );
    *world.hosts.saml.lock().unwrap() = None;
    let report = sync
        .link_saml_identities(&world.api_url, "acme", "t")
        .await
        .unwrap();
    assert_eq!(report.identities, 0);
    let unmapped: Vec<String> = world
        .access
        .unmapped()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.login)
        .collect();
    assert_eq!(unmapped, ["mallory", "nobody-gh", "zq-dev"]);
}
