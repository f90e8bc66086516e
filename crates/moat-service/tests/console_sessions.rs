//! Console sessions against the clock: the idle and absolute timeouts, a session that
//! idled out staying ended, sign-out, a suspended person's session, forged cookies and
//! CSRF tokens, and the session named (never revealed) in the record.

use moat_domain::{Role, UnixTime};
use moat_service::console::{Console, ConsoleParts, ConsoleSettings, Deployment};
use moat_service::oauth::{OAuthServer, OAuthSettings};
use moat_service::{
    Access, AccessSettings, Admin, AdminActor, AuditLog, AuditSettings, FixedClock, Identity,
    IdentitySettings, NewUser, TrainingRule,
};
use moat_store::{SqliteStore, Store};
use std::sync::Arc;

struct World {
    _dir: tempfile::TempDir,
    clock: Arc<FixedClock>,
    identity: Arc<Identity>,
    audit: Arc<AuditLog>,
    oauth: Arc<OAuthServer>,
    console: Console,
}

const SETTINGS: ConsoleSettings = ConsoleSettings {
    idle_seconds: 600,
    absolute_seconds: 3600,
};

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
        IdentitySettings::default(),
    ));
    for (email, role) in [
        ("ada@example.com", Role::Admin),
        ("dev@example.com", Role::Developer),
    ] {
        identity
            .add_user(NewUser {
                email: email.into(),
                name: email.into(),
                roles: vec![role],
                teams: vec![],
            })
            .await
            .unwrap();
    }
    let access = Arc::new(Access::new(
        identity.clone(),
        store.clone(),
        AccessSettings {
            repos: vec![],
            grants: vec![],
            training: TrainingRule {
                required: false,
                current_version: None,
                renewal_seconds: 0,
            },
            custom_policies: None,
            max_staleness: Default::default(),
            logins: Default::default(),
        },
    ));
    let oauth = Arc::new(OAuthServer::new(
        store.clone(),
        clock.clone(),
        audit.clone(),
        OAuthSettings::default(),
        "sha256:test".into(),
    ));
    let console = Console::new(ConsoleParts {
        store,
        clock: clock.clone(),
        identity: identity.clone(),
        access,
        audit: audit.clone(),
        oauth: oauth.clone(),
        policy_version: "sha256:test".into(),
        settings: SETTINGS,
        deployment: Deployment::default(),
    });
    World {
        _dir: dir,
        clock,
        identity,
        audit,
        oauth,
        console,
    }
}

fn actor() -> AdminActor {
    AdminActor {
        client: "test".into(),
        ..AdminActor::default()
    }
}

async fn signed_in(world: &World, email: &str) -> String {
    let link = world.oauth.sign_in_link(&actor(), email).await.unwrap();
    let (cookie, signed) = world.console.sign_in(&link.secret, &actor()).await.unwrap();
    assert_eq!(signed.user.email, email);
    cookie
}

#[tokio::test]
async fn a_session_ends_when_idle_and_at_its_absolute_limit_however_busy() {
    let world = world().await;
    let cookie = signed_in(&world, "ada@example.com").await;
    // Busy: a request every 9 minutes keeps it alive, until the hour is up.
    for _ in 0..6 {
        world.clock.advance(540);
        assert!(world.console.session(&cookie).await.unwrap().is_some());
    }
    world.clock.advance(540); // 63 minutes after sign-in
    assert!(world.console.session(&cookie).await.unwrap().is_none());

    // Idle: ten minutes without a request end it, and it stays ended.
    let cookie = signed_in(&world, "ada@example.com").await;
    world.clock.advance(599);
    assert!(world.console.session(&cookie).await.unwrap().is_some());
    world.clock.advance(600);
    assert!(world.console.session(&cookie).await.unwrap().is_none());
    world.clock.advance(-1200); // a clock stepped back does not revive it
    assert!(world.console.session(&cookie).await.unwrap().is_none());
}

#[tokio::test]
async fn sign_out_and_suspension_end_a_session_and_forgeries_find_none() {
    let world = world().await;
    let ada = signed_in(&world, "ada@example.com").await;
    let dev = signed_in(&world, "dev@example.com").await;
    let signed = world.console.session(&ada).await.unwrap().unwrap();
    assert!(signed.abilities.administer);
    let dev_signed = world.console.session(&dev).await.unwrap().unwrap();
    assert!(!dev_signed.abilities.administer && !dev_signed.abilities.view_audit);

    // CSRF tokens are per session and compared whole.
    assert!(signed.csrf_matches(&signed.csrf));
    assert!(!signed.csrf_matches(&dev_signed.csrf));
    assert!(!signed.csrf_matches(&signed.csrf[..63]));
    assert!(!signed.csrf_matches(""));
    // A cookie that is not one, or one's hash, or the CSRF token finds nothing.
    for forged in [
        "",
        "moat_cs_",
        &format!("{}x", ada),
        &signed.csrf,
        &signed.session_id,
        &"moat_cs_".repeat(40),
    ] {
        assert!(
            world.console.session(forged).await.unwrap().is_none(),
            "{forged}"
        );
    }
    // The record names the session without revealing it.
    assert!(signed.session_id.starts_with("cs_") && !ada.contains(&signed.session_id[3..]));

    // Suspension ends the developer's session at once.
    let admin = Admin {
        identity: &world.identity,
        audit: &world.audit,
        policy_version: "sha256:test",
    };
    admin
        .suspend_user(&actor(), "dev@example.com")
        .await
        .unwrap();
    assert!(world.console.session(&dev).await.unwrap().is_none());
    admin
        .reactivate_user(&actor(), "dev@example.com")
        .await
        .unwrap();
    assert!(
        world.console.session(&dev).await.unwrap().is_none(),
        "reactivation does not revive an ended session"
    );

    // Sign-out ends it on the server.
    world.console.sign_out(&ada).await.unwrap();
    assert!(world.console.session(&ada).await.unwrap().is_none());

    // A suspended person cannot sign in with a link issued before.
    let link = world
        .oauth
        .sign_in_link(&actor(), "dev@example.com")
        .await
        .unwrap();
    admin
        .suspend_user(&actor(), "dev@example.com")
        .await
        .unwrap();
    assert!(world.console.sign_in(&link.secret, &actor()).await.is_err());
}
