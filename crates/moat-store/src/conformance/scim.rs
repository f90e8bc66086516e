//! SCIM rows: people's SCIM view with its version, and teams whose names follow their
//! members in the same transaction.

use crate::{ScimUser, Store, StoreError, Team};
use moat_domain::{ExternalIds, Role, UnixTime, User, UserId, UserStatus};
use serde_json::json;

fn person(id: &str, email: &str) -> ScimUser {
    ScimUser {
        user: User {
            id: UserId(id.into()),
            email: email.into(),
            name: id.into(),
            status: UserStatus::Active,
            roles: vec![Role::Developer],
            teams: vec!["by-hand".into()],
            external: ExternalIds {
                oidc_subject: None,
                scim_id: Some(format!("ext-{id}")),
            },
            training: None,
            created_at: UnixTime(100),
        },
        user_name: format!("{id}-login"),
        attributes: json!({"emails": [{"value": email}]}),
        version: 1,
        updated_at: UnixTime(100),
    }
}

fn team(id: &str, name: &str, members: &[&str]) -> Team {
    Team {
        id: id.into(),
        name: name.into(),
        external_id: None,
        members: members.iter().map(|m| UserId(m.to_string())).collect(),
        created_at: UnixTime(100),
        updated_at: UnixTime(100),
        version: 1,
    }
}

async fn teams_of(store: &dyn Store, id: &str) -> Vec<String> {
    store.user(&UserId(id.into())).await.unwrap().unwrap().teams
}

pub async fn run_all(store: &dyn Store) {
    people_keep_their_scim_view_and_version(store).await;
    teams_follow_their_members(store).await;
}

async fn people_keep_their_scim_view_and_version(store: &dyn Store) {
    store
        .scim_user_insert(&person("usr_s1", "s1@example.com"))
        .await
        .unwrap();
    let found = store
        .scim_user_by_name("USR_S1-LOGIN")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        found.user.id.0, "usr_s1",
        "userName compares case-insensitively"
    );
    assert_eq!(
        found.attributes,
        json!({"emails": [{"value": "s1@example.com"}]})
    );
    assert_eq!(found.user.external.scim_id.as_deref(), Some("ext-usr_s1"));
    let taken = store
        .scim_user_insert(&person("usr_s2", "s2@example.com"))
        .await;
    assert!(taken.is_ok());
    let mut clash = person("usr_s3", "s3@example.com");
    clash.user_name = "usr_s1-LOGIN".into();
    assert!(matches!(
        store.scim_user_insert(&clash).await,
        Err(StoreError::Conflict(_))
    ));

    // A write at the version read moves it; a write at an old one is refused whole.
    let mut next = found.clone();
    next.user.name = "Renamed".into();
    next.user.status = UserStatus::Suspended;
    let written = store
        .scim_user_update(&next, Some(found.version), UnixTime(200))
        .await
        .unwrap();
    assert!(written.version > found.version);
    assert_eq!(
        (written.user.name.as_str(), written.user.status),
        ("Renamed", UserStatus::Suspended)
    );
    next.user.name = "Lost".into();
    let stale = store
        .scim_user_update(&next, Some(found.version), UnixTime(201))
        .await;
    assert!(matches!(stale, Err(StoreError::Stale { .. })), "{stale:?}");
    assert_eq!(
        store
            .user(&UserId("usr_s1".into()))
            .await
            .unwrap()
            .unwrap()
            .name,
        "Renamed"
    );

    // People added by hand are SCIM-visible under their email.
    let hand = store.scim_users().await.unwrap();
    assert!(hand.iter().all(|u| !u.user_name.is_empty()));
    let any_user_version = store
        .scim_user(&UserId("usr_s2".into()))
        .await
        .unwrap()
        .unwrap()
        .version;
    store
        .set_user_status(&UserId("usr_s2".into()), UserStatus::Suspended, None)
        .await
        .unwrap();
    let after = store
        .scim_user(&UserId("usr_s2".into()))
        .await
        .unwrap()
        .unwrap()
        .version;
    assert!(
        after > any_user_version,
        "every write of a person moves their version"
    );
}

async fn teams_follow_their_members(store: &dyn Store) {
    for (id, email) in [
        ("usr_t1", "t1@example.com"),
        ("usr_t2", "t2@example.com"),
        ("usr_t3", "t3@example.com"),
    ] {
        store.scim_user_insert(&person(id, email)).await.unwrap();
    }
    store
        .team_insert(&team("team_a", "Claims", &["usr_t1", "usr_t2"]))
        .await
        .unwrap();
    assert_eq!(teams_of(store, "usr_t1").await, ["by-hand", "Claims"]);
    assert_eq!(
        store.teams_of(&UserId("usr_t1".into())).await.unwrap(),
        [("team_a".to_string(), "Claims".to_string())]
    );
    let clash = store.team_insert(&team("team_b", "CLAIMS", &[])).await;
    assert!(
        matches!(clash, Err(StoreError::Conflict(_))),
        "team names are unique, any case"
    );
    let ghost = store
        .team_insert(&team("team_c", "Ghosts", &["usr_nobody"]))
        .await;
    assert!(
        matches!(ghost, Err(StoreError::NotFound { what: "user", .. })),
        "{ghost:?}"
    );
    assert!(
        store.team("team_c").await.unwrap().is_none(),
        "nothing of a refused team stays"
    );

    // Rename, one leaves, one joins: in one write.
    let current = store.team("team_a").await.unwrap().unwrap();
    let mut next = team("team_a", "Claims Ops", &["usr_t2", "usr_t3"]);
    next.created_at = current.created_at;
    let written = store
        .team_update(&next, Some(current.version), UnixTime(300))
        .await
        .unwrap();
    assert_eq!(
        written.members,
        [UserId("usr_t2".into()), UserId("usr_t3".into())]
    );
    assert_eq!(teams_of(store, "usr_t1").await, ["by-hand"]);
    assert_eq!(teams_of(store, "usr_t2").await, ["by-hand", "Claims Ops"]);
    assert_eq!(teams_of(store, "usr_t3").await, ["by-hand", "Claims Ops"]);
    let stale = store
        .team_update(&next, Some(current.version), UnixTime(301))
        .await;
    assert!(matches!(stale, Err(StoreError::Stale { .. })), "{stale:?}");

    // Deprovisioning leaves every team; deleting a team takes its name from everyone.
    store
        .set_user_status(
            &UserId("usr_t2".into()),
            UserStatus::Deprovisioned,
            Some(UnixTime(400)),
        )
        .await
        .unwrap();
    assert_eq!(teams_of(store, "usr_t2").await, ["by-hand"]);
    let current = store.team("team_a").await.unwrap().unwrap();
    assert_eq!(current.members, [UserId("usr_t3".into())]);
    let rejoin = store
        .team_update(
            &team("team_a", "Claims Ops", &["usr_t2", "usr_t3"]),
            None,
            UnixTime(401),
        )
        .await;
    assert!(
        rejoin.is_err(),
        "a deprovisioned person cannot be made a member"
    );
    store
        .team_delete("team_a", Some(current.version))
        .await
        .unwrap();
    assert_eq!(teams_of(store, "usr_t3").await, ["by-hand"]);
    assert!(
        store
            .teams()
            .await
            .unwrap()
            .iter()
            .all(|t| t.id != "team_a")
    );
}
