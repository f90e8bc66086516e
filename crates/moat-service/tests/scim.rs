//! SCIM provisioning through its use cases, on SQLite: people and teams created,
//! changed, suspended and removed by the identity provider, with what that does to
//! their credentials, their teams and the record.

use moat_domain::{Audience, Scope, UnixTime, UserId, UserStatus};
use moat_service::scim::{Caller, ListQuery, Projection, Scim};
use moat_service::{
    AdminActor, AuditLog, AuditSettings, AuthError, FixedClock, Identity, IdentitySettings,
    IssueToken, NewUser,
};
use moat_store::{OAuthGrant, SqliteStore, Store};
use serde_json::{Value, json};
use std::sync::Arc;

const BASE: &str = "https://moat.example/scim/v2";

struct World {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    identity: Arc<Identity>,
    scim: Scim,
    caller: Caller,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let clock = Arc::new(FixedClock::at(UnixTime(1_800_000_000)));
    let audit = Arc::new(
        AuditLog::open(
            store.clone(),
            moat_audit::checkpoint::SigningKey::from_seed("moat-test", [3; 32]).unwrap(),
            AuditSettings {
                origin: "test/moat".into(),
                max_batch: 1024,
            },
            vec![],
            clock.clone(),
        )
        .await
        .unwrap(),
    );
    let identity = Arc::new(Identity::new(
        store.clone(),
        clock.clone(),
        IdentitySettings {
            email_domains: vec!["example.com".into()],
            ..IdentitySettings::default()
        },
    ));
    let writer = Arc::new(moat_service::mirror::MirrorWriter::new(
        store.clone(),
        audit.clone(),
        "v-test".into(),
    ));
    let scim = Scim::new(
        store.clone(),
        identity.clone(),
        audit,
        clock,
        "v-test".into(),
    )
    .with_links(writer);
    let caller = Caller {
        base: BASE.into(),
        actor: AdminActor {
            client: "scim".into(),
            address: Some("10.0.0.7".into()),
            ..AdminActor::default()
        },
    };
    World {
        _dir: dir,
        store,
        identity,
        scim,
        caller,
    }
}

fn person(user_name: &str, email: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "externalId": format!("okta-{user_name}"),
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": email, "type": "work", "primary": true}],
        "password": "never-kept-1234"
    })
}

fn ops(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

async fn token(world: &World, user: &str) -> String {
    world
        .identity
        .issue_token(IssueToken {
            user: user.into(),
            name: "laptop".into(),
            scopes: vec![Scope::Mcp],
            ttl_seconds: None,
        })
        .await
        .unwrap()
        .secret
}

async fn scim_events(store: &dyn Store) -> Vec<moat_audit::event::Event> {
    moat_service::audit::read::events(store, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.body.action == "admin.change")
        .collect()
}

#[tokio::test]
async fn a_person_created_by_scim_can_work_until_deactivated_and_then_cannot() {
    let world = world().await;
    let created = world
        .scim
        .create_user(&world.caller, person("ada", "ada@example.com"))
        .await
        .unwrap();
    let id = created.resource["id"].as_str().unwrap().to_string();
    assert!(
        created.resource.get("active").is_none(),
        "left out as the provider left it out (an active person)"
    );
    assert_eq!(created.resource["externalId"], "okta-ada");
    assert!(created.resource.get("password").is_none());
    let user = world.identity.find_user("ada@example.com").await.unwrap();
    assert_eq!(
        (user.id.0.as_str(), user.name.as_str()),
        (id.as_str(), "Ada Lovelace")
    );
    let secret = token(&world, &id).await;
    world
        .identity
        .authenticate(&secret, Scope::Mcp)
        .await
        .unwrap();
    // An OAuth grant the person gave a tool, to see it go.
    world
        .store
        .oauth_grant_insert(&OAuthGrant {
            id: "grant_1".into(),
            user: UserId(id.clone()),
            client_id: "claude-code".into(),
            client_name: "Claude Code".into(),
            scopes: vec![Scope::Mcp],
            audience: Audience::Mcp,
            created_at: UnixTime(1_800_000_000),
            revoked_at: None,
            revoked_reason: None,
        })
        .await
        .unwrap();

    // Okta's deactivation.
    let answer = world
        .scim
        .patch_user(
            &world.caller,
            &id,
            ops(json!([{"op": "replace", "value": {"active": false}}])),
            None,
        )
        .await
        .unwrap();
    assert_eq!(answer.resource["active"], false);
    let refused = world
        .identity
        .authenticate(&secret, Scope::Mcp)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, AuthError::UserInactive(UserStatus::Suspended, _)),
        "the very next request is refused: {refused:?}"
    );
    let grant = world.store.oauth_grant("grant_1").await.unwrap().unwrap();
    assert!(
        grant.revoked_at.is_some(),
        "the grant went with the deactivation"
    );

    // Reactivated: the token works again (suspension keeps tokens), the grant does not.
    world
        .scim
        .patch_user(
            &world.caller,
            &id,
            ops(json!([{"op": "Replace", "path": "active", "value": "True"}])),
            None,
        )
        .await
        .unwrap();
    world
        .identity
        .authenticate(&secret, Scope::Mcp)
        .await
        .unwrap();

    // Delete offboards: the token is revoked for good, SCIM no longer sees them.
    world
        .scim
        .delete_user(&world.caller, &id, None)
        .await
        .unwrap();
    assert!(matches!(
        world
            .identity
            .authenticate(&secret, Scope::Mcp)
            .await
            .unwrap_err(),
        AuthError::Revoked(_)
    ));
    let gone = world
        .scim
        .get_user(BASE, &id, &Projection::default())
        .await
        .unwrap_err();
    assert_eq!(gone.status, 404);
    let again = world
        .scim
        .delete_user(&world.caller, &id, None)
        .await
        .unwrap_err();
    assert_eq!(again.status, 404);

    // Created again: the same person comes back, with no old credential.
    let back = world
        .scim
        .create_user(&world.caller, person("ada", "ada@example.com"))
        .await
        .unwrap();
    assert_eq!(
        back.resource["id"],
        id.as_str(),
        "their history stays theirs"
    );
    assert_eq!(back.resource["id"], id.as_str());
    assert!(matches!(
        world
            .identity
            .authenticate(&secret, Scope::Mcp)
            .await
            .unwrap_err(),
        AuthError::Revoked(_)
    ));
    let fresh = token(&world, &id).await;
    world
        .identity
        .authenticate(&fresh, Scope::Mcp)
        .await
        .unwrap();

    // Every change is on the record, naming the SCIM client, and no password is in it.
    let events = scim_events(world.store.as_ref()).await;
    let operations: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            assert_eq!(e.body.actor.client.as_deref(), Some("scim"));
            assert_eq!(e.body.actor.address.as_deref(), Some("10.0.0.7"));
            assert_eq!(e.body.decision.rule.as_deref(), Some("scim:bearer-token"));
            (
                e.body.details["operation"].as_str().unwrap().to_string(),
                e.body.details["phase"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for operation in [
        "scim.user.create",
        "scim.user.patch",
        "scim.user.delete",
        "scim.user.reactivate",
    ] {
        assert!(
            operations.contains(&(operation.into(), "requested".into())),
            "{operation}"
        );
        assert!(
            operations.contains(&(operation.into(), "applied".into())),
            "{operation}"
        );
    }
    let all =
        serde_json::to_string(&events.iter().map(|e| &e.body.details).collect::<Vec<_>>()).unwrap();
    assert!(
        !all.contains("never-kept-1234"),
        "a password sent by the provider is never recorded"
    );
}

#[tokio::test]
async fn moat_user_reactivate_brings_back_a_deprovisioned_person() {
    let world = world().await;
    let user = world
        .identity
        .add_user(NewUser {
            email: "bob@example.com".into(),
            name: "Bob".into(),
            roles: vec![moat_domain::Role::Developer],
            teams: vec![],
        })
        .await
        .unwrap();
    let old = token(&world, "bob@example.com").await;
    world
        .identity
        .deprovision_user("bob@example.com")
        .await
        .unwrap();
    let again = world.identity.add_user(NewUser {
        email: "bob@example.com".into(),
        name: "Bob".into(),
        roles: vec![moat_domain::Role::Developer],
        teams: vec![],
    });
    let error = again.await.unwrap_err().to_string();
    assert!(error.contains("moat user reactivate"), "{error}");
    let back = world
        .identity
        .reactivate_user("bob@example.com")
        .await
        .unwrap();
    assert_eq!((back.id, back.status), (user.id, UserStatus::Active));
    assert!(
        world.identity.authenticate(&old, Scope::Mcp).await.is_err(),
        "old tokens stay revoked"
    );
    let fresh = token(&world, "bob@example.com").await;
    world
        .identity
        .authenticate(&fresh, Scope::Mcp)
        .await
        .unwrap();
}

#[tokio::test]
async fn groups_are_teams_and_membership_follows_every_change() {
    let world = world().await;
    let mut ids = Vec::new();
    for name in ["ada", "bob", "cy"] {
        let created = world
            .scim
            .create_user(&world.caller, person(name, &format!("{name}@example.com")))
            .await
            .unwrap();
        ids.push(created.resource["id"].as_str().unwrap().to_string());
    }
    let teams_of = |email: &'static str| {
        let identity = world.identity.clone();
        async move { identity.find_user(email).await.unwrap().teams }
    };
    let group = world
        .scim
        .create_group(
            &world.caller,
            json!({"displayName": "claims-eng", "members": [{"value": ids[0]}, {"value": ids[1]}]}),
        )
        .await
        .unwrap();
    let gid = group.resource["id"].as_str().unwrap().to_string();
    assert_eq!(
        teams_of("ada@example.com").await,
        vec!["claims-eng".to_string()]
    );
    assert_eq!(
        teams_of("bob@example.com").await,
        vec!["claims-eng".to_string()]
    );
    // The user shows the group it is in.
    let ada = world
        .scim
        .get_user(BASE, &ids[0], &Projection::default())
        .await
        .unwrap();
    assert_eq!(ada.resource["groups"][0]["value"], gid.as_str());

    // Okta's membership push: add one, remove one by filter.
    world
        .scim
        .patch_group(
            &world.caller,
            &gid,
            ops(json!([
                {"op": "add", "path": "members", "value": [{"value": ids[2]}]},
                {"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])}
            ])),
            None,
        )
        .await
        .unwrap();
    assert!(teams_of("ada@example.com").await.is_empty());
    assert_eq!(
        teams_of("cy@example.com").await,
        vec!["claims-eng".to_string()]
    );

    // A rename follows into every member's teams.
    world
        .scim
        .patch_group(
            &world.caller,
            &gid,
            ops(json!([{"op": "replace", "value": {"displayName": "claims-ops"}}])),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        teams_of("bob@example.com").await,
        vec!["claims-ops".to_string()]
    );

    // Someone who is not a Moat user cannot be a member; nothing changes.
    let bad = world
        .scim
        .patch_group(
            &world.caller,
            &gid,
            ops(json!([{"op": "add", "path": "members", "value": [{"value": "usr_nobody"}]}])),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!((bad.status, bad.scim_type), (400, Some("invalidValue")));
    assert_eq!(
        teams_of("bob@example.com").await,
        vec!["claims-ops".to_string()]
    );

    // Deprovisioning a member takes them out of the team.
    world
        .scim
        .delete_user(&world.caller, &ids[1], None)
        .await
        .unwrap();
    let group = world
        .scim
        .get_group(BASE, &gid, &Projection::default())
        .await
        .unwrap();
    assert_eq!(
        group.resource["members"],
        json!([{"value": ids[2], "$ref": format!("{BASE}/Users/{}", ids[2]), "type": "User"}])
    );

    // Deleting the group empties its members' teams; the record lists who left.
    world
        .scim
        .delete_group(&world.caller, &gid, None)
        .await
        .unwrap();
    assert!(teams_of("cy@example.com").await.is_empty());
    let events = scim_events(world.store.as_ref()).await;
    let deleted = events
        .iter()
        .find(|e| {
            e.body.details["operation"] == "scim.group.delete"
                && e.body.details["phase"] == "applied"
        })
        .unwrap();
    assert_eq!(deleted.body.details["after"]["left"], json!([ids[2]]));
}

#[tokio::test]
async fn uniqueness_versions_and_bad_input_are_answered_in_scim_terms() {
    let world = world().await;
    let ada = world
        .scim
        .create_user(&world.caller, person("ada", "ada@example.com"))
        .await
        .unwrap();
    let id = ada.resource["id"].as_str().unwrap().to_string();
    let twice = world
        .scim
        .create_user(&world.caller, person("ada", "ada2@example.com"))
        .await
        .unwrap_err();
    assert_eq!((twice.status, twice.scim_type), (409, Some("uniqueness")));
    let same_email = world
        .scim
        .create_user(&world.caller, person("ada2", "ADA@example.com"))
        .await
        .unwrap_err();
    assert_eq!(same_email.status, 409);
    let outside = world
        .scim
        .create_user(&world.caller, person("eve", "eve@evil.example"))
        .await
        .unwrap_err();
    assert_eq!(
        (outside.status, outside.scim_type),
        (400, Some("invalidValue"))
    );
    assert!(
        outside.detail.contains("email domains"),
        "{}",
        outside.detail
    );
    let no_email = world
        .scim
        .create_user(&world.caller, json!({"userName": "ghost"}))
        .await
        .unwrap_err();
    assert!(no_email.detail.contains("email"), "{}", no_email.detail);
    let bad_bool = world
        .scim
        .patch_user(
            &world.caller,
            &id,
            ops(json!([{"op": "replace", "path": "active", "value": "maybe"}])),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(bad_bool.status, 400);

    // ETags: a stale If-Match is refused and changes nothing; the current one works.
    let stale = ada.etag.clone();
    let changed = world
        .scim
        .patch_user(
            &world.caller,
            &id,
            ops(json!([{"op": "add", "path": "title", "value": "Engineer"}])),
            Some(&stale),
        )
        .await
        .unwrap();
    assert_ne!(changed.etag, stale);
    let refused = world
        .scim
        .patch_user(
            &world.caller,
            &id,
            ops(json!([{"op": "add", "path": "title", "value": "CTO"}])),
            Some(&stale),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.status, 412);
    let now = world
        .scim
        .get_user(BASE, &id, &Projection::default())
        .await
        .unwrap();
    assert_eq!(now.resource["title"], "Engineer");
    assert_eq!(now.etag, changed.etag);
    let refused = world
        .scim
        .delete_user(&world.caller, &id, Some(&stale))
        .await
        .unwrap_err();
    assert_eq!(refused.status, 412);
}

#[tokio::test]
async fn lists_filter_sort_page_and_project() {
    let world = world().await;
    for name in ["cy", "ada", "bob"] {
        world
            .scim
            .create_user(&world.caller, person(name, &format!("{name}@example.com")))
            .await
            .unwrap();
    }
    let list = |filter: Option<&str>,
                sort: Option<&str>,
                start: Option<i64>,
                count: Option<i64>| ListQuery {
        filter: filter.map(String::from),
        sort_by: sort.map(String::from),
        start_index: start,
        count,
        ..ListQuery::default()
    };
    let page = world
        .scim
        .list_users(BASE, &list(Some(r#"userName eq "BOB""#), None, None, None))
        .await
        .unwrap();
    assert_eq!(page["totalResults"], 1);
    assert_eq!(page["Resources"][0]["userName"], "bob");
    let page = world
        .scim
        .list_users(BASE, &list(None, Some("userName"), Some(2), Some(1)))
        .await
        .unwrap();
    assert_eq!(
        (page["totalResults"].as_u64(), page["itemsPerPage"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(page["Resources"][0]["userName"], "bob");
    let page = world
        .scim
        .list_users(
            BASE,
            &ListQuery {
                projection: Projection {
                    attributes: vec!["userName".into()],
                    excluded: vec![],
                },
                ..list(
                    Some(r#"emails[type eq "work" and value sw "cy"]"#),
                    None,
                    None,
                    None,
                )
            },
        )
        .await
        .unwrap();
    let only = page["Resources"][0].as_object().unwrap();
    let mut keys: Vec<&str> = only.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["id", "schemas", "userName"]);
    let error = world
        .scim
        .list_users(BASE, &list(Some("userName eq"), None, None, None))
        .await
        .unwrap_err();
    assert_eq!(error.scim_type, Some("invalidFilter"));
}

const MOAT_EXT: &str = "urn:ietf:params:scim:schemas:extension:moat:2.0:User";

async fn links_of(store: &dyn Store, host: &str) -> Vec<(String, String, String)> {
    let mut links: Vec<(String, String, String)> = store
        .host_links()
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.host == host)
        .map(|l| (l.login, l.user.0, l.source))
        .collect();
    links.sort();
    links
}

#[tokio::test]
async fn host_logins_the_provider_sends_are_explicit_links_and_follow_every_change() {
    let world = world().await;
    let mut body = person("ada", "ada@example.com");
    body[MOAT_EXT] = json!({"githubLogin": "Ada-GH"});
    let ada = world.scim.create_user(&world.caller, body).await.unwrap();
    let id = ada.resource["id"].as_str().unwrap().to_string();
    assert_eq!(ada.resource[MOAT_EXT]["githubLogin"], "Ada-GH");
    assert!(
        ada.resource["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(MOAT_EXT))
    );
    assert_eq!(
        links_of(world.store.as_ref(), "github").await,
        [("ada-gh".to_string(), id.clone(), "scim".to_string())]
    );

    // A login another source links to someone else is not taken.
    let bob = world
        .scim
        .create_user(&world.caller, person("bob", "bob@example.com"))
        .await
        .unwrap();
    let bob_id = bob.resource["id"].as_str().unwrap().to_string();
    world
        .store
        .host_link_set(&moat_store::HostLink {
            host: "github".into(),
            login: "bob-gh".into(),
            user: UserId(bob_id.clone()),
            source: "saml".into(),
            linked_at: UnixTime(1_800_000_000),
        })
        .await
        .unwrap();
    world
        .scim
        .patch_user(
            &world.caller,
            &id,
            ops(json!([{"op": "replace", "path": format!("{MOAT_EXT}:githubLogin"), "value": "bob-gh"}])),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        links_of(world.store.as_ref(), "github").await,
        [("bob-gh".to_string(), bob_id.clone(), "saml".to_string())],
        "ada's old link went; bob's SAML link stayed bob's"
    );

    // A new login moves the link; removing it unlinks; deprovisioning unlinks.
    world
        .scim
        .patch_user(&world.caller, &id, ops(json!([{"op": "Replace", "path": format!("{MOAT_EXT}:githubLogin"), "value": "ada-new"}, {"op": "add", "path": format!("{MOAT_EXT}:gitlabLogin"), "value": "ada-gl"}])), None)
        .await
        .unwrap();
    assert!(links_of(world.store.as_ref(), "github").await.contains(&(
        "ada-new".to_string(),
        id.clone(),
        "scim".to_string()
    )));
    assert_eq!(
        links_of(world.store.as_ref(), "gitlab").await,
        [("ada-gl".to_string(), id.clone(), "scim".to_string())]
    );
    world
        .scim
        .patch_user(
            &world.caller,
            &id,
            ops(json!([{"op": "remove", "path": format!("{MOAT_EXT}:gitlabLogin")}])),
            None,
        )
        .await
        .unwrap();
    assert!(links_of(world.store.as_ref(), "gitlab").await.is_empty());
    world
        .scim
        .delete_user(&world.caller, &id, None)
        .await
        .unwrap();
    assert_eq!(
        links_of(world.store.as_ref(), "github").await,
        [("bob-gh".to_string(), bob_id, "saml".to_string())]
    );

    // Each link change is an access.link event from source scim, durable first.
    let events = moat_service::audit::read::events(world.store.as_ref(), 0, 10_000)
        .await
        .unwrap();
    let links: Vec<(String, Value, Value)> = events
        .iter()
        .filter(|e| e.body.action == "access.link")
        .map(|e| {
            assert_eq!(e.body.details["source"], "scim");
            (
                e.body.details["login"].as_str().unwrap().to_string(),
                e.body.details["before"].clone(),
                e.body.details["after"].clone(),
            )
        })
        .collect();
    assert!(
        links.contains(&("ada-gh".into(), Value::Null, json!(id))),
        "{links:?}"
    );
    assert!(
        links.contains(&("ada-gh".into(), json!(id), Value::Null)),
        "{links:?}"
    );
    assert!(
        links.contains(&("ada-new".into(), json!(id), Value::Null)),
        "deprovisioning unlinked: {links:?}"
    );
}
