//! Identity use cases against the real SQLite store and a controllable clock.

use super::*;
use crate::FixedClock;
use moat_domain::{Role, Scope, UnixTime, UserStatus};
use moat_store::SqliteStore;

struct Fixture {
    _dir: tempfile::TempDir,
    clock: Arc<FixedClock>,
    identity: Identity,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let clock = Arc::new(FixedClock::at(UnixTime(1_800_000_000)));
    let identity = Identity::new(store, clock.clone(), IdentitySettings::default());
    Fixture {
        _dir: dir,
        clock,
        identity,
    }
}

fn person(email: &str, roles: &[Role]) -> NewUser {
    NewUser {
        email: email.into(),
        name: String::new(),
        roles: roles.to_vec(),
        teams: vec!["payments".into()],
    }
}

fn token_for(user: &str, scopes: &[Scope]) -> IssueToken {
    IssueToken {
        user: user.into(),
        name: "laptop".into(),
        scopes: scopes.to_vec(),
        ttl_seconds: None,
    }
}

#[tokio::test]
async fn adding_users_validates_and_refuses_duplicates() {
    let f = fixture();
    let ada = f
        .identity
        .add_user(person("ada@example.com", &[Role::Developer]))
        .await
        .unwrap();
    assert_eq!(ada.name, "ada", "name defaults to the email's local part");
    assert_eq!(ada.status, UserStatus::Active);

    let dup = f
        .identity
        .add_user(person("ADA@example.com", &[Role::Developer]))
        .await;
    assert!(matches!(dup, Err(IdentityError::Conflict(_))), "{dup:?}");
    for bad in [
        "ada",
        "ada@",
        "@example.com",
        "a b@example.com",
        "ada@example.",
    ] {
        let result = f.identity.add_user(person(bad, &[Role::Developer])).await;
        assert!(
            matches!(result, Err(IdentityError::Invalid(_))),
            "{bad}: {result:?}"
        );
    }
    let no_role = f.identity.add_user(person("norole@example.com", &[])).await;
    assert!(matches!(no_role, Err(IdentityError::Invalid(_))));
}

#[tokio::test]
async fn email_domains_are_enforced_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let settings = IdentitySettings {
        email_domains: vec!["example.com".into()],
        ..IdentitySettings::default()
    };
    let identity = Identity::new(store, Arc::new(crate::SystemClock), settings);
    identity
        .add_user(person("in@Example.com", &[Role::Developer]))
        .await
        .unwrap();
    let outside = identity
        .add_user(person("out@elsewhere.org", &[Role::Developer]))
        .await;
    let message = outside.unwrap_err().to_string();
    assert!(message.contains("email_domains"), "{message}");
}

#[tokio::test]
async fn an_issued_token_authenticates_with_its_scopes_only() {
    let f = fixture();
    f.identity
        .add_user(person("dev@example.com", &[Role::Developer]))
        .await
        .unwrap();
    let issued = f
        .identity
        .issue_token(token_for("dev@example.com", &[Scope::Mcp, Scope::Gateway]))
        .await
        .unwrap();
    assert!(issued.secret.starts_with("moat_") && issued.secret.len() == 69);
    assert_ne!(issued.token.secret_sha256, [0; 32]);

    let principal = f
        .identity
        .authenticate(&issued.secret, Scope::Mcp)
        .await
        .unwrap();
    assert_eq!(principal.user.email, "dev@example.com");
    assert_eq!(principal.token_id, issued.token.id);
    let err = f
        .identity
        .authenticate(&issued.secret, Scope::Admin)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        AuthError::InsufficientScope {
            required: Scope::Admin
        }
    );
    assert!(err.is_forbidden());

    let listed = f.identity.tokens(Some("dev@example.com")).await.unwrap();
    assert_eq!(listed[0].last_used_at, Some(UnixTime(1_800_000_000)));
}

#[tokio::test]
async fn malformed_and_unknown_secrets_are_refused() {
    let f = fixture();
    for bad in [
        "",
        "Bearer",
        "moat_",
        "moat_xyz",
        &format!("moat_{}", "g".repeat(64)),
    ] {
        assert_eq!(
            f.identity.authenticate(bad, Scope::Mcp).await.unwrap_err(),
            AuthError::Malformed,
            "{bad}"
        );
    }
    let unknown = format!("moat_{}", "ab".repeat(32));
    assert_eq!(
        f.identity
            .authenticate(&unknown, Scope::Mcp)
            .await
            .unwrap_err(),
        AuthError::Unknown
    );
}

#[tokio::test]
async fn only_admins_hold_admin_tokens() {
    let f = fixture();
    f.identity
        .add_user(person("dev@example.com", &[Role::Developer]))
        .await
        .unwrap();
    let result = f
        .identity
        .issue_token(token_for("dev@example.com", &[Scope::Admin]))
        .await;
    assert!(
        matches!(result, Err(IdentityError::Conflict(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn suspension_blocks_at_once_and_reactivation_restores() {
    let f = fixture();
    f.identity
        .add_user(person("sus@example.com", &[Role::Developer]))
        .await
        .unwrap();
    let issued = f
        .identity
        .issue_token(token_for("sus@example.com", &[Scope::Mcp]))
        .await
        .unwrap();
    f.identity.suspend_user("sus@example.com").await.unwrap();
    let err = f
        .identity
        .authenticate(&issued.secret, Scope::Mcp)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::UserInactive(UserStatus::Suspended, _)),
        "{err:?}"
    );
    f.identity.reactivate_user("sus@example.com").await.unwrap();
    f.identity
        .authenticate(&issued.secret, Scope::Mcp)
        .await
        .unwrap();
}

#[tokio::test]
async fn deprovisioning_revokes_every_token() {
    let f = fixture();
    f.identity
        .add_user(person("gone@example.com", &[Role::Developer]))
        .await
        .unwrap();
    let a = f
        .identity
        .issue_token(token_for("gone@example.com", &[Scope::Mcp]))
        .await
        .unwrap();
    let b = f
        .identity
        .issue_token(token_for("gone@example.com", &[Scope::Gateway]))
        .await
        .unwrap();
    f.identity
        .deprovision_user("gone@example.com")
        .await
        .unwrap();
    for issued in [&a, &b] {
        let err = f
            .identity
            .authenticate(&issued.secret, issued.token.scopes[0])
            .await
            .unwrap_err();
        assert_eq!(err, AuthError::Revoked(issued.token.id.clone()));
    }
    let new_token = f
        .identity
        .issue_token(token_for("gone@example.com", &[Scope::Mcp]))
        .await;
    assert!(
        matches!(new_token, Err(IdentityError::Conflict(_))),
        "{new_token:?}"
    );
    let suspend = f.identity.suspend_user("gone@example.com").await;
    assert!(
        matches!(suspend, Err(IdentityError::Conflict(_))),
        "{suspend:?}"
    );
    // Reactivation brings the person back, never their old tokens.
    f.identity
        .reactivate_user("gone@example.com")
        .await
        .unwrap();
    for issued in [a, b] {
        let err = f
            .identity
            .authenticate(&issued.secret, issued.token.scopes[0])
            .await
            .unwrap_err();
        assert_eq!(err, AuthError::Revoked(issued.token.id));
    }
}

#[tokio::test]
async fn tokens_expire() {
    let f = fixture();
    f.identity
        .add_user(person("exp@example.com", &[Role::Developer]))
        .await
        .unwrap();
    let issued = f
        .identity
        .issue_token(IssueToken {
            ttl_seconds: Some(3600),
            ..token_for("exp@example.com", &[Scope::Mcp])
        })
        .await
        .unwrap();
    f.clock.advance(3599);
    f.identity
        .authenticate(&issued.secret, Scope::Mcp)
        .await
        .unwrap();
    f.clock.advance(1);
    let err = f
        .identity
        .authenticate(&issued.secret, Scope::Mcp)
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::Expired(issued.token.id));

    let too_long = f
        .identity
        .issue_token(IssueToken {
            ttl_seconds: Some(400 * 86_400),
            ..token_for("exp@example.com", &[Scope::Mcp])
        })
        .await;
    assert!(matches!(too_long, Err(IdentityError::Invalid(_))));
}

#[tokio::test]
async fn a_rotated_token_works_only_within_its_grace_period() {
    let f = fixture();
    f.identity
        .add_user(person("rot@example.com", &[Role::Developer]))
        .await
        .unwrap();
    let old = f
        .identity
        .issue_token(token_for("rot@example.com", &[Scope::Mcp]))
        .await
        .unwrap();
    let new = f
        .identity
        .rotate_token(&old.token.id.0, Some(600))
        .await
        .unwrap();
    assert_eq!(new.token.scopes, old.token.scopes);
    assert_eq!(new.token.name, old.token.name);

    f.clock.advance(599);
    f.identity
        .authenticate(&old.secret, Scope::Mcp)
        .await
        .unwrap();
    f.identity
        .authenticate(&new.secret, Scope::Mcp)
        .await
        .unwrap();
    f.clock.advance(1);
    let err = f
        .identity
        .authenticate(&old.secret, Scope::Mcp)
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::RotatedAway(old.token.id.clone()));
    f.identity
        .authenticate(&new.secret, Scope::Mcp)
        .await
        .unwrap();

    let twice = f.identity.rotate_token(&old.token.id.0, None).await;
    assert!(
        twice.is_err(),
        "an expired, rotated token cannot be rotated again"
    );
}

#[tokio::test]
async fn revoked_tokens_are_refused_and_cannot_be_rotated() {
    let f = fixture();
    f.identity
        .add_user(person("rev@example.com", &[Role::Developer]))
        .await
        .unwrap();
    let issued = f
        .identity
        .issue_token(token_for("rev@example.com", &[Scope::Mcp]))
        .await
        .unwrap();
    f.identity.revoke_token(&issued.token.id.0).await.unwrap();
    let err = f
        .identity
        .authenticate(&issued.secret, Scope::Mcp)
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::Revoked(issued.token.id.clone()));
    assert!(
        f.identity
            .rotate_token(&issued.token.id.0, None)
            .await
            .is_err()
    );
    let missing = f.identity.revoke_token("tok_nope").await;
    assert!(matches!(missing, Err(IdentityError::NotFound(_))));
}
