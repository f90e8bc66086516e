//! OAuth rows: grants tie access tokens and secrets together, secrets are taken once,
//! and revoking a grant (or a person's status) ends everything issued under it.

use super::{sample_token, sample_user};
use crate::{GrantsOf, OAuthClientRow, OAuthGrant, OAuthSecret, SecretKind, Store, StoreError};
use moat_domain::{Audience, OAuthBinding, Scope, UnixTime, UserId, UserStatus};

pub async fn run_all(store: &dyn Store) {
    clients_round_trip(store).await;
    secrets_are_taken_once(store).await;
    revoking_a_grant_ends_its_tokens_and_secrets(store).await;
    a_status_change_revokes_the_persons_grants(store).await;
}

fn grant(id: &str, user: &str) -> OAuthGrant {
    OAuthGrant {
        id: id.into(),
        user: UserId(user.into()),
        client_id: "https://client.example/meta.json".into(),
        client_name: "Example".into(),
        scopes: vec![Scope::Mcp],
        audience: Audience::Mcp,
        created_at: UnixTime(1_700_000_000),
        revoked_at: None,
        revoked_reason: None,
    }
}

fn secret(byte: u8, kind: SecretKind, user: &str, grant: Option<&str>) -> OAuthSecret {
    OAuthSecret {
        sha256: [byte; 32],
        kind,
        user: UserId(user.into()),
        grant: grant.map(String::from),
        data: "{}".into(),
        created_at: UnixTime(1_700_000_000),
        expires_at: UnixTime(1_700_003_600),
        used_at: None,
    }
}

async fn clients_round_trip(store: &dyn Store) {
    let client = OAuthClientRow {
        id: "mcl_1".into(),
        source: "registered".into(),
        metadata: r#"{"client_name":"x"}"#.into(),
        created_at: UnixTime(5),
    };
    store.oauth_client_put(&client).await.unwrap();
    assert_eq!(store.oauth_client("mcl_1").await.unwrap(), Some(client));
    assert_eq!(store.oauth_client("mcl_2").await.unwrap(), None);
}

async fn secrets_are_taken_once(store: &dyn Store) {
    store
        .insert_user(&sample_user("usr_oa1", "oa1@example.com"))
        .await
        .unwrap();
    let link = secret(0xa1, SecretKind::SignInLink, "usr_oa1", None);
    store.oauth_secret_insert(&link).await.unwrap();
    let first = store
        .oauth_secret_take(SecretKind::SignInLink, &[0xa1; 32], UnixTime(10))
        .await
        .unwrap()
        .expect("the secret is found");
    assert_eq!(first.used_at, None, "the first take sees it unused");
    let second = store
        .oauth_secret_take(SecretKind::SignInLink, &[0xa1; 32], UnixTime(11))
        .await
        .unwrap()
        .expect("a replay still finds it");
    assert_eq!(
        second.used_at,
        Some(UnixTime(10)),
        "a replay sees the first use"
    );
    // Expiry drops only what expired before the cut.
    let mut late = secret(0xa3, SecretKind::Session, "usr_oa1", None);
    late.expires_at = UnixTime(1_700_009_999);
    store.oauth_secret_insert(&late).await.unwrap();
    assert_eq!(
        store
            .oauth_secrets_expire(UnixTime(1_700_005_000))
            .await
            .unwrap(),
        1
    );
    assert!(
        store
            .oauth_secret(SecretKind::Session, &[0xa3; 32])
            .await
            .unwrap()
            .is_some()
    );
    // A session seen, then ended: both times stored; the kind must match.
    assert!(
        !store
            .oauth_secret_mark(
                SecretKind::ConsoleSession,
                &[0xa3; 32],
                UnixTime(20),
                UnixTime(21)
            )
            .await
            .unwrap(),
        "a secret of another kind is not marked"
    );
    assert!(
        store
            .oauth_secret_mark(SecretKind::Session, &[0xa3; 32], UnixTime(20), UnixTime(21))
            .await
            .unwrap()
    );
    let marked = store
        .oauth_secret(SecretKind::Session, &[0xa3; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (marked.used_at, marked.expires_at),
        (Some(UnixTime(20)), UnixTime(21))
    );
    assert!(
        store
            .oauth_secret(SecretKind::SignInLink, &[0xa1; 32])
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .oauth_secret_take(SecretKind::Code, &[0xa1; 32], UnixTime(12))
            .await
            .unwrap(),
        None,
        "a secret is found only as its own kind"
    );
    let orphan = secret(0xa2, SecretKind::Refresh, "usr_oa1", Some("grant_missing"));
    assert!(
        matches!(
            store.oauth_secret_insert(&orphan).await,
            Err(StoreError::NotFound { .. })
        ),
        "a secret under an unknown grant is refused"
    );
}

async fn revoking_a_grant_ends_its_tokens_and_secrets(store: &dyn Store) {
    store
        .insert_user(&sample_user("usr_oa2", "oa2@example.com"))
        .await
        .unwrap();
    store
        .oauth_grant_insert(&grant("grant_a", "usr_oa2"))
        .await
        .unwrap();
    store
        .oauth_grant_insert(&grant("grant_b", "usr_oa2"))
        .await
        .unwrap();
    let mut access = sample_token("tok_oa2", "usr_oa2", 0xb1);
    access.oauth = Some(OAuthBinding {
        grant: "grant_a".into(),
        audience: Audience::Mcp,
    });
    let refresh = secret(0xb2, SecretKind::Refresh, "usr_oa2", Some("grant_a"));
    let code = secret(0xb5, SecretKind::Code, "usr_oa2", Some("grant_a"));
    store.oauth_secret_insert(&code).await.unwrap();
    let issued = store
        .oauth_issue(
            Some((SecretKind::Code, &[0xb5; 32])),
            UnixTime(15),
            &access,
            &refresh,
        )
        .await
        .unwrap();
    assert!(issued, "an unspent code issues");
    let mut twice = sample_token("tok_oa2_twice", "usr_oa2", 0xb6);
    twice.oauth = access.oauth.clone();
    let twice_refresh = secret(0xb7, SecretKind::Refresh, "usr_oa2", Some("grant_a"));
    let again = store
        .oauth_issue(
            Some((SecretKind::Code, &[0xb5; 32])),
            UnixTime(16),
            &twice,
            &twice_refresh,
        )
        .await
        .unwrap();
    assert!(!again, "a spent code issues nothing");
    assert_eq!(store.token(&twice.id).await.unwrap(), None);
    let spent = store
        .oauth_secret(SecretKind::Code, &[0xb5; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        spent.used_at,
        Some(UnixTime(15)),
        "spent by the first issue"
    );
    let read = store.credential_by_secret_hash(&[0xb1; 32]).await.unwrap();
    assert_eq!(
        read.unwrap().token.oauth,
        access.oauth,
        "the binding is kept"
    );

    let revoked = store
        .oauth_revoke_grants(GrantsOf::Grant("grant_a"), UnixTime(20), "revoked")
        .await
        .unwrap();
    assert_eq!(revoked, vec!["grant_a".to_string()]);
    let token = store.token(&access.id).await.unwrap().unwrap();
    assert_eq!(
        token.revoked_at,
        Some(UnixTime(20)),
        "its access token is revoked"
    );
    assert_eq!(
        store
            .oauth_secret(SecretKind::Refresh, &[0xb2; 32])
            .await
            .unwrap(),
        None,
        "its refresh token is gone"
    );
    let stored = store.oauth_grant("grant_a").await.unwrap().unwrap();
    assert_eq!(stored.revoked_at, Some(UnixTime(20)));
    assert_eq!(stored.revoked_reason.as_deref(), Some("revoked"));
    assert_eq!(
        store
            .oauth_grant("grant_b")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None,
        "another grant is untouched"
    );
    // Nothing more is issued under a revoked grant, even by a caller that read it live.
    let mut late = sample_token("tok_oa2_late", "usr_oa2", 0xb3);
    late.oauth = access.oauth.clone();
    let late_refresh = secret(0xb4, SecretKind::Refresh, "usr_oa2", Some("grant_a"));
    assert!(
        store
            .oauth_issue(None, UnixTime(31), &late, &late_refresh)
            .await
            .is_err()
    );
    assert_eq!(
        store.token(&late.id).await.unwrap(),
        None,
        "nothing half-issued"
    );
    assert!(
        store
            .oauth_revoke_grants(GrantsOf::Grant("grant_a"), UnixTime(30), "again")
            .await
            .unwrap()
            .is_empty(),
        "revoking twice keeps the first"
    );
}

async fn a_status_change_revokes_the_persons_grants(store: &dyn Store) {
    store
        .insert_user(&sample_user("usr_oa3", "oa3@example.com"))
        .await
        .unwrap();
    store
        .oauth_grant_insert(&grant("grant_c", "usr_oa3"))
        .await
        .unwrap();
    let session = secret(0xc1, SecretKind::Session, "usr_oa3", None);
    store.oauth_secret_insert(&session).await.unwrap();
    store
        .set_user_status(&UserId("usr_oa3".into()), UserStatus::Suspended, None)
        .await
        .unwrap();
    let stored = store.oauth_grant("grant_c").await.unwrap().unwrap();
    assert!(stored.revoked_at.is_some(), "suspension revokes the grant");
    assert_eq!(stored.revoked_reason.as_deref(), Some("user suspended"));
    assert_eq!(
        store
            .oauth_secret(SecretKind::Session, &[0xc1; 32])
            .await
            .unwrap(),
        None,
        "and ends the person's browser sessions"
    );
    assert_eq!(
        store
            .oauth_grants(Some(&UserId("usr_oa3".into())))
            .await
            .unwrap()
            .len(),
        1
    );
}
