//! The console's use cases against a clock: the idle and absolute timeouts, a session
//! that idled out staying ended, sign-out, a suspended person's session, forged cookies
//! and CSRF tokens, the session named (never revealed) in the record; and model usage
//! counted from the log over a window that moves with the clock.

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

fn gateway_request(
    user: &moat_domain::User,
    alias: &str,
    tokens: (u64, u64),
) -> moat_audit::event::EventBody {
    use moat_audit::event::{Actor, Decision, EventBody, Outcome, Resources};
    EventBody {
        actor: Actor {
            user: Some(user.id.0.clone()),
            email: Some(user.email.clone()),
            ..Actor::default()
        },
        action: "gateway.request".into(),
        resources: Resources::default(),
        decision: Decision {
            outcome: Outcome::Allow,
            rule: None,
            reason: None,
        },
        policy_version: "sha256:test".into(),
        disclosed: Default::default(),
        redactions: Default::default(),
        egress: None,
        content_ref: None,
        details: serde_json::json!({"alias": alias, "tokens_in": tokens.0, "tokens_out": tokens.1}),
    }
}

#[tokio::test]
async fn usage_counts_gateway_requests_by_day_model_team_and_person_in_a_moving_window() {
    let world = world().await;
    let ada = world.identity.find_user("ada@example.com").await.unwrap();
    let dev = world.identity.find_user("dev@example.com").await.unwrap();
    // Three weeks ago: outside the window once the clock moves on.
    world
        .audit
        .record(gateway_request(&dev, "gpt", (1_000, 1_000)))
        .await
        .unwrap();
    world.clock.advance(21 * 86_400);
    let empty = world.console.usage().await.unwrap();
    assert_eq!(empty.days.len(), 14);
    assert!(empty.by_model.is_empty(), "{:?}", empty.by_model);

    world
        .audit
        .record(gateway_request(&ada, "gpt", (10, 5)))
        .await
        .unwrap();
    world
        .audit
        .record(gateway_request(&dev, "claude", (100, 50)))
        .await
        .unwrap();
    // Not a model request: never counted, however it looks.
    let mut lookalike = gateway_request(&dev, "claude", (9_999, 0));
    lookalike.action = "gateway.requested".into();
    world.audit.record(lookalike).await.unwrap();
    world.clock.advance(86_400);
    world
        .audit
        .record(gateway_request(&dev, "claude", (1, 1)))
        .await
        .unwrap();

    let usage = world.console.usage().await.unwrap();
    assert_eq!(usage.behind, 0);
    let model = |name: &str| usage.by_model.iter().find(|(m, _)| m == name).unwrap().1;
    assert_eq!((model("gpt").requests, model("gpt").tokens()), (1, 15));
    assert_eq!(
        (model("claude").requests, model("claude").tokens()),
        (2, 152)
    );
    assert_eq!(
        usage.by_person[0].0, "dev@example.com",
        "{:?}",
        usage.by_person
    );
    assert_eq!(
        usage.by_team,
        [(
            "(no team)".to_string(),
            moat_service::console::Counts {
                requests: 3,
                tokens_in: 111,
                tokens_out: 56
            }
        )]
    );
    let busy: Vec<u64> = usage
        .days
        .iter()
        .map(|(_, c)| c.requests)
        .filter(|r| *r > 0)
        .collect();
    assert_eq!(busy, [2, 1], "two days with requests, oldest first");

    // A second view counts only what is new, and the window moves with the clock.
    world.clock.advance(13 * 86_400);
    let later = world.console.usage().await.unwrap();
    let requests: u64 = later.days.iter().map(|(_, c)| c.requests).sum();
    assert_eq!(
        requests, 1,
        "only the last day's request is still in the window"
    );
}
