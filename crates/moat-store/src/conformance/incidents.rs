//! Incidents: stored and read back as written, listed newest first and by status, and
//! changed only from the version a writer read (of eight writers from one version,
//! exactly one wins; the rest are told and write nothing).

use crate::Store;
use crate::incidents::{OPEN, RESOLVED, StoredIncident};
use moat_domain::UnixTime;
use std::sync::Arc;

fn incident(id: &str, subject: &str, at: i64) -> StoredIncident {
    StoredIncident {
        id: id.into(),
        subject: subject.into(),
        status: OPEN.into(),
        opened_at: UnixTime(at),
        version: 1,
        body: format!(r#"{{"title":"about {subject}","alerts":[1,2]}}"#),
    }
}

pub async fn run_all(store: Arc<dyn Store>) {
    assert!(store.incidents(None).await.unwrap().is_empty());
    let first = incident("inc_0000000000000001", "mal@example.com", 100);
    let second = incident("inc_0000000000000002", "vendor:acme", 200);
    store.incident_insert(&first).await.unwrap();
    store.incident_insert(&second).await.unwrap();
    assert!(
        store.incident_insert(&first).await.is_err(),
        "an id is used once"
    );
    assert_eq!(
        store.incident_get(&first.id).await.unwrap().as_ref(),
        Some(&first)
    );
    assert_eq!(store.incident_get("inc_missing").await.unwrap(), None);
    let ids = |list: Vec<StoredIncident>| list.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.incidents(None).await.unwrap()),
        [second.id.clone(), first.id.clone()],
        "newest first"
    );

    // Eight writers change the first incident from the version each read.
    let mut writers = Vec::new();
    for n in 0..8 {
        let store = store.clone();
        let mut changed = first.clone();
        changed.version = 2;
        changed.body = format!(r#"{{"writer":{n}}}"#);
        writers.push(tokio::spawn(async move {
            store.incident_update(&changed).await.unwrap()
        }));
    }
    let mut won = 0;
    for writer in writers {
        won += usize::from(writer.await.unwrap());
    }
    assert_eq!(won, 1, "one change per version");
    let now = store.incident_get(&first.id).await.unwrap().unwrap();
    assert_eq!(now.version, 2);
    assert!(now.body.starts_with(r#"{"writer":"#), "{}", now.body);

    let stale = StoredIncident {
        status: RESOLVED.into(),
        version: 2,
        ..first.clone()
    };
    assert!(
        !store.incident_update(&stale).await.unwrap(),
        "a change from an old version writes nothing"
    );
    let resolved = StoredIncident {
        status: RESOLVED.into(),
        version: 3,
        ..now.clone()
    };
    assert!(store.incident_update(&resolved).await.unwrap());
    assert_eq!(
        ids(store.incidents(Some(OPEN)).await.unwrap()),
        std::slice::from_ref(&second.id)
    );
    assert_eq!(
        ids(store.incidents(Some(RESOLVED)).await.unwrap()),
        std::slice::from_ref(&first.id)
    );
    let bad = StoredIncident {
        status: "lost".into(),
        version: 4,
        ..resolved
    };
    assert!(
        store.incident_update(&bad).await.is_err(),
        "a status the schema does not know is refused"
    );
}
