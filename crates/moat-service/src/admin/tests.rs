//! Each change requested on the record, then applied or failed; nothing changed when
//! the log cannot record.

use super::*;
use crate::{AuditSettings, IdentitySettings, SystemClock};
use moat_audit::checkpoint::SigningKey;
use moat_domain::{Role, UserStatus};
use std::sync::Arc;

struct Fixture {
    dir: tempfile::TempDir,
    identity: Identity,
    audit: AuditLog,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn moat_store::Store> =
        Arc::new(moat_store::SqliteStore::open(&dir.path().join("moat.db")).unwrap());
    let identity = Identity::new(
        store.clone(),
        Arc::new(SystemClock),
        IdentitySettings::default(),
    );
    let settings = AuditSettings {
        origin: "test/moat".into(),
        max_batch: 64,
    };
    let key = SigningKey::from_seed("moat-test", [2; 32]).unwrap();
    let audit = AuditLog::open(store, key, settings, vec![], Arc::new(SystemClock))
        .await
        .unwrap();
    Fixture {
        dir,
        identity,
        audit,
    }
}

fn person(email: &str) -> NewUser {
    NewUser {
        email: email.into(),
        name: String::new(),
        roles: vec![Role::Developer],
        teams: vec![],
    }
}

fn actor() -> AdminActor {
    AdminActor {
        client: "test".into(),
        ..AdminActor::default()
    }
}

#[tokio::test]
async fn a_change_is_requested_on_the_record_then_applied() {
    let f = fixture().await;
    let admin = Admin {
        identity: &f.identity,
        audit: &f.audit,
        policy_version: "sha256:test",
    };
    admin
        .add_user(&actor(), person("ada@example.com"))
        .await
        .unwrap();
    let events = crate::audit::read::events(f.audit_store(), 0, 10)
        .await
        .unwrap();
    let phases: Vec<&str> = events
        .iter()
        .map(|e| e.body.details["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, vec!["requested", "applied"]);
    assert_eq!(
        events[0].body.details["request"]["email"],
        "ada@example.com"
    );
    assert!(events[1].body.resources.objects[0].starts_with("usr_"));
}

#[tokio::test]
async fn a_failed_change_is_recorded_as_failed() {
    let f = fixture().await;
    let admin = Admin {
        identity: &f.identity,
        audit: &f.audit,
        policy_version: "sha256:test",
    };
    admin
        .add_user(&actor(), person("ada@example.com"))
        .await
        .unwrap();
    let again = admin.add_user(&actor(), person("ada@example.com")).await;
    assert!(matches!(
        again,
        Err(AdminError::Identity(IdentityError::Conflict(_)))
    ));
    let events = crate::audit::read::events(f.audit_store(), 0, 10)
        .await
        .unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.body.details["phase"], "failed");
    assert_eq!(last.body.decision.outcome, Outcome::Deny);
    assert!(
        last.body
            .decision
            .reason
            .as_deref()
            .unwrap()
            .contains("already exists")
    );
}

#[tokio::test]
async fn when_the_log_cannot_record_nothing_is_changed() {
    let f = fixture().await;
    let admin = Admin {
        identity: &f.identity,
        audit: &f.audit,
        policy_version: "sha256:test",
    };
    admin
        .add_user(&actor(), person("ada@example.com"))
        .await
        .unwrap();
    rusqlite::Connection::open(f.dir.path().join("moat.db"))
        .unwrap()
        .execute_batch("DROP TABLE audit_events")
        .unwrap();
    let refused = admin.suspend_user(&actor(), "ada@example.com").await;
    assert!(
        matches!(refused, Err(AdminError::Refused(_))),
        "{refused:?}"
    );
    let ada = f.identity.find_user("ada@example.com").await.unwrap();
    assert_eq!(
        ada.status,
        UserStatus::Active,
        "fail closed: the suspension was not applied"
    );
}

impl Fixture {
    fn audit_store(&self) -> &dyn moat_store::Store {
        self.identity.store()
    }
}
